// zlib, for gzip-encoded OTLP bodies (RRLogInterop's OTLP import).
#include <zlib.h>

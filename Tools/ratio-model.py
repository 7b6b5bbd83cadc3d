#!/usr/bin/env python3
"""Models how chunk layout and size change rrlog's compressed size on a JSON-lines corpus.

  python3 Tools/ratio-model.py [Tests/Fixtures/io/llm-session.jsonl]

A design aid, not a benchmark of rrlog: it rebuilds chunk contents in Python (zstandard, lz4
from PyPI) in both layouts of FORMAT.md, "rows" (a 34-byte header with its CRC before each
record's key and payload, FORMAT.md §4) and "columns" (kinds, timestamp deltas, flags, key and
payload lengths as columns, then the keys, then the payloads, no per-record CRC, FORMAT.md
§4.1), and compresses each chunk on its own at zstd level 3 and lz4's default, as
rrlog does. It also prints what each column costs compressed alone, which shows what no layout can
remove: the IO keys (32-byte SHA-256 digests) and nanosecond timestamps. BENCHMARKS.md quotes
its output. Payloads are the corpus lines re-serialised without `ts_ns`, as rrlog stores them
(FORMAT-IO-PROFILE.md §10). IO keys are 36 bytes, a SHA-256 digest and a call index, as
FORMAT-IO-PROFILE.md §7 stores them; the digest here is taken over a simpler serialisation of
the call identity than §5's, which does not change what it costs compressed.
"""
import hashlib
import json
import struct
import sys
import zlib

import lz4.block
import zstandard

FRAME_HEADER = 56


def load(path):
    records = []
    for sequence, line in enumerate(l for l in open(path, "rb").read().split(b"\n") if l):
        event = json.loads(line)
        key = None
        if event.get("type") in ("event", "stream_start"):
            identity = json.dumps([event.get("io_type"), event.get("tool_name"), event.get("agent_id"),
                                   event.get("inputs")], sort_keys=True).encode()
            key = hashlib.sha256(identity).digest() + struct.pack("<I", event.get("call_index", 0))
        ts = event.pop("ts_ns", 0)  # FORMAT-IO-PROFILE.md §10: the record timestamp holds it
        payload = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        records.append((sequence, ts, 1, key, payload))
    return records


def rows(chunk):
    out = bytearray()
    for sequence, ts, kind, key, payload in chunk:
        body = struct.pack("<BBHQqHI", 1, 1 if key else 0, kind, sequence, ts, len(key or b""), len(payload))
        body += (key or b"") + payload
        out += struct.pack("<II", zlib.crc32(body), len(body)) + body  # stands in for CRC32C
    return bytes(out)


def columns(chunk):
    return b"".join(part for _, part in column_parts(chunk))


def column_parts(chunk):
    previous = min(r[1] for r in chunk)
    deltas = bytearray()
    for r in chunk:
        d = r[1] - previous
        previous = r[1]
        deltas += struct.pack("<Q", ((d << 1) ^ (d >> 63)) & 0xFFFFFFFFFFFFFFFF)  # zigzag
    return [
        ("count", struct.pack("<II", len(chunk), 0)),
        ("kinds", b"".join(struct.pack("<H", r[2]) for r in chunk)),
        ("timestamp deltas", bytes(deltas)),
        ("flags", bytes(1 if r[3] else 0 for r in chunk)),
        ("key lengths", b"".join(struct.pack("<H", len(r[3] or b"")) for r in chunk)),
        ("payload lengths", b"".join(struct.pack("<I", len(r[4])) for r in chunk)),
        ("keys", b"".join(r[3] or b"" for r in chunk)),
        ("payloads", b"".join(r[4] for r in chunk)),
    ]


def chunks(records, target):
    out, current, size = [], [], 0
    for r in records:
        encoded = 34 + len(r[3] or b"") + len(r[4])
        if current and size + encoded > target:
            out.append(current)
            current, size = [], 0
        current.append(r)
        size += encoded
    if current:
        out.append(current)
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "Tests/Fixtures/io/llm-session.jsonl"
    records = load(path)
    raw = open(path, "rb").read()
    zstd3 = zstandard.ZstdCompressor(level=3)
    print(f"{path}: {len(records)} records, {sum(1 for r in records if r[3])} keyed, {len(raw):,} bytes; "
          f"zstd -3 of the whole file {len(zstd3.compress(raw)):,} bytes")
    print("chunk frames only (index, header and footer not included)")
    print(f"{'chunk':>8} {'layout':>8} {'zstd-3':>9} {'lz4':>9} {'chunks':>6}")
    for target in (32 << 10, 64 << 10, 256 << 10, 1 << 20):
        for name, encode in (("rows", rows), ("columns", columns)):
            parts = chunks(records, target)
            z = sum(len(zstd3.compress(encode(c))) + FRAME_HEADER for c in parts)
            l4 = sum(len(lz4.block.compress(encode(c), store_size=False)) + FRAME_HEADER for c in parts)
            print(f"{target >> 10:>5} KiB {name:>8} {z:>9,} {l4:>9,} {len(parts):>6}")
    print("each column of the whole corpus compressed alone (zstd -3)")
    for name, part in column_parts(records):
        print(f"  {name:<17} {len(part):>9,} -> {len(zstd3.compress(part)):>9,}")


if __name__ == "__main__":
    main()

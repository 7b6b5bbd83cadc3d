#!/usr/bin/env python3
"""Signs generated S3 requests with botocore's SigV4 signer (S3SigV4Auth), the oracle that
RRLogS3's SigV4Signer is tested against (Tests/RRLogS3Tests/SigV4Tests.swift).

    python3 Tools/sigv4-oracle.py [--count N] [--seed S]

Prints a JSON list: each request's inputs (method, raw path, query, headers, body as hex,
whether the payload is unsigned, credentials, region, epoch seconds) and botocore's
Authorization header. The same seed gives the same requests. Exits 3 when botocore is missing.
"""
import argparse
import datetime
import json
import random
import sys
import types

try:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.utils import percent_encode
except ImportError:
    print("botocore is not installed (pip install botocore)", file=sys.stderr)
    sys.exit(3)

# Characters keys and values are drawn from: the ones S3 encodes in interesting ways.
KEY_CHARS = list("abcXYZ019-_.~ +=/%?#&*'()!$,;:@[]{}^`|\"<>\\") + ["é", "日本", "🚀", "ß", "\u00a0", "Ω"]
QUERY_NAMES = ["list-type", "prefix", "delimiter", "continuation-token", "uploads", "uploadId", "partNumber",
               "max-keys", "x-id", "start-after", "weird name", "ключ", "a+b", "tilde~"]
HEADER_NAMES = ["Content-Type", "Range", "If-Match", "If-None-Match", "x-amz-meta-Note", "X-Amz-Meta-Mixed",
                "x-amz-checksum-crc32c", "Content-MD5", "x-amz-storage-class", "Cache-Control"]
VALUE_CHARS = list("abcXYZ019-_.~ \t+=/%,;:\"'()*") + ["  ", "\t\t"]
REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2", "auto", "garage"]
METHODS = ["GET", "PUT", "HEAD", "DELETE", "POST"]


def text(rng, chars, low, high):
    return "".join(rng.choice(chars) for _ in range(rng.randint(low, high)))


def generate(rng, index):
    bucket = rng.choice(["bucket", "rr-log", "a.b.c"])
    key = text(rng, KEY_CHARS, 1, 24)
    path = "/" + bucket + "/" + key if rng.random() < 0.9 else "/" + bucket
    query = [(rng.choice(QUERY_NAMES), text(rng, KEY_CHARS, 0, 12)) for _ in range(rng.choice([0, 0, 1, 2, 3, 4]))]
    headers = {}
    for _ in range(rng.randint(0, 4)):
        name = rng.choice(HEADER_NAMES)
        if name == "Range":
            start = rng.randint(0, 10**9)
            headers[name] = f"bytes={start}-{start + rng.randint(0, 10**6)}"
        else:
            headers[name] = text(rng, VALUE_CHARS, 0, 20)
    host = rng.choice(["127.0.0.1:8333", "s3.amazonaws.com", "localhost:9000", bucket + ".s3.eu-west-3.amazonaws.com"])
    headers["Host"] = host
    body = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 0, 1, 17, 200])))
    unsigned = rng.random() < 0.25
    token = text(rng, list("ABCdef0123456789+/="), 20, 60) if rng.random() < 0.3 else None
    return {
        "index": index,
        "method": rng.choice(METHODS),
        "path": path,
        "query": query,
        "headers": sorted(headers.items()),
        "body": body.hex(),
        "unsigned": unsigned,
        "accessKey": "AK" + text(rng, list("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), 10, 18),
        "secretKey": text(rng, list("abcdefABCDEF0123456789+/"), 30, 40),
        "token": token,
        "region": rng.choice(REGIONS),
        "epochSeconds": rng.randint(0, 4_102_444_800),
    }


def sign(case):
    scheme = "https" if case["unsigned"] else "http"
    url = scheme + "://" + dict(case["headers"])["Host"] + percent_encode(case["path"], safe="/~")
    request = AWSRequest(method=case["method"], url=url, headers=dict(case["headers"]),
                         data=bytes.fromhex(case["body"]), params=list(case["query"]))
    if case["unsigned"]:
        request.context["client_config"] = types.SimpleNamespace(s3={"payload_signing_enabled": False})
    signer = botocore.auth.S3SigV4Auth(Credentials(case["accessKey"], case["secretKey"], case["token"]), "s3", case["region"])
    moment = datetime.datetime.fromtimestamp(case["epochSeconds"], datetime.timezone.utc).replace(tzinfo=None)
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *args, **kwargs: moment
    try:
        signer.add_auth(request)
    finally:
        botocore.auth.get_current_datetime = original
    case["authorization"] = request.headers["Authorization"]
    case["payloadHash"] = request.headers["X-Amz-Content-SHA256"]
    return case


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    json.dump([sign(generate(rng, i)) for i in range(args.count)], sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""boto3 as an independent S3 peer for RRLogS3's tests (Tests/RRLogS3Tests/SeaweedFSTests.swift):
what S3Client wrote, boto3 reads; what boto3 wrote, S3Client reads.

    python3 Tools/s3-peer.py ENDPOINT BUCKET put KEY FILE     upload FILE's bytes to KEY
    python3 Tools/s3-peer.py ENDPOINT BUCKET get KEY FILE     download KEY into FILE
    python3 Tools/s3-peer.py ENDPOINT BUCKET list PREFIX      print the keys under PREFIX, one JSON list

Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; path-style addressing,
region us-east-1. Exits 3 when boto3 is missing.
"""
import json
import sys

try:
    import boto3
    from botocore.config import Config
except ImportError:
    print("boto3 is not installed (pip install boto3)", file=sys.stderr)
    sys.exit(3)


def main():
    endpoint, bucket, command = sys.argv[1:4]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
    if command == "put":
        key, path = sys.argv[4:6]
        with open(path, "rb") as f:
            s3.put_object(Bucket=bucket, Key=key, Body=f.read())
    elif command == "get":
        key, path = sys.argv[4:6]
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with open(path, "wb") as f:
            f.write(body)
    elif command == "list":
        keys = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=sys.argv[4]):
            keys += [item["Key"] for item in page.get("Contents", [])]
        json.dump(keys, sys.stdout, ensure_ascii=False)
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""An independent reader of sealed rrlog segments, written from FORMAT.md alone.

  python3 Tools/read-segment.py FILE.rrseg            print the records, one JSON line each (exit 3
                                                      when some chunk has a codec or layout this
                                                      reader does not know, 1 on damage)
  python3 Tools/read-segment.py --check DIR           decode every sealed DIR/*.rrseg and compare
                                                      it with the .json beside it (the fixtures)

It shares no code with the Swift implementation: it exists to show that FORMAT.md is enough to
read rrlog's files in another language, versions 1 and 2 (row and column chunks), uncompressed,
lz4 and zstd. It opens a segment from its footer and chunk index (FORMAT.md §7, §6.1), checks every
CRC it meets, and does not scan unsealed segments (§9). Needs `pip install lz4 zstandard`.
"""
import json
import os
import struct
import sys

import lz4.block
import zstandard

SEGMENT_MAGIC = b"\x89RRLOG\r\n"


def crc32c(data):
    """FORMAT.md §1, table-driven."""
    crc = 0xFFFFFFFF
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _table()

M64 = 2**64 - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                      0x27D4EB2F165667C5)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, lane):
    return (_rotl((acc + lane * P2) & M64, 31) * P1) & M64


def xxh64(data, seed=0):
    """XXH64 (FORMAT.md §6.2 names it and gives test vectors)."""
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed, (seed - P1) & M64]
        while i + 32 <= n:
            for j in range(4):
                v[j] = _round(v[j], struct.unpack_from("<Q", data, i + 8 * j)[0])
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for j in range(4):
            h = ((h ^ _round(0, v[j])) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", data, i)[0]), 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ (struct.unpack_from("<I", data, i)[0] * P1 & M64), 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h = (_rotl(h ^ (data[i] * P5 & M64), 11) * P1) & M64
        i += 1
    h = ((h ^ (h >> 33)) * P2) & M64
    h = ((h ^ (h >> 29)) * P3) & M64
    return h ^ (h >> 32)


def mask(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


class Damage(Exception):
    pass


def expect(condition, what):
    if not condition:
        raise Damage(what)


def frame_header(b, at):
    """FORMAT.md §3."""
    expect(at + 56 <= len(b) and struct.unpack_from("<I", b, at)[0] == 0x4B435252, f"frame magic at {at}")
    crc, hlen, ftype, codec, stored, raw, count, dcrc, layout = struct.unpack_from("<IHBBIIIIB", b, at + 4)
    first, tmin, tmax = struct.unpack_from("<Qqq", b, at + 32)
    expect(56 <= hlen <= 4096 and at + hlen <= len(b), f"frame header length at {at}")
    expect(mask(crc32c(b[at + 8:at + hlen])) == crc, f"frame header CRC at {at}")
    expect(at + hlen + stored <= len(b), f"frame data at {at}")
    return dict(hlen=hlen, type=ftype, codec=codec, stored=stored, raw=raw, count=count, dcrc=dcrc,
                layout=layout, first=first, tmin=tmin, tmax=tmax)


def read_with_keys(path):
    """The records, a function that finds the indexes in them of a key's matches, and the chunks
    this reader cannot decode: a codec or layout it does not know is not damage (FORMAT.md §3, §5)
    but a later version's, so those chunks are listed and the others read."""
    b = open(path, "rb").read()
    expect(b[:8] == SEGMENT_MAGIC, "segment magic")
    crc, hlen, version = struct.unpack_from("<IHH", b, 8)
    expect(48 <= hlen <= 4096 and mask(crc32c(b[12:hlen])) == crc, "segment header CRC")
    expect(version in (1, 2), f"unknown version {version}")
    expect(len(b) >= 48 + 64 and b[-8:] == SEGMENT_MAGIC and b[-64:-60] == b"RRFT", "no footer: unsealed")
    f = len(b) - 64
    fcrc, index_at, keys_at = struct.unpack_from("<IQQ", b, f + 4)
    expect(mask(crc32c(b[f + 8:])) == fcrc, "footer CRC")
    # §7 step 3: no frame starts inside the segment header.
    expect(hlen <= index_at < f and (keys_at == 0 or index_at < keys_at < f), "footer offsets")
    ih = frame_header(b, index_at)
    body = b[index_at + ih["hlen"]:index_at + ih["hlen"] + ih["stored"]]
    expect(ih["type"] == 2 and ih["codec"] == 0 and mask(crc32c(body)) == ih["dcrc"], "chunk index")
    expect(len(body) >= 8, "chunk index body")
    chunk_count = struct.unpack_from("<I", body, 0)[0]
    # §6.1, §8: at most what one frame holds, and every entry in the body.
    expect(chunk_count <= 5_593_855 and 8 + 48 * chunk_count <= len(body), f"chunk count {chunk_count}")
    records, locations, unreadable = [], {}, []
    for i in range(chunk_count):
        offset, flen, raw, first, count, codec, layout, tmin, tmax = struct.unpack_from("<QIIQIBBxxqq", body, 8 + 48 * i)
        expect(hlen <= offset and offset + flen <= index_at, f"chunk {i} offset")
        h = frame_header(b, offset)
        expect((h["type"], h["codec"], h["layout"], h["raw"], h["first"], h["count"], h["tmin"], h["tmax"])
               == (1, codec, layout, raw, first, count, tmin, tmax), f"chunk {i} disagrees with its index entry")
        expect(layout == 0 or version >= 2, f"chunk {i}: columns in a version 1 segment")
        stored = b[offset + h["hlen"]:offset + h["hlen"] + h["stored"]]
        expect(mask(crc32c(stored)) == h["dcrc"], f"chunk {i} data CRC")
        if codec not in (0, 1, 2) or layout not in (0, 1):
            # §3, §5: reported apart from damage; the other chunks are still read.
            unreadable.append(f"chunk {i} at {offset} (codec {codec}, layout {layout}, sequences {first}..{first + count - 1})")
            continue
        if codec == 0:
            data = stored
        elif codec == 1:
            data = lz4.block.decompress(stored, uncompressed_size=raw)
        else:
            data = zstandard.ZstdDecompressor().decompress(stored, max_output_size=raw)
        expect(len(data) == raw, f"chunk {i}: decompressed size")
        chunk = rows(data) if layout == 0 else columns(data, count, first, tmin)
        for j, (_, _, _, key, _, at) in enumerate(chunk):
            if key is not None:
                locations[(i, at if layout == 0 else j)] = len(records) + j
        records += [r[:5] for r in chunk]
    return records, key_table(b, keys_at, records, locations), unreadable


def key_table(b, at, records, locations):
    """FORMAT.md §6.2: lookup(key) -> the indexes in `records` of its matches, oldest first."""
    if at == 0:
        return lambda key: []
    h = frame_header(b, at)
    body = b[at + h["hlen"]:at + h["hlen"] + h["stored"]]
    expect(h["type"] == 3 and h["codec"] == 0 and mask(crc32c(body)) == h["dcrc"], "key table")
    expect(len(body) >= 8, "key table body")
    slots, entries = struct.unpack_from("<II", body, 0)
    expect(8 <= slots <= 2**24 and entries <= slots and 8 + 16 * slots <= len(body), "key table shape")

    def lookup(key):
        want = xxh64(key) or 1
        i, found = want % slots, []
        for _ in range(slots):
            stored, chunk, offset = struct.unpack_from("<QII", body, 8 + 16 * i)
            if stored == 0:
                break
            r = locations.get((chunk, offset))
            if stored == want and r is not None and records[r][3] == key:
                found.append(r)
            i = (i + 1) % slots
        return found
    return lookup


def rows(data):
    """FORMAT.md §4."""
    out, o = [], 0
    while o < len(data):
        crc, length = struct.unpack_from("<II", data, o)
        expect(length >= 26 and o + 8 + length <= len(data), f"record length at {o}")
        expect(mask(crc32c(data[o + 4:o + 8 + length])) == crc, f"record CRC at {o}")
        if data[o + 8] == 1:
            _, flags, kind, seq, ts, klen, plen = struct.unpack_from("<BBHQqHI", data, o + 8)
            key = data[o + 34:o + 34 + klen] if flags & 1 else None
            out.append((seq, ts, kind, key, data[o + 34 + klen:o + 34 + klen + plen], o))
        o += 8 + length
    return out


def columns(data, n, first, tmin):
    """FORMAT.md §4.1."""
    count, ccrc = struct.unpack_from("<II", data, 0)
    expect(count == n and 8 + 17 * n <= len(data), "column chunk record count")
    expect(mask(crc32c(data[8:])) == ccrc, "column chunk content CRC")
    kinds = struct.unpack_from(f"<{n}H", data, 8)
    deltas = struct.unpack_from(f"<{n}Q", data, 8 + 2 * n)
    flags = data[8 + 10 * n:8 + 11 * n]
    klens = struct.unpack_from(f"<{n}H", data, 8 + 11 * n)
    plens = struct.unpack_from(f"<{n}I", data, 8 + 13 * n)
    key_at, payload_at, t = 8 + 17 * n, 8 + 17 * n + sum(klens), tmin
    out = []
    for j in range(n):
        z = deltas[j]
        t = (t + ((z >> 1) ^ -(z & 1)) + 2**63) % 2**64 - 2**63  # wrapping i64
        key = data[key_at:key_at + klens[j]] if flags[j] & 1 else None
        out.append((first + j, t, kinds[j], key, data[payload_at:payload_at + plens[j]], j))
        key_at += klens[j]
        payload_at += plens[j]
    return out


def check(directory):
    failed = 0
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".rrseg"):
            continue
        path = os.path.join(directory, name)
        expected = json.load(open(path[:-6] + ".json"))
        if not expected["sealed"]:
            print(f"{name}: unsealed, skipped (this reader opens sealed segments only)")
            continue
        want = [(r["sequence"], r["timestamp_ns"], r["kind"],
                 bytes.fromhex(r["key"]) if r["key"] is not None else None, bytes.fromhex(r["payload"]))
                for r in expected["records"]]
        try:
            got, lookup, unreadable = read_with_keys(path)
            if unreadable:
                print(f"{name}: UNREADABLE by this reader (not damage): {'; '.join(unreadable)}")
                failed += 1
                continue
            ok = got == want
            keyed = [i for i, r in enumerate(got) if r[3] is not None]
            found = all(lookup(got[i][3]) == [j for j in keyed if got[j][3] == got[i][3]] for i in keyed)
            ok = ok and found
            print(f"{name}: {'ok' if ok else 'MISMATCH'}, {len(got)} records, {len(keyed)} found by key"
                  f"{'' if found else ' (KEY LOOKUP FAILED)'}")
        except Damage as e:
            ok = False
            print(f"{name}: FAILED: {e}")
        failed += not ok
    return failed


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(1 if check(sys.argv[2]) else 0)
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    try:
        records, _, unreadable = read_with_keys(sys.argv[1])
    except Damage as e:
        sys.exit(f"{sys.argv[1]}: {e}")
    for seq, ts, kind, key, payload in records:
        print(json.dumps({"sequence": seq, "timestamp_ns": ts, "kind": kind,
                          "key": key.hex() if key is not None else None, "payload": payload.hex()}))
    if unreadable:
        # Not damage (exit 1): a later version wrote these chunks; as `rrlog verify`, exit 3.
        print(f"{sys.argv[1]}: unreadable by this reader: {'; '.join(unreadable)}", file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()

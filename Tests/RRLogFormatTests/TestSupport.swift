import Foundation
import RRLogFormat
import XCTest

// Helpers shared by the format tests: fixture paths, byte twiddling, a seeded generator, and a
// hand assembler that builds segments from the public building blocks, padded where a test asks.

/// Where the golden segments live, found from this file's path (no SwiftPM resources).
enum FixturePaths {
    static let directory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
        .appendingPathComponent("segments")

    static let formatSpec: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("FORMAT.md")
}

// MARK: - Byte helpers

/// Lowercase hex of `bytes`.
func hexString(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * 2)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0xF)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// Bytes of a hex string, nil when it is not hex.
func bytes(hex: String) -> [UInt8]? {
    let chars = Array(hex.utf8)
    guard chars.count % 2 == 0 else { return nil }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
    var out: [UInt8] = []
    var i = 0
    while i < chars.count {
        guard let high = nibble(chars[i]), let low = nibble(chars[i + 1]) else { return nil }
        out.append(high << 4 | low)
        i += 2
    }
    return out
}

func loadU16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
func loadU32(_ bytes: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
func loadU64(_ bytes: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }

func storeU16(_ bytes: inout [UInt8], _ at: Int, _ value: UInt16) {
    for i in 0..<2 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
}
func storeU32(_ bytes: inout [UInt8], _ at: Int, _ value: UInt32) {
    for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
}
func storeU64(_ bytes: inout [UInt8], _ at: Int, _ value: UInt64) {
    for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
}

/// Flips one bit of the byte at `at`.
func flipBit(_ bytes: inout [UInt8], at: Int, bit: Int = 0) { bytes[at] ^= UInt8(1 << (bit & 7)) }

/// Recomputes the masked CRC of the structure at `start`: stored at `crcAt`, covering
/// `crcFrom..<end` (FORMAT.md §1).
func fixChecksum(_ bytes: inout [UInt8], crcAt: Int, from: Int, to end: Int) {
    storeU32(&bytes, crcAt, CRC32C.mask(CRC32C.checksum(Array(bytes[from..<end]))))
}

/// Recomputes a record's CRC after a test changed it (FORMAT.md §4).
func fixRecordChecksum(_ data: inout [UInt8], at offset: Int) {
    let length = Int(loadU32(data, offset + 4))
    fixChecksum(&data, crcAt: offset, from: offset + 4, to: offset + 8 + length)
}

/// Recomputes a frame's header CRC (FORMAT.md §3).
func fixFrameHeaderChecksum(_ bytes: inout [UInt8], at offset: Int) {
    let headerLength = Int(loadU16(bytes, offset + 8))
    fixChecksum(&bytes, crcAt: offset + 4, from: offset + 8, to: offset + headerLength)
}

/// Recomputes a frame's data CRC and then its header CRC.
func fixFrameDataChecksum(_ bytes: inout [UInt8], at offset: Int) {
    let headerLength = Int(loadU16(bytes, offset + 8))
    let stored = Int(loadU32(bytes, offset + 12))
    let data = Array(bytes[(offset + headerLength)..<(offset + headerLength + stored)])
    storeU32(&bytes, offset + 24, CRC32C.mask(CRC32C.checksum(data)))
    fixFrameHeaderChecksum(&bytes, at: offset)
}

/// The frames of a segment in file order, found by a scan.
func frames(of bytes: [UInt8]) -> [(offset: Int, header: FrameHeader)] {
    bytes.withUnsafeBytes { buffer in
        guard case .success(let (_, headerLength)) = SegmentHeader.decode(buffer) else { return [] }
        var scanner = SegmentScanner(buffer: buffer, headerLength: headerLength)
        var found: [(Int, FrameHeader)] = []
        while let item = scanner.next() {
            if case .frame(let h, let offset) = item { found.append((offset, h)) }
        }
        return found
    }
}

// MARK: - Reading segments in tests

/// What a test sees of a segment read one way.
struct DecodedSegment {
    var records: [Record] = []
    var chunkCount = 0
    var damage: [ScanItem] = []
    var sealed = false
    var problem: FormatError?

    var hasTornTail: Bool {
        damage.contains { if case .tornTail = $0 { return true } else { return false } }
    }
}

/// Reads `bytes` through `SegmentView` (sealed from the tail, or by a scan) and `ChunkReader`,
/// keeping the records of every chunk that decodes and the first problem met.
func readSegment(_ bytes: [UInt8], sealed: Bool) throws(FormatError) -> DecodedSegment {
    let result: Result<DecodedSegment, FormatError> = bytes.withUnsafeBytes { buffer in
        do throws(FormatError) {
            let view = sealed ? try SegmentView(sealed: buffer) : try SegmentView(scanning: buffer)
            var out = DecodedSegment(chunkCount: view.chunks.count, damage: view.damage, sealed: view.isSealed)
            let decompressor = Decompressor()
            for ordinal in view.chunks.indices {
                let walked = view.withChunkData(ordinal, decompressor: decompressor) { data in
                    ChunkReader.forEachRecord(data, shape: ChunkShape(view.chunks[ordinal])) { record in
                        out.records.append(record.makeRecord())
                        return true
                    }
                }
                switch walked {
                case .failure(let e): out.problem = out.problem ?? e
                case .success(let e?): out.problem = out.problem ?? e
                case .success(nil): break
                }
            }
            return .success(out)
        } catch {
            return .failure(error)
        }
    }
    return try result.get()
}

/// The records a key lookup returns: every candidate of the key's hash whose full key matches
/// (FORMAT.md §6.2), oldest first.
func lookup(_ key: [UInt8], in bytes: [UInt8]) throws -> [Record] {
    try bytes.withUnsafeBytes { buffer in
        let view = try SegmentView(sealed: buffer)
        guard let table = view.keyTable else { return [] }
        let decompressor = Decompressor()
        var found: [Record] = []
        table.forEachCandidate(hash: XXHash64.hash(key)) { location in
            let ordinal = Int(location.chunkOrdinal)
            guard ordinal < view.chunks.count else { return true }
            _ = view.withChunkData(ordinal, decompressor: decompressor) { data in
                if let record = ChunkReader.record(at: Int(location.offsetInChunk), in: data, shape: ChunkShape(view.chunks[ordinal])),
                    let k = record.key, Array(k) == key
                {
                    found.append(record.makeRecord())
                }
            }
            return true
        }
        return found
    }
}

// MARK: - Random data

/// SplitMix64: a small seeded generator, so a failing randomised test can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A seed from `RRLOG_TEST_SEED`, or a fresh one; printed so a failure can be replayed.
    static func seeded(_ test: String) -> SeededGenerator {
        let seed = ProcessInfo.processInfo.environment["RRLOG_TEST_SEED"].flatMap { UInt64($0) }
            ?? UInt64.random(in: 0...UInt64.max)
        print("\(test): seed = \(seed) (replay with RRLOG_TEST_SEED=\(seed))")
        return SeededGenerator(seed: seed)
    }
}

func randomBytes(_ count: Int, using rng: inout SeededGenerator) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
}

/// Payload bytes that compress well (a repeated phrase), `count` long.
func compressibleBytes(_ count: Int, seed: Int = 0) -> [UInt8] {
    let phrase = Array("record and replay \(seed % 10) ".utf8)
    return (0..<count).map { phrase[$0 % phrase.count] }
}

/// `count` records with consecutive sequences from `first`.
func makeRecords(
    count: Int, first: UInt64 = 1, payloadSize: (Int) -> Int = { _ in 16 }, key: (Int) -> [UInt8]? = { _ in nil }
) -> [Record] {
    (0..<count).map { i in
        Record(
            sequence: first + UInt64(i), timestampNs: 1_700_000_000_000_000_000 + Int64(i) * 1_000, kind: UInt16(i % 3),
            key: key(i), payload: compressibleBytes(payloadSize(i), seed: i))
    }
}

// MARK: - Hand assembler

/// Builds segments from the public building blocks, part by part, so tests can make what the
/// encoder never writes: padded headers, records with trailing bytes, unknown record and frame
/// types. Without padding it writes the same bytes as `SegmentEncoder`.
struct SegmentAssembler {
    /// One entry of a chunk's data.
    enum Item {
        /// A data record, followed by `trailing` bytes inside the record (its CRC recomputed).
        case record(Record, trailing: [UInt8] = [])
        /// A record of another type: CRC, length, `type`, then `body` (at least 25 bytes).
        case foreign(type: UInt8, body: [UInt8])
    }

    /// One frame.
    enum Part {
        /// A chunk of `items` compressed with `codec` (the options' when nil); its frame header
        /// grows by `headerPadding`.
        case chunk([Item], codec: Codec? = nil, headerPadding: [UInt8] = [])
        /// A frame of any type with an opaque body, stored uncompressed.
        case frame(type: UInt8, body: [UInt8])
    }

    var options: SegmentEncoder.Options
    /// Bytes appended to the segment header (its length field and CRC updated).
    var segmentHeaderPadding: [UInt8] = []

    func assemble(_ parts: [Part], sealed: Bool) -> [UInt8] {
        var header = SegmentHeader(segmentID: options.segmentID, baseSequence: options.baseSequence, createdNs: options.createdNs)
        header.version = options.version
        var out = header.encode()
        if !segmentHeaderPadding.isEmpty {
            out += segmentHeaderPadding
            storeU16(&out, 12, UInt16(out.count))
            fixChecksum(&out, crcAt: 8, from: 12, to: out.count)
        }
        var index = SegmentIndexBuilder()
        var records: [Record] = []
        for part in parts {
            switch part {
            case .frame(let type, let body):
                let header = FrameHeader(
                    type: type, codec: Codec.none.rawValue, storedLength: UInt32(body.count), rawLength: UInt32(body.count),
                    recordCount: 0, dataCRC: CRC32C.mask(CRC32C.checksum(body)), firstSequence: 0, minTimestampNs: 0,
                    maxTimestampNs: 0)
                out += header.encode() + body
            case .chunk(let items, let codec, let padding):
                var data: [UInt8] = []
                var count: UInt32 = 0
                var first: UInt64 = 0
                var minTs = Int64.max
                var maxTs = Int64.min
                for item in items {
                    switch item {
                    case .record(let record, let trailing):
                        var encoded = RecordCodec.encode(record)
                        if !trailing.isEmpty {
                            encoded += trailing
                            storeU32(&encoded, 4, UInt32(encoded.count - 8))
                            fixRecordChecksum(&encoded, at: 0)
                        }
                        if let key = record.key { index.addKey(hash: XXHash64.hash(key), offsetInChunk: data.count) }
                        if count == 0 { first = record.sequence }
                        count += 1
                        minTs = min(minTs, record.timestampNs)
                        maxTs = max(maxTs, record.timestampNs)
                        records.append(record)
                        data += encoded
                    case .foreign(let type, let body):
                        var encoded = [UInt8](repeating: 0, count: 8) + [type] + body
                        storeU32(&encoded, 4, UInt32(encoded.count - 8))
                        fixRecordChecksum(&encoded, at: 0)
                        data += encoded
                    }
                }
                let chunkCompressor = Compressor(codec: codec ?? options.codec, level: options.zstdLevel)
                data.withUnsafeBytes { raw in
                    chunkCompressor.compress(raw) { used, stored in
                        var header = FrameHeader(
                            type: FrameType.chunk.rawValue, codec: used.rawValue, storedLength: UInt32(stored.count),
                            rawLength: UInt32(raw.count), recordCount: count, dataCRC: CRC32C.mask(CRC32C.checksum(stored)),
                            firstSequence: first, minTimestampNs: minTs, maxTimestampNs: maxTs)
                        var headerBytes = header.encode()
                        if !padding.isEmpty {
                            headerBytes += padding
                            storeU16(&headerBytes, 8, UInt16(headerBytes.count))
                            fixFrameHeaderChecksum(&headerBytes, at: 0)
                            header.headerLength = headerBytes.count
                        }
                        index.addChunk(ChunkIndexEntry(header: header, offset: out.count))
                        out += headerBytes
                        out += Array(stored)
                    }
                }
            }
        }
        guard sealed else { return out }
        let chunkIndexOffset = out.count
        out += index.encodeChunkIndex()
        var keyTableOffset = 0
        if let keyTable = index.encodeKeyTable() {
            keyTableOffset = out.count
            out += keyTable
        }
        out += SegmentFooter(
            chunkIndexOffset: UInt64(chunkIndexOffset), keyTableOffset: UInt64(keyTableOffset),
            recordCount: UInt64(records.count), firstSequence: records.first?.sequence ?? options.baseSequence,
            lastSequence: records.last?.sequence ?? options.baseSequence &- 1
        ).encode()
        return out
    }
}

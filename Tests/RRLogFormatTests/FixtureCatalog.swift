import Foundation
import RRLogFormat

/// One golden segment: how it is made and what it must decode to.
struct Fixture {
    /// File name without extension.
    var name: String
    /// One sentence for the JSON file.
    var description: String
    /// Header fields and encoder settings.
    var options: SegmentEncoder.Options
    /// True when the segment has an index and footer.
    var sealed: Bool
    /// True when `SegmentEncoder` with `options` writes these bytes exactly (uncompressed, unpadded).
    var byteExact: Bool
    /// The records the segment decodes to.
    var records: [Record]
    /// The segment.
    var bytes: [UInt8]
}

/// The golden segments of `Tests/Fixtures/segments/`, built by the code under test. The
/// committed files are checked against this list, and rewritten from it only when
/// `RRLOG_REGENERATE_FIXTURES=1` (see `FixtureTests.testRegenerateFixtures`).
enum FixtureCatalog {
    static let created: Int64 = 1_700_000_000_000_000_000

    /// Version 1 rows, unless asked for version 2 (whose compressed chunks are columns).
    static func options(codec: Codec = .none, target: Int = 4096, version: UInt16 = 1, layout: ChunkLayout? = nil) -> SegmentEncoder.Options {
        SegmentEncoder.Options(
            segmentID: 7, baseSequence: 100, createdNs: created, codec: codec, chunkTargetSizeBytes: target,
            version: version, layout: layout)
    }

    static func text(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A JSON-like payload long enough for lz4 and zstd to shrink a chunk of a few of them.
    static func body(_ id: Int) -> [UInt8] {
        text(#"{"id":\#(id),"name":"user \#(id)","roles":["reader","writer"],"note":"the quick brown fox jumps over the lazy dog"}"#)
    }

    /// Records with keys, one key repeated, one empty key, one binary payload, one empty payload.
    static let keyedRecords: [Record] = [
        Record(sequence: 100, timestampNs: created + 1_000, kind: 1, key: text("GET /users/1"), payload: body(1)),
        Record(sequence: 101, timestampNs: created + 2_000, kind: 2, key: text("GET /users/2"), payload: body(2)),
        Record(sequence: 102, timestampNs: created + 2_000, kind: 3, key: nil, payload: Array(0..<32)),
        Record(sequence: 103, timestampNs: created + 1_500, kind: 1, key: text("GET /users/1"), payload: body(3)),
        Record(sequence: 104, timestampNs: created + 4_000, kind: 4, key: [], payload: []),
        Record(sequence: 105, timestampNs: created + 5_000, kind: 2, key: text("POST /users"), payload: body(4)),
    ]

    static let workedExampleRecords: [Record] = [
        Record(sequence: 1, timestampNs: created, kind: 1, key: nil, payload: text("hello")),
        Record(sequence: 2, timestampNs: created + 500, kind: 2, key: text("k1"), payload: text("world")),
    ]

    static func multiChunkRecords() -> [Record] {
        (0..<12).map { i in
            Record(
                sequence: 100 + UInt64(i), timestampNs: created + Int64(i) * 10, kind: UInt16(i % 2),
                key: i % 3 == 0 ? text("key-\(i % 2)") : nil,
                payload: text("record \(i) " + String(repeating: "=", count: 40 + i)))
        }
    }

    static let largeRecords: [Record] = [
        Record(sequence: 100, timestampNs: created, kind: 1, key: nil, payload: text("small before")),
        Record(
            sequence: 101, timestampNs: created + 1, kind: 2, key: text("big"),
            payload: (0..<1_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }),
        Record(sequence: 102, timestampNs: created + 2, kind: 1, key: nil, payload: text("small after")),
    ]

    static func all() -> [Fixture] {
        var list: [Fixture] = []
        func encoded(
            _ name: String, _ description: String, _ records: [Record], _ options: SegmentEncoder.Options,
            sealed: Bool = true
        ) {
            let bytes = sealed
                ? SegmentEncoder.encode(records, options: options)
                : SegmentEncoder.encodeUnsealed(records, options: options)
            list.append(Fixture(
                name: name, description: description, options: options, sealed: sealed,
                byteExact: options.codec == .none, records: records, bytes: bytes))
        }
        func assembled(_ name: String, _ description: String, _ records: [Record], _ bytes: [UInt8]) {
            list.append(Fixture(
                name: name, description: description, options: options(), sealed: true, byteExact: false,
                records: records, bytes: bytes))
        }

        encoded("empty-sealed", "A sealed segment without records: header, empty chunk index, footer.", [], options())
        encoded(
            "one-record", "One record without a key, uncompressed.",
            [Record(sequence: 100, timestampNs: created, kind: 1, key: nil, payload: text("hello, rrlog"))], options())
        encoded(
            "keys-none", "Six records, five with keys (one key twice, one empty key), one chunk, uncompressed.",
            keyedRecords, options())
        encoded("keys-lz4", "The records of keys-none in one lz4 (block format) chunk.", keyedRecords, options(codec: .lz4))
        encoded("keys-zstd", "The records of keys-none in one zstd chunk.", keyedRecords, options(codec: .zstd))
        encoded(
            "columns-lz4", "Version 2: the records of keys-none in one lz4 chunk laid out as columns (FORMAT.md section 4.1).",
            keyedRecords, options(codec: .lz4, version: 2, layout: .columns))
        encoded(
            "columns-zstd", "Version 2: the records of keys-none in one zstd chunk laid out as columns.",
            keyedRecords, options(codec: .zstd, version: 2))
        encoded(
            "columns-none", "Version 2: the records of keys-none as an uncompressed column chunk (what a writer stores when compression does not help).",
            keyedRecords, options(version: 2, layout: .columns))
        encoded(
            "columns-multi-chunk", "Version 2: the records of multi-chunk in zstd column chunks of a 256-byte target, some keyed.",
            multiChunkRecords(), options(codec: .zstd, target: 256, version: 2))
        encoded(
            "keys-twenty", "Version 2: twenty keyed records (five keys, each four times) in uncompressed rows; the key table has 27 slots, not a power of two (FORMAT.md section 6.2).",
            (0..<20).map { i in
                Record(
                    sequence: 100 + UInt64(i), timestampNs: created + Int64(i) * 1_000, kind: 1,
                    key: text("GET /items/\(i % 5)"), payload: text("answer \(i)"))
            }, options(version: 2))
        encoded(
            "multi-chunk", "Twelve records in six chunks of two (chunk target 256 bytes), some keyed.",
            multiChunkRecords(), options(target: 256))
        encoded(
            "large-record", "A record larger than the 256-byte chunk target gets a chunk of its own.",
            largeRecords, options(target: 256))
        encoded(
            "unsealed", "A segment whose writer stopped between chunks: header and chunks, no index, no footer.",
            Array(multiChunkRecords().prefix(5)), options(target: 256), sealed: false)
        encoded(
            "worked-example", "The segment of FORMAT.md section 10: one chunk, two records, one keyed.",
            workedExampleRecords,
            SegmentEncoder.Options(segmentID: 1, baseSequence: 1, createdNs: created, codec: .none, version: 1))

        let plain = SegmentAssembler(options: options())
        let keyed = keyedRecords
        assembled(
            "padded-record-trailing-bytes",
            "keys-none, but records 101 and 104 carry unknown trailing bytes after key and payload.",
            keyed,
            plain.assemble(
                [.chunk(keyed.enumerated().map { i, r in
                    .record(r, trailing: i == 1 ? text("future field") : i == 4 ? [0xAA, 0xBB, 0xCC] : [])
                })], sealed: true))
        assembled(
            "padded-frame-header",
            "keys-none in two chunks; the first chunk's frame header is 64 bytes (8 unknown bytes).",
            keyed,
            plain.assemble(
                [
                    .chunk(keyed.prefix(3).map { .record($0) }, headerPadding: text("FUTURE!!")),
                    .chunk(keyed.suffix(3).map { .record($0) }),
                ], sealed: true))
        assembled(
            "padded-unknown-frame",
            "keys-none in two chunks with a frame of unknown type 0x90 between them.",
            keyed,
            plain.assemble(
                [
                    .chunk(keyed.prefix(3).map { .record($0) }),
                    .frame(type: 0x90, body: text("an application frame this reader does not know")),
                    .chunk(keyed.suffix(3).map { .record($0) }),
                ], sealed: true))
        assembled(
            "padded-unknown-record",
            "keys-none with a record of unknown type 0x85 before the first record and after the third.",
            keyed,
            plain.assemble(
                [
                    .chunk(
                        [.foreign(type: 0x85, body: text("application record, skipped by length"))]
                            + keyed.prefix(3).map { .record($0) }
                            + [.foreign(type: 0x85, body: [UInt8](repeating: 0x85, count: 40))]
                            + keyed.suffix(3).map { .record($0) })
                ], sealed: true))
        var paddedHeader = SegmentAssembler(options: options())
        paddedHeader.segmentHeaderPadding = text("16 future bytes")  + [0]
        assembled(
            "padded-segment-header",
            "keys-none behind a 64-byte segment header (16 unknown bytes).",
            keyed,
            paddedHeader.assemble([.chunk(keyed.map { .record($0) })], sealed: true))
        return list
    }
}

// MARK: - JSON

/// The JSON beside each fixture, as committed.
struct FixtureJSON: Decodable {
    struct Entry: Decodable {
        var sequence: UInt64
        var timestampNs: Int64
        var kind: UInt16
        var key: String?
        var payload: String
        var payloadText: String?
    }

    var description: String
    var sealed: Bool
    var byteExact: Bool
    var segmentId: UInt64
    var baseSequence: UInt64
    var createdNs: Int64
    var codec: String
    var chunkTargetBytes: Int
    /// Absent in the version 1 fixtures.
    var version: UInt16?
    var layout: String?
    var records: [Entry]

    static func load(_ url: URL) throws -> FixtureJSON {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(FixtureJSON.self, from: Data(contentsOf: url))
    }

    /// The records, or nil when a hex field is malformed.
    func decodedRecords() -> [Record]? {
        var out: [Record] = []
        for e in records {
            guard let payload = bytes(hex: e.payload) else { return nil }
            var key: [UInt8]?
            if let k = e.key {
                guard let b = bytes(hex: k) else { return nil }
                key = b
            }
            out.append(Record(sequence: e.sequence, timestampNs: e.timestampNs, kind: e.kind, key: key, payload: payload))
        }
        return out
    }

    var options: SegmentEncoder.Options {
        SegmentEncoder.Options(
            segmentID: segmentId, baseSequence: baseSequence, createdNs: createdNs, codec: Codec(name: codec) ?? .none,
            chunkTargetSizeBytes: chunkTargetBytes, version: version ?? 1, layout: layout == "columns" ? .columns : .rows)
    }
}

/// The payload as text when it is UTF-8 without control characters, else nil.
func printableText(_ bytes: [UInt8]) -> String? {
    guard !bytes.isEmpty, let s = String(validating: bytes, as: UTF8.self) else { return nil }
    let printable = s.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
    return printable ? s : nil
}

/// A JSON string literal.
func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default:
            if scalar.value < 0x20 {
                let digits = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

/// The JSON written beside a fixture: stable key order, one record per line.
func fixtureJSONText(_ f: Fixture) -> String {
    var s = "{\n"
    s += "  \"description\": \(jsonString(f.description)),\n"
    s += "  \"sealed\": \(f.sealed),\n"
    s += "  \"byte_exact\": \(f.byteExact),\n"
    s += "  \"segment_id\": \(f.options.segmentID),\n"
    s += "  \"base_sequence\": \(f.options.baseSequence),\n"
    s += "  \"created_ns\": \(f.options.createdNs),\n"
    s += "  \"codec\": \"\(f.options.codec)\",\n"
    s += "  \"chunk_target_bytes\": \(f.options.chunkTargetSizeBytes),\n"
    if f.options.version != 1 {
        s += "  \"version\": \(f.options.version),\n"
        s += "  \"layout\": \"\(f.options.effectiveLayout)\",\n"
    }
    let lines = f.records.map { r in
        var fields = [
            "\"sequence\": \(r.sequence)", "\"timestamp_ns\": \(r.timestampNs)", "\"kind\": \(r.kind)",
            "\"key\": " + (r.key.map { jsonString(hexString($0)) } ?? "null"),
            "\"payload\": \(jsonString(hexString(r.payload)))",
        ]
        if let text = printableText(r.payload) { fields.append("\"payload_text\": \(jsonString(text))") }
        return "    {" + fields.joined(separator: ", ") + "}"
    }
    s += "  \"records\": [" + (lines.isEmpty ? "]\n" : "\n" + lines.joined(separator: ",\n") + "\n  ]\n")
    return s + "}\n"
}

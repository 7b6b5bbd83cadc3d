import Foundation
import RRLogFormat
import XCTest

/// The golden segments of `Tests/Fixtures/segments/`: each `.rrseg` must decode to the records of
/// the `.json` beside it, through the tail (sealed) and through a scan.
final class FixtureTests: XCTestCase {
    /// Writes the fixtures from `FixtureCatalog`; runs only with `RRLOG_REGENERATE_FIXTURES=1`.
    func testRegenerateFixtures() throws {
        try XCTSkipUnless(
            ProcessInfo.processInfo.environment["RRLOG_REGENERATE_FIXTURES"] == "1",
            "set RRLOG_REGENERATE_FIXTURES=1 to rewrite Tests/Fixtures/segments")
        let directory = FixturePaths.directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for fixture in FixtureCatalog.all() {
            XCTAssertEqual(try SegmentEncoder.decodeAll(fixture.bytes), fixture.records, fixture.name)
            try Data(fixture.bytes).write(to: directory.appendingPathComponent(fixture.name + ".rrseg"))
            try Data(fixtureJSONText(fixture).utf8).write(to: directory.appendingPathComponent(fixture.name + ".json"))
        }
    }

    func testEveryCatalogFixtureIsCommittedWithItsJSON() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: FixturePaths.directory.path)
        let segments = Set(names.filter { $0.hasSuffix(".rrseg") }.map { String($0.dropLast(6)) })
        let jsons = Set(names.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) })
        XCTAssertEqual(segments, jsons, "every .rrseg needs a .json and the reverse")
        XCTAssertEqual(segments, Set(FixtureCatalog.all().map(\.name)))
    }

    func testEveryFixtureDecodesToItsJSON() throws {
        for (name, bytes, json) in try committedFixtures() {
            let expected = try XCTUnwrap(json.decodedRecords(), "\(name): bad hex in JSON")
            XCTAssertEqual(json.records.count, expected.count)
            for (entry, record) in zip(json.records, expected) {
                XCTAssertEqual(entry.payloadText, printableText(record.payload), "\(name): payload_text")
            }

            let scanned = try readSegment(bytes, sealed: false)
            XCTAssertEqual(scanned.records, expected, "\(name): scan")
            XCTAssertNil(scanned.problem, "\(name): scan")
            XCTAssertTrue(scanned.damage.isEmpty, "\(name): scan found damage \(scanned.damage)")

            XCTAssertEqual(SegmentFooter.present(in: bytes), json.sealed, name)
            if json.sealed {
                let sealed = try readSegment(bytes, sealed: true)
                XCTAssertEqual(sealed.records, expected, "\(name): sealed")
                XCTAssertNil(sealed.problem, "\(name): sealed")
                XCTAssertTrue(sealed.sealed, name)
            } else {
                XCTAssertThrowsError(try readSegment(bytes, sealed: true), "\(name): unsealed opened as sealed")
            }
            XCTAssertEqual(try SegmentEncoder.decodeAll(bytes), expected, "\(name): decodeAll")

            let header = try bytes.withUnsafeBytes { try SegmentHeader.decode($0).get().0 }
            XCTAssertEqual(header.segmentID, json.segmentId, name)
            XCTAssertEqual(header.baseSequence, json.baseSequence, name)
            XCTAssertEqual(header.createdNs, json.createdNs, name)
        }
    }

    func testByteExactFixturesAreWhatTheEncoderWrites() throws {
        var checked = 0
        for (name, bytes, json) in try committedFixtures() where json.byteExact {
            let records = try XCTUnwrap(json.decodedRecords())
            let encoded = json.sealed
                ? SegmentEncoder.encode(records, options: json.options)
                : SegmentEncoder.encodeUnsealed(records, options: json.options)
            XCTAssertEqual(encoded, bytes, "\(name): the encoder no longer writes the committed bytes")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 7)
    }

    /// The padded variants are uncompressed, so the generator must reproduce them exactly too.
    func testGeneratorReproducesUncompressedFixtures() throws {
        let committed = Dictionary(uniqueKeysWithValues: try committedFixtures().map { ($0.0, $0.1) })
        for fixture in FixtureCatalog.all() where fixture.options.codec == .none {
            XCTAssertEqual(committed[fixture.name], fixture.bytes, fixture.name)
        }
    }

    func testCompressedFixturesAreCompressed() throws {
        for (name, codec) in [("keys-lz4", Codec.lz4), ("keys-zstd", Codec.zstd)] {
            let bytes = try fixtureBytes(name)
            let chunks = frames(of: bytes).filter { $0.header.type == FrameType.chunk.rawValue }
            XCTAssertEqual(chunks.map(\.header.codec), [codec.rawValue], name)
            XCTAssertLessThan(chunks[0].header.storedLength, chunks[0].header.rawLength, name)
        }
    }

    func testFixtureShapes() throws {
        func chunkCount(_ name: String) throws -> Int {
            frames(of: try fixtureBytes(name)).filter { $0.header.type == FrameType.chunk.rawValue }.count
        }
        XCTAssertEqual(try chunkCount("empty-sealed"), 0)
        XCTAssertEqual(try chunkCount("multi-chunk"), 6)
        XCTAssertEqual(try chunkCount("large-record"), 3)
        XCTAssertGreaterThan(try chunkCount("unsealed"), 1)
        XCTAssertFalse(SegmentFooter.present(in: try fixtureBytes("unsealed")))
        let padded = frames(of: try fixtureBytes("padded-frame-header"))
        XCTAssertEqual(padded.first?.header.headerLength, 64)
        XCTAssertTrue(frames(of: try fixtureBytes("padded-unknown-frame")).contains { $0.header.type == 0x90 })
        let headerLength = try fixtureBytes("padded-segment-header").withUnsafeBytes { try SegmentHeader.decode($0).get().1 }
        XCTAssertEqual(headerLength, 64)
    }

    /// FORMAT.md §10 shows a real segment: its dump must be the committed worked example.
    func testWorkedExampleInFormatSpecIsTheFixture() throws {
        let spec = try String(contentsOf: FixturePaths.formatSpec, encoding: .utf8)
        let section = try XCTUnwrap(spec.range(of: "## §10"), "FORMAT.md has no §10")
        var dumped: [UInt8] = []
        var expectedOffset = 0
        for line in spec[section.lowerBound...].split(separator: "\n") {
            if line.hasPrefix("## §11") { break }
            // Dump lines read "oooooo: hh hh ... | explanation", with a six-digit hex offset.
            guard let colon = line.firstIndex(of: ":"), let bar = line.firstIndex(of: "|"), colon < bar,
                line[..<colon].count == 6, let offset = Int(line[..<colon], radix: 16)
            else { continue }
            XCTAssertEqual(offset, expectedOffset, "FORMAT.md §10: line \(line) is not contiguous")
            let fields = line[line.index(after: colon)..<bar].split(separator: " ")
            let lineBytes = fields.compactMap { UInt8($0, radix: 16) }
            XCTAssertEqual(lineBytes.count, fields.count, "FORMAT.md §10: bad hex in \(line)")
            dumped += lineBytes
            expectedOffset += lineBytes.count
        }
        XCTAssertEqual(dumped, try fixtureBytes("worked-example"))
    }

    // MARK: - Helpers

    private func fixtureBytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: FixturePaths.directory.appendingPathComponent(name + ".rrseg")))
    }

    private func committedFixtures() throws -> [(String, [UInt8], FixtureJSON)] {
        let names = try FileManager.default.contentsOfDirectory(atPath: FixturePaths.directory.path)
            .filter { $0.hasSuffix(".rrseg") }.map { String($0.dropLast(6)) }.sorted()
        XCTAssertFalse(names.isEmpty, "no fixtures in \(FixturePaths.directory.path)")
        return try names.map { name in
            (name, try fixtureBytes(name), try FixtureJSON.load(FixturePaths.directory.appendingPathComponent(name + ".json")))
        }
    }
}

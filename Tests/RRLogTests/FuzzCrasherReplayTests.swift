import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogInterop
import XCTest

/// Replays every input a fuzzer once failed on (Tests/Fixtures/fuzz-crashers/<harness>/) through
/// the same reader and the same invariant as its harness in Fuzz/, so a fixed bug stays fixed.
final class FuzzCrasherReplayTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/fuzz-crashers")

    /// The harnesses' seed corpus (Fuzz/corpus/<harness>/).
    static let corpus = root.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    func inputs(_ harness: String, in root: URL = FuzzCrasherReplayTests.root) -> [(String, [UInt8])] {
        let dir = root.appendingPathComponent(harness).path
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.sorted().map { ($0, Array(FileManager.default.contents(atPath: dir + "/" + $0) ?? Data())) }
    }

    func testEveryKeptCrasherPassesItsHarnessInvariant() throws {
        var replayed = 0
        for (name, bytes) in inputs("FuzzIOEvents") {
            var encoder = IOEventEncoder()
            for line in bytes.split(separator: 0x0A) {
                guard let value = try? JSONValue.parse(Array(line)), let record = try? encoder.record(for: value, location: name) else { continue }
                var expected = encoder.redact(value)
                if let key = record.key.flatMap({ IOKey(bytes: $0) }) { expected = IOEventEncoder.settingCallIndex(expected, to: key.callIndex) }
                XCTAssertEqual(IOLine.parse(record.payload, timestampNs: record.timestampNs), expected, name)
            }
            replayed += 1
        }
        for (name, bytes) in inputs("FuzzEventRecorder") {
            // Either records or a clear error; a date past 2262 once trapped converting to ns.
            if let (_, records) = try? EventRecorderFormat.records(from: bytes, file: name),
                let events = (try? JSONValue.parse(bytes))?["events"]?.arrayValue
            {
                XCTAssertEqual(records.count, events.count, name)
            }
            replayed += 1
        }
        for (name, bytes) in inputs("FuzzSegment") {
            for failure in Self.segmentHarnessFailures(bytes).failures { XCTFail("\(name): \(failure)") }
            replayed += 1
        }
        for (name, bytes) in inputs("FuzzJSON") {
            if let value = try? JSONValue.parse(bytes) {
                XCTAssertEqual(try JSONValue.parse(value.serializedBytes()), value, name)
                XCTAssertEqual(try JSONValue.parse(value.canonicalBytes()).canonicalBytes(), value.canonicalBytes(), name)
            }
            replayed += 1
        }
        for (name, bytes) in inputs("FuzzManifest") {
            if let m = try? SessionManifest.decode(from: bytes) { XCTAssertEqual(try SessionManifest.decode(from: m.encoded()), m, name) }
            replayed += 1
        }
        XCTAssertGreaterThan(replayed, 0, "the crasher corpus is in Tests/Fixtures/fuzz-crashers")
    }

    /// FuzzSegment's invariant over its seed corpus and deterministic damage of each seed
    /// (truncations, one flipped byte), so the check runs even while no segment crasher is kept:
    /// each seed opens and re-encodes, and no damaged copy breaks the invariant.
    func testSegmentHarnessInvariantHoldsForSeedsAndTheirDamage() throws {
        let seeds = inputs("FuzzSegment", in: Self.corpus)
        XCTAssertGreaterThan(seeds.count, 10, "the FuzzSegment seeds are in Fuzz/corpus/FuzzSegment")
        var reencoded = 0
        var rejected = 0
        for (name, bytes) in seeds {
            let seed = Self.segmentHarnessFailures(bytes)
            XCTAssertEqual(seed.failures, [], name)
            XCTAssertTrue(seed.opened, "\(name): a seed is a valid segment")
            if seed.reencoded { reencoded += 1 }
            var damaged: [(String, [UInt8])] = []
            for cut in Set([0, 16, 47, 48, 100, bytes.count / 2, bytes.count - 64, bytes.count - 1]) where cut >= 0 && cut < bytes.count {
                damaged.append(("\(name) cut at \(cut)", Array(bytes[..<cut])))
            }
            for i in 0..<24 {
                let at = (i * 7919 + 13) % bytes.count
                var copy = bytes
                copy[at] ^= UInt8(1 << (i % 8))
                damaged.append(("\(name) bit \(i % 8) of byte \(at) flipped", copy))
            }
            for (what, copy) in damaged {
                let result = Self.segmentHarnessFailures(copy)
                XCTAssertEqual(result.failures, [], what)
                if !result.opened { rejected += 1 }
            }
        }
        XCTAssertGreaterThan(reencoded, seeds.count / 2, "most seeds reach the re-encoding check")
        XCTAssertGreaterThan(rejected, 0, "some damage is rejected with a FormatError")
    }

    /// What FuzzSegment (Fuzz/Sources/FuzzSegment) checks of one input, as failures rather than
    /// traps: a segment either fails to open with a FormatError or reads without trapping; a
    /// decompressed prefix of a chunk agrees with the whole chunk, and a column record a prefix
    /// claims to hold is there; records that decode cleanly (in order, under the harness's size
    /// bounds) encode again, in each layout, to a segment that decodes to the same records. It
    /// also checks that the strict decoder, when it accepts the bytes, returns what the reader
    /// read. `opened` says whether the segment opened, `reencoded` whether the last check ran.
    static func segmentHarnessFailures(_ bytes: [UInt8]) -> (failures: [String], opened: Bool, reencoded: Bool) {
        var failures: [String] = []
        var reencoded = false
        let opened: Bool = bytes.withUnsafeBytes { buffer in
            let view: SegmentView
            do { view = try SegmentView(buffer) } catch { return false }
            let decompressor = Decompressor()
            var records: [Record] = []
            var bad = false
            for ordinal in view.chunks.indices {
                let result = view.withChunkData(ordinal, decompressor: decompressor) { chunk in
                    ChunkReader.forEachRecord(chunk, shape: ChunkShape(view.chunks[ordinal])) { records.append($0.makeRecord()); return records.count < 100_000 }
                }
                if case .success(nil) = result {} else { bad = true }
            }
            for ordinal in view.chunks.indices.prefix(8) {
                var whole: [UInt8]?
                _ = view.withChunkData(ordinal, decompressor: decompressor, checkCRC: false) { whole = Array($0) }
                let shape = ChunkShape(view.chunks[ordinal])
                for length in [0, 1, 100, 4096, Int(view.chunks[ordinal].rawLength) / 2] {
                    _ = view.withChunkPrefix(ordinal, prefixLength: length, decompressor: decompressor) { prefix in
                        if let whole, prefix.count <= whole.count, !prefix.elementsEqual(whole.prefix(prefix.count)) {
                            failures.append("a decompressed prefix of chunk \(ordinal) (\(length) bytes asked) differs from the whole chunk")
                        }
                        for at in [0, 1, Int(shape.recordCount) / 2, Int(shape.recordCount) &- 1] where at >= 0 {
                            if ChunkReader.holdsRecord(at: at, in: prefix, shape: shape), shape.layout == ChunkLayout.columns.rawValue,
                                ChunkReader.record(at: at, in: prefix, shape: shape) == nil
                            {
                                failures.append("chunk \(ordinal): a prefix holds column record \(at) but cannot give it")
                            }
                        }
                    }
                }
            }
            if let table = view.keyTable {
                for r in records.prefix(64) {
                    guard let key = r.key else { continue }
                    table.forEachCandidate(hash: XXHash64.hash(key)) { _ in true }
                }
            }
            _ = view.chunkOrdinals(overlappingFrom: .min, to: .max)
            if let strict = try? SegmentEncoder.decodeAll(buffer), bad || strict != records {
                failures.append("the strict decoder accepts the segment (\(strict.count) records) but the reader read \(records.count)\(bad ? " and met damage" : "")")
            }
            let sorted = zip(records, records.dropFirst()).allSatisfy { $0.sequence < $1.sequence }
            if !bad, !records.isEmpty, records.count < 10_000, sorted, records.allSatisfy({ $0.payload.count < 1 << 20 }) {
                reencoded = true
                for layout in ChunkLayout.allCases {
                    let options = SegmentEncoder.Options(
                        segmentID: 1, baseSequence: records[0].sequence, createdNs: 0, codec: .none, chunkTargetSizeBytes: 4096, layout: layout)
                    let again = SegmentEncoder.encode(records, options: options)
                    if (try? SegmentEncoder.decodeAll(again)) != records {
                        failures.append("re-encoded segment (\(layout)) does not decode to the same \(records.count) records")
                    }
                }
            }
            return true
        }
        return (failures, opened, reencoded)
    }
}

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

    func inputs(_ harness: String) -> [(String, [UInt8])] {
        let dir = Self.root.appendingPathComponent(harness).path
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
            if let view = bytes.withUnsafeBytes({ try? SegmentView($0) }) { _ = view.recordCount }
            _ = try? SegmentEncoder.decodeAll(bytes)
            replayed += 1
            _ = name
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
}

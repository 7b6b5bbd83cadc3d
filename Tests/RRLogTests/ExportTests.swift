import Foundation
import RRLog
import RRLogCatalog
import RRLogInterop
import RRLogStorage
import XCTest

/// Streaming exports and session selection by strategy (issue #19).
final class ExportTests: XCTestCase {
    typealias S = StoreTestSupport

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    func bytes(_ name: String) -> [UInt8] { Array(FileManager.default.contents(atPath: Self.fixtures.appendingPathComponent(name).path)!) }

    func testEventsExportStreamsTheDocumentInPieces() throws {
        let store = try Store(path: S.temporaryStore(self))
        let file = bytes("events/event-recorder.json")
        let m = try EventRecorderFormat.importFile(file, file: "event-recorder.json", into: store)
        var pieces: [[UInt8]] = []
        let count = try EventRecorderFormat.write(m, from: store) { pieces.append($0) }
        XCTAssertEqual(count, 2000)
        XCTAssertGreaterThan(pieces.count, 1, "the events go out in pieces, not as one document")
        XCTAssertLessThan(pieces.map(\.count).max() ?? 0, 80 << 10, "no piece much over 64 KiB")
        // The same text as serializing the whole document at once, members in the same order.
        XCTAssertEqual(pieces.flatMap { $0 }, try JSONValue.parse(file).serializedBytes() + [0x0A])
    }

    func testEventsExportWithoutAHeaderCountsTheEvents() throws {
        let store = try Store(path: S.temporaryStore(self))
        let offsets: [Double] = [0, 250, 1000.5]
        let records = offsets.map { offset in
            RecordInput(
                timestampNs: 1_700_000_000_000_000_000 + Int64(offset * 1e6), kind: RecordKind.busEvent.rawValue, key: nil,
                payload: JSONValue.object(["timestamp_offset_ms": .double(offset), "event_name": "Tick", "event_data": .object([:])]).serializedBytes())
        }
        let m = try S.writeSession(store, name: "bare", records: records)
        let document = try EventRecorderFormat.export(m, from: store)
        XCTAssertEqual(document["total_events"], 3)
        XCTAssertEqual(document["duration_ms"], 1000)
        XCTAssertEqual(document["session_name"], "bare")
        XCTAssertEqual(document["events"]?.arrayValue?.count, 3)
    }

    func testIOExportStopsAtTheFirstFailedWrite() throws {
        let store = try Store(path: S.temporaryStore(self))
        let m = try S.writeSession(store, name: "io", records: try S.fixtureRecords())
        var calls = 0
        XCTAssertThrowsError(
            try IOJSONLines.export(m, from: store) { (_: [UInt8]) throws(RRLogError) in
                calls += 1
                throw RRLogError(.storage, "cannot write: No space left on device", location: "out.jsonl")
            }
        ) { error in
            XCTAssertEqual((error as? RRLogError)?.location, "out.jsonl")
        }
        XCTAssertEqual(calls, 1, "the export stops at the first failed piece")
    }

    func testStrategiesSkipEmptyAndFailedSessions() throws {
        let store = try Store(path: S.temporaryStore(self))
        _ = try S.writeSession(store, name: "big", records: S.syntheticRecords(50, tag: "big"))
        _ = try S.writeSession(store, name: "small", records: S.syntheticRecords(5, tag: "small"))
        _ = try S.writeSession(store, name: "empty", records: [])
        let failed = try store.openWriter(try store.createSession(name: "failed"))
        try failed.append(S.syntheticRecords(2, tag: "failed"))
        XCTAssertEqual(try failed.close(status: "failed").status, "failed")

        XCTAssertEqual(try store.session("smallest").name, "small")
        XCTAssertEqual(try store.session("latest").name, "small")
        XCTAssertEqual(try store.session("largest").name, "big")
        for _ in 0..<20 { XCTAssertTrue(["big", "small"].contains(try store.session("random").name)) }
        // Named, an empty or failed session is still found.
        XCTAssertEqual(try store.session("empty").recordCount, 0)
        XCTAssertEqual(try store.session("failed").status, "failed")

        let onlyEmpty = try Store(path: S.temporaryStore(self))
        _ = try S.writeSession(onlyEmpty, name: "empty", records: [])
        S.assertThrows(.noSuchSession) { try onlyEmpty.session("random") }
    }
}

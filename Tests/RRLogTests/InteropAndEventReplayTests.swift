import Foundation
import RRLog
import RRLogTestSupport
import RRLogCatalog
import RRLogInterop
import RRLogStorage
import XCTest

final class InteropAndEventReplayTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static var eventsFile: String { fixtures.appendingPathComponent("events/event-recorder.json").path }
    static var ioFile: String { fixtures.appendingPathComponent("io/llm-session.jsonl").path }

    func makeStore() throws -> Store {
        try Store(path: TestPaths.temporaryDirectory(self, prefix: "rrlog-interop"))
    }

    func bytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path)!) }

    // MARK: Import and export

    /// Events published live from many threads are recorded as the event recorder stores them:
    /// replayed in time order by `EventReplayer`, saved as a document that imports back.
    func testBusRecorderRecordsPublishedEventsLive() async throws {
        let store = try Store(path: TestPaths.temporaryDirectory(self, prefix: "rrlog-bus") + "/store")
        let recorder = try BusRecorder.start(store: store, name: "live")
        let base = Int64(Date().timeIntervalSince1970 * 1e9)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for i in 0..<250 {
                let at = base + Int64(thread * 250 + i) * 1_000_000
                XCTAssertTrue(recorder.record(name: i % 2 == 0 ? "OrderPlaced" : "OrderFilled", data: ["id": .int(Int64(thread * 250 + i))], source: "bot-\(thread)", timestampNs: at))
            }
        }
        XCTAssertEqual(recorder.eventCount, 1000)
        let file = TestPaths.temporaryDirectory(self, prefix: "rrlog-bus-file") + "/live.json"
        let manifest = try recorder.save(to: file)
        XCTAssertEqual(manifest.status, "completed")
        XCTAssertEqual(manifest.countsByKind["bus_event"], 1000)
        XCTAssertFalse(recorder.record(name: "late", data: .null), "nothing is recorded after stop")

        let replayer = try EventReplayer(store: store, session: "live", filter: EventFilter(sources: ["bot-2"]))
        XCTAssertEqual(replayer.events.count, 250)
        XCTAssertEqual(replayer.events.map { $0.data["id"]?.int64Value ?? -1 }, (500..<750).map(Int64.init), "time order")
        var delivered: [String] = []
        try await replayer.run(speed: nil) { delivered.append($0.name) }
        XCTAssertEqual(delivered.count, 250)

        let saved = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
        XCTAssertEqual(saved["session_name"]?.stringValue, "live")
        XCTAssertEqual(saved["events"]?.arrayValue?.count, 1000)
        let again = try EventRecorderFormat.importFile(Array(try Data(contentsOf: URL(fileURLWithPath: file))), file: "live.json", into: store, name: "reimported")
        XCTAssertEqual(again.recordCount, 1000)
        XCTAssertThrowsError(try BusRecorder.start(store: store, name: "live"), "the name is taken")
    }

    func testEventRecorderRoundTripIsLossless() throws {
        let store = try makeStore()
        let original = try JSONValue.parse(bytes(Self.eventsFile))
        let m = try EventRecorderFormat.importFile(bytes(Self.eventsFile), file: "event-recorder.json", into: store)
        XCTAssertEqual(m.name, "bull_run_7")
        XCTAssertEqual(m.recordCount, 2000)
        XCTAssertEqual(m.countsByKind, ["bus_event": 2000])
        XCTAssertEqual(try EventRecorderFormat.export(m, from: store), original)
        XCTAssertEqual(ImportFormat.detect(bytes(Self.eventsFile), file: "x.json"), .eventsJSON)
        XCTAssertEqual(ImportFormat.detect(bytes(Self.ioFile), file: "x.jsonl"), .jsonl)
        XCTAssertEqual(ImportFormat.detect([0x1F, 0x8B, 0, 0], file: "x.otlp.gz"), .otlpProto)
    }

    func testIOJSONLinesRoundTripIsLosslessWithoutRedaction() throws {
        let store = try makeStore()
        let lines = String(decoding: bytes(Self.ioFile), as: UTF8.self).split(separator: "\n").map { try! JSONValue.parse(String($0)) }
        var encoder = IOEventEncoder(redaction: .disabled)
        let records = try IOJSONLines.records(from: bytes(Self.ioFile), file: "llm-session.jsonl", encoder: &encoder)
        let m = try store.createSession(name: "raw", annotations: ["redaction": "off"])
        let w = try store.openWriter(m)
        try w.append(records)
        let final = try w.close()
        var out: [UInt8] = []
        try IOJSONLines.export(final, from: store) { out += $0 }
        let back = String(decoding: out, as: UTF8.self).split(separator: "\n").map { try! JSONValue.parse(String($0)) }
        XCTAssertEqual(back, SharedTestSupport.storedLines(lines), "every line as given, with the call index of its key")
    }

    /// FORMAT-IO-PROFILE.md §10: payloads leave `ts_ns` to the record timestamp; payloads written
    /// before that rule carry their own, which wins. Export, lookups and `IOLine` read both, in one session.
    func testLinesWithAndWithoutStoredTimestampReadTheSame() throws {
        let store = try makeStore()
        let identity = IOCallIdentity(ioType: "tool_call", tool: "search", agent: "a", inputs: ["q": "x"])
        var old: [String: JSONValue] = [
            "type": "event", "io_type": "tool_call", "tool_name": "search", "agent_id": "a", "inputs": ["q": "x"],
            "outputs": ["hits": 1], "call_index": 0, "ts_ns": 1_000,
        ]
        let oldRecord = RecordInput(
            timestampNs: 1_000, kind: RecordKind.event.rawValue, key: IOKey.derive(identity, callIndex: 0).bytes,
            payload: JSONValue.object(old).serializedBytes())
        var encoder = IOEventEncoder()
        _ = try encoder.record(for: .object(old), location: "old")  // The call index moves on, as an append would.
        old["call_index"] = 1
        old["ts_ns"] = 2_000
        let newRecord = try encoder.record(for: .object(old), location: "new")
        XCTAssertNil(try JSONValue.parse(newRecord.payload)["ts_ns"])
        XCTAssertEqual(newRecord.timestampNs, 2_000)
        let m = try store.createSession(name: "mixed")
        let w = try store.openWriter(m)
        try w.append([oldRecord, newRecord])
        let final = try w.close()

        var out: [UInt8] = []
        try IOJSONLines.export(final, from: store) { out += $0 }
        let back = String(decoding: out, as: UTF8.self).split(separator: "\n").map { try! JSONValue.parse(String($0)) }
        XCTAssertEqual(back.map { $0["ts_ns"] }, [1_000, 2_000])
        XCTAssertEqual(back.map { $0["call_index"] }, [0, 1])
        let reader = try store.openReader(final)
        XCTAssertEqual(reader.lookup(identity, callIndex: 0)?["ts_ns"], 1_000)
        XCTAssertEqual(reader.lookup(identity, callIndex: 1)?["ts_ns"], 2_000)
        // A stored ts_ns wins over the record timestamp; a payload that is not an object passes through.
        XCTAssertEqual(IOLine.parse(Array(#"{"ts_ns":5}"#.utf8), timestampNs: 9)?["ts_ns"], 5)
        XCTAssertEqual(IOLine.parse(Array(#"{}"#.utf8), timestampNs: 9), ["ts_ns": 9])
        var bytes: [UInt8] = []
        Array("[1]".utf8).withUnsafeBytes { IOLine.append($0, timestampNs: 9, to: &bytes) }
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "[1]")
        XCTAssertEqual(IOLine.storedPayload(["ts_ns": 3, "type": "chunk"]), Array(#"{"type":"chunk"}"#.utf8))
    }

    /// `IOLine.append` splices `ts_ns` into a payload rrlog wrote without parsing it: the bytes must
    /// be what parsing and re-serialising gives for every line of the corpus, and odd payloads
    /// (unsorted, escaped names, whitespace, not objects) must still give the same line.
    func testSplicedTimestampEqualsTheParsedLine() throws {
        var encoder = IOEventEncoder()
        let records = try IOJSONLines.records(from: bytes(Self.ioFile), file: "llm-session.jsonl", encoder: &encoder)
        var payloads = records.map { ($0.payload, $0.timestampNs) }
        let odd = [
            "{}", #"{"a":1}"#, #"{"zz":[1,{"ts_ns":2}],"a":"x\"y}"}"#, #"{"tt":1}"#, #"{"ts":1,"ts_nt":2}"#,
            #"{"ts_n":{"a":[]},"u":"é"}"#, #"{"é":1,"a":2}"#, #"{"a\u0041":1}"#, #"{ "a":1}"#, #"{"a":1} "#,
            #"[1]"#, #"{"a":}"#, #"{"a":1"#, #"{"zz":1,"ts_ns":5}"#, #"{"ts_ns":5}"#, "",
        ]
        payloads += odd.map { (Array($0.utf8), 1_760_000_000_000_000_000) }
        for (n, (payload, ts)) in payloads.enumerated() {
            var spliced: [UInt8] = []
            payload.withUnsafeBytes { IOLine.append($0, timestampNs: ts, to: &spliced) }
            let text = String(decoding: payload, as: UTF8.self)
            if let line = IOLine.parse(payload, timestampNs: ts), case .object = line {
                XCTAssertEqual(try? JSONValue.parse(spliced), line, text)
                if n < records.count {  // Written by rrlog (sorted members): the very bytes.
                    XCTAssertEqual(String(decoding: spliced, as: UTF8.self), String(decoding: line.serializedBytes(), as: UTF8.self), text)
                }
            } else {
                XCTAssertEqual(spliced, payload, "not an object: passed through, \(text)")
            }
        }
    }

    func testMalformedInputNamesThePositionAndCommitsNothing() throws {
        let store = try makeStore()
        let good = bytes(Self.eventsFile)
        // Truncated document: the JSON error's line and column.
        XCTAssertThrowsError(try EventRecorderFormat.importFile(Array(good.prefix(500)), file: "cut.json", into: store)) {
            let e = $0 as! RRLogError
            XCTAssertEqual(e.code, .malformedInput)
            XCTAssertEqual(e.location, "cut.json")
            XCTAssertTrue(e.message.contains("line"), e.message)
        }
        // An event without a name: its index.
        var doc = try JSONValue.parse(good)
        guard case .object(var top) = doc, case .array(var events)? = top["events"], case .object(var e7) = events[7] else { return XCTFail() }
        e7["event_name"] = nil
        events[7] = .object(e7)
        top["events"] = .array(events)
        doc = .object(top)
        XCTAssertThrowsError(try EventRecorderFormat.importFile(doc.serializedBytes(), file: "bad.json", into: store)) {
            XCTAssertEqual(($0 as! RRLogError).location, "bad.json: events[7]")
        }
        var encoder = IOEventEncoder()
        XCTAssertThrowsError(try IOJSONLines.records(from: Array("{\"type\":\"checkpoint\",\"label\":\"a\",\"ts_ns\":1}\n{oops\n".utf8), file: "f.jsonl", encoder: &encoder)) {
            XCTAssertEqual(($0 as! RRLogError).location, "f.jsonl:2")
        }
        XCTAssertEqual(try store.sessions().count, 0, "a failed import commits nothing")
    }

    // MARK: Event replay

    func importedEvents(_ store: Store) throws -> String {
        try EventRecorderFormat.importFile(bytes(Self.eventsFile), file: "event-recorder.json", into: store).name
    }

    func testSummaryTimelineFiltersAndWindow() throws {
        let store = try makeStore()
        let name = try importedEvents(store)
        let all = try EventReplayer(store: store, session: name)
        XCTAssertEqual(all.events.count, 2000)
        XCTAssertEqual(all.summary()["MarketDataReceived"], 915)
        XCTAssertEqual(all.timeline(limit: 2).count, 2)
        XCTAssertTrue(all.timeline(limit: 1)[0].contains("SignalGenerated"))
        XCTAssertTrue(zip(all.events, all.events.dropFirst()).allSatisfy { $0.offsetNs <= $1.offsetNs }, "time order")

        let orders = try EventReplayer(store: store, session: name, filter: EventFilter(names: ["OrderPlaced", "OrderFilled"]))
        XCTAssertEqual(orders.events.count, 158 + 154)
        let bot = try EventReplayer(store: store, session: name, filter: EventFilter(sources: ["TradingBot"]))
        XCTAssertEqual(bot.events.count, 1085)
        let pricey = try EventReplayer(store: store, session: name, filter: EventFilter(predicate: { ($0.data["price"]?.doubleValue ?? 0) > 68_000 }))
        XCTAssertTrue(pricey.events.allSatisfy { ($0.data["price"]?.doubleValue ?? 0) > 68_000 })
        XCTAssertFalse(pricey.events.isEmpty)
        let window = try EventReplayer(store: store, session: name, startOffset: .seconds(10), until: .seconds(20))
        XCTAssertTrue(window.events.allSatisfy { $0.offsetNs >= 10_000_000_000 && $0.offsetNs < 20_000_000_000 })
        XCTAssertEqual(window.events.count, all.events.filter { $0.offsetNs >= 10_000_000_000 && $0.offsetNs < 20_000_000_000 }.count)

        let copy = try orders.saveFilteredCopy(as: "orders-only")
        XCTAssertEqual(copy.recordCount, 312)
        XCTAssertEqual(try EventReplayer(store: store, session: "orders-only").summary(), orders.summary())
    }

    func testSpeedLoopAndDeliveryOrderOnAVirtualClock() async throws {
        let store = try makeStore()
        let name = try importedEvents(store)
        let replay = try EventReplayer(store: store, session: name, until: .seconds(2))
        let n = replay.events.count
        XCTAssertGreaterThan(n, 10)
        for speed in [0.1, 1, 10] {
            let clock = VirtualClock()
            var delivered: [UInt64] = []
            try await replay.run(speed: speed, loops: 1, clock: clock) { delivered.append($0.sequence) }
            XCTAssertEqual(delivered, replay.events.map(\.sequence))
            let base = replay.events[0].offsetNs
            XCTAssertEqual(clock.sleeps, replay.events.map { .nanoseconds(Int64((Double($0.offsetNs - base) / speed).rounded())) }, "speed \(speed)")
        }
        let clock = VirtualClock()
        var count = 0
        let progress = ProgressBox()
        try await replay.run(speed: nil, loops: 3, clock: clock, progress: { progress.note($0) }) { _ in count += 1 }
        XCTAssertEqual(count, 3 * n, "three loops")
        XCTAssertTrue(clock.sleeps.isEmpty, "as fast as possible never sleeps")
        XCTAssertEqual(progress.last?.loopsCompleted, 2)
        XCTAssertEqual(progress.last?.delivered, n)
    }

    func testPauseStepResumeSeekAndStop() async throws {
        let store = try makeStore()
        let name = try importedEvents(store)
        let replay = try EventReplayer(store: store, session: name)
        replay.pause()
        let delivered = Box()
        let task = Task {
            try await replay.run(speed: nil, loops: 1) { delivered.append($0.sequence) }
        }
        try await Task.sleep(for: .milliseconds(30))
        XCTAssertEqual(delivered.count, 0, "paused before the first event")
        replay.step()
        replay.step()
        try await waitUntil { delivered.count == 2 }
        try await Task.sleep(for: .milliseconds(20))
        XCTAssertEqual(delivered.count, 2, "each step delivers exactly one event")
        let target = replay.events[1500]
        replay.seek(to: .nanoseconds(target.offsetNs))
        replay.resume()
        try await task.value
        let got = delivered.values
        XCTAssertEqual(Array(got.prefix(2)), replay.events.prefix(2).map(\.sequence))
        XCTAssertEqual(got[2], replay.events.first { $0.offsetNs >= target.offsetNs }!.sequence, "seek jumps")
        XCTAssertEqual(got.last, replay.events.last!.sequence)

        let stopping = try EventReplayer(store: store, session: name)
        var seen = 0
        try await stopping.run(speed: nil, loops: nil) { _ in
            seen += 1
            if seen == 10 { stopping.stop() }
        }
        XCTAssertEqual(seen, 10, "stop ends an endless loop")
    }

    func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(for: .milliseconds(2)) }
        XCTAssertTrue(condition())
    }
}

final class Box: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [UInt64] = []
    func append(_ v: UInt64) { lock.lock(); items.append(v); lock.unlock() }
    var values: [UInt64] { lock.lock(); defer { lock.unlock() }; return items }
    var count: Int { values.count }
}

final class ProgressBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: EventReplayProgress?
    func note(_ p: EventReplayProgress) { lock.lock(); value = p; lock.unlock() }
    var last: EventReplayProgress? { lock.lock(); defer { lock.unlock() }; return value }
}

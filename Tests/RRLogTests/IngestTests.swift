import Foundation
import RRLog
import RRLogCatalog
import RRLogStorage
import XCTest

/// The one way IO events enter a session (`IOEventIngest`): redaction, call indexes per session,
/// all-or-nothing writes, and the checks every writer shares.
final class IngestTests: XCTestCase {
    typealias S = StoreTestSupport

    /// An event line of a `search` call with `query`, at `ts`.
    func line(_ query: String, ts: Int64 = 1_760_000_000_000_000_000, extra: [String: JSONValue] = [:]) -> JSONValue {
        var members: [String: JSONValue] = [
            "type": "event", "ts_ns": .int(ts), "io_type": "tool_call", "tool_name": "search", "agent_id": "planner",
            "inputs": ["query": .string(query)], "outputs": ["hits": 3],
        ]
        members.merge(extra) { _, new in new }
        return .object(members)
    }

    func ingestNew(_ store: Store, _ name: String, _ lines: [JSONValue], redaction: Redaction = .default) throws -> SessionManifest {
        var settings = IOEventIngest.NewSession(name: name)
        settings.redaction = redaction
        let ingest = try IOEventIngest.create(store: store, session: settings)
        for (i, l) in lines.enumerated() { try ingest.add(l, location: "test:\(i + 1)") }
        return try ingest.commit()
    }

    func key(_ query: String, _ index: UInt32) -> IOKey {
        IOKey.derive(IOCallIdentity(ioType: "tool_call", tool: "search", agent: "planner", inputs: ["query": .string(query)]), callIndex: index)
    }

    func testRedactionRulesChangedAfterInitApply() {
        var rules = Redaction()
        rules.fieldNames.insert("x-custom-secret")
        rules.patterns.append(#"\bcorp-[0-9]{6}\b"#)
        var redacted: [String] = []
        let out = rules.apply(["x-custom-secret": "v1", "note": "id corp-123456 here"], prefix: "inputs", redacted: &redacted)
        XCTAssertEqual(out["x-custom-secret"], .string(Redaction.marker))
        XCTAssertEqual(out["note"]?.stringValue?.contains("corp-123456"), false, "\(out)")
        XCTAssertEqual(Set(redacted), ["inputs.x-custom-secret", "inputs.note"])
    }

    func testIOEventsAreRedactedWhateverElseTheSessionHolds() throws {
        var otlp = SessionManifest(id: "a", name: "cap", type: "capture", status: "completed", createdNs: 0)
        otlp.annotations = ["redaction": "off", "capture.listen": "127.0.0.1:4318"]
        XCTAssertFalse(SessionRedaction.isOff(otlp), "an OTLP capture's 'redaction: off' is about its OTLP requests")
        otlp.annotations = ["redaction": "off", "imported_format": "otlp-proto"]
        XCTAssertFalse(SessionRedaction.isOff(otlp))
        var io = SessionManifest(id: "b", name: "io", type: "recording", status: "completed", createdNs: 0)
        io.annotations = ["redaction": "off"]
        XCTAssertTrue(SessionRedaction.isOff(io), "an IO session written with --no-redact before io_redaction existed")
        io.annotations = ["redaction": "off", "io_redaction": "on"]
        XCTAssertFalse(SessionRedaction.isOff(io))
        XCTAssertEqual(SessionRedaction.annotations(for: .disabled)["io_redaction"], "off")
    }

    func testStoredLineCarriesTheCallIndexOfItsKey() throws {
        let store = try Store(path: S.temporaryStore(self))
        let m = try ingestNew(store, "s", [line("a", extra: ["call_index": 7]), line("a", extra: ["call_index": 7])])
        let reader = try store.openReader(m)
        for index in [UInt32(0), 1] {
            let record = try XCTUnwrap(reader.record(for: key("a", index)), "call \(index)")
            let stored = try XCTUnwrap(IOLine.parse(record.payload, timestampNs: record.timestampNs))
            XCTAssertEqual(stored["call_index"], .int(Int64(index)))
        }
    }

    func testCallIndexesContinueWhenASessionIsAppendedTo() throws {
        let store = try Store(path: S.temporaryStore(self))
        let first = try ingestNew(store, "s", [line("a"), line("b"), line("a")])
        let ingest = try IOEventIngest.append(store: store, to: first)
        try ingest.add(line("a"), location: "second:1")
        try ingest.add(line("b"), location: "second:2")
        let final = try ingest.commit()
        XCTAssertEqual(final.recordCount, 5)
        XCTAssertEqual(final.status, "completed")
        let reader = try store.openReader(final)
        XCTAssertEqual(reader.recordedCallCount(IOCallIdentity(ioType: "tool_call", tool: "search", agent: "planner", inputs: ["query": "a"])), 3)
        let third = try XCTUnwrap(reader.record(for: key("a", 2)))
        XCTAssertEqual(IOLine.parse(third.payload, timestampNs: third.timestampNs)?["call_index"], .int(2))
        XCTAssertNotNil(reader.record(for: key("b", 1)))
    }

    func testABadLineLateLeavesNoNewSession() throws {
        let root = S.temporaryStore(self)
        let store = try Store(path: root)
        let ingest = try IOEventIngest.create(store: store, session: .init(name: "s"))
        for i in 0..<(IOEventIngest.batchCount * 2 + 10) { try ingest.add(line("q\(i)"), location: "f:\(i + 1)") }
        XCTAssertThrowsError(try ingest.add(["type": "event"], location: "f:9999")) { error in
            XCTAssertEqual((error as? RRLogError)?.location, "f:9999")
        }
        XCTAssertTrue(try store.sessions().isEmpty, "a staged session is never listed")
        ingest.discard()
        XCTAssertTrue(try store.sessions().isEmpty)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: root + "/sessions"), [], "the staged directory is removed")
        XCTAssertEqual(try Store.reindex(path: root).sessions, 0)
    }

    func testAFailedAppendLeavesTheSessionAsItWas() throws {
        let store = try Store(path: S.temporaryStore(self))
        let before = try ingestNew(store, "s", (0..<50).map { line("q\($0)") })
        let logDirectory = S.logDirectory(store, before)
        let segmentsBefore = S.segmentPaths(logDirectory)
        let ingest = try IOEventIngest.append(store: store, to: before)
        for i in 0..<(IOEventIngest.batchCount + 5) { try ingest.add(line("new\(i)"), location: "f:\(i + 1)") }
        ingest.discard()
        let after = try store.session("s")
        XCTAssertEqual(after.recordCount, 50)
        XCTAssertEqual(after.status, before.status)
        XCTAssertEqual(after.countsByKind, before.countsByKind)
        XCTAssertEqual(S.segmentPaths(logDirectory), segmentsBefore)
        let reader = try store.openReader(after)
        XCTAssertEqual(reader.recordCount, 50)
        XCTAssertNotNil(reader.record(for: key("q49", 0)))
        XCTAssertNil(reader.record(for: key("new0", 0)))
        // And the next append still counts from what is stored.
        let again = try IOEventIngest.append(store: store, to: after)
        try again.add(line("q0"), location: "g:1")
        let final = try again.commit()
        XCTAssertNotNil(try store.openReader(final).record(for: key("q0", 1)))
    }

    /// JSON lines of `lines`, one per line.
    func body(_ lines: [JSONValue]) -> [UInt8] {
        Array(lines.map { $0.serialized() }.joined(separator: "\n").utf8)
    }

    func testAnAppenderKeptOpenStoresEachBatchDurablyAndAllOrNothing() async throws {
        let store = try Store(path: S.temporaryStore(self))
        let m = try ingestNew(store, "s", [line("a")])
        let appender = try IOEventAppender(store: store, session: m)
        let first = try await appender.append(jsonLines: body([line("a"), line("b")]) + Array("\n\n".utf8))
        XCTAssertEqual(first, 2)
        // Each batch shows in the catalog at once, the writer still open.
        XCTAssertEqual(try store.session("s").recordCount, 3)
        XCTAssertEqual(try store.session("s").status, "active")
        // A bad line late in a batch stores none of it, and names its line.
        var bad = body([line("a"), line("c")])
        bad += Array("\n{\"type\": \"event\"}".utf8)
        do {
            _ = try await appender.append(jsonLines: bad)
            XCTFail("a bad line was accepted")
        } catch {
            XCTAssertEqual(error.location, "line 3")
        }
        XCTAssertTrue(appender.isOpen, "a refused batch leaves the appender usable")
        XCTAssertEqual(try store.session("s").recordCount, 3)
        // Call indexes continue from what is stored, not from the refused lines.
        let events = try await appender.append(events: [line("a"), line("c")])
        XCTAssertEqual(events, 2)
        let final = try appender.close()
        XCTAssertEqual(final.recordCount, 5)
        XCTAssertEqual(final.status, "completed")
        let reader = try store.openReader(final)
        XCTAssertEqual(reader.recordCount, 5)
        XCTAssertEqual(reader.recordedCallCount(IOCallIdentity(ioType: "tool_call", tool: "search", agent: "planner", inputs: ["query": "a"])), 3)
        XCTAssertNotNil(reader.record(for: key("a", 2)))
        XCTAssertNotNil(reader.record(for: key("c", 0)))
        XCTAssertNil(reader.record(for: key("c", 1)), "the refused batch's c was never counted")
        // The batches share the appender's one segment.
        XCTAssertEqual(final.segments.count, 2, "one segment from the first ingest, one from the appender")
        XCTAssertTrue(try Verifier.verify(path: S.logDirectory(store, final)).isClean)
        // Closed, the log is free for another writer.
        let again = try IOEventAppender(store: store, session: final)
        _ = try await again.append(jsonLines: body([line("b")]))
        XCTAssertNotNil(try store.openReader(try again.close()).record(for: key("b", 1)))
    }

    func testOneWriterPerSessionEvenWithAnAppenderOpen() throws {
        let store = try Store(path: S.temporaryStore(self))
        let m = try ingestNew(store, "s", [line("a")])
        let appender = try IOEventAppender(store: store, session: m)
        XCTAssertThrowsError(try IOEventIngest.append(store: store, to: try store.session("s"))) { error in
            XCTAssertEqual((error as? RRLogError)?.code, .busy, "\(error)")
        }
        try appender.close()
    }

    func testIOEventsDoNotGoIntoASessionOfOtherRecords() throws {
        let store = try Store(path: S.temporaryStore(self))
        let m = try store.createSession(name: "otlp", type: "capture")
        let writer = try store.openWriter(m)
        try writer.append(RecordInput(timestampNs: 1, kind: RecordKind.otlpTraces.rawValue, payload: [0x0A, 0x00]))
        let closed = try writer.close()
        XCTAssertEqual(SessionContent(closed), .otlp)
        S.assertThrows(.invalidArgument) { try IOEventIngest.append(store: store, to: closed) }
        XCTAssertEqual(try store.session("otlp").recordCount, 1)
    }

    func testNamesWithNULAreRefusedByEveryWriter() async throws {
        let store = try Store(path: S.temporaryStore(self))
        let ingest = try IOEventIngest.create(store: store, session: .init(name: "lines"))
        var bad = line("a")
        if case .object(var members) = bad {
            members["tool_name"] = "se\u{0}arch"
            bad = .object(members)
        }
        S.assertThrows(.malformedInput) { try ingest.add(bad, location: "f:1") }
        ingest.discard()
        let recorder = try Recorder.start(store: store, options: RecordingOptions(name: "rec"))
        recorder.record(ioType: "tool_call", agent: "planner", tool: "se\u{0}arch", inputs: ["q": 1], outputs: ["r": 2])
        let stream = recorder.startStream(ioType: "llm\u{0}", tool: "openai", inputs: ["p": "hi"])
        recorder.chunk(stream, index: 0, content: "x")
        recorder.finishStream(stream, totalChunks: 1)
        recorder.record(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": 1], outputs: ["r": 2])
        let summary = try await recorder.stop()
        XCTAssertEqual(summary.rejected, 2)
        XCTAssertEqual(summary.manifest.recordCount, 1, "only the valid call is stored; the refused stream's chunks too are dropped")
    }

    func testJSONStringsCompareScalarForScalar() throws {
        let nfc = JSONValue.string("caf\u{E9}"), nfd = JSONValue.string("cafe\u{301}")
        XCTAssertNotEqual(nfc, nfd, "equal values must have equal RFC 8785 bytes")
        XCTAssertNotEqual(nfc.canonicalBytes(), nfd.canonicalBytes())
        XCTAssertThrowsError(try JSONValue.parse(Array("{\"\u{E9}\":1,\"e\u{301}\":2}".utf8))) { error in
            guard let e = error as? JSONParseError, case .keysDifferOnlyInNormalisation = e.reason else {
                return XCTFail("expected keysDifferOnlyInNormalisation, got \(error)")
            }
        }
    }

    func testASessionWithoutALiveWriterShowsInterrupted() throws {
        let store = try Store(path: S.temporaryStore(self))
        let m = try store.createSession(name: "s")
        XCTAssertEqual(try store.session("s").status, Store.interruptedStatus, "created, and no writer has it open")
        let writer = try store.openWriter(m)
        XCTAssertEqual(try store.session("s").status, "active")
        XCTAssertEqual(try store.sessions().first?.status, "active")
        try writer.close()
        XCTAssertEqual(try store.session("s").status, "completed")
    }
}

/// A one-pass reader lets go of segment pages as it goes and still reads every record, again and
/// again, and lookups through the same reader still work.
final class ScanReaderTests: XCTestCase {
    func testAScanReaderReadsEverythingAndStaysUsable() throws {
        let store = try Store(path: StoreTestSupport.temporaryStore(self))
        var options = LogOptions()
        options.segmentSizeBytesMax = 64 << 10
        let records = StoreTestSupport.syntheticRecords(3000, tag: "scan")
        let m = try StoreTestSupport.writeSession(store, name: "s", records: records, options: options)
        let reader = try store.openScanReader(m)
        XCTAssertTrue(reader.dropsPagesBehindScans)
        XCTAssertGreaterThan(reader.segments.count, 1, "several segments, so pages are dropped between them")
        for pass in 0..<2 {
            var payloads: [[UInt8]] = []
            let lost = reader.forEach { view in
                payloads.append(Array(view.payload))
                return true
            }
            XCTAssertEqual(lost.count, 0)
            XCTAssertEqual(payloads, records.map(\.payload), "pass \(pass)")
        }
        XCTAssertEqual(reader.record(for: StoreTestSupport.syntheticKey("scan", 2999))?.payload, records[2999].payload)
    }
}

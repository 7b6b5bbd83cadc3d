import Foundation
import RRLog
import RRLogTestSupport
import RRLogCatalog
import RRLogFormat
import RRLogStorage
import XCTest

/// Helpers shared by the store and compaction tests, kept in one namespace so they cannot clash
/// with helpers of other test files in this module.
enum StoreTestSupport {
    /// `Tests/Fixtures/io/llm-session.jsonl`: 3216 IO events of a recorded LLM agent session.
    static let fixturePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/io/llm-session.jsonl").path

    /// The fixture's lines, parsed, in file order.
    static let fixtureLines: [JSONValue] = {
        guard let data = FileManager.default.contents(atPath: fixturePath) else { fatalError("missing fixture \(fixturePath)") }
        return data.split(separator: UInt8(ascii: "\n")).map { line in
            do { return try JSONValue.parse(Array(line)) } catch { fatalError("fixture line does not parse: \(error)") }
        }
    }()

    /// The fixture lines as a store keeps them: secrets redacted (on by default).
    static let redactedFixtureLines: [JSONValue] = SharedTestSupport.storedLines(fixtureLines.map { IOEventEncoder().redact($0) })



    /// A fresh store directory, removed when the test ends.
    static func temporaryStore(_ test: XCTestCase) -> String {
        TestPaths.temporaryDirectory(test, prefix: "rrlog-store-tests")
    }

    /// The log directory of a session (README "Store layout").
    static func logDirectory(_ store: Store, _ manifest: SessionManifest) -> String {
        store.path + "/sessions/" + manifest.id + "/log"
    }

    /// The segment files in a log directory, in name (id) order.
    static func segmentPaths(_ directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".rrseg") }.sorted().map { directory + "/" + $0 }
    }

    /// The fixture as records, IO keys assigned as `rrlog append` does.
    static func fixtureRecords(volatile: VolatilePaths = VolatilePaths()) throws -> [RecordInput] {
        var encoder = IOEventEncoder(volatile: volatile)
        var records: [RecordInput] = []
        records.reserveCapacity(fixtureLines.count)
        for (i, line) in fixtureLines.enumerated() {
            records.append(try encoder.record(for: line, location: "llm-session.jsonl:\(i + 1)"))
        }
        return records
    }

    /// Creates `name`, appends `records` in batches of `batch`, closes it and returns its manifest.
    static func writeSession(
        _ store: Store, name: String, type: String = "recording", records: [RecordInput], options: LogOptions = LogOptions(),
        batch: Int = 500
    ) throws -> SessionManifest {
        let manifest = try store.createSession(name: name, type: type)
        let writer = try store.openWriter(manifest, options: options)
        var start = 0
        while start < records.count {
            let end = min(start + batch, records.count)
            try writer.append(Array(records[start..<end]))
            start = end
        }
        return try writer.close()
    }

    /// Small synthetic records: keyed by `IOKey` of a read_file call, payload naming the record.
    static func syntheticRecords(_ count: Int, tag: String) -> [RecordInput] {
        (0..<count).map { i in
            RecordInput(
                timestampNs: 1_760_000_000_000_000_000 + Int64(i) * 1_000, kind: RecordKind.event.rawValue,
                key: syntheticKey(tag, i).bytes, payload: Array("{\"session\":\"\(tag)\",\"record\":\(i)}".utf8))
        }
    }

    static func syntheticKey(_ tag: String, _ i: Int) -> IOKey {
        IOKey.derive(IOCallIdentity(ioType: "tool_call", tool: "read_file", agent: tag, inputs: ["path": .string("file-\(i)")]), callIndex: 0)
    }

    /// Every record of a session, in sequence order.
    static func records(_ reader: SessionReader) -> [Record] {
        var out: [Record] = []
        let lost = reader.forEach { view in
            out.append(view.makeRecord())
            return true
        }
        precondition(lost.isEmpty, "damaged data while reading: \(lost)")
        return out
    }

    /// Adds one to the byte at `offset`, in place.
    static func incrementByte(_ path: String, at offset: Int) throws {
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        guard let byte = try handle.read(upToCount: 1)?.first else { throw CocoaError(.fileReadTooLarge) }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data([byte &+ 1]))
    }

    /// Asserts that `body` throws an `RRLogError` with `code`.
    static func assertThrows<T>(
        _ code: RRLogError.Code, _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line,
        _ body: () throws -> T
    ) {
        do {
            _ = try body()
            XCTFail("expected \(code), nothing was thrown. \(message())", file: file, line: line)
        } catch let error as RRLogError {
            XCTAssertEqual(error.code, code, "\(error). \(message())", file: file, line: line)
        } catch {
            XCTFail("expected RRLogError \(code), got \(error). \(message())", file: file, line: line)
        }
    }

    /// The first index where two record lists differ, for readable failures.
    static func firstDifference(_ a: [Record], _ b: [Record]) -> String? {
        if a.count != b.count { return "\(a.count) records versus \(b.count)" }
        guard let i = a.indices.first(where: { a[$0] != b[$0] }) else { return nil }
        return "record \(i): sequence \(a[i].sequence) versus \(b[i].sequence)"
    }
}

final class StoreTests: XCTestCase {
    typealias S = StoreTestSupport

    // MARK: Lookups by IO key

    func testEveryRecordedCallOfTheFixtureIsFoundByIdentityAndCallIndex() throws {
        let lines = S.fixtureLines
        XCTAssertEqual(lines.count, 3216)
        let store = try Store(path: S.temporaryStore(self))
        let manifest = try S.writeSession(store, name: "fixture", records: try S.fixtureRecords())
        XCTAssertEqual(manifest.recordCount, 3216)
        XCTAssertEqual(manifest.status, "completed")
        XCTAssertEqual(manifest.countsByKind, ["event": 356, "stream_start": 44, "chunk": 2767, "stream_finish": 44, "checkpoint": 5])

        let reader = try store.openReader(try store.session("fixture"))
        XCTAssertEqual(reader.recordCount, lines.count)
        // Records come back in order, each the line that was appended; its ts_ns is the record's
        // timestamp, not stored in the payload (FORMAT-IO-PROFILE.md §10).
        let stored = S.records(reader)
        XCTAssertEqual(stored.map(\.sequence), Array(1...UInt64(lines.count)))
        for (i, record) in stored.enumerated() {
            XCTAssertEqual(IOLine.parse(record.payload, timestampNs: record.timestampNs), S.redactedFixtureLines[i], "line \(i + 1)")
            XCTAssertNil(try JSONValue.parse(record.payload)["ts_ns"], "line \(i + 1)")
            XCTAssertEqual(record.timestampNs, lines[i]["ts_ns"]?.int64Value, "line \(i + 1)")
        }

        var counter = CallIndexCounter()
        var checked = 0
        var repeated = 0
        for (i, line) in lines.enumerated() {
            guard let type = line["type"]?.stringValue, type == "event" || type == "stream_start" else { continue }
            let identity = try XCTUnwrap(IOCallIdentity(event: line), "line \(i + 1)")
            // Identical calls are counted after redaction: calls that differ only in a secret are the same call.
            let callIndex = counter.next(for: IOKey.callDigest(for: reader.redacted(identity)))
            if callIndex > 0 { repeated += 1 }
            let found = reader.lookup(identity, callIndex: callIndex)
            XCTAssertNotNil(found, "line \(i + 1) (call index \(callIndex)) not found")
            XCTAssertEqual(found?["outputs"], S.redactedFixtureLines[i]["outputs"], "line \(i + 1)")
            XCTAssertEqual(found?.objectValue?.filter { $0.key != "call_index" }, S.redactedFixtureLines[i].objectValue?.filter { $0.key != "call_index" }, "line \(i + 1)")
            checked += 1
        }
        XCTAssertEqual(checked, 400)
        XCTAssertGreaterThan(repeated, 0, "the fixture has repeated identical calls")
    }

    func testRepeatedIdenticalCallsAreFoundByCallIndexInOrder() throws {
        let store = try Store(path: S.temporaryStore(self))
        let identity = IOCallIdentity(ioType: "tool_call", tool: "read_file", agent: "coder", inputs: ["path": "README.md"])
        var lines: [JSONValue] = []
        for n in 0..<3 {
            lines.append([
                "type": "event", "io_type": "tool_call", "tool_name": "read_file", "agent_id": "coder", "inputs": ["path": "README.md"],
                "outputs": ["content": .string("version \(n)")], "ts_ns": .int(1_760_000_000_000_000_000 + Int64(n) * 10),
            ])
            lines.append([
                "type": "event", "io_type": "tool_call", "tool_name": "read_file", "agent_id": "coder",
                "inputs": ["path": .string("other-\(n).md")], "outputs": ["content": "other"], "ts_ns": .int(1_760_000_000_000_000_005 + Int64(n) * 10),
            ])
        }
        var encoder = IOEventEncoder()
        let records = try lines.enumerated().map { i, line in try encoder.record(for: line, location: "line \(i + 1)") }
        XCTAssertEqual(records.filter { $0.key == IOKey.derive(identity, callIndex: 2).bytes }.count, 1, "the third call gets index 2")

        let manifest = try store.createSession(name: "repeats")
        let writer = try store.openWriter(manifest)
        try writer.append(records)
        // Readable while the writer still holds the session (unsealed segment, found by a scan).
        try writer.flush()
        let live = try store.openReader(manifest)
        XCTAssertEqual(live.lookup(identity, callIndex: 1)?["outputs"], ["content": "version 1"])
        XCTAssertEqual(live.recordedCallCount(identity), 3)
        try writer.close()

        let reader = try store.openReader(try store.session("repeats"))
        for n in 0..<3 {
            XCTAssertEqual(reader.lookup(identity, callIndex: UInt32(n))?["outputs"], ["content": .string("version \(n)")], "call index \(n)")
        }
        XCTAssertNil(reader.lookup(identity, callIndex: 3))
        XCTAssertEqual(reader.recordedCallCount(identity), 3)
        let other = IOCallIdentity(ioType: "tool_call", tool: "read_file", agent: "coder", inputs: ["path": "other-1.md"])
        XCTAssertEqual(reader.recordedCallCount(other), 1)
        XCTAssertEqual(reader.recordedCallCount(IOCallIdentity(ioType: "tool_call", tool: "read_file", agent: "planner", inputs: ["path": "README.md"])), 0)
    }

    func testVolatilePathsOfTheSessionAreLeftOutOfLookups() throws {
        let store = try Store(path: S.temporaryStore(self))
        let annotation = JSONValue.array([.string("headers.X-Request-Id")]).serialized()
        let manifest = try store.createSession(name: "volatile", annotations: ["volatile_paths": annotation])
        let recordedInputs: JSONValue = [
            "method": "GET", "url": "https://api.example.com/v1/items/7", "headers": ["X-Request-Id": "req-1", "Accept": "application/json"],
        ]
        let line: JSONValue = [
            "type": "event", "io_type": "io_network", "tool_name": "http", "agent_id": "planner", "inputs": recordedInputs,
            "outputs": ["status": 200, "body": ["id": 7]], "ts_ns": 1_760_000_000_000_000_000,
        ]
        // Record as `rrlog append` does: the encoder strips what the session's annotation names.
        let before = try store.openReader(manifest)
        XCTAssertEqual(before.volatilePaths.paths, ["headers.X-Request-Id"])
        var encoder = IOEventEncoder(volatile: before.volatilePaths)
        let writer = try store.openWriter(manifest)
        try writer.append(try encoder.record(for: line, location: "line 1"))
        try writer.close()

        let reader = try store.openReader(try store.session("volatile"))
        func identity(_ inputs: JSONValue) -> IOCallIdentity {
            IOCallIdentity(ioType: "io_network", tool: "http", agent: "planner", inputs: inputs)
        }
        let otherRequestID: JSONValue = [
            "method": "GET", "url": "https://api.example.com/v1/items/7", "headers": ["X-Request-Id": "req-2", "Accept": "application/json"],
        ]
        XCTAssertEqual(reader.lookup(identity(otherRequestID))?["outputs"], line["outputs"])
        let noRequestID: JSONValue = ["method": "GET", "url": "https://api.example.com/v1/items/7", "headers": ["Accept": "application/json"]]
        XCTAssertEqual(reader.lookup(identity(noRequestID))?["outputs"], line["outputs"], "a missing volatile member is ignored too")

        let otherAccept: JSONValue = [
            "method": "GET", "url": "https://api.example.com/v1/items/7", "headers": ["X-Request-Id": "req-2", "Accept": "text/html"],
        ]
        XCTAssertNil(reader.lookup(identity(otherAccept)))
        let near = reader.closestCalls(to: identity(otherAccept))
        XCTAssertEqual(near.count, 1)
        XCTAssertEqual(near.first?.sequence, 1)
        XCTAssertEqual(near.first?.differences.map(\.path), ["headers.Accept"], "the volatile header is not reported")
        XCTAssertEqual(near.first?.differences.first?.recorded, "application/json")
        XCTAssertEqual(near.first?.differences.first?.given, "text/html")

        let otherURL: JSONValue = [
            "method": "GET", "url": "https://api.example.com/v1/items/8", "headers": ["X-Request-Id": "req-1", "Accept": "application/json"],
        ]
        XCTAssertNil(reader.lookup(identity(otherURL)))
        XCTAssertEqual(reader.closestCalls(to: identity(otherURL)).first?.differences.map(\.path), ["url"])
    }

    // MARK: Catalog

    func testReindexRebuildsTheSameListingFromManifests() throws {
        let root = S.temporaryStore(self)
        let before: [SessionManifest]
        do {
            let store = try Store(path: root)
            _ = try S.writeSession(store, name: "first", type: "recording", records: S.syntheticRecords(10, tag: "first"))
            _ = try S.writeSession(store, name: "second", type: "capture", records: S.syntheticRecords(200, tag: "second"))
            _ = try S.writeSession(store, name: "third", type: "seed", records: S.syntheticRecords(35, tag: "third"))
            before = try store.sessions()
        }
        func summary(_ list: [SessionManifest]) -> [String] {
            list.map { "\($0.name) \($0.id) \($0.type) \($0.recordCount) \($0.bytesOnDisk) \($0.segments.count)" }
        }
        XCTAssertEqual(before.map(\.name), ["first", "second", "third"])
        XCTAssertEqual(before.map(\.recordCount), [10, 200, 35])

        let catalog = root + "/catalog.sqlite"
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: catalog + suffix) }
        XCTAssertEqual(try Store(path: root).sessions().count, 0, "a new catalog starts empty")
        let report = try Store.reindex(path: root)
        XCTAssertEqual(report.sessions, 3)
        XCTAssertEqual(report.skipped, [])
        let rebuilt = try Store(path: root).sessions()
        XCTAssertEqual(summary(rebuilt), summary(before))
        XCTAssertEqual(try Store(path: root).session("second").id, before[1].id)

        // A catalog that is not a database is moved aside, never deleted, and rebuilt.
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: catalog + suffix) }
        let garbage = Data(Array("this is not an SQLite database, only garbage bytes ".utf8) + [UInt8](repeating: 0xA5, count: 4000))
        XCTAssertTrue(FileManager.default.createFile(atPath: catalog, contents: garbage))
        let again = try Store.reindex(path: root)
        XCTAssertEqual(again.sessions, 3)
        let aside = try FileManager.default.contentsOfDirectory(atPath: root).filter { $0.hasPrefix("catalog.sqlite.damaged-") }
        XCTAssertEqual(aside.count, 1, "the damaged catalog is kept for a post-mortem")
        XCTAssertEqual(FileManager.default.contents(atPath: root + "/" + (aside.first ?? "")), garbage)
        XCTAssertEqual(summary(try Store(path: root).sessions()), summary(before))
    }

    // MARK: Concurrency

    func testFourSessionsWrittenConcurrentlyAreCompleteAndVerify() throws {
        let store = try Store(path: S.temporaryStore(self))
        let names = (0..<4).map { "writer-\($0)" }
        let perSession = 2_000
        let failures = LockedStrings()
        DispatchQueue.concurrentPerform(iterations: names.count) { t in
            do {
                let manifest = try store.createSession(name: names[t], type: t % 2 == 0 ? "recording" : "capture")
                let writer = try store.openWriter(manifest)
                let records = S.syntheticRecords(perSession, tag: names[t])
                // Half one by one, half in uneven batches, so the writers interleave finely.
                for r in records[0..<perSession / 2] { try writer.append(r) }
                var start = perSession / 2
                while start < perSession {
                    let end = min(perSession, start + 1 + (start % 37))
                    try writer.append(Array(records[start..<end]))
                    start = end
                }
                try writer.close()
            } catch {
                failures.append("\(names[t]): \(error)")
            }
        }
        XCTAssertEqual(failures.values, [])
        XCTAssertEqual(Set(try store.sessions().map(\.name)), Set(names))
        for name in names {
            let manifest = try store.session(name)
            XCTAssertEqual(manifest.recordCount, perSession, name)
            XCTAssertEqual(manifest.status, "completed", name)
            let reader = try store.openReader(manifest)
            let expected = S.syntheticRecords(perSession, tag: name)
            let stored = S.records(reader)
            XCTAssertEqual(stored.map(\.sequence), Array(1...UInt64(perSession)), name)
            XCTAssertEqual(stored.map(\.payload), expected.map(\.payload), name)
            XCTAssertEqual(stored.map(\.key), expected.map(\.key), name)
            for i in stride(from: 0, to: perSession, by: 97) {
                XCTAssertEqual(reader.record(for: S.syntheticKey(name, i))?.payload, expected[i].payload, "\(name) record \(i)")
            }
            let report = try store.verify(manifest)
            XCTAssertTrue(report.isClean, "\(name): \(report.log.problems) \(report.manifestProblems)")
            XCTAssertEqual(report.log.records, perSession)
        }
    }

    // MARK: Selection and names

    func testSessionsAreSelectedByNameIdStrategyAndType() throws {
        let store = try Store(path: S.temporaryStore(self))
        let alpha = try S.writeSession(store, name: "alpha", type: "recording", records: S.syntheticRecords(5, tag: "alpha"))
        let beta = try S.writeSession(store, name: "beta", type: "capture", records: S.syntheticRecords(50, tag: "beta"))
        let gamma = try S.writeSession(store, name: "gamma", type: "recording", records: S.syntheticRecords(20, tag: "gamma"))
        XCTAssertLessThan(alpha.createdNs, beta.createdNs)
        XCTAssertLessThan(beta.createdNs, gamma.createdNs)

        XCTAssertEqual(try store.session("beta").id, beta.id)
        XCTAssertEqual(try store.session(beta.id).name, "beta")
        XCTAssertEqual(try store.session("latest").name, "gamma")
        XCTAssertEqual(try store.session("largest").name, "beta")
        XCTAssertEqual(try store.session("smallest").name, "alpha")
        XCTAssertTrue(["alpha", "beta", "gamma"].contains(try store.session("random").name))
        XCTAssertEqual(try store.session("latest", type: "capture").name, "beta")
        XCTAssertEqual(try store.session("largest", type: "recording").name, "gamma")
        XCTAssertEqual(try store.session("smallest", type: "recording").name, "alpha")
        XCTAssertEqual(try store.session("gamma", type: "recording").id, gamma.id)
        XCTAssertEqual(try store.sessions(type: "capture").map(\.name), ["beta"])
        XCTAssertEqual(try store.sessions(type: "recording").map(\.name), ["alpha", "gamma"])
        XCTAssertEqual(try store.sessions().map(\.name), ["alpha", "beta", "gamma"])

        S.assertThrows(.noSuchSession) { try store.session("delta") }
        S.assertThrows(.noSuchSession) { try store.session("beta", type: "recording") }
        S.assertThrows(.noSuchSession) { try store.session("latest", type: "training") }
        do {
            _ = try store.session("alph")
            XCTFail("a near name does not select a session")
        } catch {
            XCTAssertEqual(error.code, .noSuchSession)
            XCTAssertTrue(error.message.contains("alph"), error.message)
        }
    }

    func testInvalidAndDuplicateNamesCreateNothing() throws {
        let root = S.temporaryStore(self)
        let store = try Store(path: root)
        _ = try S.writeSession(store, name: "alpha", records: S.syntheticRecords(3, tag: "alpha"))
        let sessionsDirectory = root + "/sessions"
        let before = try FileManager.default.contentsOfDirectory(atPath: sessionsDirectory)
        XCTAssertEqual(before.count, 1)

        let invalid = ["../x", "a/b", ".hidden", "", String(repeating: "n", count: 200), "latest", "largest", "-flag", "sp ace", "ünïcode"]
        for name in invalid {
            S.assertThrows(.invalidArgument, "name '\(name)'") { try store.createSession(name: name) }
        }
        S.assertThrows(.invalidArgument, "bad type") { try store.createSession(name: "typed", type: "nonsense") }
        S.assertThrows(.sessionExists, "duplicate") { try store.createSession(name: "alpha") }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: sessionsDirectory), before)
        XCTAssertEqual(try store.sessions().map(\.name), ["alpha"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/x"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: sessionsDirectory + "/a"))

        // The limits themselves are accepted.
        let longest = String(repeating: "n", count: 128)
        XCTAssertEqual(try store.createSession(name: longest).name, longest)
        XCTAssertEqual(try store.createSession(name: "a.b_c-1").name, "a.b_c-1")
    }

    // MARK: Verify and remove

    func testVerifyFindsMissingSegmentsAndFlippedBytes() throws {
        let store = try Store(path: S.temporaryStore(self))
        var options = LogOptions()
        options.chunkSizeBytes = 2 << 10
        options.segmentRecordCountMax = 100
        let records = S.syntheticRecords(450, tag: "v")
        let clean = try S.writeSession(store, name: "clean", records: records, options: options)
        let missing = try S.writeSession(store, name: "missing", records: records, options: options)
        let flipped = try S.writeSession(store, name: "flipped", records: records, options: options)
        XCTAssertGreaterThanOrEqual(clean.segments.count, 4)

        for m in [clean, missing, flipped] {
            let report = try store.verify(m)
            XCTAssertTrue(report.isClean, "\(m.name) before damage: \(report.log.problems) \(report.manifestProblems)")
            XCTAssertEqual(report.log.records, records.count)
            XCTAssertEqual(report.log.segments, m.segments.count)
        }

        let gone = try XCTUnwrap(missing.segments.dropFirst().first).file
        try FileManager.default.removeItem(atPath: S.logDirectory(store, missing) + "/" + gone)
        let missingReport = try store.verify(try store.session("missing"))
        XCTAssertFalse(missingReport.isClean)
        XCTAssertTrue(missingReport.manifestProblems.contains { $0.contains(gone) }, "\(missingReport.manifestProblems)")

        let victim = S.logDirectory(store, flipped) + "/" + flipped.segments[1].file
        let chunk = try XCTUnwrap(SegmentHandle(path: victim).view.chunks.first)
        try S.incrementByte(victim, at: Int(chunk.offset) + Int(chunk.frameLength) / 2)
        let flippedReport = try store.verify(try store.session("flipped"))
        XCTAssertFalse(flippedReport.isClean)
        XCTAssertFalse(flippedReport.log.problems.isEmpty)
        XCTAssertTrue(flippedReport.log.problems.contains { $0.file.hasSuffix(flipped.segments[1].file) }, "\(flippedReport.log.problems)")

        let cleanReport = try store.verify(try store.session("clean"))
        XCTAssertTrue(cleanReport.isClean, "damage elsewhere does not touch this session")
    }

    func testRemoveDeletesTheSessionAndIsRefusedWhileWriting() throws {
        let root = S.temporaryStore(self)
        let store = try Store(path: root)
        let done = try S.writeSession(store, name: "done", records: S.syntheticRecords(30, tag: "done"))
        let directory = root + "/sessions/" + done.id
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory))
        try store.remove(done)
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory))
        S.assertThrows(.noSuchSession) { try store.session("done") }
        S.assertThrows(.noSuchSession) { try store.session(done.id) }
        XCTAssertEqual(try store.sessions().count, 0)

        let live = try store.createSession(name: "live")
        let writer = try store.openWriter(live)
        try writer.append(S.syntheticRecords(10, tag: "live"))
        S.assertThrows(.busy) { try store.remove(live) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/sessions/" + live.id + "/log"))
        XCTAssertEqual(try store.session("live").id, live.id)
        try writer.close()
        try store.remove(try store.session("live"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/sessions/" + live.id))
        XCTAssertEqual(try store.sessions().count, 0)
        // The name is free again.
        XCTAssertNotEqual(try store.createSession(name: "live").id, live.id)
    }
}

/// Strings appended from several threads.
final class LockedStrings: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []

    func append(_ value: String) {
        lock.lock()
        storage.append(value)
        lock.unlock()
    }

    var values: [String] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }
}

/// `Store.sessionsPage`: the catalog's filtered, sorted page is exactly what filtering and
/// sorting every manifest gives (what the server's session list did before), for every sort,
/// both orders, the filters and offsets; an active session (a writer open) is merged in.
final class SessionsPageTests: XCTestCase {
    func testPagesAgreeWithFilteringEveryManifest() throws {
        let store = try Store(path: StoreTestSupport.temporaryStore(self))
        let types = ["recording", "capture", "seed"]
        for n in 0..<24 {
            let m = try store.createSession(name: (n % 3 == 0 ? "Alpha-" : "beta-") + String(format: "%02d", (n * 7) % 24), type: types[n % 3])
            let writer = try store.openWriter(m)
            for r in 0..<(n * 5 % 11) {
                _ = try writer.append(RecordInput(timestampNs: Int64(1_000 * n + r), kind: 1, payload: Array(repeating: UInt8(r), count: 10 * (n % 4 + 1))))
            }
            _ = try writer.close()
        }
        // One session still being written: `active`, merged in from outside the catalog's page.
        let open = try store.openWriter(try store.createSession(name: "live", type: "capture"))
        _ = try open.append(RecordInput(timestampNs: 5_500, kind: 1, payload: [1, 2, 3]))
        defer { _ = try? open.close() }

        let all = try store.sessions()
        XCTAssertEqual(all.count, 25)
        for sort in Catalog.PageQuery.Sort.allCases {
            for descending in [false, true] {
                for filter in 0..<5 {
                    var q = Catalog.PageQuery()
                    q.sort = sort
                    q.descending = descending
                    q.limit = 7
                    q.offset = filter * 2
                    switch filter {
                    case 1: q.type = "capture"
                    case 2: q.nameContains = "ALPHA"
                    case 3: q.fromNs = 9_000
                    case 4: q.toNs = 6_000; q.status = "completed"
                    default: break
                    }
                    let expected = Self.reference(all, q)
                    let got = try store.sessionsPage(q)
                    XCTAssertEqual(got.total, expected.count, "\(q)")
                    XCTAssertEqual(got.sessions.map(\.id), Array(expected.dropFirst(q.offset).prefix(q.limit)).map(\.id), "\(q)")
                }
            }
        }
        var onlyActive = Catalog.PageQuery()
        onlyActive.status = "active"
        XCTAssertEqual(try store.sessionsPage(onlyActive).sessions.map(\.name), ["live"])
    }

    /// Every manifest filtered and sorted in Swift, as the server listed sessions before.
    static func reference(_ all: [SessionManifest], _ q: Catalog.PageQuery) -> [SessionManifest] {
        let kept = all.filter { m in
            (q.type.map { m.type == $0 } ?? true) && (q.status.map { m.status == $0 } ?? true)
                && (q.nameContains.map { m.name.lowercased().contains($0.lowercased()) } ?? true)
                && (q.fromNs.map { (m.endNs ?? m.startNs ?? m.createdNs) >= $0 } ?? true) && (q.toNs.map { (m.startNs ?? m.createdNs) < $0 } ?? true)
        }
        let ascending: (SessionManifest, SessionManifest) -> Bool
        switch q.sort {
        case .name: ascending = { ($0.name, $0.id) < ($1.name, $1.id) }
        case .records: ascending = { ($0.recordCount, $0.name) < ($1.recordCount, $1.name) }
        case .bytes: ascending = { ($0.bytesOnDisk, $0.name) < ($1.bytesOnDisk, $1.name) }
        case .start: ascending = { ($0.startNs ?? 0, $0.name) < ($1.startNs ?? 0, $1.name) }
        case .created: ascending = { ($0.createdNs, $0.name) < ($1.createdNs, $1.name) }
        }
        return kept.sorted { q.descending ? ascending($1, $0) : ascending($0, $1) }
    }
}

import Foundation
import RRLog
import RRLogTestSupport
import XCTest

/// The ways out of a session: export, cat, replay; and the smaller edges of ls, rm, compact and
/// option parsing (issue #19, "Out of a session" and "Smaller").
final class ExportReplayCommandTests: XCTestCase {
    typealias T = CommandTestSupport

    var work = ""
    var store: String { work + "/store" }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static var eventsFile: String { fixtures.appendingPathComponent("events/event-recorder.json").path }

    override func setUp() {
        super.setUp()
        work = T.temporaryDirectory(self)
    }

    func rrlog(_ arguments: [String]) throws -> CommandResult {
        try T.run(arguments + ["--store", store], in: work)
    }

    /// Runs and expects exit 0.
    @discardableResult
    func ok(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CommandResult {
        let result = try rrlog(arguments)
        XCTAssertEqual(result.status, 0, "\(arguments): \(result)", file: file, line: line)
        return result
    }

    func info(_ name: String) throws -> JSONValue { try JSONValue.parse(try ok(["info", name, "--json"]).stdout) }

    /// An IO session `io` (the LLM fixture), an event-bus session `events` and a seed (OTLP
    /// traces) session `seeded`.
    func makeSessions() throws {
        try ok(["append", "io", T.fixturePath, "--create"])
        try ok(["import", Self.eventsFile, "--session", "events"])
        try ok(["seed", "--duration", "3", "--rate", "2", "--seed", "7", "--session", "seeded"])
    }

    /// The files of the work directory other than the store and the test runner's own.
    func leftovers() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: work)) ?? []).filter { $0 != "store" && !$0.hasPrefix(".std") }.sorted()
    }

    // MARK: export

    func testExportWithoutFormatWritesWhatTheSessionHolds() throws {
        try makeSessions()
        // A seed session has no import format: OTLP JSON lines, one request a line.
        let seeded = try ok(["export", "seeded"])
        let requests = try info("seeded")["counts_by_kind"]?["otlp_traces"]?.int64Value ?? 0
        XCTAssertGreaterThan(requests, 0)
        XCTAssertEqual(seeded.lines.count, Int(requests), "\(seeded.stdout.prefix(300))")
        for line in seeded.lines {
            let request = try JSONValue.parse(String(line))
            XCTAssertNotNil(request["resourceSpans"]?.arrayValue, String(line.prefix(200)))
        }

        // Bus events: the event-recorder document, equal to the imported file.
        let events = try ok(["export", "events"])
        XCTAssertEqual(try JSONValue.parse(events.stdout), try JSONValue.parse(Array(FileManager.default.contents(atPath: Self.eventsFile)!)))

        // IO events: JSON lines, one per record.
        let io = try ok(["export", "io", "-o", work + "/io.jsonl"])
        XCTAssertTrue(io.stderr.contains("exported 3216 IO-event lines of io as jsonl"), "\(io)")
        let written = String(decoding: FileManager.default.contents(atPath: work + "/io.jsonl") ?? Data(), as: UTF8.self)
        XCTAssertEqual(written.split(separator: "\n").count, 3216)
        XCTAssertEqual(leftovers(), ["io.jsonl"], "no temporary file is left beside the export")
    }

    func testExportRefusesAFormatTheSessionHoldsNothingOf() throws {
        try makeSessions()
        let cases: [(session: String, format: String, holds: String, fitting: String)] = [
            ("events", "otlp-json", "holds bus events", "export it as events-json"),
            ("events", "jsonl", "holds bus events", "export it as events-json"),
            ("seeded", "jsonl", "holds OTLP traces", "export it as otlp-json or otlp-proto"),
            ("seeded", "events-json", "holds OTLP traces", "export it as otlp-json or otlp-proto"),
            ("io", "otlp-json", "holds IO events", "export it as jsonl"),
            ("io", "events-json", "holds IO events", "export it as jsonl"),
        ]
        for c in cases {
            let out = work + "/out-\(c.session)-\(c.format)"
            let result = try rrlog(["export", c.session, "--format", c.format, "-o", out])
            XCTAssertEqual(result.status, 1, "\(c): \(result)")
            XCTAssertTrue(result.stderr.contains("session \(c.session) \(c.holds)"), "\(c): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(c.fitting), "\(c): \(result.stderr)")
            XCTAssertFalse(result.stderr.contains("exported"), "\(c): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "\(c): no file is written")
        }
        let wrongSignal = try rrlog(["export", "seeded", "--signal", "logs"])
        XCTAssertEqual(wrongSignal.status, 1, "\(wrongSignal)")
        XCTAssertTrue(wrongSignal.stderr.contains("no logs"), wrongSignal.stderr)
        XCTAssertEqual(wrongSignal.stdout, "")
    }

    func testExportToAFullDiskFailsNamingTheFile() throws {
        var info = stat()
        guard stat("/dev/full", &info) == 0, info.st_mode & mode_t(S_IFMT) == mode_t(S_IFCHR) else { throw XCTSkip("needs /dev/full") }
        try ok(["append", "io", T.fixturePath, "--create"])
        let result = try rrlog(["export", "io", "-o", "/dev/full"])
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertTrue(result.stderr.contains("/dev/full"), result.stderr)
        XCTAssertTrue(result.stderr.contains("No space left on device"), result.stderr)
        XCTAssertFalse(result.stderr.contains("exported"), result.stderr)
        XCTAssertTrue(stat("/dev/full", &info) == 0 && info.st_mode & mode_t(S_IFMT) == mode_t(S_IFCHR), "/dev/full is still the device")
    }

    func testAFailedExportLeavesTheOutputFileAsItWas() throws {
        try ok(["seed", "--duration", "3", "--rate", "2", "--seed", "7", "--session", "seeded"])
        let out = work + "/out.jsonl"
        XCTAssertTrue(FileManager.default.createFile(atPath: out, contents: Data("before\n".utf8)))
        let sessions = store + "/sessions"
        let id = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: sessions).first)
        let segment = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: sessions + "/" + id + "/log").first { $0.hasSuffix(".rrseg") })
        // Inside the first chunk's data: past the 48-byte segment header and 56-byte frame header.
        try T.flipByte(sessions + "/" + id + "/log/" + segment, at: 48 + 56 + 100)
        let result = try rrlog(["export", "seeded", "-o", out])
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertTrue(result.stderr.contains("damaged"), result.stderr)
        XCTAssertEqual(String(decoding: FileManager.default.contents(atPath: out) ?? Data(), as: UTF8.self), "before\n")
        XCTAssertEqual(leftovers(), ["out.jsonl"], "no temporary file is left")
    }

    // MARK: cat

    func testCatPrintsJSONForEveryKindOfRecord() throws {
        try makeSessions()
        let seeded = try ok(["cat", "seeded", "--json"])
        let counts = try info("seeded")["counts_by_kind"]
        XCTAssertEqual(seeded.lines.count, try info("seeded")["records"]?.int64Value.map(Int.init))
        var requests = 0
        var indexEntries = 0
        for line in seeded.lines {
            let value = try JSONValue.parse(String(line))
            if value["resourceSpans"]?.arrayValue != nil {
                requests += 1
            } else {
                XCTAssertEqual(value["trace_id"]?.stringValue?.count, 32, String(line))
                XCTAssertNotNil(value["request_sequence"]?.int64Value, String(line))
                indexEntries += 1
            }
        }
        XCTAssertEqual(requests, counts?["otlp_traces"]?.int64Value.map(Int.init))
        XCTAssertEqual(indexEntries, counts?["otlp_trace_index"]?.int64Value.map(Int.init))

        let events = try ok(["cat", "events", "--json", "--limit", "5"])
        let document = try JSONValue.parse(Array(FileManager.default.contents(atPath: Self.eventsFile)!))
        XCTAssertEqual(try events.lines.map { try JSONValue.parse(String($0)) }, Array(document["events"]!.arrayValue!.prefix(5)))

        // Without --json: readable words for OTLP requests, never protobuf bytes.
        let text = try ok(["cat", "seeded", "--kind", "otlp_traces"])
        XCTAssertEqual(text.lines.count, counts?["otlp_traces"]?.int64Value.map(Int.init))
        for line in text.lines {
            XCTAssertTrue(line.contains("\totlp_traces\t") && line.contains(" spans"), String(line))
            XCTAssertFalse(line.unicodeScalars.contains { $0.value < 0x20 && $0 != "\t" }, "control bytes in \(line.debugDescription)")
        }
    }

    // MARK: replay

    func testReplayOfASessionWithoutOTLPDataRefusesNamingItsKind() throws {
        try makeSessions()
        for (session, holds) in [("io", "IO events (recording)"), ("events", "bus events (recording)")] {
            let result = try rrlog(["replay", session, "--endpoint", "http://127.0.0.1:9", "--fast"])
            XCTAssertEqual(result.status, 1, "\(result)")
            XCTAssertTrue(result.stderr.contains("session \(session) holds \(holds), not OTLP data"), result.stderr)
            XCTAssertFalse(result.stdout.contains("replayed"), result.stdout)
        }
    }

    func testReplayToAnEndpointThatRefusesStopsWithOneClearMessage() throws {
        try ok(["seed", "--duration", "3", "--rate", "2", "--seed", "7", "--session", "seeded"])
        // Nothing listens on the discard port of the loopback address.
        let result = try rrlog(["replay", "seeded", "--endpoint", "http://127.0.0.1:9", "--fast"])
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertTrue(result.stderr.contains("cannot reach http://127.0.0.1:9/v1/traces: connection refused"), result.stderr)
        XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one message, not one per request: \(result.stderr)")
        for raw in ["NIO", "connectionRefused", "Error(", "errno"] { XCTAssertFalse(result.stderr.contains(raw), result.stderr) }
    }

    // MARK: event replay and copy (issue #23, "Event recorder")

    /// The fixture's events in time order (stable), as `rrlog replay` delivers them.
    static func fixtureEvents() throws -> [JSONValue] {
        let document = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: eventsFile))))
        let events = document["events"]?.arrayValue ?? []
        return events.enumerated().sorted {
            ($0.element["timestamp_offset_ms"]?.doubleValue ?? 0, $0.offset) < ($1.element["timestamp_offset_ms"]?.doubleValue ?? 0, $1.offset)
        }.map(\.element)
    }

    func testReplayOfAnEventSessionDeliversTheSelectedEventsInTimeOrder() throws {
        try ok(["import", Self.eventsFile, "--session", "events"])
        let all = try Self.fixtureEvents()
        let everything = try ok(["replay", "events", "--fast"])
        XCTAssertEqual(everything.lines.map { try? JSONValue.parse(Array($0.utf8)) }, all.map { $0 }, "every event, as stored, in time order")
        XCTAssertTrue(everything.stderr.contains("replayed events: \(all.count) events delivered"), everything.stderr)

        let picked = try ok([
            "replay", "events", "--fast", "--filter-name", "OrderFilled,OrderPlaced", "--filter-name", "PositionOpened",
            "--filter-source", "TradingBot", "--from", "10", "--to", "40.5",
        ])
        let expected = all.filter { e in
            let ms = e["timestamp_offset_ms"]?.doubleValue ?? -1
            let firstMs = all.first?["timestamp_offset_ms"]?.doubleValue ?? 0
            return ["OrderFilled", "OrderPlaced", "PositionOpened"].contains(e["event_name"]?.stringValue ?? "")
                && e["source"]?.stringValue == "TradingBot" && ms - firstMs >= 10_000 && ms - firstMs < 40_500
        }
        XCTAssertGreaterThan(expected.count, 10)
        XCTAssertEqual(picked.lines.map { try? JSONValue.parse(Array($0.utf8)) }, expected.map { $0 })

        // Bad selections and OTLP-only options are usage errors; OTLP data needs an endpoint.
        for bad in [["--to", "3", "--from", "5"], ["--from", "-1"], ["--endpoint", "http://127.0.0.1:9"], ["--post", "ftp://x"]] {
            let result = try rrlog(["replay", "events", "--fast"] + bad)
            XCTAssertNotEqual(result.status, 0, "\(bad): \(result)")
            XCTAssertTrue(result.stdout.isEmpty, "\(bad): nothing delivered: \(result.stdout)")
        }
        try ok(["seed", "--duration", "3", "--rate", "2", "--seed", "7", "--session", "seeded"])
        let noEndpoint = try rrlog(["replay", "seeded", "--fast"])
        XCTAssertEqual(noEndpoint.status, 2, "\(noEndpoint)")
        XCTAssertTrue(noEndpoint.stderr.contains("needs --endpoint"), noEndpoint.stderr)
        let eventOptions = try rrlog(["replay", "seeded", "--fast", "--endpoint", "http://127.0.0.1:9", "--filter-name", "x"])
        XCTAssertEqual(eventOptions.status, 2, "\(eventOptions)")
        XCTAssertTrue(eventOptions.stderr.contains("apply to bus events"), eventOptions.stderr)
    }

    /// `--post URL` sends each event's JSON in its own POST, to a real HTTP server (Python's).
    func testReplayPostsEachEventToAURL() throws {
        try ok(["import", Self.eventsFile, "--session", "events"])
        let bodies = work + "/bodies.jsonl"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-c", """
            import http.server, sys
            out = open(sys.argv[1], "ab")
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    n = int(self.headers["Content-Length"])
                    body = self.rfile.read(n)
                    ok = self.headers["Content-Type"] == "application/json"
                    out.write(body + b"\\n"); out.flush()
                    self.send_response(204 if ok else 415); self.end_headers()
                def log_message(self, *a): pass
            s = http.server.HTTPServer(("127.0.0.1", 0), H)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """, bodies]
        let pipe = Pipe()
        server.standardOutput = pipe
        do { try server.run() } catch { throw TestPaths.missing("python3 is needed to receive posted events: \(error)") }
        defer { server.terminate() }
        let first = pipe.fileHandleForReading.availableData
        guard let port = Int(String(decoding: first, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestPaths.missing("the Python HTTP server did not start")
        }
        let result = try ok(["replay", "events", "--fast", "--filter-name", "OrderFilled", "--post", "http://127.0.0.1:\(port)/events"])
        XCTAssertTrue(result.stdout.isEmpty, "posted, not printed: \(result.stdout)")
        let expected = try Self.fixtureEvents().filter { $0["event_name"]?.stringValue == "OrderFilled" }
        let got = try String(contentsOfFile: bodies, encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(Array($0.utf8)) }
        XCTAssertEqual(got, expected)
        XCTAssertTrue(result.stderr.contains("\(expected.count) events delivered"), result.stderr)
    }

    func testCopySavesTheSelectionAsANewSession() throws {
        try ok(["import", Self.eventsFile, "--session", "events"])
        let all = try Self.fixtureEvents()
        let result = try ok(["copy", "events", "market", "--filter-source", "MarketDataAgent"])
        let expected = all.filter { $0["source"]?.stringValue == "MarketDataAgent" }
        XCTAssertTrue(result.stdout.contains("copied \(expected.count) of \(all.count) events from events into market"), result.stdout)
        XCTAssertEqual(try info("market")["records"]?.int64Value, Int64(expected.count))
        XCTAssertEqual(try ok(["replay", "market", "--fast"]).lines.map { try? JSONValue.parse(Array($0.utf8)) }, expected.map { $0 })
        // An existing name, and a session without events, are refused.
        XCTAssertEqual(try rrlog(["copy", "events", "market"]).status, 1)
        try ok(["append", "io", T.fixturePath, "--create"])
        let io = try rrlog(["copy", "io", "io2"])
        XCTAssertEqual(io.status, 1, "\(io)")
        XCTAssertTrue(io.stderr.contains("copy saves bus events only"), io.stderr)
    }

    func testInfoAndTimelineReadAnEventFileWithoutImportingIt() throws {
        let all = try Self.fixtureEvents()
        let text = try ok(["info", Self.eventsFile])
        XCTAssertTrue(text.stdout.contains("session      bull_run_7"), text.stdout)
        XCTAssertTrue(text.stdout.contains("events       \(all.count)"), text.stdout)
        let json = try JSONValue.parse(try ok(["info", Self.eventsFile, "--json"]).stdout)
        XCTAssertEqual(json["total_events"]?.int64Value, Int64(all.count))
        XCTAssertEqual(json["counts_by_source"]?["MarketDataAgent"]?.int64Value, Int64(all.filter { $0["source"]?.stringValue == "MarketDataAgent" }.count))
        let timeline = try ok(["timeline", Self.eventsFile, "--limit", "3"])
        XCTAssertEqual(timeline.lines.count, 3)
        XCTAssertTrue(timeline.lines[0].contains("SignalGenerated  TradingBot  {\"price\":67559.15"), "\(timeline.lines[0])")
        // Nothing was imported: the store was not even created.
        XCTAssertFalse(FileManager.default.fileExists(atPath: store), "no store")
        let broken = work + "/broken.json"
        try Data(#"{"events":[{"timestamp_offset_ms":1}]}"#.utf8).write(to: URL(fileURLWithPath: broken))
        let bad = try rrlog(["info", broken])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("events[0]") && bad.stderr.contains("event_name"), bad.stderr)
    }

    // MARK: ls, rm, selection

    func testLsRefusesAnUnknownTypeAndKeepsColumnsApart() throws {
        let long = "a-session-name-much-longer-than-twenty-eight-characters"
        try ok(["append", long, T.fixturePath, "--create"])
        try ok(["append", "S", T.fixturePath, "--create"])
        let bogus = try rrlog(["ls", "--type", "bogus"])
        XCTAssertEqual(bogus.status, 2, "\(bogus)")
        XCTAssertTrue(bogus.stderr.contains("recording, capture, seed, training"), bogus.stderr)
        XCTAssertTrue(bogus.stderr.contains("'bogus'"), bogus.stderr)

        let ls = try ok(["ls"])
        XCTAssertEqual(ls.lines.count, 3, "\(ls)")
        let typeColumn = try XCTUnwrap(ls.lines[0].range(of: "TYPE")).lowerBound.utf16Offset(in: ls.lines[0])
        for line in ls.lines.dropFirst() {
            let name = String(line.prefix { $0 != " " })
            XCTAssertTrue([long, "S"].contains(name), "the name stands alone: \(line)")
            XCTAssertEqual(String(line.dropFirst(typeColumn).prefix(9)), "recording", "TYPE starts in its column: \(ls.stdout)")
        }
    }

    /// `--session auto --strategy S --filter-type T` is the OTLP record-replay service's spelling of
    /// rrlog's strategies; `largest` and `smallest` go by bytes on disk, not records.
    func testSessionChoiceAsTheReplacedServiceSpellsIt() throws {
        try makeSessions()
        // A seed session with more records but fewer bytes than the IO session.
        try ok(["seed", "--duration", "2", "--rate", "1", "--seed", "3", "--session", "tiny"])
        let sizes = try ["io", "events", "seeded", "tiny"].map { (name: $0, bytes: try info($0)["bytes_on_disk"]?.int64Value ?? 0) }
        let largest = sizes.max { $0.bytes < $1.bytes }!.name
        let smallest = sizes.min { $0.bytes < $1.bytes }!.name
        for (arguments, expected) in [
            (["info", "largest", "--json"], largest),
            (["info", "--session", "auto", "--strategy", "largest", "--json"], largest),
            (["info", "--session", "auto", "--strategy", "smallest", "--json"], smallest),
            (["info", "--session", "auto", "--strategy", "largest", "--filter-type", "seed", "--json"], sizes.filter { ["seeded", "tiny"].contains($0.name) }.max { $0.bytes < $1.bytes }!.name),
            (["info", "--session", "auto", "--json"], "tiny"),
            (["info", "--session", "events", "--json"], "events"),
        ] {
            XCTAssertEqual(try JSONValue.parse(try ok(arguments).stdout)["name"]?.stringValue, expected, "\(arguments)")
        }
        XCTAssertEqual(try ok(["timeline", "--session", "auto", "--strategy", "latest", "--limit", "1"]).lines.count, 1)
        XCTAssertEqual(try ok(["cat", "--session", "events", "--limit", "2"]).lines.count, 2)
        // The commands with more arguments, or with --all, take the same flags beside them.
        XCTAssertTrue(try ok(["verify", "--session", "auto", "--strategy", "largest"]).stdout.contains(": \(largest):"))
        XCTAssertTrue(try ok(["compact", "--session", "auto", "--strategy", "smallest", "--dry-run"]).stdout.contains("dry run: 1 sessions"))
        XCTAssertTrue(try ok(["copy", "--session", "events", "events-copy"]).stdout.contains("into events-copy"))
        let trace = try rrlog(["trace", "--session", "auto", "--filter-type", "seed", String(repeating: "ab", count: 16)])
        XCTAssertEqual(trace.status, 1, "a well-formed command that finds no such trace: \(trace)")
        XCTAssertTrue(trace.stderr.contains("no span of trace abab"), trace.stderr)
        for bad in [
            ["info", "events", "--session", "io"], ["info", "--strategy", "largest"], ["info", "--session", "auto", "--strategy", "biggest"], ["info"],
            ["verify", "io", "--session", "io"], ["verify", "--all", "--session", "io"], ["compact"], ["copy", "--session", "events", "a", "b"],
            ["trace", "--session", "seeded", "seeded", String(repeating: "ab", count: 16)], ["trace", String(repeating: "ab", count: 16)],
            ["stream", "--session", "io", "stream-1", "extra"], ["stream"],
        ] {
            let result = try rrlog(bad)
            XCTAssertEqual(result.status, 2, "\(bad): \(result)")
        }
    }

    func testRmOfAStrategyNeedsYes() throws {
        try ok(["append", "S", T.fixturePath, "--create"])
        for strategy in ["random", "latest", "largest", "smallest"] {
            let result = try rrlog(["rm", strategy])
            XCTAssertEqual(result.status, 2, "\(result)")
            XCTAssertTrue(result.stderr.contains("rm needs a session's name or id, or --yes with a strategy"), result.stderr)
        }
        XCTAssertEqual(try info("S")["records"], 3216, "nothing was removed")
        let yes = try ok(["rm", "random", "--yes"])
        XCTAssertTrue(yes.stdout.contains("removed S"), "\(yes)")
        try ok(["append", "T", T.fixturePath, "--create"])
        try ok(["rm", "T"])
    }

    // MARK: compact, option errors

    func testCompactDryRunEstimatesTheSegmentsItWouldWrite() throws {
        try ok(["append", "S", T.fixturePath, "--create"])
        let segments = try XCTUnwrap(try info("S")["segments"]?.int64Value)
        XCTAssertGreaterThan(segments, 0)
        let dry = try ok(["compact", "S", "--dry-run"])
        XCTAssertTrue(dry.stdout.contains("segments \(segments) -> 1,"), "\(dry)")
        let json = try JSONValue.parse(try ok(["compact", "S", "--dry-run", "--json"]).stdout)
        XCTAssertEqual(json["segmentsAfter"], 1)
        XCTAssertEqual(json["bytesAfter"], json["bytesBefore"])
        XCTAssertEqual(try info("S")["segments"]?.int64Value, segments, "a dry run changes nothing")
    }

    func testBadTimesAndInputsSayWhatWasWrong() throws {
        try ok(["append", "S", T.fixturePath, "--create"])
        for command in [["cat", "S"], ["export", "S"]] {
            let result = try rrlog(command + ["--from", "2026-13-99"])
            XCTAssertEqual(result.status, 2, "\(result)")
            XCTAssertTrue(result.stderr.contains("--from: '2026-13-99' is neither nanoseconds since the epoch nor an ISO 8601 time"), result.stderr)
        }
        let inputs = try rrlog(["get", "S", "--io-type", "llm_call", "--tool", "openai", "--inputs", "{\"a\": tru}"])
        XCTAssertEqual(inputs.status, 2, "\(inputs)")
        XCTAssertTrue(inputs.stderr.contains("--inputs is not valid JSON:"), inputs.stderr)
        XCTAssertTrue(inputs.stderr.contains("at column"), inputs.stderr)
        XCTAssertFalse(inputs.stderr.contains("USAGE"), inputs.stderr)
    }
}

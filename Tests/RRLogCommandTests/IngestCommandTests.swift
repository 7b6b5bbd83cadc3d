import Foundation
import RRLog
import RRLogTestSupport
import XCTest


/// `rrlog append`, `rrlog import` and `rrlog capture` as a user meets them: what they do with
/// sessions, call indexes, redaction, bad input and a kill.
final class IngestCommandTests: StoreCommandTestCase {
    /// Writes `lines` (one JSON text each) to `name` in the work directory and returns its path.
    func file(_ name: String, _ lines: [String]) -> String {
        let path = work + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(lines.map { $0 + "\n" }.joined().utf8))
        return path
    }

    static let call = #"{"type":"event","ts_ns":1760000000000000000,"io_type":"tool_call","tool_name":"search","agent_id":"a","inputs":{"q":"x"},"outputs":{"r":1},"call_index":5}"#
    static let secret = #"{"type":"event","ts_ns":1760000000000000001,"io_type":"llm_call","tool_name":"openai","agent_id":"a","inputs":{"headers":{"Authorization":"Bearer sk-live-abcdefghijklmnopqrstuvwx"}},"outputs":{"r":1}}"#

    func sessionNames() throws -> [String] {
        let result = try rrlog(["ls", "--json"])
        guard result.status == 0, let value = try? JSONValue.parse(Array(result.stdout.utf8)), let list = value.arrayValue else { return [] }
        return list.compactMap { $0["name"]?.stringValue }.sorted()
    }

    func testAppendContinuesCallIndexesAcrossInvocations() throws {
        let input = file("one.jsonl", [Self.call])
        XCTAssertEqual(try rrlog(["append", "--create", "S", input]).status, 0)
        let second = try rrlog(["append", "S", input])
        XCTAssertEqual(second.status, 0, "\(second)")
        for index in ["0", "1"] {
            let got = try rrlog(["get", "S", "--io-type", "tool_call", "--tool", "search", "--agent", "a", "--inputs", #"{"q":"x"}"#, "--call-index", index])
            XCTAssertEqual(got.status, 0, "call \(index): \(got)")
        }
        let lines = try rrlog(["cat", "S", "--json"]).lines.map { try JSONValue.parse(Array($0.utf8)) }
        XCTAssertEqual(lines.map { $0["call_index"] }, [.int(0), .int(1)], "the stored line says the index its key has, not the input's 5")
    }

    func testImportNeverTouchesAnExistingSessionUnlessAsked() throws {
        let input = file("calls.jsonl", [Self.call, Self.secret])
        XCTAssertEqual(try rrlog(["import", input, "--session", "S"]).status, 0)
        let again = try rrlog(["import", input, "--session", "S"])
        XCTAssertEqual(again.status, 1, "\(again)")
        XCTAssertTrue(again.stderr.contains("--append"), again.stderr)
        let strategy = try rrlog(["import", input, "--session", "latest"])
        XCTAssertNotEqual(strategy.status, 0)
        XCTAssertTrue(strategy.stderr.contains("strategy"), strategy.stderr)
        // The same bytes again with --append: refused, the session keeps its two records.
        let duplicate = try rrlog(["import", input, "--session", "S", "--append"])
        XCTAssertEqual(duplicate.status, 1, "\(duplicate)")
        XCTAssertTrue(duplicate.stderr.contains("--allow-duplicate"), duplicate.stderr)
        let other = file("other.jsonl", [Self.call])
        XCTAssertEqual(try rrlog(["import", other, "--session", "S", "--append"]).status, 0)
        let info = try JSONValue.parse(Array(try rrlog(["info", "S", "--json"]).stdout.utf8))
        XCTAssertEqual(info["records"], .int(3))
    }

    func testImportRedactsIOEventsInEverySession() throws {
        let input = file("secret.jsonl", [Self.secret])
        XCTAssertEqual(try rrlog(["import", input, "--session", "S"]).status, 0)
        let shown = try rrlog(["cat", "S", "--json"]).stdout
        XCTAssertFalse(shown.contains("sk-live"), shown)
        XCTAssertEqual(try rrlog(["verify", "S", "--secrets"]).status, 0)
    }

    func testAFailedImportLeavesNothing() throws {
        var lines = (0..<5000).map { i in Self.call.replacingOccurrences(of: #""q":"x""#, with: #""q":"x\#(i)""#) }
        lines.append(#"{"type":"event","ts_ns":1}"#)
        let bad = file("bad.jsonl", lines)
        let good = file("good.jsonl", [Self.call])
        let result = try rrlog(["import", good, bad])
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertTrue(result.stderr.contains("bad.jsonl:5001"), result.stderr)
        XCTAssertEqual(try sessionNames(), [], "neither file's session is kept")
        let empty = file("empty.jsonl", [])
        let none = try rrlog(["import", empty])
        XCTAssertEqual(none.status, 1, "\(none)")
        XCTAssertTrue(none.stderr.contains("empty"), none.stderr)
        XCTAssertEqual(try sessionNames(), [])
        // A failed append to an existing session leaves it as it was.
        XCTAssertEqual(try rrlog(["import", good, "--session", "S"]).status, 0)
        XCTAssertEqual(try rrlog(["append", "S", bad]).status, 1)
        let info = try JSONValue.parse(Array(try rrlog(["info", "S", "--json"]).stdout.utf8))
        XCTAssertEqual(info["records"], .int(1))
        XCTAssertEqual(try rrlog(["verify", "S"]).status, 0)
    }

    /// Requests that got a 200 are in the session after a SIGKILL, and the session shows that its
    /// capture died.
    /// Starts `rrlog capture NAME` on a free loopback port; returns the process and the port.
    func startCapture(_ name: String, _ extra: [String] = []) throws -> (Process, Int) {
        let process = Process()
        process.executableURL = try T.executable()
        process.arguments = ["capture", name, "--listen", "127.0.0.1:0", "--store", store] + extra
        process.currentDirectoryURL = URL(fileURLWithPath: work)
        let errPath = work + "/capture-\(name).err"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        for _ in 0..<600 {
            let text = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            if let range = text.range(of: "http://127.0.0.1:"), let port = Int(text[range.upperBound...].prefix { $0.isNumber }) {
                return (process, port)
            }
            usleep(50_000)
        }
        process.terminate()
        throw TestPaths.missing("rrlog capture never said where it listens")
    }

    /// Replay as the OTLP record-replay service does it: timestamps relative by default, several
    /// services, progress lines every --log-interval; into a real `rrlog capture`.
    func testReplayOfSeveralServicesWithRelativeTimesAndProgressLines() throws {
        XCTAssertEqual(try rrlog(["seed", "--pattern", "complex-topology", "--duration", "3", "--rate", "4", "--session", "seeded"]).status, 0)
        let (process, port) = try startCapture("C")
        defer { if process.isRunning { process.terminate() } }
        let before = Int64(Date().timeIntervalSince1970 * 1e9)
        let replay = try rrlog([
            "replay", "seeded", "--endpoint", "http://127.0.0.1:\(port)", "--fast", "--service", "payment,fraud", "--service", "notification",
            "--log-interval", "0.000001",
        ])
        XCTAssertEqual(replay.status, 0, "\(replay)")
        let progress = replay.stderr.split(separator: "\n").filter { $0.hasPrefix("replay: ") }
        XCTAssertEqual(progress.count, 3, "one line per request at this interval: \(replay.stderr)")
        XCTAssertTrue(progress.last?.contains("3 of 3 requests") == true, "\(progress)")
        process.interrupt()
        process.waitUntilExit()
        let captured = try rrlog(["export", "C", "--format", "otlp-json"])
        XCTAssertEqual(captured.status, 0, "\(captured)")
        var services = Set<String>()
        var starts: [Int64] = []
        for line in captured.lines where !line.isEmpty {
            for rs in try JSONValue.parse(Array(line.utf8))["resourceSpans"]?.arrayValue ?? [] {
                for attribute in rs["resource"]?["attributes"]?.arrayValue ?? [] where attribute["key"]?.stringValue == "service.name" {
                    if let name = attribute["value"]?["stringValue"]?.stringValue { services.insert(name) }
                }
                for ss in rs["scopeSpans"]?.arrayValue ?? [] {
                    starts += (ss["spans"]?.arrayValue ?? []).compactMap { $0["startTimeUnixNano"]?.stringValue.flatMap { Int64($0) } }
                }
            }
        }
        XCTAssertEqual(services, ["payment", "fraud", "notification"])
        XCTAssertGreaterThanOrEqual(starts.min() ?? 0, before - 1_000_000_000, "relative: the session starts when the replay does, not in 2025")
    }

    /// POSTs `body` (OTLP JSON) to `path` and returns the status.
    func post(_ port: Int, _ path: String, _ body: Data) -> Int { postJSON(port: port, path: path, body) }

    /// The OTLP record-replay service's capture settings: accepted signals, a description, a size
    /// and a duration after which the session completes by itself, compression as it is written.
    func testCaptureSettingsOfTheReplacedService() throws {
        let spans = (0..<50).map { i in
            #"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"\#(String(format: "%016x", i + 1))","name":"GET /api/items","kind":2,"startTimeUnixNano":"1760000000000000000","endTimeUnixNano":"1760000000100000000","attributes":[{"key":"http.route","value":{"stringValue":"/api/items"}}]}"#
        }.joined(separator: ",")
        let traces = Data(#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[\#(spans)]}]}]}"#.utf8)
        let (sized, port) = try startCapture("S", ["--signals", "traces", "--description", "checkout load test", "--max-size-mb", "0.05"])
        defer { if sized.isRunning { sized.terminate() } }
        XCTAssertEqual(post(port, "/v1/metrics", Data(#"{"resourceMetrics":[]}"#.utf8)), 404, "metrics are not accepted")
        var accepted = 0
        while sized.isRunning && accepted < 200 {
            let status = post(port, "/v1/traces", traces)
            if status == 200 { accepted += 1 } else { break }
        }
        sized.waitUntilExit()
        XCTAssertEqual(sized.terminationStatus, 0, "the session completed by itself")
        let info = try JSONValue.parse(Array(try rrlog(["info", "S", "--json"]).stdout.utf8))
        XCTAssertEqual(info["status"]?.stringValue, "completed")
        XCTAssertEqual(info["description"]?.stringValue, "checkout load test")
        let stored = info["bytes_stored"]?.int64Value ?? 0
        XCTAssertGreaterThanOrEqual(stored, 50_000, "it stopped once 0.05 MB were stored")
        XCTAssertEqual(try rrlog(["export", "S", "--format", "otlp-json"]).lines.count, accepted, "every acknowledged request is stored")
        XCTAssertGreaterThan(info["compression_ratio"]?.doubleValue ?? 0, 2, "compressed as written (lz4)")

        let (timed, _) = try startCapture("T", ["--max-duration-minutes", "0.005"])
        defer { if timed.isRunning { timed.terminate() } }
        timed.waitUntilExit()
        XCTAssertEqual(timed.terminationStatus, 0)
        XCTAssertEqual(try rrlog(["capture", "U", "--signals", "spans"]).status, 2)
    }

    func testCaptureKilledAfterAcknowledgingLosesNothing() throws {
        let (process, bound) = try startCapture("C")
        defer { if process.isRunning { process.terminate() } }
        let body = Data(#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"op","kind":1,"startTimeUnixNano":"1760000000000000000","endTimeUnixNano":"1760000000100000000"}]}]}]}"#.utf8)
        var acknowledged = 0
        for _ in 0..<40 where post(bound, "/v1/traces", body) == 200 { acknowledged += 1 }
        XCTAssertEqual(acknowledged, 40)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let stored = try rrlog(["export", "C", "--format", "otlp-json"])
        XCTAssertEqual(stored.status, 0, "\(stored)")
        XCTAssertEqual(stored.lines.count, 40, "every acknowledged request is stored, one OTLP JSON request a line")
        let info = try JSONValue.parse(Array(try rrlog(["info", "C", "--json"]).stdout.utf8))
        XCTAssertEqual(info["status"], .string("interrupted"), "\(info)")
        XCTAssertEqual(try rrlog(["verify", "C"]).status, 0)
    }

    func testCaptureOnATakenPortSaysSoAndLeavesNoSession() throws {
        let (first, taken) = try startCapture("A")
        defer {
            first.terminate()
            first.waitUntilExit()
        }
        let second = try rrlog(["capture", "B", "--listen", "127.0.0.1:\(taken)"])
        XCTAssertEqual(second.status, 1, "\(second)")
        XCTAssertTrue(second.stderr.contains("already in use"), second.stderr)
        XCTAssertFalse(try sessionNames().contains("B"))
    }
}

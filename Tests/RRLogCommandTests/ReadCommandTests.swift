import Foundation
import RRLog
import XCTest

/// `seed`, `trace`, `timeline`, `summary` and `dump` from the command line: what they print for
/// real sessions, and what bad arguments get.
final class ReadCommandTests: StoreCommandTestCase {
    /// `Tests/Fixtures/io/llm-session-200.jsonl`: 200 lines of an agent session.
    static let shortFixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/io/llm-session-200.jsonl").path

    func json(_ result: CommandResult, file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
        XCTAssertEqual(result.status, 0, "\(result)", file: file, line: line)
        return try JSONValue.parse(Array(result.stdout.utf8))
    }

    /// The spans of an otlp-json export, one request a line.
    func spans(_ export: CommandResult) throws -> [JSONValue] {
        XCTAssertEqual(export.status, 0, "\(export)")
        var out: [JSONValue] = []
        for line in export.lines where !line.isEmpty {
            let request = try JSONValue.parse(Array(line.utf8))
            for rs in request["resourceSpans"]?.arrayValue ?? [] {
                for ss in rs["scopeSpans"]?.arrayValue ?? [] { out += ss["spans"]?.arrayValue ?? [] }
            }
        }
        return out
    }

    func testSeedIsDeterministicAndChecksItsArguments() throws {
        let args = ["seed", "--duration", "2", "--rate", "5", "--seed", "3"]
        XCTAssertEqual(try rrlog(args + ["--session", "a"]).status, 0)
        XCTAssertEqual(try rrlog(args + ["--session", "b"]).status, 0)
        XCTAssertEqual(try rrlog(["seed", "--duration", "2", "--rate", "5", "--seed", "4", "--session", "c"]).status, 0)
        let a = try rrlog(["export", "a", "--format", "otlp-json"]), b = try rrlog(["export", "b", "--format", "otlp-json"])
        XCTAssertEqual(try spans(a).count, 10 * 10, "2 s at 5 traces/s, 10 spans a trace")
        XCTAssertEqual(a.stdout, b.stdout, "the same arguments give the same spans")
        XCTAssertNotEqual(a.stdout, try rrlog(["export", "c", "--format", "otlp-json"]).stdout)
        let bad = try rrlog(["seed", "--pattern", "nonsense"])
        XCTAssertEqual(bad.status, 2, "\(bad)")
        XCTAssertTrue(bad.stderr.contains("basic-topology"), bad.stderr)
    }

    /// complex-topology: at least 8 services, calls 4+ levels deep, databases and a queue.
    /// training-phases: four phases whose trace rates and error rates differ, in the annotations.
    func testSeedPatternsOfTheReplacedService() throws {
        XCTAssertEqual(try rrlog(["seed", "--pattern", "complex-topology", "--duration", "2", "--rate", "5", "--session", "c"]).status, 0)
        let spans = try spans(try rrlog(["export", "c", "--format", "otlp-json"]))
        var services = Set<String>()
        let export = try rrlog(["export", "c", "--format", "otlp-json"])
        for line in export.lines where !line.isEmpty {
            for rs in try JSONValue.parse(Array(line.utf8))["resourceSpans"]?.arrayValue ?? [] {
                for attribute in rs["resource"]?["attributes"]?.arrayValue ?? [] where attribute["key"]?.stringValue == "service.name" {
                    if let name = attribute["value"]?["stringValue"]?.stringValue { services.insert(name) }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(services.count, 8, "\(services)")
        // Depth: follow parents from each span.
        let parents = Dictionary(spans.compactMap { s in s["spanId"]?.stringValue.map { ($0, s["parentSpanId"]?.stringValue ?? "") } }, uniquingKeysWith: { a, _ in a })
        func depth(_ id: String) -> Int { (parents[id]).map { $0.isEmpty ? 1 : 1 + depth($0) } ?? 0 }
        let serverDepth = spans.filter { $0["kind"]?.int64Value == 2 }.compactMap { $0["spanId"]?.stringValue }.map(depth).max() ?? 0
        XCTAssertGreaterThanOrEqual(serverDepth, 8, "server spans nest deeply (client spans between services count too)")
        let kinds = Set(spans.compactMap { $0["kind"]?.int64Value })
        XCTAssertTrue(kinds.isSuperset(of: [2, 3, 4, 5]), "server, client, producer and consumer spans: \(kinds)")
        XCTAssertTrue(export.stdout.contains("db.system") && export.stdout.contains("messaging.system"), "databases and a queue")

        let seed = ["seed", "--pattern", "training-phases", "--duration", "10", "--rate", "20", "--seed", "9", "--error-rate", "0.1"]
        XCTAssertEqual(try rrlog(seed + ["--session", "t", "--description", "phases for training"]).status, 0)
        let info = try json(try rrlog(["info", "t", "--json"]))
        XCTAssertEqual(info["description"]?.stringValue, "phases for training")
        let annotations = info["annotations"]
        XCTAssertEqual(annotations?["test.phase.1"]?.stringValue, "warm-up 0s-2s rate 6/s error_rate 0.05")
        XCTAssertEqual(annotations?["test.phase.3"]?.stringValue, "spike 6s-8s rate 60/s error_rate 0.4")
        XCTAssertNotNil(annotations?["test.phase.4"])
        // Traces (root spans) per phase follow the rates: 12, 80, 120 and 20.
        let roots = try self.spans(try rrlog(["export", "t", "--format", "otlp-json"])).filter { ($0["parentSpanId"]?.stringValue ?? "").isEmpty }
        // The default start, 2025-01-01T00:00:00Z; each trace starts within half its spacing of its slot.
        let start: Int64 = 1_735_689_600_000_000_000
        var perPhase = [0, 0, 0, 0]
        for root in roots {
            let t = Double((root["startTimeUnixNano"]?.stringValue.flatMap { Int64($0) } ?? 0) - start) / 1e9
            perPhase[t < 2 ? 0 : t < 6 ? 1 : t < 8 ? 2 : 3] += 1
        }
        XCTAssertEqual(perPhase, [12, 80, 120, 20])
        XCTAssertEqual(try rrlog(seed + ["--session", "t2"]).status, 0)
        XCTAssertEqual(try rrlog(["export", "t", "--format", "otlp-json"]).stdout, try rrlog(["export", "t2", "--format", "otlp-json"]).stdout, "deterministic")
    }

    /// `rrlog stream` prints a stream's chunks as they were received; `summary` times each stream.
    func testStreamPlaysAStreamBackAndSummaryTimesIt() throws {
        XCTAssertEqual(try rrlog(["import", Self.shortFixture, "--session", "io"]).status, 0)
        let lines = try String(contentsOfFile: Self.shortFixture, encoding: .utf8).split(separator: "\n").map { try JSONValue.parse(Array($0.utf8)) }
        let id = try XCTUnwrap(lines.first { $0["type"]?.stringValue == "stream_start" }?["stream_id"]?.stringValue)
        let start = try XCTUnwrap(lines.first { $0["type"]?.stringValue == "stream_start" && $0["stream_id"]?.stringValue == id }?["ts_ns"]?.int64Value)
        let chunks = lines.filter { $0["type"]?.stringValue == "chunk" && $0["stream_id"]?.stringValue == id }
        XCTAssertGreaterThan(chunks.count, 3)
        let played = try rrlog(["stream", "io", id, "--fast"])
        XCTAssertEqual(played.status, 0, "\(played)")
        XCTAssertEqual(played.stdout, chunks.compactMap { $0["content"]?.stringValue }.joined() + "\n")
        XCTAssertTrue(played.stderr.contains("\(id) llm_call/") && played.stderr.contains("\(chunks.count) chunks"), played.stderr)

        let summary = try json(try rrlog(["summary", "io", "--json"]))
        let timed = try XCTUnwrap(summary["streams"]?.arrayValue?.first { $0["stream_id"]?.stringValue == id })
        XCTAssertEqual(timed["chunks"]?.int64Value, Int64(chunks.count))
        let firstMs = Double((chunks[0]["ts_ns"]?.int64Value ?? 0) - start) / 1e6
        XCTAssertEqual(timed["time_to_first_chunk_ms"]?.doubleValue ?? -1, firstMs, accuracy: 1e-6)
        let gaps = zip(chunks.dropFirst(), chunks).map { Double(($0["ts_ns"]?.int64Value ?? 0) - ($1["ts_ns"]?.int64Value ?? 0)) / 1e6 }.sorted()
        XCTAssertEqual(timed["gap_p50_ms"]?.doubleValue ?? -1, gaps[(gaps.count + 1) / 2 - 1], accuracy: 1e-6)
        XCTAssertEqual(timed["gap_p99_ms"]?.doubleValue ?? -1, gaps.last ?? 0, accuracy: 1e-6, "fewer than 100 gaps: p99 is the largest")
        let listed = try rrlog(["stream", "io"])
        XCTAssertEqual(listed.status, 0)
        XCTAssertTrue(listed.stdout.contains(id), listed.stdout)
        let missing = try rrlog(["stream", "io", "no-such-stream"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("has no stream 'no-such-stream'"), missing.stderr)
        XCTAssertEqual(try rrlog(["stream", "io", id, "--speed", "0"]).status, 2)
    }

    func testTraceFindsEverySpanOfATrace() throws {
        XCTAssertEqual(try rrlog(["seed", "--duration", "2", "--rate", "5", "--session", "s"]).status, 0)
        let all = try spans(try rrlog(["export", "s", "--format", "otlp-json"]))
        let id = try XCTUnwrap(all.first?["traceId"]?.stringValue)
        let expected = Set(all.filter { $0["traceId"]?.stringValue == id }.compactMap { $0["spanId"]?.stringValue })
        let printed = try json(try rrlog(["trace", "s", id, "--json"]))
        let got = Set((printed.arrayValue ?? []).compactMap { ($0["span_id"] ?? $0["spanId"])?.stringValue })
        XCTAssertEqual(got, expected)
        XCTAssertFalse(expected.isEmpty)
        let tree = try rrlog(["trace", "s", id])
        XCTAssertEqual(tree.status, 0)
        XCTAssertEqual(tree.lines.filter { !$0.isEmpty }.count, expected.count + 2, "a summary, column titles and a line per span: \(tree.stdout)")
        for span in expected { XCTAssertTrue(tree.stdout.contains(span), "span \(span) printed") }
        let missing = try rrlog(["trace", "s", String(repeating: "0", count: 32)])
        XCTAssertEqual(missing.status, 1, "\(missing)")
        XCTAssertEqual(try rrlog(["trace", "s", "xyz"]).status, 2)
    }

    func testSummaryAndTimelineCountWhatWasImported() throws {
        XCTAssertEqual(try rrlog(["import", Self.shortFixture, "--session", "io"]).status, 0)
        let text = try String(contentsOfFile: Self.shortFixture, encoding: .utf8)
        var byType: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            if let type = (try JSONValue.parse(Array(line.utf8)))["type"]?.stringValue { byType[type, default: 0] += 1 }
        }
        let summary = try json(try rrlog(["summary", "io", "--json"]))
        XCTAssertEqual(summary["records"], .int(200))
        for (type, count) in byType { XCTAssertEqual(summary["by_kind"]?[type], .int(Int64(count)), type) }
        let timeline = try rrlog(["timeline", "io", "--limit", "5"])
        XCTAssertEqual(timeline.status, 0)
        XCTAssertEqual(timeline.lines.count, 5, timeline.stdout)
        XCTAssertTrue(timeline.lines.first?.contains("checkpoint start") == true, timeline.stdout)
        XCTAssertTrue(timeline.lines.first?.contains("+0.000 ms") == true, timeline.stdout)
        let none = try rrlog(["timeline", "nope"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.contains("no session named 'nope'"), none.stderr)
    }

    /// Calls that carry task_id, step and parent_step: the timeline shows them, and `--steps`
    /// draws each task's steps as a tree, marking parents that were not recorded or that loop.
    func testTimelineDrawsTaskStepsAsATree() throws {
        func call(_ ns: Int, _ tool: String, task: String?, step: Int?, parent: Int?) -> String {
            var members: [String: JSONValue] = [
                "type": "event", "ts_ns": .int(Int64(1_000_000_000 + ns * 1_000_000)), "io_type": "tool_call", "tool_name": .string(tool),
                "agent_id": "a", "inputs": ["n": .int(Int64(ns))], "outputs": [:],
            ]
            if let task { members["task_id"] = .string(task) }
            if let step { members["step"] = .int(Int64(step)) }
            if let parent { members["parent_step"] = .int(Int64(parent)) }
            return JSONValue.object(members).serialized()
        }
        let lines = [
            call(0, "plan", task: "A", step: 1, parent: nil), call(1, "search", task: "A", step: 2, parent: 1),
            call(2, "fetch", task: "A", step: 3, parent: 1), call(3, "summarize", task: "A", step: 4, parent: 2),
            call(4, "orphan", task: "B", step: 1, parent: 9), call(5, "loose", task: nil, step: nil, parent: nil),
            call(6, "ring-a", task: "A", step: 5, parent: 6), call(7, "ring-b", task: "A", step: 6, parent: 5),
            call(8, "again", task: "A", step: 2, parent: 1),
        ]
        let file = work + "/steps.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try rrlog(["append", "S", file, "--create"]).status, 0)

        let tree = try rrlog(["timeline", "S", "--steps"])
        XCTAssertEqual(tree.status, 0, "\(tree)")
        let tools = ["plan", "search", "fetch", "summarize", "orphan", "loose", "ring-a", "ring-b", "again"]
        let shape = tree.lines.map { line -> String in
            let words = line.split(separator: " ").map(String.init)
            let indent = String(line.prefix { $0 == " " })
            let mark = line.contains("(parent step") ? " !" : ""
            let tool = words.first { tools.contains($0) } ?? ""
            return indent + words.prefix(2).joined(separator: " ") + mark + " " + tool
        }
        XCTAssertEqual(shape, [
            "task A ", "  step 1 plan", "    step 2 search", "    step 2 again", "      step 4 summarize", "    step 3 fetch",
            "  step 5 ! ring-a", "    step 6 ring-b", "task B ", "  step 1 ! orphan", "(no task) ", "  no step loose",
        ], tree.stdout)
        XCTAssertTrue(tree.stdout.contains("(parent step 9 not recorded)"), tree.stdout)
        XCTAssertTrue(tree.stdout.contains("(parent step 6 loops)"), tree.stdout)

        let flat = try rrlog(["timeline", "S"])
        XCTAssertTrue(flat.lines[1].hasSuffix("task=A step=2 parent=1"), flat.stdout)
        XCTAssertTrue(flat.lines[5].hasSuffix("agent=a"), "a call without a task says none: \(flat.stdout)")
        XCTAssertEqual(try rrlog(["timeline", "S", "--steps", "--limit", "3"]).lines.count, 4, "three lines and a note of the rest")
        XCTAssertEqual(try rrlog(["timeline", "S", "--steps", "--chunks"]).status, 2)
    }

    /// `--segment-size-mb` rotates the session's segment files at that size; out of range it is a
    /// usage error that creates nothing.
    func testSegmentSizeRotatesFiles() throws {
        // Text that lz4 cannot shrink (random letters), so the files are as large as the lines.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        let lines = (0..<1500).map { i in
            let text = String((0..<2000).map { _ in
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                return letters[Int(state % 36)]
            })
            return JSONValue.object([
                "type": "event", "ts_ns": .int(Int64(i)), "io_type": "tool_call", "tool_name": "t", "agent_id": "", "inputs": ["i": .int(Int64(i))],
                "outputs": ["text": .string(text)],
            ]).serialized()
        }
        let file = work + "/big.jsonl"
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        for (command, name) in [(["append", "A", file, "--create", "--codec", "none"], "A"), (["import", file, "--session", "I"], "I")] {
            let result = try rrlog(command + ["--segment-size-mb", "1"])
            XCTAssertEqual(result.status, 0, "\(result)")
            let segments = try json(try rrlog(["info", name, "--json"]))["segments"]?.int64Value ?? 0
            XCTAssertGreaterThanOrEqual(segments, 2, "3 MB of lines in 1 MiB files: \(command)")
        }
        XCTAssertEqual(try json(try rrlog(["info", "A", "--json"]))["records"], 1500)
        for bad in ["0.5", "abc", "2000000"] {
            let result = try rrlog(["append", "B", file, "--create", "--segment-size-mb", bad])
            XCTAssertEqual(result.status, 2, "\(bad): \(result)")
            XCTAssertTrue(result.stderr.contains("--segment-size-mb"), result.stderr)
        }
        XCTAssertNotEqual(try rrlog(["info", "B"]).status, 0, "a usage error creates nothing")
    }

    func testDumpPrintsEveryRecordOfALog() throws {
        XCTAssertEqual(try rrlog(["import", Self.shortFixture, "--session", "io"]).status, 0)
        let id = try XCTUnwrap(try json(try rrlog(["info", "io", "--json"]))["id"]?.stringValue)
        let log = store + "/sessions/" + id + "/log"
        let all = try T.run(["dump", log, "--width", "0"], in: work)
        XCTAssertEqual(all.status, 0, "\(all)")
        XCTAssertEqual(all.lines.count, 200)
        XCTAssertEqual(all.lines.map { Int($0.split(separator: "\t")[0]) }, (1...200).map { Optional($0) })
        let some = try T.run(["dump", log, "--from", "10", "--limit", "3"], in: work)
        XCTAssertEqual(some.lines.map { $0.split(separator: "\t")[0] }, ["10", "11", "12"])
        let missing = try T.run(["dump", work + "/no-such.rrseg"], in: work)
        XCTAssertEqual(missing.status, 1, "\(missing)")
        XCTAssertTrue(missing.stderr.contains("no-such.rrseg"), missing.stderr)
    }
}

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

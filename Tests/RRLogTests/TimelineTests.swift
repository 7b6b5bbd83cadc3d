import Foundation
import RRLog
import RRLogCatalog
import RRLogStorage
import RRLogTestSupport
import XCTest

/// `SessionTimelines`: buckets counted from chunk summaries agree with counting every record.
final class TimelineTests: XCTestCase {
    /// A session of `calls` IO events (agents a0-a2, tools by call) one millisecond apart, every
    /// tenth one a stream of 3 chunks, in small chunks and several segments; returns its lines'
    /// timestamps and agents (chunk records under their stream's agent).
    func makeSession(_ store: Store, calls: Int) throws -> (SessionManifest, [(Int64, String)]) {
        let manifest = try store.createSession(name: "timeline")
        var options = LogOptions()
        options.chunkSizeBytes = 2048
        options.segmentRecordCountMax = 700
        let writer = try store.openWriter(manifest, options: options)
        var expected: [(Int64, String)] = []
        var ts: Int64 = 1_000_000_000
        func line(_ value: JSONValue, _ kind: RecordKind, _ agent: String) throws {
            _ = try writer.append(RecordInput(timestampNs: ts, kind: kind.rawValue, payload: value.serializedBytes()))
            expected.append((ts, agent))
            ts += 1_000_000
        }
        for i in 0..<calls {
            let agent = "a\(i % 3)", tool = i % 2 == 0 ? "search" : "fetch"
            if i % 10 == 0 {
                let id = "s\(i)"
                try line(["type": "stream_start", "stream_id": .string(id), "io_type": "llm", "agent_id": .string(agent), "tool_name": "chat", "inputs": [:]], .streamStart, agent)
                for c in 0..<3 { try line(["type": "chunk", "stream_id": .string(id), "content": .string("t\(c)")], .chunk, agent) }
                try line(["type": "stream_finish", "stream_id": .string(id)], .streamFinish, agent)
            } else {
                try line(["type": "event", "io_type": "tool_call", "agent_id": .string(agent), "tool_name": .string(tool), "inputs": ["i": .int(Int64(i))]], .event, agent)
            }
        }
        return (try writer.close(), expected)
    }

    func testBucketsFromSummariesAgreeWithEveryRecordCounted() throws {
        let store = try Store(path: TestPaths.temporaryDirectory(self, prefix: "rrlog-timeline") + "/store")
        let (manifest, records) = try makeSession(store, calls: 3000)
        let timelines = SessionTimelines(store: store)
        let reader = try store.openReader(manifest)
        XCTAssertGreaterThan(reader.segments.count, 3, "several segments")

        // The whole session, grouped by agent: summaries (estimates where a chunk straddles a
        // border) against the exact count over the same window.
        let estimated = try timelines.timeline(of: manifest, TimelineQuery(buckets: 50, group: .agent, exactChunkLimit: 0))
        let exact = try timelines.timeline(of: manifest, TimelineQuery(buckets: 50, group: .agent, exactChunkLimit: .max))
        XCTAssertTrue(exact.exact)
        XCTAssertEqual(exact.counts.reduce(0, +), records.count)
        XCTAssertEqual(estimated.fromNs, records.first!.0)
        XCTAssertEqual(estimated.toNs, records.last!.0 + 1)
        var perBucket = Array(repeating: 0, count: 50)
        var perAgent: [String: Int] = [:]
        for (ts, agent) in records {
            perBucket[Int((ts - exact.fromNs) / exact.bucketNs)] += 1
            perAgent[agent, default: 0] += 1
        }
        XCTAssertEqual(exact.counts, perBucket)
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: exact.lanes.map { ($0.name, $0.total) }), perAgent, "stream chunks count under their stream's agent")
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: estimated.lanes.map { ($0.name, $0.total) }), perAgent)
        // An estimate moves a straddling chunk's records by at most a bucket: compare sums of
        // neighbouring buckets, and the totals exactly.
        XCTAssertEqual(estimated.counts.reduce(0, +), records.count, "spreading keeps the sum")
        for b in stride(from: 0, to: 48, by: 3) {
            let e = estimated.counts[b...(b + 2)].reduce(0, +), x = exact.counts[b...(b + 2)].reduce(0, +)
            XCTAssertEqual(Double(e), Double(x), accuracy: Double(x) * 0.1 + 30, "buckets \(b)-\(b + 2)")
        }

        // A narrow window: few chunks, counted exactly; group by kind.
        let from = records[1000].0, to = records[1100].0
        let window = try timelines.timeline(of: manifest, TimelineQuery(buckets: 10, fromNs: from, toNs: to, group: .kind))
        XCTAssertTrue(window.exact)
        XCTAssertEqual(window.counts.reduce(0, +), 100)
        XCTAssertEqual(window.counts, Array(repeating: 10, count: 10))

        // The lanes beyond `topGroups` are summed.
        let top = try timelines.timeline(of: manifest, TimelineQuery(buckets: 5, group: .agent, topGroups: 1, exactChunkLimit: 0))
        XCTAssertEqual(top.lanes.map(\.name).last, TimelineGrouping.otherValues)
        XCTAssertEqual(top.lanes.map(\.total).reduce(0, +), records.count)
    }

    func testSummaryFilesAreWrittenAndRebuiltWhenDamaged() throws {
        let root = TestPaths.temporaryDirectory(self, prefix: "rrlog-timeline")
        let store = try Store(path: root + "/store")
        let (manifest, records) = try makeSession(store, calls: 1500)
        XCTAssertGreaterThan(try SessionTimelines(store: store).prepare(manifest), 1)
        let directory = root + "/store/sessions/\(manifest.id)/summaries"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }.sorted()
        XCTAssertEqual(files.count, try store.openReader(manifest).segments.count)
        // A fresh instance reads the files instead of decoding the segments.
        XCTAssertEqual(try SessionTimelines(store: store).prepare(manifest), 0)
        // A truncated file and one that lies about its counts are made again.
        let first = directory + "/" + files[0], second = directory + "/" + files[1]
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: first))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: first))
        var text = try String(contentsOfFile: second, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"records\":", with: "\"records\":1", options: [], range: text.range(of: "\"records\":"))
        try text.write(toFile: second, atomically: true, encoding: .utf8)
        let fresh = SessionTimelines(store: store)
        XCTAssertEqual(try fresh.prepare(manifest), 2)
        let t = try fresh.timeline(of: manifest, TimelineQuery(buckets: 7, group: .tool, exactChunkLimit: 0))
        XCTAssertEqual(t.lanes.map(\.total).reduce(0, +), records.count)
        XCTAssertThrowsError(try fresh.timeline(of: manifest, TimelineQuery(buckets: 0)))
        XCTAssertThrowsError(try fresh.timeline(of: manifest, TimelineQuery(fromNs: 10, toNs: 10)))
    }
}

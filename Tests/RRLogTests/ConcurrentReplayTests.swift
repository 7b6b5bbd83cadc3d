import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogStorage
import RRLogTestSupport
import Synchronization
import XCTest

/// One player serving many threads and tasks at once, lookups through a shared `LogSnapshot`,
/// and the recorder's `recordSuspending`, `flush` and `stop`, which suspend instead of blocking.
final class ConcurrentReplayTests: XCTestCase {
    func makeStore() throws -> Store {
        try Store(path: TestPaths.temporaryDirectory(self, prefix: "rrlog-concurrent"))
    }

    /// Records `calls` distinct calls, each made `repeats` times; the outputs say which call and
    /// which repetition.
    func recordRepeatedCalls(_ store: Store, name: String, calls: Int, repeats: Int, codec: Codec = .lz4) async throws {
        var options = RecordingOptions(name: name)
        options.codec = codec
        let recorder = try Recorder.start(store: store, options: options)
        for r in 0..<repeats {
            for c in 0..<calls {
                recorder.record(ioType: "tool_call", agent: "a", tool: "t", inputs: ["call": .int(Int64(c))],
                                outputs: ["call": .int(Int64(c)), "repeat": .int(Int64(r))])
            }
        }
        let summary = try await recorder.stop()
        XCTAssertEqual(summary.events, calls * repeats)
    }

    /// What one caller got: per call, the repetitions answered, in the order it got them.
    typealias Answers = [Int: [Int]]

    /// Makes `count` lookups of the calls in turn (starting at `offset`) and checks each answer
    /// against the call asked for and its own call index.
    static func lookUp(_ player: Player, count: Int, calls: Int, offset: Int, problems: Collector<String>) -> Answers {
        var answers: Answers = [:]
        for step in 0..<count {
            let c = (step + offset) % calls
            do {
                let call = try player.lookup(ioType: "tool_call", agent: "a", tool: "t", inputs: ["call": .int(Int64(c))])
                let r = Int(call.outputs["repeat"]?.int64Value ?? -1)
                if call.outputs["call"]?.int64Value != Int64(c) { problems.add("call \(c) answered with \(call.outputs)") }
                if call.key.callIndex != UInt32(r) { problems.add("call \(c): index \(call.key.callIndex) answered repetition \(r)") }
                answers[c, default: []].append(r)
            } catch {
                problems.add("call \(c): \(error)")
            }
        }
        return answers
    }

    /// Every repetition of every call answered exactly once over all callers, and each caller got
    /// the repetitions of a call in increasing order.
    func checkAnswers(_ all: [Answers], calls: Int, repeats: Int, file: StaticString = #filePath, line: UInt = #line) {
        for (n, answers) in all.enumerated() {
            for (c, got) in answers where got != got.sorted() || Set(got).count != got.count {
                XCTFail("caller \(n) got the repetitions of call \(c) out of order: \(got)", file: file, line: line)
            }
        }
        for c in 0..<calls {
            let got = all.flatMap { $0[c] ?? [] }.sorted()
            XCTAssertEqual(got, Array(0..<repeats), "call \(c)", file: file, line: line)
        }
    }

    func testLookupsFromManyThreadsAnswerEveryRepetitionOnceAndInOrder() async throws {
        let store = try makeStore()
        let (calls, repeats, threads) = (50, 40, 8)
        try await recordRepeatedCalls(store, name: "threads", calls: calls, repeats: repeats)
        let player = try Player(store: store, session: "threads", mode: .strict)
        let problems = Collector<String>()
        let results = Collector<Answers>()
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            results.add(Self.lookUp(player, count: calls * repeats / threads, calls: calls, offset: t * 7, problems: problems))
        }
        XCTAssertEqual(problems.all.prefix(10), [])
        checkAnswers(results.all, calls: calls, repeats: repeats)
        XCTAssertEqual(player.statistics.total.lookups, calls * repeats)
        XCTAssertEqual(player.statistics.total.hits, calls * repeats)
        XCTAssertEqual(player.statistics.byIOType["tool_call"]?.hits, calls * repeats)
        // Every recorded repetition was taken: the next identical call is past them.
        XCTAssertThrowsError(try player.lookup(ioType: "tool_call", agent: "a", tool: "t", inputs: ["call": 3])) { error in
            guard case ReplayError.exhausted(_, _, _, let recorded, let index) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(recorded, UInt32(repeats))
            XCTAssertEqual(index, UInt32(repeats))
        }
        XCTAssertEqual(player.statistics.total.exhausted, 1)
    }

    func testLookupsFromSixteenTasksAnswerEveryRepetitionOnceAndInOrder() async throws {
        let store = try makeStore()
        let (calls, repeats, tasks) = (20, 64, 16)
        try await recordRepeatedCalls(store, name: "tasks", calls: calls, repeats: repeats, codec: .zstd)
        let player = try Player(store: store, session: "tasks", mode: .strict)
        let problems = Collector<String>()
        let all = await withTaskGroup(of: Answers.self) { group in
            for t in 0..<tasks {
                group.addTask { Self.lookUp(player, count: calls * repeats / tasks, calls: calls, offset: t * 3, problems: problems) }
            }
            var all: [Answers] = []
            for await answers in group { all.append(answers) }
            return all
        }
        XCTAssertEqual(problems.all.prefix(10), [])
        checkAnswers(all, calls: calls, repeats: repeats)
        XCTAssertEqual(player.statistics.total.hits, calls * repeats)
    }

    /// Misses (each scans the session for its report) and hits from threads at the same time:
    /// every hit is right, every miss reports the call asked for, and the counts add up.
    func testMissesAndHitsFromManyThreadsAtOnce() async throws {
        let store = try makeStore()
        let calls = 300
        try await recordRepeatedCalls(store, name: "misses", calls: calls, repeats: 1)
        let player = try Player(store: store, session: "misses", mode: .strict)
        let problems = Collector<String>()
        let (threads, missesPerThread) = (6, 40)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<missesPerThread {
                if t % 2 == 0 {
                    let c = (t * missesPerThread + i) % calls
                    do {
                        let call = try player.lookup(ioType: "tool_call", agent: "a", tool: "t", inputs: ["call": .int(Int64(c))], callIndex: 0)
                        if call.outputs["call"]?.int64Value != Int64(c) { problems.add("call \(c) answered with \(call.outputs)") }
                    } catch {
                        problems.add("call \(c): \(error)")
                    }
                } else {
                    let asked = JSONValue.object(["call": .int(Int64(calls + t * 1000 + i))])
                    do {
                        _ = try player.lookup(ioType: "tool_call", agent: "a", tool: "t", inputs: asked)
                        problems.add("an unrecorded call was answered")
                    } catch {
                        guard case ReplayError.noMatch(let report) = error else { problems.add("miss: \(error)"); continue }
                        if report.identity.inputs != asked { problems.add("the report is about \(report.identity.inputs), not \(asked)") }
                        if report.closest.count != 3 || report.closest.contains(where: { $0.differences.count != 1 }) {
                            problems.add("closest calls \(report.closest.map(\.differences))")
                        }
                    }
                }
            }
        }
        XCTAssertEqual(problems.all.prefix(10), [])
        let stats = player.statistics
        let half = threads / 2 * missesPerThread
        XCTAssertEqual(stats.total.hits, half)
        XCTAssertEqual(stats.total.misses, half)
        XCTAssertEqual(stats.total.lookups, 2 * half)
        XCTAssertEqual(stats.mismatches.count, min(100, half))
    }

    /// A snapshot serves lookups of compressed records from more threads than it has chunk
    /// caches, answering what a single reader answers.
    func testSharedSnapshotLookupsFromMoreThreadsThanCaches() async throws {
        let store = try makeStore()
        var options = RecordingOptions(name: "snapshot")
        options.codec = .zstd
        let recorder = try Recorder.start(store: store, options: options)
        var keys: [IOKey] = []
        for i in 0..<3_000 {
            keys.append(recorder.record(ioType: "tool_call", tool: "t", inputs: ["i": .int(Int64(i))], outputs: ["text": .string(String(repeating: "w\(i) ", count: 20))]))
        }
        let summary = try await recorder.stop()
        let reader = try store.openReader(summary.manifest)
        let snapshot = reader.snapshot
        XCTAssertEqual(snapshot.recordCount, 3_000)
        let expected = keys.map { reader.record(for: $0)?.payload }
        XCTAssertFalse(expected.contains(nil))
        let problems = Collector<String>()
        let allKeys = keys
        DispatchQueue.concurrentPerform(iterations: 12) { t in
            var rng = SystemRandomNumberGenerator()
            for step in 0..<300 {
                let i = t % 2 == 0 ? Int.random(in: 0..<allKeys.count, using: &rng) : (t * 37 + step) % allKeys.count
                if snapshot.lookupFirst(key: allKeys[i].bytes)?.payload != expected[i] { problems.add("thread \(t): key \(i)") }
            }
        }
        XCTAssertEqual(problems.all.prefix(10), [])
        XCTAssertEqual(snapshot.lookup(key: keys[5].bytes).map(\.payload), [expected[5]!])
        XCTAssertNil(snapshot.lookupFirst(key: IOKey(callDigest: [UInt8](repeating: 7, count: 32), callIndex: 0)!.bytes))
    }

    /// A snapshot keeps what it held when its reader refreshes; the reader's new snapshot sees
    /// the records appended since, in the unsealed segment a writer is appending to.
    func testSnapshotKeepsItsRecordsAcrossRefresh() throws {
        let store = try makeStore()
        let manifest = try store.createSession(name: "growing")
        let writer = try store.openWriter(manifest)
        func input(_ i: Int) -> RecordInput {
            RecordInput(timestampNs: Int64(i), kind: RecordKind.event.rawValue, key: Array("key-\(i)".utf8), payload: Array("payload \(i)".utf8))
        }
        try writer.append((0..<100).map(input))
        try writer.flush()
        let reader = try store.openReader(manifest)
        let before = reader.snapshot
        try writer.append(input(100))
        try writer.flush()
        try reader.refresh()
        XCTAssertEqual(before.recordCount, 100)
        XCTAssertEqual(reader.snapshot.recordCount, 101)
        XCTAssertNil(before.lookupFirst(key: Array("key-100".utf8)))
        XCTAssertEqual(reader.snapshot.lookupFirst(key: Array("key-100".utf8))?.payload, Array("payload 100".utf8))
        XCTAssertEqual(before.lookupFirst(key: Array("key-42".utf8))?.payload, Array("payload 42".utf8))
        var scanned = 0
        before.forEachRecord { _ in scanned += 1; return true }
        XCTAssertEqual(scanned, 100)
        _ = try writer.close()
    }

    /// Tasks recording through a queue of one record suspend until the writer makes room: nothing
    /// is dropped, and identical calls get every index once.
    func testRecordSuspendingWaitsForRoomAndLosesNothing() async throws {
        let store = try makeStore()
        var options = RecordingOptions(name: "suspending")
        options.queueCapacity = 1
        let recorder = try Recorder.start(store: store, options: options)
        let (tasks, perTask) = (16, 150)
        let indexes = await withTaskGroup(of: [UInt32].self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var mine: [UInt32] = []
                    for i in 0..<perTask {
                        await recorder.recordSuspending(ioType: "tool_call", tool: "own", inputs: ["task": .int(Int64(t)), "i": .int(Int64(i))], outputs: ["i": .int(Int64(i))])
                        mine.append(await recorder.recordSuspending(ioType: "tool_call", tool: "shared", inputs: ["same": true], outputs: ["task": .int(Int64(t))]).callIndex)
                    }
                    return mine
                }
            }
            var all: [[UInt32]] = []
            for await mine in group { all.append(mine) }
            return all
        }
        for mine in indexes { XCTAssertEqual(mine, mine.sorted(), "one task's identical calls get increasing indexes") }
        XCTAssertEqual(indexes.flatMap { $0 }.sorted(), Array(0..<UInt32(tasks * perTask)))
        let summary = try await recorder.stop()
        XCTAssertEqual(summary.events, 2 * tasks * perTask)
        XCTAssertEqual(summary.dropped, 0)
        let player = try Player(store: store, session: "suspending", mode: .strict)
        for t in stride(from: 0, to: tasks, by: 5) {
            for i in stride(from: 0, to: perTask, by: 7) {
                let call = try player.lookup(ioType: "tool_call", tool: "own", inputs: ["task": .int(Int64(t)), "i": .int(Int64(i))])
                XCTAssertEqual(call.outputs, ["i": .int(Int64(i))])
            }
        }
    }

    /// Under the drop policy `recordSuspending` drops as `record` does: every record is either
    /// stored or counted as dropped.
    func testRecordSuspendingDropsUnderTheDropPolicy() async throws {
        let store = try makeStore()
        var options = RecordingOptions(name: "dropping")
        options.queueCapacity = 2
        options.whenQueueFull = .drop
        let recorder = try Recorder.start(store: store, options: options)
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<8 {
                group.addTask {
                    for i in 0..<500 {
                        await recorder.recordSuspending(ioType: "tool_call", tool: "t", inputs: ["t": .int(Int64(t)), "i": .int(Int64(i))], outputs: .null)
                    }
                }
            }
        }
        let summary = try await recorder.stop()
        XCTAssertEqual(summary.events + summary.dropped, 8 * 500)
        XCTAssertEqual(summary.manifest.recordCount, summary.events)
    }

    /// `stop` from several tasks at once returns one manifest, with the first status; records,
    /// flushes and stops after it neither wait nor fail.
    func testStopFromSeveralTasksAndCallsAfterIt() async throws {
        let store = try makeStore()
        let recorder = try Recorder.start(store: store, options: RecordingOptions(name: "stops"))
        for i in 0..<1_000 { recorder.record(ioType: "tool_call", tool: "t", inputs: ["i": .int(Int64(i))], outputs: .null) }
        try await recorder.flush()
        let manifest = try store.session("stops")
        XCTAssertEqual(try store.openReader(manifest).recordCount, 1_000, "flush wrote everything recorded before it")
        let summaries = try await withThrowingTaskGroup(of: RecordingSummary.self) { group in
            for _ in 0..<4 { group.addTask { try await recorder.stop() } }
            var all: [RecordingSummary] = []
            for try await s in group { all.append(s) }
            return all
        }
        XCTAssertEqual(Set(summaries.map(\.manifest.id)).count, 1)
        XCTAssertEqual(Set(summaries.map(\.manifest.status)), ["completed"])
        XCTAssertEqual(Set(summaries.map(\.events)), [1_000])
        await recorder.recordSuspending(ioType: "tool_call", tool: "t", inputs: ["late": true], outputs: .null)
        XCTAssertEqual(recorder.droppedCount, 1)
        try await recorder.flush()
        let again = try await recorder.stop(status: "failed")
        XCTAssertEqual(again.manifest.status, "completed")
        XCTAssertEqual(again.manifest.recordCount, 1_000)
    }
}

/// Items added from many threads or tasks.
final class Collector<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func add(_ item: T) { items.withLock { $0.append(item) } }
    var all: [T] { items.withLock { $0 } }
}

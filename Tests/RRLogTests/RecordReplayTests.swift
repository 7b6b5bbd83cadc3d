import Foundation
import RRLog
import RRLogCatalog
import RRLogStorage
import RRLogTestSupport
import XCTest

/// A clock that never waits: sleeping moves its time to the deadline and remembers it.
final class VirtualClock: Clock, @unchecked Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }
    private let lock = NSLock()
    private var current = Instant(offset: .zero)
    private var deadlines: [Duration] = []
    var minimumResolution: Duration { .nanoseconds(1) }
    var now: Instant {
        lock.lock()
        defer { lock.unlock() }
        return current
    }
    var sleeps: [Duration] {
        lock.lock()
        defer { lock.unlock() }
        return deadlines
    }
    /// Time that passes while the consumer works (simulates a slow consumer).
    func advance(by d: Duration) {
        lock.lock()
        current = current.advanced(by: d)
        lock.unlock()
    }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        note(deadline)
    }
    private func note(_ deadline: Instant) {
        lock.lock()
        deadlines.append(deadline.offset)
        if current < deadline { current = deadline }
        lock.unlock()
    }
}

final class RecordReplayTests: XCTestCase {
    func makeStore() throws -> Store {
        try Store(path: TestPaths.temporaryDirectory(self, prefix: "rrlog-rr"))
    }

    func provenance() -> SessionManifest.Provenance {
        SessionManifest.Provenance(gitSHA: "abc123", configDigest: "sha256:cfg", modelIDs: ["gpt-4o"], seeds: [7])
    }

    /// Records a small agent session: two identical searches with different answers, an HTTP call
    /// with a secret, a stream with known chunk times, and checkpoints.
    func recordSession(_ store: Store, name: String = "rec") async throws -> RecordingSummary {
        var options = RecordingOptions(name: name)
        options.provenance = provenance()
        options.durability = .everyBatch
        return try await Recorder.withRecording(store: store, options: options) { rec in
            rec.checkpoint("start", timestampNs: 1_000)
            rec.record(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"], outputs: ["hits": 1])
            rec.record(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"], outputs: ["hits": 2])
            rec.record(
                ioType: "io_network", agent: "coder", tool: "http",
                inputs: ["url": "https://api.example.com/x", "headers": ["Authorization": "Bearer sk-live-0123456789abcdef0123", "Accept": "json"]],
                outputs: ["status": 200, "body": "token=ghp_abcdefghijklmnopqrstuvwxyz0123456789 ok"])
            let s = rec.startStream(ioType: "llm_call", agent: "planner", tool: "openai", inputs: ["prompt": "hi"], timestampNs: 10_000_000)
            let offsetsMs: [Int64] = [0, 10, 25, 26, 100, 1_000]
            for (i, ms) in offsetsMs.enumerated() {
                rec.chunk(s, index: i, content: "t\(i) ", timestampNs: 10_000_000 + ms * 1_000_000)
            }
            rec.finishStream(s, totalChunks: offsetsMs.count, timestampNs: 10_000_000 + 1_001_000_000)
            rec.checkpoint("after-stream", timestampNs: 2_000_000_000)
            rec.record(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"], outputs: ["hits": 3])
            try await rec.flush()
            return try await rec.stop()
        }
    }

    func testRecordThenReplayStrictInOrderWithDistinctErrors() async throws {
        let store = try makeStore()
        let summary = try await recordSession(store)
        XCTAssertEqual(summary.events, 4)
        XCTAssertEqual(summary.streams, 1)
        XCTAssertEqual(summary.chunks, 6)
        XCTAssertEqual(summary.checkpoints, 2)
        XCTAssertEqual(summary.dropped, 0)
        XCTAssertEqual(summary.manifest.status, "completed")

        let player = try Player(store: store, session: "rec", mode: .strict)
        for expected in [1, 2, 3] {
            let call = try player.lookup(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"])
            XCTAssertEqual(call.outputs, ["hits": .int(Int64(expected))])
        }
        XCTAssertThrowsError(try player.lookup(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"])) {
            guard case ReplayError.exhausted(_, _, _, let recorded, let index) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(recorded, 3)
            XCTAssertEqual(index, 3)
        }
        XCTAssertThrowsError(try player.lookup(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "rust"])) {
            guard case ReplayError.noMatch(let report) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(report.closest.first?.differences.first?.path, "q")
            XCTAssertEqual(report.closest.first?.differences.first?.recorded, "swift")
            XCTAssertEqual(report.closest.first?.differences.first?.given, "rust")
            XCTAssertTrue(report.description.contains("closest #1"))
        }
        XCTAssertThrowsError(try Player(store: store, session: "nope")) {
            guard case ReplayError.noSuchRecording("nope") = $0 else { return XCTFail("\($0)") }
        }
        let stats = player.statistics
        XCTAssertEqual(stats.total.lookups, 5)
        XCTAssertEqual(stats.total.hits, 3)
        XCTAssertEqual(stats.total.misses, 1)
        XCTAssertEqual(stats.total.exhausted, 1)
        XCTAssertEqual(stats.byIOType["tool_call"]?.lookups, 5)
        XCTAssertEqual(stats.total.successRate, 0.6, accuracy: 1e-9)
    }

    /// The writer thread writes each stored line itself (member names copied as literals, values
    /// written as they come): every line must be exactly what the general serializer writes for
    /// the same value, members sorted, no whitespace, and carry its record type.
    func testStoredLinesAreWhatTheSerializerWrites() async throws {
        let store = try makeStore()
        let summary = try await recordSession(store)
        let reader = try store.openReader(summary.manifest)
        var types: [String: Int] = [:]
        try reader.forEach { view in
            let line = Array(view.payload)
            let value = try JSONValue.parse(line)
            XCTAssertEqual(String(decoding: line, as: UTF8.self), value.serialized())
            types[value["type"]?.stringValue ?? "?", default: 0] += 1
            return true
        }
        XCTAssertEqual(types, ["checkpoint": 2, "event": 4, "stream_start": 1, "chunk": 6, "stream_finish": 1])
    }

    /// Callers on several threads share the recorder's reused buffers: every event must come back
    /// with its own inputs and outputs (small, and large enough not to be reused), and identical
    /// calls made from different threads must get distinct call indexes.
    func testConcurrentCallersEachGetTheirOwnEventBack() async throws {
        let store = try makeStore()
        let recorder = try Recorder.start(store: store, options: RecordingOptions(name: "threads"))
        let threads = 4
        let perThread = 1_500
        let group = DispatchGroup()
        for t in 0..<threads {
            group.enter()
            Thread {
                for i in 0..<perThread {
                    let filler = String(repeating: "x", count: i % 100 == 0 ? 20_000 : i % 37)
                    recorder.record(ioType: "tool_call", tool: "t", inputs: ["thread": .int(Int64(t)), "i": .int(Int64(i)), "pad": .string(filler)],
                                    outputs: ["answer": .string("\(t)-\(i)"), "pad": .string(filler)])
                    recorder.record(ioType: "tool_call", tool: "shared", inputs: ["same": true], outputs: ["from": .int(Int64(t))])
                }
                group.leave()
            }.start()
        }
        group.wait()
        let summary = try await recorder.stop()
        XCTAssertEqual(summary.events, 2 * threads * perThread)
        let player = try Player(store: store, session: "threads", mode: .strict)
        // The player is used from several threads at once, as a test harness's workers would (the
        // session is lz4: lookups decode its chunks through the snapshot's shared chunk caches).
        let wrong = ManagedCount()
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in stride(from: 0, to: perThread, by: 3) {
                let filler = String(repeating: "x", count: i % 100 == 0 ? 20_000 : i % 37)
                let call = try? player.lookup(ioType: "tool_call", tool: "t", inputs: ["thread": .int(Int64(t)), "i": .int(Int64(i)), "pad": .string(filler)])
                if call?.outputs != ["answer": .string("\(t)-\(i)"), "pad": .string(filler)] { wrong.add() }
            }
        }
        XCTAssertEqual(wrong.value, 0, "lookups from \(threads) threads that returned the wrong outputs")
        var indexes = Set<UInt32>()
        for _ in 0..<(threads * perThread) {
            let call = try player.lookup(ioType: "tool_call", tool: "shared", inputs: ["same": true])
            indexes.insert(call.key.callIndex)
        }
        XCTAssertEqual(indexes, Set(0..<UInt32(threads * perThread)))
    }

    /// The call-index table grows while calls come in (its writer thread prepares the new arrays):
    /// every repetition of each of thousands of distinct calls gets the next index, and replay
    /// finds them in order.
    func testCallIndexesStayExactWhileTheCallTableGrows() async throws {
        let store = try makeStore()
        let recorder = try Recorder.start(store: store, options: RecordingOptions(name: "grow"))
        let distinct = 6_000
        for round in 0..<3 {
            for i in 0..<distinct {
                let key = recorder.record(ioType: "tool_call", tool: "t", inputs: ["i": .int(Int64(i))], outputs: ["round": .int(Int64(round))])
                if key.callIndex != UInt32(round) { XCTFail("call \(i) of round \(round) got index \(key.callIndex)") }
            }
            // Let the writer catch up now and then, so growths meet both its prepared arrays and
            // the callers' own.
            if round == 0 { try await recorder.flush() }
        }
        let summary = try await recorder.stop()
        XCTAssertEqual(summary.events, 3 * distinct)
        let player = try Player(store: store, session: "grow", mode: .strict)
        for i in stride(from: 0, to: distinct, by: 97) {
            for round in 0..<3 {
                let call = try player.lookup(ioType: "tool_call", tool: "t", inputs: ["i": .int(Int64(i))])
                XCTAssertEqual(call.outputs, ["round": .int(Int64(round))], "call \(i)")
            }
        }
    }

    func testSecretsNeverReachTheDiskAndReplayStillMatches() async throws {
        let store = try makeStore()
        _ = try await recordSession(store)
        var bytes = Data()
        let sessions = store.path + "/sessions"
        for case let file as String in FileManager.default.enumerator(atPath: sessions)! {
            if let d = FileManager.default.contents(atPath: sessions + "/" + file) { bytes.append(d) }
        }
        XCTAssertGreaterThan(bytes.count, 0)
        for secret in ["sk-live-0123456789abcdef0123", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "Bearer sk-"] {
            XCTAssertNil(bytes.range(of: Data(secret.utf8)), "\(secret) reached the disk")
        }
        // The stored record says what was redacted; a replay with a different secret still matches.
        let player = try Player(store: store, session: "rec")
        let call = try player.lookup(
            ioType: "io_network", agent: "coder", tool: "http",
            inputs: ["url": "https://api.example.com/x", "headers": ["Authorization": "Bearer sk-live-ROTATEDKEYROTATEDKEY99", "Accept": "json"]])
        XCTAssertEqual(call.line["inputs"]?["headers"]?["Authorization"], .string(Redaction.marker))
        XCTAssertEqual(call.line["redacted"]?.arrayValue?.compactMap(\.stringValue).sorted(), ["inputs.headers.Authorization", "outputs.body"])
        XCTAssertEqual(call.outputs["body"], .string("token=\(Redaction.marker) ok"))
    }

    func testStreamTimingOnAVirtualClockHasNoDrift() async throws {
        let store = try makeStore()
        _ = try await recordSession(store)
        for speed in [0.5, 1, 2, 10] {
            let player = try Player(store: store, session: "rec")
            let stream = try player.stream(ioType: "llm_call", agent: "planner", tool: "openai", inputs: ["prompt": "hi"])
            XCTAssertEqual(stream.text, "t0 t1 t2 t3 t4 t5 ")
            let clock = VirtualClock()
            var got: [Int] = []
            for await chunk in stream.timed(speed: speed, clock: clock) {
                got.append(chunk.index)
                clock.advance(by: .microseconds(700))  // a consumer that takes time must not shift later deadlines
            }
            XCTAssertEqual(got, [0, 1, 2, 3, 4, 5])
            let expected: [Duration] = [0, 10, 25, 26, 100, 1_000].map { .nanoseconds(Int64((Double($0) * 1e6 / speed).rounded())) }
            XCTAssertEqual(clock.sleeps, expected, "speed \(speed)")
        }
        let player = try Player(store: store, session: "rec")
        let plain = try player.stream(ioType: "llm_call", agent: "planner", tool: "openai", inputs: ["prompt": "hi"])
        let clock = VirtualClock()
        var count = 0
        for await _ in plain.timed(speed: nil, clock: clock) { count += 1 }
        XCTAssertEqual(count, 6)
        XCTAssertTrue(clock.sleeps.isEmpty, "no waiting at all")
        XCTAssertEqual(Array(plain).count, 6)
    }

    func testReplayFromACheckpointContinuesCallIndexes() async throws {
        let store = try makeStore()
        _ = try await recordSession(store)
        let player = try Player(store: store, session: "rec", fromCheckpoint: "after-stream")
        XCTAssertEqual(player.checkpoints().map(\.label), ["start", "after-stream"])
        let call = try player.lookup(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"])
        XCTAssertEqual(call.outputs, ["hits": 3], "the two searches before the checkpoint count as replayed")
        XCTAssertThrowsError(try Player(store: store, session: "rec", fromCheckpoint: "missing"))
    }

    func testProvenanceMismatchWarnsOrRefuses() async throws {
        let store = try makeStore()
        _ = try await recordSession(store)
        var other = provenance()
        other.gitSHA = "def456"
        other.seeds = [8]
        XCTAssertThrowsError(try Player(store: store, session: "rec", expectedProvenance: other, provenancePolicy: .refuse)) {
            guard case ReplayError.provenanceMismatch(let diffs) = $0 else { return XCTFail("\($0)") }
            XCTAssertEqual(diffs.map(\.field), ["git_sha", "seeds"])
        }
        let warned = try Player(store: store, session: "rec", expectedProvenance: other, provenancePolicy: .warn)
        XCTAssertEqual(warned.provenanceDifferences.count, 2)
        XCTAssertTrue(try Player(store: store, session: "rec", expectedProvenance: provenance()).provenanceDifferences.isEmpty)
    }

    func testWarnAndHybridModesGoLiveAndHybridRecordsTheNewCalls() async throws {
        let store = try makeStore()
        _ = try await recordSession(store)
        let warn = try Player(store: store, session: "rec", mode: .warn)
        let live = try await warn.call(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "new"]) { ["live": true] }
        XCTAssertEqual(live, ["live": true])
        XCTAssertEqual(warn.statistics.total.misses, 1)
        let warnSummary = try await warn.finish()
        XCTAssertNil(warnSummary)

        let hybrid = try Player(store: store, session: "rec", mode: .hybrid)
        let recorded = try await hybrid.call(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"]) { XCTFail("went live"); return .null }
        XCTAssertEqual(recorded, ["hits": 1])
        let fresh = try await hybrid.call(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "new"]) { ["live": 1] }
        XCTAssertEqual(fresh, ["live": 1])
        let summary = try await hybrid.finish()
        XCTAssertEqual(summary?.events, 1)
        let replayOfHybrid = try Player(store: store, session: summary!.manifest.name)
        XCTAssertEqual(try replayOfHybrid.lookup(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "new"]).outputs, ["live": 1])

        let strict = try Player(store: store, session: "rec", mode: .strict)
        do {
            _ = try await strict.call(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "new"]) { .null }
            XCTFail("strict mode went live")
        } catch {
            guard case .noMatch = error else { return XCTFail("\(error)") }
        }
    }

    func testScopedRecordingMarksFailedWhenBodyThrowsAndAsyncStreamsPassThrough() async throws {
        let store = try makeStore()
        struct Boom: Error {}
        do {
            _ = try await Recorder.withRecording(store: store, options: RecordingOptions(name: "boom")) { rec -> Int in
                rec.record(ioType: "tool_call", tool: "x", inputs: [:], outputs: [:])
                throw Boom()
            }
            XCTFail("did not throw")
        } catch is Boom {}
        XCTAssertEqual(try store.session("boom").status, "failed")
        XCTAssertEqual(try store.session("boom").recordCount, 1)

        let tokens = AsyncStream<String> { c in
            for t in ["a", "b", "c"] { c.yield(t) }
            c.finish()
        }
        let summary = try await Recorder.withRecording(store: store, options: RecordingOptions(name: "streamed")) { rec in
            var passed: [String] = []
            for try await t in rec.recordStream(ioType: "llm_call", tool: "openai", inputs: ["p": 1], chunks: tokens, text: { $0 }) { passed.append(t) }
            XCTAssertEqual(passed, ["a", "b", "c"])
            return try await rec.stop()
        }
        XCTAssertEqual(summary.chunks, 3)
        let player = try Player(store: store, session: "streamed")
        XCTAssertEqual(try player.stream(ioType: "llm_call", tool: "openai", inputs: ["p": 1]).text, "abc")
    }

    /// Streams recorded from async code through the suspending calls: with a queue of one record,
    /// every call waits for the writer by suspending, and nothing is dropped.
    func testStreamsFromAsyncCodeSuspendWhileTheQueueIsFullAndLoseNothing() async throws {
        let store = try makeStore()
        var options = RecordingOptions(name: "suspending")
        options.queueCapacity = 1
        let summary = try await Recorder.withRecording(store: store, options: options) { rec in
            let stream = await rec.startStreamSuspending(ioType: "llm_call", tool: "openai", inputs: ["p": 2])
            for i in 0..<500 { await rec.chunkSuspending(stream, index: i, content: "c\(i) ") }
            await rec.finishStreamSuspending(stream, totalChunks: 500, metadata: ["done": true])
            return try await rec.stop()
        }
        XCTAssertEqual(summary.streams, 1)
        XCTAssertEqual(summary.chunks, 500)
        XCTAssertEqual(summary.dropped, 0)
        let replayed = try Player(store: store, session: "suspending").stream(ioType: "llm_call", tool: "openai", inputs: ["p": 2])
        XCTAssertEqual(replayed.chunks.map(\.content), (0..<500).map { "c\($0) " })
        XCTAssertEqual(replayed.finishMetadata, ["done": true])
    }

    /// A call's task, step and parent step are stored in its line (sorted among the other
    /// members) and are not part of its key: the same call in another step is the next identical
    /// call, and replay finds both answers whatever step it is asked from.
    func testTaskStepsAreStoredButNotKeyed() async throws {
        let store = try makeStore()
        let rec = try Recorder.start(store: store, options: RecordingOptions(name: "steps"))
        let first = rec.record(
            ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"], outputs: ["hits": 1],
            task: TaskStep(taskID: "t-\"1\"", step: 2, parentStep: 1))
        let second = rec.record(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"], outputs: ["hits": 2], task: TaskStep(step: -3))
        let stream = rec.startStream(ioType: "llm_call", tool: "openai", inputs: ["p": "hi"], task: TaskStep(taskID: "t-2", step: 0))
        rec.finishStream(stream, totalChunks: 0)
        let plain = rec.record(ioType: "tool_call", tool: "other", inputs: [:], outputs: [:])
        let summary = try await rec.stop()
        XCTAssertEqual(first.callDigest, second.callDigest, "the task is not part of the key")
        XCTAssertEqual([first.callIndex, second.callIndex], [0, 1])

        var lines: [JSONValue] = []
        try store.openReader(summary.manifest).forEach { view in
            let bytes = Array(view.payload)
            let line = try JSONValue.parse(bytes)
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), line.serialized(), "members sorted, as the serializer writes them")
            lines.append(line)
            return true
        }
        XCTAssertEqual(lines[0]["task_id"], "t-\"1\"")
        XCTAssertEqual(lines[0]["step"], 2)
        XCTAssertEqual(lines[0]["parent_step"], 1)
        XCTAssertNil(lines[1]["task_id"])
        XCTAssertEqual(lines[1]["step"], -3)
        XCTAssertEqual(lines[2]["task_id"], "t-2")
        XCTAssertEqual(lines[2]["step"], 0)
        XCTAssertEqual(lines[2]["type"], "stream_start")
        XCTAssertNil(lines[4]["step"], "\(plain) carries no task")
        XCTAssertNil(lines[4]["task_id"])

        let player = try Player(store: store, session: "steps")
        XCTAssertEqual(try player.lookup(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"]).outputs, ["hits": 1])
        let again = try player.lookup(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"])
        XCTAssertEqual(again.outputs, ["hits": 2])
        XCTAssertEqual(again.line["step"], -3)
    }

    /// A recording rotates its segment files at the size its options give; a size out of range
    /// is refused before anything is created.
    func testRecordingRotatesSegmentsBySize() async throws {
        let store = try makeStore()
        var options = RecordingOptions(name: "rotated")
        options.codec = .none
        options.segmentSizeBytesMax = 64 << 10
        let rec = try Recorder.start(store: store, options: options)
        let text = String(repeating: "x", count: 1000)
        for i in 0..<1000 { rec.record(ioType: "tool_call", tool: "t", inputs: ["i": .int(Int64(i))], outputs: ["text": .string(text)]) }
        let summary = try await rec.stop()
        // About 1 MB of lines in 64 KiB segments, each sealed when its 256 KiB chunk closes.
        XCTAssertGreaterThanOrEqual(summary.manifest.segments.count, 3, "\(summary.manifest.segments)")
        let player = try Player(store: store, session: "rotated")
        for i in [0, 500, 999] {
            XCTAssertEqual(try player.lookup(ioType: "tool_call", tool: "t", inputs: ["i": .int(Int64(i))]).outputs["text"], .string(text))
        }

        var unrotated = RecordingOptions(name: "too-small")
        unrotated.segmentSizeBytesMax = 1000
        XCTAssertThrowsError(try Recorder.start(store: store, options: unrotated)) { error in
            XCTAssertTrue("\(error)".contains("segmentSizeBytesMax must be 64 KiB to 1 TiB"), "\(error)")
        }
        XCTAssertThrowsError(try store.session("too-small"), "nothing was created")
    }

    func testDropPolicyCountsInsteadOfBlocking() async throws {
        let store = try makeStore()
        var options = RecordingOptions(name: "drops")
        options.queueCapacity = 1
        options.whenQueueFull = .drop
        options.durability = .everyBatch
        let rec = try Recorder.start(store: store, options: options)
        for i in 0..<2000 { rec.record(ioType: "tool_call", tool: "t", inputs: ["i": .int(Int64(i))], outputs: [:]) }
        let summary = try await rec.stop()
        XCTAssertEqual(summary.events + summary.dropped, 2000)
        XCTAssertEqual(summary.manifest.recordCount, summary.events)
    }
}

/// A counter several threads add to.
final class ManagedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

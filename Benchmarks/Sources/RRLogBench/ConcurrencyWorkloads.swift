import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogStorage
import Synchronization

/// concurrency: one uncompressed session of 1M IO records (tmpfs, prefaulted), read from 1 and
/// from 2 threads at once through a shared `LogSnapshot` and through one `Player` (lookups/s,
/// median of 3 runs that alternate the thread counts), and one `Player` serving 16 concurrent
/// tasks beside one task (latency per lookup, the run with the median p99 of 3).
func concurrency(_ ctx: Context) throws {
    let n = ctx.quick ? 10_000 : 1_000_000
    let corpus = try IOCorpus(path: ctx.fixtures + "/io/llm-session.jsonl")
    let store = try Store(path: ctx.tmp + "/concurrency-store")
    var options = LogOptions()
    options.codec = .none
    let written = try writeIOSession(store, name: "concurrency-\(n)", records: n, corpus: corpus, options: options)
    defer { try? store.remove(written.session) }
    let keys = written.keys
    let keyTemplate = written.keyTemplate
    let reader = try store.openReader(written.session)
    let snapshot = reader.snapshot
    snapshot.prefault().wait()
    let player = try Player(store: store, session: written.session.name, mode: .strict)
    ctx.note("\(n) records, \(keys.count) keys, \(snapshot.segments.count) segments; \(ProcessInfo.processInfo.activeProcessorCount) CPUs")

    // Each thread or task asks with its own copies of the keys, inputs and expected payloads, as
    // callers do: the only memory the threads share is the library's, so what limits the scaling
    // is the library and the machine, not reference counts the harness shares.
    let indexes = keys.map { IOKey(bytes: $0)!.callIndex }
    func asker(_ picks: [Int]) -> Asker {
        Asker(
            questions: picks.map { Question(key: copied(keys[$0]), template: Int(keyTemplate[$0]), callIndex: indexes[$0]) },
            calls: corpus.templates.map { template in
                guard template.digest != nil, let line = try? JSONValue.parse(copied(template.line)),
                    let ioType = line["io_type"]?.stringValue, let tool = line["tool_name"]?.stringValue
                else { return nil }
                return LookupCall(ioType: ioType, agent: line["agent_id"]?.stringValue ?? "", tool: tool, inputs: line["inputs"] ?? .null)
            },
            payloads: corpus.templates.map { copied($0.payload) })
    }
    let bad = BadCount()
    func picks(_ count: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix(seed: seed)
        return (0..<count).map { _ in Int.random(in: 0..<keys.count, using: &rng) }
    }
    let snapshotPerThread = ctx.quick ? 20_000 : 500_000
    let playerPerThread = ctx.quick ? 2_000 : 50_000
    let snapshotAskers = [asker(picks(snapshotPerThread, seed: 11)), asker(picks(snapshotPerThread, seed: 12))]
    let playerAskers = [asker(picks(playerPerThread, seed: 21)), asker(picks(playerPerThread, seed: 22))]

    @Sendable func snapshotLookups(_ asker: Asker) {
        var wrong = 0
        for q in asker.questions where snapshot.lookupFirst(key: q.key)?.payload != asker.payloads[q.template] { wrong += 1 }
        bad.add(wrong)
    }
    @Sendable func playerLookups(_ asker: Asker) {
        var wrong = 0
        for q in asker.questions where !asker.ask(player, q) { wrong += 1 }
        bad.add(wrong)
    }
    // Warm-up: the code paths and the player's tables, not the pages (prefaulted above).
    snapshotLookups(snapshotAskers[0])
    playerLookups(playerAskers[0])
    _ = bad.take()

    // Lookups/s from 1 and 2 threads, rounds alternating the thread counts.
    let rounds = ctx.quick ? 1 : 3
    let cases: [(name: String, id: String, perThread: Int, run: @Sendable (Asker) -> Void)] = [
        ("LogSnapshot.lookupFirst(key:)", "snapshot", snapshotPerThread, snapshotLookups),
        ("Player.lookup(…, callIndex:)", "player", playerPerThread, playerLookups),
    ]
    for (name, id, perThread, run) in cases {
        let lists = id == "snapshot" ? snapshotAskers : playerAskers
        var rates: [[Double]] = [[], []]
        for _ in 0..<rounds {
            for threads in [1, 2] {
                let secs = onThreads(threads) { t in run(lists[t]) }
                rates[threads - 1].append(Double(threads * perThread) / secs)
            }
        }
        let wrong = bad.take()
        ctx.check(wrong == 0, "concurrency: \(wrong) \(name) lookups returned a wrong or no record")
        let median = rates.map { $0.sorted()[$0.count / 2] }
        for threads in [1, 2] {
            var row = Row("concurrency", "rrlog.\(id).\(threads)t", "\(name), \(threads) thread\(threads > 1 ? "s" : ""), \(n) records", codec: "none")
            row.records = threads * perThread
            row.seconds = Double(threads * perThread) / median[threads - 1]
            let runs = rates[threads - 1].map { String(format: "%.3gM", $0 / 1e6) }.joined(separator: " / ")
            row.note = "lookups/s: median of \(rounds) runs alternating 1 and 2 threads (\(runs)); every answer checked"
            if threads == 2 { row.value = String(format: "%.2fx one thread", median[1] / median[0]) }
            ctx.emit(row)
        }
    }

    // One player serving 16 concurrent tasks beside one task: latency per lookup.
    let taskLookups = ctx.quick ? 3_200 : 160_000
    let taskPicks = picks(taskLookups, seed: 31)
    let askers = [[asker(taskPicks)], (0..<16).map { t in asker(Array(taskPicks[(t * taskLookups / 16)..<((t + 1) * taskLookups / 16)])) }]
    var taskRuns: [[TaskRun]] = [[], []]
    for _ in 0..<rounds {
        for slot in 0..<2 {
            let mine = askers[slot]
            taskRuns[slot].append(try runBlocking { await servedTasks(mine, player: player) })
        }
    }
    let wrong = bad.take() + taskRuns.joined().reduce(0) { $0 + $1.wrong }
    ctx.check(wrong == 0, "concurrency: \(wrong) lookups from tasks returned a wrong or no record")
    let chosen = taskRuns.map { runs in runs.sorted { $0.p99 < $1.p99 }[runs.count / 2] }
    for (slot, tasks) in [1, 16].enumerated() {
        let run = chosen[slot]
        var row = Row("concurrency", "rrlog.player.task\(tasks)", "Player.lookup(…, callIndex:), \(tasks) concurrent task\(tasks > 1 ? "s" : ""), \(n) records", codec: "none")
        row.kind = "latency"
        row.records = taskLookups
        row.seconds = run.seconds
        row.p50us = percentile(run.latencies, 0.5)
        row.p99us = run.p99
        let p99s = taskRuns[slot].map { String(format: "%.2f", $0.p99) }.joined(separator: " / ")
        row.note = "\(taskLookups / tasks) lookups per task; run with the median p99 of \(rounds) (p99s \(p99s) µs), alternating 1 and 16 tasks"
        if tasks > 1 { row.value = String(format: "p99 %.2fx one task's", run.p99 / chosen[0].p99) }
        ctx.emit(row)
    }
}

/// A call a player is asked for.
private struct LookupCall: Sendable {
    var ioType: String
    var agent: String
    var tool: String
    var inputs: JSONValue
}

/// One lookup to make: the key, its call's template and its call index.
private struct Question: Sendable {
    var key: [UInt8]
    var template: Int
    var callIndex: UInt32
}

/// What one thread or task asks, in memory of its own.
private struct Asker: Sendable {
    var questions: [Question]
    /// Per template, the call a player is asked for (nil for unkeyed records).
    var calls: [LookupCall?]
    /// Per template, the stored payload.
    var payloads: [[UInt8]]

    /// Asks `player` for `q`'s call at its call index; true when the answer is the record asked for.
    func ask(_ player: Player, _ q: Question) -> Bool {
        guard let call = calls[q.template],
            let answer = try? player.lookup(ioType: call.ioType, agent: call.agent, tool: call.tool, inputs: call.inputs, callIndex: q.callIndex)
        else { return false }
        return answer.key.bytes == q.key
    }
}

/// A copy of `bytes` in memory of its own (`Array(bytes)` would share the buffer).
private func copied(_ bytes: [UInt8]) -> [UInt8] {
    bytes.withUnsafeBufferPointer { Array($0) }
}

/// Wrong answers counted by the threads and tasks of a run.
private final class BadCount: Sendable {
    private let count = Mutex(0)
    func add(_ n: Int) { count.withLock { $0 += n } }
    /// The count so far, reset to 0.
    func take() -> Int { count.withLock { n in defer { n = 0 }; return n } }
}

/// Latencies of one run of concurrent tasks, sorted, in µs.
private struct TaskRun: Sendable {
    var latencies: [Double]
    var seconds: Double
    var wrong: Int
    var p99: Double { percentile(latencies, 0.99) }
}

/// One child task per asker, all at once, each lookup timed.
private func servedTasks(_ askers: [Asker], player: Player) async -> TaskRun {
    let start = ContinuousClock.now
    var latencies: [Double] = []
    var wrong = 0
    await withTaskGroup(of: ([Double], Int).self) { group in
        for asker in askers {
            group.addTask {
                var lat = [Double](repeating: 0, count: asker.questions.count)
                var wrong = 0
                let clock = ContinuousClock()
                for (i, q) in asker.questions.enumerated() {
                    let t0 = clock.now
                    if !asker.ask(player, q) { wrong += 1 }
                    lat[i] = micros(clock.now - t0)
                }
                return (lat, wrong)
            }
        }
        for await (lat, w) in group {
            latencies += lat
            wrong += w
        }
    }
    let secs = seconds(ContinuousClock.now - start)
    latencies.sort()
    return TaskRun(latencies: latencies, seconds: secs, wrong: wrong)
}

/// Runs `body(t)` for t in 0..<threads, each on a thread of its own, started together; returns
/// the seconds from the start until the last one ended.
func onThreads(_ threads: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
    let ready = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    for t in 0..<threads {
        done.enter()
        Thread.detachNewThread {
            ready.signal()
            go.wait()
            body(t)
            done.leave()
        }
    }
    for _ in 0..<threads { ready.wait() }
    let start = clock.now
    for _ in 0..<threads { go.signal() }
    done.wait()
    return seconds(clock.now - start)
}

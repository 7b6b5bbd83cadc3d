import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogStorage

/// `RRLogBench profile --parts CASE`: one operation repeated for about `--seconds` (default 4)
/// after a short setup, with no checks, for `perf record` / `valgrind --tool=callgrind`. Cases:
/// small-batch, small-pointer, io-append-{none,lz4,zstd}, io-encode, io-ingest (the fast JSON-lines path), lookup-{none,lz4,zstd}
/// (1M records; lookup-none-10m for 10M, lookup-none-10k for 10k, lookup-none-10k-same for one
/// key looked up again and again: the computation alone), scan-none, verify-none, compact-none, record-none,
/// record-every-batch (`Recorder.record` with values from a pool).
func profile(_ ctx: Context) throws {
    let runSeconds = Double(ProcessInfo.processInfo.environment["RRLOG_BENCH_SECONDS"] ?? "4") ?? 4
    let name = ctx.parts.first ?? "small-batch"
    let corpus = try IOCorpus(path: ctx.fixtures + "/io/llm-session.jsonl")
    let deadline = clock.now + .milliseconds(Int(runSeconds * 1000))
    var ops = 0
    func codec(_ s: Substring) -> Codec { s == "lz4" ? .lz4 : s == "zstd" ? .zstd : .none }
    let start = clock.now
    switch name {
    case "small-batch", "small-pointer":
        let pool = smallPayloadPool()
        let payloads = (0..<4096).map { Array(pool[($0 * 100)..<(($0 + 1) * 100)]) }
        var batch = (0..<1024).map { RecordInput(timestampNs: Int64($0), kind: 1, payload: payloads[$0]) }
        var round = 0
        while clock.now < deadline {
            let dir = ctx.tmp + "/profile-\(round)"
            let writer = try LogWriter(directory: dir)
            if name == "small-batch" {
                for b in 0..<1954 {
                    for j in 0..<1024 { batch[j].timestampNs = Int64(b * 1024 + j) }
                    try writer.appendBatch(batch)
                }
            } else {
                try pool.withUnsafeBytes { raw in
                    for i in 0..<2_000_000 {
                        let o = (i & 4095) * 100
                        try writer.append(timestampNs: Int64(i), kind: 1, key: nil, payload: UnsafeRawBufferPointer(rebasing: raw[o..<(o + 100)]))
                    }
                }
            }
            try writer.close()
            removeTree(dir)
            ops += 2_000_000
            round += 1
        }
    case let c where c.hasPrefix("io-append-"):
        var generator = IOGenerator(corpus)
        let batches = (0..<977).map { _ in generator.batch(1024) }
        var options = LogOptions()
        options.codec = codec(c.split(separator: "-").last!)
        var round = 0
        while clock.now < deadline {
            let dir = ctx.tmp + "/profile-\(round)"
            let writer = try LogWriter(directory: dir, options: options)
            for b in batches { try writer.appendBatch(b) }
            try writer.close()
            removeTree(dir)
            ops += 977 * 1024
            round += 1
        }
    case "io-encode":
        var encoder = IOEventEncoder()
        let lines = corpus.templates.map(\.line)
        var sink = 0
        while clock.now < deadline {
            for line in lines {
                let record = try encoder.record(for: try JSONValue.parse(line), location: "bench")
                sink &+= record.payload.count
            }
            ops += lines.count
        }
        if sink == 42 { print(sink) }
    case "io-ingest", "io-ingest-unredacted":
        var encoder = name == "io-ingest" ? IOEventEncoder() : IOEventEncoder(volatile: VolatilePaths(), redaction: .disabled)
        let lines = corpus.templates.map(\.line)
        var sink = 0
        while clock.now < deadline {
            for line in lines {
                let record = try line.withUnsafeBytes { try encoder.record(forLine: $0, location: "bench") }
                sink &+= record.payload.count
            }
            ops += lines.count
        }
        if sink == 42 { print(sink) }
    case "io-ingest-append":
        // The append-io bench's fast-path row: lines through the fast path into a LogWriter
        // (codec none), in batches of 1,024, a new log every million lines.
        var encoder = IOEventEncoder()
        let lines = corpus.templates.map(\.line)
        var pending: [RecordInput] = []
        pending.reserveCapacity(1024)
        var round = 0
        while clock.now < deadline {
            let dir = ctx.tmp + "/profile-\(round)"
            let writer = try LogWriter(directory: dir)
            for i in 0..<1_000_000 {
                pending.append(try lines[i % lines.count].withUnsafeBytes { try encoder.record(forLine: $0, location: "bench") })
                if pending.count == 1024 {
                    try writer.appendBatch(pending)
                    pending.removeAll(keepingCapacity: true)
                }
            }
            try writer.appendBatch(pending)
            pending.removeAll(keepingCapacity: true)
            try writer.close()
            removeTree(dir)
            ops += 1_000_000
            round += 1
        }
    case let c where c.hasPrefix("lookup-") || c.hasPrefix("scan-") || c.hasPrefix("verify-") || c.hasPrefix("compact-"):
        let fields = c.split(separator: "-")
        let n = c.contains("-10m") ? 10_000_000 : c.contains("-10k") ? 10_000 : 1_000_000
        let store = try Store(path: ctx.tmp + "/profile-store")
        let manifest = try store.createSession(name: "profile")
        var options = LogOptions()
        options.codec = codec(fields[1])
        let writer = try store.openWriter(manifest, options: options)
        var generator = IOGenerator(corpus)
        var keys: [IOKey] = []
        var left = n
        while left > 0 {
            let b = generator.batch(min(1024, left))
            keys += b.compactMap { $0.key.flatMap { IOKey(bytes: $0) } }
            try writer.append(b)
            left -= b.count
        }
        var session = try writer.close()
        let logDir = store.path + "/sessions/" + session.id + "/log"
        print("setup done in \(String(format: "%.1f", seconds(clock.now - start))) s")
        let setupEnd = clock.now
        let until = setupEnd + .milliseconds(Int(runSeconds * 1000))
        if fields[0] == "lookup" {
            let reader = try store.openReader(session)
            var rng = SplitMix(seed: 1)
            var found = 0
            // "-same": one key over and over, so everything stays in L1 and only the lookup's
            // computation is left (lookup-none-10k-same).
            let same = c.hasSuffix("-same")
            while clock.now < until {
                for _ in 0..<1000 where reader.record(for: keys[same ? 7 : Int.random(in: 0..<keys.count, using: &rng)]) != nil { found += 1 }
                ops += 1000
            }
            ctx.check(found == ops, "lookups found")
        } else if fields[0] == "scan" {
            while clock.now < until {
                let reader = try LogReader(path: logDir)
                reader.forEachRecord { _ in true }
                ops += n
            }
        } else if fields[0] == "verify" {
            while clock.now < until {
                _ = try Verifier.verify(path: logDir)
                ops += n
            }
        } else {
            while clock.now < until {
                _ = try store.compact(session)
                session = try store.session("profile")
                ops += n
            }
        }
        print(String(format: "%@: %d ops in %.2f s: %.3g ops/s", name, ops, seconds(clock.now - setupEnd),
                     Double(ops) / seconds(clock.now - setupEnd)))
        try store.remove(session)
        return
    case "record-none", "record-every-batch":
        // The record-api workload's pool case: the caller's record() and the writer thread.
        let store = try Store(path: ctx.tmp + "/profile-store")
        var options = RecordingOptions(name: "profile-\(name)")
        options.durability = name == "record-none" ? .none : .everyBatch
        let recorder = try Recorder.start(store: store, options: options)
        let pool = (0..<4096).map { i -> (JSONValue, JSONValue) in
            (["model": "gpt-4o", "messages": [["role": "user", "content": .string("step \(i): plan the refactor")]]],
             ["status": 200, "body": ["id": .int(Int64(i)), "answer": "the service reads the budget file then retries"]])
        }
        while clock.now < deadline {
            for i in 0..<10_000 {
                let (inputs, outputs) = pool[(ops + i) & 4095]
                recorder.record(ioType: "llm_call", agent: "planner", tool: "openai", inputs: inputs, outputs: outputs, durationSeconds: 0.4)
            }
            ops += 10_000
        }
        let summary = try runBlocking { try await recorder.stop() }
        print(String(format: "writer thread busy %.2f s: %.0fk events/s", summary.writerBusySeconds, Double(summary.events) / max(summary.writerBusySeconds, 1e-9) / 1e3))
        try store.remove(summary.manifest)
    case "record-paced":
        // The record-api paced case alone, for experiments: RRLOG_BENCH_CODEC (none, lz4, zstd)
        // and RRLOG_BENCH_RATE (events/s offered); prints the caller's percentiles.
        let env = ProcessInfo.processInfo.environment
        let rate = Double(env["RRLOG_BENCH_RATE"] ?? "100000") ?? 100_000
        let store = try Store(path: ctx.tmp + "/profile-store")
        var options = RecordingOptions(name: "profile-\(name)")
        options.durability = .none
        options.codec = codec(Substring(env["RRLOG_BENCH_CODEC"] ?? "lz4"))
        let recorder = try Recorder.start(store: store, options: options)
        let pool = (0..<4096).map { i -> (JSONValue, JSONValue) in
            (["model": "gpt-4o", "temperature": 0,
              "messages": [["role": "system", "content": "You are planner"], ["role": "user", "content": .string("step \(i): plan the refactor of the payment service and report p99 latency")]]],
             ["status": 200, "body": ["id": .int(Int64(i)), "answer": "the service reads the budget file then retries with backoff"]])
        }
        let events = Int(runSeconds * rate)
        var latencies = [Double](repeating: 0, count: events)
        let started = clock.now
        for i in 0..<events {
            let (inputs, outputs) = pool[i & 4095]
            let slot = started.advanced(by: .nanoseconds(Int64(Double(i) * 1e9 / rate)))
            while clock.now < slot {}
            let t0 = clock.now
            recorder.record(ioType: "llm_call", agent: "planner", tool: "openai", inputs: inputs, outputs: outputs, durationSeconds: 0.4)
            latencies[i] = micros(clock.now - t0)
        }
        ops = events
        let summary = try runBlocking { try await recorder.stop() }
        latencies.sort()
        print(String(format: "p50 %.2f p90 %.2f p95 %.2f p99 %.2f p99.9 %.2f µs; writer busy %.2f s",
                     percentile(latencies, 0.5), percentile(latencies, 0.9), percentile(latencies, 0.95), percentile(latencies, 0.99),
                     percentile(latencies, 0.999), summary.writerBusySeconds))
        try store.remove(summary.manifest)
    default:
        throw BenchError("unknown profile case \(name)")
    }
    print(String(format: "%@: %d ops in %.2f s: %.3g ops/s", name, ops, seconds(clock.now - start), Double(ops) / seconds(clock.now - start)))
}

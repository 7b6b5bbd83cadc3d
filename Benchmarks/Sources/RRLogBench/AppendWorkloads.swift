import Foundation
import RRLog
import RRLogFormat
import RRLogStorage

let recordHeaderBytes = 34

// MARK: 1. append-small

/// 100-byte records, no fsync, on tmpfs: `appendBatch` (1024 per batch), the pointer API, and
/// SQLite (WAL, prepared insert, 10k-row transactions).
func appendSmall(_ ctx: Context) throws {
    let w = "append-small"
    let n = ctx.size(2_000_000)
    let batchSize = 1024
    let payloadSize = 100
    let pool = smallPayloadPool(size: payloadSize)
    let poolCount = pool.count / payloadSize
    let recordBytes = n * (recordHeaderBytes + payloadSize)
    let base: Int64 = 1_760_000_000_000_000_000
    ctx.note("\(n) records of \(payloadSize) B payload (\(recordHeaderBytes + payloadSize) B encoded)")

    let reps = ctx.quick ? 1 : 3
    ctx.note("rrlog and SQLite: best of \(reps) runs (the machine is shared)")

    // appendBatch
    do {
        let payloads = (0..<poolCount).map { Array(pool[($0 * payloadSize)..<(($0 + 1) * payloadSize)]) }
        var best = Double.infinity
        var bestLatencies: [Double] = []
        for rep in 0..<reps {
            let dir = ctx.tmp + "/small-batch-\(rep)"
            let writer = try LogWriter(directory: dir)
            var batch = (0..<batchSize).map { RecordInput(timestampNs: 0, kind: 1, payload: payloads[$0 % poolCount]) }
            var latencies: [Double] = []
            latencies.reserveCapacity(n / batchSize + 1)
            var written = 0
            let secs = try time {
                while written < n {
                    let count = min(batchSize, n - written)
                    if count < batch.count { batch.removeLast(batch.count - count) }
                    for j in 0..<count {
                        batch[j].timestampNs = base + Int64(written + j) * 1000
                        batch[j].payload = payloads[(written + j) % poolCount]
                    }
                    let t0 = clock.now
                    try writer.appendBatch(batch)
                    latencies.append(micros(clock.now - t0))
                    written += count
                }
                try writer.close()
            }
            if secs < best {
                best = secs
                bestLatencies = latencies
            }
            if rep == reps - 1 { try checkSmallLog(ctx, dir, n: n, pool: pool, payloadSize: payloadSize) }
            removeTree(dir)
        }
        bestLatencies.sort()
        var row = Row(w, "rrlog.batch", "LogWriter.appendBatch (1024/batch)", codec: "none")
        row.records = n
        row.bytes = recordBytes
        row.seconds = best
        row.p50us = percentile(bestLatencies, 0.5)
        row.p99us = percentile(bestLatencies, 0.99)
        row.note = "latency per batch of 1024"
        ctx.emit(row)
    }

    // Pointer API, one call per record.
    do {
        var best = Double.infinity
        for rep in 0..<reps {
            let dir = ctx.tmp + "/small-pointer-\(rep)"
            let writer = try LogWriter(directory: dir)
            let secs = try pool.withUnsafeBytes { raw in
                try time {
                    for i in 0..<n {
                        let o = (i % poolCount) * payloadSize
                        try writer.append(timestampNs: base + Int64(i) * 1000, kind: 1, key: nil, payload: UnsafeRawBufferPointer(rebasing: raw[o..<(o + payloadSize)]))
                    }
                    try writer.close()
                }
            }
            best = min(best, secs)
            if rep == reps - 1 { try checkSmallLog(ctx, dir, n: n, pool: pool, payloadSize: payloadSize) }
            removeTree(dir)
        }
        var row = Row(w, "rrlog.pointer", "LogWriter.append(timestampNs:kind:key:payload:)", codec: "none")
        row.records = n
        row.bytes = recordBytes
        row.seconds = best
        row.note = "one call per record"
        ctx.emit(row)
    }

    // SQLite
    do {
        var best = Double.infinity
        for rep in 0..<reps {
            let path = ctx.tmp + "/small-\(rep).sqlite"
            let db = try SQLiteDB(path: path)
            try db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")
            try db.exec("CREATE TABLE records(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind INTEGER NOT NULL, payload BLOB NOT NULL)")
            let insert = try db.prepare("INSERT INTO records(seq, ts, kind, payload) VALUES (?1, ?2, ?3, ?4)")
            let secs = try pool.withUnsafeBytes { raw in
                try time {
                    var i = 0
                    while i < n {
                        try db.exec("BEGIN")
                        let end = min(n, i + 10_000)
                        while i < end {
                            let o = (i % poolCount) * payloadSize
                            insert.bind(1, Int64(i))
                            insert.bind(2, base + Int64(i) * 1000)
                            insert.bind(3, 1)
                            insert.bind(4, UnsafeRawBufferPointer(rebasing: raw[o..<(o + payloadSize)]))
                            try insert.run()
                            i += 1
                        }
                        try db.exec("COMMIT")
                    }
                }
            }
            best = min(best, secs)
            ctx.check(try db.scalar("SELECT count(*) FROM records") == Int64(n), "sqlite holds \(n) rows")
            for f in [path, path + "-wal", path + "-shm"] { removeTree(f) }
        }
        var row = Row(w, "sqlite.wal", "SQLite \(SQLiteDB.version) WAL, prepared insert, 10k rows/txn", system: "sqlite")
        row.records = n
        row.bytes = recordBytes
        row.seconds = best
        row.cmp = "rrlog.batch"
        row.note = "synchronous=OFF (no fsync, like rrlog's default); rowid table"
        ctx.emit(row)
    }
}

/// The log holds `n` records, in order, with the payloads written (every record with --quick,
/// the count and a sample otherwise).
func checkSmallLog(_ ctx: Context, _ dir: String, n: Int, pool: [UInt8], payloadSize: Int) throws {
    let reader = try LogReader(path: dir)
    ctx.check(reader.recordCount == n, "\(dir): \(reader.recordCount) records, expected \(n)")
    let poolCount = pool.count / payloadSize
    var seen = 0
    var bad = 0
    let stride = ctx.quick ? 1 : 997
    let lost = reader.forEachRecord { view in
        if seen % stride == 0 {
            let p = seen % poolCount
            let expected = pool[(p * payloadSize)..<((p + 1) * payloadSize)]
            if !view.payload.elementsEqual(expected) || view.sequence != UInt64(seen) &+ (reader.segments.first?.view.header.baseSequence ?? 0) {
                bad += 1
            }
        }
        seen += 1
        return true
    }
    ctx.check(lost.isEmpty, "\(dir): \(lost.count) lost ranges")
    ctx.check(seen == n, "\(dir): scanned \(seen) records, expected \(n)")
    ctx.check(bad == 0, "\(dir): \(bad) records with a wrong payload or sequence")
}

// MARK: 2. append-io

/// 1M IO events (the fixture's lines repeated), keyed by IO key: pre-encoded records and
/// encode (parse + IOEventEncoder) + append, per codec; SQLite with a key index.
func appendIO(_ ctx: Context) throws {
    let w = "append-io"
    let n = ctx.size(1_000_000)
    let corpus = try IOCorpus(path: ctx.fixtures + "/io/llm-session.jsonl")
    let batchSize = 1024
    ctx.note(String(format: "%d IO events: %d lines of %@ repeated; %.0f B mean payload; %d of %d lines keyed",
                    n, corpus.templates.count, (corpus.path as NSString).lastPathComponent, corpus.meanPayloadBytes,
                    corpus.keyedCount, corpus.templates.count))

    // Pre-encoded batches (payload arrays are shared with the templates).
    var generator = IOGenerator(corpus)
    var batches: [[RecordInput]] = []
    var expectedKeys: [[UInt8]] = []
    var recordBytes = 0
    var left = n
    while left > 0 {
        let b = generator.batch(min(batchSize, left))
        for r in b {
            recordBytes += recordHeaderBytes + r.payload.count + (r.key?.count ?? 0)
            if expectedKeys.count < 4 * corpus.templates.count, let k = r.key { expectedKeys.append(k) }
        }
        left -= b.count
        batches.append(b)
    }
    let keyedTotal = batches.reduce(0) { $0 + $1.filter { $0.key != nil }.count }

    let reps = ctx.quick ? 1 : 3
    ctx.note("rrlog and SQLite: best of \(reps) runs (the machine is shared)")
    for codec in [Codec.none, .lz4, .zstd] {
        let name = "\(codec)"
        var options = LogOptions()
        options.codec = codec
        // append only
        do {
            let dir = ctx.tmp + "/io-append-\(name)"
            var secs = Double.infinity
            for _ in 0..<reps {
                removeTree(dir)
                let writer = try LogWriter(directory: dir, options: options)
                secs = min(secs, try time {
                    for b in batches { try writer.appendBatch(b) }
                    try writer.close()
                })
            }
            var row = Row(w, "rrlog.append.\(name)", "append only (pre-encoded, appendBatch 1024)", codec: name)
            row.records = n
            row.bytes = recordBytes
            row.seconds = secs
            row.note = "stored " + mb(treeSize(dir))
            ctx.emit(row)
            let reader = try LogReader(path: dir)
            ctx.check(reader.recordCount == n, "\(dir): \(reader.recordCount) records, expected \(n)")
            var keyed = 0
            reader.forEachRecord { view in
                if view.key != nil { keyed += 1 }
                return true
            }
            ctx.check(keyed == keyedTotal, "\(dir): \(keyed) keyed records, expected \(keyedTotal)")
            var rng = SplitMix(seed: 7)
            for _ in 0..<(ctx.quick ? 200 : 50) {
                let b = batches[Int.random(in: 0..<batches.count, using: &rng)]
                let r = b[Int.random(in: 0..<b.count, using: &rng)]
                guard let key = r.key else { continue }
                ctx.check(reader.lookupFirst(key: key)?.payload == r.payload, "\(dir): lookup of a written key")
            }
            removeTree(dir)
        }
        // encode + append: what `rrlog append` and a recorder did per line (JSON parse into a
        // tree, then IOEventEncoder); then the same lines through the fast path
        // (`IOEventEncoder.record(forLine:)`, what `IOEventIngest.add(lineBytes:)` calls).
        let lines = corpus.templates.map(\.line)
        let encoders: [(id: String, label: String, encode: (inout IOEventEncoder, [UInt8]) throws -> RecordInput)] = [
            ("rrlog.encode.\(name)", "encode + append (JSON parse, IOEventEncoder, appendBatch)", { encoder, line in
                try encoder.record(for: try JSONValue.parse(line), location: "bench")
            }),
            ("rrlog.ingest.\(name)", "JSON line -> record (fast path) + appendBatch", { encoder, line in
                try line.withUnsafeBytes { try encoder.record(forLine: $0, location: "bench") }
            }),
        ]
        for (id, label, encode) in encoders {
            let dir = ctx.tmp + "/io-encode-\(name)"
            var secs = Double.infinity
            var gotKeys: [[UInt8]] = []
            var gotPayloads: [[UInt8]] = []
            for _ in 0..<reps {
            removeTree(dir)
            gotKeys = []
            gotPayloads = []
            let writer = try LogWriter(directory: dir, options: options)
            var encoder = IOEventEncoder()
            var pending: [RecordInput] = []
            pending.reserveCapacity(batchSize)
            func flush() throws {
                try writer.appendBatch(pending)
                if gotKeys.count < expectedKeys.count { gotKeys += pending.compactMap(\.key) }
                if gotPayloads.count < lines.count { gotPayloads += pending.map(\.payload) }
                pending.removeAll(keepingCapacity: true)
            }
            secs = min(secs, try time {
                for i in 0..<n {
                    pending.append(try encode(&encoder, lines[i % lines.count]))
                    if pending.count == batchSize { try flush() }
                }
                if !pending.isEmpty { try flush() }
                try writer.close()
            })
            }
            var row = Row(w, id, label, codec: name)
            row.records = n
            row.bytes = recordBytes
            row.seconds = secs
            ctx.emit(row)
            let m = min(gotKeys.count, expectedKeys.count)
            ctx.check(m > 0 && gotKeys.prefix(m) == expectedKeys.prefix(m), "\(id): keys equal the generator's (\(m) compared)")
            let p = min(gotPayloads.count, lines.count)
            ctx.check(p > 0 && zip(gotPayloads.prefix(p), corpus.templates).allSatisfy { $0 == $1.payload },
                      "\(id): payloads equal the corpus's (\(p) compared)")
            let reader = try LogReader(path: dir)
            ctx.check(reader.recordCount == n, "\(dir): \(reader.recordCount) records, expected \(n)")
            removeTree(dir)
        }
    }

    // SQLite, keyed, with the key index maintained while inserting (as rrlog's key table is).
    var best = Double.infinity
    for rep in 0..<reps {
        let path = ctx.tmp + "/io-\(rep).sqlite"
        let db = try SQLiteDB(path: path)
        try db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")
        try db.exec("CREATE TABLE events(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind INTEGER NOT NULL, key BLOB, payload BLOB NOT NULL)")
        try db.exec("CREATE INDEX events_key ON events(key) WHERE key IS NOT NULL")
        let insert = try db.prepare("INSERT INTO events(seq, ts, kind, key, payload) VALUES (?1, ?2, ?3, ?4, ?5)")
        var seq: Int64 = 0
        best = min(best, try time {
            try db.exec("BEGIN")
            for b in batches {
                for r in b {
                    insert.bind(1, seq)
                    insert.bind(2, r.timestampNs)
                    insert.bind(3, Int64(r.kind))
                    try r.payload.withUnsafeBytes { p in
                        if let key = r.key {
                            try key.withUnsafeBytes { k in
                                insert.bind(4, k)
                                insert.bind(5, p)
                                try insert.run()
                            }
                        } else {
                            insert.bind(4, nil)
                            insert.bind(5, p)
                            try insert.run()
                        }
                    }
                    seq += 1
                    if seq % 10_000 == 0 { try db.exec("COMMIT; BEGIN") }
                }
            }
            try db.exec("COMMIT")
        })
        ctx.check(try db.scalar("SELECT count(*) FROM events") == Int64(n), "sqlite holds \(n) rows")
        ctx.check(try db.scalar("SELECT count(*) FROM events WHERE key IS NOT NULL") == Int64(keyedTotal), "sqlite holds \(keyedTotal) keys")
        for f in [path, path + "-wal", path + "-shm"] { removeTree(f) }
    }
    var row = Row(w, "sqlite.keyed", "SQLite WAL, prepared insert, 10k rows/txn, key index", system: "sqlite")
    row.records = n
    row.bytes = recordBytes
    row.seconds = best
    row.cmp = "rrlog.append.none"
    row.note = "synchronous=OFF; partial index on key"
    ctx.emit(row)
}

// MARK: 3. append-durable

final class LatencySink: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Double] = []
    private(set) var count = 0
    private(set) var errors: [String] = []

    func add(_ v: [Double], count c: Int) {
        lock.lock()
        values += v
        count += c
        lock.unlock()
    }

    func fail(_ e: String) {
        lock.lock()
        errors.append(e)
        lock.unlock()
    }
}

final class SharedBytes: @unchecked Sendable {
    let bytes: [UInt8]
    init(_ b: [UInt8]) { bytes = b }
}

/// `.everyBatch` on the real disk: 1 appender, 16 concurrent appenders each waiting for its own
/// append, and batches of 1000; SQLite synchronous=FULL with one insert per transaction.
func appendDurable(_ ctx: Context) throws {
    let w = "append-durable"
    let caseSeconds = ctx.quick ? 0.3 : 5.0
    let payloadSize = 100
    let pool = SharedBytes(smallPayloadPool(count: 64, size: payloadSize))
    if isTmpfs(ctx.disk) { ctx.note("WARNING: \(ctx.disk) is tmpfs, not a disk: durable figures mean nothing") }
    ctx.note(String(format: "on %@ (not tmpfs), %.1f s per case, %d B payloads", ctx.disk, caseSeconds, payloadSize))
    var options = LogOptions()
    options.durability = .everyBatch

    /// One appender case: records acknowledged, seconds, sorted per-append latencies, and CPU
    /// seconds per second of the whole process (nil where not measured).
    struct DurableRun {
        var count: Int
        var seconds: Double
        var latencies: [Double]
        var cpus: Double?
        var rate: Double { Double(count) / Swift.max(1e-9, seconds) }
    }
    func runAppenders(_ name: String, threads: Int) throws -> DurableRun {
        let dir = ctx.disk + "/durable-\(name)"
        removeTree(dir)
        let writer = try LogWriter(directory: dir, options: options)
        let sink = LatencySink()
        let done = DispatchSemaphore(value: 0)
        let cpu0 = cpuSeconds()
        let start = clock.now
        let deadline = start + .milliseconds(Int(caseSeconds * 1000))
        for t in 0..<threads {
            let thread = Thread {
                var lat: [Double] = []
                var appended = 0
                pool.bytes.withUnsafeBytes { raw in
                    while clock.now < deadline {
                        let p = UnsafeRawBufferPointer(rebasing: raw[((appended + t) % 64 * payloadSize)..<((appended + t) % 64 * payloadSize + payloadSize)])
                        let t0 = clock.now
                        do {
                            try writer.append(timestampNs: Int64(appended), kind: 1, key: nil, payload: p)
                        } catch {
                            sink.fail("\(error)")
                            break
                        }
                        lat.append(micros(clock.now - t0))
                        appended += 1
                    }
                }
                sink.add(lat, count: appended)
                done.signal()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        for _ in 0..<threads { done.wait() }
        let elapsed = Swift.max(1e-9, seconds(clock.now - start))
        let cpus = (cpuSeconds() - cpu0) / elapsed
        try writer.close()
        ctx.check(sink.errors.isEmpty, "durable appends failed: \(sink.errors.first ?? "")")
        let reader = try LogReader(path: dir)
        ctx.check(reader.recordCount == sink.count, "\(dir): \(reader.recordCount) records, \(sink.count) acknowledged")
        removeTree(dir)
        return DurableRun(count: sink.count, seconds: elapsed, latencies: sink.values.sorted(), cpus: cpus)
    }

    /// One row per appender case.
    func emitCase(_ id: String, _ name: String, _ run: DurableRun, note: String) {
        var row = Row(w, id, name, codec: "none")
        row.records = run.count
        row.seconds = run.seconds
        row.p50us = percentile(run.latencies, 0.5)
        row.p99us = percentile(run.latencies, 0.99)
        row.cpus = run.cpus
        row.note = note
        ctx.emit(row)
    }

    let one = try runAppenders("one", threads: 1)
    emitCase("rrlog.one", "1 appender, append() waits for fsync", one, note: "latency per append")
    let sixteen = try runAppenders("sixteen", threads: 16)
    emitCase("rrlog.16", "16 appender threads, each waits for its own append", sixteen,
             note: String(format: "group commit: %.1fx one appender; %.2f CPUs busy", sixteen.rate / Swift.max(1e-9, one.rate), sixteen.cpus ?? 0))

    // The same with Swift tasks: each awaits its own append (`appendDurably`); one sync thread
    // leads the group commits and resumes the tasks it made durable.
    func runTasks(_ name: String, tasks: Int) throws -> DurableRun {
        let dir = ctx.disk + "/durable-\(name)"
        removeTree(dir)
        let writer = try LogWriter(directory: dir, options: options)
        let payloads = (0..<64).map { Array(pool.bytes[($0 * payloadSize)..<(($0 + 1) * payloadSize)]) }
        let start = clock.now
        let deadline = start + .milliseconds(Int(caseSeconds * 1000))
        let (count, latencies, failures) = try runBlocking { () async -> (Int, [Double], [String]) in
            await withTaskGroup(of: (Int, [Double], String?).self) { group in
                for t in 0..<tasks {
                    group.addTask {
                        var lat: [Double] = []
                        var appended = 0
                        while clock.now < deadline {
                            let record = RecordInput(timestampNs: Int64(appended), kind: 1, payload: payloads[(appended + t) % 64])
                            let t0 = clock.now
                            do { try await writer.appendDurably(record) } catch { return (appended, lat, "\(error)") }
                            lat.append(micros(clock.now - t0))
                            appended += 1
                        }
                        return (appended, lat, nil)
                    }
                }
                var total = 0
                var all: [Double] = []
                var errors: [String] = []
                for await (n, lat, error) in group {
                    total += n
                    all += lat
                    if let error { errors.append(error) }
                }
                return (total, all, errors)
            }
        }
        let elapsed = Swift.max(1e-9, seconds(clock.now - start))
        try writer.close()
        ctx.check(failures.isEmpty, "durable appends failed: \(failures.first ?? "")")
        let reader = try LogReader(path: dir)
        ctx.check(reader.recordCount == count, "\(dir): \(reader.recordCount) records, \(count) acknowledged")
        removeTree(dir)
        return DurableRun(count: count, seconds: elapsed, latencies: latencies.sorted(), cpus: nil)
    }

    let taskOne = try runTasks("task-one", tasks: 1)
    emitCase("rrlog.task1", "1 task, await appendDurably", taskOne, note: "latency per append")
    let taskSixteen = try runTasks("task-sixteen", tasks: 16)
    emitCase("rrlog.task16", "16 tasks, each awaits its own appendDurably", taskSixteen,
             note: String(format: "group commit: %.1fx one task, %.1fx one appender thread",
                          taskSixteen.rate / Swift.max(1e-9, taskOne.rate), taskSixteen.rate / Swift.max(1e-9, one.rate)))

    // Batches of 1000 records per durable appendBatch.
    do {
        let dir = ctx.disk + "/durable-batch"
        removeTree(dir)
        let writer = try LogWriter(directory: dir, options: options)
        let payloads = (0..<64).map { Array(pool.bytes[($0 * payloadSize)..<(($0 + 1) * payloadSize)]) }
        var batch = (0..<1000).map { RecordInput(timestampNs: Int64($0), kind: 1, payload: payloads[$0 % 64]) }
        var lat: [Double] = []
        var appended = 0
        let start = clock.now
        let deadline = start + .milliseconds(Int(caseSeconds * 1000))
        while clock.now < deadline {
            for j in 0..<batch.count { batch[j].timestampNs = Int64(appended + j) }
            let t0 = clock.now
            try writer.appendBatch(batch)
            lat.append(micros(clock.now - t0))
            appended += batch.count
        }
        let elapsed = seconds(clock.now - start)
        try writer.close()
        lat.sort()
        var row = Row(w, "rrlog.batch1000", "appendBatch of 1000, each batch durable", codec: "none")
        row.records = appended
        row.bytes = appended * (recordHeaderBytes + payloadSize)
        row.seconds = elapsed
        row.p50us = percentile(lat, 0.5)
        row.p99us = percentile(lat, 0.99)
        row.note = "latency per batch"
        ctx.emit(row)
        let reader = try LogReader(path: dir)
        ctx.check(reader.recordCount == appended, "\(dir): \(reader.recordCount) records, \(appended) acknowledged")
        removeTree(dir)
    }

    // SQLite synchronous=FULL: one insert per transaction, then 1000 per transaction.
    for perTxn in [1, 1000] {
        let path = ctx.disk + "/durable-\(perTxn).sqlite"
        for p in [path, path + "-wal", path + "-shm"] { removeTree(p) }
        let db = try SQLiteDB(path: path)
        try db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
        try db.exec("CREATE TABLE records(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind INTEGER NOT NULL, payload BLOB NOT NULL)")
        let insert = try db.prepare("INSERT INTO records(seq, ts, kind, payload) VALUES (?1, ?2, ?3, ?4)")
        var lat: [Double] = []
        var appended = 0
        let start = clock.now
        let deadline = start + .milliseconds(Int(caseSeconds * 1000))
        try pool.bytes.withUnsafeBytes { raw in
            while clock.now < deadline {
                let t0 = clock.now
                if perTxn > 1 { try db.exec("BEGIN") }
                for j in 0..<perTxn {
                    let i = appended + j
                    insert.bind(1, Int64(i))
                    insert.bind(2, Int64(i))
                    insert.bind(3, 1)
                    insert.bind(4, UnsafeRawBufferPointer(rebasing: raw[(i % 64 * payloadSize)..<(i % 64 * payloadSize + payloadSize)]))
                    try insert.run()
                }
                if perTxn > 1 { try db.exec("COMMIT") }
                lat.append(micros(clock.now - t0))
                appended += perTxn
            }
        }
        let elapsed = seconds(clock.now - start)
        lat.sort()
        var row = Row(w, perTxn == 1 ? "sqlite.full" : "sqlite.full1000",
                  perTxn == 1 ? "SQLite WAL synchronous=FULL, 1 insert/txn" : "SQLite WAL synchronous=FULL, 1000 inserts/txn",
                  system: "sqlite")
        row.records = appended
        row.seconds = elapsed
        row.p50us = percentile(lat, 0.5)
        row.p99us = percentile(lat, 0.99)
        row.cmp = perTxn == 1 ? "rrlog.16" : "rrlog.batch1000"
        row.note = perTxn == 1 ? "latency per commit; compared with rrlog's 16 appenders" : "latency per commit"
        ctx.emit(row)
        ctx.check(try db.scalar("SELECT count(*) FROM records") == Int64(appended), "sqlite holds \(appended) rows")
        for p in [path, path + "-wal", path + "-shm"] { removeTree(p) }
    }
}

// MARK: Writer memory

/// A long append (IO events, lz4) in a process of its own; reports VmHWM (peak RSS).
func writerRSS(_ ctx: Context) throws {
    let w = "writer-rss"
    let n = ctx.size(10_000_000, quick: 100_000)
    let corpus = try IOCorpus(path: ctx.fixtures + "/io/llm-session.jsonl")
    let before = procStatusKiB("VmHWM") ?? 0
    let dir = ctx.tmp + "/rss"
    var options = LogOptions()
    options.codec = .lz4
    let writer = try LogWriter(directory: dir, options: options)
    var generator = IOGenerator(corpus)
    var bytes = 0
    var peakDuring = 0
    let secs = try time {
        var left = n
        while left > 0 {
            let b = generator.batch(min(1024, left))
            for r in b { bytes += recordHeaderBytes + r.payload.count + (r.key?.count ?? 0) }
            try writer.appendBatch(b)
            left -= b.count
            if left % (1024 * 256) < 1024 { peakDuring = max(peakDuring, procStatusKiB("VmRSS") ?? 0) }
        }
        try writer.close()
    }
    let after = procStatusKiB("VmHWM") ?? 0
    var row = Row(w, "rrlog.rss", "LogWriter.appendBatch, \(n) IO events, lz4", codec: "lz4")
    row.records = n
    row.bytes = bytes
    row.seconds = secs
    row.size = after * 1024
    row.value = String(format: "VmHWM %.1f MiB (%.1f MiB before appending)", Double(after) / 1024, Double(before) / 1024)
    row.note = "peak RSS of the whole process: corpus, generator and writer"
    row.kind = "info"
    ctx.emit(row)
    let reader = try LogReader(path: dir)
    ctx.check(reader.recordCount == n, "\(dir): \(reader.recordCount) records, expected \(n)")
    removeTree(dir)
}

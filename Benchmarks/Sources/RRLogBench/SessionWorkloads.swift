import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogStorage

/// Workloads over sessions written through `Store`/`SessionWriter` (so the log key index of
/// FORMAT.md §6.3 is built at close): lookup, open, scan, verify and compact, with SQLite beside
/// them. Sessions are written one at a time and removed after use, to bound tmpfs.
func sessionWorkloads(_ ctx: Context) throws {
    let parts = ctx.parts.isEmpty ? ["lookup", "open", "scan", "verify"] : ctx.parts
    let corpus = try IOCorpus(path: ctx.fixtures + "/io/llm-session.jsonl")
    let scanSize = ctx.quick ? 10_000 : 1_000_000
    var largest = ctx.quick ? 10_000 : 10_000_000
    if !ctx.quick {
        let free = freeBytes(ctx.tmp)
        if free < 8_000_000_000 {
            largest = 3_000_000
            ctx.note("only \(free / 1_000_000) MB free on \(ctx.tmp): the largest session has 3M records instead of 10M")
        }
    }
    let lookupSizes = ctx.quick ? [1_000, 10_000] : [10_000, 1_000_000, largest]
    var sizes = Set<Int>()
    if parts.contains("lookup") { sizes.formUnion(lookupSizes) }
    if parts.contains("open") { sizes.insert(largest) }
    if parts.contains("scan") || parts.contains("verify") { sizes.insert(scanSize) }
    let store = try Store(path: ctx.tmp + "/store")
    var p50: [String: Double] = [:]
    ctx.note(String(format: "IO events (%.0f B mean payload, %d of %d lines keyed); sizes %@",
                    corpus.meanPayloadBytes, corpus.keyedCount, corpus.templates.count, sizes.sorted().map(String.init).joined(separator: ", ")))

    for n in sizes.sorted() {
        var keys: [[UInt8]] = []
        var keyTemplate: [Int32] = []
        // Smaller chunks trade ratio for cheaper compressed lookups: shown at the middle size.
        var variants: [(Codec, Int?)] = [(.none, nil), (.lz4, nil), (.zstd, nil)]
        if parts.contains("lookup") && n == lookupSizes[lookupSizes.count / 2] { variants += [(.lz4, 32 << 10), (.zstd, 32 << 10)] }
        for (codec, chunkSize) in variants {
            let name = "\(codec)" + (chunkSize.map { "-\($0 >> 10)k" } ?? "")
            let main = chunkSize == nil
            // Write the session.
            var options = LogOptions()
            options.codec = codec
            if let chunkSize { options.chunkSizeBytes = chunkSize }
            let written = try writeIOSession(store, name: "bench-\(n)-\(name)", records: n, corpus: corpus, options: options)
            let session = written.session
            keys = written.keys
            keyTemplate = written.keyTemplate
            let (appendSecs, closeSecs, bytes) = (written.appendSeconds, written.closeSeconds, written.bytes)
            let logDir = store.path + "/sessions/" + session.id + "/log"
            let logReader = try LogReader(path: logDir)
            let usesKeyIndex = logReader.usesKeyIndex
            let segments = logReader.segments.count
            ctx.check(logReader.recordCount == n, "session \(session.name): \(logReader.recordCount) records, expected \(n)")
            ctx.check(session.recordCount == n, "manifest of \(session.name) says \(session.recordCount) records, expected \(n)")
            if n == scanSize && main {
                var row = Row("lookup", "rrlog.write.\(n).\(name)", "write \(n) via SessionWriter.append (1024/batch)", codec: name)
                row.records = n
                row.bytes = bytes
                row.seconds = appendSecs
                row.note = String(format: "close (seal + key index) %.1f ms; %@ on disk", closeSecs * 1000, mb(treeSize(logDir)))
                ctx.emit(row)
            }

            if parts.contains("lookup") && lookupSizes.contains(n) {
                let reader = try store.openReader(session)
                let count = ctx.quick ? 2_000 : (codec == .none ? 200_000 : 20_000)
                let faults0 = minorFaults()
                var rng = SplitMix(seed: UInt64(n) &* 31 &+ UInt64(codec.rawValue))
                let picks = (0..<count).map { _ in Int.random(in: 0..<keys.count, using: &rng) }
                let ioKeys = picks.map { IOKey(bytes: keys[$0])! }
                for i in 0..<min(count, 5_000) { _ = reader.record(for: ioKeys[i]) }  // warm-up
                var (lat, bad) = timedLookups(reader, picks: picks, ioKeys: ioKeys, keys: keys, keyTemplate: keyTemplate, corpus: corpus)
                let faults = Double(minorFaults() - faults0) / Double(count)
                ctx.check(bad == 0, "\(bad) of \(count) lookups in \(session.name) returned a wrong or no record")
                let missing = IOKey(callDigest: [UInt8](repeating: 0xAB, count: 32), callIndex: 7)!
                ctx.check(reader.record(for: missing) == nil, "a key never written is not found in \(session.name)")
                var row = latencyRow("rrlog.\(n).\(name)", "SessionReader.record(for:), \(n) records", codec: name, &lat)
                row.note = String(format: "usesKeyIndex=%@, %d segments, %d keys, %.2f page faults/lookup", "\(logReader.usesKeyIndex)", segments, keys.count, faults)
                if !main { row.note! += String(format: "; %.0f KiB chunks, %@ stored", Double(chunkSize!) / 1024, mb(treeSize(logDir))) }
                ctx.emit(row)
                p50["\(n).\(name)"] = row.p50us
                if !logReader.usesKeyIndex { ctx.note("WARNING: \(session.name) has no current log key index: lookups probe every segment") }

                if codec == .none {
                    var lat2 = [Double](repeating: 0, count: count)
                    bad = 0
                    for i in 0..<count {
                        let key = keys[picks[i]]
                        let t0 = clock.now
                        let r = logReader.lookupFirst(key: key)
                        lat2[i] = micros(clock.now - t0)
                        if r?.payload != corpus.templates[Int(keyTemplate[picks[i]])].payload { bad += 1 }
                    }
                    ctx.check(bad == 0, "\(bad) of \(count) LogReader lookups returned a wrong or no record")
                    row = latencyRow("rrlog.raw.\(n).\(name)", "LogReader.lookupFirst(key:), \(n) records", codec: name, &lat2)
                    row.note = "key bytes prepared"
                    ctx.emit(row)
                }
            }

            if parts.contains("lookup") && n == lookupSizes.last! && codec == .none {
                // A fresh reader whose mappings `prefault()` filled in the background (waited
                // for here), and lookups of other keys than the rows above made: what is left
                // is cache and TLB misses.
                try prefaultedLookups(ctx, store: store, session: session, corpus: corpus, keys: keys, keyTemplate: keyTemplate)
            }

            if parts.contains("open") && n == largest && main {
                var best = Double.infinity
                var first = 0.0
                for attempt in 0..<5 {
                    var r: LogReader?
                    let t = try time { r = try LogReader(path: logDir) }
                    if attempt == 0 { first = t }
                    best = min(best, t)
                    ctx.check(r?.recordCount == n, "opened \(session.name) holds \(r?.recordCount ?? -1) records")
                    r = nil
                }
                var row = Row("open", "rrlog.open.\(name)", "LogReader(path:), sealed session of \(n) records", codec: name)
                row.ms = best * 1000
                row.kind = "info"
                row.note = String(format: "best of 5 (first %.2f ms); %d segments, %@; key index %@", first * 1000, segments,
                                  mb(treeSize(logDir)), usesKeyIndex ? "used" : "NOT used")
                ctx.emit(row)
            }

            if parts.contains("scan") && n == scanSize && main {
                var best = Double.infinity
                var scanned = 0
                var scannedBytes = 0
                for _ in 0..<3 {
                    let r = try LogReader(path: logDir)
                    var c = 0
                    var b = 0
                    var lost: [LostRange] = []
                    let t = time {
                        lost = r.forEachRecord { v in
                            c += 1
                            b += recordHeaderBytes + (v.key?.count ?? 0) + v.payload.count
                            return true
                        }
                    }
                    ctx.check(lost.isEmpty, "scan of \(session.name) lost \(lost.count) ranges")
                    best = min(best, t)
                    scanned = c
                    scannedBytes = b
                }
                ctx.check(scanned == n && scannedBytes == bytes, "scan of \(session.name): \(scanned) records / \(scannedBytes) bytes, expected \(n) / \(bytes)")
                var row = Row("scan", "rrlog.scan.\(name)", "LogReader.forEachRecord (frame + record CRCs), \(n) records", codec: name)
                row.records = n
                row.bytes = scannedBytes
                row.seconds = best
                row.note = "best of 3; MB/s of record bytes (34 B header + key + payload)"
                ctx.emit(row)
            }

            var current = session
            if parts.contains("verify") && n == scanSize && main {
                var report: VerifyReport?
                let t = try time { report = try Verifier.verify(path: logDir) }
                ctx.check(report?.isClean == true && report?.records == n,
                          "verify of \(session.name): clean=\(report?.isClean ?? false), \(report?.records ?? -1) records")
                var row = Row("verify-compact", "rrlog.verify.\(name)", "Verifier.verify, \(n) records", codec: name)
                row.records = n
                row.bytes = report?.bytes ?? 0
                row.seconds = t
                row.note = "MB/s of file bytes (" + mb(report?.bytes ?? 0) + ")"
                ctx.emit(row)

                var compaction: CompactionReport?
                let tc = try time { compaction = try store.compact(session) }
                current = try store.session(session.name)
                let after = try store.openReader(current)
                ctx.check(after.recordCount == n, "compacted \(session.name) holds \(after.recordCount) records, expected \(n)")
                var rng = SplitMix(seed: 99)
                var bad = 0
                for _ in 0..<200 {
                    let i = Int.random(in: 0..<keys.count, using: &rng)
                    if after.record(for: IOKey(bytes: keys[i])!)?.payload != corpus.templates[Int(keyTemplate[i])].payload { bad += 1 }
                }
                ctx.check(bad == 0, "\(bad) of 200 lookups after compacting \(session.name) failed")
                row = Row("verify-compact", "rrlog.compact.\(name)", "Store.compact (same codec), \(n) records", codec: name)
                row.records = n
                row.bytes = Int(compaction?.bytesBefore ?? 0)
                row.seconds = tc
                row.note = "MB/s of file bytes before (" + mb(Int(compaction?.bytesBefore ?? 0)) + ")"
                ctx.emit(row)
            }
            try store.remove(current)
        }

        // SQLite peer on the same keys and payloads.
        if (parts.contains("lookup") && lookupSizes.contains(n)) || (parts.contains("scan") && n == scanSize) {
            try sqlitePeer(ctx, corpus: corpus, n: n, keys: keys, keyTemplate: keyTemplate,
                           lookup: parts.contains("lookup") && lookupSizes.contains(n), scan: parts.contains("scan") && n == scanSize)
        }
    }

    if parts.contains("lookup") {
        for codec in ["none", "lz4", "zstd"] {
            guard let small = p50["\(lookupSizes.first!).\(codec)"], let big = p50["\(lookupSizes.last!).\(codec)"] else { continue }
            var row = Row("lookup", "rrlog.o1.\(codec)", "p50 ratio \(lookupSizes.last!) / \(lookupSizes.first!) records", codec: codec)
            row.value = String(format: "%.2fx", big / small)
            row.kind = "info"
            ctx.emit(row)
        }
    }
}

/// SQLite with every record (key NULL when unkeyed) and a partial index on the key: indexed
/// lookups of the same keys, and a full scan.
func sqlitePeer(_ ctx: Context, corpus: IOCorpus, n: Int, keys: [[UInt8]], keyTemplate: [Int32], lookup: Bool, scan: Bool) throws {
    let path = ctx.tmp + "/lookup-\(n).sqlite"
    let files = [path, path + "-wal", path + "-shm"]
    defer { files.forEach(removeTree) }
    var insertSecs = 0.0
    do {
        let db = try SQLiteDB(path: path)
        try db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")
        try db.exec("CREATE TABLE events(seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind INTEGER NOT NULL, key BLOB, payload BLOB NOT NULL)")
        let insert = try db.prepare("INSERT INTO events(seq, ts, kind, key, payload) VALUES (?1, ?2, ?3, ?4, ?5)")
        var generator = IOGenerator(corpus)
        insertSecs = try time {
            try db.exec("BEGIN")
            for seq in 0..<n {
                let (r, _) = generator.next()
                insert.bind(1, Int64(seq))
                insert.bind(2, r.timestampNs)
                insert.bind(3, Int64(r.kind))
                try r.payload.withUnsafeBytes { p in
                    insert.bind(5, p)
                    if let key = r.key {
                        try key.withUnsafeBytes { k in
                            insert.bind(4, k)
                            try insert.run()
                        }
                    } else {
                        insert.bind(4, nil)
                        try insert.run()
                    }
                }
                if seq % 10_000 == 9_999 { try db.exec("COMMIT; BEGIN") }
            }
            try db.exec("COMMIT")
            try db.exec("CREATE INDEX events_key ON events(key) WHERE key IS NOT NULL")
            try db.exec("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }
    let db = try SQLiteDB(path: path)
    try db.exec("PRAGMA mmap_size=17179869184; PRAGMA cache_size=-262144;")
    ctx.check(try db.scalar("SELECT count(*) FROM events") == Int64(n), "sqlite holds \(n) rows")
    let setup = String(format: "built in %.1f s (%.0f rows/s, index after), %@", insertSecs, Double(n) / insertSecs, mb(treeSize(path)))
    if lookup {
        let count = ctx.quick ? 2_000 : 200_000
        var rng = SplitMix(seed: UInt64(n) &* 31)
        let picks = (0..<count).map { _ in Int.random(in: 0..<keys.count, using: &rng) }
        let select = try db.prepare("SELECT payload FROM events WHERE key = ?1 LIMIT 1")
        func one(_ key: [UInt8]) -> [UInt8]? {
            key.withUnsafeBytes { k in
                select.bind(1, k)
                defer { select.reset() }
                guard select.step() == sqliteRow else { return nil }
                return Array(select.blob(0))
            }
        }
        for i in 0..<min(count, 5_000) { _ = one(keys[picks[i]]) }
        var lat = [Double](repeating: 0, count: count)
        var bad = 0
        for i in 0..<count {
            let key = keys[picks[i]]
            let t0 = clock.now
            let payload = one(key)
            lat[i] = micros(clock.now - t0)
            if payload != corpus.templates[Int(keyTemplate[picks[i]])].payload { bad += 1 }
        }
        ctx.check(bad == 0, "\(bad) of \(count) sqlite lookups returned a wrong or no payload")
        let total = lat.reduce(0, +)
        lat.sort()
        var row = Row("lookup", "sqlite.\(n)", "SQLite indexed lookup, \(n) rows", system: "sqlite")
        row.records = count
        row.seconds = total / 1e6
        row.p50us = percentile(lat, 0.5)
        row.p99us = percentile(lat, 0.99)
        row.kind = "latency"
        row.cmp = "rrlog.\(n).none"
        row.note = "prepared SELECT, payload copied, mmap on; " + setup
        ctx.emit(row)
    }
    if scan {
        var best = Double.infinity
        var rows = 0
        var bytes = 0
        let select = try db.prepare("SELECT key, payload FROM events ORDER BY seq")
        for _ in 0..<3 {
            var c = 0
            var b = 0
            let t = time {
                while select.step() == sqliteRow {
                    c += 1
                    b += recordHeaderBytes + select.blob(0).count + select.blob(1).count
                }
                select.reset()
            }
            best = min(best, t)
            rows = c
            bytes = b
        }
        ctx.check(rows == n, "sqlite scan returned \(rows) rows, expected \(n)")
        var row = Row("scan", "sqlite.scan", "SQLite full scan (SELECT key, payload), \(n) rows", system: "sqlite")
        row.records = rows
        row.bytes = bytes
        row.seconds = best
        row.cmp = "rrlog.scan.none"
        row.note = "best of 3; bytes counted as rrlog's record bytes"
        ctx.emit(row)
    }
}

/// A session written through `SessionWriter.append` in batches of 1024 generated IO events, and
/// what the bench checks and reports of it.
struct WrittenSession {
    var session: SessionManifest
    var keys: [[UInt8]] = []
    var keyTemplate: [Int32] = []
    var appendSeconds = 0.0
    var closeSeconds = 0.0
    var bytes = 0
}

func writeIOSession(_ store: Store, name: String, records n: Int, corpus: IOCorpus, options: LogOptions) throws -> WrittenSession {
    let manifest = try store.createSession(name: name)
    let writer = try store.openWriter(manifest, options: options)
    var generator = IOGenerator(corpus)
    var out = WrittenSession(session: manifest)
    out.keys.reserveCapacity(n / 7)
    var batch: [RecordInput] = []
    batch.reserveCapacity(1024)
    var left = n
    while left > 0 {
        batch.removeAll(keepingCapacity: true)
        for _ in 0..<min(1024, left) {
            let (r, t) = generator.next()
            if let k = r.key {
                out.keys.append(k)
                out.keyTemplate.append(Int32(t))
            }
            out.bytes += recordHeaderBytes + r.payload.count + (r.key?.count ?? 0)
            batch.append(r)
        }
        let t0 = clock.now
        try writer.append(batch)
        out.appendSeconds += seconds(clock.now - t0)
        left -= batch.count
    }
    var closed: SessionManifest?
    out.closeSeconds = try time { closed = try writer.close() }
    out.session = closed!
    return out
}

/// A lookup row from per-lookup latencies in µs (sorted in place).
private func latencyRow(_ id: String, _ name: String, codec: String, _ lat: inout [Double]) -> Row {
    let total = lat.reduce(0, +)
    lat.sort()
    var row = Row("lookup", id, name, codec: codec)
    row.records = lat.count
    row.seconds = total / 1e6
    row.p50us = percentile(lat, 0.5)
    row.p99us = percentile(lat, 0.99)
    row.kind = "latency"
    return row
}

/// Times `reader.record(for:)` of `ioKeys` (the keys at `picks`, indexes into `keys`): latencies
/// in µs, and how many lookups returned no record or another payload or key than was written.
private func timedLookups(
    _ reader: SessionReader, picks: [Int], ioKeys: [IOKey], keys: [[UInt8]], keyTemplate: [Int32], corpus: IOCorpus
) -> (latencies: [Double], bad: Int) {
    var lat = [Double](repeating: 0, count: picks.count)
    var bad = 0
    for i in picks.indices {
        let t0 = clock.now
        let r = reader.record(for: ioKeys[i])
        lat[i] = micros(clock.now - t0)
        if r?.payload != corpus.templates[Int(keyTemplate[picks[i]])].payload || r?.key != keys[picks[i]] { bad += 1 }
    }
    return (lat, bad)
}

/// Lookups of random keys through a fresh reader after `prefault()` (waited for).
private func prefaultedLookups(
    _ ctx: Context, store: Store, session: SessionManifest, corpus: IOCorpus, keys: [[UInt8]], keyTemplate: [Int32]
) throws {
    let n = session.recordCount
    let count = ctx.quick ? 2_000 : 200_000
    let pmd0 = filePmdMappedKiB()
    let fresh = try store.openReader(session)
    let t0 = clock.now
    let job = fresh.prefault()
    job.wait()
    let prefaultSecs = seconds(clock.now - t0)
    var rng = SplitMix(seed: UInt64(n) &* 77 &+ 5)
    let picks = (0..<count).map { _ in Int.random(in: 0..<keys.count, using: &rng) }
    let ioKeys = picks.map { IOKey(bytes: keys[$0])! }
    for i in 0..<min(count, 5_000) { _ = fresh.record(for: ioKeys[(i * 7919) % count]) }  // warm-up, as above
    let f0 = minorFaults()
    var (lat, bad) = timedLookups(fresh, picks: picks, ioKeys: ioKeys, keys: keys, keyTemplate: keyTemplate, corpus: corpus)
    let f = Double(minorFaults() - f0) / Double(count)
    // Read while `fresh` still maps the session.
    let pmd = withExtendedLifetime(fresh) { max(0, filePmdMappedKiB() - pmd0) }
    ctx.check(bad == 0, "\(bad) of \(count) lookups after prefault() returned a wrong or no record")
    ctx.check(job.bytesDone == job.totalBytes, "prefault() covered \(job.bytesDone) of \(job.totalBytes) bytes")
    var row = latencyRow("rrlog.prefault.\(n).none", "SessionReader.record(for:) after prefault(), \(n) records", codec: "none", &lat)
    row.note = String(
        format: "fresh reader and keys; prefault() of %@ took %.0f ms (waited for); %.2f page faults/lookup; %@ mapped in 2 MiB pages",
        mb(job.totalBytes), prefaultSecs * 1000, f, mb(pmd * 1024))
    ctx.emit(row)
}

import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogRemote
import RRLogS3
import RRLogStorage

/// Sessions in a bucket (issue #22) against a real SeaweedFS that `Tools/bench` starts on
/// loopback (`RRLOG_BENCH_S3_ENDPOINT`, keys in `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`):
/// push throughput (boto3's upload of the same files is the peer, `bench_peers.py remote`),
/// opening a session read in place, cold and warm keyed lookups with their ranged GETs counted,
/// and a scan in place beside a local one.
func remote(_ ctx: Context) throws {
    guard let endpoint = ProcessInfo.processInfo.environment["RRLOG_BENCH_S3_ENDPOINT"], let url = URL(string: endpoint) else {
        ctx.note("RRLOG_BENCH_S3_ENDPOINT is not set (Tools/bench starts SeaweedFS for this workload): skipped")
        return
    }
    RemoteReads.install()
    let corpus = try IOCorpus(path: ctx.fixtures + "/io/llm-session.jsonl")
    let n = ctx.quick ? 10_000 : 1_000_000
    var large = ctx.quick ? 20_000 : 10_000_000
    if !ctx.quick, freeBytes(ctx.tmp) < 16_000_000_000 {
        large = 3_000_000
        ctx.note("only \(freeBytes(ctx.tmp) / 1_000_000) MB free on \(ctx.tmp): the session opened in place has 3M records instead of 10M")
    }
    let bucket = "rrlog-bench"
    let s3 = try S3Remote.resolve(url: "s3://\(bucket)/bench", endpoint: url.absoluteString, pathStyle: true)
    let sessions = try RemoteSessions(remote: s3)
    defer { _ = try? runBlocking { await sessions.close() } }
    try runBlocking {
        // SeaweedFS answers HTTP a few seconds before it accepts a CreateBucket.
        var last: (any Error)?
        for _ in 0..<120 {
            do {
                try await sessions.client.createBucket()
                return
            } catch {
                if case let e as S3Error = error, e.code == .conflict { return }  // made by an earlier run
                last = error
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        throw BenchError("SeaweedFS did not accept a bucket: \(last.map { "\($0)" } ?? "?")")
    }

    // A fresh SeaweedFS allocates its volumes on the first writes (seconds): a throwaway push
    // first, so that neither rrlog nor boto3 pays for it.
    let warmStore = try Store(path: ctx.tmp + "/remote-warm")
    let warm = try writeIOSession(warmStore, name: "warm-up", records: ctx.quick ? 2_000 : 50_000, corpus: corpus, options: LogOptions())
    _ = try runBlocking { try await sessions.push(warm.session, from: warmStore) }

    let here = try Store(path: ctx.tmp + "/remote-here")
    let there = try Store(path: ctx.tmp + "/remote-there")

    // Push: the session's segments, its indexes, its manifest.
    var options = LogOptions()
    options.codec = .lz4
    let written = try writeIOSession(here, name: "remote-\(n)", records: n, corpus: corpus, options: options)
    let logDir = here.path + "/sessions/" + written.session.id + "/log"
    let segmentBytes = try FileManager.default.contentsOfDirectory(atPath: logDir).filter { $0.hasSuffix(".rrseg") }
        .reduce(0) { $0 + (Int(exactly: (try? FileManager.default.attributesOfItem(atPath: logDir + "/" + $1)[.size] as? Int) ?? 0) ?? 0) }
    // The files boto3 uploads after this part (`bench_peers.py remote`).
    let peer = ctx.tmp + "/remote-peer"
    try? FileManager.default.removeItem(atPath: peer)
    try FileManager.default.createDirectory(atPath: peer, withIntermediateDirectories: true)
    for file in try FileManager.default.contentsOfDirectory(atPath: logDir) where file.hasSuffix(".rrseg") {
        try FileManager.default.linkItem(atPath: logDir + "/" + file, toPath: peer + "/" + file)
    }
    let session = written.session
    var report: PushReport?
    let pushSecs = try time { report = try runBlocking { try await sessions.push(session, from: here) } }
    ctx.check(report?.committed == true, "push of \(session.name) committed")
    var push = Row("remote", "rrlog.push", "rrlog push of a \(n)-record session (segments, key index, remote index, manifest)")
    push.bytes = segmentBytes
    push.seconds = pushSecs
    push.note = "\(report?.uploaded ?? 0) segment objects, \(mb(segmentBytes)) of segments (the MB/s counts those)"
    ctx.emit(push)

    // Cold lookups in a fresh entry read in place; then the same keys warm; then locally.
    let found = try runBlocking { try await sessions.manifest(id: session.id) }
    guard let remoteSession = found else { throw BenchError("the pushed session is not in the bucket") }
    let attached = try runBlocking { try await sessions.attach(remoteSession, into: there) }
    let reader = try there.openReader(attached)
    ctx.check(reader.snapshot.isRemote && reader.snapshot.usesKeyIndex, "the entry read in place uses the pushed key index")
    let count = ctx.quick ? 300 : 2_000
    var rng = SplitMix(seed: 0x5E55)
    let picks = (0..<count).map { _ in Int.random(in: 0..<written.keys.count, using: &rng) }
    var cold: [Double] = []
    var mostGets = 0
    var gets = 0
    var bad = 0
    for i in picks {
        let before = RemoteReads.rangedGets
        let t0 = clock.now
        let r = reader.snapshot.lookupFirst(key: written.keys[i])
        cold.append(micros(clock.now - t0))
        let used = RemoteReads.rangedGets - before
        gets += used
        mostGets = max(mostGets, used)
        if r?.key != written.keys[i] || r?.payload != corpus.templates[Int(written.keyTemplate[i])].payload { bad += 1 }
    }
    ctx.check(bad == 0, "\(bad) of \(count) cold lookups in place returned a wrong or no record")
    var row = latency("rrlog.lookup.cold", "cold lookup in place, \(n) records (key slots and chunk fetched)", &cold)
    row.value = "\(mostGets) ranged GETs at most"
    row.size = mostGets
    row.note = String(format: "%.2f ranged GETs per lookup on average", Double(gets) / Double(count))
    ctx.emit(row)

    // Warm in place and local, alternating three rounds (the host is shared and noisy).
    let local = try here.openReader(session)
    for i in picks { _ = local.snapshot.lookupFirst(key: written.keys[i]) }
    var again: [Double] = []
    var near: [Double] = []
    let warmStart = RemoteReads.rangedGets
    for _ in 0..<3 {
        for (snapshot, into) in [(reader.snapshot, 0), (local.snapshot, 1)] {
            for i in picks {
                let t0 = clock.now
                _ = snapshot.lookupFirst(key: written.keys[i])
                let t = micros(clock.now - t0)
                if into == 0 { again.append(t) } else { near.append(t) }
            }
        }
    }
    row = latency("rrlog.lookup.warm", "warm lookup in place (the same keys again)", &again)
    row.value = "\(RemoteReads.rangedGets - warmStart) ranged GETs"
    row.cmp = "rrlog.lookup.local"
    row.note = "3 rounds alternating with the local lookups"
    ctx.emit(row)
    ctx.emit(latency("rrlog.lookup.local", "the same lookups in the local session", &near))

    // Scans: local, then in place (a second entry, so nothing is cached).
    var localCount = 0
    let localSecs = try time { _ = try here.openScanReader(session).forEach { _ in localCount += 1; return true } }
    ctx.check(localCount == n, "local scan read \(localCount) of \(n)")
    var scanLocal = Row("remote", "rrlog.scan.local", "scan of the local session")
    scanLocal.records = localCount
    scanLocal.seconds = localSecs
    ctx.emit(scanLocal)
    let second = try runBlocking { try await sessions.attach(remoteSession, into: there, as: "second") }
    let scanner = try there.openScanReader(second)
    var remoteCount = 0
    let scanGets = RemoteReads.rangedGets
    let remoteSecs = time { _ = scanner.forEach { _ in remoteCount += 1; return true } }
    ctx.check(remoteCount == n, "scan in place read \(remoteCount) of \(n)")
    var scanRemote = Row("remote", "rrlog.scan.remote", "scan in place (8 MiB ranged GETs)")
    scanRemote.records = remoteCount
    scanRemote.seconds = remoteSecs
    scanRemote.cmp = "rrlog.scan.local"
    scanRemote.note = "\(RemoteReads.rangedGets - scanGets) ranged GETs; cache peak bounded by RRLOG_REMOTE_CACHE_BYTES"
    ctx.emit(scanRemote)
    try here.remove(session)

    // Opening a large session in place: the manifest (1 GET), the remote index (1 GET), open.
    let big = try writeIOSession(here, name: "remote-large", records: large, corpus: corpus, options: options)
    _ = try runBlocking { try await sessions.push(big.session, from: here) }
    try here.remove(big.session)
    let other = try Store(path: ctx.tmp + "/remote-open")
    var requests = 0
    var opened: SessionReader?
    let bigID = big.session.id
    let openSecs = try time {
        let m = try runBlocking { try await sessions.manifest(id: bigID) }
        guard let m else { throw BenchError("the large session is not in the bucket") }
        let before = RemoteReads.rangedGets
        let entry = try runBlocking { try await sessions.attach(m, into: other) }
        opened = try other.openReader(entry)
        requests = 2 + (RemoteReads.rangedGets - before)
    }
    ctx.check(opened?.recordCount == large, "the large session opened in place holds \(opened?.recordCount ?? 0) of \(large) records")
    var open = Row("remote", "rrlog.open", "open a \(large)-record session in place (manifest GET, remote index GET, open)")
    open.ms = openSecs * 1000
    open.size = requests
    open.value = "\(requests) requests"
    let indexFile = other.path + "/sessions/" + (opened?.manifest.id ?? "") + "/log/" + RemoteLogs.indexFileName
    open.note = "remote index \(mb(treeSize(indexFile)))"
    ctx.emit(open)
}

/// A latency row of the remote workload from latencies in µs (sorted in place).
private func latency(_ id: String, _ name: String, _ lat: inout [Double]) -> Row {
    lat.sort()
    var row = Row("remote", id, name)
    row.records = lat.count
    row.seconds = lat.reduce(0, +) / 1e6
    row.p50us = percentile(lat, 0.5)
    row.p99us = percentile(lat, 0.99)
    row.kind = "latency"
    return row
}

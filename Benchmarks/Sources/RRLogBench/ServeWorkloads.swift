import Foundation
import RRLog
import RRLogCatalog
import RRLogInterop
import RRLogServer

/// serve: `rrlog serve`'s routes (RRLogServer in this process on a loopback port, a blocking
/// HTTP/1.1 client with keep-alive) beside the same query done through the library in the same
/// run: (1) pages of 100 records of a 10M-record IO-event session at random cursors with filters
/// that match about 1-2% of the records, (2) 500-bucket timelines of it from summaries prepared
/// once, (3) the sessions list of 10,000 sessions, (4) ingest of IO events over HTTP in batches of
/// 1,000 from 4 connections, (5) the server's RSS while the session is exported as JSON lines.
func serve(_ ctx: Context) throws {
    let w = "serve"
    let store = try Store(path: ctx.tmp + "/serve-store")
    let corpus = try IOCorpus(path: ctx.fixtures + "/io/llm-session.jsonl")
    let n = ctx.size(10_000_000)

    // The big session, written from pre-encoded records (append-io's generator).
    var generator = IOGenerator(corpus)
    let writer = try store.openWriter(try store.createSession(name: "big", type: "recording"))
    let built = try time {
        var left = n
        while left > 0 {
            let b = generator.batch(min(4096, left))
            _ = try writer.append(b)
            left -= b.count
        }
    }
    let big = try writer.close()
    let stored = treeSize(ctx.tmp + "/serve-store")
    ctx.check(big.recordCount == n, "serve: the big session holds \(big.recordCount) records, expected \(n)")
    ctx.note(String(format: "big session: %d records (llm-session.jsonl repeated), %@ stored, written in %.1f s", n, mb(stored), built))

    let server = try BenchServer(store: store)
    defer { server.stop() }
    let http = try HTTPConnection(port: server.port)

    // (1) Pages of records.
    let pages = ctx.size(200, quick: 50)
    let queries: [(id: String, query: String, kinds: Set<UInt16>?, tool: String?, text: String?, what: String)] = [
        ("tool", "kind=event&tool=search", [RecordKind.event.rawValue], "search", nil, "kind=event&tool=search"),
        ("text", "q=retry%20tool", nil, nil, "retry tool", "q=retry tool"),
    ]
    for q in queries {
        let reader = try store.openReader(big)
        // Library: the same filter over SessionReader.forEach, lines parsed as the route does.
        func libraryPage(after: Int) -> [UInt64] {
            var out: [UInt64] = []
            let needle = q.text.map { Array($0.utf8) }
            _ = reader.forEach(kinds: q.kinds, fromSequence: UInt64(after + 1)) { view in
                if let needle, view.payload.firstRange(of: needle) == nil { return true }
                let line = IOLine.parse(view)
                if let tool = q.tool, line?["tool_name"]?.stringValue != tool { return true }
                out.append(view.sequence)
                return out.count < 100
            }
            return out
        }
        var rng = SplitMix(seed: 21)
        let cursors = (0..<pages).map { _ in Int.random(in: 0..<n, using: &rng) }
        var matched = 0
        var libUs: [Double] = []
        var libPages: [[UInt64]] = []
        for c in cursors {
            let start = clock.now
            let page = libraryPage(after: c)
            libUs.append(micros(clock.now - start))
            libPages.append(page)
        }
        var httpUs: [Double] = []
        for (i, c) in cursors.enumerated() {
            let start = clock.now
            let answer = try http.get("/api/v1/sessions/big/records?limit=100&after=\(c)&\(q.query)")
            httpUs.append(micros(clock.now - start))
            ctx.check(answer.status == 200, "serve records \(q.id): status \(answer.status)")
            if ctx.quick || i < 5 {
                let value = try JSONValue.parse(answer.body)
                let got = (value["records"]?.arrayValue ?? []).compactMap { $0["sequence"]?.int64Value }.map { UInt64($0) }
                ctx.check(got == libPages[i], "serve records \(q.id): after \(c) the server gave \(got.prefix(5))…, the library \(libPages[i].prefix(5))…")
                if let tool = q.tool {
                    ctx.check((value["records"]?.arrayValue ?? []).allSatisfy { $0["data"]?["tool_name"]?.stringValue == tool }, "serve records \(q.id): a record of another tool")
                }
            }
            matched += libPages[i].count
        }
        ctx.check(matched > 0, "serve records \(q.id): no records matched")
        // How many records the filter matches, over one repetition of the corpus.
        var hits = 0
        _ = reader.forEach(kinds: q.kinds) { view in
            if view.sequence >= UInt64(corpus.templates.count) { return false }
            if let t = q.text, view.payload.firstRange(of: Array(t.utf8)) == nil { return true }
            if let tool = q.tool, IOLine.parse(view)?["tool_name"]?.stringValue != tool { return true }
            hits += 1
            return true
        }
        let share = Double(hits) / Double(min(n, corpus.templates.count)) * 100
        emitLatencyPair(ctx, "records.\(q.id)", "page of 100 records, \(q.what) (\(String(format: "%.1f", share))% of records)", server: (httpUs, "GET /api/v1/sessions/big/records?limit=100&after=RANDOM&\(q.query), \(httpUs.count) pages at random cursors of a \(n)-record session"), library: (libUs, "SessionReader.forEach with the same filter, lines parsed"))
    }

    // (2) Timelines.
    let library = SessionTimelines(store: store)
    let prepareSeconds = try time { _ = try library.prepare(big) }
    var prep = Row(w, "rrlog.timeline.prepare", "SessionTimelines.prepare of the \(n)-record session (once)")
    prep.kind = "info"
    prep.records = n
    prep.seconds = prepareSeconds
    prep.ms = prepareSeconds * 1000
    prep.note = "one time: decodes every chunk and writes the summary files beside the segments"
    ctx.emit(prep)
    for (id, group) in [("plain", nil), ("agent", TimelineGrouping.agent)] as [(String, TimelineGrouping?)] {
        let path = "/api/v1/sessions/big/timeline?buckets=500" + (group.map { "&group=\($0.rawValue)" } ?? "")
        // The server's own SessionTimelines loads the summary files on its first request.
        let first = clock.now
        let warm = try http.get(path)
        let firstMs = micros(clock.now - first) / 1000
        ctx.check(warm.status == 200, "serve timeline \(id): status \(warm.status)")
        var query = TimelineQuery()
        query.buckets = 500
        query.group = group
        let expected = try library.timeline(of: big, query)
        let value = try JSONValue.parse(warm.body)
        let counts = (value["counts"]?.arrayValue ?? []).compactMap(\.int64Value).map(Int.init)
        ctx.check(counts == expected.counts, "serve timeline \(id): the server's counts differ from the library's")
        if expected.counts.reduce(0, +) != n { ctx.note("timeline \(id): the buckets count \(expected.counts.reduce(0, +)) records of \(n) (exact: \(expected.exact))") }
        if group != nil {
            ctx.check((value["lanes"]?.arrayValue ?? []).count == expected.lanes.count && !expected.lanes.isEmpty, "serve timeline \(id): lanes differ")
        }
        let rounds = ctx.size(50, quick: 10)
        var httpUs: [Double] = []
        var libUs: [Double] = []
        for _ in 0..<rounds {
            var start = clock.now
            _ = try library.timeline(of: big, query)
            libUs.append(micros(clock.now - start))
            start = clock.now
            let a = try http.get(path)
            httpUs.append(micros(clock.now - start))
            ctx.check(a.status == 200, "serve timeline \(id): status \(a.status)")
        }
        emitLatencyPair(ctx, "timeline.\(id)", "500-bucket timeline" + (group.map { ", grouped by \($0.rawValue)" } ?? ""), server: (httpUs, "GET \(path), summaries prepared; the server's first request (loads the summary files) took \(String(format: "%.1f", firstMs)) ms"), library: (libUs, "SessionTimelines.timeline, summaries in memory"))
    }

    // (3) The sessions list.
    let sessions = ctx.size(10_000)
    let made = try time {
        for i in 0..<(sessions - 1) {
            let m = try store.createSession(name: String(format: "s%05d", i), type: i % 3 == 0 ? "capture" : "recording")
            let sw = try store.openWriter(m)
            var g = IOGenerator(corpus)
            _ = try sw.append(g.batch(1 + i % 7))
            _ = try sw.close()
        }
    }
    ctx.note(String(format: "%d sessions made in %.1f s", sessions, made))
    for (id, query, what) in [("created", "limit=100", "newest first"), ("records", "limit=100&sort=records", "sorted by records")] {
        let rounds = ctx.size(30, quick: 10)
        var httpUs: [Double] = []
        var libUs: [Double] = []
        for r in 0..<rounds {
            var start = clock.now
            var all = try store.sessions()
            if id == "records" {
                all.sort { ($0.recordCount, $0.name) > ($1.recordCount, $1.name) }
            } else {
                all.sort { ($0.createdNs, $0.name) > ($1.createdNs, $1.name) }
            }
            let firstPage = Array(all.prefix(100))
            libUs.append(micros(clock.now - start))
            start = clock.now
            let a = try http.get("/api/v1/sessions?\(query)")
            httpUs.append(micros(clock.now - start))
            ctx.check(a.status == 200, "serve sessions \(id): status \(a.status)")
            if r == 0 {
                let value = try JSONValue.parse(a.body)
                ctx.check(value["total"]?.int64Value == Int64(sessions), "serve sessions \(id): total \(String(describing: value["total"])), expected \(sessions)")
                let names = (value["sessions"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
                ctx.check(names == firstPage.map(\.name), "serve sessions \(id): the server's first page differs from the library's")
            }
        }
        emitLatencyPair(ctx, "sessions.\(id)", "sessions list of \(sessions), page of 100, \(what)", server: (httpUs, "GET /api/v1/sessions?\(query)"), library: (libUs, "Store.sessions() sorted, first 100"))
    }

    // (4) Ingest over HTTP: event lines of the corpus, 1,000 per POST, one session per connection.
    let eventLines = corpus.templates.filter { $0.kind == RecordKind.event.rawValue }.map(\.line)
    let perPost = 1000
    var body: [UInt8] = []
    for i in 0..<perPost {
        body += eventLines[i % eventLines.count]
        body.append(0x0A)
    }
    let connections = 4
    let postsPerConnection = ctx.size(250, quick: 5)
    for c in 0..<connections {
        let created = try http.request("POST", "/api/v1/sessions", body: Array(#"{"name":"ingest-\#(c)"}"#.utf8), contentType: "application/json")
        ctx.check(created.status == 201, "serve ingest: creating a session answered \(created.status)")
    }
    let failed = FailureCount()
    let postBody = body
    let ingestStart = clock.now
    DispatchQueue.concurrentPerform(iterations: connections) { c in
        do {
            let conn = try HTTPConnection(port: server.port)
            for _ in 0..<postsPerConnection {
                let a = try conn.request("POST", "/api/v1/sessions/ingest-\(c)/io-events", body: postBody, contentType: "application/x-ndjson")
                if a.status != 200 { failed.add("\(a.status) \(String(decoding: a.body.prefix(300), as: UTF8.self))") }
            }
        } catch {
            failed.add("\(error)")
        }
    }
    let ingestSeconds = seconds(clock.now - ingestStart)
    ctx.check(failed.count == 0, "serve ingest: \(failed.count) POSTs failed, the first: \(failed.first ?? "")")
    let totalEvents = connections * postsPerConnection * perPost
    for c in 0..<connections {
        let m = try store.session("ingest-\(c)")
        ctx.check(m.recordCount == postsPerConnection * perPost, "serve ingest: ingest-\(c) holds \(m.recordCount) records, expected \(postsPerConnection * perPost)")
    }
    // Call indexes continue across POSTs: the same lines as one ingest give the same keys.
    // Written as the server writes them (ServeOptions.ioWriteOptions: lz4 chunks).
    let direct = try IOEventIngest.create(store: store, session: IOEventIngest.NewSession(name: "ingest-direct"), options: ServeOptions().ioWriteOptions)
    let directSeconds = try time {
        for _ in 0..<postsPerConnection {
            try body.withUnsafeBytes { (all: UnsafeRawBufferPointer) in
                var start = 0
                var line = 0
                while start < all.count {
                    var end = start
                    while all[end] != 0x0A { end += 1 }
                    line += 1
                    try direct.add(lineBytes: UnsafeRawBufferPointer(rebasing: all[start..<end]), location: "line \(line)")
                    start = end + 1
                }
            }
        }
        _ = try direct.commit()
    }
    do {
        let a = try store.openReader(try store.session("ingest-0")), b = try store.openReader(try store.session("ingest-direct"))
        var keysA: [[UInt8]] = [], keysB: [[UInt8]] = []
        _ = a.forEach { v in
            if let k = v.key { keysA.append(Array(k)) }
            return true
        }
        _ = b.forEach { v in
            if let k = v.key { keysB.append(Array(k)) }
            return true
        }
        ctx.check(keysA == keysB && !keysA.isEmpty, "serve ingest: the keys stored over HTTP differ from one direct ingest of the same lines")
    }
    var ingestRow = Row(w, "rrlog.ingest", "ingest IO events over HTTP (POST 1,000 JSON lines, \(connections) keep-alive connections)", system: "rrlog serve")
    ingestRow.records = totalEvents
    ingestRow.bytes = connections * postsPerConnection * body.count
    ingestRow.seconds = ingestSeconds
    ingestRow.note = "rec/s = events/s stored; \(postsPerConnection) POSTs per connection, one session each; client and server share the 2 cores"
    ctx.emit(ingestRow)
    var directRow = Row(w, "lib.ingest", "IOEventIngest.add(lineBytes:) of the same lines, one ingest, one thread, lz4 as the server", system: "library")
    directRow.records = postsPerConnection * perPost
    directRow.bytes = postsPerConnection * body.count
    directRow.seconds = directSeconds
    directRow.cmp = "rrlog.ingest"
    ctx.emit(directRow)

    // (5) RSS while the big session is exported.
    let libraryBytes = try exportBytes(store: store, big)
    let sampler = RSSSampler()
    let before = sampler.start()
    var exported = 0
    var lines = 0
    let exportSeconds = try time {
        let conn = try HTTPConnection(port: server.port)
        let status = try conn.stream("/api/v1/sessions/big/export?format=jsonl") { chunk in
            exported += chunk.count
            for b in chunk where b == 0x0A { lines += 1 }
        }
        ctx.check(status == 200, "serve export: status \(status)")
    }
    let (peak, peakAnon) = sampler.stop()
    Thread.sleep(forTimeInterval: 0.3)
    let after = procStatusKiB("VmRSS") ?? 0
    ctx.check(exported == libraryBytes, "serve export: \(exported) bytes over HTTP, \(libraryBytes) from IOJSONLines.export")
    ctx.check(lines == n, "serve export: \(lines) lines of \(n) records")
    // Judged: the server's own (anonymous) memory. VmRSS also counts the pages of the segment
    // being read, which a scan reader lets go segment by segment (at most one segment's worth,
    // 128 MiB by default, whatever the session's size) and which the kernel can reclaim.
    var rss = Row(w, "rrlog.export.rss", "server memory while exporting the big session (GET …/export?format=jsonl)", system: "rrlog serve")
    rss.kind = "size"
    rss.size = max(0, peakAnon - before.anon) * 1024
    rss.bytes = exported
    rss.seconds = exportSeconds
    rss.records = n
    rss.value = String(format: "VmRSS %.0f → peak %.0f → %.0f MiB after; anonymous %.0f → peak %.0f MiB", Double(before.rss) / 1024, Double(peak) / 1024, Double(after) / 1024, Double(before.anon) / 1024, Double(peakAnon) / 1024)
    rss.note = "size = peak anonymous memory - before (RssAnon, sampled every 100 ms; server and client in this process); \(mb(exported)) of JSON lines from \(mb(stored)) stored"
    ctx.emit(rss)
    let libStart = clock.now
    _ = try exportBytes(store: store, big)
    var libExport = Row(w, "lib.export", "IOJSONLines.export of the big session, bytes discarded", system: "library")
    libExport.records = n
    libExport.bytes = libraryBytes
    libExport.seconds = seconds(clock.now - libStart)
    ctx.emit(libExport)
}

/// Two latency rows: the server's (`rrlog.ID`) and the library's (`lib.ID`), compared with it.
private func emitLatencyPair(_ ctx: Context, _ id: String, _ caseName: String, server: ([Double], String), library: ([Double], String)) {
    for (system, (us, note)) in [("rrlog serve", server), ("library", library)] {
        let sorted = us.sorted()
        var row = Row("serve", system == "library" ? "lib.\(id)" : "rrlog.\(id)", caseName, system: system)
        row.kind = "latency"
        row.records = us.count
        row.p50us = percentile(sorted, 0.5)
        row.p99us = percentile(sorted, 0.99)
        row.cmp = system == "library" ? "rrlog.\(id)" : nil
        row.note = note
        ctx.emit(row)
    }
}

/// Failures counted from several threads, the first kept.
private final class FailureCount: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var count = 0
    private(set) var first: String?
    func add(_ what: String) {
        lock.lock()
        count += 1
        if first == nil { first = what }
        lock.unlock()
    }
}

/// Bytes `IOJSONLines.export` writes for `manifest`.
private func exportBytes(store: Store, _ manifest: SessionManifest) throws -> Int {
    var total = 0
    _ = try IOJSONLines.export(manifest, from: store) { bytes in total += bytes.count }
    return total
}

/// VmRSS and RssAnon of this process sampled every 100 ms on a thread.
private final class RSSSampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0, peakAnon = 0
    private var running = true
    private var thread: Thread?
    private let done = DispatchSemaphore(value: 0)

    func start() -> (rss: Int, anon: Int) {
        let rss = procStatusKiB("VmRSS") ?? 0, anon = procStatusKiB("RssAnon") ?? 0
        peak = rss
        peakAnon = anon
        let t = Thread { [self] in
            while true {
                lock.lock()
                let go = running
                lock.unlock()
                if !go { break }
                let r = procStatusKiB("VmRSS") ?? 0, a = procStatusKiB("RssAnon") ?? 0
                lock.lock()
                peak = max(peak, r)
                peakAnon = max(peakAnon, a)
                lock.unlock()
                Thread.sleep(forTimeInterval: 0.1)
            }
            done.signal()
        }
        thread = t
        t.start()
        return (rss, anon)
    }

    func stop() -> (Int, Int) {
        lock.lock()
        running = false
        lock.unlock()
        done.wait()
        return (peak, peakAnon)
    }
}

/// RRLogServer in this process on a free loopback port, no token.
private final class BenchServer: @unchecked Sendable {
    let server: RRLogServer
    let port: Int
    private let done = DispatchSemaphore(value: 0)

    init(store: Store) throws {
        var options = ServeOptions()
        options.port = 0
        options.token = nil
        server = try RRLogServer(store: store, options: options)
        let box = PortBox()
        let (server, done) = (self.server, self.done)
        Task {
            try? await server.run { _, p in box.set(p) }
            done.signal()
        }
        guard let port = box.wait(seconds: 10) else { throw BenchError("rrlog serve did not start") }
        self.port = port
    }

    func stop() {
        let server = self.server
        _ = try? runBlocking { await server.stop() }
        done.wait()
    }
}

/// A blocking HTTP/1.1 client on one keep-alive connection: Content-Length and chunked answers.
final class HTTPConnection {
    private let fd: Int32
    private let port: Int
    private var buffer: [UInt8] = []
    private var position = 0

    init(port: Int) throws {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket failed") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw BenchError("connect to 127.0.0.1:\(port) failed")
        }
    }

    deinit { close(fd) }

    func get(_ path: String) throws -> (status: Int, body: [UInt8]) { try request("GET", path, body: nil, contentType: nil) }

    func request(_ method: String, _ path: String, body: [UInt8]?, contentType: String?) throws -> (status: Int, body: [UInt8]) {
        var out: [UInt8] = []
        let status = try exchange(method, path, body: body, contentType: contentType) { out += $0 }
        return (status, out)
    }

    /// GETs `path`, handing the body to `sink` piece by piece; returns the status.
    func stream(_ path: String, _ sink: (ArraySlice<UInt8>) -> Void) throws -> Int {
        try exchange("GET", path, body: nil, contentType: nil, sink)
    }

    private func exchange(_ method: String, _ path: String, body: [UInt8]?, contentType: String?, _ sink: (ArraySlice<UInt8>) -> Void) throws -> Int {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n"
        if let body {
            head += "Content-Length: \(body.count)\r\n"
            if let contentType { head += "Content-Type: \(contentType)\r\n" }
        }
        head += "\r\n"
        try send(Array(head.utf8) + (body ?? []))
        // Status line and headers.
        var headerEnd: Int?
        while headerEnd == nil {
            if let r = buffer[position...].firstRange(of: [13, 10, 13, 10]) { headerEnd = r.lowerBound } else { try fill() }
        }
        let header = String(decoding: buffer[position..<headerEnd!], as: UTF8.self)
        position = headerEnd! + 4
        let lines = header.split(separator: "\r\n")
        guard let first = lines.first, first.split(separator: " ").count >= 2, let status = Int(first.split(separator: " ")[1]) else {
            throw BenchError("bad status line: \(header.prefix(100))")
        }
        var length: Int?
        var chunked = false
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].lowercased(), value = parts[1].trimmingCharacters(in: .whitespaces)
            if name == "content-length" { length = Int(value) }
            if name == "transfer-encoding" && value.lowercased().contains("chunked") { chunked = true }
        }
        if chunked {
            while true {
                var lineEnd: Int?
                while lineEnd == nil {
                    if let r = buffer[position...].firstRange(of: [13, 10]) { lineEnd = r.lowerBound } else { try fill() }
                }
                let sizeText = String(decoding: buffer[position..<lineEnd!], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { throw BenchError("bad chunk size") }
                position = lineEnd! + 2
                if size == 0 {
                    // Trailers end with an empty line.
                    while buffer[position...].firstRange(of: [13, 10]) == nil { try fill() }
                    position = buffer[position...].firstRange(of: [13, 10])!.upperBound
                    break
                }
                try pass(size, sink)
                while buffer.count - position < 2 { try fill() }
                position += 2
            }
        } else {
            try pass(length ?? 0, sink)
        }
        return status
    }

    /// Hands the next `count` body bytes to `sink`.
    private func pass(_ count: Int, _ sink: (ArraySlice<UInt8>) -> Void) throws {
        var left = count
        while left > 0 {
            if position == buffer.count { try fill() }
            let take = min(left, buffer.count - position)
            sink(buffer[position..<(position + take)])
            position += take
            left -= take
        }
    }

    private func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw BenchError("send failed") }
            sent += n
        }
    }

    /// Reads more bytes, dropping what was consumed.
    private func fill() throws {
        if position > 0 {
            buffer.removeFirst(position)
            position = 0
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { throw BenchError("the connection closed") }
        buffer += chunk[0..<n]
    }
}

import Foundation
import RRLog
import RRLogProxy

/// proxy: `rrlog proxy` on loopback, beside direct calls to the same upstream in the same run.
/// The upstream is itself a proxy replaying a session made for the run (its answers come from
/// memory, the same for both paths). (1) Record overhead: `wrk -t1 -c1` (one request at a time,
/// keep-alive) straight to the upstream, then through a recording proxy; the difference of the
/// latencies is what forwarding and recording (written to the OS before the answer) cost.
/// (2) Replay: `wrk -t2 -c32` keep-alive against a strict proxy, plain answers. (3) Chunk timing:
/// streams replayed at speed 1, each chunk's write to the proxy's socket (measured by the proxy)
/// and its arrival at a client on loopback, against its recorded offset.
func proxy(_ ctx: Context) throws {
    guard let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        var row = Row("proxy", "rrlog.proxy", "rrlog proxy on loopback")
        row.kind = "info"
        row.value = "skipped"
        row.note = "wrk is not installed (apt-get install wrk)"
        ctx.emit(row)
        return
    }
    let store = try Store(path: ctx.tmp + "/proxy-store")
    let body: JSONValue = ["model": "gpt-test", "messages": [["role": "user", "content": "hello"]]]
    let answer = #"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-test","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}]}"#
    let copies = ctx.size(600_000, quick: 150_000)
    let streams = ctx.size(40, quick: 5)
    let chunkGapMs = 10
    let chunksPerStream = 10
    _ = try runBlocking {
        try await Recorder.withRecording(store: store, options: RecordingOptions(name: "upstream")) { recorder in
            let inputs: JSONValue = ["method": "POST", "path": "/v1/chat/completions", "body": body]
            let outputs: JSONValue = ["status": 200, "headers": ["content-type": "application/json"], "body": .string(answer)]
            for _ in 0..<copies { await recorder.recordSuspending(ioType: "http", tool: "http", inputs: inputs, outputs: outputs) }
            let start = Int64(Date().timeIntervalSince1970 * 1e9)
            for n in 0..<streams {
                let streamInputs: JSONValue = ["method": "POST", "path": "/v1/stream", "body": ["n": .int(Int64(n))]]
                let handle = recorder.startStream(
                    ioType: "http", tool: "http", inputs: streamInputs,
                    metadata: ["status": 200, "headers": ["content-type": "text/event-stream"]], timestampNs: start)
                for c in 0..<chunksPerStream {
                    recorder.chunk(handle, index: c, content: "data: chunk-\(c)\n\n", timestampNs: start + Int64(c * chunkGapMs) * 1_000_000)
                }
                recorder.finishStream(handle, totalChunks: chunksPerStream)
            }
        }
    }
    let script = try wrkPostScript(ctx, name: "proxy", contentType: "application/json", body: body.serializedBytes())
    let seconds = ctx.quick ? 1 : 5

    let upstream = try BenchProxy(store: store, session: "upstream", mode: .strict, upstream: nil)
    let direct = try runWrk(wrk, ["-t1", "-c1", "-d\(seconds)s", "--latency", "-s", script, "http://127.0.0.1:\(upstream.port)/v1/chat/completions"])
    let recording = try BenchProxy(store: store, session: "recorded", mode: .record, upstream: "http://127.0.0.1:\(upstream.port)")
    let proxied = try runWrk(wrk, ["-t1", "-c1", "-d\(seconds)s", "--latency", "-s", script, "http://127.0.0.1:\(recording.port)/v1/chat/completions"])
    let recordTotals = try recording.stop()
    ctx.check(!direct.contains("Non-2xx") && !proxied.contains("Non-2xx"), "proxy record: error answers:\n\(direct)\n\(proxied)")
    ctx.check(recordTotals.recorded == recordTotals.requests && recordTotals.failed == 0, "proxy record: \(recordTotals)")
    for (id, name, output) in [("direct", "direct to the upstream (wrk -t1 -c1)", direct), ("record", "through a recording proxy (wrk -t1 -c1)", proxied)] {
        var row = Row("proxy", "rrlog.proxy.\(id)", name)
        row.kind = "latency"
        row.records = Int(wrkNumber(output, after: "requests in") ?? 0)
        let rate = wrkNumber(output, after: "Requests/sec:") ?? 0
        row.seconds = rate > 0 ? Double(row.records ?? 0) / rate : nil
        row.p50us = wrkLatency(output, "50%")
        row.p99us = wrkLatency(output, "99%")
        if id == "record", let p99 = row.p99us, let base = wrkLatency(direct, "99%"), let p50 = row.p50us, let base50 = wrkLatency(direct, "50%") {
            row.value = String(format: "%+.0f µs p50, %+.0f µs p99", p50 - base50, p99 - base)
            row.note = "overhead per request over the direct call (value): forward, record, write to the OS before answering; the upstream answers from memory"
        } else {
            row.note = "the same upstream, a proxy replaying from memory"
        }
        ctx.emit(row)
    }

    // Replay throughput: a strict proxy over the upstream session (its own call indexes).
    let replaying = try BenchProxy(store: store, session: "upstream", mode: .strict, upstream: nil)
    let replayed = try runWrk(wrk, ["-t2", "-c32", "-d\(seconds)s", "--latency", "-s", script, "http://127.0.0.1:\(replaying.port)/v1/chat/completions"])
    let replayTotals = try replaying.stop()
    ctx.check(!replayed.contains("Non-2xx"), "proxy replay: error answers (more requests than the \(copies) recorded?):\n\(replayed)")
    var row = Row("proxy", "rrlog.proxy.replay", "strict replay, plain answers, keep-alive (wrk -t2 -c32)")
    row.records = replayTotals.replayed
    let rate = wrkNumber(replayed, after: "Requests/sec:") ?? 0
    row.seconds = rate > 0 ? Double(replayTotals.replayed) / rate : nil
    row.p50us = wrkLatency(replayed, "50%")
    row.p99us = wrkLatency(replayed, "99%")
    row.note = "rec/s = answers/s; client and proxy share the 2 cores"
    ctx.emit(row)

    // Chunk timing: each chunk's arrival against its recorded offset, at speed 1.
    let timing = try BenchProxy(store: store, session: "upstream", mode: .strict, upstream: nil, speed: 1)
    // The machine's floor, in the same window: a bare thread sleeping to instants 1 ms apart
    // (clock_nanosleep, absolute CLOCK_MONOTONIC) notes how late it wakes; a stall of the whole
    // machine shows there too.
    let floor = FloorSleeper()
    let floorThread = Thread { floor.run() }
    floorThread.start()
    var fromRequestUs: [Double] = []
    var fromFirstUs: [Double] = []
    for n in 0..<streams {
        let arrivals = try streamArrivals(port: timing.port, body: #"{"n":\#(n)}"#, chunks: chunksPerStream)
        ctx.check(arrivals.count == chunksPerStream, "proxy timing: stream \(n) gave \(arrivals.count) of \(chunksPerStream) chunks")
        for (c, at) in arrivals.enumerated() {
            let offset = Double(c * chunkGapMs) * 1000
            fromRequestUs.append(abs(at - offset))
            if c > 0 { fromFirstUs.append(abs(at - arrivals[0] - offset)) }
        }
    }
    let wakes = floor.stop().sorted()
    let timingTotals = try timing.stop()
    let offTime = timingTotals.chunkTiming
    ctx.check(offTime.count == streams * chunksPerStream, "proxy timing: \(offTime.count) chunks measured at the socket of \(streams * chunksPerStream)")
    func emitTiming(_ id: String, _ name: String, system: String = "rrlog", count: Int, p50: Double?, p99: Double?, max: Double, note: String) {
        var row = Row("proxy", "rrlog.proxy.\(id)", name, system: system)
        row.kind = "latency"
        row.records = count
        row.p50us = p50
        row.p99us = p99
        row.value = String(format: "max %.0f µs", max)
        row.note = note
        ctx.emit(row)
    }
    emitTiming(
        "socket", "replayed chunk timing at speed 1, at the proxy's socket", count: offTime.count,
        p50: offTime.percentileNs(0.5).map { Double($0) / 1e3 }, p99: offTime.percentileNs(0.99).map { Double($0) / 1e3 }, max: Double(offTime.maxNs) / 1e3,
        note: "each chunk's write to the connection's socket completed (the proxy's ProxyTotals.chunkTiming; p50/p99 to 10 µs buckets) against its recorded offset from the start of the body, early or late, \(streams) streams of \(chunksPerStream) chunks \(chunkGapMs) ms apart")
    emitTiming(
        "floor", "a bare thread waking every 1 ms during the chunk timing run (clock_nanosleep), the machine's floor", system: "floor", count: wakes.count,
        p50: percentile(wakes, 0.5), p99: percentile(wakes, 0.99), max: wakes.last ?? 0,
        note: "how late one thread wakes from an absolute sleep on this machine at the same moments: what any program's timing gets")
    for (id, errors, name, basis) in [
        ("timing", fromRequestUs, "replayed chunk timing at speed 1, from the request", "from sending the request (includes the request's own latency)"),
        ("pacing", fromFirstUs, "replayed chunk timing at speed 1, from the first chunk", "from the first chunk's arrival (the stream's pace alone)"),
    ] {
        let sorted = errors.sorted()
        emitTiming(
            id, name, count: sorted.count, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.last ?? 0,
            note: "|arrival - recorded offset| of \(streams) streams of \(chunksPerStream) chunks \(chunkGapMs) ms apart, at a client on loopback, \(basis)")
    }
}

/// A proxy in this process on a free loopback port.
private final class BenchProxy: Sendable {
    let proxy: ProxyServer
    let port: Int
    let finished = ResultBox<ProxyTotals>()
    let done = DispatchSemaphore(value: 0)

    init(store: Store, session: String, mode: ProxyMode, upstream: String?, speed: Double? = nil) throws {
        var options = ProxyOptions()
        options.port = 0
        options.mode = mode
        options.speed = speed
        if let upstream { options.upstreams = [ProxyUpstream(prefix: "/", baseURL: upstream)] }
        proxy = try ProxyServer(store: store, session: session, options: options)
        let box = PortBox()
        let (proxy, finished, done) = (self.proxy, self.finished, self.done)
        Task {
            do { finished.result = .success(try await proxy.run { _, p in box.set(p) }) } catch { finished.result = .failure(error) }
            done.signal()
        }
        guard let port = box.wait(seconds: 10) else { throw BenchError("the proxy did not start") }
        self.port = port
    }

    func stop() throws -> ProxyTotals {
        let proxy = self.proxy
        _ = try runBlocking { await proxy.stop() }
        done.wait()
        return try finished.result!.get()
    }
}

/// Microseconds from sending a POST /v1/stream with `body` until each `chunk-N` marker arrived.
private func streamArrivals(port: Int, body: String, chunks: Int) throws -> [Double] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw BenchError("connect failed") }
    let request = "POST /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
    let clock = ContinuousClock()
    let sent = clock.now
    _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var received = ""
    var arrivals: [Double] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while arrivals.count < chunks {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        let at = micros(clock.now - sent)
        received += String(decoding: buffer[0..<n], as: UTF8.self)
        while arrivals.count < chunks && received.contains("chunk-\(arrivals.count)\n") { arrivals.append(at) }
    }
    return arrivals
}

/// A thread that sleeps to instants 1 ms apart until stopped, noting how late it woke (µs).
private final class FloorSleeper: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var wakes: [Double] = []
    private let finished = DispatchSemaphore(value: 0)

    func run() {
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        var due = Int64(start.tv_sec) * 1_000_000_000 + Int64(start.tv_nsec)
        var mine: [Double] = []
        while !lock.withLock({ stopped }) && mine.count < 600_000 {
            due += 1_000_000
            var until = timespec(tv_sec: Int(due / 1_000_000_000), tv_nsec: Int(due % 1_000_000_000))
            _ = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nil)
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            mine.append(Double(Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec) - due) / 1e3)
        }
        lock.withLock { wakes = mine }
        finished.signal()
    }

    /// Stops the thread and returns its wake-up delays.
    func stop() -> [Double] {
        lock.withLock { stopped = true }
        finished.wait()
        return lock.withLock { wakes }
    }
}

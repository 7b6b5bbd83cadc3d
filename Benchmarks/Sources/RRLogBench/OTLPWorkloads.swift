import Foundation
import RRLog
import RRLogCatalog
import RRLogInterop
import RRLogOTLPHTTP

/// otlp: (1) import of OTLP/protobuf trace requests (decode, validate, append, trace index) from
/// the SDK-made corpus file, repeated; (2) capture over HTTP on loopback: the capture server in
/// this process, `wrk` posting one request body over keep-alive connections.
func otlp(_ ctx: Context) throws {
    let file = ctx.fixtures + "/otlp/traces-003.otlp"
    let raw = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
    let importer = OTLPImporter(format: .protobuf, signal: .traces)
    let sample = try importer.requests(from: raw, file: file)
    let spansPerFile = sample.reduce(0) { $0 + $1.itemCount }
    ctx.check(spansPerFile > 0, "otlp: no spans in \(file)")

    // Import.
    let store = try Store(path: ctx.tmp + "/otlp-store")
    let rounds = ctx.size(2_000, quick: 20)
    let manifest = try store.createSession(name: "otlp-import", type: "capture")
    let writer = try store.openWriter(manifest)
    let started = ContinuousClock.now
    for _ in 0..<rounds {
        let requests = try importer.requests(from: raw, file: file)
        try OTLPImporter.append(requests, to: writer)
    }
    let closed = try writer.close()
    let elapsed = seconds(ContinuousClock.now - started)
    let reader = try store.openReader(closed)
    var stored = 0
    reader.forEach(kinds: [RecordKind.otlpTraces.rawValue]) { _ in
        stored += 1
        return true
    }
    ctx.check(stored == rounds * sample.count, "otlp import: \(stored) trace requests stored of \(rounds * sample.count)")
    var row = Row("otlp", "rrlog.import", "import OTLP/protobuf traces (decode + append + trace index)")
    row.records = rounds * spansPerFile
    row.bytes = rounds * raw.count
    row.seconds = elapsed
    row.note = "rec/s = spans/s; MB/s of protobuf input; \(sample.count) requests of \(spansPerFile / max(1, sample.count)) spans on average per file"
    ctx.emit(row)

    try capture(ctx, store: store, body: sample.max { $0.itemCount < $1.itemCount }!)
}

/// Capture over loopback HTTP with `wrk` as the client; skipped with a note when it is missing.
private func capture(_ ctx: Context, store: Store, body request: OTLPRequest) throws {
    let wrk = ["/usr/bin/wrk", "/usr/local/bin/wrk"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let wrk else {
        var row = Row("otlp", "rrlog.capture", "capture over HTTP on loopback")
        row.kind = "info"
        row.value = "skipped"
        row.note = "wrk is not installed (apt-get install wrk)"
        ctx.emit(row)
        return
    }
    let script = try wrkPostScript(ctx, name: "otlp", contentType: "application/x-protobuf", body: request.protobufBytes())

    let manifest = try store.createSession(name: "otlp-capture", type: "capture")
    let writer = try store.openWriter(manifest)
    var options = OTLPCaptureOptions()
    options.port = 0
    let server = OTLPCaptureServer(writer: writer, options: options)
    let port = PortBox()
    let done = DispatchSemaphore(value: 0)
    let outcome = ResultBox<OTLPCaptureTotals>()
    Task {
        do { outcome.result = .success(try await server.run { _, p in port.set(p) }) } catch { outcome.result = .failure(error) }
        done.signal()
    }
    guard let bound = port.wait(seconds: 10) else {
        ctx.check(false, "otlp capture: the server did not start")
        return
    }
    let duration = ctx.quick ? 1 : 5
    let output = try runWrk(wrk, ["-t2", "-c32", "-d\(duration)s", "--latency", "-s", script, "http://127.0.0.1:\(bound)/v1/traces"])
    _ = try runBlocking { await server.stop() }
    done.wait()
    let totals = try outcome.result!.get()
    _ = try writer.close()

    let requests = wrkNumber(output, after: "requests in")
    let rate = wrkNumber(output, after: "Requests/sec:")
    ctx.check(!output.contains("Non-2xx"), "otlp capture: wrk saw error responses:\n\(output)")
    ctx.check(totals.refused == 0 && totals.spans == totals.requests * request.itemCount, "otlp capture: \(totals)")
    if let requests { ctx.check(Int(requests) <= totals.requests, "otlp capture: wrk sent \(requests), the server counted \(totals.requests)") }
    let reader = try store.openReader(try store.session("otlp-capture"))
    ctx.check(reader.recordCount >= totals.requests, "otlp capture: \(reader.recordCount) records for \(totals.requests) requests")

    var row = Row("otlp", "rrlog.capture", "capture over HTTP on loopback (wrk -t2 -c32, protobuf)")
    row.records = totals.spans
    row.bytes = totals.requests * request.protobufBytes().count
    row.seconds = (rate ?? 0) > 0 ? Double(totals.requests) / rate! : nil
    row.p50us = wrkLatency(output, "50%")
    row.p99us = wrkLatency(output, "99%")
    row.note = "rec/s = spans/s stored; \(request.itemCount) spans per request; latency per request as wrk saw it; client and server share the machine"
    ctx.emit(row)
}

/// Writes a wrk script that POSTs `body` as `contentType` (the body in a file beside it) and
/// returns its path.
func wrkPostScript(_ ctx: Context, name: String, contentType: String, body: [UInt8]) throws -> String {
    let bodyFile = ctx.tmp + "/\(name)-body.bin"
    try Data(body).write(to: URL(fileURLWithPath: bodyFile))
    let script = ctx.tmp + "/\(name)-post.lua"
    try """
        wrk.method = "POST"
        wrk.headers["Content-Type"] = "\(contentType)"
        local f = io.open("\(bodyFile)", "rb")
        wrk.body = f:read("*a")
        f:close()
        """.write(toFile: script, atomically: true, encoding: .utf8)
    return script
}

/// Runs wrk and returns what it printed.
func runWrk(_ wrk: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: wrk)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return output
}

/// The number after `label` in wrk's report.
func wrkNumber(_ text: String, after label: String) -> Double? {
    guard let range = text.range(of: label) else { return nil }
    if label == "requests in" {
        // "  12345 requests in 5.00s, ..."
        let before = text[..<range.lowerBound].split(whereSeparator: \.isWhitespace).last
        return before.flatMap { Double($0) }
    }
    return text[range.upperBound...].split(whereSeparator: \.isWhitespace).first.flatMap { Double($0) }
}

/// A latency percentile from wrk's `--latency` table, in microseconds.
func wrkLatency(_ text: String, _ percentile: String) -> Double? {
    for line in text.split(separator: "\n") {
        let fields = line.split(whereSeparator: \.isWhitespace)
        guard fields.count == 2, fields[0] == percentile else { continue }
        let value = String(fields[1])
        let units: [(String, Double)] = [("us", 1), ("ms", 1e3), ("s", 1e6)]
        for (suffix, scale) in units where value.hasSuffix(suffix) {
            return Double(value.dropLast(suffix.count)).map { $0 * scale }
        }
    }
    return nil
}

/// The port the server reports once it listens.
final class PortBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var port: Int?
    func set(_ p: Int) {
        condition.lock()
        port = p
        condition.broadcast()
        condition.unlock()
    }
    func wait(seconds: Double) -> Int? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: seconds)
        while port == nil && condition.wait(until: deadline) {}
        return port
    }
}

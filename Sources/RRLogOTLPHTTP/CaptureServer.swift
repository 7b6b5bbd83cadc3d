import Foundation
public import Hummingbird
import Logging
import NIOCore
public import RRLog
public import RRLogInterop
import ServiceLifecycle
import Synchronization

/// Settings of an OTLP/HTTP receiver.
public struct OTLPCaptureOptions: Sendable {
    /// The address to bind (loopback unless told otherwise).
    public var host: String
    /// The port; 0 picks a free one.
    public var port: Int
    /// The most a request body may hold, before and after gzip decompression (413 above it).
    public var maxBodyBytes: Int
    /// Received requests not yet written, in bytes, above which requests are refused with 503
    /// (and Retry-After) until the writer catches up.
    public var maxPendingBytes: Int
    /// Stop on SIGINT and SIGTERM.
    public var handleSignals: Bool
    /// The signals accepted; a POST to another signal's path gets 404.
    public var signals: Set<OTLPSignal> = Set(OTLPSignal.allCases)

    public init(host: String = "127.0.0.1", port: Int = 4318, maxBodyBytes: Int = GzipDecoder.decompressedSizeBytesMax,
                maxPendingBytes: Int = 512 << 20, handleSignals: Bool = false) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.maxPendingBytes = maxPendingBytes
        self.handleSignals = handleSignals
    }
}

/// What a receiver took in.
public struct OTLPCaptureTotals: Sendable, Equatable, CustomStringConvertible {
    /// Requests written and acknowledged (answered 200).
    public var requests = 0
    /// Requests refused (4xx, 5xx).
    public var refused = 0
    public var spans = 0
    public var logRecords = 0
    public var dataPoints = 0
    /// Requests written to the session.
    public var written = 0

    public init() {}

    public var description: String {
        "\(requests) requests (\(refused) refused), \(spans) spans, \(logRecords) log records, \(dataPoints) data points"
    }
}

/// An OTLP/HTTP receiver (POST /v1/traces, /v1/metrics, /v1/logs; protobuf or JSON; optional
/// gzip) storing every accepted request into an open session through `OTLPImporter.append`.
/// Requests are decoded on the request path and written in batches by one writer thread; a 200
/// goes out only after the request's batch is written (see `CaptureSink`).
public final class OTLPCaptureServer: Sendable {
    let options: OTLPCaptureOptions
    let sink: CaptureSink
    let state = Mutex<(group: ServiceGroup?, stopRequested: Bool)>((nil, false))

    /// A receiver writing into `writer` (which it does not close).
    public init(writer: SessionWriter, options: OTLPCaptureOptions = OTLPCaptureOptions()) {
        self.options = options
        self.sink = CaptureSink(writer: writer, maxPendingBytes: options.maxPendingBytes)
    }

    /// The totals so far.
    public var totals: OTLPCaptureTotals { sink.totals }

    /// Runs until `stop()` (or a signal, with `handleSignals`): stops accepting, finishes the
    /// requests in flight, writes everything received, and returns the totals. `onListening` gets
    /// the bound host and port once the server accepts connections.
    public func run(onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws -> OTLPCaptureTotals {
        var logger = Logger(label: "rrlog.capture")
        logger.logLevel = .critical
        let responder = OTLPResponder(sink: sink, maxBodyBytes: options.maxBodyBytes, signals: options.signals)
        let host = options.host
        let app = Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname(host, port: options.port), serverName: nil),
            onServerRunning: { channel in onListening(host, channel.localAddress?.port ?? 0) },
            logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [app], gracefulShutdownSignals: options.handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        let stopEarly = state.withLock { s -> Bool in
            s.group = group
            return s.stopRequested
        }
        var failure: (any Error)?
        if !stopEarly {
            do { try await group.run() } catch { failure = error }
        }
        sink.finish()
        if let failure { throw failure }
        if let error = sink.writeError { throw error }
        return sink.totals
    }

    /// Asks a running server to stop gracefully (`run` then returns).
    public func stop() async {
        let group = state.withLock { s -> ServiceGroup? in
            s.stopRequested = true
            return s.group
        }
        await group?.triggerGracefulShutdown()
    }
}

/// What became of a request handed to the sink.
enum CaptureOutcome: Sendable {
    /// Appended and flushed to the OS (or made durable, as the writer's durability says): the
    /// request may be acknowledged.
    case written
    /// Too much is waiting to be written: the client should retry later.
    case busy
    /// Writing failed (a full disk, say): nothing of the request is promised.
    case failed(String)
}

/// Decoded requests waiting to be written, and the thread that writes them in batches.
///
/// A request is acknowledged only once its batch is appended and flushed to the OS, so that a
/// crash of this process after the 200 loses nothing (with `Durability.everyBatch`, once it is
/// fsynced: nothing is lost with the machine either). Requests that arrive while a batch is
/// being written form the next batch: concurrent requests share one chunk flush (and one
/// fsync), as group commit does.
final class CaptureSink: @unchecked Sendable {
    let writer: SessionWriter
    let maxPendingBytes: Int
    private struct Pending {
        var request: OTLPRequest
        var bytes: Int
        var items: Int
        var done: CheckedContinuation<CaptureOutcome, Never>
    }
    private let condition = NSCondition()
    private var pending: [Pending] = []
    private var pendingBytes = 0
    private var finished = false
    private var threadDone = false
    private var counts = OTLPCaptureTotals()
    private(set) var writeError: RRLogError?
    private var thread: Thread?

    init(writer: SessionWriter, maxPendingBytes: Int) {
        self.writer = writer
        self.maxPendingBytes = maxPendingBytes
        let thread = Thread { [unowned self] in self.drain() }
        thread.name = "rrlog-capture-writer"
        self.thread = thread
        thread.start()
    }

    var totals: OTLPCaptureTotals {
        condition.lock()
        defer { condition.unlock() }
        return counts
    }

    /// Queues a request and waits until it is written (or refused).
    func submit(_ request: OTLPRequest, bytes: Int, items: Int) async -> CaptureOutcome {
        await withCheckedContinuation { (done: CheckedContinuation<CaptureOutcome, Never>) in
            condition.lock()
            defer { condition.unlock() }
            if let writeError {
                counts.refused += 1
                return done.resume(returning: .failed(writeError.message))
            }
            guard !finished, pendingBytes + bytes <= maxPendingBytes || pending.isEmpty else {
                counts.refused += 1
                return done.resume(returning: .busy)
            }
            pending.append(Pending(request: request, bytes: bytes, items: items, done: done))
            pendingBytes += bytes
            condition.signal()
        }
    }

    func refused() {
        condition.lock()
        counts.refused += 1
        condition.unlock()
    }

    private func drain() {
        while true {
            condition.lock()
            while pending.isEmpty && !finished { condition.wait() }
            if pending.isEmpty && finished {
                threadDone = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            pendingBytes = 0
            let failedBefore = writeError
            condition.unlock()
            if let failedBefore {
                for p in batch { p.done.resume(returning: .failed(failedBefore.message)) }
                continue
            }
            do throws(RRLogError) {
                try OTLPImporter.append(batch.map(\.request), to: writer)
                try writer.flush()
                condition.lock()
                for p in batch {
                    counts.requests += 1
                    counts.written += 1
                    switch p.request.signal {
                    case .traces: counts.spans += p.items
                    case .logs: counts.logRecords += p.items
                    case .metrics: counts.dataPoints += p.items
                    }
                }
                condition.unlock()
                for p in batch { p.done.resume(returning: .written) }
            } catch {
                condition.lock()
                if writeError == nil { writeError = error }
                counts.refused += batch.count
                condition.unlock()
                for p in batch { p.done.resume(returning: .failed(error.message)) }
            }
        }
    }

    /// Writes what is pending and stops the writer thread.
    func finish() {
        condition.lock()
        finished = true
        condition.broadcast()
        while !threadDone { condition.wait() }
        condition.unlock()
    }
}

/// Answers OTLP/HTTP requests (the OTLP specification's "OTLP/HTTP" section).
struct OTLPResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let sink: CaptureSink
    let maxBodyBytes: Int
    let signals: Set<OTLPSignal>

    static let paths: [String: OTLPSignal] = ["/v1/traces": .traces, "/v1/metrics": .metrics, "/v1/logs": .logs]

    func respond(to request: Request, context: Context) async throws -> Response {
        guard let signal = Self.paths[request.uri.path], signals.contains(signal) else {
            let accepted = OTLPSignal.allCases.filter(signals.contains).map { "/v1/\($0.rawValue)" }.joined(separator: ", ")
            return Self.plain(.notFound, "not found: this capture accepts POST \(accepted)")
        }
        guard request.method == .post else {
            var response = Self.plain(.methodNotAllowed, "method not allowed: use POST")
            response.headers[.allow] = "POST"
            return response
        }
        let mediaType = (request.headers[.contentType] ?? "").split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        } ?? ""
        let json: Bool
        switch mediaType {
        case "application/x-protobuf": json = false
        case "application/json": json = true
        default:
            sink.refused()
            return Self.plain(.unsupportedMediaType, "unsupported content type '\(mediaType)': use application/x-protobuf or application/json")
        }
        let encoding = (request.headers[.contentEncoding] ?? "identity").trimmingCharacters(in: .whitespaces).lowercased()
        guard encoding == "gzip" || encoding == "identity" || encoding.isEmpty else {
            sink.refused()
            return Self.status(.unsupportedMediaType, code: 3, "unsupported content encoding '\(encoding)': use gzip or none", json: json)
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            sink.refused()
            return Self.status(.contentTooLarge, code: 8, "the body exceeds \(maxBodyBytes) bytes", json: json)
        }
        var bytes: [UInt8]
        do {
            let buffer = try await request.body.collect(upTo: maxBodyBytes)
            bytes = Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            sink.refused()
            return Self.status(.contentTooLarge, code: 8, "the body exceeds \(maxBodyBytes) bytes", json: json)
        }
        if encoding == "gzip" {
            do throws(RRLogError) {
                bytes = try GzipDecoder.decompress(bytes, file: "request body", limit: maxBodyBytes)
            } catch {
                sink.refused()
                if error.message.contains("exceeds the limit") {
                    return Self.status(.contentTooLarge, code: 8, "the decompressed body exceeds \(maxBodyBytes) bytes", json: json)
                }
                return Self.status(.badRequest, code: 3, error.description, json: json)
            }
        }
        let decoded: OTLPRequest
        do throws(RRLogError) {
            decoded = json
                ? try OTLPRequest(json: bytes, signal: signal, source: "request body")
                : try OTLPRequest(protobuf: bytes, signal: signal, source: "request body")
        } catch {
            sink.refused()
            return Self.status(.badRequest, code: 3, error.message, json: json)
        }
        switch await sink.submit(decoded, bytes: bytes.count, items: decoded.itemCount) {
        case .written:
            break
        case .busy:
            var response = Self.status(.serviceUnavailable, code: 14, "the receiver is busy writing: retry later", json: json)
            response.headers[.retryAfter] = "1"
            return response
        case .failed(let reason):
            var response = Self.status(.serviceUnavailable, code: 14, "the receiver cannot store data: \(reason)", json: json)
            response.headers[.retryAfter] = "5"
            return response
        }
        // Full success: an empty Export*ServiceResponse in the request's encoding.
        return Response(
            status: .ok, headers: [.contentType: json ? "application/json" : "application/x-protobuf"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: json ? "{}" : "")))
    }

    static func plain(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: message + "\n")))
    }

    /// A `google.rpc.Status` body: JSON `{"code":…,"message":…}` or protobuf (field 1 code, field 2 message).
    static func status(_ status: HTTPResponse.Status, code: Int, _ message: String, json: Bool) -> Response {
        if json {
            let body = "{\"code\":\(code),\"message\":\(jsonString(message))}"
            return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        var out: [UInt8] = [0x08]
        appendVarint(UInt64(code), to: &out)
        let text = Array(message.utf8)
        out.append(0x12)
        appendVarint(UInt64(text.count), to: &out)
        out += text
        return Response(status: status, headers: [.contentType: "application/x-protobuf"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: out)))
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// The OTLP/HTTP receiver of `OTLPCaptureServer` as routes of another server: `POST /v1/traces`,
/// `/v1/metrics` and `/v1/logs` on a Hummingbird router (`rrlog serve --otlp SESSION`), with
/// the same decoding, limits, batching and acknowledgement (a request is answered once written).
public final class OTLPCaptureEndpoint: Sendable {
    let sink: CaptureSink
    let responder: OTLPResponder

    /// An endpoint writing into `writer` (which it does not close); `options` gives the limits
    /// and signals (its host and port are not used).
    public init(writer: SessionWriter, options: OTLPCaptureOptions = OTLPCaptureOptions()) {
        sink = CaptureSink(writer: writer, maxPendingBytes: options.maxPendingBytes)
        responder = OTLPResponder(sink: sink, maxBodyBytes: options.maxBodyBytes, signals: options.signals)
    }

    /// Adds the routes to `router`, behind whatever middleware it has.
    public func register(on router: Router<BasicRequestContext>) {
        for path in OTLPResponder.paths.keys {
            router.on(RouterPath(path), method: .post) { [responder] request, context in try await responder.respond(to: request, context: context) }
        }
    }

    /// The totals so far.
    public var totals: OTLPCaptureTotals { sink.totals }

    /// Writes what is waiting and stops the writing thread; throws the error that stopped
    /// writing, if one did. Requests after this are answered 503.
    public func finish() throws(RRLogError) -> OTLPCaptureTotals {
        sink.finish()
        if let error = sink.writeError { throw error }
        return sink.totals
    }
}

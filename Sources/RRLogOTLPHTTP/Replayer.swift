import AsyncHTTPClient
public import Foundation
import NIOCore
public import RRLog
public import RRLogCatalog
public import RRLogInterop

/// How replay treats the requests' time fields.
public enum OTLPReplayTimestamps: String, Sendable, CaseIterable {
    /// The original times.
    case none
    /// Shifted so the session starts when the replay (or each loop) starts; spacing kept.
    case relative
    /// Each request shifted so that its earliest time is the moment it is sent; every time field
    /// of a request moves by the same amount, so durations and spacing are kept.
    case current
}

/// Settings of a replay to an OTLP/HTTP endpoint.
public struct OTLPReplayOptions: Sendable {
    /// The endpoint: a base URL (`http://127.0.0.1:4318`, to which `/v1/<signal>` is added) or a
    /// signal URL ending in `/v1/traces`, `/v1/metrics` or `/v1/logs` (the signal part is replaced).
    public var endpoint: String
    public var timestamps: OTLPReplayTimestamps = .none
    /// Playback speed (0.1...10); nil: as fast as possible.
    public var speed: Double? = 1
    /// Start again from the beginning after the last request (until `maxDurationSeconds`).
    public var loop = false
    /// Stop after this many seconds.
    public var maxDurationSeconds: Double?
    public var signals: Set<OTLPSignal> = Set(OTLPSignal.allCases)
    /// Send only the resources whose `service.name` is one of these (nil: every resource).
    public var serviceNames: Set<String>?
    /// Send only the resources whose `service.name` is this (one of `serviceNames`).
    public var serviceName: String? {
        get { serviceNames?.count == 1 ? serviceNames?.first : nil }
        set { serviceNames = newValue.map { [$0] } }
    }
    /// Send OTLP JSON instead of protobuf.
    public var json = false
    /// Compress bodies (`Content-Encoding: gzip`).
    public var gzip = false
    /// Attempts per request (retries only on 429, 502, 503, 504).
    public var maxAttempts = 5
    /// The longest wait before a retry, seconds (a longer Retry-After is cut to this).
    public var maxRetryDelaySeconds: Double = 30
    /// The first backoff delay, seconds (doubled on each retry when no Retry-After is given).
    public var initialBackoffSeconds: Double = 0.5
    /// Per-request timeout, seconds.
    public var timeoutSeconds: Double = 30
    /// The longest wait for a connection to the endpoint, seconds.
    public var connectTimeoutSeconds: Double = 5

    public init(endpoint: String) { self.endpoint = endpoint }

    /// The URL requests of `signal` go to.
    public func url(for signal: OTLPSignal) -> String {
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        for s in OTLPSignal.allCases where base.hasSuffix("/v1/\(s.rawValue)") {
            base.removeLast("/v1/\(s.rawValue)".count)
        }
        return base + "/v1/" + signal.rawValue
    }
}

/// What a replay did.
public struct OTLPReplayTotals: Sendable, Equatable {
    /// Requests sent and accepted (200), including partial successes.
    public var requests = 0
    /// Items (spans, data points, log records) in the accepted requests, rejected ones excepted.
    public var items = 0
    /// Requests that failed (an error status, after retries, or no answer).
    public var failedRequests = 0
    /// Items lost: those of failed requests plus those a partial success rejected.
    public var failedItems = 0
    /// Retries made.
    public var retries = 0
    /// Passes over the session (more than one with `loop`).
    public var loops = 0
    /// Requests one pass sends (those that pass the signal and service filters).
    public var plannedRequests = 0
    /// The last failure's description.
    public var lastError: String?

    public init() {}
}

/// Sends a session's OTLP requests, in time order, to an OTLP/HTTP endpoint.
public struct OTLPReplayer: Sendable {
    public var options: OTLPReplayOptions

    public init(options: OTLPReplayOptions) { self.options = options }

    /// Replays `manifest`; `progress` is called after each request.
    public func run(
        _ manifest: SessionManifest, from store: Store, progress: @Sendable (OTLPReplayTotals) -> Void = { _ in }
    ) async throws -> OTLPReplayTotals {
        if let speed = options.speed, !(0.1...10).contains(speed) {
            throw RRLogError(.invalidArgument, "--speed must be between 0.1 and 10")
        }
        let filter = OTLPExportFilter(signals: options.signals, serviceNames: options.serviceNames)
        // The plan holds each request's time and record sequence, not the request: a replay of a
        // session of any size keeps about 24 bytes per request in memory, and reads each request
        // again when it is due.
        let reader = try store.openReader(manifest)
        var requests: [(time: Int64?, index: Int, sequence: UInt64)] = []
        try OTLPExporter.forEachRequestWithSequence(manifest, reader: reader, filter: filter) { request, sequence in
            requests.append((time: request.earliestTimeNs, index: requests.count, sequence: sequence))
            return true
        }
        // Time order (stable: requests with no time keep their place after the previous one).
        var last: Int64 = Int64.min
        for i in requests.indices {
            if let t = requests[i].time { last = max(last, t) } else { requests[i].time = last }
        }
        requests.sort { ($0.time ?? Int64.min, $0.index) < ($1.time ?? Int64.min, $1.index) }
        var totals = OTLPReplayTotals()
        totals.plannedRequests = requests.count
        guard !requests.isEmpty else { return totals }
        let sessionStart = requests.compactMap(\.time).first { $0 != Int64.min } ?? 0
        // A client of its own: a connection that cannot be made fails at once (no retrying of
        // connection establishment until the request's timeout), after connectTimeoutSeconds at most.
        var configuration = HTTPClient.Configuration()
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .nanoseconds(Int64(options.connectTimeoutSeconds * 1e9)))
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        do {
            try await replay(requests, sessionStart: sessionStart, manifest: manifest, reader: reader, filter: filter, client: client, totals: &totals, progress: progress)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
        return totals
    }

    func replay(
        _ requests: [(time: Int64?, index: Int, sequence: UInt64)], sessionStart: Int64, manifest: SessionManifest, reader: SessionReader,
        filter: OTLPExportFilter, client: HTTPClient, totals: inout OTLPReplayTotals, progress: @Sendable (OTLPReplayTotals) -> Void
    ) async throws {
        let clock = ContinuousClock()
        let began = clock.now
        let deadline = options.maxDurationSeconds.map { began + .nanoseconds(Int64($0 * 1e9)) }
        repeat {
            totals.loops += 1
            let loopStart = clock.now
            let shift = Self.nowNs() - sessionStart
            for entry in requests {
                if let deadline, clock.now >= deadline { return }
                if let speed = options.speed, let t = entry.time, t != Int64.min {
                    let offset = Double(t - sessionStart) / speed
                    var due = loopStart + .nanoseconds(Int64(offset))
                    if let deadline, due > deadline { due = deadline }
                    if due > clock.now { try await Task.sleep(until: due, clock: clock) }
                    if let deadline, clock.now >= deadline { return }
                }
                try Task.checkCancellation()
                guard let stored = try OTLPExporter.request(atSequence: entry.sequence, in: manifest, reader: reader, filter: filter) else { continue }
                let request: OTLPRequest
                switch options.timestamps {
                case .none: request = stored
                case .relative: request = stored.shiftingTimes(byNs: shift)
                case .current: request = stored.startingAt(ns: Self.nowNs())
                }
                let first = totals.requests == 0 && totals.failedRequests == 0
                if let unreachable = await send(request, client: client, totals: &totals), first {
                    // The first request could not even connect: the others would not either.
                    throw RRLogError(
                        .invalidArgument, "cannot reach \(options.url(for: request.signal)): \(unreachable); is an OTLP/HTTP receiver listening there?")
                }
                progress(totals)
            }
        } while options.loop && !Task.isCancelled && (deadline.map { clock.now < $0 } ?? true)
    }

    static func nowNs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }

    /// Sends one request with retries; counts the outcome. Returns why, in plain words, when no
    /// connection to the endpoint could be made.
    @discardableResult
    func send(_ request: OTLPRequest, client: HTTPClient, totals: inout OTLPReplayTotals) async -> String? {
        let items = request.itemCount
        var body = options.json ? request.jsonBytes() : request.protobufBytes()
        if options.gzip {
            do throws(RRLogError) { body = try GzipEncoder.compress(body) } catch {
                totals.failedRequests += 1
                totals.failedItems += items
                totals.lastError = error.description
                return nil
            }
        }
        var http = HTTPClientRequest(url: options.url(for: request.signal))
        http.method = .POST
        http.headers.add(name: "Content-Type", value: options.json ? "application/json" : "application/x-protobuf")
        if options.gzip { http.headers.add(name: "Content-Encoding", value: "gzip") }
        http.body = .bytes(ByteBuffer(bytes: body))
        var attempt = 1
        while true {
            let status: Int
            let retryAfter: String?
            let responseBody: [UInt8]
            do {
                let response = try await client.execute(http, timeout: .nanoseconds(Int64(options.timeoutSeconds * 1e9)))
                status = Int(response.status.code)
                retryAfter = response.headers.first(name: "Retry-After")
                let buffer = try await response.body.collect(upTo: 4 << 20)
                responseBody = Array(buffer.readableBytesView)
            } catch {
                let failure = Self.describe(error, timeoutSeconds: options.timeoutSeconds, connectTimeoutSeconds: options.connectTimeoutSeconds)
                totals.failedRequests += 1
                totals.failedItems += items
                totals.lastError = "\(request.signal) to \(http.url): \(failure.text)"
                return failure.noConnection ? failure.text : nil
            }
            if (200..<300).contains(status) {
                // A partial success is never resent: its rejected items count as failures.
                let result = OTLPExportResult(responseBody: responseBody, signal: request.signal, json: options.json)
                let rejected = Int(clamping: max(0, min(result.rejected, Int64(items))))
                totals.requests += 1
                totals.items += items - rejected
                if rejected > 0 {
                    totals.failedItems += rejected
                    totals.lastError = "partial success: \(rejected) rejected\(result.message.isEmpty ? "" : ": " + result.message)"
                }
                return nil
            }
            let retryable = [429, 502, 503, 504].contains(status)
            if !retryable || attempt >= options.maxAttempts {
                totals.failedRequests += 1
                totals.failedItems += items
                let text = String(decoding: responseBody.prefix(200), as: UTF8.self)
                totals.lastError = "HTTP \(status) from \(http.url)\(retryable ? " after \(attempt) attempts" : "")\(text.isEmpty ? "" : ": " + text)"
                return nil
            }
            let backoff = options.initialBackoffSeconds * pow(2, Double(attempt - 1))
            let delay = min(options.maxRetryDelaySeconds, retryAfter.flatMap { Self.retryAfterSeconds($0, now: Date()) } ?? backoff)
            attempt += 1
            totals.retries += 1
            do { try await Task.sleep(nanoseconds: UInt64(max(0, delay) * 1e9)) } catch {
                totals.failedRequests += 1
                totals.failedItems += items
                totals.lastError = "cancelled"
                return nil
            }
        }
    }

    /// A failed request's error in plain words (never the networking library's own text), and
    /// whether no connection could be made at all (refused, unreachable, unresolvable, timed out).
    static func describe(_ error: any Error, timeoutSeconds: Double, connectTimeoutSeconds: Double) -> (text: String, noConnection: Bool) {
        func seconds(_ s: Double) -> String { s == s.rounded() ? "\(Int(s)) s" : "\(s) s" }
        // The errors inside (a connection error holds one per address tried), depth first.
        func causes(_ value: Any, depth: Int = 0) -> [any Error] {
            guard depth < 6 else { return [] }
            var out: [any Error] = []
            if let e = value as? any Error { out.append(e) }
            for child in Mirror(reflecting: value).children { out += causes(child.value, depth: depth + 1) }
            return out
        }
        let all = causes(error)
        for cause in all {
            if let io = cause as? IOError {
                switch io.errnoCode {
                case ECONNREFUSED: return ("connection refused", true)
                case EHOSTUNREACH, ENETUNREACH, EHOSTDOWN, ENETDOWN: return ("host or network unreachable", true)
                case ETIMEDOUT: return ("no connection within \(seconds(connectTimeoutSeconds))", true)
                case ECONNRESET, EPIPE: return ("the connection was reset", false)
                default: return ("connection failed (\(String(cString: strerror(io.errnoCode))))", true)
                }
            }
            if case ChannelError.connectTimeout? = cause as? ChannelError { return ("no connection within \(seconds(connectTimeoutSeconds))", true) }
            if let http = cause as? HTTPClientError {
                switch http {
                case .connectTimeout: return ("no connection within \(seconds(connectTimeoutSeconds))", true)
                case .readTimeout, .deadlineExceeded: return ("no answer within \(seconds(timeoutSeconds))", false)
                case .remoteConnectionClosed: return ("the server closed the connection", false)
                case .cancelled: return ("cancelled", false)
                default: break
                }
            }
        }
        // Name resolution fails with an error of the resolver, inside a connection error.
        let names = all.map { String(reflecting: type(of: $0)) }
        if names.contains(where: { $0.contains("DNS") || $0.contains("Resolution") || $0.contains("GetaddrinfoError") }) {
            return ("cannot resolve the host name", true)
        }
        if names.contains(where: { $0.contains("ConnectionError") }) { return ("cannot connect", true) }
        if names.contains(where: { $0.contains("SSL") || $0.contains("TLS") }) { return ("TLS failed", false) }
        return ("the request failed (\(names.first.map { $0.split(separator: ".").last.map(String.init) ?? $0 } ?? "unknown error"))", false)
    }

    /// A Retry-After value in seconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
    public static func retryAfterSeconds(_ value: String, now: Date) -> Double? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(text), seconds >= 0 { return Double(seconds) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        for format in ["EEE, dd MMM yyyy HH:mm:ss zzz", "EEEE, dd-MMM-yy HH:mm:ss zzz", "EEE MMM d HH:mm:ss yyyy"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return max(0, date.timeIntervalSince(now)) }
        }
        return nil
    }
}

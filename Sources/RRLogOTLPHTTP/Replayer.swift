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
    /// Every time field set to the moment of sending.
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
    /// Send only the resources whose `service.name` is this.
    public var serviceName: String?
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
        let filter = OTLPExportFilter(signals: options.signals, serviceName: options.serviceName)
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
        guard !requests.isEmpty else { return totals }
        let sessionStart = requests.compactMap(\.time).first { $0 != Int64.min } ?? 0
        let clock = ContinuousClock()
        let began = clock.now
        let deadline = options.maxDurationSeconds.map { began + .nanoseconds(Int64($0 * 1e9)) }
        let client = HTTPClient.shared
        repeat {
            totals.loops += 1
            let loopStart = clock.now
            let shift = Self.nowNs() - sessionStart
            for entry in requests {
                if let deadline, clock.now >= deadline { return totals }
                if let speed = options.speed, let t = entry.time, t != Int64.min {
                    let offset = Double(t - sessionStart) / speed
                    var due = loopStart + .nanoseconds(Int64(offset))
                    if let deadline, due > deadline { due = deadline }
                    if due > clock.now { try await Task.sleep(until: due, clock: clock) }
                    if let deadline, clock.now >= deadline { return totals }
                }
                try Task.checkCancellation()
                guard let stored = try OTLPExporter.request(atSequence: entry.sequence, in: manifest, reader: reader, filter: filter) else { continue }
                let request: OTLPRequest
                switch options.timestamps {
                case .none: request = stored
                case .relative: request = stored.shiftingTimes(byNs: shift)
                case .current: request = stored.settingTimes(toNs: UInt64(Self.nowNs()))
                }
                await send(request, client: client, totals: &totals)
                progress(totals)
            }
        } while options.loop && !Task.isCancelled && (deadline.map { clock.now < $0 } ?? true)
        return totals
    }

    static func nowNs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1e9) }

    /// Sends one request with retries; counts the outcome.
    func send(_ request: OTLPRequest, client: HTTPClient, totals: inout OTLPReplayTotals) async {
        let items = request.itemCount
        var body = options.json ? request.jsonBytes() : request.protobufBytes()
        if options.gzip {
            do throws(RRLogError) { body = try GzipEncoder.compress(body) } catch {
                totals.failedRequests += 1
                totals.failedItems += items
                totals.lastError = error.description
                return
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
                totals.failedRequests += 1
                totals.failedItems += items
                totals.lastError = "\(request.signal): \(error)"
                return
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
                return
            }
            let retryable = [429, 502, 503, 504].contains(status)
            if !retryable || attempt >= options.maxAttempts {
                totals.failedRequests += 1
                totals.failedItems += items
                let text = String(decoding: responseBody.prefix(200), as: UTF8.self)
                totals.lastError = "HTTP \(status) from \(http.url)\(retryable ? " after \(attempt) attempts" : "")\(text.isEmpty ? "" : ": " + text)"
                return
            }
            let backoff = options.initialBackoffSeconds * pow(2, Double(attempt - 1))
            let delay = min(options.maxRetryDelaySeconds, retryAfter.flatMap { Self.retryAfterSeconds($0, now: Date()) } ?? backoff)
            attempt += 1
            totals.retries += 1
            do { try await Task.sleep(nanoseconds: UInt64(max(0, delay) * 1e9)) } catch {
                totals.failedRequests += 1
                totals.failedItems += items
                totals.lastError = "cancelled"
                return
            }
        }
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

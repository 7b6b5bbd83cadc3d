import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
public import RRLog
import RRLogInterop
import ServiceLifecycle
import Synchronization

/// What a proxy did, counted since it started.
public struct ProxyTotals: Sendable, Equatable, CustomStringConvertible {
    /// Requests received.
    public var requests = 0
    /// Exchanges whose answer the client received to its last byte.
    public var answered = 0
    /// Exchanges recorded (record mode, and live calls in hybrid mode).
    public var recorded = 0
    /// Requests answered from the session.
    public var replayed = 0
    /// Requests the session had no answer for.
    public var misses = 0
    /// Misses answered live (warn and hybrid modes).
    public var liveCalls = 0
    /// Requests refused or failed: answered with an error by the proxy itself.
    public var failed = 0
    /// How far from their recorded timing replayed stream chunks reached the socket.
    public var chunkTiming = ChunkTiming()

    /// No requests yet.
    public init() {}

    /// The totals in one line, as `rrlog proxy` prints them when it stops.
    public var description: String {
        var line = "\(requests) requests, \(answered) answered (\(recorded) recorded, \(replayed) replayed, \(liveCalls) live), \(misses) misses, \(failed) failed"
        if let p99 = chunkTiming.percentileNs(0.99) {
            line += "; \(chunkTiming.count) stream chunks paced, off their recorded time at the socket by p99 \(p99 / 1_000) µs, max \(chunkTiming.maxNs / 1_000) µs"
        }
        return line
    }
}

/// A reverse proxy that records the HTTP exchanges of any program into a session, or answers
/// them from one (README "Record any program"). A program points its client's base URL at the
/// proxy and runs unchanged.
///
/// Recording forwards each request to the upstream chosen by path prefix, passes the answer
/// through as it arrives, and records the exchange through `Recorder`: a whole answer as an IO
/// event, a streamed one (server-sent events, or any answer without a length) as a stream with
/// each chunk's time. An exchange counts as answered once its record is written to the operating
/// system (or synced, under `ProxyOptions.durability`), which happens before the client gets the
/// answer's end: a crash of the proxy loses no exchange a client saw finish.
///
/// Replaying answers through `Player`: the k-th identical request gets the k-th recorded answer,
/// streams chunk by chunk at their recorded times (scaled by the speed). A miss is answered
/// with 404 and an RFC 9457 problem naming the closest recorded requests and how they differ
/// (strict), or live (warn; hybrid also records it).
public final class ProxyServer: Sendable {
    /// How the proxy runs.
    public let options: ProxyOptions
    let store: Store
    let recorder: Recorder?
    let player: Player?
    let client: HTTPClient?
    let recordedHeaders: Set<String>
    let observed = Observability(logger: Logger(label: "rrlog.proxy"))
    let counts = Mutex(ProxyTotals())
    let pacingLead = PacingLead()
    private let lifecycle = Mutex<(group: ServiceGroup?, stopRequested: Bool)>((nil, false))

    /// A proxy for `session`: in record mode a new session of that name (an existing one is
    /// refused), otherwise the recorded session to replay. Refuses unusable options.
    public init(store: Store, session: String, options: ProxyOptions) throws(RRLogError) {
        let problems = options.problems()
        guard problems.isEmpty else { throw RRLogError(.invalidArgument, problems.joined(separator: "; ")) }
        self.options = options
        self.store = store
        self.recordedHeaders = Set(options.recordedHeaders.map { $0.lowercased() })
        // The upstream client first: a bad --upstream-ca is refused before a session is made.
        var clientConfiguration: HTTPClient.Configuration?
        if options.mode != .strict {
            var configuration = HTTPClient.Configuration()
            configuration.timeout = HTTPClient.Configuration.Timeout(connect: .nanoseconds(Int64(options.connectTimeoutSeconds * 1e9)))
            configuration.decompression = .disabled
            configuration.redirectConfiguration = .disallow
            // A refused connection or a failed TLS handshake is answered at once (502), not
            // retried until the connect timeout.
            configuration.connectionPool.retryConnectionEstablishment = false
            if let file = options.upstreamCAFile {
                var tls = TLSConfiguration.makeClientConfiguration()
                do {
                    let certificates = try NIOSSLCertificate.fromPEMFile(file)
                    guard !certificates.isEmpty else { throw RRLogError(.invalidArgument, "no certificate in it") }
                    tls.additionalTrustRoots = [.certificates(certificates)]
                } catch {
                    throw RRLogError(.invalidArgument, "--upstream-ca \(file): cannot read PEM certificates (\(error))")
                }
                configuration.tlsConfiguration = tls
            }
            clientConfiguration = configuration
        }
        if let replayMode = options.mode.replayMode {
            guard options.volatilePaths.isEmpty else {
                throw RRLogError(.invalidArgument, "--volatile applies when recording; a replay uses the volatile paths the session was recorded with")
            }
            do {
                player = try Player(store: store, session: session, type: nil, mode: replayMode, logger: Logger(label: "rrlog.proxy.player"))
            } catch {
                switch error {
                case .noSuchRecording: throw RRLogError(.noSuchSession, "no session named '\(session)' to replay (record it first: rrlog proxy \(session) --upstream URL)")
                case .storage(let cause): throw cause
                default: throw RRLogError(.invalidArgument, error.description)
                }
            }
            recorder = nil
        } else {
            var recording = RecordingOptions(name: session)
            recording.description = "rrlog proxy recording of " + options.upstreams.map { "\($0.prefix) -> \($0.baseURL)" }.joined(separator: ", ")
            recording.tags = ["proxy"]
            recording.volatilePaths = options.volatilePaths
            recording.durability = options.durability
            recorder = try Recorder.start(store: store, options: recording)
            player = nil
        }
        client = clientConfiguration.map { HTTPClient(eventLoopGroupProvider: .singleton, configuration: $0) }
    }

    /// The totals so far.
    public var totals: ProxyTotals { counts.withLock { $0 } }

    /// The session being recorded or replayed.
    public var sessionName: String { recorder?.options.name ?? player?.manifest.name ?? "" }

    /// Serves until `stop()` (or SIGINT/SIGTERM with `handleSignals`): then finishes the
    /// exchanges in flight, completes the recording (and a hybrid replay's recording of live
    /// calls) and returns the totals. `onListening` gets the bound host and port. A recording
    /// that could not start listening is marked failed, and removed when it holds nothing.
    public func run(onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws -> ProxyTotals {
        var logger = Logger(label: "rrlog.proxy")
        logger.logLevel = .critical
        let host = options.host
        let app = Application(
            responder: ProxyResponder(proxy: self),
            configuration: ApplicationConfiguration(address: .hostname(host, port: options.port), serverName: nil),
            onServerRunning: { channel in onListening(host, channel.localAddress?.port ?? 0) },
            logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [app], gracefulShutdownSignals: options.handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        let stopEarly = lifecycle.withLock { s -> Bool in
            s.group = group
            return s.stopRequested
        }
        var failure: (any Error)?
        if !stopEarly {
            do { try await group.run() } catch { failure = error }
        }
        try? await client?.shutdown()
        if let recorder {
            let summary = try? await recorder.stop(status: failure == nil ? "completed" : "failed")
            if failure != nil, let manifest = summary?.manifest, manifest.recordCount == 0 { try? store.remove(manifest) }
        }
        if let player { _ = try? await player.finish() }
        if let failure { throw failure }
        return totals
    }

    /// Asks a running proxy to stop gracefully (`run` then returns).
    public func stop() async {
        let group = lifecycle.withLock { s -> ServiceGroup? in
            s.stopRequested = true
            return s.group
        }
        await group?.triggerGracefulShutdown()
    }

    /// True when a request's Host (`authority`) names this proxy: a loopback name or address,
    /// or the listening address; any Host when listening on every address.
    func servesHost(_ authority: String?) -> Bool {
        guard let authority, !authority.isEmpty else { return true }
        var host = authority.lowercased()
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = String(host[host.index(after: host.startIndex)..<close])
        } else if let colon = host.lastIndex(of: ":"), host.firstIndex(of: ":") == colon {
            host = String(host[..<colon])
        }
        let listening = options.host.lowercased()
        return ProxyOptions.isLoopback(host) || host == listening || listening == "0.0.0.0" || listening == "::"
    }

    func count(_ update: (inout ProxyTotals) -> Void) {
        counts.withLock { update(&$0) }
    }
}

/// A request's context: Hummingbird's basics and the request's connection (replayed streams are
/// paced from its event loop).
struct ProxyRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = CoreRequestContextStorage(source: source)
        channel = source.channel
    }
}

/// Answers each request: refuses what a reverse proxy must not serve, then records or replays.
struct ProxyResponder: HTTPResponder {
    typealias Context = ProxyRequestContext
    let proxy: ProxyServer

    /// Headers that belong to one connection and are never passed on (RFC 9110 §7.6.1), and those
    /// the proxy sets itself.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding", "expect",
    ]

    func respond(to request: Request, context: Context) async throws -> Response {
        let arrivedNs = nowNs()
        proxy.count { $0.requests += 1 }
        if request.method == .connect {
            return failure(.methodNotAllowed, "rrlog proxy is a reverse proxy: CONNECT is refused; point the client's base URL at the proxy instead")
        }
        // A client that takes the proxy for a forward proxy sends an absolute URL (which HTTP/1
        // decoding reduces to its path) with the Host it wants: the Host tells such requests apart.
        guard let target = request.head.path, target.hasPrefix("/"), proxy.servesHost(request.head.authority) else {
            return failure(
                .misdirectedRequest,
                "rrlog proxy is a reverse proxy for its --upstream URLs: send origin-form requests (GET /path) with this proxy's Host, not absolute URLs for other hosts")
        }
        let (path, rawQuery) = Self.split(target)
        let upstream = proxy.options.upstream(for: path)
        if proxy.options.mode != .strict && upstream == nil {
            return failure(.notFound, "no --upstream serves \(path): the upstreams serve " + proxy.options.upstreams.map(\.prefix).joined(separator: ", "))
        }
        var body: [UInt8] = []
        do {
            var request = request
            let buffer = try await request.collectBody(upTo: proxy.options.maxRequestBodyBytes)
            body = Array(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return failure(.contentTooLarge, "the request body is larger than \(proxy.options.maxRequestBodyBytes) bytes (--max-request-bytes)")
        } catch is NIOTooManyBytesError {
            return failure(.contentTooLarge, "the request body is larger than \(proxy.options.maxRequestBodyBytes) bytes (--max-request-bytes)")
        } catch {
            return failure(.badRequest, "the request body could not be read: \(error)")
        }
        let headers = request.headers.map { (name: $0.name.canonicalName, value: $0.value) }
        let (inputs, metadata) = ProxyExchange.inputs(
            method: request.method.rawValue, path: path, rawQuery: rawQuery, headers: headers, body: body,
            recordedHeaders: proxy.recordedHeaders)
        let exchange = Exchange(
            method: request.method.rawValue, path: path, rawQuery: rawQuery, headers: headers, body: body, inputs: inputs, metadata: metadata,
            arrivedNs: arrivedNs)
        guard let player = proxy.player else {
            // Recording: the check above made sure an upstream serves the path.
            guard let upstream else { return failure(.notFound, "no --upstream serves \(path)") }
            return await forward(exchange, to: upstream, recorder: proxy.recorder)
        }
        let call: ReplayedCall
        do {
            call = try player.lookup(ioType: ProxyExchange.ioType, tool: ProxyExchange.tool, inputs: inputs)
        } catch {
            switch error {
            case .noMatch, .exhausted:
                proxy.count { $0.misses += 1 }
                guard player.mode != .strict, let upstream else { return miss(error, exchange) }
                proxy.count { $0.liveCalls += 1 }
                proxy.observed.count(Observability.CounterName.replayLiveCalls, [("mode", player.mode.rawValue)])
                proxy.observed.log(.notice, "replay.live_call", session: player.manifest.name, "calling the upstream after a miss", [
                    "rrlog.io_type": .string(ProxyExchange.ioType), "rrlog.tool": .string(ProxyExchange.tool), "rrlog.mode": .string(player.mode.rawValue),
                    "rrlog.path": .string(path),
                ])
                let recorder: Recorder?
                do { recorder = try player.liveCallRecorder() } catch {
                    return failure(.serviceUnavailable, "cannot record the live call: \(error)")
                }
                return await forward(exchange, to: upstream, recorder: recorder)
            default:
                return failure(.internalServerError, "the session cannot be read: \(error)")
            }
        }
        return replay(call, player: player, channel: context.channel)
    }

    /// The path and the raw query of a request target.
    static func split(_ target: String) -> (path: String, query: String) {
        guard let mark = target.firstIndex(of: "?") else { return (target, "") }
        return (String(target[..<mark]), String(target[target.index(after: mark)...]))
    }

    /// A request, read and turned into inputs.
    struct Exchange: Sendable {
        var method: String
        var path: String
        var rawQuery: String
        var headers: [(name: String, value: String)]
        var body: [UInt8]
        var inputs: JSONValue
        var metadata: JSONValue?
        var arrivedNs: Int64
    }

    // MARK: Forwarding and recording

    /// Sends `exchange` to `upstream` and passes the answer on; with a recorder, records it.
    func forward(_ exchange: Exchange, to upstream: ProxyUpstream, recorder: Recorder?) async -> Response {
        guard let client = proxy.client else { return failure(.internalServerError, "no upstream client in strict mode") }
        let url = upstream.url(for: exchange.path, query: exchange.rawQuery)
        var outgoing = HTTPClientRequest(url: url)
        outgoing.method = HTTPMethod(rawValue: exchange.method)
        for (name, value) in exchange.headers where !Self.hopByHop.contains(name) {
            outgoing.headers.add(name: name, value: value)
        }
        outgoing.headers.add(name: "accept-encoding", value: "identity")
        if !exchange.body.isEmpty || ["POST", "PUT", "PATCH"].contains(exchange.method) {
            outgoing.body = .bytes(ByteBuffer(bytes: exchange.body))
        }
        let timeout = TimeAmount.nanoseconds(Int64(proxy.options.upstreamTimeoutSeconds * 1e9))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(outgoing, timeout: timeout)
        } catch {
            return failure(.badGateway, "the upstream \(upstream.baseURL) did not answer \(exchange.method) \(exchange.path): \(Self.describe(error))")
        }
        let status = Int(response.status.code)
        let upstreamHeaders = response.headers.map { (name: $0.name.lowercased(), value: $0.value) }
        let contentType = upstreamHeaders.first { $0.name == "content-type" }?.value.lowercased() ?? ""
        let hasLength = upstreamHeaders.contains { $0.name == "content-length" }
        let bodyless = exchange.method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status)
        if !bodyless && (contentType.hasPrefix("text/event-stream") || !hasLength) {
            return await stream(response, status: status, headers: upstreamHeaders, exchange, recorder: recorder)
        }
        return await whole(response, status: status, headers: upstreamHeaders, exchange, upstream: upstream, recorder: recorder)
    }

    /// A whole answer: read (bounded), recorded and written out, then sent.
    func whole(
        _ response: HTTPClientResponse, status: Int, headers: [(name: String, value: String)], _ exchange: Exchange, upstream: ProxyUpstream,
        recorder: Recorder?
    ) async -> Response {
        let limit = proxy.options.maxResponseBodyBytes
        var body: [UInt8]
        do {
            body = Array(try await response.body.collect(upTo: limit).readableBytesView)
        } catch is NIOTooManyBytesError {
            return failure(.badGateway, "the upstream's answer to \(exchange.method) \(exchange.path) is larger than \(limit) bytes (--max-response-bytes)")
        } catch {
            return failure(.badGateway, "the upstream \(upstream.baseURL) broke off its answer to \(exchange.method) \(exchange.path): \(Self.describe(error))")
        }
        var passed = headers
        if headers.contains(where: { $0.name == "content-encoding" && $0.value.lowercased() == "gzip" }) {
            do throws(RRLogError) {
                body = try GzipDecoder.decompress(body, file: "the upstream's answer", limit: limit)
                passed.removeAll { $0.name == "content-encoding" }
            } catch {
                return failure(.badGateway, "the upstream's gzip answer does not decode: \(error.message)")
            }
        }
        if let recorder {
            let outputs = ProxyExchange.outputs(status: status, headers: passed, body: body)
            let seconds = Double(nowNs() - exchange.arrivedNs) / 1e9
            await recorder.recordSuspending(
                ioType: ProxyExchange.ioType, tool: ProxyExchange.tool, inputs: exchange.inputs, outputs: outputs, durationSeconds: seconds,
                metadata: exchange.metadata, timestampNs: exchange.arrivedNs)
            do { try await recorder.flush() } catch {
                return failure(.serviceUnavailable, "the exchange could not be recorded, so it is not answered: \(error)")
            }
            proxy.count { $0.recorded += 1 }
        }
        return answer(status: status, headers: passed.filter { !Self.hopByHop.contains($0.name) }, body: body)
    }

    /// A streamed answer: each chunk is recorded and sent on at once; the stream's end is
    /// recorded and written out before the answer's end goes to the client. An upstream that
    /// breaks off, or a client that goes away, ends the recorded stream with the error.
    func stream(
        _ response: HTTPClientResponse, status: Int, headers: [(name: String, value: String)], _ exchange: Exchange, recorder: Recorder?
    ) async -> Response {
        let handle = await recorder?.startStreamSuspending(
            ioType: ProxyExchange.ioType, tool: ProxyExchange.tool, inputs: exchange.inputs,
            metadata: ProxyExchange.streamMetadata(status: status, headers: headers).merging(exchange.metadata),
            timestampNs: exchange.arrivedNs)
        let limit = proxy.options.maxResponseBodyBytes
        let proxy = self.proxy
        let body = ResponseBody { writer in
            var index = 0
            var total = 0
            func end(_ error: String?) async throws {
                guard let recorder, let handle else { return }
                await recorder.finishStreamSuspending(handle, totalChunks: index, metadata: error.map { ["error": .string($0)] })
                try await recorder.flush()
            }
            do {
                for try await buffer in response.body {
                    total += buffer.readableBytes
                    guard total <= limit else { throw StreamCut(reason: "the answer is larger than \(limit) bytes (--max-response-bytes)") }
                    if let recorder, let handle {
                        let (content, metadata) = ProxyExchange.chunk(Array(buffer.readableBytesView))
                        await recorder.chunkSuspending(handle, index: index, content: content, metadata: metadata)
                    }
                    index += 1
                    try await writer.write(buffer)
                }
            } catch {
                try? await end(Self.describe(error))
                proxy.count { $0.failed += 1 }
                throw error
            }
            try await end(nil)
            if recorder != nil { proxy.count { $0.recorded += 1 } }
            try await writer.finish(nil)
            proxy.count { $0.answered += 1 }
        }
        return Response(status: .init(code: status), headers: Self.fields(headers.filter { !Self.hopByHop.contains($0.name) }), body: body)
    }

    /// Why a stream was cut off by the proxy.
    struct StreamCut: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    // MARK: Replaying

    /// The recorded answer to a call: whole, or as a stream at its recorded pace.
    func replay(_ call: ReplayedCall, player: Player, channel: any Channel) -> Response {
        proxy.count { $0.replayed += 1 }
        if let stream = player.stream(of: call) {
            let metadata = call.line["metadata"]
            let status = Int(metadata?["status"]?.int64Value ?? 200)
            var headers = ProxyExchange.headerList(metadata?["headers"])
            headers.append(("x-rrlog-replay", "hit"))
            let proxy = self.proxy
            let speed = proxy.options.speed
            let brokenOff = stream.finishMetadata?["error"]?.stringValue
            let body = ResponseBody { writer in
                if let speed, speed > 0 {
                    // Paced from the connection's event loop (ChunkPacer), each chunk's time at the socket measured.
                    let pacer = ChunkPacer(
                        channel: channel, chunks: stream.chunks.map { ProxyExchange.chunkBytes(content: $0.content, metadata: $0.metadata) },
                        offsets: stream.dueOffsets(speed: speed), lead: proxy.pacingLead, measured: { ns in proxy.count { $0.chunkTiming.add(ns) } })
                    try await pacer.run()
                } else {
                    for chunk in stream.chunks {
                        try await writer.write(ByteBuffer(bytes: ProxyExchange.chunkBytes(content: chunk.content, metadata: chunk.metadata)))
                    }
                }
                // A stream the upstream broke off is broken off again, where it was.
                if let brokenOff { throw StreamCut(reason: "the recorded answer was broken off: \(brokenOff)") }
                try await writer.finish(nil)
                proxy.count { $0.answered += 1 }
            }
            return Response(status: .init(code: status), headers: Self.fields(headers), body: body)
        }
        guard let answer = ProxyExchange.answer(call.outputs) else {
            return failure(.internalServerError, "the recorded call at sequence \(call.sequence) is not an HTTP answer")
        }
        var headers = answer.headers
        headers.append(("x-rrlog-replay", "hit"))
        return self.answer(status: answer.status, headers: headers.map { (name: $0.0, value: $0.1) }, body: answer.body)
    }

    /// A miss in strict mode: 404 with the player's report as an RFC 9457 problem.
    func miss(_ error: ReplayError, _ exchange: Exchange) -> Response {
        var members = error.missMembers ?? [:]
        members["request"] = exchange.inputs
        let detail: String
        switch error {
        case .exhausted(_, _, _, let recorded, let index):
            detail = "rrlog proxy (strict replay): \(recorded) identical request(s) were recorded; this is request #\(index) (from 0)"
        default:
            detail = "rrlog proxy (strict replay): no recorded request matches \(exchange.method) \(exchange.path); see closest for the nearest recorded ones and how they differ"
        }
        return problem(.notFound, detail, members, replayHeader: "miss")
    }

    // MARK: Answers

    /// A whole answer; it counts as answered once its last byte is written.
    func answer(status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> Response {
        let proxy = self.proxy
        let bytes = ByteBuffer(bytes: body)
        return Response(
            status: .init(code: status), headers: Self.fields(headers),
            body: ResponseBody(contentLength: bytes.readableBytes) { writer in
                try await writer.write(bytes)
                try await writer.finish(nil)
                proxy.count { $0.answered += 1 }
            })
    }

    /// An error answered by the proxy itself, counted as failed.
    func failure(_ status: HTTPResponse.Status, _ detail: String) -> Response {
        proxy.count { $0.failed += 1 }
        return problem(status, detail, [:], replayHeader: nil)
    }

    /// An RFC 9457 problem (`application/problem+json`).
    func problem(_ status: HTTPResponse.Status, _ detail: String, _ members: [String: JSONValue], replayHeader: String?) -> Response {
        var body: [String: JSONValue] = [
            "type": "about:blank", "title": .string(status.reasonPhrase), "status": .int(Int64(status.code)), "detail": .string(detail),
        ]
        for (key, value) in members { body[key] = value }
        var fields: HTTPFields = [.contentType: "application/problem+json", .cacheControl: "no-store"]
        if let replayHeader, let name = HTTPField.Name("x-rrlog-replay") { fields[name] = replayHeader }
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSONValue.object(body).serializedBytes())))
    }

    /// Header fields from names and values; names HTTP does not allow are left out.
    static func fields(_ headers: [(name: String, value: String)]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in headers {
            guard let name = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: name, value: value))
        }
        return fields
    }

    /// An upstream failure in plain words.
    static func describe(_ error: any Error) -> String {
        if let http = error as? HTTPClientError {
            switch http {
            case .connectTimeout: return "no connection within the connect timeout"
            case .deadlineExceeded: return "no complete answer within the upstream timeout"
            case .remoteConnectionClosed: return "the upstream closed the connection"
            default: return "\(http)"
            }
        }
        return "\(error)"
    }
}

extension JSONValue {
    /// This object with `other`'s members added (nil adds nothing).
    func merging(_ other: JSONValue?) -> JSONValue {
        guard var members = objectValue, let extra = other?.objectValue else { return self }
        for (key, value) in extra { members[key] = value }
        return .object(members)
    }
}

import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import Logging
import NIOCore
public import RRLog
public import RRLogOTLPHTTP
import RRLogCatalog
import ServiceLifecycle
import Synchronization
import RRLogFormat
public import RRLogStorage

/// How `RRLogServer` listens and whom it lets in (README "rrlog serve").
public struct ServeOptions: Sendable {
    /// The address to bind: loopback (the default) or, with `allowedHosts`, another.
    public var host: String = "127.0.0.1"
    /// The port; 0 picks a free one.
    public var port: Int = 5556
    /// The token every request must carry (`Authorization: Bearer`, or the cookie the start URL
    /// sets); nil turns authentication off, which only a loopback address allows.
    public var token: String?
    /// Host names the server answers to besides its loopback names (the Host header is checked
    /// against them: DNS rebinding).
    public var allowedHosts: [String] = []
    /// Hosts a replay may POST events to besides loopback ones (no requests to other hosts
    /// through the server).
    public var allowedTargets: [String] = []
    /// The most a request body may hold.
    public var maxBodyBytes: Int = 64 << 20
    /// The most records or events one page may hold.
    public var pageSizeMax: Int = 1000
    /// The most live streams (Server-Sent Events: a session's tail) open at once.
    public var maxEventStreams: Int = 32
    /// A PEM file of the server's certificate chain: with `tlsKeyPath`, the server speaks HTTPS
    /// only. Needed to listen on an address other than loopback.
    public var tlsCertificatePath: String?
    /// The PEM file of the certificate's private key.
    public var tlsKeyPath: String?
    /// The text `GET /metrics` answers (Prometheus' exposition format), behind the token like
    /// every route; nil: no `/metrics` (404). `rrlog serve` bootstraps swift-metrics with a
    /// Prometheus registry and gives its exposition here.
    public var metrics: (@Sendable () -> [UInt8])?
    /// Stop on SIGINT and SIGTERM.
    public var handleSignals: Bool = false
    /// How the sessions of IO events the server writes (`POST /api/v1/sessions` and their
    /// `io-events`) are written: lz4 chunks by default, as `rrlog append` writes them.
    public var ioWriteOptions: LogOptions = {
        var options = LogOptions()
        options.codec = .lz4
        return options
    }()

    /// Loopback, port 5556, a token to be set.
    public init() {}

    /// True when `host` is a loopback address or name.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    /// A new random token: 32 bytes from the system's random source, as 64 hex digits.
    public static func generateToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.lowercase((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

/// The HTTP API over a store: the event recorder's routes (`/api/recordings`, `/api/record/…`,
/// `/api/replay/…`) and rrlog's own under `/api/v1`, described by the OpenAPI document at
/// `/api/openapi.json`. One replay engine (`EventReplayer`) and one filter grammar serve them and
/// the command line.
public final class RRLogServer: Sendable {
    let state: ServerState
    private let capture = Mutex<OTLPCaptureEndpoint?>(nil)
    private let lifecycle = Mutex<(group: ServiceGroup?, stopRequested: Bool)>((nil, false))

    /// A server over `store`. Refuses options that would open the store to others: no token on a
    /// non-loopback address, or a non-loopback address at all (which needs TLS, not built yet).
    public init(store: Store, options: ServeOptions) throws(RRLogError) {
        if (options.tlsCertificatePath == nil) != (options.tlsKeyPath == nil) {
            throw RRLogError(.invalidArgument, "TLS needs both a certificate chain and its private key (--tls-cert and --tls-key)")
        }
        if !ServeOptions.isLoopback(options.host) {
            guard options.tlsCertificatePath != nil else {
                throw RRLogError(
                    .invalidArgument,
                    "listening on \(options.host) would expose the store beyond this machine in clear text: give --tls-cert and --tls-key, or listen on 127.0.0.1")
            }
            guard options.token != nil else {
                throw RRLogError(.invalidArgument, "listening on \(options.host) needs the token: --no-auth is for loopback only")
            }
            guard !options.allowedHosts.isEmpty else {
                throw RRLogError(
                    .invalidArgument,
                    "listening on \(options.host) needs the host names clients use (--allowed-host NAME): requests for other names are refused (DNS rebinding)")
            }
        }
        if let cert = options.tlsCertificatePath, let key = options.tlsKeyPath {
            // Read now, so that a missing or malformed file is an error before anything listens.
            do {
                _ = try NIOSSLCertificate.fromPEMFile(cert)
                _ = try NIOSSLPrivateKey(file: key, format: .pem)
            } catch {
                throw RRLogError(.invalidArgument, "cannot use the TLS certificate \(cert) and key \(key): \(error)")
            }
        }
        guard options.port >= 0 && options.port <= 65535 else { throw RRLogError(.invalidArgument, "port must be 0-65535") }
        guard options.maxBodyBytes > 0, options.pageSizeMax > 0, options.maxEventStreams > 0 else { throw RRLogError(.invalidArgument, "limits must be positive") }
        state = ServerState(store: store, options: options)
    }

    /// Receives OTLP/HTTP at `POST /v1/traces`, `/v1/metrics` and `/v1/logs` (behind the token)
    /// into `writer`'s session, as `rrlog capture` does; call before `run`. After `run` returns,
    /// `finishOTLPCapture()` writes what is left; the caller closes the writer.
    public func captureOTLP(into writer: SessionWriter, options: OTLPCaptureOptions = OTLPCaptureOptions()) {
        capture.withLock { $0 = OTLPCaptureEndpoint(writer: writer, options: options) }
    }

    /// Finishes the OTLP capture after `run` returned: writes what is waiting and gives the
    /// totals (nil without a capture); throws the error that stopped writing, if any.
    public func finishOTLPCapture() throws(RRLogError) -> OTLPCaptureTotals? {
        guard let endpoint = capture.withLock({ $0 }) else { return nil }
        return try endpoint.finish()
    }

    /// Serves until `stop()` (or SIGINT/SIGTERM with `handleSignals`); then finishes an open
    /// recording (its session completes) and stops a running replay. `onListening` gets the
    /// bound host and port.
    public func run(onListening: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws {
        var logger = Logger(label: "rrlog.serve")
        logger.logLevel = .error
        let router = Router()
        let options = state.options
        let hosts = AllowedHosts(port: options.port, allowed: options.allowedHosts)
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: AccessMiddleware(token: options.token, hosts: hosts, secure: options.tlsCertificatePath != nil))
        capture.withLock { $0 }?.register(on: router)
        if let metrics = options.metrics {
            router.get("/metrics") { _, _ in
                JSONReply.bytes(metrics(), contentType: "text/plain; version=0.0.4; charset=utf-8")
            }
        }
        EventRecorderAPI(state: state).register(on: router)
        SessionsAPI(state: state).register(on: router)
        SessionViewsAPI(state: state).register(on: router)
        ReplaysAPI(state: state).register(on: router)
        OTLPReplaysAPI(state: state).register(on: router)
        router.get("/") { _, _ in try DashboardAssets.response("index.html") }
        router.get("/ui/app.js") { _, _ in try DashboardAssets.response("app.js") }
        router.get("/ui/app.css") { _, _ in try DashboardAssets.response("app.css") }
        router.get("/api/openapi.json") { _, _ in
            guard let bytes = OpenAPIDocument.bytes else {
                throw Problem(.internalServerError, "the OpenAPI document is missing from this installation (rrlog_RRLogServer.resources beside the binary)")
            }
            return JSONReply.bytes(bytes)
        }
        let host = options.host
        var server = HTTPServerBuilder.http1()
        if let cert = options.tlsCertificatePath, let key = options.tlsKeyPath {
            let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
            let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(.http1(), tlsConfiguration: tls)
        }
        let app = Application(
            router: router,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(host, port: options.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                hosts.listening(on: port)
                onListening(host, port)
            },
            logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [app], gracefulShutdownSignals: options.handleSignals ? [.sigterm, .sigint] : [], logger: logger))
        let stopEarly = lifecycle.withLock { s -> Bool in
            s.group = group
            return s.stopRequested
        }
        var failure: (any Error)?
        if !stopEarly {
            // Appenders left open between POSTs of IO events close once idle.
            let appenders = state.appenders
            let closer = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    appenders.closeIdle()
                }
            }
            do { try await group.run() } catch { failure = error }
            closer.cancel()
        }
        await state.finish()
        if let failure { throw failure }
    }

    /// Asks a running server to stop gracefully (`run` then returns).
    public func stop() async {
        let group = lifecycle.withLock { s -> ServiceGroup? in
            s.stopRequested = true
            return s.group
        }
        await group?.triggerGracefulShutdown()
    }
}

/// What the routes share: the store, the live recording, the running replay.
final class ServerState: Sendable {
    let store: Store
    let options: ServeOptions
    /// The event recorder's one live recording (`/api/record/…`).
    let recording = Mutex<BusRecorder?>(nil)
    /// The event recorder's one replay (`/api/replay/…`).
    let replay = ReplayControl()
    /// The replays of `/api/v1/replays`.
    let replays = ReplayRegistry()
    /// The OTLP replays of `/api/v1/sessions/{name}/otlp-replay`.
    let otlpReplays = OTLPReplayRegistry()
    /// Timelines from per-chunk summaries, cached across requests.
    let timelines: SessionTimelines
    /// Live streams open now (bounded by `options.maxEventStreams`).
    let eventStreams = StreamSlots()
    /// IO event appenders kept open between POSTs of IO events, per session.
    let appenders = IOEventAppenders()

    init(store: Store, options: ServeOptions) {
        self.store = store
        self.options = options
        timelines = SessionTimelines(store: store)
    }

    /// Ends what is open: the recording completes, the replay stops.
    func finish() async {
        _ = try? takeRecording()?.stop()
        await replay.stopAndWait()
        await replays.stopAll()
        await otlpReplays.cancelAll()
        await appenders.closeAll()
    }

    /// The live recording, which no longer is the server's (the caller stops it); nil when none runs.
    func takeRecording() -> BusRecorder? {
        recording.withLock { r in
            defer { r = nil }
            return r
        }
    }

    /// The session `name` names (a name or an id; never a path).
    func session(_ name: String) throws -> SessionManifest {
        guard !name.contains("/"), !name.contains("\\") else { throw Problem(.badRequest, "a session is named by its name or id, not a path") }
        do throws(RRLogError) { return try store.session(name) } catch {
            // The store's message names its directory, which is not the client's business.
            if error.code == .noSuchSession { throw Problem(.notFound, "no session named '\(name)'") }
            throw Problem(error)
        }
    }
}

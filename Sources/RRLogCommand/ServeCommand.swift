import ArgumentParser
import Foundation
import Metrics
import Prometheus
import RRLog
import RRLogOTLPHTTP
import RRLogServer
import RRLogFormat
import RRLogStorage

/// `rrlog serve`: the HTTP API over the store.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve the store over HTTP: the event recorder's API and rrlog's own (/api/v1).",
        discussion: """
            Listens on loopback; another address needs --tls-cert and --tls-key (HTTPS) and an \
            --allowed-host for each name clients use. Every request needs the token: a new one is made at each start unless \
            RRLOG_TOKEN or --token-file gives it (never on the command line, where ps shows it). The URL \
            printed at start logs a browser in (an HttpOnly cookie); scripts send Authorization: Bearer \
            TOKEN. --no-auth turns the token off (loopback only: every local user can then read the \
            store). Requests whose Host or Origin is not this server are refused. The API is described \
            at /api/openapi.json; Prometheus metrics are at /metrics (behind the token too). --otlp SESSION \
            also receives OTLP/HTTP at /v1/traces, /v1/metrics and /v1/logs into a capture session, as \
            'rrlog capture' does (exporters send the token as an Authorization header). SIGINT or SIGTERM \
            stops it: an open recording and the OTLP capture complete.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "HOST:PORT to listen on (loopback only; port 0 picks a free one).")
    var listen: String = "127.0.0.1:5556"

    @Option(name: .customLong("token-file"), help: "Read the token from this file (default: $RRLOG_TOKEN, else a new one).")
    var tokenFile: String?

    @Flag(name: .customLong("no-auth"), help: "No token (loopback only; any local user can then read the store).")
    var noAuth = false

    @Option(name: .customLong("allowed-host"), help: "Another host name the server answers to (repeatable; checked against the Host header).")
    var allowedHosts: [String] = []

    @Option(name: .customLong("allow-target"), help: "A host a replay may POST events to besides loopback ones (repeatable).")
    var allowTargets: [String] = []

    @Option(name: .customLong("tls-cert"), help: "A PEM certificate chain: serve HTTPS only (needed to listen beyond loopback, with --allowed-host).")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(help: "Also receive OTLP/HTTP (POST /v1/traces, /v1/metrics, /v1/logs) into this capture session (made when missing).")
    var otlp: String?

    @Option(help: "Chunk compression of the IO events POSTed to sessions: none, lz4, zstd.")
    var codec: String = "lz4"

    func validate() throws {
        _ = try CaptureCommand.parseListen(listen)
        guard Codec(name: codec) != nil else { throw ValidationError("--codec must be none, lz4 or zstd, not '\(codec)'") }
        if noAuth && tokenFile != nil { throw ValidationError("--no-auth and --token-file contradict each other") }
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    /// The token: from --token-file, else $RRLOG_TOKEN, else a new one.
    func token() throws -> String? {
        if noAuth { return nil }
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw CommandFailure(message: "cannot read the token file \(tokenFile)")
            }
            return try Self.checked(text.trimmingCharacters(in: .whitespacesAndNewlines), from: "the token in \(tokenFile)")
        }
        if let env = ProcessInfo.processInfo.environment["RRLOG_TOKEN"], !env.isEmpty {
            return try Self.checked(env, from: "RRLOG_TOKEN")
        }
        return ServeOptions.generateToken()
    }

    /// `token` when it can be a cookie value and is long enough not to be guessed.
    static func checked(_ token: String, from source: String) throws -> String {
        guard token.count >= 16, !token.contains(where: { $0.isWhitespace || $0 == ";" }) else {
            throw CommandFailure(message: "\(source) must be at least 16 characters without spaces or semicolons")
        }
        return token
    }

    func run() async throws {
        let (host, port) = try CaptureCommand.parseListen(listen)
        let store = try storeOptions.open(create: true)
        var options = ServeOptions()
        options.host = host
        options.port = port
        options.token = try token()
        options.allowedHosts = allowedHosts
        options.allowedTargets = allowTargets.map { $0.lowercased() }
        options.handleSignals = true
        options.ioWriteOptions.codec = Codec(name: codec)!
        options.tlsCertificatePath = tlsCert
        options.tlsKeyPath = tlsKey
        // swift-metrics to a Prometheus registry: the server's request counts and durations and
        // rrlog's own counters (README "Events and metrics") at /metrics.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        options.metrics = { registry.emitToBuffer() }
        let server = try reporting { try RRLogServer(store: store, options: options) }
        var captureWriter: SessionWriter?
        if let otlp {
            let (writer, _) = try CaptureCommand.openWriter(
                store, session: otlp, description: "OTLP/HTTP received by rrlog serve on \(host):\(port)", listen: "\(host):\(port)",
                options: LogOptions())
            server.captureOTLP(into: writer)
            captureWriter = writer
        }
        if noAuth {
            Output.error("rrlog: WARNING: --no-auth: any user of this machine can read and change the store through http://\(host):\(port)")
        }
        let token = options.token
        let tls = tlsCert != nil
        do {
            try await server.run { boundHost, boundPort in
                let shown = boundHost.contains(":") ? "[\(boundHost)]" : boundHost
                let url = "\(tls ? "https" : "http")://\(shown):\(boundPort)/" + (token.map { "?token=\($0)" } ?? "")
                Output.error("rrlog: serving \(store.path) on \(url)  (Ctrl-C to stop)")
            }
        } catch {
            _ = try? server.finishOTLPCapture()
            _ = try? captureWriter?.close(status: "failed")
            throw CommandFailure(message: "serve failed: \(CaptureCommand.describe(error, host: host, port: port))")
        }
        if let captureWriter {
            let totals = try reporting { try server.finishOTLPCapture() }
            let manifest = try reporting { try captureWriter.close() }
            if let totals {
                Output.error("rrlog: captured into \(manifest.name): \(totals.requests) OTLP requests, \(totals.spans) spans, \(totals.logRecords) log records, \(totals.dataPoints) data points (\(totals.refused) refused)")
            }
        }
    }
}

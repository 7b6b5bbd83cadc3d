import ArgumentParser
import Foundation
import RRLog
import RRLogProxy

/// `rrlog proxy`: record or replay any program's HTTP calls through a reverse proxy.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy", abstract: "Record or replay a program's HTTP calls (LLM APIs included, streams too) through a reverse proxy.",
        discussion: """
            Point the program's base URL at the proxy (OPENAI_BASE_URL=http://127.0.0.1:8089/v1, \
            ANTHROPIC_BASE_URL=http://127.0.0.1:8089, or any HTTP base URL). record (the default) \
            forwards each request to the --upstream serving its path and records the exchange into \
            the new session SESSION; a streamed answer passes through chunk by chunk and is recorded \
            with each chunk's time. strict (or replay) answers from SESSION without contacting an \
            upstream: the k-th identical request gets the k-th recorded answer, streams at their \
            recorded pace (--speed, --fast); a request that was not recorded gets 404 with a JSON \
            problem naming the closest recorded requests and how they differ. warn answers such a \
            request live and logs it; hybrid also records it (into a new session named after \
            SESSION). Never stored: Authorization, x-api-key, api-key, x-goog-api-key, Cookie and \
            Set-Cookie headers and key-like query parameters; response headers only from an \
            allow-list. SIGINT or SIGTERM finishes the exchanges in flight and completes the session.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "The session: created when recording, read when replaying.")
    var session: String

    @Option(help: "URL of the upstream for every path, or /PREFIX=URL for the paths under /PREFIX (repeatable; the longest prefix wins).")
    var upstream: [String] = []

    @Option(help: "HOST:PORT to listen on (loopback by default; port 0 picks a free one).")
    var listen: String = "127.0.0.1:8089"

    @Option(help: "record (the default), strict (or replay), warn or hybrid.")
    var mode: String = "record"

    @Option(help: "Replayed streams at this multiple of their recorded pace (more than 0, at most 1000; 2 is twice as fast).")
    var speed: Double = 1

    @Flag(help: "Replayed streams without waiting between chunks (ignores --speed).")
    var fast = false

    @Option(help: "An input path left out of the IO key when recording, e.g. body.metadata.user_id or headers.x-request-id (repeatable).")
    var volatile: [String] = []

    @Option(name: .customLong("upstream-ca"), help: "A PEM file of CA certificates to trust for https upstreams, besides the system's.")
    var upstreamCA: String?

    @Option(help: "A request header to store in the inputs, and so in the IO key (repeatable; credential headers are refused).")
    var header: [String] = []

    @Option(name: .customLong("max-request-bytes"), help: "The largest request body accepted (413 above it).")
    var maxRequestBytes: Int = 32 << 20

    @Option(name: .customLong("max-response-bytes"), help: "The largest answer passed on and recorded, a whole body or a stream's sum.")
    var maxResponseBytes: Int = 256 << 20

    @Option(help: "When an exchange counts as answered: none (written to the OS: a crash of rrlog loses nothing answered), every-batch (also fsynced).")
    var durability: String = "none"

    /// The options the flags describe.
    func proxyOptions() throws -> ProxyOptions {
        var options = ProxyOptions()
        (options.host, options.port) = try CaptureCommand.parseListen(listen)
        guard let parsedMode = ProxyMode(name: mode) else {
            throw ValidationError("--mode must be record, strict (or replay), warn or hybrid, not '\(mode)'")
        }
        options.mode = parsedMode
        do {
            options.upstreams = try upstream.map { text throws(RRLogError) in try ProxyUpstream.parse(text) }
        } catch {
            throw ValidationError(error.message)
        }
        options.speed = fast ? nil : speed
        options.volatilePaths = volatile
        options.upstreamCAFile = upstreamCA
        options.recordedHeaders = header
        options.maxRequestBodyBytes = maxRequestBytes
        options.maxResponseBodyBytes = maxResponseBytes
        guard ["none", "every-batch"].contains(durability) else { throw ValidationError("--durability must be none or every-batch, not '\(durability)'") }
        options.durability = durability == "every-batch" ? .everyBatch : .none
        options.handleSignals = true
        let problems = options.problems()
        guard problems.isEmpty else { throw ValidationError(problems.joined(separator: "; ")) }
        return options
    }

    func validate() throws {
        _ = try proxyOptions()
    }

    func run() async throws {
        let options = try proxyOptions()
        let store = try storeOptions.open(create: true)
        let proxy = try reporting { try ProxyServer(store: store, session: session, options: options) }
        if !ProxyOptions.isLoopback(options.host) {
            Output.error("rrlog: WARNING: listening on \(options.host): other machines can send requests through this proxy to its upstreams")
        }
        let what = options.mode == .record ? "recording into" : "replaying (\(options.mode.rawValue))"
        let name = proxy.sessionName
        let routes = options.upstreams.map { "\($0.prefix) -> \($0.baseURL)" }.joined(separator: ", ")
        let totals: ProxyTotals
        do {
            totals = try await proxy.run { boundHost, boundPort in
                let shown = boundHost.contains(":") ? "[\(boundHost)]" : boundHost
                Output.error("rrlog: proxy \(what) '\(name)' on http://\(shown):\(boundPort)" + (routes.isEmpty ? "" : " (\(routes))") + "  (Ctrl-C to stop)")
            }
        } catch {
            throw CommandFailure(message: "proxy failed: \(CaptureCommand.describe(error, host: options.host, port: options.port))")
        }
        print("proxy \(options.mode.rawValue) '\(name)': \(totals)")
    }
}

import Foundation
public import RRLog
public import RRLogStorage

/// What the proxy does with each request: the player's modes, plus recording.
public enum ProxyMode: String, Sendable, CaseIterable {
    /// Forward every request to its upstream and record the exchange.
    case record
    /// Answer from the session without contacting an upstream; a miss is an error answer.
    case strict
    /// Answer from the session; a miss is answered live and logged.
    case warn
    /// Answer from the session; a miss is answered live and recorded (into the player's hybrid
    /// session, as `Player` in hybrid mode records its live calls).
    case hybrid

    /// The mode called `name`; `replay` is another name for `strict`.
    public init?(name: String) {
        if name == "replay" {
            self = .strict
            return
        }
        self.init(rawValue: name)
    }

    /// The player's mode for the replaying modes; nil for `record`.
    public var replayMode: ReplayMode? {
        switch self {
        case .record: return nil
        case .strict: return .strict
        case .warn: return .warn
        case .hybrid: return .hybrid
        }
    }
}

/// An upstream and the request paths it serves: those equal to `prefix` or below it.
public struct ProxyUpstream: Sendable, Equatable {
    /// The path prefix, `/` for every path; without a trailing slash otherwise (`/openai`).
    public var prefix: String
    /// The base URL requests go to: the part of the path after the prefix is appended to it, as
    /// is the query (`/openai/chat/completions` with `--upstream /openai=https://api.openai.com/v1`
    /// goes to `https://api.openai.com/v1/chat/completions`).
    public var baseURL: String

    /// An upstream serving `prefix`.
    public init(prefix: String, baseURL: String) {
        self.prefix = prefix
        self.baseURL = baseURL
    }

    /// Parses `URL` (prefix `/`) or `/PREFIX=URL`, as `--upstream` takes them. The URL must be
    /// http or https with a host, and carry no query or fragment.
    public static func parse(_ text: String) throws(RRLogError) -> ProxyUpstream {
        var prefix = "/"
        var url = text
        if text.hasPrefix("/") {
            guard let equals = text.firstIndex(of: "=") else {
                throw RRLogError(.invalidArgument, "--upstream '\(text)': a prefix needs its URL, as in /openai=https://api.openai.com/v1")
            }
            prefix = String(text[..<equals])
            url = String(text[text.index(after: equals)...])
            while prefix.count > 1 && prefix.hasSuffix("/") { prefix.removeLast() }
            guard !prefix.contains("?"), !prefix.contains("#"), !prefix.contains("//") else {
                throw RRLogError(.invalidArgument, "--upstream '\(text)': the prefix must be a plain path such as /openai")
            }
        }
        guard let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = parsed.host, !host.isEmpty
        else {
            throw RRLogError(.invalidArgument, "--upstream '\(text)': '\(url)' is not an http:// or https:// URL with a host")
        }
        guard parsed.query == nil, parsed.fragment == nil else {
            throw RRLogError(.invalidArgument, "--upstream '\(text)': the URL must not carry a query or fragment")
        }
        while url.hasSuffix("/") { url.removeLast() }
        return ProxyUpstream(prefix: prefix, baseURL: url)
    }

    /// True when this upstream serves `path`.
    func serves(_ path: String) -> Bool {
        prefix == "/" || path == prefix || path.hasPrefix(prefix + "/")
    }

    /// The URL a request for `path` and raw query `query` goes to.
    func url(for path: String, query: String) -> String {
        let rest = prefix == "/" ? path : String(path.dropFirst(prefix.count))
        let suffix = rest.isEmpty || rest.hasPrefix("/") ? rest : "/" + rest
        return baseURL + suffix + (query.isEmpty ? "" : "?" + query)
    }
}

/// How `ProxyServer` listens, where it forwards, and what it records.
public struct ProxyOptions: Sendable {
    /// The address to bind: loopback by default.
    public var host = "127.0.0.1"
    /// The port; 0 picks a free one.
    public var port = 8089
    /// Where requests go, chosen by the longest matching prefix.
    public var upstreams: [ProxyUpstream] = []
    /// Record, or replay in one of the player's modes.
    public var mode: ProxyMode = .record
    /// Replayed streams keep their recorded timing divided by this factor; nil sends every
    /// chunk at once (`--fast`).
    public var speed: Double? = 1
    /// Input paths left out of IO keys when recording (`RecordingOptions.volatilePaths`), such
    /// as `body.metadata.request_id` or `headers.x-request-id`.
    public var volatilePaths: [String] = []
    /// A PEM file of certificates to trust for https upstreams (a private CA), besides the
    /// system's roots.
    public var upstreamCAFile: String?
    /// Request headers stored in the inputs (and so part of the IO key), by name; the secret
    /// ones (`ProxyExchange.secretHeaders`) are refused.
    public var recordedHeaders: [String] = []
    /// The largest request body accepted (413 above it).
    public var maxRequestBodyBytes = 32 << 20
    /// The largest answer recorded: a whole body, or the sum of a stream's chunks (502, or a
    /// stream cut off, above it).
    public var maxResponseBodyBytes = 256 << 20
    /// Seconds an upstream may take to connect.
    public var connectTimeoutSeconds: Double = 10
    /// Seconds an upstream exchange may take from the request to the last byte of its answer.
    public var upstreamTimeoutSeconds: Double = 600
    /// When recorded exchanges are fsynced: `.none` writes each to the operating system before
    /// it counts as answered (a crash of the proxy loses nothing answered); `.everyBatch` also
    /// syncs it to the disk.
    public var durability: Durability = .none
    /// Stop on SIGINT and SIGTERM.
    public var handleSignals = false

    /// Loopback port 8089, recording, no upstream yet.
    public init() {}

    /// Problems with these options, in words; empty when they are usable.
    public func problems() -> [String] {
        var out: [String] = []
        if upstreams.isEmpty && mode != .strict { out.append("give at least one --upstream URL") }
        let prefixes = upstreams.map(\.prefix)
        if Set(prefixes).count != prefixes.count { out.append("two --upstream options serve the same prefix") }
        if !(0...65535).contains(port) { out.append("the port must be 0-65535") }
        if let speed, !(speed > 0 && speed <= 1000) { out.append("--speed must be more than 0 and at most 1000") }
        if maxRequestBodyBytes <= 0 || maxResponseBodyBytes <= 0 { out.append("body limits must be positive") }
        for name in recordedHeaders where ProxyExchange.secretHeaders.contains(name.lowercased()) {
            out.append("--header \(name): this header carries credentials and is never stored")
        }
        return out
    }

    /// The upstream serving `path`: the one with the longest matching prefix.
    func upstream(for path: String) -> ProxyUpstream? {
        upstreams.filter { $0.serves(path) }.max { $0.prefix.count < $1.prefix.count }
    }

    /// True when `host` is a loopback address or name.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }
}

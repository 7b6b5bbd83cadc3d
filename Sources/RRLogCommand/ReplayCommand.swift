import ArgumentParser
import Foundation
import RRLog
import RRLogInterop
import RRLogOTLPHTTP

/// `rrlog replay`: sends a session's OTLP requests to an OTLP/HTTP endpoint.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Send a session's OTLP requests, in time order, to an OTLP/HTTP endpoint.",
        discussion: """
            Retries only on 429, 502, 503 and 504, honouring Retry-After, with bounded attempts and \
            backoff; a partial success is never resent (its rejected items count as failures). Exits 1 \
            when any request or item failed.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "The session to replay.")
    var session: String

    @Option(help: "The endpoint: a base URL such as http://127.0.0.1:4318 (/v1/<signal> is added).")
    var endpoint: String

    @Option(help: "none (original times), relative (shifted so the session starts now), current (each request shifted so it starts when sent); durations and spacing are kept.")
    var timestamps: String = "none"

    @Option(help: "Playback speed, 0.1 to 10.")
    var speed: Double = 1

    @Flag(help: "As fast as possible (ignores --speed).")
    var fast = false

    @Flag(help: "Start again after the last request (stop with --max-duration or Ctrl-C).")
    var loop = false

    @Option(name: .customLong("max-duration"), help: "Stop after this many seconds.")
    var maxDuration: Double?

    @Option(help: "Comma-separated signals to send: traces,metrics,logs.")
    var signals: String = "traces,metrics,logs"

    @Option(help: "Send only the resources whose service.name is this.")
    var service: String?

    @Option(name: .customLong("protocol"), help: "protobuf or json.")
    var wireProtocol: String = "protobuf"

    @Flag(help: "gzip the request bodies.")
    var gzip = false

    func validate() throws {
        guard OTLPReplayTimestamps(rawValue: timestamps) != nil else { throw ValidationError("--timestamps must be none, relative or current") }
        guard (0.1...10).contains(speed) else { throw ValidationError("--speed must be between 0.1 and 10") }
        guard wireProtocol == "protobuf" || wireProtocol == "json" else { throw ValidationError("--protocol must be protobuf or json") }
        _ = try parsedSignals()
        if let maxDuration, !(maxDuration > 0 && maxDuration <= 1e9) { throw ValidationError("--max-duration must be between 0 and 1e9 seconds") }
        guard endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://") else {
            throw ValidationError("--endpoint must be an http:// or https:// URL")
        }
    }

    func parsedSignals() throws -> Set<OTLPSignal> {
        var out: Set<OTLPSignal> = []
        for part in signals.split(separator: ",") {
            guard let s = OTLPSignal(rawValue: part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--signals takes traces, metrics and logs, not '\(part)'")
            }
            out.insert(s)
        }
        guard !out.isEmpty else { throw ValidationError("--signals names no signal") }
        return out
    }

    func run() async throws {
        let store = try storeOptions.open()
        let manifest = try reporting { try store.session(session) }
        let content = ContentSummary(manifest)
        if content.otlpSignals.isEmpty {
            throw CommandFailure(
                message: "session \(manifest.name) holds \(content.description) (\(manifest.type)), not OTLP data; replay sends OTLP requests only"
                    + (content.exportFormats.isEmpty ? "" : " (its data exports with 'rrlog export \(manifest.name) --format \(content.exportFormats[0])')"))
        }
        if try parsedSignals().isDisjoint(with: content.otlpSignals) {
            throw CommandFailure(
                message: "session \(manifest.name) holds \(content.description), none of --signals \(signals); give --signals \(content.otlpSignals.map(\.rawValue).joined(separator: ","))")
        }
        var options = OTLPReplayOptions(endpoint: endpoint)
        options.timestamps = OTLPReplayTimestamps(rawValue: timestamps) ?? .none
        options.speed = fast ? nil : speed
        options.loop = loop
        options.maxDurationSeconds = maxDuration
        options.signals = try parsedSignals()
        options.serviceName = service
        options.json = wireProtocol == "json"
        options.gzip = gzip
        let terminal = isatty(STDERR_FILENO) != 0
        let lastShown = LockedTime()
        let totals: OTLPReplayTotals
        do {
            totals = try await OTLPReplayer(options: options).run(manifest, from: store) { t in
                guard terminal, lastShown.due() else { return }
                FileHandle.standardError.write(Data("\r\u{1B}[Kreplay: \(t.requests) requests, \(t.items) items, \(t.failedRequests) failed".utf8))
            }
        } catch let e as RRLogError {
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            throw CommandFailure(message: e.description)
        }
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        print("replayed \(manifest.name) to \(endpoint): \(totals.requests) requests, \(totals.items) items, \(totals.failedRequests) failed requests, \(totals.failedItems) failed items, \(totals.retries) retries")
        if let error = totals.lastError, totals.failedRequests > 0 || totals.failedItems > 0 {
            throw CommandFailure(message: "replay had failures; last: \(error)")
        }
    }
}

/// Rate-limits the progress line to a few updates a second.
final class LockedTime: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date.distantPast

    func due() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        guard now.timeIntervalSince(last) >= 0.2 else { return false }
        last = now
        return true
    }
}

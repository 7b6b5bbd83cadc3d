import ArgumentParser
import Foundation
import Synchronization
import RRLog
import RRLogCatalog
import RRLogInterop
import RRLogOTLPHTTP

/// `rrlog replay`: sends a session's OTLP requests to an OTLP/HTTP endpoint, or delivers an
/// event session's events with their timing.
struct ReplayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Replay a session: OTLP requests to an OTLP/HTTP endpoint, bus events to standard output or a URL.",
        discussion: """
            OTLP data (--endpoint): retries only on 429, 502, 503 and 504, honouring Retry-After, with \
            bounded attempts and backoff; a partial success is never resent (its rejected items count as \
            failures). Exits 1 when any request or item failed.
            Bus events (an event-recorder session): each event's JSON object, in time order and at the \
            recorded pace times --speed, as one line on standard output, or POSTed to --post URL; \
            --filter-name, --filter-source, --from and --to choose the events (the same choice \
            'rrlog copy' saves). Exits 1 when a post fails.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice

    @Option(help: "OTLP data: the endpoint, a base URL such as http://127.0.0.1:4318 (/v1/<signal> is added).")
    var endpoint: String?

    @Option(help: "Bus events: POST each event's JSON to this URL instead of printing it.")
    var post: String?

    @OptionGroup var eventSelection: EventSelectionOptions

    @Option(help: "relative (the default: shifted so the session starts now), none (original times), current (each request shifted so it starts when sent); durations and spacing are kept.")
    var timestamps: String = "relative"

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

    @Option(help: "Send only the resources whose service.name is one of these (repeat, or separate by commas).")
    var service: [String] = []

    @Option(name: .customLong("log-interval"), help: "Print a progress line (requests and records processed of the total) every this many seconds.")
    var logInterval: Double?

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
        if let logInterval, !(logInterval > 0 && logInterval <= 86_400) { throw ValidationError("--log-interval must be between 0 and 86400 seconds") }
        for (option, url) in [("--endpoint", endpoint), ("--post", post)] {
            guard let url else { continue }
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw ValidationError("\(option) must be an http:// or https:// URL") }
        }
        if endpoint != nil && post != nil { throw ValidationError("--endpoint (OTLP data) and --post (bus events) exclude each other") }
    }

    func parsedSignals() throws -> Set<OTLPSignal> {
        try parseSignals(signals)
    }

    func run() async throws {
        let store = try storeOptions.open()
        let manifest = try reporting { try choice.manifest(in: store) }
        let content = ContentSummary(manifest)
        if content.busEvents > 0 && content.otlpSignals.isEmpty {
            guard endpoint == nil else {
                throw CommandFailure(
                    message: "session \(manifest.name) holds \(content.description) (\(manifest.type)), not OTLP data; replay it without --endpoint (to standard output) or with --post URL")
            }
            try await replayEvents(store: store, manifest: manifest)
            return
        }
        if content.otlpSignals.isEmpty {
            throw CommandFailure(
                message: "session \(manifest.name) holds \(content.description) (\(manifest.type)), not OTLP data; replay sends OTLP requests and bus events only"
                    + (content.exportFormats.isEmpty ? "" : " (its data exports with 'rrlog export \(manifest.name) --format \(content.exportFormats[0])')"))
        }
        guard let endpoint else {
            throw CommandFailure(message: "session \(manifest.name) holds \(content.description): replaying OTLP data needs --endpoint URL", exitCode: 2)
        }
        if post != nil || eventSelection.isSet {
            throw CommandFailure(message: "--post, --filter-name, --filter-source, --from and --to apply to bus events; session \(manifest.name) holds \(content.description)", exitCode: 2)
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
        options.serviceNames = EventSelectionOptions.split(service)
        options.json = wireProtocol == "json"
        options.gzip = gzip
        let terminal = isatty(STDERR_FILENO) != 0 && logInterval == nil
        let lastShown = LockedTime()
        let logged = LockedTime(interval: logInterval ?? 0, firstAfterInterval: true)
        let started = Date()
        let totals: OTLPReplayTotals
        do {
            totals = try await OTLPReplayer(options: options).run(manifest, from: store) { [logInterval] t in
                let done = t.requests + t.failedRequests
                if logInterval != nil, logged.due() {
                    // `loops` counts the pass under way.
                    let passes = max(1, t.loops)
                    let inPass = done - (passes - 1) * t.plannedRequests
                    FileHandle.standardError.write(Data(String(
                        format: "replay: %.1f s, %d of %d requests (pass %d), %d items sent, %d failed requests, %d retries\n",
                        Date().timeIntervalSince(started), inPass, t.plannedRequests, passes, t.items, t.failedRequests, t.retries).utf8))
                }
                guard terminal, lastShown.due() else { return }
                FileHandle.standardError.write(Data("\r\u{1B}[Kreplay: \(done)/\(t.plannedRequests) requests, \(t.items) items, \(t.failedRequests) failed".utf8))
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

extension ReplayCommand {
    /// Delivers an event session's events through `EventReplayer` (the one event replay engine).
    func replayEvents(store: Store, manifest: SessionManifest) async throws {
        let replayer = try reporting { try eventSelection.replayer(store: store, session: manifest.id) }
        let poster = post.map { EventPoster(url: $0) }
        let terminal = isatty(STDERR_FILENO) != 0 && ProcessInfo.processInfo.environment["RRLOG_NO_PROGRESS"] == nil
        let lastShown = LockedTime()
        let total = replayer.events.count
        let stopper: Task<Void, Never>? = maxDuration.map { seconds in
            Task {
                try? await Task.sleep(for: .nanoseconds(Int64(seconds * 1e9)))
                replayer.stop()
            }
        }
        var delivered = 0
        do {
            try await replayer.run(speed: fast ? nil : speed, loops: loop ? nil : 1, progress: { p in
                guard terminal, lastShown.due() else { return }
                FileHandle.standardError.write(Data("\r\u{1B}[Kreplay: \(p.delivered)/\(p.total) events, loop \(p.loopsCompleted + 1)".utf8))
            }) { event in
                if let poster {
                    try await poster.post(event)
                } else {
                    Output.line(event.raw.serialized())
                }
                delivered += 1
            }
        } catch {
            stopper?.cancel()
            await poster?.shutdown()
            if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            throw CommandFailure(message: (error as? RRLogError)?.description ?? "\(error)")
        }
        stopper?.cancel()
        await poster?.shutdown()
        if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        let summary = "replayed \(manifest.name): \(delivered) events delivered (\(total) selected)" + (post.map { " to \($0)" } ?? "")
        // Standard output carries the events themselves; the summary goes to standard error.
        FileHandle.standardError.write(Data((summary + "\n").utf8))
    }
}

/// How an event session's events are chosen, shared by `rrlog replay` and `rrlog copy`.
struct EventSelectionOptions: ParsableArguments {
    @Option(name: .customLong("filter-name"), help: "Bus events: only these event names (repeat, or separate by commas).")
    var names: [String] = []

    @Option(name: .customLong("filter-source"), help: "Bus events: only these sources (repeat, or separate by commas).")
    var sources: [String] = []

    @Option(help: "Bus events: start this many seconds after the session's first event.")
    var from: Double?

    @Option(help: "Bus events: end this many seconds after the session's first event (exclusive).")
    var to: Double?

    var isSet: Bool { !names.isEmpty || !sources.isEmpty || from != nil || to != nil }

    func validate() throws {
        for (option, value) in [("--from", from), ("--to", to)] {
            if let value, !(value >= 0 && value < 9e9) { throw ValidationError("\(option) must be a number of seconds from 0 (got \(value))") }
        }
        if let from, let to, to <= from { throw ValidationError("--to (\(to)) must be after --from (\(from))") }
    }

    static func split(_ values: [String]) -> Set<String>? {
        let all = values.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
        return all.isEmpty ? nil : Set(all)
    }

    /// The replayer of `session` with this selection.
    func replayer(store: Store, session: String) throws(RRLogError) -> EventReplayer {
        try EventReplayer(
            store: store, session: session, filter: EventFilter(names: Self.split(names), sources: Self.split(sources)),
            startOffset: .nanoseconds(Int64((from ?? 0) * 1e9)), until: to.map { .nanoseconds(Int64($0 * 1e9)) })
    }
}

/// Rate-limits the progress line to a few updates a second.
final class LockedTime: Sendable {
    private let last: Mutex<Date>
    private let interval: Double

    /// Due at most every `interval` seconds: the first call at once (a progress bar), or, with
    /// `firstAfterInterval`, only one interval after this is made (periodic log lines).
    init(interval: Double = 0.2, firstAfterInterval: Bool = false) {
        self.interval = interval
        last = Mutex(firstAfterInterval ? Date() : .distantPast)
    }

    func due() -> Bool {
        last.withLock { last in
            let now = Date()
            guard now.timeIntervalSince(last) >= interval else { return false }
            last = now
            return true
        }
    }
}

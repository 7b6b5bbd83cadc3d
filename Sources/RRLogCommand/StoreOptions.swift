import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog
import RRLogInterop
import RRLogStorage

/// Options every store command takes.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store directory (default: $RRLOG_STORE, else ./rrlog-data).")
    var store: String?

    func open(create: Bool = false) throws -> Store {
        do { return try Store(path: store, create: create) } catch { throw CommandFailure(message: error.description) }
    }
}

/// Runs `body`, turning library errors into a message and exit code 1.
func reporting<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as RRLogError {
        throw CommandFailure(message: e.description)
    } catch let e as CommandFailure {
        throw e
    }
}

func formatTime(_ ns: Int64?) -> String {
    guard let ns else { return "-" }
    let date = Date(timeIntervalSince1970: Double(ns) / 1e9)
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: date)
}

/// Parses a time given as nanoseconds since the epoch or as an ISO 8601 date; a bad one is a
/// usage error (exit 2) naming the option and the text.
func parseTime(_ text: String, option: String) throws -> Int64 {
    if let ns = Int64(text) { return ns }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = f.date(from: text), abs(d.timeIntervalSince1970) < 9.2e9 { return Int64(d.timeIntervalSince1970 * 1e9) }
    f.formatOptions = [.withInternetDateTime]
    if let d = f.date(from: text), abs(d.timeIntervalSince1970) < 9.2e9 { return Int64(d.timeIntervalSince1970 * 1e9) }
    throw CommandFailure(
        message: "\(option): '\(text)' is neither nanoseconds since the epoch nor an ISO 8601 time (like 2026-01-02T03:04:05Z) between 1678 and 2261",
        exitCode: 2)
}

/// The JSON shape of a session in `ls --json` and `info --json` (stable; README "JSON output").
struct SessionJSON: Encodable {
    var id, name, type, status: String
    var created: String
    var start: String?
    var end: String?
    var records: Int
    var bytes_stored: Int64
    var bytes_on_disk: Int64
    var compression_ratio: Double?
    var counts_by_kind: [String: Int]
    var segments: Int
    var description: String
    var tags: [String]
    var provenance: SessionManifest.Provenance
    var annotations: [String: String]

    init(_ m: SessionManifest) {
        id = m.id
        name = m.name
        type = m.type
        status = m.status
        created = formatTime(m.createdNs)
        start = m.startNs.map { formatTime($0) }
        end = m.endNs.map { formatTime($0) }
        records = m.recordCount
        bytes_stored = m.bytesStored
        bytes_on_disk = m.bytesOnDisk
        compression_ratio = m.bytesOnDisk > 0 ? (Double(m.bytesStored) / Double(m.bytesOnDisk) * 100).rounded() / 100 : nil
        counts_by_kind = m.countsByKind
        segments = m.segments.count
        description = m.description
        tags = m.tags
        provenance = m.provenance
        annotations = m.annotations
    }
}

/// What a session holds, from its manifest's counts by kind: which commands and formats fit it.
struct ContentSummary {
    /// The OTLP signals it has requests of, in the order traces, metrics, logs.
    var otlpSignals: [OTLPSignal] = []
    /// IO-event records (event, stream_start, chunk, stream_finish, checkpoint).
    var ioEvents = 0
    /// Event-bus events.
    var busEvents = 0
    /// Records of kinds rrlog does not define.
    var otherRecords = 0

    init(_ manifest: SessionManifest) {
        otlpSignals = OTLPSignal.allCases.filter { (manifest.countsByKind[$0.recordKind.name] ?? 0) > 0 }
        for (name, n) in manifest.countsByKind where n > 0 {
            guard let kind = RecordKind(name: name) else {
                otherRecords += n
                continue
            }
            if kind.isIOEvent { ioEvents += n } else if kind == .busEvent { busEvents += n }
        }
    }

    /// The parts it holds, in words: "OTLP traces and logs", "IO events", "bus events".
    var parts: [String] {
        var out: [String] = []
        if !otlpSignals.isEmpty {
            out.append("OTLP " + listed(otlpSignals.map(\.rawValue), "and"))
        }
        if ioEvents > 0 { out.append("IO events") }
        if busEvents > 0 { out.append("bus events") }
        if otherRecords > 0 { out.append("records of kinds rrlog does not define") }
        return out
    }

    /// What it holds, in words ("OTLP traces", "IO events and bus events", "no records").
    var description: String { parts.isEmpty ? "no records" : listed(parts, "and") }

    /// The export formats that give its data, in order of preference.
    var exportFormats: [String] {
        var out: [String] = []
        if !otlpSignals.isEmpty { out += [ImportFormat.otlpJSON.rawValue, ImportFormat.otlpProto.rawValue] }
        if ioEvents > 0 { out.append(ImportFormat.jsonl.rawValue) }
        if busEvents > 0 { out.append(ImportFormat.eventsJSON.rawValue) }
        return out
    }
}

/// "a", "a or b", "a, b or c" (with `word` "or").
func listed(_ items: [String], _ word: String = "or") -> String {
    items.count <= 1 ? items.joined() : items.dropLast().joined(separator: ", ") + " \(word) " + items.last!
}

/// The OTLP record-replay service's way to name a session: `--session NAME`, or `--session auto
/// --strategy S --filter-type T`. Commands whose session is a positional argument take these as an
/// alternative to it (`SessionChoice`); commands with more positionals (`trace`, `copy`) or with
/// `--all` (`verify`, `compact`) take them beside their own arguments.
struct SessionFlags: ParsableArguments {
    @Option(name: .customLong("session"), help: "The session, as an alternative to the argument; 'auto' picks one by --strategy.")
    var session: String?

    @Option(help: "With --session auto: latest (the default), largest, smallest or random.")
    var strategy: String?

    @Option(name: [.customLong("type"), .customLong("filter-type")], help: "With a strategy: only sessions of this type (recording, capture, seed, training).")
    var type: String?

    static let strategies = ["latest", "largest", "smallest", "random"]

    func validate() throws {
        if let strategy {
            guard session == "auto" else { throw ValidationError("--strategy goes with --session auto") }
            guard Self.strategies.contains(strategy) else { throw ValidationError("--strategy must be one of \(Self.strategies.joined(separator: ", "))") }
        }
    }

    /// What `Store.session` is asked for when `--session` is given.
    var selector: String? { session.map { $0 == "auto" ? (strategy ?? "latest") : $0 } }

    /// For a command whose positionals are the session and then `second` (`trace`, `copy`,
    /// `stream`): with `--session` the session is left out of them. `optional`: `second` may be
    /// omitted too.
    func check(_ arguments: [String], then second: String, optional: Bool = false) throws {
        let most = session == nil ? 2 : 1
        guard arguments.count <= most, arguments.count >= most - (optional ? 1 : 0) else {
            throw ValidationError(
                session == nil
                    ? "give the session and \(second) (or --session S and \(second))"
                    : "with --session, give only \(second)")
        }
    }

    /// The session of `check`ed `arguments`, and the argument after it (nil when omitted).
    func split(_ arguments: [String]) -> (session: String, second: String?) {
        if let selector { return (selector, arguments.first) }
        return (arguments.first ?? "", arguments.dropFirst().first)
    }
}

/// The session a read command works on: a positional name, id or strategy (`latest`, `largest`,
/// `smallest`, `random`), or `SessionFlags`. Every command that reads one session takes it this way.
struct SessionChoice: ParsableArguments {
    @Argument(help: "Session name, id, or a strategy: latest, largest or smallest (by bytes on disk), random.")
    var name: String?

    @OptionGroup var flags: SessionFlags

    func validate() throws {
        if name != nil && flags.session != nil { throw ValidationError("give the session as the argument or as --session, not both") }
        if name == nil && flags.session == nil { throw ValidationError("missing the session: give its name, id or a strategy (or --session auto --strategy S)") }
    }

    static func isStrategy(_ s: String) -> Bool { SessionFlags.strategies.contains(s) }

    /// What `Store.session` is asked for.
    var selector: String { flags.selector ?? name ?? "" }

    /// The chosen session.
    func manifest(in store: Store) throws(RRLogError) -> SessionManifest {
        try store.session(selector, type: flags.type)
    }
}

/// `--segment-size-mb`: the size at which the session's segment files rotate, for the commands
/// that write one (`append`, `import`, `capture`).
struct SegmentSizeOption: ParsableArguments {
    @Option(name: .customLong("segment-size-mb"), help: "Start a new segment file once one holds this many MiB (1 to 1048576; default 128).")
    var segmentSizeMB: Double?

    func validate() throws {
        if let segmentSizeMB, !(1...1_048_576).contains(segmentSizeMB) {
            throw ValidationError("--segment-size-mb must be 1 to 1048576, not \(segmentSizeMB)")
        }
    }

    /// The size in bytes, when given.
    var bytes: Int? { segmentSizeMB.map { Int($0 * 1_048_576) } }

    func apply(to options: inout LogOptions) {
        if let bytes { options.segmentSizeBytesMax = bytes }
    }
}

/// A `--signals` list: comma-separated traces, metrics, logs.
func parseSignals(_ text: String) throws -> Set<OTLPSignal> {
    var out: Set<OTLPSignal> = []
    for part in text.split(separator: ",") {
        guard let s = OTLPSignal(rawValue: part.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("--signals takes traces, metrics and logs, not '\(part)'")
        }
        out.insert(s)
    }
    guard !out.isEmpty else { throw ValidationError("--signals names no signal") }
    return out
}

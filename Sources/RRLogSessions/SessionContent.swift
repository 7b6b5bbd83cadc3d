public import RRLogCatalog
public import RRLogIOProfile

/// What a session holds, judged from its manifest's record counts. Writers check it before they
/// add to a session (IO events do not go into an OTLP capture), and exporters and replay use it
/// to say what they can do with a session.
public enum SessionContent: String, Sendable, CaseIterable, CustomStringConvertible {
    /// No records yet: any writer may add to it.
    case empty
    /// rrlog's IO events: calls, streams, checkpoints.
    case ioEvents = "IO events"
    /// Event-bus events.
    case busEvents = "bus events"
    /// OTLP requests (traces, metrics, logs).
    case otlp = "OTLP data"
    /// More than one of the above (sessions written before writers checked).
    case mixed = "mixed records"

    /// The content of a session with these counts by kind name.
    public init(countsByKind counts: [String: Int]) {
        var found: Set<SessionContent> = []
        for (name, count) in counts where count > 0 {
            guard let kind = RecordKind(name: name) else { continue }
            found.insert(SessionContent(kind: kind))
        }
        if found.count > 1 {
            self = .mixed
        } else {
            self = found.first ?? .empty
        }
    }

    /// The content class a record of `kind` belongs to.
    public init(kind: RecordKind) {
        switch kind {
        case .event, .streamStart, .chunk, .streamFinish, .checkpoint: self = .ioEvents
        case .busEvent: self = .busEvents
        case .otlpTraces, .otlpMetrics, .otlpLogs, .otlpTraceIndex: self = .otlp
        }
    }

    /// The content of `manifest`'s session.
    public init(_ manifest: SessionManifest) { self.init(countsByKind: manifest.countsByKind) }

    public var description: String { rawValue }

    /// Throws unless records of `adding` may go into a session that holds `self`: only into an
    /// empty session or one of the same content. `session` names it in the error.
    public func checkAccepts(_ adding: SessionContent, session: String) throws(RRLogError) {
        guard self == .empty || self == adding else {
            throw RRLogError(
                .invalidArgument,
                "session '\(session)' holds \(self); \(adding) go into a session of their own (give a new session name)")
        }
    }
}

/// How IO events in a session are redacted. IO events are redacted by default, whatever else the
/// session holds: only a writer that was asked for no redaction (`--no-redact`,
/// `Redaction.disabled`) records the annotation `io_redaction: off`.
///
/// Sessions written before that annotation existed said `redaction: off` for two reasons: an IO
/// writer asked for no redaction, or an OTLP writer kept its requests lossless. The second never
/// meant the session's IO events, so `redaction: off` turns IO redaction off only in a session
/// without OTLP records or an OTLP origin.
public enum SessionRedaction {
    /// The annotation that says whether IO events are redacted (`on` or `off`).
    public static let annotation = "io_redaction"

    /// The annotations an IO writer records for `redaction`.
    public static func annotations(for redaction: Redaction) -> [String: String] {
        let value = redaction.isEnabled ? "on" : "off"
        return [annotation: value, "redaction": value]
    }

    /// True when IO events in the session of `manifest` are stored unredacted.
    public static func isOff(_ manifest: SessionManifest) -> Bool {
        if let explicit = manifest.annotations[annotation] { return explicit == "off" }
        guard manifest.annotations["redaction"] == "off" else { return false }
        let otlpOrigin = manifest.annotations["imported_format"]?.hasPrefix("otlp") == true
            || manifest.annotations["seed.pattern"] != nil || manifest.annotations["capture.listen"] != nil
        let holdsOTLP = SessionContent(manifest) == .otlp || SessionContent(manifest) == .mixed
        return !(otlpOrigin || holdsOTLP)
    }

    /// The redaction IO events of the session of `manifest` are stored with.
    public static func rules(_ manifest: SessionManifest) -> Redaction {
        isOff(manifest) ? .disabled : .default
    }
}

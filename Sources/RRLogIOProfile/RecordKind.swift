/// The record kinds rrlog itself writes (a record's `kind` field). 1-255 are rrlog's; applications
/// writing logs directly may use 256 and up.
public enum RecordKind: UInt16, Sendable, CaseIterable, CustomStringConvertible {
    /// A recorded IO call: inputs and outputs (keyed by its IO key).
    case event = 1
    /// The start of a streamed answer (keyed by its IO key).
    case streamStart = 2
    /// One chunk of a stream.
    case chunk = 3
    /// The end of a stream.
    case streamFinish = 4
    /// A point replay can start from.
    case checkpoint = 5
    /// An event-bus event.
    case busEvent = 16
    /// An OTLP traces request.
    case otlpTraces = 32
    /// An OTLP metrics request.
    case otlpMetrics = 33
    /// An OTLP logs request.
    case otlpLogs = 34
    /// An index entry of a trace id (key `trace:` + 16 id bytes) pointing to an `otlp_traces` record.
    case otlpTraceIndex = 35

    /// The name used in JSON lines (`type`) and in counts.
    public var name: String {
        switch self {
        case .event: return "event"
        case .streamStart: return "stream_start"
        case .chunk: return "chunk"
        case .streamFinish: return "stream_finish"
        case .checkpoint: return "checkpoint"
        case .busEvent: return "bus_event"
        case .otlpTraces: return "otlp_traces"
        case .otlpMetrics: return "otlp_metrics"
        case .otlpLogs: return "otlp_logs"
        case .otlpTraceIndex: return "otlp_trace_index"
        }
    }

    public var description: String { name }

    /// True for the kinds of IO-event lines (`event`, `stream_start`, `chunk`, `stream_finish`,
    /// `checkpoint`), whose payloads `IOLine` reads.
    public var isIOEvent: Bool {
        switch self {
        case .event, .streamStart, .chunk, .streamFinish, .checkpoint: return true
        case .busEvent, .otlpTraces, .otlpMetrics, .otlpLogs, .otlpTraceIndex: return false
        }
    }

    /// The kind with this name.
    public init?(name: String) {
        guard let k = RecordKind.allCases.first(where: { $0.name == name }) else { return nil }
        self = k
    }

    /// The name of a raw kind value, `kind-N` for kinds rrlog does not define.
    public static func name(of raw: UInt16) -> String {
        RecordKind(rawValue: raw)?.name ?? "kind-\(raw)"
    }
}

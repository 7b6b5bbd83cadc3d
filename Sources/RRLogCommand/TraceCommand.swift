import ArgumentParser
import Foundation
import RRLog
import RRLogInterop

/// `rrlog trace SESSION TRACE_ID`: the spans of one trace of an imported OTLP session, found
/// through the trace index (one key lookup, no scan), printed as a tree.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Print the spans of one trace of an OTLP session.",
        discussion: """
            Spans are found through the session's trace index (no scan) and printed as a tree, children \
            under their parent by start time: start, duration, span id, parent span id, name (and the service \
            when spans come from several). Exits 1 when the session has no span of that trace.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "Session name, id or strategy, then the trace id (32 hex digits); with --session, only the trace id.")
    var arguments: [String] = []

    @OptionGroup var sessionFlags: SessionFlags

    var session: String { sessionFlags.split(arguments).session }
    var traceID: String { sessionFlags.split(arguments).second ?? "" }

    @Flag(help: "Print the spans as a JSON array.")
    var json = false

    func validate() throws {
        try sessionFlags.check(arguments, then: "the trace id")
        guard traceID.count % 2 == 0, !traceID.isEmpty, traceID.allSatisfy(\.isHexDigit) else {
            throw ValidationError("the trace id is hex digits (32 for 16 bytes), not '\(traceID)'")
        }
    }

    /// The JSON shape of a span (`--json`).
    struct SpanJSON: Encodable {
        var trace_id, span_id, parent_span_id, name: String
        var kind: Int
        var start: String
        var start_ns: UInt64
        var duration_ns: UInt64
        var service: String?
        var scope: String
        var status_code: Int
        var status_message: String
        var attributes: [String: JSONValue]
    }

    func run() throws {
        let store = try storeOptions.open()
        try reporting {
            let manifest = try store.session(session, type: sessionFlags.type)
            let spans = try OTLPExporter.spans(traceID: traceID.lowercased(), in: manifest, from: store)
            guard !spans.isEmpty else {
                throw CommandFailure(message: "no span of trace \(traceID.lowercased()) in session \(manifest.name)")
            }
            if json {
                try Output.json(spans.map {
                    SpanJSON(
                        trace_id: $0.traceID, span_id: $0.spanID, parent_span_id: $0.parentSpanID, name: $0.name, kind: $0.kind,
                        start: formatTime(Int64(clamping: $0.startTimeUnixNano)), start_ns: $0.startTimeUnixNano, duration_ns: $0.durationNs,
                        service: $0.serviceName, scope: $0.scopeName, status_code: $0.statusCode, status_message: $0.statusMessage,
                        attributes: $0.attributes)
                })
                return
            }
            let services = Set(spans.compactMap(\.serviceName))
            let first = spans.map(\.startTimeUnixNano).min()!
            let last = spans.map(\.endTimeUnixNano).max()!
            Output.line(
                "trace \(spans[0].traceID) in \(manifest.name): \(spans.count) span\(spans.count == 1 ? "" : "s"), "
                    + "\(services.sorted().joined(separator: ", ")), from \(Self.microseconds(first)) for \(Self.duration(last >= first ? last - first : 0))")
            Output.line(Self.row("START", "DURATION", "SPAN", "PARENT", "NAME"))
            for (span, depth) in OTLPSpan.tree(spans) {
                var name = String(repeating: "  ", count: depth) + span.name
                if services.count > 1 { name += "  [\(span.serviceName ?? "-")]" }
                if span.statusCode == 2 { name += "  (error\(span.statusMessage.isEmpty ? "" : ": " + span.statusMessage))" }
                Output.line(Self.row(
                    Self.microseconds(span.startTimeUnixNano), Self.duration(span.durationNs), span.spanID,
                    span.parentSpanID.isEmpty ? "-" : span.parentSpanID, name))
            }
        }
    }

    static func row(_ start: String, _ duration: String, _ span: String, _ parent: String, _ name: String) -> String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
        return pad(start, 29) + pad(duration, 12) + pad(span, 18) + pad(parent, 18) + name
    }

    /// An ISO 8601 UTC time with microseconds (spans of one trace are often within a millisecond).
    static func microseconds(_ ns: UInt64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        let seconds = f.string(from: Date(timeIntervalSince1970: Double(ns / 1_000_000_000))).dropLast()  // no "Z"
        let micros = String(ns % 1_000_000_000 / 1_000)
        return seconds + "." + String(repeating: "0", count: 6 - micros.count) + micros + "Z"
    }

    static func duration(_ ns: UInt64) -> String {
        if ns < 1_000 { return "\(ns) ns" }
        if ns < 1_000_000 { return String(format: "%.1f µs", Double(ns) / 1e3) }
        if ns < 1_000_000_000 { return String(format: "%.3f ms", Double(ns) / 1e6) }
        return String(format: "%.3f s", Double(ns) / 1e9)
    }
}

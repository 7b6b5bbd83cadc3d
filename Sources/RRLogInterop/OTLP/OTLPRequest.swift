import Foundation
public import RRLog
import SwiftProtobuf
import RRLogFormat

// The OTLP types are generated (Tools/generate-otlp) and internal: no protobuf type appears in
// RRLogInterop's public API. These aliases keep the code below readable.
typealias TraceServiceRequest = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest
typealias LogsServiceRequest = Opentelemetry_Proto_Collector_Logs_V1_ExportLogsServiceRequest
typealias MetricsServiceRequest = Opentelemetry_Proto_Collector_Metrics_V1_ExportMetricsServiceRequest
typealias OTelResource = Opentelemetry_Proto_Resource_V1_Resource
typealias OTelAnyValue = Opentelemetry_Proto_Common_V1_AnyValue
typealias OTelKeyValue = Opentelemetry_Proto_Common_V1_KeyValue
typealias OTelSpan = Opentelemetry_Proto_Trace_V1_Span

/// The three OTLP signals. Each request of a signal is stored as one record of its kind.
public enum OTLPSignal: String, Sendable, CaseIterable, CustomStringConvertible {
    /// `ExportTraceServiceRequest`: spans.
    case traces
    /// `ExportMetricsServiceRequest`: metrics and their data points.
    case metrics
    /// `ExportLogsServiceRequest`: log records.
    case logs

    public var description: String { rawValue }

    /// The record kind requests of this signal are stored as.
    public var recordKind: RecordKind {
        switch self {
        case .traces: return .otlpTraces
        case .metrics: return .otlpMetrics
        case .logs: return .otlpLogs
        }
    }

    /// The signal stored as records of kind `raw`, if any.
    public init?(recordKind raw: UInt16) {
        guard let signal = OTLPSignal.allCases.first(where: { $0.recordKind.rawValue == raw }) else { return nil }
        self = signal
    }

    /// The signal a file's name gives: its base name contains exactly one of `trace`, `metric`
    /// and `log` (case-insensitive), as in `traces-000.otlp` or `logs.jsonl`; else nil.
    public init?(fileName path: String) {
        let base = (path.split(separator: "/").last.map(String.init) ?? path).lowercased()
        let found = [(OTLPSignal.traces, "trace"), (.metrics, "metric"), (.logs, "log")].filter { base.contains($0.1) }
        guard found.count == 1 else { return nil }
        self = found[0].0
    }

    /// The protobuf message name of a request.
    public var requestName: String {
        switch self {
        case .traces: return "ExportTraceServiceRequest"
        case .metrics: return "ExportMetricsServiceRequest"
        case .logs: return "ExportLogsServiceRequest"
        }
    }

    /// The top-level member of a request in OTLP JSON.
    var jsonMember: String {
        switch self {
        case .traces: return "resourceSpans"
        case .metrics: return "resourceMetrics"
        case .logs: return "resourceLogs"
        }
    }
}

/// The encodings of OTLP requests rrlog reads and writes.
public enum OTLPFormat: String, Sendable, CaseIterable {
    /// Protobuf request bodies (`application/x-protobuf`), one request a file, optionally gzip.
    case protobuf = "otlp-proto"
    /// OTLP JSON, one request a line, as the Collector's file exporter writes it: trace and span
    /// ids in hex, lowerCamelCase names, 64-bit integers as strings or numbers, enums as integers
    /// or names, unknown fields ignored.
    case json = "otlp-json"

    /// The format of (decompressed) `bytes`: JSON when the first non-blank byte is `{`.
    public static func detect(_ bytes: [UInt8], file: String) -> OTLPFormat {
        if file.hasSuffix(".jsonl") || file.hasSuffix(".json") || file.hasSuffix(".jsonl.gz") || file.hasSuffix(".json.gz") { return .json }
        if file.hasSuffix(".otlp") || file.hasSuffix(".otlp.gz") || file.hasSuffix(".pb") || file.hasSuffix(".binpb") { return .protobuf }
        let first = bytes.first { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }
        return first == UInt8(ascii: "{") ? .json : .protobuf
    }
}

/// One OTLP export request (traces, metrics or logs), as received. Requests compare equal when
/// their protobuf messages do, whatever encoding they were read from.
public struct OTLPRequest: Sendable, Equatable {
    enum Message: Sendable, Equatable {
        case traces(TraceServiceRequest)
        case metrics(MetricsServiceRequest)
        case logs(LogsServiceRequest)
    }

    var message: Message
    /// The protobuf bytes the request was read from, when it was: export gives them back as they were.
    var encoded: [UInt8]?

    init(_ message: Message, encoded: [UInt8]? = nil) {
        self.message = message
        self.encoded = encoded
    }

    public static func == (a: OTLPRequest, b: OTLPRequest) -> Bool { a.message == b.message }

    /// The request's signal.
    public var signal: OTLPSignal {
        switch message {
        case .traces: return .traces
        case .metrics: return .metrics
        case .logs: return .logs
        }
    }

    // MARK: Decoding

    /// Decodes a protobuf request body. With `signal` nil the body must decode strictly (no
    /// unknown field at any depth) as exactly one of the three request types. `source` names the
    /// input in errors.
    public init(protobuf bytes: [UInt8], signal: OTLPSignal? = nil, source: String = "input") throws(RRLogError) {
        if let signal {
            do {
                self.init(try Self.decode(signal, bytes, strict: false), encoded: bytes)
            } catch {
                throw RRLogError(.malformedInput, "not a valid OTLP \(signal.requestName) body: \(Self.describe(error))", location: source)
            }
            return
        }
        var matches: [Message] = []
        var problems: [String] = []
        for candidate in OTLPSignal.allCases {
            do { matches.append(try Self.decode(candidate, bytes, strict: true)) } catch { problems.append("\(candidate.requestName): \(Self.describe(error))") }
        }
        switch matches.count {
        case 1:
            self.init(matches[0], encoded: bytes)
        case 0:
            throw RRLogError(.malformedInput, "not an OTLP request body (\(problems.joined(separator: "; ")))", location: source)
        default:
            throw RRLogError(
                .malformedInput,
                "cannot tell whether this OTLP body holds traces, metrics or logs (it has no span, metric or log record): name the file after its signal, e.g. traces-1.otlp, or give the signal",
                location: source)
        }
    }

    /// Decodes one OTLP JSON request (one line of a JSON-lines file). The signal comes from the
    /// top-level member (`resourceSpans`, `resourceMetrics`, `resourceLogs`), else from `signal`.
    /// Trace and span ids may be hex (OTLP JSON) or base64 (protobuf's JSON mapping).
    public init(json bytes: [UInt8], signal: OTLPSignal? = nil, source: String = "input") throws(RRLogError) {
        try self.init(json: bytes, signal: signal, fallback: nil, source: source)
    }

    /// `fallback`: the signal of a request with no top-level member (from the file name).
    init(json bytes: [UInt8], signal: OTLPSignal?, fallback: OTLPSignal?, source: String) throws(RRLogError) {
        let value: JSONValue
        do throws(JSONParseError) { value = try JSONValue.parse(bytes) } catch {
            throw RRLogError(.malformedInput, "invalid JSON at column \(error.column): \(error.reason)", location: source)
        }
        guard case .object(let members) = value else {
            throw RRLogError(.malformedInput, "expected a JSON object (an OTLP request)", location: source)
        }
        let named = OTLPSignal.allCases.filter { members[$0.jsonMember] != nil || members[OTLPJSON.snakeCase($0.jsonMember)] != nil }
        let chosen: OTLPSignal
        if named.count == 1 {
            chosen = named[0]
            if let signal, signal != chosen {
                throw RRLogError(.malformedInput, "a \(chosen) request where \(signal) were expected", location: source)
            }
        } else if named.isEmpty, let given = signal ?? fallback {
            chosen = given
        } else {
            throw RRLogError(
                .malformedInput,
                named.isEmpty
                    ? "not an OTLP request: no resourceSpans, resourceMetrics or resourceLogs member"
                    : "an OTLP request has one of resourceSpans, resourceMetrics and resourceLogs, not several",
                location: source)
        }
        let fixed = try OTLPJSON.idsToBase64(value, location: source)
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        let text = fixed.serializedBytes()
        do {
            switch chosen {
            case .traces: self.init(.traces(try TraceServiceRequest(jsonUTF8Bytes: text, options: options)))
            case .metrics: self.init(.metrics(try MetricsServiceRequest(jsonUTF8Bytes: text, options: options)))
            case .logs: self.init(.logs(try LogsServiceRequest(jsonUTF8Bytes: text, options: options)))
            }
        } catch {
            throw RRLogError(.malformedInput, "not a valid OTLP JSON \(chosen) request: \(Self.describe(error))", location: source)
        }
    }

    static func decode(_ signal: OTLPSignal, _ bytes: [UInt8], strict: Bool) throws -> Message {
        switch signal {
        case .traces: return .traces(try decodeMessage(TraceServiceRequest.self, bytes, strict: strict))
        case .metrics: return .metrics(try decodeMessage(MetricsServiceRequest.self, bytes, strict: strict))
        case .logs: return .logs(try decodeMessage(LogsServiceRequest.self, bytes, strict: strict))
        }
    }

    struct UnknownFields: Error {}

    /// Decodes `bytes`; when `strict`, fails if any message at any depth has unknown fields
    /// (decoding again with unknown fields discarded must give an equal message).
    static func decodeMessage<M: SwiftProtobuf.Message & Equatable>(_ type: M.Type, _ bytes: [UInt8], strict: Bool) throws -> M {
        let message = try M(serializedBytes: bytes)
        if strict {
            var options = BinaryDecodingOptions()
            options.discardUnknownFields = true
            guard try M(serializedBytes: bytes, options: options) == message else { throw UnknownFields() }
        }
        return message
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case is UnknownFields: return "fields unknown to this message type"
        case let e as BinaryDecodingError:
            switch e {
            case .truncated: return "truncated (the body ends inside a field)"
            case .malformedProtobuf: return "malformed protobuf"
            case .invalidUTF8: return "a string that is not UTF-8"
            case .messageDepthLimit: return "messages nested too deeply"
            default: return "\(e)"
            }
        case let e as JSONDecodingError: return "\(e)"
        case let e as RRLogError: return e.message
        default: return "\(error)"
        }
    }

    // MARK: Encoding

    /// The protobuf encoding: the bytes the request was read from, when it came from protobuf.
    public func protobufBytes() -> [UInt8] {
        if let encoded { return encoded }
        let bytes: [UInt8]?
        switch message {
        case .traces(let m): bytes = try? m.serializedBytes()
        case .metrics(let m): bytes = try? m.serializedBytes()
        case .logs(let m): bytes = try? m.serializedBytes()
        }
        return bytes ?? []
    }

    /// The request as one line of OTLP JSON (no newline): hex ids, lowerCamelCase names, enums
    /// as integers, 64-bit integers as strings.
    public func jsonBytes() -> [UInt8] {
        var options = JSONEncodingOptions()
        options.alwaysPrintEnumsAsInts = true
        let text: [UInt8]?
        switch message {
        case .traces(let m): text = try? m.jsonUTF8Bytes(options: options)
        case .metrics(let m): text = try? m.jsonUTF8Bytes(options: options)
        case .logs(let m): text = try? m.jsonUTF8Bytes(options: options)
        }
        guard let text, let value = try? JSONValue.parse(text) else { return Array("{}".utf8) }
        return OTLPJSON.idsToHex(value).serializedBytes()
    }

    // MARK: Contents

    /// Spans, data points or log records in the request.
    public var itemCount: Int {
        var n = 0
        forEachItemTime { _ in n += 1 }
        return n
    }

    /// The earliest time in the request, nanoseconds since the epoch: span start, data point
    /// time, or log time (observed time when the time is unset). Nil when it has none.
    public var earliestTimeNs: Int64? {
        var earliest: UInt64?
        forEachItemTime { t in if t != 0 { earliest = min(earliest ?? t, t) } }
        return earliest.map(clampNs)
    }

    /// The distinct `service.name` resource attributes, in order of appearance.
    public var serviceNames: [String] {
        var names: [String] = []
        for resource in resources { if let n = Self.serviceName(resource), !names.contains(n) { names.append(n) } }
        return names
    }

    var resources: [OTelResource] {
        switch message {
        case .traces(let m): return m.resourceSpans.map(\.resource)
        case .metrics(let m): return m.resourceMetrics.map(\.resource)
        case .logs(let m): return m.resourceLogs.map(\.resource)
        }
    }

    static func serviceName(_ resource: OTelResource) -> String? {
        for attribute in resource.attributes where attribute.key == "service.name" {
            if case .stringValue(let s)? = attribute.value.value { return s }
        }
        return nil
    }

    /// Calls `body` with the time of each span, data point and log record.
    func forEachItemTime(_ body: (UInt64) -> Void) {
        switch message {
        case .traces(let m):
            for r in m.resourceSpans { for s in r.scopeSpans { for span in s.spans { body(span.startTimeUnixNano) } } }
        case .logs(let m):
            for r in m.resourceLogs { for s in r.scopeLogs { for log in s.logRecords { body(Self.logTime(log)) } } }
        case .metrics(let m):
            for r in m.resourceMetrics { for s in r.scopeMetrics { for metric in s.metrics { Self.forEachPointTime(metric, body) } } }
        }
    }

    static func logTime(_ log: Opentelemetry_Proto_Logs_V1_LogRecord) -> UInt64 {
        log.timeUnixNano != 0 ? log.timeUnixNano : log.observedTimeUnixNano
    }

    static func forEachPointTime(_ metric: Opentelemetry_Proto_Metrics_V1_Metric, _ body: (UInt64) -> Void) {
        switch metric.data {
        case .gauge(let g)?: for p in g.dataPoints { body(p.timeUnixNano) }
        case .sum(let s)?: for p in s.dataPoints { body(p.timeUnixNano) }
        case .histogram(let h)?: for p in h.dataPoints { body(p.timeUnixNano) }
        case .exponentialHistogram(let h)?: for p in h.dataPoints { body(p.timeUnixNano) }
        case .summary(let s)?: for p in s.dataPoints { body(p.timeUnixNano) }
        case nil: break
        }
    }

    /// Each distinct trace id of a traces request with its spans' earliest start and their count,
    /// in order of first appearance. Empty ids are left out.
    var traceIDs: [(id: [UInt8], earliestNs: Int64, spans: Int)] {
        guard case .traces(let m) = message else { return [] }
        var order: [[UInt8]] = []
        var seen: [[UInt8]: (earliest: UInt64, spans: Int)] = [:]
        for r in m.resourceSpans {
            for s in r.scopeSpans {
                for span in s.spans where !span.traceID.isEmpty {
                    let id = [UInt8](span.traceID)
                    if let known = seen[id] {
                        seen[id] = (min(known.earliest, span.startTimeUnixNano), known.spans + 1)
                    } else {
                        order.append(id)
                        seen[id] = (span.startTimeUnixNano, 1)
                    }
                }
            }
        }
        return order.map { ($0, clampNs(seen[$0]!.earliest), seen[$0]!.spans) }
    }

    /// The spans of a traces request (all of them, or those of one trace id).
    func spans(traceID: [UInt8]? = nil) -> [OTLPSpan] {
        guard case .traces(let m) = message else { return [] }
        var out: [OTLPSpan] = []
        for r in m.resourceSpans {
            let service = Self.serviceName(r.resource)
            for s in r.scopeSpans {
                for span in s.spans where traceID == nil || span.traceID.elementsEqual(traceID!) {
                    out.append(OTLPSpan(span, service: service, scope: s.scope.name))
                }
            }
        }
        return out
    }

    // MARK: Filtering

    /// The request with only the items inside `[fromNs, toNs]` and the resources whose
    /// `service.name` is one of `services`; nil when nothing is left. A request nothing was taken
    /// from is returned as it was (with its original bytes).
    func filtered(fromNs: Int64?, toNs: Int64?, services: Set<String>?) -> OTLPRequest? {
        if fromNs == nil, toNs == nil, services == nil { return self }
        let keepTime = { (t: UInt64) -> Bool in
            let ns = clampNs(t)
            return (fromNs.map { ns >= $0 } ?? true) && (toNs.map { ns <= $0 } ?? true)
        }
        let keepResource = { (r: OTelResource) -> Bool in services.map { Self.serviceName(r).map($0.contains) ?? false } ?? true }
        var changed = false
        var result = self
        func prune<T>(_ items: inout [T], _ keep: (T) -> Bool) {
            let before = items.count
            items.removeAll { !keep($0) }
            if items.count != before { changed = true }
        }
        switch message {
        case .traces(var m):
            prune(&m.resourceSpans) { keepResource($0.resource) }
            for i in m.resourceSpans.indices {
                for j in m.resourceSpans[i].scopeSpans.indices { prune(&m.resourceSpans[i].scopeSpans[j].spans) { keepTime($0.startTimeUnixNano) } }
                prune(&m.resourceSpans[i].scopeSpans) { !$0.spans.isEmpty }
            }
            prune(&m.resourceSpans) { !$0.scopeSpans.isEmpty }
            if m.resourceSpans.isEmpty { return nil }
            result.message = .traces(m)
        case .logs(var m):
            prune(&m.resourceLogs) { keepResource($0.resource) }
            for i in m.resourceLogs.indices {
                for j in m.resourceLogs[i].scopeLogs.indices { prune(&m.resourceLogs[i].scopeLogs[j].logRecords) { keepTime(Self.logTime($0)) } }
                prune(&m.resourceLogs[i].scopeLogs) { !$0.logRecords.isEmpty }
            }
            prune(&m.resourceLogs) { !$0.scopeLogs.isEmpty }
            if m.resourceLogs.isEmpty { return nil }
            result.message = .logs(m)
        case .metrics(var m):
            prune(&m.resourceMetrics) { keepResource($0.resource) }
            for i in m.resourceMetrics.indices {
                for j in m.resourceMetrics[i].scopeMetrics.indices {
                    for k in m.resourceMetrics[i].scopeMetrics[j].metrics.indices {
                        var metric = m.resourceMetrics[i].scopeMetrics[j].metrics[k]
                        switch metric.data {
                        case .gauge(var g)?: prune(&g.dataPoints) { keepTime($0.timeUnixNano) }; metric.data = .gauge(g)
                        case .sum(var s)?: prune(&s.dataPoints) { keepTime($0.timeUnixNano) }; metric.data = .sum(s)
                        case .histogram(var h)?: prune(&h.dataPoints) { keepTime($0.timeUnixNano) }; metric.data = .histogram(h)
                        case .exponentialHistogram(var h)?:
                            prune(&h.dataPoints) { keepTime($0.timeUnixNano) }
                            metric.data = .exponentialHistogram(h)
                        case .summary(var s)?: prune(&s.dataPoints) { keepTime($0.timeUnixNano) }; metric.data = .summary(s)
                        case nil: break
                        }
                        m.resourceMetrics[i].scopeMetrics[j].metrics[k] = metric
                    }
                    prune(&m.resourceMetrics[i].scopeMetrics[j].metrics) { metric in
                        var points = 0
                        Self.forEachPointTime(metric) { _ in points += 1 }
                        return points > 0
                    }
                }
                prune(&m.resourceMetrics[i].scopeMetrics) { !$0.metrics.isEmpty }
            }
            prune(&m.resourceMetrics) { !$0.scopeMetrics.isEmpty }
            if m.resourceMetrics.isEmpty { return nil }
            result.message = .metrics(m)
        }
        if !changed { return self }
        result.encoded = nil
        return result
    }
}

/// Nanoseconds since the epoch as rrlog keeps them (`Int64`); OTLP's `fixed64` times past 2262
/// are clamped.
func clampNs(_ t: UInt64) -> Int64 { t > UInt64(Int64.max) ? Int64.max : Int64(t) }

/// One span, as `OTLPExporter.spans(traceID:…)` returns it.
public struct OTLPSpan: Sendable, Hashable {
    /// The trace id, lowercase hex.
    public var traceID: String
    /// The span id, lowercase hex.
    public var spanID: String
    /// The parent's span id, lowercase hex; empty for a root span.
    public var parentSpanID: String
    /// The span's name.
    public var name: String
    /// `SpanKind` as its number (0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer).
    public var kind: Int
    /// Start, nanoseconds since the epoch.
    public var startTimeUnixNano: UInt64
    /// End, nanoseconds since the epoch.
    public var endTimeUnixNano: UInt64
    /// The resource's `service.name`, if any.
    public var serviceName: String?
    /// The instrumentation scope's name.
    public var scopeName: String
    /// `Status.code` (0 unset, 1 ok, 2 error) and message.
    public var statusCode: Int
    /// The status message.
    public var statusMessage: String
    /// The span's attributes as JSON values (bytes as base64 strings).
    public var attributes: [String: JSONValue]

    /// End minus start, nanoseconds (0 when the end precedes the start).
    public var durationNs: UInt64 { endTimeUnixNano >= startTimeUnixNano ? endTimeUnixNano - startTimeUnixNano : 0 }

    init(_ span: OTelSpan, service: String?, scope: String) {
        traceID = Hex.lowercase(span.traceID)
        spanID = Hex.lowercase(span.spanID)
        parentSpanID = Hex.lowercase(span.parentSpanID)
        name = span.name
        kind = span.kind.rawValue
        startTimeUnixNano = span.startTimeUnixNano
        endTimeUnixNano = span.endTimeUnixNano
        serviceName = service
        scopeName = scope
        statusCode = span.status.code.rawValue
        statusMessage = span.status.message
        attributes = OTLPJSON.attributes(span.attributes)
    }
}

extension OTLPSpan {
    /// `spans` in tree order, each after its parent and siblings by start time, with their depth
    /// (what `rrlog trace` prints and `rrlog serve` draws as a waterfall). A span whose parent is
    /// not among them is a root; spans on a parent cycle, reached from no root, follow at depth 0.
    /// Iterative: a trace of any depth is walked without recursion.
    package static func tree(_ spans: [OTLPSpan]) -> [(span: OTLPSpan, depth: Int)] {
        let ids = Set(spans.map(\.spanID))
        var children: [String: [Int]] = [:]
        var roots: [Int] = []
        for (i, span) in spans.enumerated() {
            if !span.parentSpanID.isEmpty, span.parentSpanID != span.spanID, ids.contains(span.parentSpanID) {
                children[span.parentSpanID, default: []].append(i)
            } else {
                roots.append(i)
            }
        }
        let byStart = { (a: Int, b: Int) in (spans[a].startTimeUnixNano, a) < (spans[b].startTimeUnixNano, b) }
        var out: [(span: OTLPSpan, depth: Int)] = []
        var placed = Array(repeating: false, count: spans.count)
        var expanded: Set<String> = []
        // A stack of (span index, depth), children pushed in reverse so the earliest comes next.
        var stack = roots.sorted(by: byStart).reversed().map { ($0, 0) }
        while let (i, depth) = stack.popLast() {
            out.append((spans[i], depth))
            placed[i] = true
            guard expanded.insert(spans[i].spanID).inserted else { continue }
            for child in (children[spans[i].spanID] ?? []).sorted(by: byStart).reversed() where !placed[child] {
                stack.append((child, depth + 1))
            }
        }
        for i in spans.indices where !placed[i] { out.append((spans[i], 0)) }
        return out
    }
}

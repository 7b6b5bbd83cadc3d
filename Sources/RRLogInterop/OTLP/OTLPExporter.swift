import Foundation
public import RRLog
public import RRLogCatalog
import RRLogStorage
import RRLogFormat

/// Which stored OTLP data an export takes.
public struct OTLPExportFilter: Sendable {
    /// The signals to export.
    public var signals: Set<OTLPSignal>
    /// Keep only spans starting, data points timed and log records timed at or after this
    /// (nanoseconds since the epoch).
    public var fromNs: Int64?
    /// … and at or before this.
    public var toNs: Int64?
    /// Keep only resources whose `service.name` attribute is one of these (nil: every resource).
    public var serviceNames: Set<String>?

    /// Keep only resources whose `service.name` attribute is this (one of `serviceNames`).
    public var serviceName: String? {
        get { serviceNames?.count == 1 ? serviceNames?.first : nil }
        set { serviceNames = newValue.map { [$0] } }
    }

    /// A filter; the default takes everything.
    public init(signals: Set<OTLPSignal> = Set(OTLPSignal.allCases), fromNs: Int64? = nil, toNs: Int64? = nil, serviceName: String? = nil) {
        self.signals = signals
        self.fromNs = fromNs
        self.toNs = toNs
        self.serviceNames = serviceName.map { [$0] }
    }

    /// A filter of several services.
    public init(signals: Set<OTLPSignal> = Set(OTLPSignal.allCases), fromNs: Int64? = nil, toNs: Int64? = nil, serviceNames: Set<String>?) {
        self.signals = signals
        self.fromNs = fromNs
        self.toNs = toNs
        self.serviceNames = serviceNames
    }
}

/// Exports a session's OTLP requests as protobuf bodies (one file per request, or one
/// length-prefixed stream) or OTLP JSON lines, and finds a trace's spans through the trace index.
/// Without a time or service filter every request is given back exactly as it was imported; a
/// filter removes the spans, data points, log records and resources outside it (and requests left
/// empty) and keeps the rest as it was.
public enum OTLPExporter {
    /// Calls `body` with each stored request that passes `filter`, in the order they were stored,
    /// until it returns false.
    public static func forEachRequest(
        _ manifest: SessionManifest, from store: Store, filter: OTLPExportFilter = OTLPExportFilter(), _ body: (OTLPRequest) -> Bool
    ) throws(RRLogError) {
        try forEachRequestWithSequence(manifest, from: store, filter: filter) { request, _ in body(request) }
    }

    /// `forEachRequest`, also giving each request's record sequence, with which
    /// `request(atSequence:in:reader:filter:)` reads it again: a caller that needs the requests in
    /// another order keeps the sequences, not the requests.
    public static func forEachRequestWithSequence(
        _ manifest: SessionManifest, from store: Store, filter: OTLPExportFilter = OTLPExportFilter(), _ body: (OTLPRequest, UInt64) -> Bool
    ) throws(RRLogError) {
        try forEachRequestWithSequence(manifest, reader: try store.openScanReader(manifest), filter: filter, body)
    }

    /// `forEachRequestWithSequence` through a reader the caller keeps, to read the same snapshot
    /// of the session again with `request(atSequence:in:reader:filter:)`.
    public static func forEachRequestWithSequence(
        _ manifest: SessionManifest, reader: SessionReader, filter: OTLPExportFilter = OTLPExportFilter(), _ body: (OTLPRequest, UInt64) -> Bool
    ) throws(RRLogError) {
        let kinds = Set(filter.signals.map(\.recordKind.rawValue))
        var failure: RRLogError?
        // A record's timestamp is its earliest item: one starting after the window has nothing in it.
        let lost = reader.forEach(kinds: kinds, toNs: filter.toNs) { view in
            guard let signal = OTLPSignal(recordKind: view.kind) else { return true }
            let request: OTLPRequest
            do throws(RRLogError) {
                request = try OTLPRequest(protobuf: Array(view.payload), signal: signal, source: "record \(view.sequence)")
            } catch {
                failure = RRLogError(.corrupt, "stored OTLP request is not valid: \(error.message)", location: "\(manifest.name): record \(view.sequence)")
                return false
            }
            guard let kept = request.filtered(fromNs: filter.fromNs, toNs: filter.toNs, services: filter.serviceNames) else { return true }
            return body(kept, view.sequence)
        }
        if let failure { throw failure }
        if let damage = RRLogError(damaged: lost) { throw damage }
    }

    /// The request stored as record `sequence` of `manifest`'s session, as `filter` leaves it (nil
    /// when the filter leaves nothing of it or the record is not an OTLP request of its signals).
    public static func request(
        atSequence sequence: UInt64, in manifest: SessionManifest, reader: SessionReader, filter: OTLPExportFilter = OTLPExportFilter()
    ) throws(RRLogError) -> OTLPRequest? {
        guard let record = reader.record(atSequence: sequence) else {
            throw RRLogError(.corrupt, "record \(sequence) is no longer readable", location: manifest.name)
        }
        guard let signal = OTLPSignal(recordKind: record.kind), filter.signals.contains(signal) else { return nil }
        let request: OTLPRequest
        do throws(RRLogError) {
            request = try OTLPRequest(protobuf: record.payload, signal: signal, source: "record \(sequence)")
        } catch {
            throw RRLogError(.corrupt, "stored OTLP request is not valid: \(error.message)", location: "\(manifest.name): record \(sequence)")
        }
        return request.filtered(fromNs: filter.fromNs, toNs: filter.toNs, services: filter.serviceNames)
    }

    /// The stored requests that pass `filter`, in order.
    public static func requests(_ manifest: SessionManifest, from store: Store, filter: OTLPExportFilter = OTLPExportFilter()) throws(RRLogError) -> [OTLPRequest] {
        var out: [OTLPRequest] = []
        try forEachRequest(manifest, from: store, filter: filter) { out.append($0); return true }
        return out
    }

    /// Writes one protobuf body per request into `directory` (created when missing), named
    /// `<signal>-NNNNNN.otlp` numbered per signal from 0, and returns the paths written.
    @discardableResult
    public static func writeProtobufFiles(
        _ manifest: SessionManifest, from store: Store, to directory: String, filter: OTLPExportFilter = OTLPExportFilter()
    ) throws(RRLogError) -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw RRLogError(.storage, "cannot create the directory: \(error.localizedDescription)", location: directory)
        }
        var written: [String] = []
        var counts: [OTLPSignal: Int] = [:]
        var failure: RRLogError?
        try forEachRequest(manifest, from: store, filter: filter) { request in
            let n = counts[request.signal, default: 0]
            counts[request.signal] = n + 1
            let digits = String(n)
            let path = directory + "/\(request.signal.rawValue)-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".otlp"
            guard FileManager.default.createFile(atPath: path, contents: Data(request.protobufBytes()), attributes: [.posixPermissions: 0o600]) else {
                failure = RRLogError(.storage, "cannot write the file", location: path)
                return false
            }
            written.append(path)
            return true
        }
        if let failure { throw failure }
        return written
    }

    /// The requests of one signal as protobuf bodies, each preceded by its length as a 4-byte
    /// big-endian integer (the Collector file exporter's `proto` format), given to `sink` in pieces.
    public static func writeLengthPrefixedProtobuf(
        _ manifest: SessionManifest, from store: Store, signal: OTLPSignal, filter: OTLPExportFilter = OTLPExportFilter(), to sink: ([UInt8]) -> Void
    ) throws(RRLogError) {
        var only = filter
        only.signals = [signal]
        try forEachRequest(manifest, from: store, filter: only) { request in
            let body = request.protobufBytes()
            let n = UInt32(clamping: body.count)
            sink([UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + body)
            return true
        }
    }

    /// The requests as OTLP JSON lines (one request a line, each naming its signal by its
    /// top-level member), given to `sink` in pieces of about 64 KiB; returns the number of
    /// requests. An error `sink` throws stops the export and is thrown.
    @discardableResult
    public static func writeJSONLines(
        _ manifest: SessionManifest, from store: Store, filter: OTLPExportFilter = OTLPExportFilter(), to sink: ([UInt8]) throws(RRLogError) -> Void
    ) throws(RRLogError) -> Int {
        var buffer: [UInt8] = []
        var failure: RRLogError?
        var count = 0
        try forEachRequest(manifest, from: store, filter: filter) { request in
            buffer += request.jsonBytes()
            buffer.append(0x0A)
            count += 1
            if buffer.count >= 1 << 16 {
                do throws(RRLogError) { try sink(buffer) } catch {
                    failure = error
                    return false
                }
                buffer.removeAll(keepingCapacity: true)
            }
            return true
        }
        if let failure { throw failure }
        if !buffer.isEmpty { try sink(buffer) }
        return count
    }

    // MARK: Traces

    /// The spans of the trace with id `traceID` (32 hex digits), ordered by start time then span
    /// id. Found through the trace index: one key lookup, then only the requests that hold the
    /// trace are read and decoded.
    public static func spans(traceID hex: String, in manifest: SessionManifest, from store: Store) throws(RRLogError) -> [OTLPSpan] {
        guard let id = OTLPJSON.parseHex(hex), !id.isEmpty else {
            throw RRLogError(.invalidArgument, "a trace id is hex digits (32 for 16 bytes), not '\(hex)'")
        }
        return try spans(traceID: id, in: manifest, from: store)
    }

    /// The spans of the trace with id bytes `traceID`; see `spans(traceID:in:from:)`.
    public static func spans(traceID: [UInt8], in manifest: SessionManifest, from store: Store) throws(RRLogError) -> [OTLPSpan] {
        let reader = try store.openReader(manifest)
        let log: LogReader
        // The session's log directory (README "Store layout": sessions/<id>/log).
        do { log = try LogReader(path: store.path + "/sessions/" + manifest.id + "/log") } catch { throw RRLogError(.storage, error.description) }
        var sequences: [UInt64] = []
        for entry in log.lookup(key: OTLPTraceIndex.key(traceID)) where entry.kind == RecordKind.otlpTraceIndex.rawValue {
            guard let sequence = OTLPTraceIndex.requestSequence(entry.payload) else {
                throw RRLogError(.corrupt, "trace index record \(entry.sequence) is too short", location: manifest.name)
            }
            if !sequences.contains(sequence) { sequences.append(sequence) }
        }
        var out: [OTLPSpan] = []
        for sequence in sequences {
            guard let record = reader.record(atSequence: sequence), record.kind == RecordKind.otlpTraces.rawValue else {
                throw RRLogError(.corrupt, "the trace index points to record \(sequence), which is not a readable traces request", location: manifest.name)
            }
            let request = try OTLPRequest(protobuf: record.payload, signal: .traces, source: "\(manifest.name): record \(sequence)")
            out += request.spans(traceID: traceID)
        }
        return out.sorted { ($0.startTimeUnixNano, $0.spanID) < ($1.startTimeUnixNano, $1.spanID) }
    }
}

extension OTLPRequest {
    /// The spans of a traces request (empty for metrics and logs), in request order.
    public var spans: [OTLPSpan] { spans(traceID: nil) }
}

// MARK: Records one at a time (rrlog cat)

extension OTLPExporter {
    /// A stored OTLP record of kind `kind` as JSON: a request as one line of OTLP JSON (as
    /// `writeJSONLines` writes it), a trace index record as `{"trace_id", "request_sequence",
    /// "spans"}`. Nil for kinds that are not OTLP; an error when the record does not decode.
    public static func recordJSON(kind: UInt16, key: [UInt8]?, payload: [UInt8], location: String) throws(RRLogError) -> [UInt8]? {
        if kind == RecordKind.otlpTraceIndex.rawValue {
            let (traceID, sequence, spans) = try traceIndexEntry(key: key, payload: payload, location: location)
            return JSONValue.object(["trace_id": .string(traceID), "request_sequence": .int(Int64(clamping: sequence)), "spans": .int(Int64(spans))]).serializedBytes()
        }
        return try request(kind: kind, payload: payload, location: location)?.jsonBytes()
    }

    /// A stored OTLP record of kind `kind` in a few words: a request's item count and services
    /// ("12 spans; services checkout, payments"), a trace index record's trace and request. Nil for
    /// kinds that are not OTLP.
    public static func recordSummary(kind: UInt16, key: [UInt8]?, payload: [UInt8], location: String) throws(RRLogError) -> String? {
        if kind == RecordKind.otlpTraceIndex.rawValue {
            let (traceID, sequence, spans) = try traceIndexEntry(key: key, payload: payload, location: location)
            return "trace \(traceID): \(spans) spans in record \(sequence)"
        }
        guard let request = try request(kind: kind, payload: payload, location: location) else { return nil }
        let noun: String
        switch request.signal {
        case .traces: noun = "spans"
        case .metrics: noun = "data points"
        case .logs: noun = "log records"
        }
        let services = request.serviceNames
        return "\(request.itemCount) \(noun)" + (services.isEmpty ? "" : "; service\(services.count == 1 ? "" : "s") \(services.joined(separator: ", "))")
    }

    static func request(kind: UInt16, payload: [UInt8], location: String) throws(RRLogError) -> OTLPRequest? {
        guard let signal = OTLPSignal(recordKind: kind) else { return nil }
        do throws(RRLogError) {
            return try OTLPRequest(protobuf: payload, signal: signal, source: location)
        } catch {
            throw RRLogError(.corrupt, "stored OTLP request is not valid: \(error.message)", location: location)
        }
    }

    static func traceIndexEntry(key: [UInt8]?, payload: [UInt8], location: String) throws(RRLogError) -> (traceID: String, requestSequence: UInt64, spans: UInt32) {
        guard let key, key.starts(with: OTLPTraceIndex.keyPrefix), let sequence = OTLPTraceIndex.requestSequence(payload), payload.count >= 12 else {
            throw RRLogError(.corrupt, "trace index record is not a trace key and a request sequence", location: location)
        }
        let spans = payload[8..<12].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return (Hex.lowercase(key.dropFirst(OTLPTraceIndex.keyPrefix.count)), sequence, spans)
    }
}

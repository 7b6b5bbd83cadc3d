import Foundation
public import RRLog
public import RRLogCatalog
import RRLogStorage

/// The trace index (README "OTLP"): for each distinct trace id of a stored traces request, one
/// record of kind `otlp_trace_index` keyed by `trace:` + the id's bytes (16 for a valid id) whose
/// payload is the request record's sequence number (u64 little-endian) then the number of the
/// trace's spans in it (u32 little-endian). Its timestamp is the trace's earliest span start in
/// that request. A trace sent in several requests has several index records under one key; a key
/// lookup (one hash probe per log key index or segment) finds them all without a scan.
enum OTLPTraceIndex {
    static let keyPrefix = Array("trace:".utf8)

    static func key(_ traceID: [UInt8]) -> [UInt8] { keyPrefix + traceID }

    static func payload(requestSequence: UInt64, spans: Int) -> [UInt8] {
        var out: [UInt8] = []
        withUnsafeBytes(of: requestSequence.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(clamping: spans).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    /// The request's sequence number in an index payload.
    static func requestSequence(_ payload: [UInt8]) -> UInt64? {
        guard payload.count >= 8 else { return nil }
        var value: UInt64 = 0
        for i in (0..<8).reversed() { value = value << 8 | UInt64(payload[i]) }
        return value
    }
}

/// Imports OTLP files: protobuf request bodies (`.otlp`, gzip `.otlp.gz`) and OTLP JSON lines.
/// Every request is stored as it was, one record each (kinds `otlp_traces`, `otlp_metrics`,
/// `otlp_logs`, payload its protobuf bytes, timestamp its earliest span start, data point time or
/// log time), so export gives back equal requests; traces requests also get trace index records
/// (`OTLPTraceIndex`). OTLP data is stored without redaction (the session is annotated
/// `redaction: off`).
public struct OTLPImporter: Sendable {
    /// The files' encoding; nil: from each file's name and first byte.
    public var format: OTLPFormat?
    /// The files' signal; nil: from each request's content (its JSON member, or the one request
    /// type a protobuf body decodes as with no unknown field), else from the file name
    /// (`traces-000.otlp`, `logs.jsonl`).
    public var signal: OTLPSignal?
    /// The most a gzip file may decompress to.
    public var decompressedSizeBytesMax = GzipDecoder.decompressedSizeBytesMax
    /// The type of a session the import creates.
    public var sessionType = "recording"
    /// Bytes at which a segment file of the new session is sealed and the next begun (nil: the
    /// storage default, `LogOptions.segmentSizeBytesMax`).
    public var segmentSizeBytesMax: Int?

    /// An importer; see the properties.
    public init(format: OTLPFormat? = nil, signal: OTLPSignal? = nil) {
        self.format = format
        self.signal = signal
    }

    /// Reads, decompresses and decodes one file, checking all of it.
    public func requests(fromFile path: String) throws(RRLogError) -> [OTLPRequest] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RRLogError(.invalidArgument, "cannot read the file (missing or not readable)", location: path)
        }
        return try decode([UInt8](data), file: path).requests
    }

    /// Decodes the contents of a file named `file` (gzip is recognised by its magic number).
    /// Errors give the file and the line (JSON) or byte offset (gzip).
    public func requests(from raw: [UInt8], file: String) throws(RRLogError) -> [OTLPRequest] {
        try decode(raw, file: file).requests
    }

    func decode(_ raw: [UInt8], file: String) throws(RRLogError) -> (format: OTLPFormat, requests: [OTLPRequest]) {
        let bytes = GzipDecoder.isGzip(raw) ? try GzipDecoder.decompress(raw, file: file, limit: decompressedSizeBytesMax) : raw
        let name = file.hasSuffix(".gz") ? String(file.dropLast(3)) : file
        let hint = signal ?? OTLPSignal(fileName: name)
        let chosen = format ?? OTLPFormat.detect(bytes, file: name)
        switch chosen {
        case .protobuf:
            if let signal { return (chosen, [try OTLPRequest(protobuf: bytes, signal: signal, source: file)]) }
            // The body's own type first: the one request type it decodes as with no unknown field.
            do throws(RRLogError) {
                return (chosen, [try OTLPRequest(protobuf: bytes, source: file)])
            } catch {
                // Else the file name's signal, unknown fields allowed (a newer OTLP version's).
                guard let hint else { throw error }
                return (chosen, [try OTLPRequest(protobuf: bytes, signal: hint, source: file)])
            }
        case .json:
            return (chosen, try jsonLines(bytes, file: file, hint: hint))
        }
    }

    func jsonLines(_ bytes: [UInt8], file: String, hint: OTLPSignal?) throws(RRLogError) -> [OTLPRequest] {
        var out: [OTLPRequest] = []
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            lineNumber += 1
            let line = Array(bytes[start..<end])
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do {
                out.append(try OTLPRequest(json: line, signal: signal, fallback: hint, source: "\(file):\(lineNumber)"))
            } catch {
                // A pretty-printed file holding one request is accepted whole.
                if out.isEmpty, let whole = try? OTLPRequest(json: bytes, signal: signal, fallback: hint, source: file) { return [whole] }
                throw error
            }
        }
        return out
    }

    /// Imports files into the session named `session`, created when missing (else appended to).
    /// Every file is read and decoded before anything is written: when one fails, nothing of any
    /// is kept (a session the import created is removed again).
    public func importFiles(_ paths: [String], into store: Store, session: String) throws(RRLogError) -> SessionManifest {
        var all: [OTLPRequest] = []
        var formats: [OTLPFormat] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RRLogError(.invalidArgument, "cannot read the file (missing or not readable)", location: path)
            }
            let (format, requests) = try decode([UInt8](data), file: path)
            all += requests
            formats.append(format)
        }
        guard !all.isEmpty else { throw RRLogError(.malformedInput, "no OTLP request in \(paths.joined(separator: ", "))") }
        let existing = try? store.session(session)
        var described = paths.prefix(3).map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")
        if paths.count > 3 { described += " and \(paths.count - 3) more" }
        let manifest: SessionManifest
        if let existing {
            manifest = existing
        } else {
            manifest = try store.createSession(
                name: session, type: sessionType, description: "OTLP imported from \(described)",
                annotations: ["imported_format": (formats.first ?? .protobuf).rawValue, "redaction": "off"])
        }
        do throws(RRLogError) {
            var options = LogOptions()
            options.codec = .zstd
            if let segmentSizeBytesMax { options.segmentSizeBytesMax = segmentSizeBytesMax }
            let writer = try store.openWriter(manifest, options: options)
            do throws(RRLogError) {
                try Self.append(all, to: writer)
                return try writer.close()
            } catch {
                _ = try? writer.close(status: "failed")
                throw error
            }
        } catch {
            if existing == nil { try? store.remove(manifest) }
            throw error
        }
    }

    /// Appends requests to an open session: one record per request, then the trace index records
    /// of the traces requests. Returns the requests' sequence numbers (nil when none).
    @discardableResult
    public static func append(_ requests: [OTLPRequest], to writer: SessionWriter) throws(RRLogError) -> ClosedRange<UInt64>? {
        guard !requests.isEmpty else { return nil }
        var records: [RecordInput] = []
        records.reserveCapacity(requests.count)
        var lastNs = Int64(Date().timeIntervalSince1970 * 1e9)
        if let first = requests.lazy.compactMap(\.earliestTimeNs).first { lastNs = first }
        for request in requests {
            // A request with no time at all (no items) takes the previous one's.
            let ns = request.earliestTimeNs ?? lastNs
            lastNs = ns
            records.append(RecordInput(timestampNs: ns, kind: request.signal.recordKind.rawValue, key: nil, payload: request.protobufBytes()))
        }
        let range = try writer.append(records)
        var index: [RecordInput] = []
        for (i, request) in requests.enumerated() where request.signal == .traces {
            let sequence = range.lowerBound + UInt64(i)
            for trace in request.traceIDs {
                index.append(RecordInput(
                    timestampNs: trace.earliestNs, kind: RecordKind.otlpTraceIndex.rawValue, key: OTLPTraceIndex.key(trace.id),
                    payload: OTLPTraceIndex.payload(requestSequence: sequence, spans: trace.spans)))
            }
        }
        if !index.isEmpty { try writer.append(index) }
        return range
    }
}

import Foundation
public import RRLog
public import RRLogCatalog
public import RRLogStorage

/// The event-recorder JSON format of event-bus recordings: `session_name`, `start_time` (ISO
/// 8601), `duration_ms`, `total_events` and `events[]`, each with `timestamp_offset_ms`,
/// `event_name`, `event_data` and `source`. Imported events are records of kind `bus_event`
/// whose payload is the event object as it was; the other top-level members are kept in the
/// session's `event_recorder` annotation, so that export gives back the same JSON value.
public enum EventRecorderFormat {
    /// The annotation that keeps the file's top-level members (all but `events`).
    public static let headerAnnotation = "event_recorder"

    /// Checks and converts a whole file into records. `file` names the input in errors, which
    /// give the event's index (or the JSON error's line and column).
    public static func records(from bytes: [UInt8], file: String) throws(RRLogError) -> (header: [String: JSONValue], records: [RecordInput]) {
        let document: JSONValue
        do { document = try JSONValue.parse(bytes) } catch {
            throw RRLogError(.malformedInput, "invalid JSON at line \(error.line), column \(error.column): \(error.reason)", location: file)
        }
        guard case .object(var header) = document else {
            throw RRLogError(.malformedInput, "expected an object with an 'events' array", location: file)
        }
        guard let events = header.removeValue(forKey: "events")?.arrayValue else {
            throw RRLogError(.malformedInput, "missing 'events' array", location: file)
        }
        var startNs: Int64 = 0
        if let start = header["start_time"] {
            guard let text = start.stringValue, let ns = parseISO8601(text) else {
                throw RRLogError(.malformedInput, "start_time must be an ISO 8601 time like 2025-10-17T10:00:00Z", location: file)
            }
            startNs = ns
        }
        var records: [RecordInput] = []
        records.reserveCapacity(events.count)
        for (i, event) in events.enumerated() {
            let at = "\(file): events[\(i)]"
            guard case .object = event else { throw RRLogError(.malformedInput, "expected an object", location: at) }
            // 9e12 ms is about 285 years: any offset below it fits the nanosecond clock.
            guard let offset = event["timestamp_offset_ms"]?.doubleValue, offset.isFinite, offset >= 0, offset < 9e12 else {
                throw RRLogError(.malformedInput, "timestamp_offset_ms must be a number of milliseconds from 0 to 9e12", location: at)
            }
            let (timestampNs, overflow) = startNs.addingReportingOverflow(Int64((offset * 1e6).rounded()))
            guard !overflow else {
                throw RRLogError(.malformedInput, "start_time plus timestamp_offset_ms is past the year 2262", location: at)
            }
            guard event["event_name"]?.stringValue != nil else {
                throw RRLogError(.malformedInput, "event_name must be a string", location: at)
            }
            if let source = event["source"], source.stringValue == nil, !source.isNull {
                throw RRLogError(.malformedInput, "source must be a string", location: at)
            }
            records.append(RecordInput(
                timestampNs: timestampNs, kind: RecordKind.busEvent.rawValue, key: nil,
                payload: event.serializedBytes()))
        }
        return (header, records)
    }

    /// The events of a file as replay delivers them (time order, offsets from the first event),
    /// without importing it: what `rrlog info FILE` and `rrlog timeline FILE` show.
    public static func events(from bytes: [UInt8], file: String) throws(RRLogError) -> (header: [String: JSONValue], events: [BusEvent]) {
        let (header, records) = try records(from: bytes, file: file)
        let ordered = records.enumerated().sorted { ($0.element.timestampNs, $0.offset) < ($1.element.timestampNs, $1.offset) }
        let first = ordered.first?.element.timestampNs ?? 0
        var events: [BusEvent] = []
        events.reserveCapacity(ordered.count)
        for (n, (_, record)) in ordered.enumerated() {
            // Each payload was serialised from a parsed value a moment ago.
            let raw = (try? JSONValue.parse(record.payload)) ?? .null
            events.append(BusEvent(sequence: UInt64(n), timestampNs: record.timestampNs, offsetNs: record.timestampNs - first, raw: raw))
        }
        return (header, events)
    }

    /// Imports a file into a new session named `name` (default: its `session_name`), written with
    /// `options` (segment size, codec; the defaults by default).
    public static func importFile(
        _ bytes: [UInt8], file: String, into store: Store, name: String? = nil, type: String = "recording", options: LogOptions = LogOptions()
    ) throws(RRLogError) -> SessionManifest {
        let (header, records) = try records(from: bytes, file: file)
        let sessionName = name ?? header["session_name"]?.stringValue ?? ""
        let manifest = try store.createSession(
            name: sessionName, type: type, description: "imported from \(file)",
            annotations: [headerAnnotation: JSONValue.object(header).serialized(), "imported_format": "events-json"])
        let writer = try store.openWriter(manifest, options: options)
        try writer.append(records)
        return try writer.close()
    }

    /// The session's bus events as an event-recorder document. `total_events` and `duration_ms`
    /// come from the import when present, else from the events.
    public static func export(_ manifest: SessionManifest, from store: Store) throws(RRLogError) -> JSONValue {
        var bytes: [UInt8] = []
        try write(manifest, from: store) { bytes += $0 }
        do { return try JSONValue.parse(bytes) } catch {
            throw RRLogError(.corrupt, "the exported document does not parse: \(error.reason)", location: manifest.name)
        }
    }

    /// `export` as the compact JSON text of its document, followed by a newline, given to `sink`
    /// in pieces of about 64 KiB: the events are read one at a time, never held all at once (a
    /// session without `total_events` or `duration_ms` in its header is read twice, first to
    /// count them). Returns the number of events. An error `sink` throws stops the export.
    @discardableResult
    public static func write(_ manifest: SessionManifest, from store: Store, to sink: ([UInt8]) throws(RRLogError) -> Void) throws(RRLogError) -> Int {
        let reader = try store.openScanReader(manifest)
        var header: [String: JSONValue] = [:]
        if let text = manifest.annotations[headerAnnotation], case .object(let h)? = try? JSONValue.parse(text) { header = h }
        func forEachEvent(_ body: (JSONValue) throws(RRLogError) -> Void) throws(RRLogError) {
            var failure: RRLogError?
            let lost = reader.forEach(kinds: [RecordKind.busEvent.rawValue]) { view in
                guard let event = try? JSONValue.parse(Array(view.payload)) else {
                    failure = RRLogError(.corrupt, "record \(view.sequence) is not a JSON event", location: manifest.name)
                    return false
                }
                do throws(RRLogError) { try body(event) } catch {
                    failure = error
                    return false
                }
                return true
            }
            if let failure { throw failure }
            if let damage = RRLogError(damaged: lost) { throw damage }
        }
        if header["total_events"] == nil || header["duration_ms"] == nil {
            var count: Int64 = 0
            var lastOffset: Double = 0
            try forEachEvent { event in
                count += 1
                lastOffset = max(lastOffset, event["timestamp_offset_ms"]?.doubleValue ?? 0)
            }
            if header["total_events"] == nil { header["total_events"] = .int(count) }
            if header["duration_ms"] == nil { header["duration_ms"] = .int(Int64(lastOffset)) }
        }
        if header["session_name"] == nil { header["session_name"] = .string(manifest.name) }
        if header["start_time"] == nil, let start = manifest.startNs { header["start_time"] = .string(formatISO8601(start)) }
        // The header is serialized with a placeholder where the events go (a string no header
        // holds), so that its members keep the order the serializer gives them.
        let token = "rrlog-events-" + UUID().uuidString
        header["events"] = .string(token)
        let text = JSONValue.object(header).serializedBytes()
        guard let at = text.firstRange(of: JSONValue.string(token).serializedBytes()) else {
            throw RRLogError(.corrupt, "cannot place the events in the header", location: manifest.name)
        }
        var buffer = Array(text[..<at.lowerBound])
        buffer.append(UInt8(ascii: "["))
        var count = 0
        try forEachEvent { event throws(RRLogError) in
            if count > 0 { buffer.append(UInt8(ascii: ",")) }
            buffer += event.serializedBytes()
            count += 1
            if buffer.count >= 1 << 16 {
                try sink(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        buffer.append(UInt8(ascii: "]"))
        buffer += text[at.upperBound...]
        buffer.append(0x0A)
        try sink(buffer)
        return count
    }

    static func parseISO8601(_ text: String) -> Int64? {
        let f = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            f.formatOptions = options
            // Nanoseconds since the epoch in an Int64 reach from 1677 to 2262.
            if let d = f.date(from: text), abs(d.timeIntervalSince1970) < 9.2e9 { return Int64((d.timeIntervalSince1970 * 1e9).rounded()) }
        }
        return nil
    }

    static func formatISO8601(_ ns: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: Double(ns) / 1e9))
    }
}

/// rrlog's own JSON lines of IO events (README "Input format"), imported and exported.
public enum IOJSONLines {
    /// Checks every line and converts it; a bad line fails the whole file with `file:line`.
    /// `progress` is told the bytes checked so far, now and then.
    public static func records(
        from bytes: [UInt8], file: String, encoder: inout IOEventEncoder, progress: ((Int) -> Void)? = nil
    ) throws(RRLogError) -> [RecordInput] {
        var records: [RecordInput] = []
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            lineNumber += 1
            let line = bytes[start..<end]
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let value: JSONValue
            do throws(JSONParseError) { value = try JSONValue.parse(Array(line)) } catch {
                throw RRLogError(.malformedInput, "invalid JSON at column \(error.column): \(error.reason)", location: "\(file):\(lineNumber)")
            }
            records.append(try encoder.record(for: value, location: "\(file):\(lineNumber)"))
            if lineNumber % 4096 == 0 { progress?(start) }
        }
        return records
    }

    /// The session's IO-event records as JSON lines, in order, given to `sink` in pieces of about
    /// 64 KiB; returns the number of lines. An error `sink` throws stops the export; damaged
    /// records fail it.
    @discardableResult
    public static func export(_ manifest: SessionManifest, from store: Store, to sink: ([UInt8]) throws(RRLogError) -> Void) throws(RRLogError) -> Int {
        let reader = try store.openScanReader(manifest)
        let kinds = Set(RecordKind.allCases.filter(\.isIOEvent).map(\.rawValue))
        var buffer: [UInt8] = []
        var failure: RRLogError?
        var count = 0
        let lost = reader.forEach(kinds: kinds) { view in
            IOLine.append(view.payload, timestampNs: view.timestampNs, to: &buffer)
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
        if let damage = RRLogError(damaged: lost) { throw damage }
        if !buffer.isEmpty { try sink(buffer) }
        return count
    }
}

/// Formats `rrlog import` can detect and read.
public enum ImportFormat: String, Sendable, CaseIterable {
    /// Detect from the content.
    case auto
    /// The event-recorder JSON document.
    case eventsJSON = "events-json"
    /// rrlog's JSON lines of IO events.
    case jsonl
    /// OTLP protobuf request bodies (`.otlp`, gzip `.otlp.gz`).
    case otlpProto = "otlp-proto"
    /// OTLP JSON lines, as the Collector's file exporter writes them.
    case otlpJSON = "otlp-json"

    /// The format of `bytes`, judged from the first bytes and the file name.
    public static func detect(_ bytes: [UInt8], file: String) -> ImportFormat {
        if file.hasSuffix(".otlp") || file.hasSuffix(".otlp.gz") || bytes.starts(with: [0x1F, 0x8B]) { return .otlpProto }
        guard let first = bytes.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) else { return .jsonl }
        if first != UInt8(ascii: "{") { return .otlpProto }
        let head = String(decoding: bytes.prefix(4096), as: UTF8.self)
        if head.contains("\"resourceSpans\"") || head.contains("\"resourceLogs\"") || head.contains("\"resourceMetrics\"") { return .otlpJSON }
        let firstLine = bytes.prefix { $0 != 0x0A }
        if (try? JSONValue.parse(Array(firstLine)))?["type"] != nil { return .jsonl }
        return .eventsJSON
    }
}

extension RRLogError {
    /// The error of a read that skipped damaged data (`lost`, as `SessionReader.forEach` returns
    /// it); nil when nothing was lost.
    init?(damaged lost: [LostRange]) {
        guard let first = lost.first else { return nil }
        self.init(.corrupt, "damaged records were skipped: \(first.reason)", location: "\(first.file): offset \(first.startOffset)")
    }
}

extension BusRecorder {
    /// Stops recording and writes the session as an event-recorder JSON file at `path` (the
    /// event recorder's save), under a temporary name renamed when complete. Returns the session.
    @discardableResult
    public func save(to path: String) throws(RRLogError) -> SessionManifest {
        let manifest = try stop()
        let temporary = path + ".rrlog-partial"
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let file = FileHandle(forWritingAtPath: temporary) else {
            throw RRLogError(.storage, "cannot create the file", location: path)
        }
        do throws(RRLogError) {
            try EventRecorderFormat.write(manifest, from: store) { (bytes: [UInt8]) throws(RRLogError) in
                do { try file.write(contentsOf: bytes) } catch { throw RRLogError(.storage, "cannot write: \(error.localizedDescription)", location: path) }
            }
            try? file.close()
            do {
                if FileManager.default.fileExists(atPath: path) {
                    _ = try FileManager.default.replaceItemAt(URL(fileURLWithPath: path), withItemAt: URL(fileURLWithPath: temporary))
                } else {
                    try FileManager.default.moveItem(atPath: temporary, toPath: path)
                }
            } catch {
                throw RRLogError(.storage, "cannot rename \(temporary) to it: \(error.localizedDescription)", location: path)
            }
        } catch {
            try? file.close()
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        return manifest
    }
}

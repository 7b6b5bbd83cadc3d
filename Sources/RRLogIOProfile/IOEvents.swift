public import RRLogJSON

/// Turns rrlog's JSON-lines IO events (README "Input format": `event`, `stream_start`, `chunk`,
/// `stream_finish`, `checkpoint`, each with `ts_ns`) into records. Events and stream starts get
/// their IO key; the call index is assigned per identical call, in order.
public struct IOEventEncoder: Sendable {
    /// Input paths left out of IO keys.
    public let volatile: VolatilePaths
    /// Secrets removed from `inputs`, `outputs`, `metadata` and `content` before the line is
    /// stored (on by default; `.disabled` keeps every value as given, as a lossless import
    /// needs: the stored line is the same JSON, re-serialised with sorted members and its
    /// `ts_ns` in the record, FORMAT-IO-PROFILE.md §10).
    public let redaction: Redaction
    /// The call indexes issued (the fast path in FastIngest.swift takes them too).
    package var counter = CallIndexCounter()
    /// True when `record(forLine:location:)` may try its fast path: no volatile paths, and
    /// redaction off or by rules `SecretCheck` decides (FastIngest.swift).
    let fastPathUsable: Bool
    /// The redaction rules as the fast path checks them.
    let fastSecretCheck: SecretCheck
    /// The fast path's buffers, reused from line to line.
    var fastScratch = FastIngestScratch()

    /// Makes an encoder that leaves `volatile` out of keys and applies `redaction`.
    public init(volatile: VolatilePaths = VolatilePaths(), redaction: Redaction = .default) {
        self.volatile = volatile
        self.redaction = redaction
        fastPathUsable = volatile.isEmpty && (!redaction.isEnabled || redaction.supportsWriterCheck)
        fastSecretCheck = SecretCheck(redaction)
    }

    /// `line` with its secrets redacted and a `redacted` member listing where (unchanged when
    /// nothing was found or redaction is off).
    public func redact(_ line: JSONValue) -> JSONValue {
        guard redaction.isEnabled, case .object(var members) = line else { return line }
        var redacted: [String] = []
        for field in ["inputs", "outputs", "metadata", "content"] {
            if let v = members[field] { members[field] = redaction.apply(v, prefix: field, redacted: &redacted) }
        }
        guard !redacted.isEmpty else { return line }
        let earlier = members["redacted"]?.arrayValue ?? []
        // Sorted, so that the stored bytes do not depend on the order a dictionary was walked in.
        let found = redacted.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        members["redacted"] = .array(earlier + found.map { .string($0) })
        return .object(members)
    }

    /// `line` (an object) with its `call_index` member set to `index`: what an event's stored
    /// line carries, the index of its key.
    public static func settingCallIndex(_ line: JSONValue, to index: UInt32) -> JSONValue {
        guard case .object(var members) = line else { return line }
        members["call_index"] = .int(Int64(index))
        return .object(members)
    }

    /// The record for one parsed line (`record(for:location:)` in RRLogSessions makes it a
    /// `RecordInput`); the error says what is wrong with the line.
    ///
    /// An event's or stream start's stored line carries the `call_index` its key was given, so
    /// that the line and the key say the same thing (whatever index the input line had: it
    /// counted calls in another file or process).
    package mutating func encode(_ original: JSONValue) throws(IOLineError) -> IORecord {
        guard case .object = original else { throw IOLineError("expected a JSON object") }
        let line = redact(original)
        guard let type = line["type"]?.stringValue else {
            throw IOLineError("missing string member 'type'")
        }
        guard let kind = RecordKind(name: type), kind.isIOEvent else {
            throw IOLineError("unknown type '\(type)' (expected event, stream_start, chunk, stream_finish or checkpoint)")
        }
        guard let ts = line["ts_ns"]?.int64Value else {
            throw IOLineError("missing integer member 'ts_ns'")
        }
        var key: [UInt8]?
        switch kind {
        case .event, .streamStart:
            guard let identity = IOCallIdentity(event: line) else {
                throw IOLineError("\(type) needs string members io_type, tool_name, agent_id and an inputs member")
            }
            if let message = IOCallIdentity.invalidNameMessage(ioType: identity.ioType, tool: identity.tool, agent: identity.agent) {
                throw IOLineError(message)
            }
            let ioKey = counter.nextKey(for: identity, volatile: volatile)
            key = ioKey.bytes
            if line["call_index"] != .int(Int64(ioKey.callIndex)) {
                let stored = Self.settingCallIndex(line, to: ioKey.callIndex)
                return IORecord(timestampNs: ts, kind: kind.rawValue, key: key, payload: IOLine.storedPayload(stored))
            }
        case .chunk, .streamFinish:
            guard line["stream_id"]?.stringValue != nil else {
                throw IOLineError("\(type) needs a string member stream_id")
            }
        default:
            break
        }
        return IORecord(timestampNs: ts, kind: kind.rawValue, key: key, payload: IOLine.storedPayload(line))
    }
}

/// A record as the IO profile encodes it: the fields of the storage engine's `RecordInput`,
/// which RRLogSessions makes of it (this module does not depend on storage).
package struct IORecord: Sendable {
    package var timestampNs: Int64
    package var kind: UInt16
    package var key: [UInt8]?
    package var payload: [UInt8]

    package init(timestampNs: Int64, kind: UInt16, key: [UInt8]?, payload: [UInt8]) {
        self.timestampNs = timestampNs
        self.kind = kind
        self.key = key
        self.payload = payload
    }
}

/// Why a line is not an IO event: what the writer reports as malformed input, at the line's
/// location.
package struct IOLineError: Error, Sendable {
    package var message: String

    package init(_ message: String) { self.message = message }
}

/// How an IO-event line is stored (FORMAT-IO-PROFILE.md §10): its payload is the line without
/// `ts_ns`, whose value is the record's timestamp. A nanosecond timestamp written out in every
/// line is the least compressible part of it (about a fifth of a zstd chunk of LLM calls); the
/// record header holds it anyway. Readers put it back; a payload that carries its own `ts_ns`
/// (sessions written by older releases do, in every line) is read as it is, its own value winning.
public enum IOLine {
    /// The payload to store for `line`: the line serialised (members in sorted order) without `ts_ns`.
    public static func storedPayload(_ line: JSONValue) -> [UInt8] {
        guard case .object(var members) = line, members.removeValue(forKey: "ts_ns") != nil else { return line.serializedBytes() }
        return JSONValue.object(members).serializedBytes()
    }

    /// The line of an IO record: `payload` parsed, with `ts_ns` set to `timestampNs` when the
    /// payload leaves it out; nil when the payload is not JSON.
    public static func parse(_ payload: UnsafeRawBufferPointer, timestampNs: Int64) -> JSONValue? {
        guard let value = try? JSONValue.parse(payload) else { return nil }
        return restored(value, timestampNs: timestampNs)
    }

    /// See the `UnsafeRawBufferPointer` variant.
    public static func parse(_ payload: [UInt8], timestampNs: Int64) -> JSONValue? {
        payload.withUnsafeBytes { parse($0, timestampNs: timestampNs) }
    }

    /// Appends the line of an IO record as one JSON text (no newline): the payload as stored
    /// when it carries `ts_ns` or is not a JSON object, else the object with `ts_ns` put back.
    ///
    /// A payload as rrlog writes it (a compact object with sorted members) is not parsed: one pass
    /// over its top-level members finds where `ts_ns` sorts and checks that it is not there, and
    /// the member is spliced in, giving the bytes a parse and re-serialisation would give. Anything
    /// else (whitespace, escaped member names, not an object) takes the parsing path.
    public static func append(_ payload: UnsafeRawBufferPointer, timestampNs: Int64, to out: inout [UInt8]) {
        switch scan(payload) {
        case .carriesTimestamp:
            out.append(contentsOf: payload)
        case .insert(let at, let asLast):
            out.append(contentsOf: payload[..<at])
            if asLast && at > 1 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #""ts_ns":"#.utf8)
            out.append(contentsOf: String(timestampNs).utf8)
            if !asLast { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: payload[at...])
        case .unknown:
            if let value = try? JSONValue.parse(payload), case .object(let members) = value, members["ts_ns"] == nil {
                out.append(contentsOf: restored(value, timestampNs: timestampNs).serializedBytes())
            } else {
                out.append(contentsOf: payload)
            }
        }
    }

    private enum Scan: Equatable {
        /// A top-level `ts_ns` member is there.
        case carriesTimestamp
        /// `ts_ns` goes at byte `at`: before the member starting there, or (`asLast`) before the
        /// closing brace at `at`.
        case insert(at: Int, asLast: Bool)
        /// Not a compact object this scan reads: parse it.
        case unknown
    }

    /// One pass over the top-level members of a compact JSON object (FORMAT-IO-PROFILE.md §10).
    /// Bounds are checked at every step; a payload it does not understand gives `.unknown`.
    private static func scan(_ p: UnsafeRawBufferPointer) -> Scan {
        let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\"), comma = UInt8(ascii: ",")
        let n = p.count
        guard n >= 2, p[0] == UInt8(ascii: "{"), p[n - 1] == UInt8(ascii: "}") else { return .unknown }
        if n == 2 { return .insert(at: 1, asLast: true) }
        let target = Array("ts_ns".utf8)
        var insertion: Int?
        var i = 1
        while true {
            // The member name: no escapes (they would need decoding to compare).
            guard i < n, p[i] == quote else { return .unknown }
            var j = i + 1
            while j < n && p[j] != quote {
                if p[j] == backslash { return .unknown }
                j += 1
            }
            guard j < n else { return .unknown }
            let name = UnsafeRawBufferPointer(rebasing: p[(i + 1)..<j])
            if name.elementsEqual(target) { return .carriesTimestamp }
            // Against an ASCII name, UTF-8 byte order is RFC 8785's UTF-16 order.
            if insertion == nil && !name.lexicographicallyPrecedes(target) { insertion = i }
            guard j + 1 < n, p[j + 1] == UInt8(ascii: ":") else { return .unknown }
            // The value: strings skipped with their escapes, brackets counted.
            var k = j + 2
            var depth = 0
            valueLoop: while k < n {
                switch p[k] {
                case quote:
                    k += 1
                    while k < n && p[k] != quote { k += p[k] == backslash ? 2 : 1 }
                    guard k < n else { return .unknown }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if depth == 0 { break valueLoop }
                    depth -= 1
                case comma where depth == 0:
                    break valueLoop
                case 0x20, 0x09, 0x0A, 0x0D:
                    return .unknown
                default:
                    break
                }
                k += 1
            }
            guard k < n, k > j + 2 else { return .unknown }
            if p[k] == comma {
                i = k + 1
                continue
            }
            // The closing brace of the object, which must end the payload.
            guard k == n - 1, p[k] == UInt8(ascii: "}") else { return .unknown }
            return insertion.map { .insert(at: $0, asLast: false) } ?? .insert(at: k, asLast: true)
        }
    }

    private static func restored(_ value: JSONValue, timestampNs: Int64) -> JSONValue {
        guard case .object(var members) = value, members["ts_ns"] == nil else { return value }
        members["ts_ns"] = .int(timestampNs)
        return .object(members)
    }
}

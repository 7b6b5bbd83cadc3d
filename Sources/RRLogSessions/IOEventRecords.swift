// The storage side of the IO profile: RRLogIOProfile validates, redacts and encodes IO-event
// lines without knowing about storage; here its results become the records a session stores,
// and its complaints `RRLogError`s.

public import RRLogFormat
public import RRLogIOProfile
public import RRLogJSON
public import RRLogStorage

extension IOEventEncoder {
    /// An encoder for appending to the session `reader` reads: its volatile paths and redaction,
    /// so new keys match the ones already stored, and its call indexes continued from the keys
    /// already stored (the k-th identical call of a session gets index k, whichever process
    /// appended it).
    public init(for reader: SessionReader) {
        self.init(volatile: reader.volatilePaths, redaction: reader.redaction)
        counter = reader.restoredCallIndexCounter()
    }

    /// The session annotations that record this encoder's settings (`redaction`, and
    /// `volatile_paths` when there are any): what `SessionReader` reads them back from.
    public var sessionAnnotations: [String: String] {
        var annotations = SessionRedaction.annotations(for: redaction)
        if !volatile.isEmpty { annotations["volatile_paths"] = JSONValue.array(volatile.paths.map { .string($0) }).serialized() }
        return annotations
    }

    /// The record for one parsed line; `location` names the line in errors (made only for one).
    ///
    /// An event's or stream start's stored line carries the `call_index` its key was given, so
    /// that the line and the key say the same thing (whatever index the input line had: it
    /// counted calls in another file or process).
    public mutating func record(for original: JSONValue, location: @autoclosure () -> String) throws(RRLogError) -> RecordInput {
        do throws(IOLineError) { return RecordInput(try encode(original)) } catch {
            throw RRLogError(.malformedInput, error.message, location: location())
        }
    }

    /// The record for one line of JSON text (without its newline): exactly what
    /// `record(for: JSONValue.parse(bytes), location:)` gives, with the same call indexes, and the
    /// same error for a line that is not JSON as `IOEventIngest.add(lineBytes:location:)` throws.
    ///
    /// Lines the fast path proves it writes byte for byte as the tree path would (no escapes
    /// in member names, strings escaped as `JSONWriter` escapes them, numbers already in their
    /// written form, nothing to redact, no volatile paths, no duplicate names, shallow nesting)
    /// are encoded from their bytes without a `JSONValue` tree (RRLogIOProfile's FastIngest.swift);
    /// every other line, and every line that is an error, takes the tree path.
    public mutating func record(forLine bytes: UnsafeRawBufferPointer, location: @autoclosure () -> String) throws(RRLogError) -> RecordInput {
        do throws(IOLineError) { return RecordInput(try encode(line: bytes)) } catch {
            throw RRLogError(.malformedInput, error.message, location: location())
        }
    }
}

extension IOCallIdentity {
    /// Checks the three names against FORMAT-IO-PROFILE.md §2: the key derivation separates them
    /// with U+0000, so a name holding it could make two different calls hash alike. Every writer
    /// (recorder, append, import, servers) checks through this one function.
    public static func validateNames(ioType: String, tool: String, agent: String) throws(RRLogError) {
        if let message = invalidNameMessage(ioType: ioType, tool: tool, agent: agent) {
            throw RRLogError(.invalidArgument, message)
        }
    }
}

extension IOLine {
    /// The line of a record as `view` reads it (see `parse(_:timestampNs:)`).
    public static func parse(_ view: RecordView) -> JSONValue? { parse(view.payload, timestampNs: view.timestampNs) }
}

extension RecordInput {
    /// The record the IO profile encoded.
    package init(_ record: IORecord) {
        self.init(timestampNs: record.timestampNs, kind: record.kind, key: record.key, payload: record.payload)
    }
}

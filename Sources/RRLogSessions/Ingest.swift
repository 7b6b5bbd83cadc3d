import Crypto
import Foundation
public import RRLogCatalog
public import RRLogIOProfile
public import RRLogJSON
public import RRLogStorage
import RRLogFormat

/// The one way IO events written as JSON enter a session: `rrlog append`, `rrlog import` of JSON
/// lines, and the servers built on them. It validates each line, redacts it by the session's
/// rules, gives events their call index in the session (continued from the keys already
/// stored), stores the line with that same index, and appends in batches.
///
/// An ingest is all or nothing. Into a new session it writes a staged session that no listing
/// shows until `commit()`; into an existing one it appends new segments that `discard()` (or
/// any failure before `commit()`) deletes again, leaving the session as it was.
public final class IOEventIngest {
    /// The session being written (for a new session: staged until `commit()`).
    public private(set) var manifest: SessionManifest
    /// Records added so far.
    public private(set) var recordCount = 0
    private let store: Store
    private let writer: SessionWriter
    private let isNew: Bool
    private var encoder: IOEventEncoder
    private var pending: [RecordInput] = []
    private var finished = false
    /// The manifest before this ingest: what `discard()` restores for an existing session.
    private let original: SessionManifest

    /// Records appended to the log per batch.
    public static let batchCount = 4096

    /// Settings of a new session.
    public struct NewSession: Sendable {
        /// Its name (`Store.validateName`).
        public var name: String
        /// One of `Store.sessionTypes`.
        public var type = "recording"
        /// A description.
        public var description = ""
        /// Tags.
        public var tags: [String] = []
        /// Input paths left out of IO keys.
        public var volatile = VolatilePaths()
        /// Redaction of IO events (on by default).
        public var redaction = Redaction.default
        /// More annotations.
        public var annotations: [String: String] = [:]

        /// Settings for a session called `name`.
        public init(name: String) { self.name = name }
    }

    private init(store: Store, manifest: SessionManifest, writer: SessionWriter, encoder: IOEventEncoder, isNew: Bool) {
        self.store = store
        self.manifest = manifest
        self.writer = writer
        self.encoder = encoder
        self.isNew = isNew
        self.original = manifest
    }

    deinit {
        if !finished { discard() }
    }

    /// Starts writing a new session; nothing is visible until `commit()`.
    public static func create(store: Store, session: NewSession, options: LogOptions = LogOptions()) throws(RRLogError) -> IOEventIngest {
        let encoder = IOEventEncoder(volatile: session.volatile, redaction: session.redaction)
        let manifest = try store.createSession(
            name: session.name, type: session.type, description: session.description, tags: session.tags,
            annotations: encoder.sessionAnnotations.merging(session.annotations) { _, given in given }, staged: true)
        let writer: SessionWriter
        do { writer = try store.openWriter(manifest, options: options, staged: true) } catch {
            store.discardStaged(manifest)
            throw error
        }
        return IOEventIngest(store: store, manifest: manifest, writer: writer, encoder: encoder, isNew: true)
    }

    /// Starts appending to the existing session `manifest`: refused unless it is empty or holds
    /// IO events. Its volatile paths and redaction apply, and call indexes continue from the
    /// session's keys. (Many small batches into one session: `IOEventAppender`.)
    public static func append(store: Store, to manifest: SessionManifest, options: LogOptions = LogOptions()) throws(RRLogError) -> IOEventIngest {
        try SessionContent(manifest).checkAccepts(.ioEvents, session: manifest.name)
        let encoder = IOEventEncoder(for: try store.openReader(manifest))
        let writer = try store.openWriter(manifest, options: options)
        var noted = manifest
        // The annotation that says how the IO events are redacted, for sessions written before it.
        if noted.annotations[SessionRedaction.annotation] == nil {
            noted.annotations[SessionRedaction.annotation] = encoder.redaction.isEnabled ? "on" : "off"
        }
        let ingest = IOEventIngest(store: store, manifest: manifest, writer: writer, encoder: encoder, isNew: false)
        ingest.manifest = noted
        return ingest
    }

    /// Adds one parsed line; `location` (`file:line`) names it in errors (made only for one). A
    /// bad line throws and leaves the ingest open: the caller decides to `discard()` (what the
    /// commands do).
    public func add(_ line: JSONValue, location: @autoclosure () -> String) throws(RRLogError) {
        precondition(!finished, "IOEventIngest used after commit or discard")
        pending.append(try encoder.record(for: line, location: location()))
        if pending.count >= Self.batchCount { try flushPending() }
    }

    /// Adds one line of JSON text (without its newline), by `IOEventEncoder.record(forLine:)`:
    /// the same record as parsing the line and adding it, from the line's bytes where it can.
    public func add(lineBytes: UnsafeRawBufferPointer, location: @autoclosure () -> String) throws(RRLogError) {
        precondition(!finished, "IOEventIngest used after commit or discard")
        pending.append(try encoder.record(forLine: lineBytes, location: location()))
        if pending.count >= Self.batchCount { try flushPending() }
    }

    private func flushPending() throws(RRLogError) {
        guard !pending.isEmpty else { return }
        try writer.append(pending)
        recordCount += pending.count
        pending.removeAll(keepingCapacity: true)
    }

    /// Notes annotations to save with the session at `commit()`.
    public func annotate(_ annotations: [String: String]) {
        manifest.annotations.merge(annotations) { _, new in new }
    }

    /// Writes what is pending, seals the log and saves the manifest: a new session appears in
    /// the catalog now. On failure everything this ingest wrote is discarded.
    @discardableResult
    public func commit() throws(RRLogError) -> SessionManifest {
        precondition(!finished, "IOEventIngest committed twice")
        do {
            try flushPending()
            writer.updateAnnotations(manifest.annotations)
            let status = isNew || ["active", "failed", "interrupted"].contains(original.status) ? "completed" : original.status
            manifest = try writer.close(status: status)
            finished = true
            return manifest
        } catch {
            discard()
            throw error
        }
    }

    /// Deletes everything this ingest wrote: a new session is removed whole, an existing one
    /// keeps exactly the records and manifest it had.
    public func discard() {
        guard !finished else { return }
        finished = true
        pending.removeAll()
        if isNew {
            writer.abandon()
            store.discardStaged(manifest)
        } else {
            writer.discardAppended(restoring: original)
        }
    }
}

/// Reads JSON lines from a file or standard input in bounded memory: blocks of 1 MiB, each line
/// handed over as bytes with its number. A line longer than `lineBytesMax` is an error, not an
/// allocation without bound.
public struct JSONLinesReader {
    /// The longest line accepted.
    public static let lineBytesMax = 64 << 20

    /// The index of the first newline in `bytes` at or after `start` (memchr), nil when none.
    static func newline(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard start < bytes.count, let base = bytes.baseAddress else { return nil }
        guard let hit = memchr(base + start, 0x0A, bytes.count - start) else { return nil }
        return base.distance(to: UnsafeRawPointer(hit))
    }

    /// Whether `line` holds only spaces, tabs and carriage returns: a blank line, skipped.
    static func isBlank(_ line: UnsafeRawBufferPointer) -> Bool {
        line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
    }
    /// What is read at a time.
    static let blockBytes = 1 << 20

    /// The name used in errors (`file:line`).
    public let name: String
    private let handle: FileHandle
    private let ownsHandle: Bool
    /// Bytes read so far.
    public private(set) var bytesRead = 0
    /// The SHA-256 of everything read so far, hex, once the input is exhausted.
    public private(set) var sha256Hex: String?
    private var hasher = SHA256()

    /// Opens `path`, or standard input for `-`.
    public init(path: String) throws(RRLogError) {
        if path == "-" {
            handle = FileHandle.standardInput
            ownsHandle = false
            name = "<stdin>"
            return
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw RRLogError(.invalidArgument, "no such file", location: path)
        }
        guard !isDirectory.boolValue else { throw RRLogError(.invalidArgument, "is a directory, not a file", location: path) }
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw RRLogError(.permissionDenied, "cannot read the file (permission denied)", location: path)
        }
        handle = h
        ownsHandle = true
        name = path
    }

    /// Calls `body` with each non-blank line and its number (from 1), in order. Stops at the
    /// first error `body` throws.
    public mutating func forEachLine(
        progress: ((Int) -> Void)? = nil, _ body: (UnsafeRawBufferPointer, Int) throws(RRLogError) -> Void
    ) throws(RRLogError) {
        defer { if ownsHandle { try? handle.close() } }
        var carry: [UInt8] = []
        var lineNumber = 0
        while true {
            let block: Data
            do { block = try handle.read(upToCount: Self.blockBytes) ?? Data() } catch {
                throw RRLogError(.storage, "cannot read: \(error.localizedDescription)", location: name)
            }
            if block.isEmpty { break }
            bytesRead += block.count
            block.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            do {
                try block.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) in
                var start = 0
                while let newline = Self.newline(in: bytes, from: start) {
                    lineNumber += 1
                    if carry.isEmpty {
                        let line = UnsafeRawBufferPointer(rebasing: bytes[start..<newline])
                        if !Self.isBlank(line) { try body(line, lineNumber) }
                    } else {
                        carry.append(contentsOf: bytes[start..<newline])
                        try checkLength(carry.count, line: lineNumber)
                        let line = carry
                        try line.withUnsafeBytes { (line: UnsafeRawBufferPointer) in
                            if !Self.isBlank(line) { try body(line, lineNumber) }
                        }
                        carry.removeAll(keepingCapacity: false)
                    }
                    start = newline + 1
                }
                carry.append(contentsOf: bytes[start...])
                try checkLength(carry.count, line: lineNumber + 1)
                }
            } catch let error as RRLogError {
                throw error
            } catch {
                throw RRLogError(.malformedInput, "\(error)", location: name)
            }
            progress?(bytesRead)
        }
        if !carry.isEmpty {
            lineNumber += 1
            let last = carry
            do {
                try last.withUnsafeBytes { (line: UnsafeRawBufferPointer) in
                    if !Self.isBlank(line) { try body(line, lineNumber) }
                }
            } catch let error as RRLogError {
                throw error
            } catch {
                throw RRLogError(.malformedInput, "\(error)", location: name)
            }
        }
        sha256Hex = Hex.lowercase(hasher.finalize())
    }

    private func checkLength(_ count: Int, line: Int) throws(RRLogError) {
        guard count <= Self.lineBytesMax else {
            throw RRLogError(.malformedInput, "line longer than \(Self.lineBytesMax >> 20) MiB", location: "\(name):\(line)")
        }
    }
}

public import RRLogCatalog
import RRLogIOProfile
public import RRLogJSON
public import RRLogStorage

/// IO events appended to one existing session in batches, through a writer kept open between
/// them: what a server does with a stream of POSTs. Opening a log (recovery's look at every
/// segment), starting a segment and sealing it, and rewriting the session's key index are paid
/// once per appender instead of once per batch, and the batches share segments.
///
/// Each batch is all or nothing, and durable when `append` returns. Every line of it is
/// validated and encoded before the first is stored, so a bad line leaves the session as it
/// was; a failure while storing (a full disk) cuts the log back to where the batch began and
/// closes the appender. Lines pass the same path as `IOEventIngest`'s: the session's volatile
/// paths and redaction, call indexes continued across batches.
///
/// Not thread-safe: one batch at a time (a server holds an appender under a per-session gate).
public final class IOEventAppender {
    /// The session as of the last batch stored.
    public private(set) var manifest: SessionManifest
    /// False once closed, by `close()` or by a batch that could not be stored.
    public private(set) var isOpen = true
    private let store: Store
    private let writer: SessionWriter
    private var encoder: IOEventEncoder
    /// False after a batch was refused half way: its lines counted calls that were never stored,
    /// so the next batch restores the counters from the session first.
    private var countersValid = true
    /// The status the session had before the appender opened, and gets back when it closes.
    private let statusBefore: String

    /// Opens `manifest`'s session for appending: refused unless it is empty or holds IO events,
    /// and while another writer has it (`.busy`).
    public init(store: Store, session manifest: SessionManifest, options: LogOptions = LogOptions()) throws(RRLogError) {
        try SessionContent(manifest).checkAccepts(.ioEvents, session: manifest.name)
        let encoder = IOEventEncoder(for: try store.openReader(manifest))
        writer = try store.openWriter(manifest, options: options)
        if manifest.annotations[SessionRedaction.annotation] == nil {
            // The annotation that says how the IO events are redacted, for sessions written before it.
            writer.updateAnnotations([SessionRedaction.annotation: encoder.redaction.isEnabled ? "on" : "off"])
        }
        self.store = store
        self.encoder = encoder
        self.manifest = writer.currentManifest
        statusBefore = ["active", "failed", "interrupted"].contains(manifest.status) ? "completed" : manifest.status
    }

    deinit {
        if isOpen { _ = try? writer.close(status: statusBefore) }
    }

    /// Appends the IO events of `body`, JSON lines (blank lines skipped); a bad line is an error
    /// naming its number, and nothing of the body is stored. Returns how many were appended.
    public func append(jsonLines body: [UInt8]) async throws(RRLogError) -> Int {
        try prepare()
        var records: [RecordInput] = []
        var failure: RRLogError?
        body.withUnsafeBytes { all in
            var start = 0
            var number = 0
            while start <= all.count {
                let end = JSONLinesReader.newline(in: all, from: start) ?? all.count
                number += 1
                let line = UnsafeRawBufferPointer(rebasing: all[start..<end])
                if !JSONLinesReader.isBlank(line) {
                    do throws(RRLogError) { records.append(try encoder.record(forLine: line, location: "line \(number)")) } catch {
                        failure = error
                        return
                    }
                }
                start = end + 1
            }
        }
        if let failure {
            countersValid = false
            throw failure
        }
        try await commit(records)
        return records.count
    }

    /// Appends parsed IO events; a bad one is an error naming it (`events[i]`), and none is stored.
    public func append(events: [JSONValue]) async throws(RRLogError) -> Int {
        try prepare()
        var records: [RecordInput] = []
        records.reserveCapacity(events.count)
        do throws(RRLogError) {
            for (i, event) in events.enumerated() { records.append(try encoder.record(for: event, location: "events[\(i)]")) }
        } catch {
            countersValid = false
            throw error
        }
        try await commit(records)
        return records.count
    }

    private func prepare() throws(RRLogError) {
        guard isOpen else { throw RRLogError(.invalidArgument, "the IO event appender of session \(manifest.name) is closed") }
        if !countersValid {
            encoder = IOEventEncoder(for: try store.openReader(manifest))
            countersValid = true
        }
    }

    /// Stores one encoded batch durably, or cuts the log back to where it began and closes.
    private func commit(_ records: [RecordInput]) async throws(RRLogError) {
        guard !records.isEmpty else { return }
        let before = manifest
        let mark: LogWriter.AppendMark
        do { mark = try writer.mark() } catch {
            fail(restoring: before, mark: nil)
            throw error
        }
        do throws(RRLogError) {
            try writer.append(records)
            try writer.flush()
            try await writer.waitUntilDurable()
            manifest = try writer.saveProgress()
        } catch {
            fail(restoring: before, mark: mark)
            throw error
        }
    }

    /// After a failed batch: the log cut back to `mark` (or, without one, closed as it is), the
    /// manifest of the last stored batch saved, the appender closed.
    private func fail(restoring before: SessionManifest, mark: LogWriter.AppendMark?) {
        isOpen = false
        var restored = before
        restored.status = statusBefore
        if let mark {
            try? writer.discard(after: mark, restoring: restored)
        } else {
            _ = try? writer.close(status: statusBefore)
        }
    }

    /// Seals the log and saves the session's manifest with its final figures and the status it
    /// had before (a session that was active, failed or interrupted becomes completed).
    @discardableResult
    public func close() throws(RRLogError) -> SessionManifest {
        guard isOpen else { return manifest }
        isOpen = false
        manifest = try writer.close(status: statusBefore)
        return manifest
    }
}

import Foundation
import Synchronization
public import RRLogCatalog
import RRLogIOProfile
public import RRLogStorage

/// Appends records to one session and keeps its manifest's figures. Thread-safe.
public final class SessionWriter: Sendable {
    let store: Store
    let log: LogWriter
    /// The manifest as of the last append, and whether the writer was closed.
    private let state: Mutex<(manifest: SessionManifest, closed: Bool)>

    init(store: Store, manifest: SessionManifest, log: LogWriter) {
        self.store = store
        self.state = Mutex((manifest, false))
        self.log = log
    }

    /// The session's manifest as of the last append.
    public var currentManifest: SessionManifest { state.withLock { $0.manifest } }

    /// What opening the session's log found and repaired (after a crash).
    public var recoveryReport: RecoveryReport { log.recoveryReport }

    /// Appends records in order and returns their sequence numbers.
    @discardableResult
    public func append(_ records: [RecordInput]) throws(RRLogError) -> ClosedRange<UInt64> {
        let range: ClosedRange<UInt64>
        do { range = try log.appendBatch(records) } catch { throw RRLogError(error) }
        note(records)
        return range
    }

    /// Appends one record.
    @discardableResult
    public func append(_ record: RecordInput) throws(RRLogError) -> UInt64 {
        try append([record]).upperBound
    }

    func note(_ records: [RecordInput]) {
        state.withLock { s in
            for r in records {
                s.manifest.countsByKind[RecordKind.name(of: r.kind), default: 0] += 1
                s.manifest.recordCount += 1
                s.manifest.bytesStored += Int64(r.payload.count + (r.key?.count ?? 0))
                s.manifest.startNs = min(s.manifest.startNs ?? r.timestampNs, r.timestampNs)
                s.manifest.endNs = max(s.manifest.endNs ?? r.timestampNs, r.timestampNs)
            }
        }
    }

    /// Makes everything appended so far durable (one fsync shared with concurrent callers).
    public func sync() throws(RRLogError) {
        do { try log.sync() } catch { throw RRLogError(error) }
    }

    /// Writes the open chunk to the file (safe from a crash of this process).
    public func flush() throws(RRLogError) {
        do { try log.flush() } catch { throw RRLogError(error) }
    }

    /// Seals the log, writes the manifest with its final figures and `status`, and returns it.
    @discardableResult
    public func close(status: String = "completed") throws(RRLogError) -> SessionManifest {
        let (m, wasClosed) = state.withLock { s in
            defer { s.closed = true }
            return (s.manifest, s.closed)
        }
        if wasClosed { return m }
        do { try log.close() } catch { throw RRLogError(error) }
        let final = try store.refreshManifest(m, status: status)
        state.withLock { $0.manifest = final }
        return final
    }

    /// Merges `annotations` into the manifest the writer saves when it closes.
    func updateAnnotations(_ annotations: [String: String]) {
        state.withLock { $0.manifest.annotations.merge(annotations) { _, new in new } }
    }

    /// Closes the log and deletes what this writer appended (`LogWriter.discardAppended`), then
    /// saves `original`, the manifest from before the writer opened: the session is left as it
    /// was.
    func discardAppended(restoring original: SessionManifest) {
        guard markClosed() else { return }
        try? log.discardAppended()
        let restored = (try? store.refreshManifest(original, status: original.status)) ?? original
        state.withLock { $0.manifest = restored }
    }

    /// Writes the open chunk and returns where the log ends now (`LogWriter.mark()`): what
    /// `discard(after:restoring:)` cuts back to.
    public func mark() throws(RRLogError) -> LogWriter.AppendMark {
        do { return try log.mark() } catch { throw RRLogError(error) }
    }

    /// Returns once everything appended so far is on stable storage, without blocking a thread;
    /// concurrent callers share fsyncs.
    public func waitUntilDurable() async throws(RRLogError) {
        let last = log.nextSequenceNumber &- 1
        do { try await log.waitUntilDurable(last) } catch { throw RRLogError(error) }
    }

    /// Saves the manifest with the figures of everything appended so far, the log left open:
    /// how a writer kept open between batches shows each batch in listings. Its segments, size
    /// on disk and log key index are brought up to date when it closes.
    @discardableResult
    public func saveProgress() throws(RRLogError) -> SessionManifest {
        let m = state.withLock { $0.manifest }
        try store.save(m)
        return m
    }

    /// Closes the log cut back to `mark` (`LogWriter.discard(after:)`) and saves `original`'s
    /// status with the figures of what the log holds then: a batch appended after the mark is
    /// gone, everything before it stays.
    public func discard(after mark: LogWriter.AppendMark, restoring original: SessionManifest) throws(RRLogError) {
        guard markClosed() else { return }
        do { try log.discard(after: mark) } catch { throw RRLogError(error) }
        let restored = try store.refreshManifest(original, status: original.status)
        state.withLock { $0.manifest = restored }
    }

    /// Releases the log without saving the manifest (a staged session about to be deleted).
    func abandon() {
        if markClosed() { try? log.discardAppended() }
    }

    /// Marks the writer closed; false when it already was (the caller then has nothing to do).
    private func markClosed() -> Bool {
        state.withLock { s in
            defer { s.closed = true }
            return !s.closed
        }
    }

    deinit {
        if !state.withLock({ $0.closed }) { _ = try? close(status: "failed") }
    }
}

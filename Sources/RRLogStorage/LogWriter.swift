import Foundation
public import RRLogFormat
import Synchronization
import SystemPackage

/// One record to append, owning its bytes.
public struct RecordInput: Sendable, Equatable {
    /// Nanoseconds since the epoch.
    public var timestampNs: Int64
    /// The application's record kind.
    public var kind: UInt16
    /// Optional lookup key.
    public var key: [UInt8]?
    /// The record's bytes.
    public var payload: [UInt8]

    /// Makes a record to append.
    public init(timestampNs: Int64, kind: UInt16, key: [UInt8]? = nil, payload: [UInt8]) {
        self.timestampNs = timestampNs
        self.kind = kind
        self.key = key
        self.payload = payload
    }
}

/// The single writer of a log directory. Thread-safe: any number of threads may append; with
/// `Durability.everyBatch` they share fsyncs (group commit). A second writer of the same
/// directory, in this or another process, gets a `.locked` error naming the holder's pid.
public final class LogWriter: @unchecked Sendable {
    // `@unchecked Sendable`: everything below `state` is guarded by `state`. It is a condition
    // variable, not a `Mutex`, because threads wait on it: sealing and closing until a group
    // commit's round ends, a leader gathering its group, the sync thread for tasks.
    private let state = NSCondition()

    /// The log directory.
    public let directory: String
    /// How this writer writes.
    public let options: LogOptions
    /// What opening found and repaired.
    public let recoveryReport: RecoveryReport

    private struct ActiveSegment {
        var fd: CInt
        var id: UInt64
        var path: String
        var baseSequence: UInt64
        var createdMonotonicNs: UInt64
        var sizeBytes: Int
        var recordCount: Int
        var index: SegmentIndexBuilder
    }

    /// The log's lock (`DirectoryLock.lockPath(forLog:)`), held until close.
    private let lock: DirectoryLock
    // Guarded by `state`; the runtime's exclusivity checks are redundant with the lock.
    @exclusivity(unchecked) private var active: ActiveSegment?
    private let chunk: ChunkBuilder
    private let compressor: Compressor
    @exclusivity(unchecked) private var nextSequence: UInt64
    private var nextSegmentID: UInt64
    /// The first segment id this writer may create: segments from here on are its own.
    private var firstOwnSegmentID: UInt64 = 0
    private var writtenSequence: UInt64
    /// Fsyncs shared by the callers that need their records durable.
    private let groupCommit: GroupCommit
    private var closed = false
    private var intervalThread: Thread?

    /// Opens (creating it if needed) the log in `directory`, recovering a damaged last segment as
    /// `options.recovery` says.
    public init(directory: String, options: LogOptions = LogOptions()) throws(StorageError) {
        self.directory = directory
        self.options = options
        try Self.makeDirectories(directory)
        let lockPath = DirectoryLock.lockPath(forLog: directory)
        guard let held = try DirectoryLock.tryAcquire(lockPath, recordingHolder: true) else {
            let holder = DirectoryLock.holder(of: lockPath) ?? "?"
            throw StorageError(.locked, "the log is locked by pid \(holder) (its writer, or a compaction): one writer per log", path: directory)
        }
        lock = held
        chunk = ChunkBuilder(targetSizeBytes: options.effectiveChunkSizeBytes, layout: ChunkLayout.default(for: options.codec))
        compressor = Compressor(codec: options.codec, level: options.zstdLevel)
        do {
            let (report, lastSequence, lastID) = try Recovery.prepareForAppend(directory: directory, mode: options.recovery)
            recoveryReport = report
            nextSequence = lastSequence &+ 1
            nextSegmentID = max(lastID + 1, options.firstSegmentID)
            firstOwnSegmentID = nextSegmentID
        } catch {
            held.release()
            throw error
        }
        writtenSequence = nextSequence &- 1
        groupCommit = GroupCommit(lock: state, policy: options.groupCommit, directory: directory, durableUpTo: nextSequence &- 1)
        if case .interval(let ms) = options.durability { startIntervalSync(milliseconds: max(1, ms)) }
    }

    deinit {
        if !closed { try? close() }
    }

    static func makeDirectories(_ path: String) throws(StorageError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            do { try Sys.makeDirectory(prefix) } catch { throw .system(error, "create the directory", path: prefix) }
        }
        guard Sys.isDirectory(path) else { throw StorageError(.io, "not a directory", path: path) }
    }

    /// Whether a writer has the log in `directory` open now (in any process): false after the
    /// writer closed or its process died (the kernel drops its lock), nil when that cannot be
    /// told. A session marked active without a live writer was left by a crash.
    public static func isOpen(directory: String) -> Bool? {
        DirectoryLock.isHeld(DirectoryLock.lockPath(forLog: directory))
    }

    /// The sequence the next record will get.
    public var nextSequenceNumber: UInt64 {
        state.lock()
        defer { state.unlock() }
        return nextSequence
    }

    /// The highest sequence known to be on stable storage.
    public var durableSequenceNumber: UInt64 {
        state.lock()
        defer { state.unlock() }
        return groupCommit.durableSequence
    }

    // MARK: Appending

    /// Appends one record from borrowed bytes and returns its sequence number. Under
    /// `.everyBatch` it returns once the record is durable.
    @discardableResult
    public func append(
        timestampNs: Int64, kind: UInt16, key: UnsafeRawBufferPointer?, payload: UnsafeRawBufferPointer
    ) throws(StorageError) -> UInt64 {
        state.lock()
        let sequence: UInt64
        do {
            sequence = try appendLocked(timestampNs: timestampNs, kind: kind, key: key, payload: payload)
        } catch {
            state.unlock()
            throw error
        }
        if options.durability == .everyBatch {
            try groupCommit.syncLocked(upTo: sequence, log: self)
        } else {
            state.unlock()
        }
        return sequence
    }

    /// Appends one record and returns its sequence number.
    @discardableResult
    public func append(_ record: RecordInput) throws(StorageError) -> UInt64 {
        try appendBatch([record]).upperBound
    }

    /// Appends records in order, under one lock and (with `.everyBatch`) one wait for durability.
    /// Returns their sequence numbers.
    @discardableResult
    public func appendBatch(_ records: [RecordInput]) throws(StorageError) -> ClosedRange<UInt64> {
        state.lock()
        let first = nextSequence
        var last = first &- 1
        for r in records {
            switch appendLocked(r.timestampNs, r.kind, r.key, r.payload) {
            case .success(let s): last = s
            case .failure(let e):
                state.unlock()
                throw e
            }
        }
        if options.durability == .everyBatch, !records.isEmpty {
            try groupCommit.syncLocked(upTo: last, log: self)
        } else {
            state.unlock()
        }
        return first...max(first, last)
    }

    /// Appends a record keeping its sequence number (recovery and compaction copy records this
    /// way). The sequence must be at least `nextSequenceNumber`; gaps are allowed.
    @discardableResult
    public func appendPreservingSequence(_ record: Record) throws(StorageError) -> UInt64 {
        state.lock()
        guard record.sequence >= nextSequence else {
            let next = nextSequence
            state.unlock()
            throw StorageError(.invalidRecord, "sequence \(record.sequence) is below the log's next sequence \(next)", path: directory)
        }
        if record.sequence != nextSequence {
            // A gap: records of a chunk are consecutive (FORMAT.md §3), so a new chunk starts here.
            do { try closeChunkLocked() } catch {
                state.unlock()
                throw error
            }
            nextSequence = record.sequence
        }
        let outcome = appendLocked(record.timestampNs, record.kind, record.key, record.payload)
        state.unlock()
        let sequence = try outcome.get()
        if options.durability == .everyBatch { try sync(upTo: sequence) }
        return sequence
    }

    /// `appendLocked` for owned bytes.
    private func appendLocked(_ timestampNs: Int64, _ kind: UInt16, _ key: [UInt8]?, _ payload: [UInt8]) -> Result<UInt64, StorageError> {
        var outcome: Result<UInt64, StorageError> = .success(0)
        payload.withUnsafeBytes { p in
            if let key {
                key.withUnsafeBytes { k in
                    outcome = Result { () throws(StorageError) -> UInt64 in try appendLocked(timestampNs: timestampNs, kind: kind, key: k, payload: p) }
                }
            } else {
                outcome = Result { () throws(StorageError) -> UInt64 in try appendLocked(timestampNs: timestampNs, kind: kind, key: nil, payload: p) }
            }
        }
        return outcome
    }

    private func appendLocked(
        timestampNs: Int64, kind: UInt16, key: UnsafeRawBufferPointer?, payload: UnsafeRawBufferPointer
    ) throws(StorageError) -> UInt64 {
        guard !closed else { throw StorageError(.closed, "the writer is closed", path: directory) }
        if let e = RecordCodec.validate(keyCount: key?.count, payloadCount: payload.count) {
            throw StorageError(.invalidRecord, "record not stored: \(e.description)", path: directory)
        }
        let size = FormatConstants.recordHeaderSizeBytes + (key?.count ?? 0) + payload.count
        let indexFull = (active?.index.keyCount ?? 0) >= FormatConstants.keyCountMax - 1
            || (active?.index.chunks.count ?? 0) >= FormatConstants.chunkCountMax - 1
            || options.segmentRecordCountMax.map { (active?.recordCount ?? 0) + chunk.recordCount >= $0 } ?? false
        if chunk.shouldCloseBefore(encodedSizeBytes: size) || indexFull {
            try closeChunkLocked()
            try rollIfNeededLocked()
        }
        if active == nil { try createSegmentLocked() }
        let sequence = nextSequence
        let offset = chunk.append(sequence: sequence, timestampNs: timestampNs, kind: kind, key: key, payload: payload)
        nextSequence &+= 1
        if let key { active!.index.addKey(hash: XXHash64.hash(key), offsetInChunk: offset) }
        if chunk.isFull {
            // A failure here is retried (and reported) by the next append, flush or sync; the
            // record stays in the chunk.
            do {
                try closeChunkLocked()
                try rollIfNeededLocked()
            } catch {}
        }
        return sequence
    }

    private func createSegmentLocked() throws(StorageError) {
        let id = nextSegmentID
        let path = directory + "/" + SegmentFiles.name(for: id)
        let header = SegmentHeader(segmentID: id, baseSequence: nextSequence, createdNs: Sys.nowNs()).encode()
        // The header is written under a temporary name and renamed into place, so a reader never
        // sees a segment file without its header.
        let temp = path + ".new"
        let fd: CInt
        try? Sys.unlink(temp)
        do { fd = try Sys.open(temp, Sys.createExclusive) } catch { throw .system(error, "create a segment", path: temp) }
        do {
            try Sys.pwriteAll(fd, header, at: 0)
            try Sys.fsync(fd)
            try Sys.rename(temp, path)
            try Sys.syncDirectory(directory)
        } catch {
            Sys.close(fd)
            try? Sys.unlink(temp)
            throw .system(error, "write a segment header", path: path)
        }
        nextSegmentID += 1
        active = ActiveSegment(
            fd: fd, id: id, path: path, baseSequence: nextSequence, createdMonotonicNs: Sys.monotonicNs(),
            sizeBytes: header.count, recordCount: 0, index: SegmentIndexBuilder())
    }

    private func closeChunkLocked() throws(StorageError) {
        guard !chunk.isEmpty, let segment = active else { return }
        let offset = segment.sizeBytes
        let outcome: Result<FrameHeader, Errno> = chunk.encodeFrame(compressor: compressor) { header, headerBytes, stored in
            do throws(Errno) {
                try Sys.pwriteAll(segment.fd, headerBytes, at: offset)
                try Sys.pwriteAll(segment.fd, stored, at: offset + headerBytes.count)
                return .success(header)
            } catch {
                return .failure(error)
            }
        }
        let written: FrameHeader
        switch outcome {
        case .success(let h): written = h
        case .failure(let error):
            // Leave the file as it was, so the log stays consistent; the records stay in the
            // chunk and are written by the next attempt.
            try? Sys.ftruncate(segment.fd, offset)
            throw .system(error, "append a chunk", path: segment.path)
        }
        active!.index.addChunk(ChunkIndexEntry(header: written, offset: offset))
        active!.sizeBytes += written.frameLength
        active!.recordCount += Int(written.recordCount)
        writtenSequence = written.firstSequence &+ UInt64(written.recordCount) &- 1
        chunk.reset()
    }

    private func rollIfNeededLocked() throws(StorageError) {
        guard let segment = active else { return }
        var roll = segment.sizeBytes >= options.segmentSizeBytesMax
            || segment.index.keyCount >= FormatConstants.keyCountMax - 1
            || segment.index.chunks.count >= FormatConstants.chunkCountMax - 1
        if let maxCount = options.segmentRecordCountMax, segment.recordCount >= maxCount { roll = true }
        if let maxAge = options.segmentAgeSecondsMax,
            Double(Sys.monotonicNs() - segment.createdMonotonicNs) / 1e9 >= maxAge
        {
            roll = true
        }
        if roll { try sealLocked() }
    }

    private func sealLocked() throws(StorageError) {
        groupCommit.waitForRoundLocked()
        try closeChunkLocked()
        guard let segment = active else { return }
        let tail = IndexRebuilder.tail(segment.index, dataEnd: segment.sizeBytes, baseSequence: segment.baseSequence)
        do {
            try Sys.pwriteAll(segment.fd, tail, at: segment.sizeBytes)
            if options.durability != .none { try Sys.fdatasync(segment.fd) }
        } catch {
            try? Sys.ftruncate(segment.fd, segment.sizeBytes)
            throw .system(error, "seal a segment", path: segment.path)
        }
        Sys.close(segment.fd)
        active = nil
        groupCommit.sealedLocked(durableUpTo: options.durability != .none ? writtenSequence : nil)
    }

    // MARK: Durability

    /// Writes the open chunk to the file (the page cache): it then survives the death of this
    /// process, not of the machine.
    public func flush() throws(StorageError) {
        state.lock()
        defer { state.unlock() }
        try closeChunkLocked()
    }

    /// Makes every record appended so far durable. Concurrent callers share fsyncs.
    public func sync() throws(StorageError) {
        state.lock()
        let target = nextSequence &- 1
        state.unlock()
        try sync(upTo: target)
    }

    /// Returns once `sequence` (and everything before it) is on stable storage. The first caller
    /// to find no fsync under way becomes the leader: it writes the open chunk and fsyncs for
    /// everyone who appended meanwhile (group commit).
    public func sync(upTo sequence: UInt64) throws(StorageError) {
        state.lock()
        try groupCommit.syncLocked(upTo: sequence, log: self)
    }

    /// Waits, without blocking a thread, until `sequence` is durable. Concurrent tasks share
    /// fsyncs, led for all of them by one sync thread.
    public func waitUntilDurable(_ sequence: UInt64) async throws(StorageError) {
        try await groupCommit.waitUntilDurable(sequence, log: self)
    }

    /// Appends one record and waits, without blocking a thread, until it is durable (whatever
    /// `options.durability` says). Concurrent tasks share fsyncs.
    @discardableResult
    public func appendDurably(
        timestampNs: Int64, kind: UInt16, key: UnsafeRawBufferPointer?, payload: UnsafeRawBufferPointer
    ) async throws(StorageError) -> UInt64 {
        let sequence = try appendWithoutWaiting(timestampNs: timestampNs, kind: kind, key: key, payload: payload)
        try await waitUntilDurable(sequence)
        return sequence
    }

    private func appendWithoutWaiting(
        timestampNs: Int64, kind: UInt16, key: UnsafeRawBufferPointer?, payload: UnsafeRawBufferPointer
    ) throws(StorageError) -> UInt64 {
        state.lock()
        defer { state.unlock() }
        return try appendLocked(timestampNs: timestampNs, kind: kind, key: key, payload: payload)
    }

    private func appendWithoutWaiting(_ record: RecordInput) throws(StorageError) -> UInt64 {
        state.lock()
        defer { state.unlock() }
        return try appendLocked(record.timestampNs, record.kind, record.key, record.payload).get()
    }

    /// `appendDurably` for a record that owns its bytes.
    @discardableResult
    public func appendDurably(_ record: RecordInput) async throws(StorageError) -> UInt64 {
        let sequence = try appendWithoutWaiting(record)
        try await waitUntilDurable(sequence)
        return sequence
    }

    private func startIntervalSync(milliseconds: Int) {
        let thread = Thread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
                guard let self else { return }
                self.state.lock()
                let done = self.closed
                let target = self.nextSequence &- 1
                self.state.unlock()
                if done { return }
                try? self.sync(upTo: target)
            }
        }
        thread.name = "rrlog-interval-sync"
        intervalThread = thread
        thread.start()
    }

    // MARK: Closing

    /// Seals the open segment and releases the log. Appends after this fail with `.closed`.
    public func close() throws(StorageError) {
        state.lock()
        defer { state.unlock() }
        guard !closed else { return }
        var failure: StorageError?
        do { try sealLocked() } catch { failure = error }
        closed = true
        try finishClosingLocked(failure, waiters: "the writer closed before the record was made durable")
    }

    /// The end of `close` and `discardAppended`: the directory fsynced (unless `failure` says
    /// the work before failed), waiters released with `waiters` as their error (nobody leads
    /// another fsync now), the lock let go; then `failure`, if any, is thrown.
    private func finishClosingLocked(_ failure: StorageError?, waiters: String) throws(StorageError) {
        var failure = failure
        if failure == nil {
            do { try Sys.syncDirectory(directory) } catch { failure = .system(error, "fsync the log directory", path: directory) }
        }
        groupCommit.closedLocked(failure: StorageError(.closed, waiters, path: directory))
        lock.release()
        if let failure { throw failure }
    }

    /// Closes the log and deletes every segment this writer created, so the log holds what it
    /// held when the writer opened: how an all-or-nothing append undoes itself after a bad
    /// line or a full disk. A writer never appends to a segment it did not create (opening
    /// starts a new one), so the segments before it are untouched. Readers that mapped a deleted
    /// segment keep their mapping until they refresh.
    public func discardAppended() throws(StorageError) {
        // The log as the writer found it: no segment of its own open, none created.
        try discard(after: AppendMark(nextSequence: 0, segment: nil, nextSegmentID: firstOwnSegmentID))
    }

    /// A point the log can be cut back to: where its files ended when `mark()` was called.
    public struct AppendMark: Sendable, Equatable {
        /// The sequence the first record after the mark gets.
        public let nextSequence: UInt64
        /// The segment open at the mark and its size then; nil when none was open.
        let segment: (id: UInt64, sizeBytes: Int)?
        /// Segments from this id on were created after the mark.
        let nextSegmentID: UInt64

        public static func == (a: AppendMark, b: AppendMark) -> Bool {
            a.nextSequence == b.nextSequence && a.nextSegmentID == b.nextSegmentID
                && a.segment?.id == b.segment?.id && a.segment?.sizeBytes == b.segment?.sizeBytes
        }
    }

    /// Writes the open chunk to the file and returns where the log ends now: what
    /// `discard(after:)` cuts back to when a batch appended after it must not stay.
    public func mark() throws(StorageError) -> AppendMark {
        state.lock()
        defer { state.unlock() }
        guard !closed else { throw StorageError(.closed, "the writer is closed", path: directory) }
        try closeChunkLocked()
        return AppendMark(nextSequence: nextSequence, segment: active.map { ($0.id, $0.sizeBytes) }, nextSegmentID: nextSegmentID)
    }

    /// Closes the log and cuts it back to `mark`, so it holds exactly what it held then: how a
    /// writer kept open across batches undoes a batch that failed half way (a full disk).
    /// Segments created since are deleted; the segment open at the mark is cut to its size
    /// then (sealed since, it is rewritten under a new inode instead, as a reader may have
    /// mapped it), and the next writer to open the log reseals it, as after a crash.
    public func discard(after mark: AppendMark) throws(StorageError) {
        state.lock()
        defer { state.unlock() }
        guard !closed else { throw StorageError(.closed, "the writer is closed: nothing to discard", path: directory) }
        groupCommit.waitForRoundLocked()
        var failure: StorageError?
        let stillOpen = mark.segment != nil && active?.id == mark.segment?.id
        if let segment = active {
            if stillOpen, let size = mark.segment?.sizeBytes {
                // Unsealed segments are read by copying them (`LogReader`), never mapped whole.
                do {
                    try Sys.ftruncate(segment.fd, size)
                    try Sys.fdatasync(segment.fd)
                } catch {
                    failure = .system(error, "cut a segment back", path: segment.path)
                }
            }
            Sys.close(segment.fd)
            active = nil
        }
        chunk.reset()
        closed = true
        do {
            for (id, path) in try SegmentFiles.list(directory) where id >= mark.nextSegmentID {
                do { try Sys.unlink(path) } catch { failure = failure ?? .system(error, "delete a discarded segment", path: path) }
            }
        } catch {
            failure = failure ?? error
        }
        if let (id, size) = mark.segment, !stillOpen, failure == nil {
            do throws(StorageError) { try Self.rewritePrefix(of: directory + "/" + SegmentFiles.name(for: id), keeping: size) } catch { failure = error }
        }
        try finishClosingLocked(failure, waiters: "the writer discarded the records after its mark")
    }

    /// Replaces the file at `path` with its first `count` bytes, through a new file renamed
    /// over it: mappings of the old file stay whole.
    private static func rewritePrefix(of path: String, keeping count: Int) throws(StorageError) {
        let temp = path + ".new"
        do throws(Errno) {
            let source = try Sys.open(path, Sys.readOnly)
            defer { Sys.close(source) }
            let bytes = try Sys.pread(source, count: count, at: 0)
            guard bytes.count == count else { throw Errno.ioError }
            try? Sys.unlink(temp)
            let fd = try Sys.open(temp, Sys.createExclusive)
            defer { Sys.close(fd) }
            try Sys.pwriteAll(fd, bytes, at: 0)
            try Sys.fsync(fd)
            try Sys.rename(temp, path)
        } catch {
            try? Sys.unlink(temp)
            throw .system(error, "cut a sealed segment back", path: path)
        }
    }

    /// Seals the open segment now (the next append starts a new one).
    public func roll() throws(StorageError) {
        state.lock()
        defer { state.unlock() }
        try sealLocked()
    }
}

extension LogWriter: GroupCommitLog {
    var lastAppendedLocked: UInt64 { nextSequence &- 1 }
    var lastWrittenLocked: UInt64 { writtenSequence }
    var isClosedLocked: Bool { closed }

    func writeForSyncLocked() throws(StorageError) -> GroupCommitTarget {
        try closeChunkLocked()
        return GroupCommitTarget(fd: active?.fd, path: active?.path ?? directory, writtenUpTo: writtenSequence)
    }
}

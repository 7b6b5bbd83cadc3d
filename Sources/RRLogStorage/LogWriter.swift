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

/// One caller of `LogWriter.sync(upTo:)` waiting for an fsync under way. Its fields are guarded
/// by the writer's lock until `wake` is signalled, and read by the waiter only after that.
private final class DurabilityWaiter: @unchecked Sendable {
    let sequence: UInt64
    let wake = DispatchSemaphore(value: 0)
    /// Set (releasing) after `failure` and `lead`, just before `wake` is signalled: a waiter that
    /// sees it while spinning needs no wake-up.
    let released = Atomic<Bool>(false)
    var failure: StorageError?
    /// Woken to lead the next fsync, not because the record is durable.
    var lead = false

    init(sequence: UInt64) { self.sequence = sequence }

    /// Waits until released: first yielding the CPU in a loop for `spinNs` (none when 0), then
    /// asleep on `wake`. A release seen while spinning leaves `wake` signalled once; nobody waits
    /// on it again. One that comes after the loop has signalled (or will signal) `wake`.
    func wait(spinNs: UInt64) {
        if spinNs > 0 {
            let deadline = Sys.monotonicNs() &+ spinNs
            while Sys.monotonicNs() < deadline {
                if released.load(ordering: .acquiring) { return }
                Sys.yield()
            }
        }
        wake.wait()
    }

    func release() {
        released.store(true, ordering: .releasing)
        wake.signal()
    }
}

/// A task waiting in `LogWriter.waitUntilDurable`.
private struct AsyncDurabilityWaiter {
    let sequence: UInt64
    let continuation: CheckedContinuation<Result<Void, StorageError>, Never>
}

/// The single writer of a log directory. Thread-safe: any number of threads may append; with
/// `Durability.everyBatch` they share fsyncs (group commit). A second writer of the same
/// directory, in this or another process, gets a `.locked` error naming the holder's pid.
public final class LogWriter: @unchecked Sendable {
    // Everything below `state` is guarded by `state` (an NSCondition used as a mutex and to wake
    // appenders waiting for a group commit).
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
    private var durableSequence: UInt64
    private var syncing = false
    // Group commit bookkeeping (guarded by `state`): see `gatherLocked()`.
    private var waiters: [DurabilityWaiter] = []
    /// Waiters to signal once `state` is released (`unlockAndWake`).
    private var wakes: [DurabilityWaiter] = []
    private var asyncWaiters: [AsyncDurabilityWaiter] = []
    private var syncThreadRunning = false
    private var lastAsyncGroup = 0
    private var lastGroupSize = 0
    private var returnedSinceRelease = 0
    private var gathering = false
    private var lastSyncNs: UInt64 = 0
    /// A moving average of fsync durations (each new one weighs 1/16; 0 before the first), which
    /// decides whether waiters spin: one slow fsync among fast ones does not change the policy.
    private var typicalSyncNs: UInt64 = 0
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
        durableSequence = nextSequence &- 1
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
        return durableSequence
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
            try syncLocked(upTo: sequence)
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
            try syncLocked(upTo: last)
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
        // Wait first: while a leader fsyncs (or gathers its group), other appenders may add to
        // the open chunk, and the chunk must be written before the tail.
        while syncing { state.wait() }
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
        if options.durability != .none { durableSequence = max(durableSequence, writtenSequence) }
        Sys.close(segment.fd)
        active = nil
        releaseWaitersLocked(failure: nil, coveredUpTo: 0)
        wakeNowLocked()
        state.broadcast()
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
        try syncLocked(upTo: sequence)
    }

    /// `sync(upTo:)` entered with `state` held; returns (or throws) with it released.
    ///
    /// Group commit: a caller that finds no fsync under way leads one, and gathers first (see
    /// `gatherLocked`). The others each wait on their own semaphore, which the leader signals
    /// once their record is durable, so a finished fsync wakes exactly the callers it covers and
    /// none of them needs the lock to return. When callers remain that the fsync did not cover,
    /// the first of them is woken to lead the next one.
    private func syncLocked(upTo sequence: UInt64) throws(StorageError) {
        if durableSequence >= min(sequence, nextSequence &- 1) {
            state.unlock()
            return
        }
        returnedSinceRelease &+= 1
        if gathering && returnedSinceRelease >= lastGroupSize { state.broadcast() }
        while syncing {
            let waiter = DurabilityWaiter(sequence: min(sequence, nextSequence &- 1))
            waiters.append(waiter)
            let spin = spinBudgetLocked()
            state.unlock()
            waiter.wait(spinNs: spin)
            if let failure = waiter.failure { throw failure }
            if !waiter.lead { return }
            state.lock()
            if durableSequence >= min(sequence, nextSequence &- 1) {
                state.unlock()
                return
            }
        }
        syncing = true
        gatherLocked()
        let segment: ActiveSegment
        do {
            try closeChunkLocked()
            guard let s = active else {
                // Everything was sealed (and fsynced when durability asks for it).
                durableSequence = max(durableSequence, writtenSequence)
                endRoundLocked(failure: nil, coveredUpTo: writtenSequence)
                unlockAndWake()
                return
            }
            segment = s
        } catch {
            endRoundLocked(failure: error, coveredUpTo: writtenSequence)
            unlockAndWake()
            throw error
        }
        let target = writtenSequence
        let groupSize = 1 + waiters.count
        state.unlock()
        let started = Sys.monotonicNs()
        var failure: Errno?
        do { try Sys.fdatasync(segment.fd) } catch { failure = error }
        let took = Sys.monotonicNs() &- started
        state.lock()
        lastSyncNs = took
        typicalSyncNs = typicalSyncNs == 0 ? max(took, 1) : (typicalSyncNs &* 15 &+ took) / 16
        lastGroupSize = groupSize
        returnedSinceRelease = 0
        if failure == nil { durableSequence = max(durableSequence, target) }
        let error = failure.map { StorageError.system($0, "fsync", path: segment.path) }
        endRoundLocked(failure: error, coveredUpTo: target)
        unlockAndWake()
        if let error { throw error }
    }

    /// How long a waiter spins before it sleeps (`LogOptions.durableWait`, `DurableWait.spinBudgetNs`).
    /// Spinning from an earlier timed sleep instead was tried and lost the gain: the timer's
    /// wake-up is as slow as the semaphore's.
    private func spinBudgetLocked() -> UInt64 {
        options.durableWait.spinBudgetNs(typicalSyncNs: typicalSyncNs)
    }

    /// Ends a leader's round: wakes the waiters it made durable (or, when it failed, the ones
    /// its fsync was for, with the error) and hands the lead to the first waiter left.
    private func endRoundLocked(failure: StorageError?, coveredUpTo covered: UInt64) {
        syncing = false
        releaseWaitersLocked(failure: failure, coveredUpTo: covered)
        if !waiters.isEmpty {
            let next = waiters.removeFirst()
            next.lead = true
            wakes.append(next)
        }
        state.broadcast()
    }

    /// Releases `state`, then signals the waiters collected in `wakes`: a waiter signalled while
    /// the lock is held would run only to block on it. With 16 appender threads on 2 vCPUs this
    /// took them from 6.1x to 8.2x one appender (BENCHMARKS.md, append-durable). Waking them as a
    /// binary tree (each woken waiter waking two more) was tried and gave the same 8.0x: the
    /// wake-ups cost CPU, not a serial chain.
    ///
    /// The list moves into a local while the lock is held: once it is released another round
    /// may end and collect waiters of its own.
    private func unlockAndWake() {
        var woken: [DurabilityWaiter] = []
        swap(&woken, &wakes)
        state.unlock()
        for waiter in woken { waiter.release() }
    }

    /// Signals the collected waiters at once, with `state` held (sealing and closing, which are rare).
    private func wakeNowLocked() {
        for waiter in wakes { waiter.release() }
        wakes.removeAll(keepingCapacity: true)
    }

    /// Wakes the waiters whose records are durable, and with a failure those up to `covered`.
    private func releaseWaitersLocked(failure: StorageError?, coveredUpTo covered: UInt64) {
        guard !waiters.isEmpty else { return }
        var kept = 0
        for waiter in waiters {
            if waiter.sequence <= durableSequence {
                wakes.append(waiter)
            } else if let failure, waiter.sequence <= covered {
                waiter.failure = failure
                wakes.append(waiter)
            } else {
                waiters[kept] = waiter
                kept += 1
            }
        }
        waiters.removeLast(waiters.count - kept)
    }

    /// Before a leader fsyncs, waits briefly for the appenders the previous fsync released to
    /// append again, so that they share this fsync. Without it, appenders that each wait for
    /// their own record settle into two groups that take turns (one appends while the other's
    /// fsync runs), and every fsync carries half of them. The wait ends when as many callers
    /// have come back as the previous fsync released, or after half the previous fsync's
    /// duration (a whole one when waiters spin, `LogOptions.durableWait`, since they come back
    /// sooner; at most 1 ms). A lone appender never waits: it is the one that came back.
    private func gatherLocked() {
        guard lastGroupSize > 1, returnedSinceRelease < lastGroupSize, lastSyncNs > 0 else { return }
        let spins = spinBudgetLocked() > 0
        let waitNs = min(spins ? lastSyncNs : lastSyncNs / 2, 1_000_000)
        if spins {
            // The waiters spin, so the leader does too: one that slept here would need a
            // wake-up of its own from the last appender to come back.
            let deadline = Sys.monotonicNs() &+ waitNs
            while returnedSinceRelease < lastGroupSize, !closed, Sys.monotonicNs() < deadline {
                state.unlock()
                Sys.yield()
                state.lock()
            }
            return
        }
        let deadline = Date(timeIntervalSinceNow: Double(waitNs) / 1e9)
        gathering = true
        while returnedSinceRelease < lastGroupSize, !closed {
            if !state.wait(until: deadline) { break }
        }
        gathering = false
    }

    /// Waits, without blocking a thread, until `sequence` is durable. Waiting tasks are served by
    /// one sync thread that leads group commits for all of them, and resumed when the fsync that
    /// covers them returns, so many tasks share each fsync and waking them costs no thread switch.
    public func waitUntilDurable(_ sequence: UInt64) async throws(StorageError) {
        let result: Result<Void, StorageError> = await withCheckedContinuation { continuation in
            state.lock()
            if durableSequence >= min(sequence, nextSequence &- 1) {
                state.unlock()
                continuation.resume(returning: .success(()))
                return
            }
            if closed {
                state.unlock()
                continuation.resume(returning: .failure(StorageError(.closed, "the writer is closed", path: directory)))
                return
            }
            asyncWaiters.append(AsyncDurabilityWaiter(sequence: min(sequence, nextSequence &- 1), continuation: continuation))
            if syncThreadRunning {
                state.broadcast()
                state.unlock()
            } else {
                syncThreadRunning = true
                state.unlock()
                startSyncThread()
            }
        }
        try result.get()
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

    /// The thread that fsyncs for waiting tasks. It leads (or joins) a group commit up to the
    /// highest sequence awaited, resumes every task it made durable, and ends after 50 ms without
    /// waiters (it holds the writer only while it runs).
    private func startSyncThread() {
        let thread = Thread { [self] in
            state.lock()
            while true {
                if asyncWaiters.isEmpty {
                    let idleUntil = Date(timeIntervalSinceNow: 0.05)
                    while asyncWaiters.isEmpty && !closed {
                        if !state.wait(until: idleUntil) { break }
                    }
                    if asyncWaiters.isEmpty {
                        syncThreadRunning = false
                        state.unlock()
                        return
                    }
                }
                // As in `gatherLocked`: let the tasks the last fsync resumed append again first, so
                // that they share the next fsync instead of taking turns in two groups.
                if lastAsyncGroup > 1 && asyncWaiters.count < lastAsyncGroup && lastSyncNs > 0 {
                    let deadline = Date(timeIntervalSinceNow: Double(min(lastSyncNs / 2, 1_000_000)) / 1e9)
                    while asyncWaiters.count < lastAsyncGroup && !closed {
                        if !state.wait(until: deadline) { break }
                    }
                }
                let target = asyncWaiters.reduce(0) { max($0, $1.sequence) }
                var failure: StorageError?
                if case .failure(let error) = Result(catching: { () throws(StorageError) in try syncLocked(upTo: target) }) { failure = error }
                state.lock()
                if closed && failure == nil && durableSequence < target {
                    failure = StorageError(.closed, "the writer closed before the record was made durable", path: directory)
                }
                var ready: [AsyncDurabilityWaiter] = []
                var kept = 0
                for waiter in asyncWaiters {
                    if waiter.sequence <= durableSequence || (failure != nil && waiter.sequence <= target) {
                        ready.append(waiter)
                    } else {
                        asyncWaiters[kept] = waiter
                        kept += 1
                    }
                }
                asyncWaiters.removeLast(asyncWaiters.count - kept)
                lastAsyncGroup = ready.count
                state.unlock()
                for waiter in ready { waiter.continuation.resume(returning: failure.map { .failure($0) } ?? .success(())) }
                state.lock()
            }
        }
        thread.name = "rrlog-sync"
        thread.start()
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
        releaseWaitersLocked(failure: StorageError(.closed, waiters, path: directory), coveredUpTo: .max)
        wakeNowLocked()
        lock.release()
        state.broadcast()
        if let failure { throw failure }
    }

    /// Closes the log and deletes every segment this writer created, so the log holds what it
    /// held when the writer opened: how an all-or-nothing append undoes itself after a bad
    /// line or a full disk. A writer never appends to a segment it did not create (opening
    /// starts a new one), so the segments before it are untouched. Readers that mapped a deleted
    /// segment keep their mapping until they refresh.
    public func discardAppended() throws(StorageError) {
        state.lock()
        defer { state.unlock() }
        guard !closed else { throw StorageError(.closed, "the writer is closed: nothing to discard", path: directory) }
        while syncing { state.wait() }
        if let segment = active {
            Sys.close(segment.fd)
            active = nil
        }
        closed = true
        var failure: StorageError?
        do {
            for (id, path) in try SegmentFiles.list(directory) where id >= firstOwnSegmentID {
                do { try Sys.unlink(path) } catch { failure = failure ?? .system(error, "delete a discarded segment", path: path) }
            }
        } catch {
            failure = error
        }
        try finishClosingLocked(failure, waiters: "the writer discarded its records")
    }

    /// Seals the open segment now (the next append starts a new one).
    public func roll() throws(StorageError) {
        state.lock()
        defer { state.unlock() }
        try sealLocked()
    }
}

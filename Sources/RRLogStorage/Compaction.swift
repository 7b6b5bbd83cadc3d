import SystemPackage

/// The steps of a compaction, in the order it reaches them (FORMAT.md §9 "The session
/// directory"). A crash at any of them leaves either the whole old log or the whole new one at
/// the log's path; `LogCompaction.recoverInterrupted` cleans up what is left beside it.
public enum CompactionPhase: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The log's lock is held and the log opened; nothing is written yet.
    case locked
    /// About half the records are copied into the new directory beside the log.
    case copying
    /// The new log is complete, sealed, indexed and durable beside the old one.
    case written
    /// The two directories are exchanged: the log's path names the new log. The exchange may
    /// not be durable yet.
    case switched
    /// The exchange is durable.
    case durable
    /// The caller's commit (the session manifest) is done; the old log is still whole beside.
    case committed
    /// About half the old log's files are deleted.
    case removing
    /// The old log is gone; the lock is still held.
    case finished

    public var description: String { rawValue }
}

/// Rewrites a log into a new directory beside it and puts the new directory in the old one's
/// place in one atomic step, `renameat2(RENAME_EXCHANGE)` (FORMAT.md §9 "The session
/// directory" says why this and not a pointer file).
///
/// The log keeps its path, so nothing that names it changes; a crash at any instant leaves the
/// whole old or the whole new log there; a reader opened at any moment reads one of them
/// whole, without waiting (`LogReader.refresh`). The log's lock (`DirectoryLock`) is held from
/// start to end: writers, other compactions and removal are kept out, and the cleanup of an
/// interrupted compaction never touches the files of one that is running.
public final class LogCompaction {
    /// The log directory.
    public let directory: String
    /// Where the new log is written, and where the old one lies after the switch until deleted:
    /// `directory` + `stagingSuffix`.
    public let stagingDirectory: String
    /// The log before the compaction: what is copied.
    public let source: LogReader
    /// True when opening found and cleaned up an interrupted compaction's leftovers: whatever
    /// describes the log (a session manifest) may be out of date.
    public private(set) var recoveredInterrupted = false

    private let lock: DirectoryLock
    private var stagingLock: DirectoryLock?
    private let observer: ((CompactionPhase) throws(StorageError) -> Void)?
    /// Set when `observer` threw: the compaction stops where it is, as a crash would.
    private var abandoned = false
    private var ran = false

    /// The suffix of the directory a compaction writes beside the log.
    public static let stagingSuffix = ".compact"
    /// The suffix of the old log in the two-rename switch of format versions before the exchange;
    /// recovery still finishes such a switch.
    static let legacyOldSuffix = ".old"

    /// Takes the log's lock (`.locked`, naming the holder's pid, when a writer or another
    /// compaction has it), cleans up an interrupted compaction, and opens the log.
    ///
    /// `observer` is told each phase as it is reached. An error it throws stops the compaction
    /// right there, with no cleanup, as a crash would (crash tests use it); the lock is released
    /// and the next `recoverInterrupted` finishes the job.
    public init(directory: String, observer: ((CompactionPhase) throws(StorageError) -> Void)? = nil) throws(StorageError) {
        self.directory = directory
        self.stagingDirectory = directory + LogCompaction.stagingSuffix
        self.observer = observer
        if !SegmentFiles.exists(directory) {
            recoveredInterrupted = try LogCompaction.recoverInterrupted(directory: directory)
        }
        let lockPath = DirectoryLock.lockPath(forLog: directory)
        guard let lock = try DirectoryLock.tryAcquire(lockPath, recordingHolder: true) else {
            throw StorageError(
                .locked, "the log is locked by pid \(DirectoryLock.holder(of: lockPath) ?? "?") (its writer, or another compaction)", path: directory)
        }
        self.lock = lock
        // With the log's lock held, nothing beside the log is in use.
        if try LogCompaction.removeLeftovers(directory) { recoveredInterrupted = true }
        source = try LogReader(path: directory)
    }

    /// Releases the locks (also done when the compaction is dropped).
    public func release() {
        stagingLock?.release()
        lock.release()
    }

    deinit { release() }

    /// Copies every record into a new log written with `options` (its durability and first
    /// segment id are the compaction's own), switches it in, lets the caller `commit` what
    /// describes the log (with the new log in place and the old one still beside it), then
    /// deletes the old log. Returns the records copied.
    ///
    /// `commit` returning false leaves the old log beside the new one, so that the next
    /// `recoverInterrupted` runs its `whileLocked` (which commits again). A failure before the
    /// switch deletes the new log and leaves the old one as it was. Runs once.
    @discardableResult
    public func run(options: LogOptions, progress: ((Int) -> Void)? = nil, commit: () -> Bool) throws(StorageError) -> Int {
        guard !ran else { throw StorageError(.closed, "this compaction has already run", path: directory) }
        ran = true
        try report(.locked)
        let copied = try writeNewLog(options: options, progress: progress)
        try switchLogs()
        guard commit() else { return copied }
        try report(.committed)
        try LogDirectory.remove(stagingDirectory) { () throws(StorageError) in try self.report(.removing) }
        try report(.finished)
        return copied
    }

    /// Puts a log made of `files` (name and bytes: a remote log's `remote.rrix` and what goes
    /// with it, `RemoteLogs`) in the log's place, the way `run` puts a compacted log there: the
    /// files written and made durable beside the log, exchanged in one step, `commit` run, the
    /// old log deleted. A crash leaves the old log or the new one whole. Runs once.
    public func replace(with files: [(name: String, bytes: [UInt8])], commit: () -> Bool) throws(StorageError) {
        guard !ran else { throw StorageError(.closed, "this compaction has already run", path: directory) }
        ran = true
        try report(.locked)
        try LogDirectory.remove(stagingDirectory)
        do throws(StorageError) {
            do { try Sys.makeDirectory(stagingDirectory) } catch { throw .system(error, "create the new log directory", path: stagingDirectory) }
            for file in files {
                guard !file.name.contains("/"), file.name != ".", file.name != ".." else {
                    throw StorageError(.invalidRecord, "'\(file.name)' cannot name a file of a log", path: stagingDirectory)
                }
                try AtomicFile.save(file.bytes, to: stagingDirectory + "/" + file.name)
            }
            try LogDirectory.makeDurable(stagingDirectory)
            try lockStaging()
        } catch {
            if !abandoned { try? LogDirectory.remove(stagingDirectory) }
            throw error
        }
        try report(.written)
        try switchLogs()
        guard commit() else { return }
        try report(.committed)
        try LogDirectory.remove(stagingDirectory) { () throws(StorageError) in try self.report(.removing) }
        try report(.finished)
    }

    /// Takes the new log's lock, so that it is locked before anyone can see it at the log's path.
    private func lockStaging() throws(StorageError) {
        guard let staged = try DirectoryLock.tryAcquire(DirectoryLock.lockPath(forLog: stagingDirectory), recordingHolder: true) else {
            throw StorageError(.locked, "the new log is locked by another process", path: stagingDirectory)
        }
        stagingLock = staged
    }

    private func report(_ phase: CompactionPhase) throws(StorageError) {
        guard let observer else { return }
        do { try observer(phase) } catch {
            abandoned = true
            throw error
        }
    }

    /// Writes the new log into `stagingDirectory`: records copied with their sequences, every
    /// file fsynced, the log key index written, and its lock taken, so that it is complete and
    /// locked before anyone can see it at the log's path.
    private func writeNewLog(options: LogOptions, progress: ((Int) -> Void)?) throws(StorageError) -> Int {
        try LogDirectory.remove(stagingDirectory)
        var options = options
        // Ids above the old log's, so that no file of the new log has the name of an old one.
        options.firstSegmentID = max(options.firstSegmentID, (source.segments.map(\.id).max() ?? 0) + 1)
        // Every file is fsynced once, at the end, before the switch.
        options.durability = .none
        var copied = 0
        do throws(StorageError) {
            let writer = try LogWriter(directory: stagingDirectory, options: options)
            let half = source.recordCount / 2
            var failure: StorageError?
            let lost = source.forEachRecord { view in
                if copied == half {
                    do throws(StorageError) { try report(.copying) } catch {
                        failure = error
                        return false
                    }
                }
                do throws(StorageError) { try writer.appendPreservingSequence(view.makeRecord()) } catch {
                    failure = error
                    return false
                }
                copied += 1
                if copied % 65536 == 0 { progress?(copied) }
                return true
            }
            if let failure { throw failure }
            if copied == 0 { try report(.copying) }
            if !lost.isEmpty {
                throw StorageError(.corrupt, "damaged data in the log (\(lost[0])); run 'rrlog verify' and 'rrlog recover' first", path: directory)
            }
            try writer.close()
            try LogDirectory.makeDurable(stagingDirectory)
            try LogReader(path: stagingDirectory).writeKeyIndex()
            try lockStaging()
        } catch {
            if !abandoned { try? LogDirectory.remove(stagingDirectory) }
            throw error
        }
        try report(.written)
        return copied
    }

    /// Exchanges the log and the new log in one step, then makes the exchange durable.
    private func switchLogs() throws(StorageError) {
        do { try Sys.exchange(stagingDirectory, directory) } catch {
            try? LogDirectory.remove(stagingDirectory)
            if error == .invalidArgument || error == .notSupported || error == .noFunction {
                throw StorageError(
                    .io, "this file system cannot exchange two directories in one step (renameat2 RENAME_EXCHANGE: \(error)), "
                        + "which compaction needs to stay crash-safe; the log is unchanged", path: directory, errno: error.rawValue)
            }
            throw .system(error, "switch in the compacted log", path: directory)
        }
        try report(.switched)
        let parent = Self.parent(of: directory)
        do { try Sys.syncDirectory(parent) } catch { throw .system(error, "fsync the directory of the switched log", path: parent) }
        try report(.durable)
    }

    /// Finishes or undoes a compaction that a crash interrupted, so the log's path holds one
    /// whole log and nothing is left beside it: the new log if the switch happened, the old one
    /// if not. Returns true when there was something to clean up; `whileLocked` then runs,
    /// holding the log's lock, to bring up to date whatever describes the log (the session
    /// manifest), since the log may now be the new one. False, touching nothing, when there was
    /// nothing or when the log's lock is held (a writer or a compaction is running).
    ///
    /// Also finishes the two-rename switch of earlier versions (`log.old`, and between the
    /// renames no `log` at all), so stores they left open as they were.
    @discardableResult
    public static func recoverInterrupted(directory: String, whileLocked: () -> Void = {}) throws(StorageError) -> Bool {
        let staging = directory + stagingSuffix
        let legacyOld = directory + legacyOldSuffix
        guard SegmentFiles.exists(staging) || SegmentFiles.exists(legacyOld) else { return false }
        if !SegmentFiles.exists(directory) {
            // Only the earlier two-rename switch leaves no log: killed between its renames, it
            // had moved the log to `.old`, and its `.compact`, written and closed before the
            // renames, was complete. Finish its second rename (or, without `.compact`, undo
            // the first).
            let candidate = SegmentFiles.exists(staging) ? staging : legacyOld
            guard let held = try DirectoryLock.tryAcquire(DirectoryLock.lockPath(forLog: candidate), recordingHolder: true) else { return false }
            defer { held.release() }
            if !SegmentFiles.exists(directory) {
                do {
                    try Sys.rename(candidate, directory)
                    try Sys.syncDirectory(parent(of: directory))
                } catch {
                    throw .system(error, "finish an interrupted compaction's switch", path: directory)
                }
            }
        }
        guard let held = try DirectoryLock.tryAcquire(DirectoryLock.lockPath(forLog: directory), recordingHolder: true) else { return false }
        defer { held.release() }
        guard try removeLeftovers(directory) else { return false }
        whileLocked()
        return true
    }

    /// Deletes what an interrupted compaction left beside the log (the caller holds the log's
    /// lock). True when there was something.
    static func removeLeftovers(_ directory: String) throws(StorageError) -> Bool {
        var found = false
        for leftover in [directory + stagingSuffix, directory + legacyOldSuffix] where SegmentFiles.exists(leftover) {
            try LogDirectory.remove(leftover)
            found = true
        }
        return found
    }

    /// The directory that holds `path`.
    static func parent(of path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropLast()
        let joined = parts.joined(separator: "/")
        return joined.isEmpty ? (path.hasPrefix("/") ? "/" : ".") : joined
    }
}

/// A crash on purpose, for crash tests that stop a command at a chosen point.
public enum ProcessCrash {
    /// Ends this process at once with SIGKILL: no cleanup, flush, deinit or exit handler runs,
    /// and the kernel drops its locks, exactly as when it is killed from outside.
    public static func now() -> Never { Sys.killSelf() }
}

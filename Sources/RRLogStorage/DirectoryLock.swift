import Synchronization
import SystemPackage

/// An exclusive advisory lock on a file (created 0600 if missing), held until `release()` or
/// deinit; the kernel drops it when the holding process dies, so a crash never leaves a session
/// locked.
///
/// The one lock of a log: its `LOCK` file (`lockPath(forLog:)`) is held by the log's writer, by
/// a compaction for its whole run, by `Store.remove`, and by the cleanup of an interrupted
/// compaction, so none of them overlaps another.
public final class DirectoryLock: Sendable {
    private let descriptor: Mutex<CInt?>
    /// The lock file.
    public let path: String

    private init(path: String, fd: CInt) {
        self.path = path
        self.descriptor = Mutex(fd)
    }

    /// The lock file of the log in `directory`: the one its writer holds.
    public static func lockPath(forLog directory: String) -> String { directory + "/LOCK" }

    /// Takes the lock at `path` without waiting; nil when another holder has it.
    public static func tryAcquire(_ path: String) throws(StorageError) -> DirectoryLock? {
        try tryAcquire(path, recordingHolder: false)
    }

    /// Takes the lock at `path` without waiting; nil when another holder has it. With
    /// `recordingHolder`, this process's id is written into the file, so that a process refused
    /// the lock can say who holds it (`holder(of:)`).
    ///
    /// A compaction replaces a log's directory, and with it the lock file: a lock taken on a
    /// file that the path no longer names would guard nothing, so the lock is taken again on
    /// the file the path names now.
    public static func tryAcquire(_ path: String, recordingHolder: Bool) throws(StorageError) -> DirectoryLock? {
        while true {
            let fd: CInt
            do { fd = try Sys.open(path, Sys.createOrOpen) } catch { throw .system(error, "open a lock file", path: path) }
            do {
                guard try Sys.tryLockExclusive(fd) else {
                    Sys.close(fd)
                    return nil
                }
            } catch {
                Sys.close(fd)
                throw .system(error, "lock", path: path)
            }
            let held: FileIdentity
            do { held = try Sys.identity(fd) } catch {
                Sys.close(fd)
                throw .system(error, "check a lock file", path: path)
            }
            guard let named = Sys.identity(path: path), named.isSameFile(as: held) else {
                Sys.close(fd)
                continue
            }
            if recordingHolder {
                do {
                    try Sys.ftruncate(fd, 0)
                    try Sys.pwriteAll(fd, Array("\(Sys.processID())\n".utf8), at: 0)
                } catch {
                    Sys.close(fd)
                    throw .system(error, "write the lock file", path: path)
                }
            }
            return DirectoryLock(path: path, fd: fd)
        }
    }

    /// The process id the holder of the lock at `path` wrote (`recordingHolder`), or nil when
    /// none can be read.
    public static func holder(of path: String) -> String? {
        guard let fd = try? Sys.open(path, Sys.readOnly) else { return nil }
        defer { Sys.close(fd) }
        let bytes = (try? Sys.pread(fd, count: 32, at: 0)) ?? []
        let text = String(decoding: bytes, as: UTF8.self).filter { $0.isASCII && $0.isNumber }
        return text.isEmpty ? nil : text
    }

    /// Whether a process holds the lock at `path` now (this one included): false when the file
    /// is missing or nobody holds it, nil when that cannot be told (no read access). The lock is
    /// probed, never kept, and the file never created.
    public static func isHeld(_ path: String) -> Bool? {
        let fd: CInt
        do { fd = try Sys.open(path, Sys.readOnly) } catch {
            return error == .noSuchFileOrDirectory ? false : nil
        }
        defer { Sys.close(fd) }
        guard let free = try? Sys.tryLockExclusive(fd) else { return nil }
        // Closing the descriptor releases the probe's lock.
        return !free
    }

    /// Releases the lock.
    public func release() {
        descriptor.withLock { fd in
            if let open = fd { Sys.close(open) }
            fd = nil
        }
    }

    deinit { release() }
}

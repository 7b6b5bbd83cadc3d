import SystemPackage

/// An exclusive advisory lock on a file (created 0600 if missing), held until `release()` or
/// deinit. Used to keep two maintenance operations of one session from overlapping.
public final class DirectoryLock: @unchecked Sendable {
    private var fd: CInt?
    /// The lock file.
    public let path: String

    private init(path: String, fd: CInt) {
        self.path = path
        self.fd = fd
    }

    /// Takes the lock at `path` without waiting; nil when another holder has it.
    public static func tryAcquire(_ path: String) throws(StorageError) -> DirectoryLock? {
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
        return DirectoryLock(path: path, fd: fd)
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
        if let fd { Sys.close(fd) }
        fd = nil
    }

    deinit { release() }
}

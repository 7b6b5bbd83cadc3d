import SystemPackage

/// A log directory held open by descriptor, so that what is read from it comes from one
/// directory even when its path is switched to another (FORMAT.md §9 "The session directory").
///
/// Readers hold its shared lock while they list and open segments; whoever deletes a log
/// directory holds the exclusive lock (`LogDirectory.remove`), so a segment a reader listed is
/// still there when it opens it. The lock is an advisory `flock` on the directory itself, apart
/// from the writer's `LOCK` file.
final class PinnedDirectory: Sendable {
    /// The path the directory was opened by.
    let path: String
    let fd: CInt
    let identity: FileIdentity

    /// Opens the directory `path` names now.
    init(path: String) throws(StorageError) {
        self.path = path
        let fd: CInt
        do { fd = try Sys.openDirectory(path) } catch { throw .system(error, "open the log directory", path: path) }
        do { identity = try Sys.identity(fd) } catch {
            Sys.close(fd)
            throw .system(error, "stat the log directory", path: path)
        }
        self.fd = fd
    }

    deinit { Sys.close(fd) }

    /// True while `path` still names this directory.
    var isCurrent: Bool {
        Sys.identity(path: path).map { $0.isSameFile(as: identity) } ?? false
    }

    /// Runs `body` holding the directory's shared (or `exclusive`) lock.
    func withLock<R>(exclusive: Bool, _ body: () throws(StorageError) -> R) throws(StorageError) -> R {
        do { try Sys.lock(fd, exclusive: exclusive) } catch { throw .system(error, "lock the log directory", path: path) }
        defer { Sys.unlock(fd) }
        return try body()
    }

    /// The segments in the directory, sorted by id (as `SegmentFiles.list` settles them).
    func segments() throws(StorageError) -> [(id: UInt64, path: String)] {
        try SegmentFiles.settled { () throws(StorageError) -> [String] in
            do throws(Errno) { return try Sys.listDirectory(fd) } catch { throw .system(error, "list the log directory", path: path) }
        } path: { path + "/" + $0 }
    }

    /// True when the directory holds a file named `name`.
    func contains(_ name: String) -> Bool {
        (try? Sys.listDirectory(fd))?.contains(name) ?? false
    }

    /// Opens the file `name` of this directory for reading.
    func openForReading(_ name: String) throws(Errno) -> CInt {
        try Sys.openAt(fd, name, Sys.readOnly)
    }
}

/// Operations on whole log directories.
public enum LogDirectory {
    /// Deletes the log directory `path` and every file in it, under the directory's exclusive
    /// lock: it waits for readers that are listing or opening its segments, and a reader that
    /// comes later finds the directory gone or switched, never half deleted. Nothing to do when
    /// `path` does not exist. The caller holds the log's `DirectoryLock` (or the log is one
    /// nobody writes: a compaction's leftover).
    public static func remove(_ path: String) throws(StorageError) {
        try remove(path, halfway: nil)
    }

    /// `remove(_:)`, calling `halfway` once about half the files are deleted (crash tests stop
    /// there).
    static func remove(_ path: String, halfway: (() throws(StorageError) -> Void)?) throws(StorageError) {
        let directory: PinnedDirectory
        do { directory = try PinnedDirectory(path: path) } catch where error.code == .notFound { return }
        try directory.withLock(exclusive: true) { () throws(StorageError) in
            let names: [String]
            do throws(Errno) { names = try Sys.listDirectory(directory.fd) } catch { throw .system(error, "list the directory to delete", path: path) }
            for (n, name) in names.enumerated() {
                if n == names.count / 2, let halfway { try halfway() }
                do throws(Errno) { try Sys.unlinkAt(directory.fd, name) } catch where error == .noSuchFileOrDirectory {} catch {
                    throw .system(error, "delete", path: path + "/" + name)
                }
            }
            if names.isEmpty, let halfway { try halfway() }
            do throws(Errno) { try Sys.removeDirectory(path) } catch where error == .noSuchFileOrDirectory {} catch {
                throw .system(error, "delete the directory", path: path)
            }
        }
    }

    /// Makes every file of the log directory `path`, and the directory itself, durable.
    static func makeDurable(_ path: String) throws(StorageError) {
        let directory = try PinnedDirectory(path: path)
        let names: [String]
        do { names = try Sys.listDirectory(directory.fd) } catch { throw .system(error, "list the log directory", path: path) }
        for name in names {
            do {
                let fd = try Sys.openAt(directory.fd, name, Sys.readOnly)
                defer { Sys.close(fd) }
                try Sys.fsync(fd)
            } catch {
                throw .system(error, "fsync", path: path + "/" + name)
            }
        }
        do { try Sys.fsync(directory.fd) } catch { throw .system(error, "fsync the log directory", path: path) }
    }
}

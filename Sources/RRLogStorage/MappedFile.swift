import Foundation
import Synchronization
import SystemPackage

/// A whole file mapped read-only (or read into memory when it is empty or being written), kept
/// alive as long as any reader holds it. Sealed segments are immutable, so sharing is safe.
///
/// `@unchecked Sendable`: its properties are constants, and the bytes they point to are a
/// read-only mapping or a private copy that nothing writes while the file is alive.
public final class MappedFile: @unchecked Sendable {
    /// The file's path.
    public let path: String
    private let base: UnsafeRawPointer?
    private let owned: [UInt8]?
    /// The file's size when it was mapped.
    public let size: Int
    /// For a remote object: where its bytes come from, page by page (read through `pin`).
    let remote: RemoteBacking?

    /// Maps the file at `path`.
    public convenience init(path: String, sequential: Bool = false) throws(StorageError) {
        let fd: CInt
        do { fd = try Sys.open(path, Sys.readOnly) } catch { throw .system(error, "open for reading", path: path) }
        defer { Sys.close(fd) }
        try self.init(mapping: fd, path: path, sequential: sequential)
    }

    /// Maps the file `name` of a directory held open (`path` names it in errors).
    convenience init(name: String, in directory: PinnedDirectory, path: String, sequential: Bool = false) throws(StorageError) {
        let fd: CInt
        do { fd = try directory.openForReading(name) } catch { throw .system(error, "open for reading", path: path) }
        defer { Sys.close(fd) }
        try self.init(mapping: fd, path: path, sequential: sequential)
    }

    /// Reads the file into memory instead of mapping it: for a segment that a writer may still
    /// truncate (recovery), where a mapping could fault.
    public convenience init(copying path: String) throws(StorageError) {
        let fd: CInt
        do { fd = try Sys.open(path, Sys.readOnly) } catch { throw .system(error, "open for reading", path: path) }
        defer { Sys.close(fd) }
        try self.init(copying: fd, path: path)
    }

    /// `init(copying:)` for the file `name` of a directory held open.
    convenience init(copying name: String, in directory: PinnedDirectory, path: String) throws(StorageError) {
        let fd: CInt
        do { fd = try directory.openForReading(name) } catch { throw .system(error, "open for reading", path: path) }
        defer { Sys.close(fd) }
        try self.init(copying: fd, path: path)
    }

    private init(mapping fd: CInt, path: String, sequential: Bool) throws(StorageError) {
        self.path = path
        do {
            size = try Sys.fileSize(fd)
            if size == 0 {
                base = nil
            } else {
                base = try Sys.mapReadOnly(fd, size: size, sequential: sequential)
            }
            owned = nil
            remote = nil
        } catch where error == .noMemory {
            // Every open segment is one mapping, and Linux caps a process's mappings
            // (vm.max_map_count, 65,530 by default): a log of very many small segments can reach it.
            throw .system(
                error, "map (the process is out of mappings: each open segment takes one, up to vm.max_map_count; "
                    + "'rrlog compact' merges small segments)", path: path)
        } catch {
            throw .system(error, "map", path: path)
        }
    }

    private init(copying fd: CInt, path: String) throws(StorageError) {
        self.path = path
        do {
            let bytes = try Sys.pread(fd, count: try Sys.fileSize(fd), at: 0)
            owned = bytes
            size = bytes.count
            base = nil
            remote = nil
        } catch {
            throw .system(error, "read", path: path)
        }
    }

    /// A remote object's bytes (`RemoteBacking`), named `path`.
    init(remote: RemoteBacking, path: String) {
        self.path = path
        self.remote = remote
        base = UnsafeRawPointer(remote.base)
        size = remote.size
        owned = nil
    }

    deinit {
        if let base, remote == nil { Sys.unmap(base, size: size) }
    }

    /// Makes `range` readable and holds it until `unpin` (a remote object's bytes are fetched
    /// when missing); 0, and nothing to do, for a local file. `ahead` bytes more are fetched with
    /// a request that is needed anyway.
    @inline(__always)
    func pin(_ range: Range<Int>, ahead: Int = 0) throws(StorageError) -> Int {
        guard let remote else { return 0 }
        return try remote.pin(range, ahead: ahead)
    }

    /// Lets go of what `pin` held.
    @inline(__always)
    func unpin(_ id: Int) {
        if id != 0 { remote?.unpin(id) }
    }

    /// True for a remote object.
    public var isRemote: Bool { remote != nil }

    /// Faults in the mapped pages of `range` (clamped to the file), so reading them later takes no
    /// page fault; nothing for a file read into memory. Whole pages around the range are covered.
    /// False when the kernel could not read them (see `Sys.populate`).
    /// Drops the mapping's resident pages (see `Sys.dropResidentPages`); the bytes stay readable.
    func dropResidentPages() {
        guard let base, size > 0, remote == nil else { return }
        Sys.dropResidentPages(base, size: size)
    }

    func populate(_ range: Range<Int>) -> Bool {
        guard let base, remote == nil else { return true }
        let start = max(0, range.lowerBound) / Sys.pageSize * Sys.pageSize
        let end = min(size, range.upperBound)
        guard start < end else { return true }
        return Sys.populate(base + start, size: end - start)
    }

    /// Lends the file's bytes.
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        if let owned {
            var result: Result<R, E>?
            owned.withUnsafeBytes { b in result = Result { () throws(E) -> R in try body(b) } }
            return try result!.get()
        }
        return try body(UnsafeRawBufferPointer(start: base, count: size))
    }
}

/// A background fault-in of mapped files, started by `LogReader.prefault()`. It holds the files
/// until it ends, so their mappings stay valid while it runs.
public final class Prefault: Sendable {
    /// Bytes of the files it covers.
    public let totalBytes: Int
    private struct Progress {
        var files: [MappedFile]
        var done = 0
        var cancelled = false
        var finished = false
    }
    private let progress: Mutex<Progress>
    private let ended = DispatchSemaphore(value: 0)
    /// Bytes faulted in per step; cancellation is checked between steps.
    static let stepBytes = 8 << 20

    init(files: [MappedFile]) {
        self.progress = Mutex(Progress(files: files))
        self.totalBytes = files.reduce(0) { $0 + $1.size }
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "rrlog-prefault"
        thread.qualityOfService = .utility
        thread.start()
    }

    private func run() {
        let files = progress.withLock { $0.files }
        outer: for file in files {
            var offset = 0
            while offset < file.size {
                if progress.withLock({ $0.cancelled }) { break outer }
                let end = min(file.size, offset + Self.stepBytes)
                // A file that cannot be read (shorter than its mapping, an I/O error) ends the
                // job: a lookup there reports the damage, a prefault must not raise SIGBUS.
                guard file.populate(offset..<end) else { break outer }
                progress.withLock { $0.done += end - offset }
                offset = end
            }
        }
        progress.withLock {
            $0.finished = true
            $0.files = []
        }
        ended.signal()
    }

    /// Bytes faulted in so far.
    public var bytesDone: Int { progress.withLock { $0.done } }

    /// True once it has covered every file, or stopped: after `cancel()`, or at a file the kernel
    /// could not read (`bytesDone` is then less than `totalBytes`).
    public var isFinished: Bool { progress.withLock { $0.finished } }

    /// Stops it after the step under way.
    public func cancel() { progress.withLock { $0.cancelled = true } }

    /// Blocks until it has finished (tests, benchmarks, and callers that want every lookup fast).
    public func wait() {
        ended.wait()
        ended.signal()
    }
}

// Every system call of rrlog lives in this file. Each retries EINTR and reports failures as
// `Errno`, which callers wrap into a `StorageError` naming the file.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
internal import CRRLogSupport
import SystemPackage

enum Sys {
    static func retrying<T>(_ body: () -> T, failed: (T) -> Bool) throws(Errno) -> T {
        while true {
            let result = body()
            if failed(result) {
                let e = Errno(rawValue: errno)
                if e == .interrupted { continue }
                throw e
            }
            return result
        }
    }

    static func open(_ path: String, _ flags: CInt, _ mode: mode_t = 0o600) throws(Errno) -> CInt {
        try retrying({ Glibc.open(path, flags | O_CLOEXEC, mode) }, failed: { $0 < 0 })
    }

    static func close(_ fd: CInt) {
        _ = Glibc.close(fd)
    }

    static func pwriteAll(_ fd: CInt, _ bytes: UnsafeRawBufferPointer, at offset: Int) throws(Errno) {
        var done = 0
        while done < bytes.count {
            let n = try retrying(
                { Glibc.pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done)) },
                failed: { $0 < 0 })
            if n == 0 { throw Errno.noSpace }
            done += n
        }
    }

    static func preadAll(_ fd: CInt, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(Errno) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try retrying(
                { Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done)) },
                failed: { $0 < 0 })
            if n == 0 { break }
            done += n
        }
        return done
    }

    static func fsync(_ fd: CInt) throws(Errno) {
        _ = try retrying({ Glibc.fsync(fd) }, failed: { $0 != 0 })
    }

    static func fdatasync(_ fd: CInt) throws(Errno) {
        _ = try retrying({ Glibc.fdatasync(fd) }, failed: { $0 != 0 })
    }

    static func ftruncate(_ fd: CInt, _ size: Int) throws(Errno) {
        _ = try retrying({ Glibc.ftruncate(fd, off_t(size)) }, failed: { $0 != 0 })
    }

    static func fileSize(_ fd: CInt) throws(Errno) -> Int {
        var st = stat()
        _ = try retrying({ Glibc.fstat(fd, &st) }, failed: { $0 != 0 })
        return Int(st.st_size)
    }

    static func fileSize(path: String) -> Int? {
        var st = stat()
        return statPath(path, &st) == 0 ? Int(st.st_size) : nil
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return statPath(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// access(2): nil when this process may use `path` as `mode` asks (R_OK, W_OK, X_OK).
    static func access(_ path: String, read: Bool, write: Bool, search: Bool) -> Errno? {
        var mode: Int32 = 0
        if read { mode |= R_OK }
        if write { mode |= W_OK }
        if search { mode |= X_OK }
        return Glibc.access(path, mode) == 0 ? nil : Errno(rawValue: errno)
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return statPath(path, &st) == 0
    }

    static func pwriteAll(_ fd: CInt, _ bytes: [UInt8], at offset: Int) throws(Errno) {
        var failure: Errno?
        bytes.withUnsafeBytes { b in
            do throws(Errno) { try pwriteAll(fd, b, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Reads up to `count` bytes at `offset`.
    static func pread(_ fd: CInt, count: Int, at offset: Int) throws(Errno) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var failure: Errno?
        var got = 0
        bytes.withUnsafeMutableBytes { b in
            do throws(Errno) { got = try preadAll(fd, into: b, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
        if got < count { bytes.removeLast(count - got) }
        return bytes
    }

    /// Maps `size` bytes of `fd` read-only. `size` must be > 0.
    static func mapReadOnly(_ fd: CInt, size: Int, sequential: Bool) throws(Errno) -> UnsafeRawPointer {
        guard let p = Glibc.mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0),
            p != UnsafeMutableRawPointer(bitPattern: -1)
        else { throw Errno(rawValue: errno) }
        _ = Glibc.madvise(p, size, sequential ? MADV_SEQUENTIAL : MADV_RANDOM)
        // Lets the kernel map the file with 2 MiB pages where its page cache holds folios that
        // large (ext4 and XFS on Linux 6.x when the file was read in, or written, in large pieces):
        // a random lookup then misses the TLB far less. Advisory; ignored elsewhere (tmpfs).
        if size >= hugePageSize { _ = Glibc.madvise(p, size, MADV_HUGEPAGE) }
        return UnsafeRawPointer(p)
    }

    /// Reserves `size` bytes of zero-filled, private, writable anonymous memory (pages take memory
    /// only once written; `dropResidentPages` gives them back): the buffer of a remote object's
    /// bytes, filled as ranges are fetched.
    static func mapAnonymous(size: Int) throws(Errno) -> UnsafeMutableRawPointer {
        guard let p = Glibc.mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
            p != UnsafeMutableRawPointer(bitPattern: -1)
        else { throw Errno(rawValue: errno) }
        return p
    }

    /// The size of a transparent huge page, as the kernel reports it
    /// (`/sys/kernel/mm/transparent_hugepage/hpage_pmd_size`: 2 MiB on x86-64 and on arm64 with
    /// 4 KiB pages, 512 MiB on arm64 with 64 KiB pages); 2 MiB where it does not say.
    static let hugePageSize: Int = {
        let fallback = 2 << 20
        let fd = Glibc.open("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return fallback }
        defer { _ = Glibc.close(fd) }
        var text = [UInt8](repeating: 0, count: 32)
        let got = text.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard got > 0 else { return fallback }
        let digits = text[..<got].prefix { $0 >= 0x30 && $0 <= 0x39 }
        guard !digits.isEmpty, digits.count < 19, let size = Int(String(decoding: digits, as: UTF8.self)), size > 0 else { return fallback }
        return size
    }()

    /// The size of a memory page (what `madvise` aligns to).
    static let pageSize = Int(Glibc.sysconf(Int32(_SC_PAGESIZE)))

    /// Fills the page tables of `size` mapped bytes at `pointer` (page-aligned) with the file's
    /// pages, reading them in when they are not cached: `MADV_POPULATE_READ` (Linux 5.14), or
    /// one read per page where the kernel lacks it (`EINVAL`). False when the pages cannot be
    /// read (`EFAULT`: the file is shorter than the mapping, where touching them would raise
    /// SIGBUS; `ENOMEM`, `EIO`): the caller stops.
    static func populate(_ pointer: UnsafeRawPointer, size: Int) -> Bool {
        while true {
            if Glibc.madvise(UnsafeMutableRawPointer(mutating: pointer), size, 22 /* MADV_POPULATE_READ */) == 0 { return true }
            let e = errno
            if e == EINTR || e == EAGAIN { continue }
            guard e == EINVAL else { return false }
            break
        }
        var sum: UInt8 = 0
        for offset in stride(from: 0, to: size, by: pageSize) { sum &+= pointer.load(fromByteOffset: offset, as: UInt8.self) }
        withExtendedLifetime(sum) {}
        return true
    }

    /// Drops this process's mappings of `size` bytes at `pointer` (page-aligned) from its page
    /// tables (`MADV_DONTNEED`): the file's pages stay in the page cache and a later read faults
    /// them back in. What a one-pass scan calls behind itself, so its resident set stays the size
    /// of a segment, not of the log.
    static func dropResidentPages(_ pointer: UnsafeRawPointer, size: Int) {
        _ = Glibc.madvise(UnsafeMutableRawPointer(mutating: pointer), size, MADV_DONTNEED)
    }

    static func unmap(_ pointer: UnsafeRawPointer, size: Int) {
        _ = Glibc.munmap(UnsafeMutableRawPointer(mutating: pointer), size)
    }

    /// Takes an exclusive advisory lock without waiting; false when another process holds it.
    static func tryLockExclusive(_ fd: CInt) throws(Errno) -> Bool {
        while true {
            if lockFile(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            let e = Errno(rawValue: errno)
            if e == .interrupted { continue }
            if e == .wouldBlock || e == .resourceTemporarilyUnavailable { return false }
            throw e
        }
    }

    static func makeDirectory(_ path: String) throws(Errno) {
        if Glibc.mkdir(path, 0o700) != 0 {
            let e = Errno(rawValue: errno)
            if e != .fileExists { throw e }
        }
    }

    static func syncDirectory(_ path: String) throws(Errno) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd)
    }

    static func rename(_ from: String, _ to: String) throws(Errno) {
        _ = try retrying({ Glibc.rename(from, to) }, failed: { $0 != 0 })
    }

    static func unlink(_ path: String) throws(Errno) {
        _ = try retrying({ Glibc.unlink(path) }, failed: { $0 != 0 })
    }

    static func listDirectory(_ path: String) throws(Errno) -> [String] {
        guard let dir = Glibc.opendir(path) else { throw Errno(rawValue: errno) }
        return readNames(dir)
    }

    /// The names in an open directory stream, which it closes.
    private static func readNames(_ dir: OpaquePointer) -> [String] {
        defer { Glibc.closedir(dir) }
        var names: [String] = []
        // The name is read in place, up to its NUL: `entry.pointee` would copy the whole
        // declared 256-byte field, past the end of a short last entry in readdir's buffer (a
        // crash when that buffer ends at a page boundary).
        let nameOffset = MemoryLayout<dirent>.offset(of: \.d_name)!
        while let entry = Glibc.readdir(dir) {
            let name = String(cString: (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: CChar.self))
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    // MARK: Directories held open

    /// Opens a directory for listing and for the `...At` calls below.
    static func openDirectory(_ path: String) throws(Errno) -> CInt {
        try open(path, O_RDONLY | O_DIRECTORY)
    }

    /// Opens `name` inside the directory `dirFD`.
    static func openAt(_ dirFD: CInt, _ name: String, _ flags: CInt, _ mode: mode_t = 0o600) throws(Errno) -> CInt {
        try retrying({ Glibc.openat(dirFD, name, flags | O_CLOEXEC, mode) }, failed: { $0 < 0 })
    }

    /// The device and inode of an open file: what tells whether a path still names it.
    static func identity(_ fd: CInt) throws(Errno) -> FileIdentity {
        var st = stat()
        _ = try retrying({ Glibc.fstat(fd, &st) }, failed: { $0 != 0 })
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), links: UInt64(st.st_nlink))
    }

    /// The device and inode `path` names now, or nil when it names nothing.
    static func identity(path: String) -> FileIdentity? {
        var st = stat()
        guard statPath(path, &st) == 0 else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), links: UInt64(st.st_nlink))
    }

    /// The names in the directory `dirFD` (a duplicate descriptor is read, so `dirFD` stays open
    /// and its position untouched).
    static func listDirectory(_ dirFD: CInt) throws(Errno) -> [String] {
        let copy = try retrying({ Glibc.openat(dirFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }, failed: { $0 < 0 })
        guard let dir = Glibc.fdopendir(copy) else {
            let e = Errno(rawValue: errno)
            close(copy)
            throw e
        }
        return readNames(dir)
    }

    /// Removes the file `name` in the directory `dirFD`.
    static func unlinkAt(_ dirFD: CInt, _ name: String) throws(Errno) {
        _ = try retrying({ Glibc.unlinkat(dirFD, name, 0) }, failed: { $0 != 0 })
    }

    /// Removes the empty directory at `path`.
    static func removeDirectory(_ path: String) throws(Errno) {
        _ = try retrying({ Glibc.rmdir(path) }, failed: { $0 != 0 })
    }

    /// Swaps the directory entries `a` and `b` in one step (renameat2 with
    /// RENAME_EXCHANGE): a crash, or a process resolving either name, sees them either both
    /// before or both after.
    static func exchange(_ a: String, _ b: String) throws(Errno) {
        _ = try retrying({ rrlog_rename_exchange(AT_FDCWD, a, b) }, failed: { $0 != 0 })
    }

    /// Takes a shared (`exclusive` false) or exclusive advisory lock on `fd`, waiting for it.
    static func lock(_ fd: CInt, exclusive: Bool) throws(Errno) {
        _ = try retrying({ lockFile(fd, exclusive ? LOCK_EX : LOCK_SH) }, failed: { $0 != 0 })
    }

    /// Releases an advisory lock taken on `fd`.
    static func unlock(_ fd: CInt) {
        _ = lockFile(fd, LOCK_UN)
    }

    /// Ends this process with SIGKILL: no handler, flush or exit hook runs, as in a crash.
    static func killSelf() -> Never {
        _ = Glibc.kill(getpid(), SIGKILL)
        _exit(137)
    }

    static func processID() -> Int32 { getpid() }

    /// Gives the CPU to another runnable thread, if any.
    static func yield() { _ = sched_yield() }

    static func nowNs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func monotonicNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static let readOnly = O_RDONLY
    static let readWrite = O_RDWR
    static let createExclusive = O_RDWR | O_CREAT | O_EXCL
    static let createOrOpen = O_RDWR | O_CREAT
}

/// The device and inode of a file (and its link count: 0 once a directory held open is removed).
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64
    var links: UInt64

    /// True when both name the same file (the link count aside).
    func isSameFile(as other: FileIdentity) -> Bool { device == other.device && inode == other.inode }
}

private func statPath(_ path: String, _ st: inout stat) -> CInt { stat(path, &st) }
private func lockFile(_ fd: CInt, _ operation: CInt) -> CInt { flock(fd, operation) }

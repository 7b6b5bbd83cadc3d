import Foundation
import RRLog

/// Printing helpers: stdout for results, stderr for diagnostics, JSON with sorted keys.
enum Output {
    static func line(_ s: String) {
        write(Data((s + "\n").utf8))
    }

    /// Writes to standard output. When the reader has gone (`rrlog ls --json | head`: a broken
    /// pipe), stops quietly with the status a process killed by SIGPIPE has (141), instead of
    /// trapping on the failed write.
    static func write(_ data: Data) {
        do { try FileHandle.standardOutput.write(contentsOf: data) } catch { exit(141) }
    }

    static func error(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        write(data + Data("\n".utf8))
    }

    static var isTerminal: Bool { isatty(STDERR_FILENO) != 0 }

    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(n)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }
}

/// A progress line on a terminal (stderr), silent in pipes.
final class Progress {
    private let label: String
    private var total: Int
    private let enabled: Bool
    private var lastDraw = 0.0

    init(_ label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
        self.enabled = Output.isTerminal && ProcessInfo.processInfo.environment["RRLOG_NO_PROGRESS"] == nil
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let now = Date().timeIntervalSince1970
        guard now - lastDraw > 0.1 || done >= total else { return }
        lastDraw = now
        let fraction = min(1, Double(done) / Double(total))
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data(String(format: "\r%@ [%@] %3.0f%%", label, bar, fraction * 100).utf8))
    }

    /// Updates against a total learnt while working.
    func update(_ done: Int, of newTotal: Int) {
        total = max(newTotal, 1)
        update(done)
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Writes to a file descriptor in pieces of about 64 KiB, so that a command streaming a large
/// result holds one piece in memory, not the whole result. A failed write (a full disk, a closed
/// pipe) throws an error naming `name`.
final class BufferedOutput {
    static let pieceBytes = 64 << 10

    /// Where the bytes go, as errors name it.
    let name: String
    private let fd: Int32
    private var buffer: [UInt8] = []
    /// Bytes given so far, written or buffered.
    private(set) var count = 0

    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
        buffer.reserveCapacity(Self.pieceBytes * 2)
    }

    /// Standard output.
    static func standardOutput() -> BufferedOutput { BufferedOutput(fd: STDOUT_FILENO, name: "standard output") }

    func write<C: Collection>(_ bytes: C) throws(RRLogError) where C.Element == UInt8 {
        buffer.append(contentsOf: bytes)
        count += bytes.count
        if buffer.count >= Self.pieceBytes { try flush() }
    }

    func write(_ text: String) throws(RRLogError) { try write(text.utf8) }

    /// Writes what is buffered.
    func flush() throws(RRLogError) {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { writeBytes(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                buffer.removeAll()
                throw RRLogError(.storage, "cannot write: \(reason)", location: name)
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// write(2), under another name than `BufferedOutput.write`.
private func writeBytes(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}

/// A file an export writes: the bytes go to a temporary file beside it, renamed to `path` by
/// `commit()`, so that a failed export leaves no partial file (and an existing file stays as it
/// was until the new one is complete). A path that exists and is not a regular file (a device, a
/// FIFO) is written directly.
final class OutputFile {
    let path: String
    let output: BufferedOutput
    private let temporary: String?
    private var fd: Int32
    private var done = false

    init(_ path: String) throws(RRLogError) {
        self.path = path
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & mode_t(S_IFMT) != mode_t(S_IFREG) {
            fd = open(path, O_WRONLY | O_CLOEXEC)
            temporary = nil
        } else {
            let url = URL(fileURLWithPath: path)
            var template = Array((url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".rrlog-partial-XXXXXX").utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            temporary = fd >= 0 ? template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : nil
        }
        guard fd >= 0 else { throw Self.failure(path) }
        output = BufferedOutput(fd: fd, name: path)
    }

    deinit { discard() }

    /// Writes what is left, makes it durable and gives the file its name.
    func commit() throws(RRLogError) {
        defer { discard() }
        try output.flush()
        guard let temporary else { return }
        guard fsync(fd) == 0, close(fd) == 0 else { throw Self.failure(path) }
        fd = -1
        guard rename(temporary, path) == 0 else { throw Self.failure(path) }
        done = true
    }

    static func failure(_ path: String) -> RRLogError {
        RRLogError(.storage, "cannot write: \(String(cString: strerror(errno)))", location: path)
    }

    /// Closes the file and removes the temporary one (after a failure).
    func discard() {
        if fd >= 0 { close(fd) }
        fd = -1
        if !done, let temporary { unlink(temporary) }
        done = true
    }
}

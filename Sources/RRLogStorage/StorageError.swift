public import RRLogFormat
import SystemPackage

/// A failure of the storage engine: what failed, where (file and offset), and why.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; extensible.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// A system call failed (see `errno`).
        public static let io = Code(name: "io")
        /// The log is locked by another writer process.
        public static let locked = Code(name: "locked")
        /// Bytes on disk are damaged.
        public static let corrupt = Code(name: "corrupt")
        /// The disk is full; nothing acknowledged was lost, appends can resume once space is freed.
        public static let noSpace = Code(name: "noSpace")
        /// A path does not exist.
        public static let notFound = Code(name: "notFound")
        /// A record is too large or otherwise not storable.
        public static let invalidRecord = Code(name: "invalidRecord")
        /// The writer was closed.
        public static let closed = Code(name: "closed")
        /// Recovery found damage that the chosen mode does not accept.
        public static let recoveryRefused = Code(name: "recoveryRefused")
        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence that says what failed.
    public var message: String
    /// The file concerned, if any.
    public var path: String?
    /// The byte offset in `path`, if known.
    public var offset: Int?
    /// The system error, for `.io` and `.noSpace`.
    public var errno: Int32?
    /// The format error beneath a `.corrupt`.
    public var formatError: FormatError?

    /// Makes an error.
    public init(_ code: Code, _ message: String, path: String? = nil, offset: Int? = nil, errno: Int32? = nil, formatError: FormatError? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.errno = errno
        self.formatError = formatError
    }

    static func system(_ e: Errno, _ what: String, path: String) -> StorageError {
        if e == .noSpace || e == .diskQuotaExceeded {
            return StorageError(.noSpace, "\(what): the disk is full (\(e.description)); free space and retry", path: path, errno: e.rawValue)
        }
        if e == .noSuchFileOrDirectory {
            return StorageError(.notFound, "\(what): no such file or directory", path: path, errno: e.rawValue)
        }
        return StorageError(.io, "\(what): \(e.description)", path: path, errno: e.rawValue)
    }

    static func corrupt(_ error: FormatError, path: String, what: String = "damaged data") -> StorageError {
        StorageError(.corrupt, "\(what): \(error.description)", path: path, offset: error.offset, formatError: error)
    }

    public var description: String {
        var s = message
        if let path { s += " [\(path)" + (offset.map { " @ \($0)" } ?? "") + "]" }
        return s
    }
}

public import RRLogCatalog
public import RRLogStorage

/// A failure of the rrlog library, as a user sees it: what failed, where, and what to do.
public struct RRLogError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; extensible.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// No session matches the name, id or strategy.
        public static let noSuchSession = Code(name: "noSuchSession")
        /// A session with that name exists.
        public static let sessionExists = Code(name: "sessionExists")
        /// A name, type or argument is not valid.
        public static let invalidArgument = Code(name: "invalidArgument")
        /// Input (a JSON line, a file) is malformed; `location` says where.
        public static let malformedInput = Code(name: "malformedInput")
        /// The storage engine failed (see `storage`).
        public static let storage = Code(name: "storage")
        /// The catalog failed (see `catalog`).
        public static let catalog = Code(name: "catalog")
        /// The session is being written by another process.
        public static let busy = Code(name: "busy")
        /// Stored data is damaged.
        public static let corrupt = Code(name: "corrupt")
        /// This process may not read or write the store (file modes, ownership).
        public static let permissionDenied = Code(name: "permissionDenied")
        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// What failed, in a sentence.
    public var message: String
    /// Where: a file and line, a path and offset.
    public var location: String?
    /// The storage error beneath, if any.
    public var storage: StorageError?
    /// The catalog error beneath, if any.
    public var catalog: CatalogError?

    /// Makes an error.
    public init(_ code: Code, _ message: String, location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    init(_ error: StorageError) {
        self.init(error.code == .locked ? .busy : (error.code == .corrupt ? .corrupt : .storage), error.description)
        storage = error
    }

    init(_ error: CatalogError) {
        self.init(.catalog, error.description)
        catalog = error
    }

    public var description: String {
        location.map { "\($0): \(message)" } ?? message
    }
}

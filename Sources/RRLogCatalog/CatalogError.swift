/// A failure of the session catalog: what failed, which database or manifest file, and why.
///
/// Every message is a sentence a user can act on; when the fix is to rebuild the catalog from the
/// session manifests, it says so (`run 'rrlog reindex'`).
public struct CatalogError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; extensible, so new codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The database could not be opened or configured (missing directory, permissions,
        /// a schema written by a newer rrlog, a file that is SQLite but not a catalog).
        public static let open = Code(name: "open")
        /// The database file is damaged or is not an SQLite database.
        public static let corrupt = Code(name: "corrupt")
        /// An SQL statement failed for another reason (I/O error, disk full, busy past the timeout).
        public static let sql = Code(name: "sql")
        /// The session asked for does not exist.
        public static let notFound = Code(name: "notFound")
        /// A session with the same name (or, in `replaceAll`, the same id) already exists.
        public static let conflict = Code(name: "conflict")
        /// Manifest bytes are not a valid session manifest, or a manifest is not storable.
        public static let badManifest = Code(name: "badManifest")
        /// The catalog was used after `close()`.
        public static let closed = Code(name: "closed")

        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// A sentence that says what failed and, when there is one, what to do.
    public var message: String
    /// The database or manifest file concerned, if known.
    public var path: String?
    /// The SQLite (extended) result code, when SQLite reported the failure.
    public var sqliteResultCode: Int?
    /// SQLite's own message for the failure, when there is one.
    public var sqliteMessage: String?

    /// Makes an error.
    public init(
        _ code: Code, _ message: String, path: String? = nil,
        sqliteResultCode: Int? = nil, sqliteMessage: String? = nil
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.sqliteResultCode = sqliteResultCode
        self.sqliteMessage = sqliteMessage
    }

    public var description: String {
        var s = message
        if let sqliteResultCode {
            s += " (SQLite error \(sqliteResultCode)" + (sqliteMessage.map { ": \($0)" } ?? "") + ")"
        }
        if let path { s += " [\(path)]" }
        return s
    }
}

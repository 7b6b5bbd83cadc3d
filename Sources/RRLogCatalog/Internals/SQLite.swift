internal import CSQLite3

// The only file that calls SQLite. Every SQL text is a `StaticString`, so no value can be
// interpolated into a statement: values reach SQLite only through `sqlite3_bind_*`.

/// `SQLITE_TRANSIENT`, a macro Swift does not import: tells SQLite to copy bound bytes at once,
/// so the Swift buffer may go away as soon as the bind call returns.
private var sqliteTransient: sqlite3_destructor_type {
    unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

/// One open SQLite connection. Not thread-safe: `Catalog` serialises every use with its lock.
final class SQLiteConnection {
    /// The database file.
    let path: String
    private var handle: OpaquePointer?

    /// Opens (creating if needed) the database at `path`. SQLite reads the file lazily, so a
    /// damaged file is reported by the first statement, not here.
    init(path: String) throws(CatalogError) {
        self.path = path
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let detail = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw CatalogError(
                .open,
                "cannot open the catalog database; check that its directory exists and is writable",
                path: path, sqliteResultCode: Int(rc), sqliteMessage: detail)
        }
        sqlite3_extended_result_codes(db, 1)
        handle = db
    }

    deinit { close() }

    /// Closes the connection; later calls do nothing. Statements still alive are finalised by
    /// their own deinit, and `sqlite3_close_v2` waits for them.
    func close() {
        if let handle {
            sqlite3_close_v2(handle)
            self.handle = nil
        }
    }

    /// Runs one or more statements of static SQL that bind no values and return no rows needed.
    func execute(_ sql: StaticString) throws(CatalogError) {
        // StaticString's closure API does not rethrow, so copy the (short) text out first.
        let text = sql.withUTF8Buffer { Array($0) }
        try text.withUnsafeBufferPointer { (buffer) throws(CatalogError) in
            var offset = 0
            while offset < buffer.count {
                let statement = try prepare(buffer, from: &offset)
                guard let statement else { break }
                while try statement.step() {}
            }
        }
    }

    /// Makes statements wait up to `milliseconds` for another connection's lock (the same as
    /// `PRAGMA busy_timeout`).
    func setBusyTimeout(milliseconds: Int) throws(CatalogError) {
        let rc = sqlite3_busy_timeout(try open(), Int32(milliseconds))
        guard rc == SQLITE_OK else { throw error(rc, "cannot set the busy timeout") }
    }

    /// Runs `sql` like `execute`, but retries for up to `timeoutMs` while SQLite reports
    /// SQLITE_BUSY. SQLite skips the busy handler when waiting could deadlock (two connections
    /// that both hold a shared lock and both want an exclusive one, as when two processes switch a
    /// new database to WAL at once); one of them must give up its lock and try again.
    func executeRetryingWhenBusy(_ sql: StaticString, timeoutMs: Int) throws(CatalogError) {
        var waitedMs = 0
        while true {
            do throws(CatalogError) {
                return try execute(sql)
            } catch where error.sqliteResultCode.map({ Int32($0) & 0xFF == SQLITE_BUSY }) ?? false {
                guard waitedMs < timeoutMs else { throw error }
                let pauseMs = min(10, waitedMs + 1)
                sqlite3_sleep(Int32(pauseMs))
                waitedMs += pauseMs
            }
        }
    }

    /// Prepares one statement of static SQL.
    func prepare(_ sql: StaticString) throws(CatalogError) -> SQLiteStatement {
        let text = sql.withUTF8Buffer { Array($0) }
        return try text.withUnsafeBufferPointer { (buffer) throws(CatalogError) in
            var offset = 0
            guard let statement = try prepare(buffer, from: &offset) else {
                throw CatalogError(.sql, "internal error: empty SQL statement", path: path)
            }
            return statement
        }
    }

    /// Prepares the statement that starts at `offset` in `buffer` and moves `offset` past it;
    /// nil when only whitespace or comments remain.
    private func prepare(_ buffer: UnsafeBufferPointer<UInt8>, from offset: inout Int) throws(CatalogError) -> SQLiteStatement? {
        guard let base = buffer.baseAddress else { return nil }
        let start = UnsafeRawPointer(base + offset).assumingMemoryBound(to: CChar.self)
        var statement: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let rc = sqlite3_prepare_v2(try open(), start, Int32(buffer.count - offset), &statement, &tail)
        guard rc == SQLITE_OK else { throw error(rc, "cannot prepare an SQL statement") }
        offset = tail.map { UnsafeRawPointer($0) - UnsafeRawPointer(base) } ?? buffer.count
        return statement.map { SQLiteStatement(connection: self, handle: $0) }
    }

    /// Runs `body` in a write transaction: committed when it returns, rolled back when it throws.
    /// `BEGIN IMMEDIATE` takes the write lock at once, so concurrent writers in other processes
    /// wait (up to the busy timeout) instead of failing when they try to upgrade a read.
    func transaction<T>(_ body: () throws(CatalogError) -> T) throws(CatalogError) -> T {
        try execute("BEGIN IMMEDIATE")
        do throws(CatalogError) {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            // Some failures (a full disk, for one) have already rolled the transaction back, in
            // which case ROLLBACK fails harmlessly; the first error is the one to report.
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    func changes() throws(CatalogError) -> Int {
        Int(sqlite3_changes(try open()))
    }

    /// The handle, or `.closed`.
    fileprivate func open() throws(CatalogError) -> OpaquePointer {
        guard let handle else { throw CatalogError(.closed, "the catalog is closed", path: path) }
        return handle
    }

    /// A `CatalogError` for result code `rc`: `.corrupt` for a damaged or foreign file (with
    /// the fix, and without `what`, which says nothing useful then), `.conflict` for a constraint
    /// failure, `.open` when the file cannot be opened, `.sql` otherwise.
    func error(_ rc: Int32, _ what: String) -> CatalogError {
        let detail = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
        switch rc & 0xFF {
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            return CatalogError(
                .corrupt,
                "the catalog database is damaged or is not an SQLite database; move it aside and run 'rrlog reindex' to rebuild it from the session manifests",
                path: path, sqliteResultCode: Int(rc), sqliteMessage: detail)
        case SQLITE_CONSTRAINT:
            return CatalogError(.conflict, "\(what): a constraint failed", path: path, sqliteResultCode: Int(rc), sqliteMessage: detail)
        case SQLITE_CANTOPEN:
            return CatalogError(
                .open, "\(what): cannot open the database file; check that its directory exists and is writable",
                path: path, sqliteResultCode: Int(rc), sqliteMessage: detail)
        case SQLITE_FULL:
            return CatalogError(.sql, "\(what): the disk is full; free space and retry", path: path, sqliteResultCode: Int(rc), sqliteMessage: detail)
        case SQLITE_BUSY, SQLITE_LOCKED:
            return CatalogError(
                .sql, "\(what): another process kept the catalog locked past the busy timeout; retry",
                path: path, sqliteResultCode: Int(rc), sqliteMessage: detail)
        case SQLITE_READONLY, SQLITE_PERM:
            return CatalogError(
                .sql, "\(what): the catalog database is not writable; check its permissions",
                path: path, sqliteResultCode: Int(rc), sqliteMessage: detail)
        default:
            return CatalogError(.sql, what, path: path, sqliteResultCode: Int(rc), sqliteMessage: detail)
        }
    }
}

/// One prepared statement; finalised when it goes away.
final class SQLiteStatement {
    private let connection: SQLiteConnection
    private let handle: OpaquePointer

    fileprivate init(connection: SQLiteConnection, handle: OpaquePointer) {
        self.connection = connection
        self.handle = handle
    }

    deinit { sqlite3_finalize(handle) }

    /// Binds `value` (nil binds NULL) to the 1-based parameter `index`.
    func bind(_ value: String?, at index: Int32) throws(CatalogError) {
        guard var value else { return try check(sqlite3_bind_null(handle, index)) }
        // An explicit length keeps embedded NUL characters; an empty string must not pass a
        // null pointer, which SQLite would bind as NULL.
        let rc = value.withUTF8 { utf8 in
            guard let base = utf8.baseAddress, utf8.count > 0 else {
                return sqlite3_bind_text(handle, index, "", 0, sqliteTransient)
            }
            return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                sqlite3_bind_text(handle, index, $0, Int32(utf8.count), sqliteTransient)
            }
        }
        try check(rc)
    }

    /// Binds UTF-8 `bytes` as text to the 1-based parameter `index`.
    func bind(utf8 bytes: [UInt8], at index: Int32) throws(CatalogError) {
        let rc = bytes.withUnsafeBufferPointer { utf8 in
            guard let base = utf8.baseAddress, utf8.count > 0 else {
                return sqlite3_bind_text(handle, index, "", 0, sqliteTransient)
            }
            return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                sqlite3_bind_text(handle, index, $0, Int32(utf8.count), sqliteTransient)
            }
        }
        try check(rc)
    }

    /// Binds `value` (nil binds NULL) to the 1-based parameter `index`.
    func bind(_ value: Int64?, at index: Int32) throws(CatalogError) {
        guard let value else { return try check(sqlite3_bind_null(handle, index)) }
        try check(sqlite3_bind_int64(handle, index, value))
    }

    /// Advances to the next row: true when there is one, false when the statement is done.
    func step() throws(CatalogError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc, "an SQL statement failed")
        }
    }

    /// Makes the statement ready to run again; bindings stay until rebound.
    func reset() {
        // sqlite3_reset repeats the error of the last step, which `step()` has already reported.
        sqlite3_reset(handle)
    }

    /// The text of 0-based column `index` in the current row, as UTF-8 bytes (empty for NULL).
    func bytes(at index: Int32) -> [UInt8] {
        // sqlite3_column_text before sqlite3_column_bytes, as SQLite's documentation asks.
        guard let text = sqlite3_column_text(handle, index) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, index))
        return Array(UnsafeBufferPointer(start: text, count: count))
    }

    /// The text of 0-based column `index` in the current row, or nil for NULL.
    func string(at index: Int32) -> String? {
        guard sqlite3_column_type(handle, index) != SQLITE_NULL else { return nil }
        return String(decoding: bytes(at: index), as: UTF8.self)
    }

    /// The integer in 0-based column `index` of the current row (0 for NULL).
    func int64(at index: Int32) -> Int64 {
        sqlite3_column_int64(handle, index)
    }

    private func check(_ rc: Int32) throws(CatalogError) {
        guard rc == SQLITE_OK else { throw connection.error(rc, "cannot bind an SQL parameter") }
    }
}

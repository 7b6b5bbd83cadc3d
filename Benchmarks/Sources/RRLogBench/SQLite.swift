import CSQLiteBench

/// The few SQLite calls the peer benchmarks need, through the C library.
final class SQLiteDB {
    private(set) var db: OpaquePointer?
    let path: String

    init(path: String) throws {
        self.path = path
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK else { throw BenchError("sqlite open \(path): \(rc)") }
    }

    deinit { sqlite3_close_v2(db) }

    func exec(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "\(rc)"
            sqlite3_free(message)
            throw BenchError("sqlite: \(sql): \(text)")
        }
    }

    func prepare(_ sql: String) throws -> SQLiteStatement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw BenchError("sqlite prepare \(sql): \(String(cString: sqlite3_errmsg(db)))") }
        return SQLiteStatement(stmt, db: db)
    }

    func scalar(_ sql: String) throws -> Int64 {
        let s = try prepare(sql)
        guard s.step() == SQLITE_ROW else { throw BenchError("sqlite: no row for \(sql)") }
        return s.int(0)
    }

    static var version: String { String(cString: sqlite3_libversion()) }
}

final class SQLiteStatement {
    let stmt: OpaquePointer
    let db: OpaquePointer?

    init(_ stmt: OpaquePointer, db: OpaquePointer?) {
        self.stmt = stmt
        self.db = db
    }

    deinit { sqlite3_finalize(stmt) }

    /// Binds borrowed bytes (SQLITE_STATIC: they must outlive the step).
    @inline(__always)
    func bind(_ index: Int32, _ bytes: UnsafeRawBufferPointer?) {
        if let bytes {
            sqlite3_bind_blob(stmt, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), nil)
        } else {
            sqlite3_bind_null(stmt, index)
        }
    }

    @inline(__always)
    func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(stmt, index, value) }

    @inline(__always)
    func step() -> Int32 { sqlite3_step(stmt) }

    @inline(__always)
    func reset() { sqlite3_reset(stmt) }

    /// Steps a statement that returns no row, then resets it.
    func run() throws {
        let rc = sqlite3_step(stmt)
        sqlite3_reset(stmt)
        guard rc == SQLITE_DONE else { throw BenchError("sqlite step: \(String(cString: sqlite3_errmsg(db)))") }
    }

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }

    func blob(_ column: Int32) -> UnsafeRawBufferPointer {
        let p = sqlite3_column_blob(stmt, column)
        let n = Int(sqlite3_column_bytes(stmt, column))
        return UnsafeRawBufferPointer(start: p, count: n)
    }
}

let sqliteRow = SQLITE_ROW
let sqliteDone = SQLITE_DONE

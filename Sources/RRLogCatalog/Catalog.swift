import Foundation
import Synchronization

/// The SQLite catalog of sessions: one row per session, holding its whole manifest, so sessions
/// can be found and listed without reading every session directory.
///
/// The catalog is an index, never the source of truth: the manifest files are. When the database
/// is lost or damaged, `rrlog reindex` rebuilds it with `replaceAll(with:)`.
///
/// The database runs in WAL mode, so several processes may open the same catalog: readers never
/// block, writers wait for each other up to a 5 second busy timeout.
///
/// Thread safety: one `sqlite3` connection is shared by all threads; it lives in a `Mutex`, so
/// every use of it holds the lock and SQLite sees one caller at a time.
public final class Catalog: Sendable {
    /// How long a statement waits for another connection's lock before failing.
    static let busyTimeoutMs = 5_000

    /// The schema version this build creates and the newest it opens (`PRAGMA user_version`).
    public static let schemaVersion = 1

    /// The database file.
    public let path: String
    /// The connection; nil once closed.
    private let connection: Mutex<SQLiteConnection?>

    /// Opens the catalog at `path`, creating the file and its schema when missing. The directory
    /// must exist.
    ///
    /// Throws `.corrupt` when the file is damaged or is not an SQLite database, and `.open` when it
    /// cannot be opened, is some other SQLite database, or has a newer schema; each message says
    /// which file and what to do.
    public init(path: String) throws(CatalogError) {
        self.path = path
        let connection = try SQLiteConnection(path: path)
        do throws(CatalogError) {
            try Self.configure(connection)
            try Self.migrate(connection)
            Self.addListingIndex(connection)
        } catch {
            connection.close()
            guard error.code == .sql else { throw error }
            var error = error
            error.message = "cannot open the catalog: \(error.message)"
            throw error
        }
        self.connection = Mutex(connection)
    }

    /// Closes the database; later calls to any method throw `.closed`. Closing twice is harmless.
    public func close() {
        connection.withLock { c in
            c?.close()
            c = nil
        }
    }

    // MARK: Writing

    /// Inserts `manifest`, or replaces the session with the same id, in one transaction.
    ///
    /// Throws `.conflict` when another session (another id) already has the same name, and
    /// `.badManifest` when the id or name is empty.
    public func upsert(_ manifest: SessionManifest) throws(CatalogError) {
        try Self.validate(manifest, path: path)
        try withConnection("store session '\(manifest.id)'") { (db) throws(CatalogError) in
            try db.transaction { () throws(CatalogError) in
                try Self.write(manifest, to: db, replacing: true)
            }
        }
    }

    /// Removes the session with `id` and its tags. Throws `.notFound` when there is none.
    public func delete(id: String) throws(CatalogError) {
        try withConnection("delete session '\(id)'") { (db) throws(CatalogError) in
            let statement = try db.prepare("DELETE FROM sessions WHERE id = ?1")
            try statement.bind(id, at: 1)
            _ = try statement.step()
            // Tags go with the session through ON DELETE CASCADE.
            guard try db.changes() > 0 else {
                throw CatalogError(.notFound, "no session with id '\(id)' in the catalog", path: path)
            }
        }
    }

    /// Replaces the whole catalog with `manifests`, in one transaction: afterwards it holds
    /// exactly these sessions. `rrlog reindex` uses it to rebuild the catalog from the manifest
    /// files.
    ///
    /// Throws `.conflict` when two manifests share an id or a name, and `.badManifest` when one has
    /// an empty id or name; the catalog is then left as it was.
    public func replaceAll(with manifests: [SessionManifest]) throws(CatalogError) {
        for manifest in manifests { try Self.validate(manifest, path: path) }
        try withConnection("replace the catalog's sessions") { (db) throws(CatalogError) in
            try db.transaction { () throws(CatalogError) in
                try db.execute("DELETE FROM tags; DELETE FROM sessions;")
                for manifest in manifests {
                    try Self.write(manifest, to: db, replacing: false)
                }
            }
        }
    }

    // MARK: Reading

    /// The session with `id`, or nil.
    public func session(id: String) throws(CatalogError) -> SessionManifest? {
        try withConnection("look up session '\(id)'") { (db) throws(CatalogError) in
            let statement = try db.prepare("SELECT id, manifest_json FROM sessions WHERE id = ?1")
            try statement.bind(id, at: 1)
            return try Self.manifests(from: statement, path: path).first
        }
    }

    /// The session named `name`, or nil.
    public func session(name: String) throws(CatalogError) -> SessionManifest? {
        try withConnection("look up session named '\(name)'") { (db) throws(CatalogError) in
            let statement = try db.prepare("SELECT id, manifest_json FROM sessions WHERE name = ?1")
            try statement.bind(name, at: 1)
            return try Self.manifests(from: statement, path: path).first
        }
    }

    /// The sessions, oldest first (by `createdNs`, then by name), optionally only those of one
    /// `type` and those carrying `tag`.
    public func list(type: String? = nil, tag: String? = nil) throws(CatalogError) -> [SessionManifest] {
        try withConnection("list sessions") { (db) throws(CatalogError) in
            // One fixed statement per combination of filters, so the (type, created_ns) index can
            // serve the type filter and no SQL text is ever assembled at run time.
            let statement: SQLiteStatement
            switch (type != nil, tag != nil) {
            case (false, false):
                statement = try db.prepare(
                    "SELECT id, manifest_json FROM sessions ORDER BY created_ns, name")
            case (true, false):
                statement = try db.prepare(
                    "SELECT id, manifest_json FROM sessions WHERE type = ?1 ORDER BY created_ns, name")
            case (false, true):
                statement = try db.prepare(
                    """
                    SELECT id, manifest_json FROM sessions
                    WHERE id IN (SELECT session_id FROM tags WHERE tag = ?2)
                    ORDER BY created_ns, name
                    """)
            case (true, true):
                statement = try db.prepare(
                    """
                    SELECT id, manifest_json FROM sessions
                    WHERE type = ?1 AND id IN (SELECT session_id FROM tags WHERE tag = ?2)
                    ORDER BY created_ns, name
                    """)
            }
            if let type { try statement.bind(type, at: 1) }
            if let tag { try statement.bind(tag, at: 2) }
            return try Self.manifests(from: statement, path: path)
        }
    }

    /// One page of sessions, filtered and sorted by the catalog's columns, so that only the page's
    /// manifests are decoded (a listing of many sessions costs a query, not a decode of each).
    public struct PageQuery: Sendable, Equatable {
        /// What a page is sorted by; ties go by name (by id for `name`).
        public enum Sort: String, Sendable, CaseIterable {
            case created, name, records, bytes, start
        }
        /// Only this type.
        public var type: String?
        /// Only this status.
        public var status: String?
        /// Leave out this status (the caller lists those itself).
        public var excludingStatus: String?
        /// Only names containing this text, ASCII letters compared without case.
        public var nameContains: String?
        /// Only sessions whose records end at or after this (`end_ns`, else `start_ns`, else `created_ns`).
        public var fromNs: Int64?
        /// Only sessions whose records start before this (`start_ns`, else `created_ns`).
        public var toNs: Int64?
        /// The order.
        public var sort: Sort = .created
        /// Largest first.
        public var descending = false
        /// At most this many.
        public var limit = 100
        /// Skipping this many.
        public var offset = 0

        /// A query of every session, oldest first, 100 at a time.
        public init() {}
    }

    /// The sessions `query` selects: how many match, and the page.
    public func page(_ query: PageQuery) throws(CatalogError) -> (total: Int, sessions: [SessionManifest]) {
        // Fixed statements (no SQL text is assembled at run time): a filter not given is bound
        // as NULL and matches every row; the sort is a bound number.
        let sortKey: Int64
        switch query.sort {
        case .created: sortKey = 0
        case .name: sortKey = 1
        case .records: sortKey = 2
        case .bytes: sortKey = 3
        case .start: sortKey = 4
        }
        return try withConnection("list a page of sessions") { (db) throws(CatalogError) in
            func bound(_ statement: SQLiteStatement) throws(CatalogError) -> SQLiteStatement {
                try statement.bind(query.type, at: 1)
                try statement.bind(query.status, at: 2)
                try statement.bind(query.excludingStatus, at: 3)
                try statement.bind(query.nameContains, at: 4)
                try statement.bind(query.fromNs, at: 5)
                try statement.bind(query.toNs, at: 6)
                return statement
            }
            let counting = try bound(try db.prepare(
                """
                SELECT count(*) FROM sessions
                WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR status <> ?3)
                    AND (?4 IS NULL OR instr(lower(name), lower(?4)) > 0)
                    AND (?5 IS NULL OR COALESCE(end_ns, start_ns, created_ns) >= ?5)
                    AND (?6 IS NULL OR COALESCE(start_ns, created_ns) < ?6)
                """))
            _ = try counting.step()
            let total = Int(counting.int64(at: 0))
            // One statement for both orders: the terms of the other order are NULL for every row.
            // It sorts ids only (the sorter never carries a manifest); the page's manifests are
            // then read by id.
            let rows = try bound(try db.prepare(
                """
                SELECT id FROM sessions
                WHERE (?1 IS NULL OR type = ?1) AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR status <> ?3)
                    AND (?4 IS NULL OR instr(lower(name), lower(?4)) > 0)
                    AND (?5 IS NULL OR COALESCE(end_ns, start_ns, created_ns) >= ?5)
                    AND (?6 IS NULL OR COALESCE(start_ns, created_ns) < ?6)
                ORDER BY
                    CASE WHEN ?10 = 0 THEN CASE ?9 WHEN 0 THEN created_ns WHEN 2 THEN record_count WHEN 3 THEN bytes_on_disk
                        WHEN 4 THEN COALESCE(start_ns, 0) END END,
                    CASE WHEN ?10 = 1 THEN CASE ?9 WHEN 0 THEN created_ns WHEN 2 THEN record_count WHEN 3 THEN bytes_on_disk
                        WHEN 4 THEN COALESCE(start_ns, 0) END END DESC,
                    CASE WHEN ?10 = 0 THEN name END, CASE WHEN ?10 = 1 THEN name END DESC,
                    CASE WHEN ?10 = 0 THEN id END, CASE WHEN ?10 = 1 THEN id END DESC
                LIMIT ?7 OFFSET ?8
                """))
            try rows.bind(Int64(query.descending ? 1 : 0), at: 10)
            try rows.bind(Int64(max(0, query.limit)), at: 7)
            try rows.bind(Int64(max(0, query.offset)), at: 8)
            try rows.bind(sortKey, at: 9)
            var ids: [String] = []
            while try rows.step() { if let id = rows.string(at: 0) { ids.append(id) } }
            let byID = try db.prepare("SELECT id, manifest_json FROM sessions WHERE id = ?1")
            var page: [SessionManifest] = []
            for id in ids {
                try byID.bind(id, at: 1)
                page += try Self.manifests(from: byID, path: path)
                byID.reset()
            }
            return (total, page)
        }
    }

    /// The number of sessions.
    public func count() throws(CatalogError) -> Int {
        try withConnection("count sessions") { (db) throws(CatalogError) in
            let statement = try db.prepare("SELECT count(*) FROM sessions")
            _ = try statement.step()
            return Int(statement.int64(at: 0))
        }
    }

    /// Checks the database and returns the problems found, one sentence each; empty when all is
    /// well.
    ///
    /// Runs SQLite's `PRAGMA integrity_check` and `PRAGMA foreign_key_check`, then checks that
    /// every stored manifest decodes and agrees with its row's id. A database too damaged to
    /// check throws `.corrupt`. Any problem is fixed by `rrlog reindex`.
    public func integrityCheck() throws(CatalogError) -> [String] {
        try withConnection("check the catalog") { (db) throws(CatalogError) in
            var problems: [String] = []
            let integrity = try db.prepare("PRAGMA integrity_check")
            while try integrity.step() {
                let line = integrity.string(at: 0) ?? ""
                if line != "ok" { problems.append("SQLite integrity check: \(line)") }
            }
            let foreignKeys = try db.prepare("PRAGMA foreign_key_check")
            while try foreignKeys.step() {
                let table = foreignKeys.string(at: 0) ?? "?"
                let parent = foreignKeys.string(at: 2) ?? "?"
                problems.append("a row of table '\(table)' refers to a missing row of '\(parent)'")
            }
            let rows = try db.prepare("SELECT id, manifest_json FROM sessions ORDER BY id")
            while try rows.step() {
                let id = rows.string(at: 0) ?? ""
                do throws(CatalogError) {
                    let manifest = try SessionManifest.decode(from: rows.bytes(at: 1))
                    if manifest.id != id {
                        problems.append("session '\(id)': its stored manifest has id '\(manifest.id)'")
                    }
                } catch {
                    problems.append("session '\(id)': its stored manifest is unreadable: \(error.message)")
                }
            }
            return problems
        }
    }

    // MARK: Internals

    /// Runs `body` with the connection while holding the lock; `.closed` after `close()`.
    /// `operation` (e.g. "list sessions") prefixes the message of a plain `.sql` failure, whose
    /// own message only says which kind of SQL step failed.
    private func withConnection<T: Sendable>(
        _ operation: @autoclosure () -> String, _ body: (SQLiteConnection) throws(CatalogError) -> T
    ) throws(CatalogError) -> T {
        let path = self.path
        return try connection.withLock { (c) throws(CatalogError) -> T in
            guard let c else {
                throw CatalogError(.closed, "cannot \(operation()): the catalog is closed", path: path)
            }
            do throws(CatalogError) {
                return try body(c)
            } catch where error.code == .sql {
                var error = error
                error.message = "cannot \(operation()): \(error.message)"
                throw error
            }
        }
    }

    /// Connection settings; the first statement is also the first to read the file, so it is the
    /// one that reports a damaged or foreign file.
    private static func configure(_ db: SQLiteConnection) throws(CatalogError) {
        try db.setBusyTimeout(milliseconds: busyTimeoutMs)
        // Switching a new database to WAL takes an exclusive lock, and two connections doing it at
        // once get SQLITE_BUSY without waiting, so this one statement retries by itself.
        try db.executeRetryingWhenBusy("PRAGMA journal_mode = WAL", timeoutMs: busyTimeoutMs)
        try db.execute("PRAGMA synchronous = NORMAL")
        try db.execute("PRAGMA foreign_keys = ON")
    }

    /// The schema, one step per version: step `i` upgrades a database from `user_version` `i`
    /// to `i + 1` and sets the new version itself.
    private static let migrations: [StaticString] = [
        """
        CREATE TABLE sessions (
            id            TEXT    NOT NULL PRIMARY KEY,
            name          TEXT    NOT NULL UNIQUE,
            type          TEXT    NOT NULL,
            status        TEXT    NOT NULL,
            created_ns    INTEGER NOT NULL,
            start_ns      INTEGER,
            end_ns        INTEGER,
            record_count  INTEGER NOT NULL,
            bytes_stored  INTEGER NOT NULL,
            bytes_on_disk INTEGER NOT NULL,
            description   TEXT    NOT NULL,
            manifest_json TEXT    NOT NULL
        );
        CREATE INDEX sessions_by_type_created ON sessions (type, created_ns);
        CREATE TABLE tags (
            session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
            tag        TEXT NOT NULL,
            PRIMARY KEY (session_id, tag)
        ) WITHOUT ROWID;
        CREATE INDEX tags_by_tag ON tags (tag);
        PRAGMA user_version = 1;
        """,
    ]

    /// The index that covers a page of sessions (`page`): its filters, sorts and ids, so that
    /// counting and sorting never read the rows' manifests. Not a schema step (older builds open
    /// the catalog as before and never need it): made when missing, and left out without harm
    /// where the catalog cannot be written.
    private static func addListingIndex(_ db: SQLiteConnection) {
        guard let exists = try? db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'sessions_listing'"),
            (try? exists.step()) == false
        else { return }
        try? db.executeRetryingWhenBusy(
            """
            CREATE INDEX IF NOT EXISTS sessions_listing ON sessions
                (status, type, created_ns, record_count, bytes_on_disk, start_ns, end_ns, name, id)
            """, timeoutMs: busyTimeoutMs)
    }

    /// Brings the schema up to `schemaVersion`, in one transaction so that two processes opening
    /// a new catalog at once do not both create it. An up-to-date catalog takes no write lock.
    private static func migrate(_ db: SQLiteConnection) throws(CatalogError) {
        assert(migrations.count == schemaVersion, "one migration step per schema version")
        guard try checkedUserVersion(db) < schemaVersion else { return }
        try db.transaction { () throws(CatalogError) in
            // Read again under the write lock: another process may have migrated meanwhile.
            let version = try checkedUserVersion(db)
            if version == 0 {
                let tables = try db.prepare("SELECT count(*) FROM sqlite_master")
                _ = try tables.step()
                guard tables.int64(at: 0) == 0 else {
                    throw CatalogError(
                        .open,
                        "the file is an SQLite database but not an rrlog catalog; move it aside and run 'rrlog reindex'",
                        path: db.path)
                }
            }
            for step in migrations[version...] {
                try db.execute(step)
            }
        }
    }

    /// The schema version of the database; `.open` when it is newer than this build knows.
    private static func checkedUserVersion(_ db: SQLiteConnection) throws(CatalogError) -> Int {
        let statement = try db.prepare("PRAGMA user_version")
        _ = try statement.step()
        let version = Int(statement.int64(at: 0))
        guard version <= schemaVersion else {
            throw CatalogError(
                .open,
                "the catalog has schema version \(version), newer than the \(schemaVersion) this rrlog knows; upgrade rrlog, or move the file aside and run 'rrlog reindex'",
                path: db.path)
        }
        return version
    }

    private static func validate(_ manifest: SessionManifest, path: String) throws(CatalogError) {
        guard !manifest.id.isEmpty else {
            throw CatalogError(.badManifest, "a session manifest has an empty id (name '\(manifest.name)')", path: path)
        }
        guard !manifest.name.isEmpty else {
            throw CatalogError(.badManifest, "session '\(manifest.id)' has an empty name", path: path)
        }
    }

    /// Writes one session row and its tags; the caller holds a transaction. With `replacing`, a row
    /// with the same id is updated; without, a second row with the same id is a conflict.
    private static func write(_ manifest: SessionManifest, to db: SQLiteConnection, replacing: Bool) throws(CatalogError) {
        // Look for a name clash first, to name the session that holds the name.
        let clash = try db.prepare("SELECT id FROM sessions WHERE name = ?1 AND id <> ?2")
        try clash.bind(manifest.name, at: 1)
        try clash.bind(manifest.id, at: 2)
        if try clash.step() {
            throw CatalogError(
                .conflict,
                "cannot store session '\(manifest.id)': the name '\(manifest.name)' is already used by session '\(clash.string(at: 0) ?? "")'",
                path: db.path)
        }

        let statement: SQLiteStatement
        if replacing {
            statement = try db.prepare(
                """
                INSERT INTO sessions (id, name, type, status, created_ns, start_ns, end_ns,
                    record_count, bytes_stored, bytes_on_disk, description, manifest_json)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                ON CONFLICT (id) DO UPDATE SET
                    name = excluded.name, type = excluded.type, status = excluded.status,
                    created_ns = excluded.created_ns, start_ns = excluded.start_ns,
                    end_ns = excluded.end_ns, record_count = excluded.record_count,
                    bytes_stored = excluded.bytes_stored, bytes_on_disk = excluded.bytes_on_disk,
                    description = excluded.description, manifest_json = excluded.manifest_json
                """)
        } else {
            statement = try db.prepare(
                """
                INSERT INTO sessions (id, name, type, status, created_ns, start_ns, end_ns,
                    record_count, bytes_stored, bytes_on_disk, description, manifest_json)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                """)
        }
        try statement.bind(manifest.id, at: 1)
        try statement.bind(manifest.name, at: 2)
        try statement.bind(manifest.type, at: 3)
        try statement.bind(manifest.status, at: 4)
        try statement.bind(manifest.createdNs, at: 5)
        try statement.bind(manifest.startNs, at: 6)
        try statement.bind(manifest.endNs, at: 7)
        try statement.bind(Int64(manifest.recordCount), at: 8)
        try statement.bind(manifest.bytesStored, at: 9)
        try statement.bind(manifest.bytesOnDisk, at: 10)
        try statement.bind(manifest.description, at: 11)
        try statement.bind(utf8: manifest.encoded(), at: 12)
        do throws(CatalogError) {
            _ = try statement.step()
        } catch where error.code == .conflict {
            throw CatalogError(
                .conflict, "cannot store session '\(manifest.id)': a session with that id already exists",
                path: db.path, sqliteResultCode: error.sqliteResultCode, sqliteMessage: error.sqliteMessage)
        }

        let clearTags = try db.prepare("DELETE FROM tags WHERE session_id = ?1")
        try clearTags.bind(manifest.id, at: 1)
        _ = try clearTags.step()
        let addTag = try db.prepare("INSERT OR IGNORE INTO tags (session_id, tag) VALUES (?1, ?2)")
        for tag in manifest.tags {
            try addTag.bind(manifest.id, at: 1)
            try addTag.bind(tag, at: 2)
            _ = try addTag.step()
            addTag.reset()
        }
    }

    /// Decodes the manifests of the `(id, manifest_json)` rows `statement` returns. A stored
    /// manifest that does not decode means the catalog is damaged.
    private static func manifests(from statement: SQLiteStatement, path: String) throws(CatalogError) -> [SessionManifest] {
        var result: [SessionManifest] = []
        while try statement.step() {
            do throws(CatalogError) {
                result.append(try SessionManifest.decode(from: statement.bytes(at: 1)))
            } catch {
                throw CatalogError(
                    .corrupt,
                    "the catalog row of session '\(statement.string(at: 0) ?? "")' holds an unreadable manifest (\(error.message)); run 'rrlog reindex'",
                    path: path)
            }
        }
        return result
    }
}

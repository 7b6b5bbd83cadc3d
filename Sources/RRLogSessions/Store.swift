import Foundation
public import RRLogCatalog
import RRLogFormat
import RRLogIOProfile
public import RRLogStorage

/// A store: a directory holding one log per session, each session's manifest, and the SQLite
/// catalog that lists them (README "Store layout").
///
/// ```
/// rrlog-data/
///   catalog.sqlite            the catalog (WAL mode); rebuilt from manifests by reindex()
///   sessions/<id>/manifest.json
///   sessions/<id>/log/        the session's segments (FORMAT.md)
/// ```
/// Directories are created 0700 and files 0600. Sessions are found by name, id or strategy.
public final class Store: Sendable {
    /// The store directory.
    public let path: String
    let catalog: Catalog

    /// Session types a store accepts.
    public static let sessionTypes = ["recording", "capture", "seed", "training"]

    /// The store directory to use: `explicit` if given, else `$RRLOG_STORE`, else `./rrlog-data`.
    public static func resolvePath(_ explicit: String? = nil) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = ProcessInfo.processInfo.environment["RRLOG_STORE"], !env.isEmpty { return env }
        return "rrlog-data"
    }

    /// Opens the store at `path` (see `resolvePath`), creating it when `create` is true.
    public init(path: String? = nil, create: Bool = true) throws(RRLogError) {
        let root = Store.resolvePath(path)
        self.path = root
        try Store.checkAccess(root)
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if !fm.fileExists(atPath: root, isDirectory: &isDirectory) {
            guard create else { throw RRLogError(.invalidArgument, "no store at \(root) (create one with 'rrlog append --create' or 'rrlog demo')") }
        } else if !isDirectory.boolValue {
            throw RRLogError(.invalidArgument, "\(root) exists and is not a directory")
        }
        do {
            // An existing store is left as it is (it may be on a read-only file system).
            if !fm.fileExists(atPath: root + "/sessions") {
                try fm.createDirectory(atPath: root + "/sessions", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                try fm.setAttributes([.posixPermissions: 0o700], ofItemAtPath: root)
            }
        } catch {
            throw RRLogError(.storage, "cannot create the store directory: \(error.localizedDescription)", location: root)
        }
        let catalogPath = root + "/catalog.sqlite"
        // SQLite gives its -wal and -shm files the database file's mode: create it 0600 first.
        if !fm.fileExists(atPath: catalogPath) {
            _ = fm.createFile(atPath: catalogPath, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        do { catalog = try Catalog(path: catalogPath) } catch { throw RRLogError(error) }
        try? fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: catalogPath)
    }

    /// Throws a clear error when `root` exists but this process may not use it: a store is only
    /// usable with read, write and search access to its directory and its catalog. (Without the
    /// check, a store that cannot be searched looks like no store at all.)
    static func checkAccess(_ root: String) throws(RRLogError) {
        let fm = FileManager.default
        guard fm.fileExists(atPath: root) else { return }
        func owner(_ path: String) -> String {
            guard let a = try? fm.attributesOfItem(atPath: path) else { return "" }
            let mode = (a[.posixPermissions] as? Int).map { String($0, radix: 8) } ?? "?"
            return " (owner uid \((a[.ownerAccountID] as? Int).map(String.init) ?? "?"), mode 0\(mode); this process runs as uid \(getuid()))"
        }
        if FileAccess.refusal(root, write: false, search: true) == .permissionDenied {
            throw RRLogError(.permissionDenied, "permission denied: cannot read the store directory\(owner(root))", location: root)
        }
        let catalog = root + "/catalog.sqlite"
        guard fm.fileExists(atPath: catalog) else { return }
        switch FileAccess.refusal(catalog, write: true) {
        case .permissionDenied?:
            throw RRLogError(.permissionDenied, "permission denied: the catalog needs read and write access\(owner(catalog))", location: catalog)
        case .readOnlyFileSystem?:
            throw RRLogError(
                .storage, "the store is on a read-only file system, and its catalog must be writable; segments stay readable with 'rrlog dump/verify PATH'",
                location: catalog)
        default:
            return
        }
    }

    func sessionDirectory(_ id: String) -> String { path + "/sessions/" + id }
    func logDirectory(_ id: String) -> String { sessionDirectory(id) + "/log" }
    func manifestPath(_ id: String) -> String { sessionDirectory(id) + "/manifest.json" }

    // MARK: Sessions

    /// Checks a session name: 1-128 characters from letters, digits, `.`, `_`, `-`, not starting
    /// with `.` or `-`. Names never become paths (directories are named by id), but are kept
    /// simple so they are safe in shells and URLs.
    public static func validateName(_ name: String) throws(RRLogError) {
        let allowed = name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
        guard !name.isEmpty, name.count <= 128, allowed, !name.hasPrefix("."), !name.hasPrefix("-"),
            !["latest", "largest", "smallest", "random"].contains(name)
        else {
            throw RRLogError(
                .invalidArgument,
                "invalid session name '\(name)': use 1-128 letters, digits, '.', '_' or '-', not starting with '.' or '-', and not a strategy name")
        }
    }

    /// Creates a session and its empty log; its manifest is written before this returns.
    public func createSession(
        name: String, type: String = "recording", description: String = "", tags: [String] = [],
        provenance: SessionManifest.Provenance = SessionManifest.Provenance(), annotations: [String: String] = [:]
    ) throws(RRLogError) -> SessionManifest {
        try createSession(
            name: name, type: type, description: description, tags: tags, provenance: provenance, annotations: annotations,
            staged: false)
    }

    /// The status of a staged session: its directory exists, the catalog does not list it.
    static let stagedStatus = "staging"

    /// Creates a session; `staged` leaves it out of the catalog (status `staging`) until its
    /// writer closes, which saves the manifest and so commits it. A staged session left by a
    /// crash is skipped by `reindex` and never listed.
    func createSession(
        name: String, type: String, description: String, tags: [String],
        provenance: SessionManifest.Provenance = SessionManifest.Provenance(), annotations: [String: String], staged: Bool
    ) throws(RRLogError) -> SessionManifest {
        try Store.validateName(name)
        guard Store.sessionTypes.contains(type) else {
            throw RRLogError(.invalidArgument, "invalid session type '\(type)': one of \(Store.sessionTypes.joined(separator: ", "))")
        }
        if (try? catalog.session(name: name)) != nil {
            throw RRLogError(.sessionExists, "a session named '\(name)' exists")
        }
        let id = UUID().uuidString.lowercased()
        let manifest = SessionManifest(
            id: id, name: name, type: type, status: staged ? Store.stagedStatus : "active", createdNs: nowNs(), description: description, tags: tags,
            provenance: provenance, annotations: annotations)
        do {
            try FileManager.default.createDirectory(
                atPath: logDirectory(id), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw RRLogError(.storage, "cannot create the session directory: \(error.localizedDescription)", location: sessionDirectory(id))
        }
        if staged {
            do { try AtomicFile.save(manifest.encoded(), to: manifestPath(manifest.id)) } catch {
                discardStaged(manifest)
                throw RRLogError(error)
            }
        } else {
            try save(manifest)
        }
        return manifest
    }

    /// Deletes a staged session's directory (it was never in the catalog).
    func discardStaged(_ manifest: SessionManifest) {
        try? FileManager.default.removeItem(atPath: sessionDirectory(manifest.id))
    }

    /// Writes a manifest atomically beside its log, then records it in the catalog.
    func save(_ manifest: SessionManifest) throws(RRLogError) {
        do { try AtomicFile.save(manifest.encoded(), to: manifestPath(manifest.id)) } catch { throw RRLogError(error) }
        do { try catalog.upsert(manifest) } catch {
            if error.code == .conflict { throw RRLogError(.sessionExists, "a session named '\(manifest.name)' exists") }
            throw RRLogError(error)
        }
    }

    /// The sessions, oldest first, optionally of one type.
    public func sessions(type: String? = nil) throws(RRLogError) -> [SessionManifest] {
        do { return try catalog.list(type: type).map(markingInterrupted) } catch { throw RRLogError(error) }
    }

    /// One page of sessions as `sessions()` shows them (a session left `active` by a dead writer
    /// as `interrupted`): the catalog filters, sorts and pages by its columns, so only the page's
    /// manifests are decoded; the few `active` sessions are looked at one by one and merged in.
    public func sessionsPage(_ query: Catalog.PageQuery) throws(RRLogError) -> (total: Int, sessions: [SessionManifest]) {
        let ascending: (SessionManifest, SessionManifest) -> Bool
        switch query.sort {
        case .name: ascending = { ($0.name, $0.id) < ($1.name, $1.id) }
        case .records: ascending = { ($0.recordCount, $0.name) < ($1.recordCount, $1.name) }
        case .bytes: ascending = { ($0.bytesOnDisk, $0.name) < ($1.bytesOnDisk, $1.name) }
        case .start: ascending = { ($0.startNs ?? 0, $0.name) < ($1.startNs ?? 0, $1.name) }
        case .created: ascending = { ($0.createdNs, $0.name) < ($1.createdNs, $1.name) }
        }
        let inOrder = { (a: SessionManifest, b: SessionManifest) -> Bool in query.descending ? ascending(b, a) : ascending(a, b) }
        do {
            // Active ones, with the status and figures `markingInterrupted` gives them.
            var active = query
            active.status = "active"
            active.excludingStatus = nil
            active.fromNs = nil
            active.toNs = nil
            active.limit = Int(Int32.max)
            active.offset = 0
            let live = try catalog.page(active).sessions.map(markingInterrupted).filter { m in
                (query.status.map { m.status == $0 } ?? true)
                    && (query.fromNs.map { (m.endNs ?? m.startNs ?? m.createdNs) >= $0 } ?? true)
                    && (query.toNs.map { (m.startNs ?? m.createdNs) < $0 } ?? true)
            }
            if query.status == "active" || query.status == Store.interruptedStatus {
                let sorted = live.sorted(by: inOrder)
                return (sorted.count, Array(sorted.dropFirst(query.offset).prefix(query.limit)))
            }
            var rest = query
            rest.excludingStatus = "active"
            rest.offset = 0
            rest.limit = query.offset + query.limit
            let page = try catalog.page(rest)
            let merged = (page.sessions + live).sorted(by: inOrder)
            return (page.total + live.count, Array(merged.dropFirst(query.offset).prefix(query.limit)))
        } catch {
            throw RRLogError(error)
        }
    }

    /// The status a session left `active` by a writer that is gone (killed, crashed) shows.
    public static let interruptedStatus = "interrupted"

    /// `manifest` with status `interrupted` when it says `active` but no writer has its log
    /// open: the recorder, capture or import that wrote it died without closing it. What was
    /// written stays readable; appending to it again makes it active again.
    func markingInterrupted(_ manifest: SessionManifest) -> SessionManifest {
        guard manifest.status == "active", LogWriter.isOpen(directory: logDirectory(manifest.id)) == false else { return manifest }
        var m = manifest
        m.status = Store.interruptedStatus
        // The catalog's figures are those of the last close: count what the log holds now (one
        // scan; only sessions left by a dead writer pay for it).
        guard let reader = try? LogReader(path: logDirectory(m.id)) else { return m }
        var counts: [String: Int] = [:]
        var bytes: Int64 = 0
        var start: Int64?, end: Int64?
        reader.forEachRecord { view in
            counts[RecordKind.name(of: view.kind), default: 0] += 1
            bytes += Int64(view.payload.count + (view.key?.count ?? 0))
            start = min(start ?? view.timestampNs, view.timestampNs)
            end = max(end ?? view.timestampNs, view.timestampNs)
            return true
        }
        m.recordCount = reader.recordCount
        m.countsByKind = counts
        m.bytesStored = bytes
        m.startNs = start
        m.endNs = end
        m.bytesOnDisk = Int64(reader.segments.reduce(0) { $0 + $1.sizeBytes })
        return m
    }

    /// Finds a session by name, by id, or by strategy: `latest`, `largest` and `smallest` (by
    /// bytes on disk), `random` (optionally only among sessions of `type`).
    public func session(_ selector: String, type: String? = nil) throws(RRLogError) -> SessionManifest {
        let strategies = ["latest", "largest", "smallest", "random"]
        if strategies.contains(selector) {
            // A strategy picks among sessions with data: empty and failed ones are skipped.
            let all = try sessions(type: type)
            let candidates = all.filter { $0.recordCount > 0 && $0.status != "failed" }
            let picked: SessionManifest?
            switch selector {
            case "latest": picked = candidates.max { ($0.createdNs, $0.name) < ($1.createdNs, $1.name) }
            case "largest": picked = candidates.max { ($0.bytesOnDisk, $0.name) < ($1.bytesOnDisk, $1.name) }
            case "smallest": picked = candidates.min { ($0.bytesOnDisk, $0.name) < ($1.bytesOnDisk, $1.name) }
            default: picked = candidates.randomElement()
            }
            guard let picked else {
                let skipped = all.isEmpty ? "" : " with records (\(all.count) empty or failed skipped)"
                throw RRLogError(.noSuchSession, "no sessions\(type.map { " of type \($0)" } ?? "")\(skipped) in the store at \(path)")
            }
            return picked
        }
        do {
            if let m = try catalog.session(name: selector) ?? catalog.session(id: selector) {
                if let type, m.type != type { throw RRLogError(.noSuchSession, "session '\(selector)' is of type \(m.type), not \(type)") }
                return markingInterrupted(m)
            }
        } catch let e as RRLogError {
            throw e
        } catch {
            throw RRLogError(error as! CatalogError)
        }
        let names = ((try? sessions()) ?? []).map(\.name)
        let near = names.filter { $0.lowercased().contains(selector.lowercased()) || selector.lowercased().contains($0.lowercased()) }.prefix(5)
        throw RRLogError(
            .noSuchSession,
            "no session named '\(selector)' in the store at \(path)" + (near.isEmpty ? "" : " (did you mean: \(near.joined(separator: ", "))?)")
                + "; 'rrlog ls' lists them")
    }

    /// Deletes a session: its catalog row, manifest and segments. Refused while it is being written.
    public func remove(_ manifest: SessionManifest) throws(RRLogError) {
        // Holding the log's lock proves nobody is recording into it or compacting it.
        let log = logDirectory(manifest.id)
        let lockPath = DirectoryLock.lockPath(forLog: log)
        let lock: DirectoryLock?
        do { lock = try SegmentFiles.exists(log) ? DirectoryLock.tryAcquire(lockPath, recordingHolder: true) : nil } catch { throw RRLogError(error) }
        if SegmentFiles.exists(log) && lock == nil {
            throw RRLogError(.busy, "session \(manifest.name) is being written or compacted by pid \(DirectoryLock.holder(of: lockPath) ?? "?"); stop it first")
        }
        defer { lock?.release() }
        do { try catalog.delete(id: manifest.id) } catch { throw RRLogError(error) }
        // The log goes first, under its directory's exclusive lock: a reader opening it meanwhile
        // finds it whole or gone. Then what is left of the session (manifest, leftovers).
        do {
            for leftover in [log + LogCompaction.stagingSuffix, log] { try LogDirectory.remove(leftover) }
        } catch { throw RRLogError(error) }
        do { try FileManager.default.removeItem(atPath: sessionDirectory(manifest.id)) } catch {
            throw RRLogError(.storage, "cannot remove the session directory: \(error.localizedDescription)", location: sessionDirectory(manifest.id))
        }
    }

    // MARK: Writing and reading

    /// Opens a session for appending. One writer per session (a second gets `.busy`).
    public func openWriter(_ manifest: SessionManifest, options: LogOptions = LogOptions()) throws(RRLogError) -> SessionWriter {
        try openWriter(manifest, options: options, staged: false)
    }

    /// Opens a writer; a `staged` session's manifest stays out of the catalog until close.
    func openWriter(_ manifest: SessionManifest, options: LogOptions, staged: Bool) throws(RRLogError) -> SessionWriter {
        if isRemote(manifest) {
            throw RRLogError(.invalidArgument, "session \(manifest.name) is kept in a bucket and read in place; 'rrlog pull \(manifest.name) --as NAME' makes a local copy to append to", location: logDirectory(manifest.id))
        }
        finishInterruptedCompaction(manifest.id)
        let log: LogWriter
        do { log = try LogWriter(directory: logDirectory(manifest.id), options: options) } catch { throw RRLogError(error) }
        var m = manifest
        if !staged && m.status != "active" {
            m.status = "active"
            try save(m)
        }
        return SessionWriter(store: self, manifest: m, log: log)
    }

    /// Opens a session for reading. Works while a writer appends (call `refresh()` to follow).
    public func openReader(_ manifest: SessionManifest) throws(RRLogError) -> SessionReader {
        finishInterruptedCompaction(manifest.id)
        // A compaction switches the log directory in one step: the reader reads the old log or
        // the new one, whole, and never has to wait for it.
        do { return SessionReader(manifest: manifest, log: try LogReader(path: logDirectory(manifest.id))) } catch { throw RRLogError(error) }
    }

    /// Opens a session for one pass over its records (export, `cat`): the reader lets go of each
    /// segment's pages once it has read it, so memory stays flat however large the session.
    public func openScanReader(_ manifest: SessionManifest) throws(RRLogError) -> SessionReader {
        let reader = try openReader(manifest)
        reader.dropsPagesBehindScans = true
        return reader
    }

    /// Recomputes a manifest's segments and sizes from its log, optionally sets its status, and
    /// saves it.
    @discardableResult
    /// The manifest entries of the segments `reader` has open (segments without records are left out).
    static func segmentRefs(_ reader: LogReader) -> [SessionManifest.SegmentRef] {
        reader.segments.compactMap { s in
            guard let first = s.view.chunks.first, let last = s.view.chunks.last else { return nil }
            return SessionManifest.SegmentRef(
                file: (s.path as NSString).lastPathComponent, firstSequence: first.firstSequence, lastSequence: last.lastSequence,
                recordCount: s.view.recordCount, bytesOnDisk: Int64(s.sizeBytes))
        }
    }

    func refreshManifest(_ manifest: SessionManifest, status: String? = nil) throws(RRLogError) -> SessionManifest {
        var m = manifest
        let reader: LogReader
        do { reader = try LogReader(path: logDirectory(m.id)) } catch { throw RRLogError(error) }
        m.segments = Self.segmentRefs(reader)
        // One probe per lookup however many segments the session has (FORMAT.md §6.3).
        do { try reader.writeKeyIndex() } catch { throw RRLogError(error) }
        m.recordCount = reader.recordCount
        m.bytesOnDisk = Int64(reader.segments.reduce(0) { $0 + $1.sizeBytes })
        if let status { m.status = status }
        try save(m)
        return m
    }

    // MARK: Maintenance

    /// What `reindex` did.
    public struct ReindexReport: Sendable, Codable {
        /// Sessions found and cataloged.
        public var sessions = 0
        /// Session directories skipped, with the reason.
        public var skipped: [String] = []
    }

    /// Rebuilds the catalog from the manifests and logs alone (after the catalog was lost or damaged).
    public static func reindex(path: String? = nil, progress: ((Int, Int) -> Void)? = nil) throws(RRLogError) -> ReindexReport {
        let root = resolvePath(path)
        let catalogPath = root + "/catalog.sqlite"
        let fm = FileManager.default
        try checkAccess(root)
        guard fm.fileExists(atPath: root + "/sessions") else { throw RRLogError(.invalidArgument, "no store at \(root)") }
        // A damaged catalog is moved aside, never deleted: it may help a post-mortem.
        if fm.fileExists(atPath: catalogPath), (try? Catalog(path: catalogPath).integrityCheck().isEmpty) != true {
            let aside = catalogPath + ".damaged-\(Int(Date().timeIntervalSince1970))"
            try? fm.moveItem(atPath: catalogPath, toPath: aside)
            for suffix in ["-wal", "-shm"] { try? fm.removeItem(atPath: catalogPath + suffix) }
        }
        let store = try Store(path: root)
        var report = ReindexReport()
        var manifests: [SessionManifest] = []
        let ids = ((try? fm.contentsOfDirectory(atPath: root + "/sessions")) ?? []).sorted()
        for (n, id) in ids.enumerated() {
            progress?(n, ids.count)
            let manifestFile = store.manifestPath(id)
            do {
                let bytes = try AtomicFile.read(manifestFile, limitBytes: SessionManifest.encodedSizeBytesMax)
                var m = try SessionManifest.decode(from: bytes, path: manifestFile)
                guard m.id == id else {
                    report.skipped.append("\(id): manifest id \(m.id) differs from its directory")
                    continue
                }
                guard m.status != Store.stagedStatus else {
                    report.skipped.append("\(id): an import that never committed (session '\(m.name)'); delete the directory")
                    continue
                }
                if let reader = try? LogReader(path: store.logDirectory(id)) {
                    m.recordCount = reader.recordCount
                    m.bytesOnDisk = Int64(reader.segments.reduce(0) { $0 + $1.sizeBytes })
                }
                manifests.append(m)
            } catch {
                report.skipped.append("\(id): \(error)")
            }
        }
        do { try store.catalog.replaceAll(with: manifests) } catch { throw RRLogError(error) }
        report.sessions = manifests.count
        return report
    }
}

package func nowNs() -> Int64 {
    Int64(Date().timeIntervalSince1970 * 1e9)
}

import Foundation
internal import Crypto
public import RRLogCatalog
internal import RRLogFormat
public import RRLogS3
public import RRLogSessions
internal import RRLogStorage

/// How pushes and pulls move bytes.
public struct RemoteTransferOptions: Sendable {
    /// Segments larger than this go up in a multipart upload (default 16 MiB).
    public var multipartThresholdBytes: Int
    /// The part size of multipart uploads (default 8 MiB; at least 5 MiB, S3's smallest part
    /// but the last, which SeaweedFS enforces too).
    public var partSizeBytes: Int
    /// Parts of one upload sent at once (default 8; memory holds this many parts).
    public var partsInFlight: Int
    /// The piece read per ranged GET on pull, and the most held in memory (default 8 MiB).
    public var downloadPieceBytes: Int

    /// The defaults.
    public init(multipartThresholdBytes: Int = 16 << 20, partSizeBytes: Int = 8 << 20, partsInFlight: Int = 8, downloadPieceBytes: Int = 8 << 20) {
        self.multipartThresholdBytes = max(multipartThresholdBytes, 5 << 20)
        self.partSizeBytes = max(partSizeBytes, 5 << 20)
        self.partsInFlight = min(max(partsInFlight, 1), 64)
        self.downloadPieceBytes = max(downloadPieceBytes, 64 << 10)
    }
}

/// What a push did.
public struct PushReport: Sendable, Codable {
    /// The session pushed.
    public var session: String
    /// Its id.
    public var id: String
    /// Objects uploaded now.
    public var uploaded = 0
    /// Objects already present with the same size and checksum (a rerun).
    public var skipped = 0
    /// Bytes uploaded now.
    public var bytesUploaded: Int64 = 0
    /// Whether the manifest was written (false: the bucket had this exact push already).
    public var committed = false
    /// Whether the local copy was removed (`--delete-local`).
    public var deletedLocal = false
    /// Warnings: segments left out because they are still being written.
    public var warnings: [String] = []
}

/// A session in a bucket, as its manifest describes it.
public struct RemoteSession: Sendable {
    /// The manifest.
    public var manifest: RemoteManifest
    /// The manifest's ETag.
    public var etag: String
    /// The session.
    public var session: SessionManifest { manifest.session }
}

/// Sessions in one remote: push, pull, list (FORMAT-REMOTE.md). One per command; `close()` at the end.
public final class RemoteSessions: Sendable {
    /// The client (its remote says bucket and prefix).
    public let client: S3Client
    /// Transfer sizes.
    public let options: RemoteTransferOptions
    /// Called after each segment object is in the bucket (uploaded or found), with its index;
    /// tests use it to kill the server mid-push.
    let afterObject: (@Sendable (Int) async -> Void)?

    /// Sessions in `remote`.
    public init(remote: S3Remote, options: RemoteTransferOptions = RemoteTransferOptions(), clientOptions: S3ClientOptions = S3ClientOptions(),
                afterObject: (@Sendable (Int) async -> Void)? = nil) throws(RemoteError) {
        do { client = try S3Client(remote: remote, options: clientOptions) } catch { throw RemoteError(.configuration, error.description) }
        self.options = options
        self.afterObject = afterObject
    }

    /// Closes the connections.
    public func close() async {
        try? await client.shutdown()
    }

    var remote: S3Remote { client.remote }

    /// `s3://bucket/key` of a key relative to the prefix.
    public func url(_ relative: String) -> String { "s3://\(remote.bucket)/\(remote.key(relative))" }

    func request<T>(_ what: String, _ body: () async throws(S3Error) -> T) async throws(RemoteError) -> T {
        do { return try await body() } catch { throw RemoteError(.request, "\(what): \(error)") }
    }

    // MARK: Probing

    /// Checks that the bucket refuses a second conditional create (the commit rule needs it);
    /// refuses a store that ignores `If-None-Match`.
    public func checkConditionalWrites() async throws(RemoteError) {
        let ok = try await request("probing conditional writes in s3://\(remote.bucket)/\(remote.prefix)") { () async throws(S3Error) in
            try await client.probeConditionalWrites()
        }
        guard ok else {
            throw RemoteError(
                .unsupportedStore,
                "the store at s3://\(remote.bucket)/\(remote.prefix) accepted a second If-None-Match: * write of one key: it ignores conditional writes, so two hosts could overwrite each other's sessions; rrlog does not push to it (use a store that supports conditional writes: AWS S3, MinIO, SeaweedFS 4.x)")
        }
    }

    // MARK: Listing

    /// The committed sessions in the bucket (a session directory without a manifest, left by a
    /// push that never committed, is not one), oldest first. `skipped` says which manifests
    /// could not be read.
    public func list() async throws(RemoteError) -> (sessions: [RemoteSession], skipped: [String]) {
        let listing = try await request("listing sessions under \(url(RemoteLayout.sessionsDirectory))") { () async throws(S3Error) in
            try await client.listObjects(prefix: remote.key(RemoteLayout.sessionsDirectory), delimiter: "/")
        }
        var sessions: [RemoteSession] = []
        var skipped: [String] = []
        let base = remote.key(RemoteLayout.sessionsDirectory)
        for directory in listing.commonPrefixes.sorted() {
            let id = String(directory.dropFirst(base.count).dropLast())
            guard RemoteLayout.isSafeComponent(id) else { continue }
            do {
                if let session = try await manifest(id: id) { sessions.append(session) }
            } catch {
                skipped.append("\(id): \(error)")
            }
        }
        sessions.sort { ($0.session.createdNs, $0.session.name) < ($1.session.createdNs, $1.session.name) }
        return (sessions, skipped)
    }

    /// Session `id`'s manifest, or nil when the bucket has none (never pushed, or not committed).
    public func manifest(id: String) async throws(RemoteError) -> RemoteSession? {
        let key = RemoteLayout.manifestKey(id: id)
        do {
            let data = try await client.getObject(key: remote.key(key), sizeBytesMax: RemoteManifest.sizeBytesMax)
            return RemoteSession(manifest: try RemoteManifest.decode(data.bytes, id: id, location: url(key)), etag: data.etag)
        } catch let error as S3Error {
            if error.code == .noSuchKey { return nil }
            throw RemoteError(.request, "reading the manifest: \(error)")
        } catch let error as RemoteError {
            throw error
        } catch {
            throw RemoteError(.request, "reading the manifest: \(error)", location: url(key))
        }
    }

    /// The session a selector names: a strategy (`latest`, `largest`, `smallest` by bytes,
    /// `random`, among sessions with records, optionally of `type`), a name or an id.
    public func find(_ selector: String, type: String? = nil) async throws(RemoteError) -> RemoteSession {
        let strategies = ["latest", "largest", "smallest", "random"]
        if !strategies.contains(selector), RemoteLayout.isSafeComponent(selector) {
            // A name claim leads to the id; else the selector may be the id itself.
            var id = selector
            if let claim = try? await client.getObject(key: remote.key(RemoteLayout.nameKey(selector)), sizeBytesMax: 4096),
               let owner = Self.claimedID(claim.bytes) {
                id = owner
            }
            if let found = try await manifest(id: id), found.session.name == selector || found.session.id == selector {
                if let type, found.session.type != type {
                    throw RemoteError(.noSuchSession, "session '\(selector)' in \(url("")) is of type \(found.session.type), not \(type)")
                }
                return found
            }
        }
        let all = try await list().sessions.filter { type == nil || $0.session.type == type }
        if strategies.contains(selector) {
            let candidates = all.filter { $0.session.recordCount > 0 }
            let picked: RemoteSession?
            switch selector {
            case "latest": picked = candidates.max { ($0.session.createdNs, $0.session.name) < ($1.session.createdNs, $1.session.name) }
            case "largest": picked = candidates.max { ($0.session.bytesOnDisk, $0.session.name) < ($1.session.bytesOnDisk, $1.session.name) }
            case "smallest": picked = candidates.min { ($0.session.bytesOnDisk, $0.session.name) < ($1.session.bytesOnDisk, $1.session.name) }
            default: picked = candidates.randomElement()
            }
            guard let picked else {
                throw RemoteError(.noSuchSession, "no sessions with records\(type.map { " of type \($0)" } ?? "") in \(url(""))")
            }
            return picked
        }
        if let match = all.first(where: { $0.session.name == selector || $0.session.id == selector }) { return match }
        throw RemoteError(.noSuchSession, "no session named '\(selector)' in \(url("")); 'rrlog ls --remote' lists them")
    }

    static func claimedID(_ bytes: [UInt8]) -> String? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any], let id = object["id"] as? String,
              RemoteLayout.isSafeComponent(id) else { return nil }
        return id
    }

    // MARK: Push

    /// The checksums of a local file: CRC32C, MD5 and the multipart ETag for `partSize`.
    /// The CRC32C of the file at `path` (one pass, in 8 MiB reads), checking its size.
    func crc32c(path: String, sizeBytes: Int) throws(RemoteError) -> UInt32 {
        var crc: UInt32 = 0
        let read = try forEachPiece(path: path, pieceBytes: 8 << 20) { data in data.withUnsafeBytes { crc = CRC32C.checksum($0, seed: crc) } }
        guard read == sizeBytes else { throw RemoteError(.local, "the segment changed size while read (\(sizeBytes) then \(read) bytes)", location: path) }
        return crc
    }

    /// The ETag S3 gives the file's bytes as this push uploads them: the MD5 for one PUT, the
    /// MD5 of the parts' MD5s and `-N` for a multipart upload (only needed when an object is
    /// found without a stored CRC32C to compare).
    func etag(path: String, sizeBytes: Int) throws(RemoteError) -> String {
        let multipart = sizeBytes > options.multipartThresholdBytes
        var whole = Insecure.MD5()
        var partDigests: [UInt8] = []
        var parts = 0
        _ = try forEachPiece(path: path, pieceBytes: multipart ? options.partSizeBytes : 8 << 20) { data in
            if multipart {
                partDigests += Array(Insecure.MD5.hash(data: data))
                parts += 1
            } else {
                whole.update(data: data)
            }
        }
        return multipart ? Hex.lowercase(Insecure.MD5.hash(data: partDigests)) + "-\(parts)" : Hex.lowercase(whole.finalize())
    }

    /// Calls `body` with the file's bytes in pieces of `pieceBytes`; returns the bytes read.
    func forEachPiece(path: String, pieceBytes: Int, _ body: (Data) throws(RemoteError) -> Void) throws(RemoteError) -> Int {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RemoteError(.local, "cannot open the segment for reading", location: path)
        }
        defer { try? handle.close() }
        var read = 0
        while true {
            let data: Data
            do { data = try handle.read(upToCount: pieceBytes) ?? Data() } catch {
                throw RemoteError(.local, "cannot read the segment: \(error.localizedDescription)", location: path)
            }
            if data.isEmpty { return read }
            read += data.count
            try body(data)
        }
    }

    /// Whether the object at `key` is `object`: the same size and the stored CRC32C, or without
    /// one, the ETag (`object.etag`, or computed from `path` when the object has none yet).
    /// Returns the server's ETag (quotes left out) when it is, nil when it is absent or other.
    func presentETag(_ key: String, _ object: RemoteObject, path: String? = nil) async throws(RemoteError) -> String? {
        let info: S3ObjectInfo
        do { info = try await client.headObject(key: key) } catch {
            if error.code == .noSuchKey { return nil }
            throw RemoteError(.request, "checking \(object.file): \(error)")
        }
        guard info.sizeBytes == Int(object.sizeBytes) else { return nil }
        let etag = info.etag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        if let stored = info.checksumCRC32C, !stored.contains("-"), let bytes = Data(base64Encoded: stored), bytes.count == 4 {
            let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return RemoteLayout.hex8(value) == object.crc32c ? etag : nil
        }
        if !object.etag.isEmpty { return etag == object.etag ? etag : nil }
        guard let path else { return nil }
        return try self.etag(path: path, sizeBytes: Int(object.sizeBytes)) == etag ? etag : nil
    }

    /// Whether the object at `key` is `object` (`presentETag`).
    func isPresent(_ key: String, _ object: RemoteObject) async throws(RemoteError) -> Bool {
        try await presentETag(key, object) != nil
    }

    /// Uploads one file to `key` and returns the ETag the server gives it: one PUT with its
    /// CRC32C, or a multipart upload with `options.partsInFlight` parts sent at once (each with its
    /// MD5; aborted on failure).
    func upload(path: String, key: String, sizeBytes: Int) async throws(RemoteError) -> String {
        func unquoted(_ etag: String) -> String { etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        if sizeBytes <= options.multipartThresholdBytes {
            let bytes: [UInt8]
            do { bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
                throw RemoteError(.local, "cannot read the segment: \(error.localizedDescription)", location: path)
            }
            guard bytes.count == sizeBytes else { throw RemoteError(.local, "the segment changed size while read", location: path) }
            return unquoted(try await request("uploading \(path)") { () async throws(S3Error) in try await client.putObject(key: key, body: bytes, checksum: .crc32c) })
        }
        let uploadID = try await request("starting the multipart upload of \(path)") { () async throws(S3Error) in
            try await client.createMultipartUpload(key: key)
        }
        do throws(RemoteError) {
            guard let handle = FileHandle(forReadingAtPath: path) else { throw RemoteError(.local, "cannot open the segment", location: path) }
            defer { try? handle.close() }
            let client = self.client
            let partsInFlight = options.partsInFlight
            let partSize = options.partSizeBytes
            let parts: [S3CompletedPart]
            do {
                parts = try await withThrowingTaskGroup(of: S3CompletedPart.self) { group in
                    var done: [S3CompletedPart] = []
                    var number = 1
                    var running = 0
                    while true {
                        let data: Data
                        do { data = try handle.read(upToCount: partSize) ?? Data() } catch {
                            throw RemoteError(.local, "cannot read the segment: \(error.localizedDescription)", location: path)
                        }
                        if data.isEmpty { break }
                        if running == partsInFlight, let part = try await group.next() {
                            done.append(part)
                            running -= 1
                        }
                        let body = Array(data)
                        let part = number
                        group.addTask {
                            do { return try await client.uploadPart(key: key, uploadID: uploadID, partNumber: part, body: body) } catch {
                                throw RemoteError(.request, "uploading part \(part) of \(path): \(error)")
                            }
                        }
                        running += 1
                        number += 1
                    }
                    for try await part in group { done.append(part) }
                    return done.sorted { $0.partNumber < $1.partNumber }
                }
            } catch let error as RemoteError {
                throw error
            } catch {
                throw RemoteError(.request, "uploading \(path): \(error)")
            }
            return unquoted(try await request("completing the upload of \(path)") { () async throws(S3Error) in
                try await client.completeMultipartUpload(key: key, uploadID: uploadID, parts: parts)
            })
        } catch {
            try? await client.abortMultipartUpload(key: key, uploadID: uploadID)
            throw error
        }
    }

    /// Pushes `manifest`'s session from `store` (FORMAT-REMOTE.md "The commit rule"): its sealed
    /// segments first (those already in the bucket with the same size and checksum are
    /// skipped), then its name claim, then its manifest, conditionally. A segment still being
    /// written is left out with a warning. With `deleteLocal`, the local session is removed once
    /// every object is verified with HEAD and the manifest is committed.
    ///
    /// With `replacing`, the push gives the bucket's session new content (a compaction's): its
    /// manifest replaces exactly that one (`If-Match` its ETag) whatever objects either names, and
    /// is refused when the bucket's manifest changed since it was read.
    public func push(_ manifest: SessionManifest, from store: Store, deleteLocal: Bool = false, replacing: RemoteSession? = nil,
                     progress: ((_ doneBytes: Int64, _ totalBytes: Int64) -> Void)? = nil) async throws(RemoteError) -> PushReport {
        var report = PushReport(session: manifest.name, id: manifest.id)
        if store.isRemote(manifest) {
            throw RemoteError(.invalidArgument, "session \(manifest.name) is read in place from \(manifest.annotations["remote"] ?? "a bucket"); it has no local segments to push")
        }
        guard RemoteLayout.isSafeComponent(manifest.id), RemoteLayout.isSafeComponent(manifest.name) else {
            throw RemoteError(.invalidArgument, "session '\(manifest.name)' has an id or name that cannot be a key")
        }
        let segments: (files: [Store.SegmentFile], writerOpen: Bool)
        do { segments = try store.segmentFiles(manifest) } catch { throw RemoteError(.local, error.description) }
        var files: [Store.SegmentFile] = []
        for file in segments.files {
            guard file.ref != nil else { continue }
            if file.isSealed {
                files.append(file)
            } else {
                report.warnings.append(
                    "session \(manifest.name): segment \(file.name) (\(file.ref?.recordCount ?? 0) records) is "
                        + (segments.writerOpen ? "still being written" : "not sealed (its writer died; 'rrlog recover' seals it)")
                        + "; it is not pushed: push again once the session is closed")
            }
        }
        if files.isEmpty {
            throw RemoteError(.invalidArgument, "session \(manifest.name) has no sealed segment with records to push" + (report.warnings.isEmpty ? "" : ": " + report.warnings.joined(separator: "; ")))
        }
        if deleteLocal && (!report.warnings.isEmpty || segments.writerOpen) {
            throw RemoteError(.invalidArgument, "session \(manifest.name) is still being written (or has an unsealed segment): --delete-local would lose its unpushed records; push without --delete-local, or once it is closed")
        }
        let total = files.reduce(Int64(0)) { $0 + Int64($1.sizeBytes) }
        var done: Int64 = 0
        progress?(0, total)
        var objects: [RemoteObject] = []
        let directory = RemoteLayout.sessionDirectory(id: manifest.id)
        for (index, file) in files.enumerated() {
            let crc = try crc32c(path: file.path, sizeBytes: file.sizeBytes)
            let relative = RemoteLayout.segmentKey(file: file.name, crc32c: crc)
            var object = RemoteObject(file: file.name, key: relative, sizeBytes: Int64(file.sizeBytes), crc32c: RemoteLayout.hex8(crc), etag: "")
            let key = remote.key(directory + relative)
            if let etag = try await presentETag(key, object, path: file.path) {
                object.etag = etag
                report.skipped += 1
            } else {
                object.etag = try await upload(path: file.path, key: key, sizeBytes: file.sizeBytes)
                report.uploaded += 1
                report.bytesUploaded += Int64(file.sizeBytes)
            }
            objects.append(object)
            done += Int64(file.sizeBytes)
            progress?(done, total)
            await afterObject?(index)
        }

        // The indexes: the log key index and the remote index over exactly these segments.
        let indexes = try await uploadIndexes(files, objects: objects, directory: directory)

        // The name: one session per name in a bucket, whoever pushes first.
        try await claim(name: manifest.name, id: manifest.id)

        // The manifest covers exactly the objects above, with counts of those segments alone.
        var session = manifest
        session.segments = files.compactMap(\.ref)
        session.recordCount = session.segments.reduce(0) { $0 + $1.recordCount }
        session.bytesOnDisk = total
        var remoteManifest = RemoteManifest(session: session, objects: objects, pushedNs: Int64(Date().timeIntervalSince1970 * 1e9),
                                            pushedBy: ProcessInfo.processInfo.hostName)
        remoteManifest.keyIndex = indexes.keyIndex
        remoteManifest.remoteIndex = indexes.remoteIndex
        report.committed = try await commit(remoteManifest, replacing: replacing)

        if deleteLocal {
            for object in objects where !(try await isPresent(remote.key(directory + object.key), object)) {
                throw RemoteError(.corrupt, "after the push, \(url(directory + object.key)) does not match the local segment \(object.file); the local session is kept")
            }
            guard let committed = try await self.manifest(id: manifest.id), committed.manifest.sameObjects(as: remoteManifest) else {
                throw RemoteError(.conflict, "after the push, the bucket's manifest of \(manifest.name) does not name the objects pushed; the local session is kept")
            }
            do { try store.remove(manifest) } catch { throw RemoteError(.local, "the session is in the bucket, but removing the local copy failed: \(error)") }
            report.deletedLocal = true
        }
        return report
    }

    /// Creates `names/<name>` naming `id` (If-None-Match: *); refuses when another id holds it.
    func claim(name: String, id: String) async throws(RemoteError) {
        let key = RemoteLayout.nameKey(name)
        let body = Array("{\"id\":\"\(id)\"}\n".utf8)
        do {
            try await client.putObject(key: remote.key(key), body: body, condition: .ifNoneMatch, contentType: "application/json")
        } catch where error.code == .preconditionFailed {
            let owner = try await request("reading the name claim") { () async throws(S3Error) in
                try await client.getObject(key: remote.key(key), sizeBytesMax: 4096)
            }
            let ownerID = Self.claimedID(owner.bytes)
            guard ownerID == id else {
                throw RemoteError(
                    .conflict,
                    "another session named '\(name)' (id \(ownerID ?? "unreadable")) is in the bucket already, pushed from another store; nothing of this session was committed. Pull that one under another name ('rrlog pull \(name) --as NAME'), or push this one from a store where it has another name",
                    location: url(key))
            }
        } catch {
            throw RemoteError(.request, "claiming the name \(name): \(error)")
        }
    }

    /// Writes the manifest: a create (If-None-Match: *) when the bucket has none, an update
    /// (If-Match its ETag) when the bucket's covers a prefix of these objects; a conflict
    /// otherwise. False when the bucket's manifest names these objects already.
    func commit(_ manifest: RemoteManifest, replacing: RemoteSession? = nil) async throws(RemoteError) -> Bool {
        let key = RemoteLayout.manifestKey(id: manifest.session.id)
        let body: [UInt8]
        do { body = try manifest.encoded() } catch { throw RemoteError(.local, "cannot encode the manifest: \(error)") }
        if let replacing {
            do {
                try await client.putObject(key: remote.key(key), body: body, condition: .ifMatch(etag: replacing.etag), contentType: "application/json")
                return true
            } catch where error.code == .preconditionFailed {
                throw RemoteError(.conflict, "the manifest of \(manifest.session.name) changed while it was compacted (another host pushed); nothing was replaced, the new objects are left for 'rrlog gc'; compact again", location: url(key))
            } catch {
                throw RemoteError(.request, "committing the manifest of \(manifest.session.name): \(error)")
            }
        }
        for _ in 0..<3 {
            let existing = try await self.manifest(id: manifest.session.id)
            let condition: S3WriteCondition
            if let existing {
                if existing.manifest.sameObjects(as: manifest) { return false }
                guard existing.manifest.objects.count < manifest.objects.count
                        || (existing.manifest.objects == manifest.objects && existing.manifest.remoteIndex == nil),
                      Array(manifest.objects.prefix(existing.manifest.objects.count)) == existing.manifest.objects,
                      existing.session.name == manifest.session.name
                else { throw conflict(manifest, existing) }
                condition = .ifMatch(etag: existing.etag)
            } else {
                condition = .ifNoneMatch
            }
            do {
                try await client.putObject(key: remote.key(key), body: body, condition: condition, contentType: "application/json")
                return true
            } catch where error.code == .preconditionFailed {
                continue  // Someone wrote it meanwhile: read it again and decide.
            } catch {
                throw RemoteError(.request, "committing the manifest of \(manifest.session.name): \(error)")
            }
        }
        throw RemoteError(.conflict, "the manifest of \(manifest.session.name) kept changing while this push committed; push again", location: url(key))
    }

    func conflict(_ mine: RemoteManifest, _ theirs: RemoteSession) -> RemoteError {
        RemoteError(
            .conflict,
            "session \(mine.session.name) (id \(mine.session.id)) is in the bucket already with other content (\(theirs.manifest.objects.count) segments, \(theirs.session.recordCount) records, pushed by \(theirs.manifest.pushedBy)); nothing was overwritten. Pull it under another name ('rrlog pull \(mine.session.id) --as NAME') to compare, or remove one of the two",
            location: url(RemoteLayout.manifestKey(id: mine.session.id)))
    }

    // MARK: Pull

    /// The manifest `session` gets in `store` under `name` (default its own): a new id when the
    /// store has its id already, which only another name may take.
    func localManifest(_ session: RemoteSession, in store: Store, as name: String?, what: String) throws(RemoteError) -> SessionManifest {
        var local = session.session
        if let name { local.name = name }
        if store.session(id: local.id) != nil {
            guard name != nil else {
                throw RemoteError(.local, "session \(local.name) (id \(local.id)) is in the store at \(store.path) already; give --as NAME \(what)")
            }
            local.id = UUID().uuidString.lowercased()
        }
        return local
    }

    /// Pulls `session` into `store` as `name` (default its own): downloads each object into a
    /// staged session directory in pieces (bounded memory), checks its size and CRC32C, then the
    /// store verifies the segments (rrlog's own CRCs) and adds the session to the catalog. A
    /// failure deletes the staged directory and leaves the store as it was.
    public func pull(_ session: RemoteSession, into store: Store, as name: String? = nil,
                     progress: ((_ doneBytes: Int64, _ totalBytes: Int64) -> Void)? = nil) async throws(RemoteError) -> SessionManifest {
        let local = try localManifest(session, in: store, as: name, what: "to pull a second copy")
        let logDirectory: String
        do { logDirectory = try store.stageAdopted(local) } catch { throw RemoteError(.local, error.description) }
        do throws(RemoteError) {
            let total = session.manifest.objects.reduce(Int64(0)) { $0 + $1.sizeBytes }
            var done: Int64 = 0
            progress?(0, total)
            for object in session.manifest.objects {
                let relative = RemoteLayout.sessionDirectory(id: session.session.id) + object.key
                try await download(relative, object, to: logDirectory + "/" + object.file) { n in
                    done += Int64(n)
                    progress?(done, total)
                }
            }
            do { return try store.commitAdopted(local) } catch { throw RemoteError(error.code == .corrupt ? .corrupt : .local, "pulling \(url(RemoteLayout.sessionDirectory(id: session.session.id))): \(error)") }
        } catch {
            store.discardAdopted(id: local.id)
            throw error
        }
    }

    /// Downloads one object into `path` with ranged GETs, checking its size and CRC32C.
    func download(_ relative: String, _ object: RemoteObject, to path: String, progress: (Int) -> Void) async throws(RemoteError) {
        let key = remote.key(relative)
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw RemoteError(.local, "cannot create the file", location: path)
        }
        defer { try? handle.close() }
        var offset = 0
        var crc: UInt32 = 0
        let size = Int(object.sizeBytes)
        var etag: String?
        while offset < size {
            let end = min(offset + options.downloadPieceBytes, size)
            let data: S3ObjectData
            do { data = try await client.getObject(key: key, range: offset..<end, ifMatch: etag, sizeBytesMax: end - offset) } catch {
                if error.code == .noSuchKey {
                    throw RemoteError(.corrupt, "the manifest names \(object.key), which is missing from the bucket", location: url(relative))
                }
                throw RemoteError(.request, "downloading \(object.file): \(error)")
            }
            guard data.bytes.count == end - offset else {
                throw RemoteError(.corrupt, "got \(data.bytes.count) bytes at offset \(offset), asked for \(end - offset) (the object is shorter than the manifest's \(size))", location: url(relative))
            }
            etag = etag ?? (data.etag.isEmpty ? nil : data.etag)
            crc = CRC32C.checksum(data.bytes, seed: crc)
            do { try handle.write(contentsOf: data.bytes) } catch {
                throw RemoteError(.local, "cannot write the segment (disk full?): \(error.localizedDescription)", location: path)
            }
            offset = end
            progress(data.bytes.count)
        }
        guard RemoteLayout.hex8(crc) == object.crc32c else {
            throw RemoteError(.corrupt, "the object's CRC32C is \(RemoteLayout.hex8(crc)); the manifest says \(object.crc32c): the object is damaged", location: url(relative))
        }
        do { try handle.synchronize() } catch {
            throw RemoteError(.local, "cannot flush the segment to disk: \(error.localizedDescription)", location: path)
        }
    }
}

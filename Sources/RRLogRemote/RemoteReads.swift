// Reading sessions in place (FORMAT-REMOTE.md "Reading in place"): the indexes a push uploads
// beside the segments, a store entry whose segments stay in the bucket (`attach`, `tier`), and
// the byte sources the storage engine reads them through.
import Foundation
internal import Crypto
public import RRLogCatalog
internal import RRLogFormat
import RRLogS3
public import RRLogSessions
internal import RRLogStorage
import Synchronization

/// Where a store entry's remote segments are: the remote's settings (never credentials) and the
/// session's id in the bucket. Kept as `remote.json` in the entry's log directory.
struct RemoteLocation: Codable, Equatable {
    static let fileName = "remote.json"

    var remote: String
    var endpoint: String?
    var region: String
    var pathStyle: Bool
    var caBundle: String?
    var session: String

    enum CodingKeys: String, CodingKey {
        case remote, endpoint, region, session
        case pathStyle = "path_style"
        case caBundle = "ca_bundle"
    }

    init(_ remote: S3Remote, session: String) {
        self.remote = "s3://\(remote.bucket)" + (remote.prefix.isEmpty ? "" : "/" + remote.prefix)
        endpoint = remote.endpoint?.absoluteString
        region = remote.region
        pathStyle = remote.pathStyle
        caBundle = remote.caBundlePath
        self.session = session
    }

    func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    static func load(directory: String) throws(StorageError) -> RemoteLocation {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20 else {
            throw StorageError(.notFound, "the log's segments are in a bucket, and its remote.json (where) cannot be read", path: path)
        }
        guard let location = try? JSONDecoder().decode(RemoteLocation.self, from: data), RemoteLayout.isSafeComponent(location.session) else {
            throw StorageError(.corrupt, "remote.json is not a remote location", path: path)
        }
        return location
    }

    /// The remote, with credentials from the environment or a profile.
    func resolve() throws(RemoteError) -> S3Remote {
        try RemoteConfig(remote: remote, endpoint: endpoint, region: region, pathStyle: pathStyle, caBundle: caBundle).resolve()
    }
}

/// One remote object read in ranges with blocking GETs (`RemoteByteSource`).
struct S3ObjectSource: RemoteByteSource {
    let client: S3Client
    let key: String

    func read(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws(StorageError) {
        RemoteReads.counter.add(1, ordering: .relaxed)
        do { try client.getObjectRange(key: key, range: range, into: buffer) } catch {
            throw StorageError(.io, "reading bytes \(range.lowerBound)..<\(range.upperBound) of s3://\(client.remote.bucket)/\(key): \(error)")
        }
    }
}

/// Reads of sessions kept in a bucket, from any command of the process.
public enum RemoteReads {
    static let counter = Atomic<Int>(0)
    static let clients = Mutex<[String: S3Client]>([:])

    /// Ranged GETs made for reads in place since the process started (benchmarks and tests count
    /// a lookup's requests with it).
    public static var rangedGets: Int { counter.load(ordering: .relaxed) }

    /// Lets the storage engine read remote logs: each object through a client for its remote
    /// (one per remote for the process, credentials from the environment or a profile). Call once
    /// at start.
    public static func install() {
        RemoteLogs.install { directory, object throws(StorageError) in
            let location = try RemoteLocation.load(directory: directory)
            let client = try client(for: location, directory: directory)
            let relative = RemoteLayout.sessionDirectory(id: location.session) + object.key
            return S3ObjectSource(client: client, key: client.remote.key(relative))
        }
    }

    static func client(for location: RemoteLocation, directory: String) throws(StorageError) -> S3Client {
        let id = String(decoding: location.encoded(), as: UTF8.self)
        let made: Result<S3Client, StorageError> = clients.withLock { table in
            if let client = table[id] { return .success(client) }
            do {
                // Clients live as long as the process (an HTTP client must be shut down before
                // it goes), one per remote.
                let client = try S3Client(remote: try location.resolve())
                table[id] = client
                return .success(client)
            } catch let error as RemoteError {
                return .failure(StorageError(.io, "cannot reach the bucket of this session: \(error.description)", path: directory))
            } catch {
                return .failure(StorageError(.io, "cannot reach the bucket of this session: \(error)", path: directory))
            }
        }
        return try made.get()
    }
}

extension RemoteSessions {
    /// Uploads a push's indexes once its segments are in the bucket: the log key index over
    /// exactly those segments (written first when the log has none), and the remote index that
    /// lets a host read the session in place.
    func uploadIndexes(_ files: [Store.SegmentFile], objects: [RemoteObject], directory: String) async throws(RemoteError)
        -> (keyIndex: RemoteObject?, remoteIndex: RemoteObject)
    {
        guard let first = files.first else { throw RemoteError(.invalidArgument, "no segment to index") }
        let log = (first.path as NSString).deletingLastPathComponent
        var entries: [RemoteIndex.Object] = []
        var pieces: [RemoteIndex.Piece] = []
        var handles: [SegmentHandle] = []
        for (file, object) in zip(files, objects) {
            let handle: SegmentHandle
            do { handle = try SegmentHandle(path: file.path) } catch { throw RemoteError(.local, error.description, location: file.path) }
            let position = entries.count
            entries.append(RemoteIndex.Object(file: file.name, key: object.key, etag: object.etag, sizeBytes: UInt64(object.sizeBytes)))
            for range in RemoteIndex.openingRanges(of: handle.view) {
                pieces.append(RemoteIndex.Piece(object: position, offset: UInt64(range.lowerBound), bytes: Array(handle.view.buffer[range])))
            }
            handles.append(handle)
        }
        var keyObject: RemoteObject?
        if let bytes = Self.keyIndexBytes(log: log, covering: handles) {
            let crc = CRC32C.checksum(bytes)
            let object = RemoteObject(file: LogKeyIndex.fileName, key: RemoteLayout.indexKey(file: LogKeyIndex.fileName, crc32c: crc),
                                      sizeBytes: Int64(bytes.count), crc32c: RemoteLayout.hex8(crc), etag: Hex.lowercase(Insecure.MD5.hash(data: bytes)))
            try await putIndex(bytes, object, directory: directory)
            let position = entries.count
            entries.append(RemoteIndex.Object(file: object.file, key: object.key, etag: object.etag, sizeBytes: UInt64(bytes.count)))
            let ranges = bytes.withUnsafeBytes { RemoteIndex.openingRanges(ofKeyIndex: $0) } ?? []
            for range in ranges { pieces.append(RemoteIndex.Piece(object: position, offset: UInt64(range.lowerBound), bytes: Array(bytes[range]))) }
            keyObject = object
        }
        let index = RemoteIndex(objects: entries, pieces: pieces).encoded()
        let crc = CRC32C.checksum(index)
        let indexObject = RemoteObject(file: RemoteLogs.indexFileName, key: RemoteLayout.indexKey(file: RemoteLogs.indexFileName, crc32c: crc),
                                       sizeBytes: Int64(index.count), crc32c: RemoteLayout.hex8(crc), etag: Hex.lowercase(Insecure.MD5.hash(data: index)))
        try await putIndex(index, indexObject, directory: directory)
        return (keyObject, indexObject)
    }

    /// The log key index of `log` when it covers exactly `handles` (written first when absent or
    /// stale); nil when the log cannot have one (too many keys).
    static func keyIndexBytes(log: String, covering handles: [SegmentHandle]) -> [UInt8]? {
        func current() -> [UInt8]? {
            guard let data = FileManager.default.contents(atPath: log + "/" + LogKeyIndex.fileName) else { return nil }
            let bytes = Array(data)
            let matches: Bool = bytes.withUnsafeBytes { raw in
                guard let index = try? LogKeyIndex(raw) else { return false }
                return index.segments.count == handles.count
                    && zip(index.segments, handles).allSatisfy { $0.segmentID == $1.id && Int($0.chunkCount) == $1.view.chunks.count }
            }
            return matches ? bytes : nil
        }
        if let bytes = current() { return bytes }
        guard let reader = try? LogReader(path: log), (try? reader.writeKeyIndex()) != nil else { return nil }
        return current()
    }

    /// Uploads an index object unless the bucket has it.
    func putIndex(_ bytes: [UInt8], _ object: RemoteObject, directory: String) async throws(RemoteError) {
        let key = remote.key(directory + object.key)
        if try await presentETag(key, object) != nil { return }
        _ = try await request("uploading \(object.file)") { () async throws(S3Error) in try await client.putObject(key: key, body: bytes, checksum: .crc32c) }
    }

    /// The remote index of `session`, read and checked (size, CRC32C, decoding).
    func remoteIndexBytes(_ session: RemoteSession) async throws(RemoteError) -> [UInt8] {
        guard let object = session.manifest.remoteIndex else {
            throw RemoteError(
                .invalidArgument,
                "session \(session.session.name) was pushed without a remote index (by an older rrlog), so it cannot be read in place; 'rrlog pull' downloads it, or push it again from a store that has it",
                location: url(RemoteLayout.manifestKey(id: session.session.id)))
        }
        let key = remote.key(RemoteLayout.sessionDirectory(id: session.session.id) + object.key)
        let data = try await request("reading the remote index of \(session.session.name)") { () async throws(S3Error) in
            try await client.getObject(key: key, sizeBytesMax: RemoteIndex.sizeBytesMax)
        }
        guard data.bytes.count == Int(object.sizeBytes), RemoteLayout.hex8(CRC32C.checksum(data.bytes)) == object.crc32c else {
            throw RemoteError(.corrupt, "the remote index does not match its manifest entry (size or CRC32C)", location: "s3://\(remote.bucket)/\(key)")
        }
        let decoded: Result<RemoteIndex, FormatError> = data.bytes.withUnsafeBytes { raw in
            Result { () throws(FormatError) -> RemoteIndex in try RemoteIndex(decoding: raw) }
        }
        if case .failure(let error) = decoded {
            throw RemoteError(.corrupt, "the remote index does not decode: \(error)", location: "s3://\(remote.bucket)/\(key)")
        }
        return data.bytes
    }

    /// Adds `session` to `store` as an entry read in place: nothing is downloaded but its remote
    /// index (one GET); reads then fetch the chunks and key slots they touch. `name` as `pull`.
    public func attach(_ session: RemoteSession, into store: Store, as name: String? = nil) async throws(RemoteError) -> SessionManifest {
        var local = try localManifest(session, in: store, as: name, what: "for a second entry")
        let index = try await remoteIndexBytes(session)
        local.annotations["remote"] = url(RemoteLayout.sessionDirectory(id: session.session.id))
        let location = RemoteLocation(remote, session: session.session.id)
        do {
            return try store.adoptRemote(local, files: [(RemoteLogs.indexFileName, index), (RemoteLocation.fileName, location.encoded())])
        } catch {
            throw RemoteError(error.code == .corrupt ? .corrupt : .local, "adding \(session.session.name) read in place: \(error)")
        }
    }

    /// Moves a closed local session to the bucket and keeps its entry (`rrlog tier`): pushes it,
    /// checks every object (HEAD) and the committed manifest, then replaces the local segments
    /// with the remote index in one atomic step. Reads fetch what they need from then on.
    public func tier(_ manifest: SessionManifest, from store: Store) async throws(RemoteError) -> PushReport {
        guard !store.isRemote(manifest) else {
            throw RemoteError(.invalidArgument, "session \(manifest.name) is in a bucket already (\(manifest.annotations["remote"] ?? "read in place"))")
        }
        var report = try await push(manifest, from: store)
        guard report.warnings.isEmpty else {
            throw RemoteError(.invalidArgument, "session \(manifest.name) is still being written; tier it once it is closed (\(report.warnings.joined(separator: "; ")))")
        }
        guard let committed = try await self.manifest(id: manifest.id) else {
            throw RemoteError(.conflict, "after the push, the bucket has no manifest of \(manifest.name); the local copy is kept")
        }
        let directory = RemoteLayout.sessionDirectory(id: manifest.id)
        for object in committed.manifest.objects + [committed.manifest.keyIndex, committed.manifest.remoteIndex].compactMap({ $0 })
        where !(try await isPresent(remote.key(directory + object.key), object)) {
            throw RemoteError(.corrupt, "after the push, \(url(directory + object.key)) does not match; the local copy is kept")
        }
        guard committed.session.recordCount == manifest.recordCount else {
            throw RemoteError(.conflict, "the bucket's manifest of \(manifest.name) holds \(committed.session.recordCount) records, the local session \(manifest.recordCount); the local copy is kept")
        }
        let index = try await remoteIndexBytes(committed)
        var local = manifest
        local.annotations["remote"] = url(directory)
        let location = RemoteLocation(remote, session: manifest.id)
        do {
            _ = try store.replaceWithRemote(local, files: [(RemoteLogs.indexFileName, index), (RemoteLocation.fileName, location.encoded())])
        } catch {
            throw RemoteError(.local, "the session is in the bucket, but switching the local entry to it failed (the local copy is kept): \(error)")
        }
        report.deletedLocal = true
        return report
    }
}

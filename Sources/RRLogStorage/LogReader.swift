public import RRLogFormat

/// One segment file opened for reading: mapped read-only when sealed (opened from its tail,
/// never scanned), copied and scanned when a writer may still be appending to it.
///
/// `@unchecked Sendable`: its properties are constants, and `view` points into `file`, which it
/// keeps alive and nothing writes.
public final class SegmentHandle: @unchecked Sendable {
    /// The file's path.
    public let path: String
    /// The segment id from the file name (or header).
    public let id: UInt64
    /// The parsed segment. Its buffer points into `file`, which this handle keeps alive.
    public let view: SegmentView
    let file: MappedFile
    /// Per chunk, where an uncompressed row chunk's data lies in `view.buffer`, packed as
    /// `start << 24 | length` (checked against the buffer once, here), or 0 for a chunk read the
    /// general way (compressed, columns, or too large to pack). A keyed lookup reads this word
    /// instead of the chunk's 48-byte index entry: with 10M records the entries fill 4 MB, whose
    /// random reads cost 6-7% of a lookup; these words fill 0.7 MB.
    let rowSpans: [UInt64]

    /// Opens the segment at `path`.
    public convenience init(path: String) throws(StorageError) {
        try self.init(path: path, in: nil)
    }

    /// Opens the segment at `path`, through `directory` (the file named by `path`'s last
    /// component in that directory) when given.
    init(path: String, in directory: PinnedDirectory?) throws(StorageError) {
        self.path = path
        let name = String(path.split(separator: "/").last ?? "")
        var mapped: MappedFile
        if let directory {
            mapped = try MappedFile(name: name, in: directory, path: path)
        } else {
            mapped = try MappedFile(path: path)
        }
        var sealed: SegmentView? = mapped.withBytes { buffer in
            SegmentFooter.present(in: buffer) ? try? SegmentView(sealed: buffer) : nil
        }
        if sealed == nil {
            if let directory {
                mapped = try MappedFile(copying: name, in: directory, path: path)
            } else {
                mapped = try MappedFile(copying: path)
            }
            let result: Result<SegmentView, FormatError> = mapped.withBytes { buffer in
                Result { () throws(FormatError) -> SegmentView in try SegmentView(scanning: buffer) }
            }
            switch result {
            case .success(let v): sealed = v
            case .failure(let e): throw .corrupt(e, path: path, what: "unreadable segment")
            }
        }
        self.file = mapped
        self.view = sealed!
        self.rowSpans = Self.rowSpans(of: view)
        self.id = Self.id(path: path, view: view)
    }

    /// Opens a remote segment (`RemoteLogs`) from the ranges its remote index filled in: it must
    /// be sealed; its chunks are fetched when read.
    init(remote mapped: MappedFile) throws(StorageError) {
        path = mapped.path
        let opened: Result<SegmentView, FormatError> = mapped.withBytes { buffer in
            Result { () throws(FormatError) -> SegmentView in try SegmentView(sealed: buffer) }
        }
        switch opened {
        case .success(let v): view = v
        case .failure(let e): throw .corrupt(e, path: path, what: "the remote index does not open this segment")
        }
        file = mapped
        rowSpans = Self.rowSpans(of: view)
        id = Self.id(path: path, view: view)
    }

    /// True when the segment's bytes are in a bucket and fetched as reads need them.
    public var isRemote: Bool { file.isRemote }

    /// Holds chunk `ordinal`'s frame readable (fetched first when remote; `ahead` bytes more
    /// with it) until `unpinChunk` with the id returned.
    func pinChunk(_ ordinal: Int, ahead: Int = 0) throws(StorageError) -> Int {
        guard file.isRemote, ordinal >= 0, ordinal < view.chunks.count else { return 0 }
        let entry = view.chunks[ordinal]
        let start = Int(clamping: entry.offset)
        return try file.pin(start..<(start + Int(entry.frameLength)), ahead: ahead)
    }

    func unpinChunk(_ id: Int) { file.unpin(id) }

    /// `SegmentView.withChunkData` for a segment that may be remote: the chunk is fetched first
    /// (a failed fetch is `.unavailable`) and held while `body` runs.
    public func withChunkData<R>(
        _ ordinal: Int, decompressor: Decompressor, checkCRC: Bool = true, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> Result<R, FormatError> {
        let pin: Int
        do { pin = try pinChunk(ordinal) } catch {
            return .failure(.unavailable(offset: Int(clamping: view.chunks[ordinal].offset), reason: error.description))
        }
        defer { unpinChunk(pin) }
        return try view.withChunkData(ordinal, decompressor: decompressor, checkCRC: checkCRC, body)
    }

    /// Makes every byte of a remote segment resident (a whole pass, as verify makes); nothing
    /// for a local one. Returns a pin id for `unpinAll`.
    func pinAll() throws(StorageError) -> Int {
        try file.pin(0..<file.size, ahead: 0)
    }

    /// Holds the key table of a remote segment readable (fetched first); 0 when there is none.
    func pinKeyTable() throws(StorageError) -> Int {
        guard file.isRemote, let footer = view.footer, footer.keyTableOffset != 0 else { return 0 }
        return try file.pin(Int(clamping: footer.keyTableOffset)..<(file.size - FormatConstants.footerSizeBytes))
    }

    /// Lets go of `pinAll`'s bytes and drops them from the cache.
    func unpinAll(_ id: Int) {
        file.unpin(id)
        file.remote?.evictAll()
    }

    /// A segment's id: from its file name, else from its header.
    private static func id(path: String, view: SegmentView) -> UInt64 {
        SegmentFiles.id(fromName: String(path.split(separator: "/").last ?? "")) ?? view.header.segmentID
    }

    /// The packed data spans of `view`'s uncompressed row chunks (see `rowSpans`).
    private static func rowSpans(of view: SegmentView) -> [UInt64] {
        let bufferCount = view.buffer.count
        return view.chunks.map { entry -> UInt64 in
            guard entry.codec == Codec.none.rawValue, entry.layout == ChunkLayout.rows.rawValue,
                entry.frameLength >= entry.rawLength
            else { return 0 }
            let headerLength = Int(entry.frameLength - entry.rawLength)
            let length = Int(entry.rawLength)
            let (start, overflow) = Int(clamping: entry.offset).addingReportingOverflow(headerLength)
            guard !overflow, headerLength >= FormatConstants.frameHeaderSizeBytes, start <= bufferCount,
                length <= bufferCount - start, length < 1 << 24, start < 1 << 40
            else { return 0 }
            return UInt64(start) << 24 | UInt64(length)
        }
    }

    /// True when opened from a valid footer and index.
    public var isSealed: Bool { view.isSealed }
    /// Bytes of the file.
    public var sizeBytes: Int { file.size }
}

/// Reads a log directory (or a single segment file): records in sequence order, lookups by key,
/// and following a writer's tail with `refresh()`. One reader per thread (it keeps a cache of
/// decompressed chunks); threads that look up in the same log at once share its `snapshot`, or
/// each make a reader over it with `init(sharing:)`, which maps nothing again. Readers never
/// block the writer and never return a record that is not completely written.
public final class LogReader {
    /// The log directory or segment file.
    public let path: String
    /// The segments and key index as of the last `refresh()`: hand it to other threads for
    /// lookups and scans from many at once.
    public private(set) var snapshot: LogSnapshot
    /// The chunks this reader's lookups decompressed, and its decompressor.
    private let chunkCache = ChunkCache()
    /// Decompressed chunks kept for lookups.
    public var cacheCapacity: Int {
        get { chunkCache.capacity }
        set { chunkCache.capacity = newValue }
    }
    /// When set, `forEachRecord` drops each segment's resident pages once it has read it, so a
    /// scan of a log larger than memory keeps a resident set of one segment (128 MiB at most by
    /// default) instead of the whole log. For one-pass readers (export, `cat`); lookups after
    /// such a scan fault the pages back in from the page cache.
    public var dropsPagesBehindScans = false

    /// Opens the log at `path` (a directory of segments, or one segment file).
    public init(path: String) throws(StorageError) {
        self.path = path
        snapshot = LogSnapshot(path: path, isDirectoryLog: nil, segments: [])
        try refresh()
    }

    /// The directory the open segments come from, held open (a log directory only).
    private var directory: PinnedDirectory?

    /// A reader of the segments `snapshot` holds, with a chunk cache of its own: for a thread
    /// that reads a log another reader opened. Maps nothing again; `refresh()` then follows the
    /// log as any reader does.
    public init(sharing snapshot: LogSnapshot) {
        self.path = snapshot.path
        self.snapshot = snapshot
    }

    /// The open segments, in id order.
    public var segments: [SegmentHandle] { snapshot.segments }

    /// Picks up new segments and the new tail of unsealed ones; after a compaction switched the
    /// log, the compacted log, whole. Snapshots handed out before keep what they hold.
    public func refresh() throws(StorageError) {
        let segments = snapshot.segments
        var isDirectoryLog = snapshot.isDirectoryLog
        if isDirectoryLog == nil, SegmentFiles.exists(path) { isDirectoryLog = SegmentFiles.isDirectory(path) }
        if isDirectoryLog == true {
            guard try refreshDirectory(segments) else { return }
        } else if isDirectoryLog == false, SegmentFiles.exists(path) {
            snapshot = LogSnapshot(path: path, isDirectoryLog: false, segments: [try SegmentHandle(path: path)])
        } else {
            throw StorageError(.notFound, "no such log directory or segment file", path: path)
        }
        chunkCache.removeAll()
    }

    /// Reads the log directory `path` names (FORMAT.md §9 "The session directory"). A compaction
    /// puts a whole new directory in the old one's place in one step, and deletes the old one
    /// only under its exclusive lock. So the reader reads the directory it holds open while
    /// `path` still names it, under its shared lock (its listed segments cannot vanish); once
    /// `path` names another, it reads that one whole, and drops the old segments. It never mixes
    /// the segments of two directories, never waits for a switch, and retries only when a
    /// directory was switched between its opening and its locking (then the new one is read).
    /// False when the log was deleted (its session removed) and the current view is kept.
    private func refreshDirectory(_ segments: [SegmentHandle]) throws(StorageError) -> Bool {
        while true {
            let pinned: PinnedDirectory
            if let current = directory, current.isCurrent {
                pinned = current
            } else {
                do { pinned = try PinnedDirectory(path: path) } catch where error.code == .notFound && !segments.isEmpty {
                    return false
                }
            }
            let read = try pinned.withLock(exclusive: false) { () throws(StorageError) -> Bool in
                guard pinned.isCurrent else { return false }
                let listed = try pinned.segments()
                if listed.isEmpty, pinned.contains(RemoteLogs.indexFileName) {
                    // Segments in a bucket (FORMAT-REMOTE.md "Reading in place"), opened once:
                    // they are sealed and never change.
                    if pinned === directory, snapshot.isRemote { return true }
                    let remote = try RemoteLogs.open(pinned)
                    snapshot = LogSnapshot(path: path, remoteSegments: remote.segments, keyIndex: remote.keyIndex)
                    return true
                }
                let known = pinned === directory ? Dictionary(segments.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a }) : [:]
                var next: [SegmentHandle] = []
                for (_, file) in listed {
                    if let handle = known[file], handle.isSealed {
                        next.append(handle)
                    } else {
                        do throws(StorageError) { next.append(try SegmentHandle(path: file, in: pinned)) } catch where error.code == .notFound {
                            // Deleted by the log's own writer after the listing: a segment it
                            // discarded (`discardAppended`), or one recovery found empty.
                            continue
                        }
                    }
                }
                snapshot = LogSnapshot(path: path, isDirectoryLog: true, segments: next, directory: pinned)
                return true
            }
            if read {
                directory = pinned
                return true
            }
        }
    }

    /// True when lookups go through a current log key index (FORMAT.md §6.3).
    public var usesKeyIndex: Bool { snapshot.usesKeyIndex }

    private var prefaults: [Prefault] = []

    deinit {
        for p in prefaults { p.cancel() }
    }

    /// Starts faulting in, on a background thread, the mapped files of the sealed segments and
    /// the log key index, so that lookups and reads after it take no page faults. A lookup in a
    /// large session otherwise pays a fault on each page it touches first (about one lookup in
    /// five of a 10M-record session, which makes its p99). Returns at once.
    ///
    /// For logs whose files are in the page cache (just written, or on tmpfs); on a cold disk
    /// it reads the whole log, like a scan. Costs page-table memory (about 2 MiB per GiB) and
    /// about 0.15 s of one core per GiB. Stops when the reader is released or when `cancel()` is
    /// called; segments opened later by `refresh()` are not included.
    @discardableResult
    public func prefault() -> Prefault {
        let job = snapshot.startPrefault()
        prefaults.removeAll { $0.isFinished }
        prefaults.append(job)
        return job
    }

    /// Writes the log key index over the sealed segments at the start of the log (atomically),
    /// so that lookups cost one probe. Returns the entries written, or nil when the log has more
    /// keyed records than one index holds (lookups then probe each segment).
    @discardableResult
    public func writeKeyIndex() throws(StorageError) -> Int? {
        guard SegmentFiles.isDirectory(path) else { return nil }
        var covered: [LogKeyIndexSegment] = []
        var entries: [(location: UInt64, hash: UInt64)] = []
        var base: UInt64 = 0
        for handle in segments {
            guard handle.isSealed else { break }
            if let table = handle.view.keyTable {
                if entries.count + table.entryCount > FormatConstants.keyCountMax { return nil }
                table.forEachEntry { hash, location in
                    entries.append(((base + UInt64(location.chunkOrdinal)) << 32 | UInt64(location.offsetInChunk), hash))
                }
            }
            covered.append(LogKeyIndexSegment(segmentID: handle.id, firstGlobalChunk: UInt32(base), chunkCount: UInt32(handle.view.chunks.count)))
            base += UInt64(handle.view.chunks.count)
            if base > UInt64(UInt32.max) { return nil }
        }
        // Record order, so that duplicate keys are found oldest first.
        entries.sort { $0.location < $1.location }
        let bytes = LogKeyIndex.encode(segments: covered, hashes: entries.map(\.hash), locations: entries.map(\.location))
        // The index describes the segments of the directory this reader holds; written into
        // another (the log was switched since), it would only be ignored there.
        guard let directory, directory.isCurrent else {
            throw StorageError(.notFound, "the log directory was replaced since the reader opened it; refresh first", path: path)
        }
        try AtomicFile.save(bytes, to: path + "/" + LogKeyIndex.fileName)
        try directory.withLock(exclusive: false) { () throws(StorageError) in
            snapshot = LogSnapshot(path: path, isDirectoryLog: snapshot.isDirectoryLog, segments: snapshot.segments, directory: directory)
        }
        return entries.count
    }

    /// Records in all segments.
    public var recordCount: Int { snapshot.recordCount }

    /// Sequence of the last readable record, or nil when empty.
    public var lastSequence: UInt64? { snapshot.lastSequence }

    /// Damage the open segments reported when scanned (unsealed segments only).
    public var scanDamage: [LostRange] { snapshot.scanDamage }

    /// Calls `body` with every record whose sequence is at least `fromSequence`, in order, until it
    /// returns false. Chunks whose CRC fails are skipped and returned as lost ranges: reading goes
    /// on past damage.
    @discardableResult
    public func forEachRecord(
        fromSequence: UInt64 = 0, _ body: (RecordView) throws -> Bool
    ) rethrows -> [LostRange] {
        try snapshot.forEachRecord(
            fromSequence: fromSequence, decompressor: chunkCache.decompressor, dropsPagesBehindScans: dropsPagesBehindScans, body)
    }

    /// Every record, copied (tests and small logs).
    public func readAll() -> [Record] {
        var out: [Record] = []
        forEachRecord { out.append($0.makeRecord()); return true }
        return out
    }

    /// The records whose key equals `key`, oldest first. With a current log key index this is one
    /// probe sequence for all sealed segments; otherwise one per segment's key table. Unsealed
    /// segments are scanned. Equal hashes with unequal keys are never returned.
    public func lookup(key: [UInt8]) -> [Record] {
        var found: [Record] = []
        key.withUnsafeBytes { k in
            snapshot.forEachMatch(k, decompressor: chunkCache.decompressor, chunkData: { chunkCache.data($0, $1, $2) }) {
                found.append($0)
                return true
            }
        }
        return found
    }

    /// The first (oldest) record with `key`, if any: the common replay case.
    public func lookupFirst(key: [UInt8]) -> Record? {
        key.withUnsafeBytes { lookupFirst(key: $0) }
    }

    /// The first (oldest) record whose key is the bytes `key` points to, if any (``lookupFirst(key:)``
    /// for a key that is not in an array).
    public func lookupFirst(key: UnsafeRawBufferPointer) -> Record? {
        var result: Record?
        snapshot.forEachMatch(key, decompressor: chunkCache.decompressor, chunkData: { chunkCache.data($0, $1, $2) }) {
            result = $0
            return false
        }
        return result
    }
}

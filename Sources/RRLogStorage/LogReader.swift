public import RRLogFormat

/// One segment file opened for reading: mapped read-only when sealed (opened from its tail,
/// never scanned), copied and scanned when a writer may still be appending to it.
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
    /// random reads cost 6-7% of a lookup (measured side by side); these words fill 0.7 MB.
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
        self.id = SegmentFiles.id(fromName: String(path.split(separator: "/").last ?? "")) ?? view.header.segmentID
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
/// and following a writer's tail with `refresh()`. One reader per thread; readers never block the
/// writer and never return a record that is not completely written.
public final class LogReader {
    /// The log directory or segment file.
    public let path: String
    /// The open segments, in id order.
    public private(set) var segments: [SegmentHandle] = []
    private let decompressor = Decompressor()
    private var cache: [ChunkKey: [UInt8]] = [:]
    private var cacheOrder: [ChunkKey] = []
    /// Decompressed chunks kept for lookups.
    public var cacheCapacity = 64
    /// When set, `forEachRecord` drops each segment's resident pages once it has read it, so a
    /// scan of a log larger than memory keeps a resident set of one segment (128 MiB at most by
    /// default) instead of the whole log. For one-pass readers (export, `cat`); lookups after
    /// such a scan fault the pages back in from the page cache.
    public var dropsPagesBehindScans = false
    /// The log key index and the segments it covers (a prefix of `segments`), when present and
    /// current.
    private var keyIndex: (file: MappedFile, index: LogKeyIndex, handles: [SegmentHandle])?

    struct ChunkKey: Hashable {
        var segment: UInt64
        var ordinal: Int
    }

    /// Opens the log at `path` (a directory of segments, or one segment file).
    public init(path: String) throws(StorageError) {
        self.path = path
        try refresh()
    }

    /// True when `path` named a log directory when the reader was opened (not a single file).
    private var isDirectoryLog: Bool?
    /// The directory the open segments come from, held open (a log directory only).
    private var directory: PinnedDirectory?

    /// Picks up new segments and the new tail of unsealed ones; after a compaction switched the
    /// log, the compacted log, whole.
    public func refresh() throws(StorageError) {
        if isDirectoryLog == nil, SegmentFiles.exists(path) { isDirectoryLog = SegmentFiles.isDirectory(path) }
        if isDirectoryLog == true {
            guard try refreshDirectory() else { return }
        } else if isDirectoryLog == false, SegmentFiles.exists(path) {
            segments = [try SegmentHandle(path: path)]
        } else {
            throw StorageError(.notFound, "no such log directory or segment file", path: path)
        }
        cache.removeAll()
        cacheOrder.removeAll()
    }

    /// Reads the log directory `path` names (FORMAT.md §9 "The session directory"). A compaction
    /// puts a whole new directory in the old one's place in one step, and deletes the old one
    /// only under its exclusive lock. So the reader reads the directory it holds open while
    /// `path` still names it, under its shared lock (its listed segments cannot vanish); once
    /// `path` names another, it reads that one whole, and drops the old segments. It never mixes
    /// the segments of two directories, never waits for a switch, and retries only when a
    /// directory was switched between its opening and its locking (then the new one is read).
    /// False when the log was deleted (its session removed) and the current view is kept.
    private func refreshDirectory() throws(StorageError) -> Bool {
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
                let known = pinned === directory ? Dictionary(segments.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a }) : [:]
                var next: [SegmentHandle] = []
                for (_, file) in try pinned.segments() {
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
                segments = next
                loadKeyIndex(pinned)
                return true
            }
            if read {
                directory = pinned
                return true
            }
        }
    }

    /// True when lookups go through a current log key index (FORMAT.md §6.3).
    public var usesKeyIndex: Bool { keyIndex != nil }

    private var prefaults: [Prefault] = []

    deinit {
        for p in prefaults { p.cancel() }
    }

    /// Starts faulting in, on a background thread, the mapped files of the sealed segments and
    /// the log key index, so that lookups and reads after it take no page faults. A lookup in a
    /// large session otherwise pays a fault on each page it touches first (on this machine about
    /// one lookup in five of a 10M-record session, which makes its p99). Returns at once.
    ///
    /// For logs whose files are in the page cache (just written, or on tmpfs); on a cold disk
    /// it reads the whole log, like a scan. Costs page-table memory (about 2 MiB per GiB) and,
    /// on this machine, about 0.15 s of one core per GiB. Stops when the reader is released or
    /// when `cancel()` is called; segments opened later by `refresh()` are not included.
    @discardableResult
    public func prefault() -> Prefault {
        var files: [MappedFile] = []
        if let ki = keyIndex { files.append(ki.file) }
        files += segments.filter(\.isSealed).map(\.file)
        let job = Prefault(files: files)
        prefaults.removeAll { $0.isFinished }
        prefaults.append(job)
        job.start()
        return job
    }

    /// Loads the log key index of `directory` (held locked by the caller), when it is current.
    private func loadKeyIndex(_ directory: PinnedDirectory) {
        keyIndex = nil
        guard let mapped = try? MappedFile(name: LogKeyIndex.fileName, in: directory, path: path + "/" + LogKeyIndex.fileName) else { return }
        let decoded: LogKeyIndex? = mapped.withBytes { try? LogKeyIndex($0) }
        guard let index = decoded, index.segments.count <= segments.count else { return }
        // Current only when it covers exactly the first segments as they are now.
        for (entry, handle) in zip(index.segments, segments) {
            guard handle.isSealed, handle.id == entry.segmentID, handle.view.chunks.count == Int(entry.chunkCount) else { return }
        }
        keyIndex = (mapped, index, Array(segments.prefix(index.segments.count)))
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
        try directory.withLock(exclusive: false) { () throws(StorageError) in loadKeyIndex(directory) }
        return entries.count
    }

    /// Calls `visit` with each record whose key equals `key`, oldest first, until it returns false.
    private func forEachMatch(_ key: UnsafeRawBufferPointer, _ visit: (Record) -> Bool) {
        let hash = XXHash64.hash(key)
        var coveredCount = 0
        if let ki = keyIndex {
            coveredCount = ki.handles.count
            var going = true
            ki.index.keyTable.forEachCandidate(hash: hash) { location in
                guard let (s, chunk) = ki.index.locate(globalChunk: location.chunkOrdinal) else { return true }
                if let r = record(in: ki.handles[s], at: RecordLocation(chunkOrdinal: chunk, offsetInChunk: location.offsetInChunk), matching: key) {
                    going = visit(r)
                }
                return going
            }
            if !going { return }
        }
        for segment in segments.dropFirst(coveredCount) {
            if let table = segment.view.keyTable {
                var going = true
                table.forEachCandidate(hash: hash) { location in
                    if let r = record(in: segment, at: location, matching: key) { going = visit(r) }
                    return going
                }
                if !going { return }
            } else if !segment.isSealed {
                var going = true
                for ordinal in segment.view.chunks.indices where going {
                    _ = segment.view.withChunkData(ordinal, decompressor: decompressor) { data in
                        ChunkReader.forEachRecord(data, shape: ChunkShape(segment.view.chunks[ordinal])) { view in
                            if let k = view.key, Self.equal(k, key) { going = visit(view.makeRecord()) }
                            return going
                        }
                    }
                }
                if !going { return }
            }
        }
    }

    /// Records in all segments.
    public var recordCount: Int { segments.reduce(0) { $0 + $1.view.recordCount } }

    /// Sequence of the last readable record, or nil when empty.
    public var lastSequence: UInt64? {
        for s in segments.reversed() { if let c = s.view.chunks.last { return c.lastSequence } }
        return nil
    }

    /// Damage the open segments reported when scanned (unsealed segments only).
    public var scanDamage: [LostRange] {
        segments.flatMap { s in
            s.view.damage.compactMap { item -> LostRange? in
                switch item {
                case .damaged(let r, let e):
                    return LostRange(file: s.path, startOffset: r.lowerBound, endOffset: r.upperBound, reason: e.description)
                default: return nil
                }
            }
        }
    }

    /// Calls `body` with every record whose sequence is at least `fromSequence`, in order, until it
    /// returns false. Chunks whose CRC fails are skipped and returned as lost ranges: reading goes
    /// on past damage.
    @discardableResult
    public func forEachRecord(
        fromSequence: UInt64 = 0, _ body: (RecordView) throws -> Bool
    ) rethrows -> [LostRange] {
        var lost = scanDamage
        for segment in segments {
            // A one-pass reader (export, cat) lets go of each segment's pages once it is read.
            defer { if dropsPagesBehindScans { segment.file.dropResidentPages() } }
            for (ordinal, chunk) in segment.view.chunks.enumerated() where chunk.lastSequence >= fromSequence {
                var stop = false
                // The chunk's data CRC is checked before decompression and covers every record
                // byte, so the CRCs inside the data (rows' record CRCs, a column chunk's content
                // CRC) need no second pass here (verify checks both).
                let result = try segment.view.withChunkData(ordinal, decompressor: decompressor) { data -> FormatError? in
                    try ChunkReader.forEachRecord(data, shape: ChunkShape(chunk), checkCRC: false) { view in
                        if view.sequence < fromSequence { return true }
                        if try !body(view) {
                            stop = true
                            return false
                        }
                        return true
                    }
                }
                switch result {
                case .success(nil): break
                case .success(let e?), .failure(let e):
                    lost.append(LostRange(
                        file: segment.path, startOffset: Int(chunk.offset), endOffset: Int(chunk.offset) + Int(chunk.frameLength),
                        firstSequence: chunk.firstSequence, lastSequence: chunk.lastSequence, reason: e.description))
                }
                if stop { return lost }
            }
        }
        return lost
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
        key.withUnsafeBytes { forEachMatch($0) { found.append($0); return true } }
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
        forEachMatch(key) { result = $0; return false }
        return result
    }

    /// Whether two byte ranges hold the same bytes.
    private static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        var i = 0
        while i + 8 <= a.count {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        while i < a.count {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }

    /// The record at a key-table location, checked (a row record's own CRC; a column chunk's data
    /// CRC before it is decompressed); nil when damaged, or when `key` is given and the record's
    /// key differs (compared before anything is copied).
    func record(in segment: SegmentHandle, at location: RecordLocation, matching key: UnsafeRawBufferPointer? = nil) -> Record? {
        let ordinal = Int(location.chunkOrdinal)
        guard ordinal < segment.rowSpans.count else { return nil }
        let at = Int(location.offsetInChunk)
        // The record, copied, unless its key differs from `key`.
        let matched = { (view: RecordView?) -> Record? in
            guard let view else { return nil }
            if let key {
                guard let k = view.key, Self.equal(k, key) else { return nil }
            }
            return view.makeRecord()
        }
        let span = segment.rowSpans[ordinal]
        if span != 0 {
            // An uncompressed row chunk: its data sits right after its header, so the record is
            // one random read (its own CRC protects it), and the chunk's index entry is not read.
            let start = Int(span >> 24)
            let data = UnsafeRawBufferPointer(rebasing: segment.view.buffer[start..<(start + Int(span & 0xFF_FFFF))])
            guard case .success(.record(let view, _)) = RecordCodec.decode(data, at: at) else { return nil }
            return matched(view)
        }
        let entry = segment.view.chunks[ordinal]
        let shape = ChunkShape(entry)
        let decode = { (data: UnsafeRawBufferPointer) -> Record? in matched(ChunkReader.record(at: at, in: data, shape: shape)) }
        // A compressed chunk is decompressed only as far as the record (plus a margin that
        // usually holds the whole record) and kept; a later lookup past what is kept decompresses
        // the whole chunk, so replaying a chunk's records in order costs about one decompression.
        let cacheKey = ChunkKey(segment: segment.id, ordinal: ordinal)
        let rawLength = Int(entry.rawLength)
        let holds = { (data: [UInt8]) -> Bool in
            data.count == rawLength || data.withUnsafeBytes { ChunkReader.holdsRecord(at: at, in: $0, shape: shape) }
        }
        let cached = cache[cacheKey]
        if let data = cached, holds(data) { return data.withUnsafeBytes(decode) }
        var columns: [UInt8]?
        if cached == nil, entry.layout == ChunkLayout.columns.rawValue, entry.codec == Codec.lz4.rawValue {
            // lz4 stops decoding where asked: the columns first (17 bytes a record), which say
            // exactly where the record's payload ends, then that far. zstd decodes whole blocks,
            // so its chunks are decoded whole at once.
            _ = segment.view.withChunkPrefix(ordinal, prefixLength: ChunkReader.columnsLength(shape), decompressor: decompressor, checkCRC: false) {
                columns = Array($0)
            }
        }
        let prefixLength: Int
        if cached != nil {
            prefixLength = rawLength
        } else if let columns {
            prefixLength = columns.withUnsafeBytes {
                ChunkReader.lookupPrefixLength(at: at, shape: shape, marginBytes: Self.lookupMarginBytes, columns: $0)
            }
        } else {
            prefixLength = ChunkReader.lookupPrefixLength(at: at, shape: shape, marginBytes: Self.lookupMarginBytes)
        }
        var copy: [UInt8]?
        _ = segment.view.withChunkPrefix(ordinal, prefixLength: prefixLength, decompressor: decompressor) { copy = Array($0) }
        guard var data = copy else { return nil }
        if !holds(data) {
            // The record is longer than the guess.
            _ = segment.view.withChunkPrefix(ordinal, prefixLength: rawLength, decompressor: decompressor) { copy = Array($0) }
            data = copy ?? data
        }
        if cached == nil {
            if cacheOrder.count >= cacheCapacity { cache[cacheOrder.removeFirst()] = nil }
            cacheOrder.append(cacheKey)
        }
        cache[cacheKey] = data
        return data.withUnsafeBytes(decode)
    }

    /// Decompressed bytes a lookup asks for past the start of its record.
    static let lookupMarginBytes = 4096
}

#if canImport(Glibc)
import Glibc
#endif
public import RRLogFormat
import Synchronization

/// The segments and key index of a log as a `LogReader` saw them at one moment, shared by any
/// number of threads and tasks: lookups and scans from many of them at once.
///
/// Sealed segments are read-only mappings and an unsealed segment is read from a private copy, so
/// nothing a lookup reads ever changes: a lookup of an uncompressed record takes no lock at all.
/// A compressed record's chunk is decoded with one of a few chunk caches, each behind its own
/// `Mutex` and picked by the calling thread, so one thread's lookups keep finding the chunks they
/// decoded; a lookup never waits for another one's cache (when every cache is busy it decodes
/// with one of its own). Scans (`forEachRecord`) decode with a decompressor of their own.
///
/// `LogReader.refresh()` makes a new snapshot and leaves this one as it is: a holder keeps reading
/// what it was given, and sees records appended later by asking its reader again.
///
/// Sendable by hand: every stored property is a constant or a `Mutex`, and the segment views and
/// the key index point into mappings (or copies) that the snapshot keeps alive and nothing writes.
public final class LogSnapshot: @unchecked Sendable {
    /// The log directory or segment file.
    public let path: String
    /// True when `path` named a log directory (not a single segment file).
    let isDirectoryLog: Bool?
    /// The open segments, in id order.
    public let segments: [SegmentHandle]
    /// The log key index and the segments it covers (a prefix of `segments`), when present and
    /// current.
    let keyIndex: (file: MappedFile, index: LogKeyIndex, handles: [SegmentHandle])?
    /// Chunk caches for lookups of compressed records; a power of two of them.
    private let caches: [SharedChunkCache]
    /// Background fault-ins started by `prefault()`, cancelled when the snapshot goes.
    private let prefaults = Mutex<[Prefault]>([])

    /// Chunk caches per snapshot: more than the threads that usually look up at once, so that two
    /// threads rarely pick the same one.
    static let sharedCacheCount = 8

    /// A snapshot of `segments`; with `directory` (held under its shared lock by the caller) the
    /// key index is read from that directory, the one the segments come from.
    init(path: String, isDirectoryLog: Bool?, segments: [SegmentHandle], directory: PinnedDirectory? = nil) {
        self.path = path
        self.isDirectoryLog = isDirectoryLog
        self.segments = segments
        self.keyIndex = Self.loadKeyIndex(path: path, segments: segments, directory: directory)
        self.caches = (0..<Self.sharedCacheCount).map { _ in SharedChunkCache() }
    }

    /// A snapshot of a remote log's segments and key index (`RemoteLogs.open`).
    init(path: String, remoteSegments segments: [SegmentHandle], keyIndex: (file: MappedFile, index: LogKeyIndex, handles: [SegmentHandle])?) {
        self.path = path
        self.isDirectoryLog = true
        self.segments = segments
        self.keyIndex = keyIndex
        self.caches = (0..<Self.sharedCacheCount).map { _ in SharedChunkCache() }
    }

    /// True when the log's segments are in a bucket, fetched as reads need them.
    public var isRemote: Bool { segments.contains { $0.isRemote } }

    deinit {
        for job in prefaults.withLock({ $0 }) { job.cancel() }
    }

    /// The log key index at `path`, when it covers exactly the first of `segments` as they are now.
    private static func loadKeyIndex(
        path: String, segments: [SegmentHandle], directory: PinnedDirectory?
    ) -> (file: MappedFile, index: LogKeyIndex, handles: [SegmentHandle])? {
        let file = path + "/" + LogKeyIndex.fileName
        guard !segments.isEmpty else { return nil }
        let mapped: MappedFile
        if let directory {
            guard let opened = try? MappedFile(name: LogKeyIndex.fileName, in: directory, path: file) else { return nil }
            mapped = opened
        } else {
            guard SegmentFiles.isDirectory(path), SegmentFiles.exists(file), let opened = try? MappedFile(path: file) else { return nil }
            mapped = opened
        }
        let decoded: LogKeyIndex? = mapped.withBytes { try? LogKeyIndex($0) }
        guard let index = decoded, index.segments.count <= segments.count else { return nil }
        for (entry, handle) in zip(index.segments, segments) {
            guard handle.isSealed, handle.id == entry.segmentID, handle.view.chunks.count == Int(entry.chunkCount) else { return nil }
        }
        return (mapped, index, Array(segments.prefix(index.segments.count)))
    }

    /// True when lookups go through a current log key index (FORMAT.md §6.3).
    public var usesKeyIndex: Bool { keyIndex != nil }

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

    // MARK: Lookups from many threads

    /// The first (oldest) record with `key`, if any. Any number of threads may call this at once.
    public func lookupFirst(key: [UInt8]) -> Record? {
        key.withUnsafeBytes { lookupFirst(key: $0) }
    }

    /// The first (oldest) record whose key is the bytes `key` points to, if any. Any number of
    /// threads may call this at once.
    public func lookupFirst(key: UnsafeRawBufferPointer) -> Record? {
        var result: Record?
        forEachMatch(key, decompressor: nil, chunkData: { self.sharedChunkData($0, $1, $2) }) { result = $0; return false }
        return result
    }

    /// The records whose key equals `key`, oldest first. Any number of threads may call this at once.
    public func lookup(key: [UInt8]) -> [Record] {
        var found: [Record] = []
        key.withUnsafeBytes { k in
            forEachMatch(k, decompressor: nil, chunkData: { self.sharedChunkData($0, $1, $2) }) { found.append($0); return true }
        }
        return found
    }

    /// The data of a compressed chunk for a lookup of the record at `at`, through the cache the
    /// calling thread maps to, the next free one, or a cache of its own when all are busy.
    private func sharedChunkData(_ segment: SegmentHandle, _ ordinal: Int, _ at: Int) -> [UInt8]? {
        let mask = caches.count - 1
        let first = Self.threadSlot() & mask
        for step in 0..<caches.count {
            if let data = caches[(first + step) & mask].cache.withLockIfAvailable({ $0.data(segment, ordinal, at) }) { return data }
        }
        return ChunkCache().data(segment, ordinal, at)
    }

    /// A number that stays the same for the calling thread, spread over the low bits.
    private static func threadSlot() -> Int {
        let id = UInt64(UInt(pthread_self()))
        return Int(truncatingIfNeeded: (id &* 0x9E37_79B9_7F4A_7C15) >> 40)
    }

    // MARK: Scans

    /// Calls `body` with every record whose sequence is at least `fromSequence`, in order, until
    /// it returns false; damaged chunks are skipped and returned as lost ranges (as
    /// `LogReader.forEachRecord`). Any number of threads may scan at once: each scan decodes with
    /// a decompressor of its own.
    @discardableResult
    public func forEachRecord(fromSequence: UInt64 = 0, _ body: (RecordView) throws -> Bool) rethrows -> [LostRange] {
        try forEachRecord(fromSequence: fromSequence, decompressor: Decompressor(), dropsPagesBehindScans: false, body)
    }

    /// `forEachRecord` with the caller's decompressor (a `LogReader`'s own).
    func forEachRecord(
        fromSequence: UInt64, decompressor: Decompressor, dropsPagesBehindScans: Bool, _ body: (RecordView) throws -> Bool
    ) rethrows -> [LostRange] {
        var lost = scanDamage
        var ahead: RemoteScanAhead?
        for segment in segments {
            // A one-pass reader (export, cat) lets go of each segment's pages once it is read.
            defer { if dropsPagesBehindScans { segment.file.dropResidentPages() } }
            for (ordinal, chunk) in segment.view.chunks.enumerated() where chunk.lastSequence >= fromSequence {
                // A remote segment's chunks are fetched ahead of the scan, a few windows at once.
                if segment.isRemote {
                    if ahead == nil || ahead!.segment !== segment { ahead = RemoteScanAhead(segment, fromChunk: ordinal) }
                    ahead!.advance(to: Int(chunk.offset))
                }
                let pin: Int
                do { pin = try segment.pinChunk(ordinal) } catch {
                    lost.append(LostRange(
                        file: segment.path, startOffset: Int(chunk.offset), endOffset: Int(chunk.offset) + Int(chunk.frameLength),
                        firstSequence: chunk.firstSequence, lastSequence: chunk.lastSequence, reason: "not read: \(error.description)"))
                    continue
                }
                defer { segment.unpinChunk(pin) }
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

    // MARK: Prefault

    /// Starts faulting in, on a background thread, the mapped files of the sealed segments and the
    /// log key index (`LogReader.prefault()`). Stops when the snapshot is released or when
    /// `cancel()` is called. Returns at once.
    @discardableResult
    public func prefault() -> Prefault {
        let job = startPrefault()
        prefaults.withLock { jobs in
            jobs.removeAll { $0.isFinished }
            jobs.append(job)
        }
        return job
    }

    /// A started fault-in of the sealed segments and key index, which the caller keeps track of.
    func startPrefault() -> Prefault {
        var files: [MappedFile] = []
        if let ki = keyIndex, !ki.file.isRemote { files.append(ki.file) }
        files += segments.filter { $0.isSealed && !$0.isRemote }.map(\.file)
        let job = Prefault(files: files)
        job.start()
        return job
    }

    // MARK: The lookup path

    /// Calls `visit` with each record whose key equals `key`, oldest first, until it returns
    /// false. `chunkData` decodes compressed chunks; `decompressor` scans unsealed segments (one is
    /// made when nil and needed).
    func forEachMatch(
        _ key: UnsafeRawBufferPointer, decompressor: Decompressor?, chunkData: (SegmentHandle, Int, Int) -> [UInt8]?,
        _ visit: (Record) -> Bool
    ) {
        let hash = XXHash64.hash(key)
        var coveredCount = 0
        if let ki = keyIndex {
            coveredCount = ki.handles.count
            var going = true
            Self.forEachCandidate(ki.index.keyTable, in: ki.file, hash: hash) { location in
                guard let (s, chunk) = ki.index.locate(globalChunk: location.chunkOrdinal) else { return true }
                let at = RecordLocation(chunkOrdinal: chunk, offsetInChunk: location.offsetInChunk)
                if let r = Self.record(in: ki.handles[s], at: at, matching: key, chunkData: chunkData) { going = visit(r) }
                return going
            }
            if !going { return }
        }
        for segment in segments.dropFirst(coveredCount) {
            if let table = segment.view.keyTable {
                var going = true
                Self.forEachCandidate(table, in: segment.file, hash: hash) { location in
                    if let r = Self.record(in: segment, at: location, matching: key, chunkData: chunkData) { going = visit(r) }
                    return going
                }
                if !going { return }
            } else if !segment.isSealed {
                let scanner = decompressor ?? Decompressor()
                var going = true
                for ordinal in segment.view.chunks.indices where going {
                    _ = segment.view.withChunkData(ordinal, decompressor: scanner) { data in
                        ChunkReader.forEachRecord(data, shape: ChunkShape(segment.view.chunks[ordinal])) { view in
                            if let k = view.key, equalBytes(k, key) { going = visit(view.makeRecord()) }
                            return going
                        }
                    }
                }
                if !going { return }
            }
        }
    }

    /// Slots a probe of a remote key table fetches at once (4 KiB: a probe rarely runs longer).
    static let remoteProbeSlots = 256

    /// `table.forEachCandidate`, for a table in `file`: a remote file's slots are fetched a
    /// window at a time as the probe reaches them. A failed fetch ends the probe (the lookup
    /// finds nothing more) and is kept in `RemoteLogs.lastFailure`.
    @inline(__always)
    static func forEachCandidate(_ table: KeyTable, in file: MappedFile, hash: UInt64, _ visit: (RecordLocation) -> Bool) {
        guard file.isRemote else {
            table.forEachCandidate(hash: hash, visit)
            return
        }
        var slot: Int? = table.firstSlot(hash: hash)
        var probed = 0
        let base = file.withBytes { UnsafeRawPointer($0.baseAddress!) }
        while let from = slot, probed < table.slotCount {
            let count = min(remoteProbeSlots, table.slotCount - from)
            let bytes = table.slotBytes(from..<(from + count))
            let start = bytes.baseAddress! - base
            let pin: Int
            do { pin = try file.pin(start..<(start + bytes.count)) } catch {
                RemoteLogs.noteFailure(error)
                return
            }
            slot = table.probe(hash: hash, fromSlot: from, limit: count, visit)
            file.unpin(pin)
            probed += count
        }
    }

    /// The record at a key-table location, checked (a row record's own CRC; a column chunk's data
    /// CRC before it is decompressed); nil when damaged, or when `key` is given and the record's
    /// key differs (compared before anything is copied).
    static func record(
        in segment: SegmentHandle, at location: RecordLocation, matching key: UnsafeRawBufferPointer?,
        chunkData: (SegmentHandle, Int, Int) -> [UInt8]?
    ) -> Record? {
        let ordinal = Int(location.chunkOrdinal)
        guard ordinal < segment.rowSpans.count else { return nil }
        let at = Int(location.offsetInChunk)
        let pin: Int
        do { pin = try segment.pinChunk(ordinal) } catch {
            RemoteLogs.noteFailure(error)
            return nil
        }
        defer { segment.unpinChunk(pin) }
        // The record, copied, unless its key differs from `key`.
        let matched = { (view: RecordView?) -> Record? in
            guard let view else { return nil }
            if let key {
                guard let k = view.key, equalBytes(k, key) else { return nil }
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
        guard let data = chunkData(segment, ordinal, at) else { return nil }
        let shape = ChunkShape(segment.view.chunks[ordinal])
        return data.withUnsafeBytes { matched(ChunkReader.record(at: at, in: $0, shape: shape)) }
    }
}

/// Whether two byte ranges hold the same bytes.
func equalBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
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

/// One of a snapshot's chunk caches, behind its own lock.
final class SharedChunkCache: Sendable {
    let cache = Mutex(ChunkCache())
}

/// Decompressed chunks kept for lookups of compressed records, and the decompressor that makes
/// them. Used by one thread at a time.
final class ChunkCache {
    struct ChunkKey: Hashable {
        var segment: UInt64
        var ordinal: Int
    }

    let decompressor = Decompressor()
    private var chunks: [ChunkKey: [UInt8]] = [:]
    private var order: [ChunkKey] = []
    /// Chunks kept.
    var capacity = 64

    /// Forgets every chunk (the segments they came from may be gone).
    func removeAll() {
        chunks.removeAll()
        order.removeAll()
    }

    /// Decompressed bytes a lookup asks for past the start of its record.
    static let lookupMarginBytes = 4096

    /// Chunk `ordinal` of `segment`, decompressed at least as far as the end of the record at
    /// `at` when its data allows, or nil when it cannot be decoded. A compressed chunk is
    /// decompressed only as far as the record (plus a margin that usually holds the whole record)
    /// and kept; a later lookup past what is kept decompresses the whole chunk, so replaying a
    /// chunk's records in order costs about one decompression.
    func data(_ segment: SegmentHandle, _ ordinal: Int, _ at: Int) -> [UInt8]? {
        let entry = segment.view.chunks[ordinal]
        let shape = ChunkShape(entry)
        let cacheKey = ChunkKey(segment: segment.id, ordinal: ordinal)
        let rawLength = Int(entry.rawLength)
        let holds = { (data: [UInt8]) -> Bool in
            data.count == rawLength || data.withUnsafeBytes { ChunkReader.holdsRecord(at: at, in: $0, shape: shape) }
        }
        let cached = chunks[cacheKey]
        if let data = cached, holds(data) { return data }
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
            if order.count >= capacity, !order.isEmpty { chunks[order.removeFirst()] = nil }
            order.append(cacheKey)
        }
        chunks[cacheKey] = data
        return data
    }
}

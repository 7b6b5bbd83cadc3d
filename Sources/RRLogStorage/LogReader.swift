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

    /// Opens the segment at `path`.
    public init(path: String) throws(StorageError) {
        self.path = path
        var mapped = try MappedFile(path: path)
        var sealed: SegmentView? = mapped.withBytes { buffer in
            SegmentFooter.present(in: buffer) ? try? SegmentView(sealed: buffer) : nil
        }
        if sealed == nil {
            mapped = try MappedFile(copying: path)
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
        self.id = SegmentFiles.id(fromName: String(path.split(separator: "/").last ?? "")) ?? view.header.segmentID
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

    struct ChunkKey: Hashable {
        var segment: UInt64
        var ordinal: Int
    }

    /// Opens the log at `path` (a directory of segments, or one segment file).
    public init(path: String) throws(StorageError) {
        self.path = path
        try refresh()
    }

    /// Picks up new segments and the new tail of unsealed ones.
    public func refresh() throws(StorageError) {
        if SegmentFiles.isDirectory(path) {
            var next: [SegmentHandle] = []
            let known = Dictionary(segments.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
            for (_, file) in try SegmentFiles.list(path) {
                if let handle = known[file], handle.isSealed {
                    next.append(handle)
                } else {
                    do { next.append(try SegmentHandle(path: file)) } catch where error.code == .notFound {
                        continue  // removed by compaction between the listing and the open
                    }
                }
            }
            segments = next
        } else if SegmentFiles.exists(path) {
            segments = [try SegmentHandle(path: path)]
        } else {
            throw StorageError(.notFound, "no such log directory or segment file", path: path)
        }
        cache.removeAll()
        cacheOrder.removeAll()
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
            for (ordinal, chunk) in segment.view.chunks.enumerated() where chunk.lastSequence >= fromSequence {
                var stop = false
                let result = try segment.view.withChunkData(ordinal, decompressor: decompressor) { data -> FormatError? in
                    try ChunkReader.forEachRecord(data) { view in
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

    /// The records whose key equals `key`, oldest first. Uses each sealed segment's key table (one
    /// probe sequence, then one record read); scans unsealed segments. Equal hashes with unequal
    /// keys are never returned.
    public func lookup(key: [UInt8]) -> [Record] {
        var found: [Record] = []
        let hash = XXHash64.hash(key)
        for segment in segments {
            if let table = segment.view.keyTable {
                table.forEachCandidate(hash: hash) { location in
                    if let record = record(in: segment, at: location), record.key == key { found.append(record) }
                    return true
                }
            } else if !segment.isSealed {
                for ordinal in segment.view.chunks.indices {
                    _ = segment.view.withChunkData(ordinal, decompressor: decompressor) { data in
                        ChunkReader.forEachRecord(data) { view in
                            if let k = view.key, k.elementsEqual(key) { found.append(view.makeRecord()) }
                            return true
                        }
                    }
                }
            }
        }
        return found
    }

    /// The first record with `key`, if any (the common replay case: keys are unique).
    public func lookupFirst(key: [UInt8]) -> Record? {
        let hash = XXHash64.hash(key)
        for segment in segments {
            guard let table = segment.view.keyTable else {
                if !segment.isSealed, let r = lookupScanning(segment, key: key) { return r }
                continue
            }
            var result: Record?
            table.forEachCandidate(hash: hash) { location in
                if let record = record(in: segment, at: location), record.key == key {
                    result = record
                    return false
                }
                return true
            }
            if let result { return result }
        }
        return nil
    }

    private func lookupScanning(_ segment: SegmentHandle, key: [UInt8]) -> Record? {
        var result: Record?
        for ordinal in segment.view.chunks.indices where result == nil {
            _ = segment.view.withChunkData(ordinal, decompressor: decompressor) { data in
                ChunkReader.forEachRecord(data) { view in
                    if let k = view.key, k.elementsEqual(key) {
                        result = view.makeRecord()
                        return false
                    }
                    return true
                }
            }
        }
        return result
    }

    /// The record at a key-table location, with its own CRC checked; nil when damaged.
    func record(in segment: SegmentHandle, at location: RecordLocation) -> Record? {
        let ordinal = Int(location.chunkOrdinal)
        guard ordinal < segment.view.chunks.count else { return nil }
        let decode = { (data: UnsafeRawBufferPointer) -> Record? in
            if case .success(.record(let view, _)) = RecordCodec.decode(data, at: Int(location.offsetInChunk)) {
                return view.makeRecord()
            }
            return nil
        }
        if segment.view.chunks[ordinal].codec == Codec.none.rawValue {
            // The record's own CRC protects it; no need to check the whole chunk.
            let result = segment.view.withChunkData(ordinal, decompressor: decompressor, checkCRC: false, decode)
            return (try? result.get()) ?? nil
        }
        let key = ChunkKey(segment: segment.id, ordinal: ordinal)
        if let data = cache[key] { return data.withUnsafeBytes(decode) }
        var copy: [UInt8]?
        _ = segment.view.withChunkData(ordinal, decompressor: decompressor) { copy = Array($0) }
        guard let data = copy else { return nil }
        if cacheOrder.count >= cacheCapacity { cache[cacheOrder.removeFirst()] = nil }
        cache[key] = data
        cacheOrder.append(key)
        return data.withUnsafeBytes(decode)
    }
}

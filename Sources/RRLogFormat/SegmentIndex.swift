/// One entry of a sealed segment's chunk index (FORMAT.md §6.1).
public struct ChunkIndexEntry: Sendable, Equatable {
    /// File offset of the chunk's frame header.
    public var offset: UInt64
    /// Header plus stored data, in bytes.
    public var frameLength: UInt32
    /// Decoded data length.
    public var rawLength: UInt32
    /// Sequence of the chunk's first record.
    public var firstSequence: UInt64
    /// Records in the chunk.
    public var recordCount: UInt32
    /// The chunk's codec.
    public var codec: UInt8
    /// The chunk's layout (`ChunkLayout`; FORMAT.md §3).
    public var layout: UInt8 = 0
    /// Smallest timestamp.
    public var minTimestampNs: Int64
    /// Largest timestamp.
    public var maxTimestampNs: Int64

    /// Makes an entry.
    public init(
        offset: UInt64, frameLength: UInt32, rawLength: UInt32, firstSequence: UInt64, recordCount: UInt32,
        codec: UInt8, minTimestampNs: Int64, maxTimestampNs: Int64
    ) {
        self.offset = offset
        self.frameLength = frameLength
        self.rawLength = rawLength
        self.firstSequence = firstSequence
        self.recordCount = recordCount
        self.codec = codec
        self.minTimestampNs = minTimestampNs
        self.maxTimestampNs = maxTimestampNs
    }

    /// The entry for a chunk frame read at `offset`.
    public init(header: FrameHeader, offset: Int) {
        self.init(
            offset: UInt64(offset), frameLength: UInt32(header.frameLength), rawLength: header.rawLength,
            firstSequence: header.firstSequence, recordCount: header.recordCount, codec: header.codec,
            minTimestampNs: header.minTimestampNs, maxTimestampNs: header.maxTimestampNs)
        layout = header.layout
    }

    /// Sequence of the chunk's last record.
    public var lastSequence: UInt64 { firstSequence &+ UInt64(recordCount) &- 1 }
}

/// A key-table slot's target: which chunk, and where in its decoded data (rows) or which of its
/// records (columns) (FORMAT.md §6.2).
public struct RecordLocation: Sendable, Equatable, Hashable {
    /// Ordinal of the chunk in the chunk index.
    public var chunkOrdinal: UInt32
    /// Rows: offset of the record in the chunk's decoded data; columns: its position in the chunk.
    public var offsetInChunk: UInt32

    /// Makes a location.
    public init(chunkOrdinal: UInt32, offsetInChunk: UInt32) {
        self.chunkOrdinal = chunkOrdinal
        self.offsetInChunk = offsetInChunk
    }
}

/// Accumulates what a segment's index needs while the segment is written, and encodes the two
/// index frames when it is sealed. Memory: 16 bytes per keyed record, 48 per chunk.
public struct SegmentIndexBuilder {
    /// The chunk index so far.
    public private(set) var chunks: [ChunkIndexEntry] = []
    private var keyHashes: [UInt64] = []
    private var keyLocations: [UInt64] = []

    /// Makes an empty builder.
    public init() {}

    /// Keyed records so far.
    public var keyCount: Int { keyHashes.count }

    /// Records a chunk that was written.
    public mutating func addChunk(_ entry: ChunkIndexEntry) { chunks.append(entry) }

    /// Records a keyed record of the chunk that will get ordinal `chunks.count`.
    public mutating func addKey(hash: UInt64, offsetInChunk: Int) {
        keyHashes.append(hash)
        keyLocations.append(UInt64(chunks.count) << 32 | UInt64(UInt32(offsetInChunk)))
    }

    /// Forgets keys added for a chunk that was never written (after a failed write).
    public mutating func dropKeys(ofChunkOrdinal ordinal: Int) {
        while let last = keyLocations.last, Int(last >> 32) == ordinal {
            keyLocations.removeLast()
            keyHashes.removeLast()
        }
    }

    /// The chunk-index frame (header and body), for a segment whose first sequence and time bounds
    /// are given.
    public func encodeChunkIndex() -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(8 + chunks.count * FormatConstants.chunkIndexEntrySizeBytes)
        body.appendLE(UInt32(chunks.count))
        body.appendLE(UInt32(0))
        var records: UInt64 = 0
        var minTs = Int64.max
        var maxTs = Int64.min
        for c in chunks {
            body.appendLE(c.offset)
            body.appendLE(c.frameLength)
            body.appendLE(c.rawLength)
            body.appendLE(c.firstSequence)
            body.appendLE(c.recordCount)
            body.append(c.codec)
            body.append(c.layout)
            body.append(contentsOf: [0, 0])
            body.appendLE(c.minTimestampNs)
            body.appendLE(c.maxTimestampNs)
            records += UInt64(c.recordCount)
            minTs = min(minTs, c.minTimestampNs)
            maxTs = max(maxTs, c.maxTimestampNs)
        }
        return Self.frame(
            type: .chunkIndex, body: body, count: UInt32(chunks.count), firstSequence: chunks.first?.firstSequence ?? 0,
            minTs: chunks.isEmpty ? 0 : minTs, maxTs: chunks.isEmpty ? 0 : maxTs)
    }

    /// The key-table frame, or nil when no record had a key.
    public func encodeKeyTable() -> [UInt8]? {
        guard !keyHashes.isEmpty else { return nil }
        return KeyTable.encodeFrame(hashes: keyHashes, locations: keyLocations, firstSequence: chunks.first?.firstSequence ?? 0)
    }

    /// A frame of `type` holding `body` uncompressed (index frames, FORMAT.md §6).
    public static func frame(type: FrameType, body: [UInt8], count: UInt32, firstSequence: UInt64, minTs: Int64, maxTs: Int64) -> [UInt8] {
        let header = FrameHeader(
            type: type.rawValue, codec: Codec.none.rawValue, storedLength: UInt32(body.count), rawLength: UInt32(body.count),
            recordCount: count, dataCRC: CRC32C.mask(CRC32C.checksum(body)), firstSequence: firstSequence,
            minTimestampNs: minTs, maxTimestampNs: maxTs)
        return header.encode() + body
    }
}

/// Decodes a chunk-index frame body (FORMAT.md §6.1).
public enum ChunkIndexCodec {
    /// The entries in `body`, checked for count and size; `bodyOffset` is for error positions.
    public static func decode(_ body: UnsafeRawBufferPointer, bodyOffset: Int = 0) -> Result<[ChunkIndexEntry], FormatError> {
        let r = ByteReader(body)
        guard let count32 = r.u32(0) else { return .failure(.truncated(offset: bodyOffset, needed: 8, available: body.count)) }
        let count = Int(count32)
        guard count <= FormatConstants.chunkCountMax else {
            return .failure(.badLength(offset: bodyOffset, what: "chunk count", value: UInt64(count), limit: UInt64(FormatConstants.chunkCountMax)))
        }
        let size = FormatConstants.chunkIndexEntrySizeBytes
        guard r.has(8, count * size) else {
            return .failure(.truncated(offset: bodyOffset, needed: 8 + count * size, available: body.count))
        }
        var entries: [ChunkIndexEntry] = []
        entries.reserveCapacity(count)
        for i in 0..<count {
            let o = 8 + i * size
            var entry = ChunkIndexEntry(
                offset: r.u64(o)!, frameLength: r.u32(o + 8)!, rawLength: r.u32(o + 12)!, firstSequence: r.u64(o + 16)!,
                recordCount: r.u32(o + 24)!, codec: r.u8(o + 28)!, minTimestampNs: r.i64(o + 32)!, maxTimestampNs: r.i64(o + 40)!)
            entry.layout = r.u8(o + 29)!
            entries.append(entry)
        }
        return .success(entries)
    }
}

/// A read-only view of a key-table frame body (FORMAT.md §6.2): open addressing with linear
/// probing over 16-byte slots.
public struct KeyTable {
    /// FORMAT.md §6.2: slot hashes are never 0, which marks an empty slot.
    @inlinable public static func slotHash(_ hash: UInt64) -> UInt64 { hash == 0 ? 1 : hash }

    /// FORMAT.md §6.2: the smallest count at least 4/3 of the entries (load ≤ 0.75), at least 8.
    public static func slotCount(forEntries entries: Int) -> Int {
        max(8, (entries * 4 + 2) / 3)
    }

    /// FORMAT.md §6.2: the home slot of slot hash `h` in a table of `slotCount` slots (> 0), `h
    /// mod slotCount`: a mask when the count is a power of two, as the tables of version 1 and
    /// of early version 2 development builds always are.
    @inlinable public static func homeSlot(_ h: UInt64, slotCount: Int) -> Int {
        precondition(slotCount > 0, "a key table has at least 8 slots")
        let n = UInt64(truncatingIfNeeded: slotCount)
        return Int(truncatingIfNeeded: n & (n &- 1) == 0 ? h & (n &- 1) : h % n)
    }

    /// A key-table frame (FORMAT.md §6.2) for entries given in record order: `hashes[i]` is the
    /// key hash of entry i, `locations[i]` its chunk ordinal (high 32 bits) and offset (low 32).
    public static func encodeFrame(hashes: [UInt64], locations: [UInt64], firstSequence: UInt64) -> [UInt8] {
        precondition(hashes.count == locations.count && hashes.count <= FormatConstants.keyCountMax)
        let slots = slotCount(forEntries: hashes.count)
        var body = [UInt8](repeating: 0, count: 8 + slots * FormatConstants.keySlotSizeBytes)
        body.storeLE(UInt32(slots), at: 0)
        body.storeLE(UInt32(hashes.count), at: 4)
        body.withUnsafeMutableBytes { raw in
            for i in 0..<hashes.count {
                let h = slotHash(hashes[i])
                var slot = homeSlot(h, slotCount: slots)
                while raw.loadUnaligned(fromByteOffset: 8 + slot * 16, as: UInt64.self) != 0 {
                    slot = slot + 1 == slots ? 0 : slot + 1
                }
                raw.storeBytes(of: h.littleEndian, toByteOffset: 8 + slot * 16, as: UInt64.self)
                let loc = locations[i]
                raw.storeBytes(of: UInt32(loc >> 32).littleEndian, toByteOffset: 8 + slot * 16 + 8, as: UInt32.self)
                raw.storeBytes(of: UInt32(truncatingIfNeeded: loc).littleEndian, toByteOffset: 8 + slot * 16 + 12, as: UInt32.self)
            }
        }
        return SegmentIndexBuilder.frame(type: .keyTable, body: body, count: UInt32(hashes.count), firstSequence: firstSequence, minTs: 0, maxTs: 0)
    }

    @usableFromInline let body: UnsafeRawBufferPointer
    /// Slots in the table.
    public let slotCount: Int
    /// Entries the table says it holds.
    public let entryCount: Int

    /// Checks the body's shape: at least 8 slots and at most the cap, and the bytes to hold them.
    public init(body: UnsafeRawBufferPointer, bodyOffset: Int = 0) throws(FormatError) {
        let r = ByteReader(body)
        guard let slots = r.u32(0), let entries = r.u32(4) else {
            throw .truncated(offset: bodyOffset, needed: 8, available: body.count)
        }
        guard slots >= 8, Int(slots) <= FormatConstants.keySlotCountMax else {
            throw .badField(offset: bodyOffset, what: "key slot count", value: UInt64(slots))
        }
        guard entries <= slots else { throw .badField(offset: bodyOffset + 4, what: "key entry count", value: UInt64(entries)) }
        guard r.has(8, Int(slots) * 16) else {
            throw .truncated(offset: bodyOffset, needed: 8 + Int(slots) * 16, available: body.count)
        }
        self.body = body
        self.slotCount = Int(slots)
        self.entryCount = Int(entries)
    }

    /// Calls `body` with every location whose slot hash equals `hash`'s, in the order the records
    /// were written, until `body` returns false. Callers compare the record's full key: equal
    /// hashes do not mean equal keys.
    @inlinable
    public func forEachCandidate(hash: UInt64, _ visit: (RecordLocation) throws -> Bool) rethrows {
        let h = Self.slotHash(hash)
        var slot = Self.homeSlot(h, slotCount: slotCount)
        for _ in 0..<slotCount {
            let at = 8 + slot * 16
            let stored = UInt64(littleEndian: body.loadUnaligned(fromByteOffset: at, as: UInt64.self))
            if stored == 0 { return }
            if stored == h {
                let chunk = UInt32(littleEndian: body.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self))
                let offset = UInt32(littleEndian: body.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self))
                if try !visit(RecordLocation(chunkOrdinal: chunk, offsetInChunk: offset)) { return }
            }
            slot = slot + 1 == slotCount ? 0 : slot + 1
        }
    }

    /// The occupied slots that a lookup cannot reach: those with an empty slot between their
    /// home slot and themselves, where a probe stops (FORMAT.md §6.2). One pass over the slots,
    /// in order, from an empty slot round to it again; a table with no empty slot has none (a
    /// probe then visits every slot).
    public func unreachableEntryCount() -> Int {
        func storedHash(_ slot: Int) -> UInt64 {
            UInt64(littleEndian: body.loadUnaligned(fromByteOffset: 8 + slot * 16, as: UInt64.self))
        }
        guard let empty = (0..<slotCount).first(where: { storedHash($0) == 0 }) else { return 0 }
        var unreachable = 0
        var run = 0  // Occupied slots since the last empty one.
        var slot = empty
        for _ in 0..<slotCount {
            slot = slot + 1 == slotCount ? 0 : slot + 1
            let h = storedHash(slot)
            if h == 0 {
                run = 0
                continue
            }
            let home = Self.homeSlot(h, slotCount: slotCount)
            let distance = slot >= home ? slot - home : slot + slotCount - home
            // The probe from `home` passes only occupied slots when home is within the run.
            if distance > run { unreachable += 1 }
            run += 1
        }
        return unreachable
    }

    /// The slot a probe for `hash` starts at.
    public func firstSlot(hash: UInt64) -> Int { Self.homeSlot(Self.slotHash(hash), slotCount: slotCount) }

    /// The bytes of the slots in `slots` (clamped to the table), for a reader that brings a
    /// table's bytes in on demand: it makes these resident before `probe` reads them.
    public func slotBytes(_ slots: Range<Int>) -> UnsafeRawBufferPointer {
        let low = min(max(0, slots.lowerBound), slotCount)
        let high = min(max(low, slots.upperBound), slotCount)
        return UnsafeRawBufferPointer(rebasing: body[(8 + low * 16)..<(8 + high * 16)])
    }

    /// `forEachCandidate` over at most `limit` slots from `slot` (without wrapping past the
    /// table's end): the next slot to probe when the probe must go on past them, nil when it is
    /// over (an empty slot, or `visit` returned false).
    public func probe(hash: UInt64, fromSlot slot: Int, limit: Int, _ visit: (RecordLocation) throws -> Bool) rethrows -> Int? {
        let h = Self.slotHash(hash)
        var at = max(0, min(slot, slotCount))
        let end = min(slotCount, at + max(1, limit))
        while at < end {
            let o = 8 + at * 16
            let stored = UInt64(littleEndian: body.loadUnaligned(fromByteOffset: o, as: UInt64.self))
            if stored == 0 { return nil }
            if stored == h {
                let chunk = UInt32(littleEndian: body.loadUnaligned(fromByteOffset: o + 8, as: UInt32.self))
                let offset = UInt32(littleEndian: body.loadUnaligned(fromByteOffset: o + 12, as: UInt32.self))
                if try !visit(RecordLocation(chunkOrdinal: chunk, offsetInChunk: offset)) { return nil }
            }
            at += 1
        }
        return at == slotCount ? 0 : at
    }

    /// Every occupied slot (verify uses this to check the table against the data).
    public func forEachEntry(_ visit: (UInt64, RecordLocation) -> Void) {
        for slot in 0..<slotCount {
            let at = 8 + slot * 16
            let stored = UInt64(littleEndian: body.loadUnaligned(fromByteOffset: at, as: UInt64.self))
            if stored == 0 { continue }
            let chunk = UInt32(littleEndian: body.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self))
            let offset = UInt32(littleEndian: body.loadUnaligned(fromByteOffset: at + 12, as: UInt32.self))
            visit(stored, RecordLocation(chunkOrdinal: chunk, offsetInChunk: offset))
        }
    }
}

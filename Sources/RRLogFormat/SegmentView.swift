/// A segment's bytes, understood: its header, and either its index (sealed) or what a scan found
/// (unsealed). Pure: the caller owns the bytes (usually a read-only mapping) and keeps them alive
/// while the view is used.
public struct SegmentView {
    /// The whole segment.
    public let buffer: UnsafeRawBufferPointer
    /// The decoded segment header.
    public let header: SegmentHeader
    /// Bytes the header takes.
    public let headerLength: Int
    /// The footer; nil for an unsealed segment.
    public let footer: SegmentFooter?
    /// The chunks, in file order.
    public let chunks: [ChunkIndexEntry]
    /// The key table of a sealed segment with keyed records.
    public let keyTable: KeyTable?
    /// What a scan of an unsealed segment skipped (empty for sealed segments).
    public let damage: [ScanItem]

    /// Opens a sealed segment from its tail: footer, chunk index (CRC checked) and key table
    /// (header CRC checked, its slots are verified by `verify`). Never scans the data.
    public init(sealed buffer: UnsafeRawBufferPointer) throws(FormatError) {
        let (header, headerLength) = try SegmentHeader.decode(buffer).get()
        let footer = try SegmentFooter.decode(buffer).get()
        // FORMAT.md §7: frames start at header_length, so an index offset inside a longer segment
        // header points at header bytes (`SegmentFooter.decode` knows only the smallest, 48).
        guard footer.chunkIndexOffset >= UInt64(headerLength) else {
            throw .badField(
                offset: buffer.count - FormatConstants.footerSizeBytes + 8, what: "chunk index offset inside the segment header",
                value: footer.chunkIndexOffset)
        }
        let indexOffset = Int(footer.chunkIndexOffset)
        let indexHeader = try FrameHeader.decode(buffer, at: indexOffset).get()
        guard indexHeader.type == FrameType.chunkIndex.rawValue, indexHeader.codec == Codec.none.rawValue else {
            throw .badField(offset: indexOffset, what: "chunk index frame type", value: UInt64(indexHeader.type))
        }
        if let e = indexHeader.checkData(buffer, headerOffset: indexOffset) { throw e }
        let body = ByteReader(buffer).slice(indexOffset + indexHeader.headerLength, Int(indexHeader.storedLength))!
        let chunks = try ChunkIndexCodec.decode(body, bodyOffset: indexOffset + indexHeader.headerLength).get()
        for (i, c) in chunks.enumerated() {
            guard c.offset >= UInt64(headerLength), c.offset <= UInt64(indexOffset), UInt64(c.frameLength) <= UInt64(indexOffset) - c.offset else {
                throw .badField(offset: indexOffset, what: "chunk \(i) offset", value: c.offset)
            }
            // FORMAT.md §2: a version 1 segment has rows only.
            guard c.layout == ChunkLayout.rows.rawValue || header.version >= 2 else {
                throw .badField(offset: Int(c.offset), what: "chunk layout in a version 1 segment", value: UInt64(c.layout))
            }
        }
        var keyTable: KeyTable?
        if footer.keyTableOffset != 0 {
            let at = Int(footer.keyTableOffset)
            let keyHeader = try FrameHeader.decode(buffer, at: at).get()
            guard keyHeader.type == FrameType.keyTable.rawValue, keyHeader.codec == Codec.none.rawValue else {
                throw .badField(offset: at, what: "key table frame type", value: UInt64(keyHeader.type))
            }
            let keyBody = ByteReader(buffer).slice(at + keyHeader.headerLength, Int(keyHeader.storedLength))!
            keyTable = try KeyTable(body: keyBody, bodyOffset: at + keyHeader.headerLength)
        }
        self.buffer = buffer
        self.header = header
        self.headerLength = headerLength
        self.footer = footer
        self.chunks = chunks
        self.keyTable = keyTable
        self.damage = []
    }

    /// Reads a segment by scanning its frames (an unsealed segment, or one whose footer is
    /// damaged). Chunks with bad CRCs are left out and reported in `damage`.
    public init(scanning buffer: UnsafeRawBufferPointer) throws(FormatError) {
        let (header, headerLength) = try SegmentHeader.decode(buffer).get()
        var scanner = SegmentScanner(buffer: buffer, headerLength: headerLength)
        var chunks: [ChunkIndexEntry] = []
        var damage: [ScanItem] = []
        var footer: SegmentFooter?
        while let item = scanner.next() {
            switch item {
            case .frame(let h, let offset):
                guard h.type == FrameType.chunk.rawValue else { break }
                if h.layout != ChunkLayout.rows.rawValue && header.version < 2 {
                    // FORMAT.md §2: a version 1 segment has rows only.
                    damage.append(.damaged(
                        range: offset..<(offset + h.frameLength),
                        error: .badField(offset: offset, what: "chunk layout in a version 1 segment", value: UInt64(h.layout))))
                } else {
                    chunks.append(ChunkIndexEntry(header: h, offset: offset))
                }
            case .footer(let f, _):
                footer = f
            case .damaged, .tornTail:
                damage.append(item)
            }
        }
        self.buffer = buffer
        self.header = header
        self.headerLength = headerLength
        self.footer = footer
        self.chunks = chunks
        self.keyTable = nil
        self.damage = damage
    }

    /// Opens sealed segments from the tail and falls back to a scan otherwise.
    public init(_ buffer: UnsafeRawBufferPointer) throws(FormatError) {
        if SegmentFooter.present(in: buffer), let sealed = try? SegmentView(sealed: buffer) {
            self = sealed
        } else {
            try self.init(scanning: buffer)
        }
    }

    /// True when the segment has a valid footer and index.
    public var isSealed: Bool { footer != nil && damage.isEmpty }

    /// Records in the segment according to its chunks.
    public var recordCount: Int { chunks.reduce(0) { $0 + Int($1.recordCount) } }

    /// Gives `body` the decoded data of chunk `ordinal`.
    public func withChunkData<R>(
        _ ordinal: Int, decompressor: Decompressor, checkCRC: Bool = true, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> Result<R, FormatError> {
        switch frameHeader(ofChunk: ordinal) {
        case .failure(let e): return .failure(e)
        case .success(let (h, offset)):
            return try ChunkReader.withData(buffer, header: h, offset: offset, decompressor: decompressor, checkCRC: checkCRC, body)
        }
    }

    /// The frame header of chunk `ordinal` and its offset, checked against the chunk index entry.
    func frameHeader(ofChunk ordinal: Int) -> Result<(FrameHeader, Int), FormatError> {
        guard ordinal >= 0, ordinal < chunks.count else {
            return .failure(.badField(offset: 0, what: "chunk ordinal", value: UInt64(max(0, ordinal))))
        }
        let offset = Int(chunks[ordinal].offset)
        switch FrameHeader.decode(buffer, at: offset) {
        case .failure(let e): return .failure(e)
        case .success(let h):
            let entry = chunks[ordinal]
            guard h.type == FrameType.chunk.rawValue, h.firstSequence == entry.firstSequence, h.recordCount == entry.recordCount,
                h.rawLength == entry.rawLength, h.frameLength == Int(entry.frameLength), h.layout == entry.layout,
                h.codec == entry.codec, h.minTimestampNs == entry.minTimestampNs, h.maxTimestampNs == entry.maxTimestampNs
            else {
                return .failure(.badField(offset: offset, what: "chunk frame that disagrees with its index entry, type", value: UInt64(h.type)))
            }
            return .success((h, offset))
        }
    }

    /// Calls `body` with at least the first `prefixLength` bytes of chunk `ordinal`'s records,
    /// decompressing no more than that needs. The frame's data CRC is checked for column chunks,
    /// whose records have no CRC of their own, and skipped for rows (see
    /// `ChunkReader.withDataPrefix`).
    public func withChunkPrefix<R>(
        _ ordinal: Int, prefixLength: Int, decompressor: Decompressor, checkCRC: Bool? = nil,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> Result<R, FormatError> {
        switch frameHeader(ofChunk: ordinal) {
        case .failure(let e): return .failure(e)
        case .success(let (h, offset)):
            return try ChunkReader.withDataPrefix(
                buffer, header: h, offset: offset, prefixLength: prefixLength, decompressor: decompressor,
                checkCRC: checkCRC ?? (h.layout != ChunkLayout.rows.rawValue), body)
        }
    }

    /// The ordinal of the chunk that holds `sequence`, by binary search over the chunk index.
    public func chunkOrdinal(containing sequence: UInt64) -> Int? {
        var low = 0
        var high = chunks.count - 1
        while low <= high {
            let mid = (low + high) / 2
            let c = chunks[mid]
            if sequence < c.firstSequence {
                high = mid - 1
            } else if sequence > c.lastSequence {
                low = mid + 1
            } else {
                return mid
            }
        }
        return nil
    }

    /// Ordinals of the chunks whose time bounds overlap `[fromNs, toNs]`.
    public func chunkOrdinals(overlappingFrom fromNs: Int64, to toNs: Int64) -> [Int] {
        chunks.indices.filter { chunks[$0].maxTimestampNs >= fromNs && chunks[$0].minTimestampNs <= toNs }
    }
}

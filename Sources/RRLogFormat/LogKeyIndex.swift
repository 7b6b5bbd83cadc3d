/// One segment covered by a log key index (FORMAT.md §6.3).
public struct LogKeyIndexSegment: Sendable, Equatable {
    /// The segment's id.
    public var segmentID: UInt64
    /// The global chunk ordinal of the segment's first chunk.
    public var firstGlobalChunk: UInt32
    /// Chunks in the segment.
    public var chunkCount: UInt32

    /// Makes an entry.
    public init(segmentID: UInt64, firstGlobalChunk: UInt32, chunkCount: UInt32) {
        self.segmentID = segmentID
        self.firstGlobalChunk = firstGlobalChunk
        self.chunkCount = chunkCount
    }
}

/// The log key index file (FORMAT.md §6.3): one key table over the sealed segments of a log, so a
/// lookup costs one probe however many segments the log has. Its chunk ordinals are global:
/// segment i's chunks are numbered from `firstGlobalChunk`.
public struct LogKeyIndex {
    /// "\x89RRKIX\r\n": the file's first eight bytes.
    public static let magic: [UInt8] = [0x89, 0x52, 0x52, 0x4B, 0x49, 0x58, 0x0D, 0x0A]
    /// The file's name inside a log directory.
    public static let fileName = "keys.rrki"
    /// Size of the file header.
    public static let headerSizeBytes = 16
    /// Size of one segment-list entry.
    public static let segmentEntrySizeBytes = 16

    /// The segments the index covers, in id order.
    public let segments: [LogKeyIndexSegment]
    /// The key table; locations carry global chunk ordinals.
    public let keyTable: KeyTable

    /// Encodes an index file. `locations` use global chunk ordinals (high 32 bits) and offsets
    /// (low 32), in record order.
    public static func encode(segments: [LogKeyIndexSegment], hashes: [UInt64], locations: [UInt64]) -> [UInt8] {
        var out = magic
        out.appendLE(FormatConstants.formatVersion)
        out.appendLE(UInt16(0))
        out.appendLE(UInt32(0))
        var body: [UInt8] = []
        body.appendLE(UInt32(segments.count))
        body.appendLE(UInt32(0))
        for s in segments {
            body.appendLE(s.segmentID)
            body.appendLE(s.firstGlobalChunk)
            body.appendLE(s.chunkCount)
        }
        out += SegmentIndexBuilder.frame(type: .segmentList, body: body, count: UInt32(segments.count), firstSequence: 0, minTs: 0, maxTs: 0)
        out += KeyTable.encodeFrame(hashes: hashes, locations: locations, firstSequence: 0)
        return out
    }

    /// Decodes an index file: header, segment list (CRC checked) and key table (header CRC
    /// checked; `checkKeyTableCRC` also checks its data, as verify does).
    public init(_ buffer: UnsafeRawBufferPointer, checkKeyTableCRC: Bool = false) throws(FormatError) {
        let r = ByteReader(buffer)
        guard r.has(0, Self.headerSizeBytes) else { throw .truncated(offset: 0, needed: Self.headerSizeBytes, available: buffer.count) }
        guard buffer.prefix(8).elementsEqual(Self.magic) else { throw .badMagic(offset: 0, what: "log key index") }
        let version = r.u16(8)!
        guard version == FormatConstants.formatVersion else { throw .unsupportedVersion(offset: 8, version: version) }
        let listAt = Self.headerSizeBytes
        let list = try FrameHeader.decode(buffer, at: listAt).get()
        guard list.type == FrameType.segmentList.rawValue, list.codec == Codec.none.rawValue else {
            throw .badField(offset: listAt, what: "segment list frame type", value: UInt64(list.type))
        }
        if let e = list.checkData(buffer, headerOffset: listAt) { throw e }
        let body = r.slice(listAt + list.headerLength, Int(list.storedLength))!
        let br = ByteReader(body)
        guard let count32 = br.u32(0) else { throw .truncated(offset: listAt, needed: 8, available: body.count) }
        let count = Int(count32)
        guard br.has(8, count * Self.segmentEntrySizeBytes) else {
            throw .truncated(offset: listAt, needed: 8 + count * Self.segmentEntrySizeBytes, available: body.count)
        }
        var segments: [LogKeyIndexSegment] = []
        segments.reserveCapacity(count)
        var nextChunk: UInt64 = 0
        for i in 0..<count {
            let o = 8 + i * Self.segmentEntrySizeBytes
            let s = LogKeyIndexSegment(segmentID: br.u64(o)!, firstGlobalChunk: br.u32(o + 8)!, chunkCount: br.u32(o + 12)!)
            guard UInt64(s.firstGlobalChunk) == nextChunk, segments.last.map({ $0.segmentID < s.segmentID }) ?? true else {
                throw .badField(offset: listAt + list.headerLength + o, what: "segment list entry \(i)", value: s.segmentID)
            }
            nextChunk += UInt64(s.chunkCount)
            segments.append(s)
        }
        let tableAt = listAt + list.frameLength
        let table = try FrameHeader.decode(buffer, at: tableAt).get()
        guard table.type == FrameType.keyTable.rawValue, table.codec == Codec.none.rawValue else {
            throw .badField(offset: tableAt, what: "key table frame type", value: UInt64(table.type))
        }
        if checkKeyTableCRC, let e = table.checkData(buffer, headerOffset: tableAt) { throw e }
        self.segments = segments
        self.keyTable = try KeyTable(body: r.slice(tableAt + table.headerLength, Int(table.storedLength))!, bodyOffset: tableAt + table.headerLength)
    }

    /// The covered segment (its position in `segments`) and local chunk ordinal of a global one.
    public func locate(globalChunk: UInt32) -> (segment: Int, chunk: UInt32)? {
        var low = 0
        var high = segments.count - 1
        while low <= high {
            let mid = (low + high) / 2
            let s = segments[mid]
            if globalChunk < s.firstGlobalChunk {
                high = mid - 1
            } else if UInt64(globalChunk) >= UInt64(s.firstGlobalChunk) + UInt64(s.chunkCount) {
                low = mid + 1
            } else {
                return (mid, globalChunk - s.firstGlobalChunk)
            }
        }
        return nil
    }
}

/// The compression of a frame's data (FORMAT.md §5).
public enum Codec: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Stored as is.
    case none = 0
    /// LZ4 block format, one block for the whole frame.
    case lz4 = 1
    /// Zstandard, one frame for the whole frame data.
    case zstd = 2

    public var description: String {
        switch self {
        case .none: return "none"
        case .lz4: return "lz4"
        case .zstd: return "zstd"
        }
    }

    /// Parses "none", "lz4" or "zstd".
    public init?(name: String) {
        switch name.lowercased() {
        case "none", "uncompressed": self = .none
        case "lz4": self = .lz4
        case "zstd", "zstandard": self = .zstd
        default: return nil
        }
    }
}

/// The fixed header in front of every frame (FORMAT.md §3).
public struct FrameHeader: Sendable, Equatable {
    /// What the frame holds.
    public var type: UInt8
    /// How its data is compressed.
    public var codec: UInt8
    /// Bytes of data stored after the header.
    public var storedLength: UInt32
    /// Bytes of data after decompression.
    public var rawLength: UInt32
    /// Records in a chunk, entries in an index frame.
    public var recordCount: UInt32
    /// Masked CRC32C of the stored (compressed) data.
    public var dataCRC: UInt32
    /// Sequence number of the first record (chunks), or of the segment (index frames).
    public var firstSequence: UInt64
    /// Smallest record timestamp.
    public var minTimestampNs: Int64
    /// Largest record timestamp.
    public var maxTimestampNs: Int64
    /// Chunks: the layout of the records (`ChunkLayout`); 0 in other frames and version 1 segments.
    public var layout: UInt8 = 0
    /// Header length as stored; larger than 56 when a newer writer appended fields.
    public var headerLength: Int = FormatConstants.frameHeaderSizeBytes

    /// Makes a header.
    public init(
        type: UInt8, codec: UInt8, storedLength: UInt32, rawLength: UInt32, recordCount: UInt32,
        dataCRC: UInt32, firstSequence: UInt64, minTimestampNs: Int64, maxTimestampNs: Int64
    ) {
        self.type = type
        self.codec = codec
        self.storedLength = storedLength
        self.rawLength = rawLength
        self.recordCount = recordCount
        self.dataCRC = dataCRC
        self.firstSequence = firstSequence
        self.minTimestampNs = minTimestampNs
        self.maxTimestampNs = maxTimestampNs
    }

    /// Total bytes of the frame: header and stored data.
    public var frameLength: Int { headerLength + Int(storedLength) }

    /// The 56 header bytes, CRC included.
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(FormatConstants.frameHeaderSizeBytes)
        out.appendLE(FormatConstants.frameMagic)
        out.appendLE(UInt32(0))
        out.appendLE(UInt16(FormatConstants.frameHeaderSizeBytes))
        out.append(type)
        out.append(codec)
        out.appendLE(storedLength)
        out.appendLE(rawLength)
        out.appendLE(recordCount)
        out.appendLE(dataCRC)
        out.append(layout)
        out.append(contentsOf: [0, 0, 0])
        out.appendLE(firstSequence)
        out.appendLE(minTimestampNs)
        out.appendLE(maxTimestampNs)
        let crc = out.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[8...])) }
        out.storeLE(CRC32C.mask(crc), at: 4)
        return out
    }

    /// Decodes the header at `offset`, checking magic, header CRC and that the stored data lies
    /// within `buffer` (when `requireData`).
    public static func decode(
        _ buffer: UnsafeRawBufferPointer, at offset: Int, requireData: Bool = true
    ) -> Result<FrameHeader, FormatError> {
        let r = ByteReader(buffer)
        let fixed = FormatConstants.frameHeaderSizeBytes
        guard r.has(offset, fixed) else {
            return .failure(.truncated(offset: offset, needed: fixed, available: max(0, buffer.count - offset)))
        }
        guard r.u32Unchecked(offset) == FormatConstants.frameMagic else {
            return .failure(.badMagic(offset: offset, what: "frame"))
        }
        let headerLength = Int(r.u16(offset + 8)!)
        guard headerLength >= fixed, headerLength <= 4096 else {
            return .failure(.badLength(offset: offset, what: "frame header length", value: UInt64(headerLength), limit: 4096))
        }
        guard r.has(offset, headerLength) else {
            return .failure(.truncated(offset: offset, needed: headerLength, available: buffer.count - offset))
        }
        let stored = CRC32C.unmask(r.u32(offset + 4)!)
        let actual = CRC32C.checksum(r.slice(offset + 8, headerLength - 8)!)
        guard stored == actual else {
            return .failure(.crcMismatch(offset: offset, what: "frame header", expected: stored, actual: actual))
        }
        var h = FrameHeader(
            type: r.u8(offset + 10)!, codec: r.u8(offset + 11)!, storedLength: r.u32(offset + 12)!,
            rawLength: r.u32(offset + 16)!, recordCount: r.u32(offset + 20)!, dataCRC: r.u32(offset + 24)!,
            firstSequence: r.u64(offset + 32)!, minTimestampNs: r.i64(offset + 40)!,
            maxTimestampNs: r.i64(offset + 48)!)
        h.headerLength = headerLength
        h.layout = r.u8(offset + 28)!
        let cap = UInt64(FormatConstants.frameDataSizeBytesMax)
        if UInt64(h.rawLength) > cap {
            return .failure(.badLength(offset: offset, what: "frame raw length", value: UInt64(h.rawLength), limit: cap))
        }
        if UInt64(h.storedLength) > cap {
            return .failure(.badLength(offset: offset, what: "frame stored length", value: UInt64(h.storedLength), limit: cap))
        }
        if h.codec == Codec.none.rawValue && h.storedLength != h.rawLength {
            return .failure(.badField(offset: offset, what: "uncompressed frame with raw length", value: UInt64(h.rawLength)))
        }
        if requireData && !r.has(offset + headerLength, Int(h.storedLength)) {
            return .failure(
                .truncated(offset: offset, needed: headerLength + Int(h.storedLength), available: buffer.count - offset))
        }
        return .success(h)
    }

    /// Checks the data CRC of the frame whose header starts at `offset`.
    public func checkData(_ buffer: UnsafeRawBufferPointer, headerOffset offset: Int) -> FormatError? {
        let r = ByteReader(buffer)
        guard let data = r.slice(offset + headerLength, Int(storedLength)) else {
            return .truncated(offset: offset, needed: frameLength, available: max(0, buffer.count - offset))
        }
        let actual = CRC32C.checksum(data)
        let expected = CRC32C.unmask(dataCRC)
        return expected == actual ? nil : .crcMismatch(offset: offset, what: "frame data", expected: expected, actual: actual)
    }
}

/// The header at the start of every segment file (FORMAT.md §2).
public struct SegmentHeader: Sendable, Equatable {
    /// The segment's number within its log.
    public var segmentID: UInt64
    /// The first sequence number this segment may hold.
    public var baseSequence: UInt64
    /// When the segment was created, nanoseconds since the epoch.
    public var createdNs: Int64
    /// Reserved flags, 0 in versions 1 and 2.
    public var flags: UInt32 = 0
    /// The format version: what `decode` read, what `encode` writes (FORMAT.md §2).
    public var version: UInt16 = FormatConstants.formatVersion

    /// Makes a header.
    public init(segmentID: UInt64, baseSequence: UInt64, createdNs: Int64) {
        self.segmentID = segmentID
        self.baseSequence = baseSequence
        self.createdNs = createdNs
    }

    /// The 48 header bytes.
    public func encode() -> [UInt8] {
        var out = FormatConstants.segmentMagic
        out.appendLE(UInt32(0))
        out.appendLE(UInt16(FormatConstants.segmentHeaderSizeBytes))
        out.appendLE(version)
        out.appendLE(segmentID)
        out.appendLE(baseSequence)
        out.appendLE(createdNs)
        out.appendLE(flags)
        out.appendLE(UInt32(0))
        let crc = out.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[12...])) }
        out.storeLE(CRC32C.mask(crc), at: 8)
        return out
    }

    /// Decodes and checks the header at the start of `buffer`; returns it and its stored length.
    public static func decode(_ buffer: UnsafeRawBufferPointer) -> Result<(SegmentHeader, Int), FormatError> {
        let r = ByteReader(buffer)
        let fixed = FormatConstants.segmentHeaderSizeBytes
        guard r.has(0, 16) else { return .failure(.truncated(offset: 0, needed: fixed, available: buffer.count)) }
        guard buffer.prefix(8).elementsEqual(FormatConstants.segmentMagic) else {
            return .failure(.badMagic(offset: 0, what: "segment"))
        }
        let length = Int(r.u16(12)!)
        let version = r.u16(14)!
        guard length >= fixed, length <= 4096 else {
            return .failure(.badLength(offset: 12, what: "segment header length", value: UInt64(length), limit: 4096))
        }
        guard r.has(0, length) else { return .failure(.truncated(offset: 0, needed: length, available: buffer.count)) }
        let stored = CRC32C.unmask(r.u32(8)!)
        let actual = CRC32C.checksum(r.slice(12, length - 12)!)
        guard stored == actual else {
            return .failure(.crcMismatch(offset: 0, what: "segment header", expected: stored, actual: actual))
        }
        guard FormatConstants.readableVersions.contains(version) else {
            return .failure(.unsupportedVersion(offset: 14, version: version))
        }
        var h = SegmentHeader(segmentID: r.u64(16)!, baseSequence: r.u64(24)!, createdNs: r.i64(32)!)
        h.flags = r.u32(40)!
        h.version = version
        return .success((h, length))
    }
}

/// The fixed-size footer of a sealed segment (FORMAT.md §7).
public struct SegmentFooter: Sendable, Equatable {
    /// File offset of the chunk-index frame.
    public var chunkIndexOffset: UInt64
    /// File offset of the key-table frame, 0 when the segment has no keyed records.
    public var keyTableOffset: UInt64
    /// Records in the segment.
    public var recordCount: UInt64
    /// Sequence of the first record (the base sequence when empty).
    public var firstSequence: UInt64
    /// Sequence of the last record (first - 1 when empty, wrapping at 0).
    public var lastSequence: UInt64

    /// Makes a footer.
    public init(chunkIndexOffset: UInt64, keyTableOffset: UInt64, recordCount: UInt64, firstSequence: UInt64, lastSequence: UInt64) {
        self.chunkIndexOffset = chunkIndexOffset
        self.keyTableOffset = keyTableOffset
        self.recordCount = recordCount
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
    }

    /// The 64 footer bytes.
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.appendLE(FormatConstants.footerMagic)
        out.appendLE(UInt32(0))
        out.appendLE(chunkIndexOffset)
        out.appendLE(keyTableOffset)
        out.appendLE(recordCount)
        out.appendLE(firstSequence)
        out.appendLE(lastSequence)
        out.appendLE(UInt64(0))
        out.append(contentsOf: FormatConstants.segmentMagic)
        let crc = out.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[8...])) }
        out.storeLE(CRC32C.mask(crc), at: 4)
        return out
    }

    /// True when the last bytes of `buffer` look like a footer (magics only; `decode` checks all).
    public static func present(in buffer: UnsafeRawBufferPointer) -> Bool {
        let n = FormatConstants.footerSizeBytes
        guard buffer.count >= n else { return false }
        let r = ByteReader(buffer)
        return r.u32Unchecked(buffer.count - n) == FormatConstants.footerMagic
            && buffer.suffix(8).elementsEqual(FormatConstants.segmentMagic)
    }

    /// True when the last bytes of `bytes` look like a footer.
    public static func present(in bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { present(in: $0) }
    }

    /// Decodes the footer at the end of `buffer`, checking magics, CRC and that its offsets point
    /// inside the buffer.
    public static func decode(_ buffer: UnsafeRawBufferPointer) -> Result<SegmentFooter, FormatError> {
        let n = FormatConstants.footerSizeBytes
        let start = buffer.count - n
        guard start >= FormatConstants.segmentHeaderSizeBytes else {
            return .failure(.truncated(offset: 0, needed: FormatConstants.segmentHeaderSizeBytes + n, available: buffer.count))
        }
        let r = ByteReader(buffer)
        guard present(in: buffer) else { return .failure(.badMagic(offset: start, what: "footer")) }
        let stored = CRC32C.unmask(r.u32(start + 4)!)
        let actual = CRC32C.checksum(r.slice(start + 8, n - 8)!)
        guard stored == actual else {
            return .failure(.crcMismatch(offset: start, what: "footer", expected: stored, actual: actual))
        }
        let f = SegmentFooter(
            chunkIndexOffset: r.u64(start + 8)!, keyTableOffset: r.u64(start + 16)!,
            recordCount: r.u64(start + 24)!, firstSequence: r.u64(start + 32)!, lastSequence: r.u64(start + 40)!)
        guard f.chunkIndexOffset >= UInt64(FormatConstants.segmentHeaderSizeBytes), f.chunkIndexOffset < UInt64(start) else {
            return .failure(.badField(offset: start + 8, what: "chunk index offset", value: f.chunkIndexOffset))
        }
        guard f.keyTableOffset == 0 || (f.keyTableOffset > f.chunkIndexOffset && f.keyTableOffset < UInt64(start)) else {
            return .failure(.badField(offset: start + 16, what: "key table offset", value: f.keyTableOffset))
        }
        return .success(f)
    }
}

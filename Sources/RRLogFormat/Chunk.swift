/// Collects records into one chunk's data and turns it into a frame (FORMAT.md §3-§5), in rows
/// (§4) or columns (§4.1). Owned by one writer; not thread-safe.
public final class ChunkBuilder {
    private let buffer: RawBuffer
    private let targetSizeBytes: Int
    /// How the chunks this builder makes lay out their records.
    public let layout: ChunkLayout
    /// Columns: each column grows on its own and they are joined when the chunk is encoded.
    private let columns: Columns?

    final class Columns {
        let kinds: RawBuffer, timestamps: RawBuffer, flags: RawBuffer, keyLengths: RawBuffer, payloadLengths: RawBuffer
        let keys: RawBuffer, payloads: RawBuffer

        /// Columns start small (a chunk of up to 64 KiB of typical records fits) and grow by
        /// doubling, so a large chunk target costs memory only when chunks fill it.
        init(targetSizeBytes: Int) {
            let start = min(targetSizeBytes, 64 << 10)
            let records = max(64, start / 64)
            kinds = RawBuffer(capacity: 2 * records)
            timestamps = RawBuffer(capacity: 8 * records)
            flags = RawBuffer(capacity: records)
            keyLengths = RawBuffer(capacity: 2 * records)
            payloadLengths = RawBuffer(capacity: 4 * records)
            keys = RawBuffer(capacity: start / 4)
            payloads = RawBuffer(capacity: start + 4096)
        }

        var all: [RawBuffer] { [kinds, timestamps, flags, keyLengths, payloadLengths, keys, payloads] }
    }
    /// Records in the open chunk.
    @exclusivity(unchecked) public private(set) var recordCount = 0
    /// Sequence of the first record in the open chunk.
    @exclusivity(unchecked) public private(set) var firstSequence: UInt64 = 0
    /// Smallest timestamp in the open chunk.
    @exclusivity(unchecked) public private(set) var minTimestampNs = Int64.max
    /// Largest timestamp in the open chunk.
    @exclusivity(unchecked) public private(set) var maxTimestampNs = Int64.min

    /// Makes a builder whose chunks close at about `targetSizeBytes` of record data.
    public init(targetSizeBytes: Int, layout: ChunkLayout = .rows) {
        self.targetSizeBytes = max(targetSizeBytes, 256)
        self.layout = layout
        self.columns = layout == .columns ? Columns(targetSizeBytes: self.targetSizeBytes) : nil
        self.buffer = RawBuffer(capacity: self.targetSizeBytes + 4096)
    }

    /// True when no record is in the open chunk.
    public var isEmpty: Bool { recordCount == 0 }
    /// Bytes of record data in the open chunk (its `raw_length` once encoded).
    public var rawSizeBytes: Int {
        guard let columns else { return buffer.count }
        return FormatConstants.columnPrefixSizeBytes + recordCount * FormatConstants.columnBytesPerRecord
            + columns.keys.count + columns.payloads.count
    }

    /// True when a record of `encodedSizeBytes` (its size in rows, `Record.encodedSizeBytes`)
    /// should go into a new chunk rather than this one.
    @inlinable
    public func shouldCloseBefore(encodedSizeBytes: Int) -> Bool {
        recordCount > 0 && rawSizeBytes + encodedSizeBytes - layoutSavingBytes > targetSizeBytesValue
    }

    @usableFromInline var targetSizeBytesValue: Int { targetSizeBytes }
    /// Bytes a record takes less in this layout than in rows.
    @usableFromInline var layoutSavingBytes: Int {
        layout == .columns ? FormatConstants.recordHeaderSizeBytes - FormatConstants.columnBytesPerRecord : 0
    }

    /// True when the chunk has reached its target size (or the record cap of FORMAT.md §8,
    /// which 17-byte column records could reach before a large target).
    public var isFull: Bool { rawSizeBytes >= targetSizeBytes || recordCount >= FormatConstants.chunkRecordCountMax }

    /// Appends one record (sizes already validated) and returns where a key table finds it: its
    /// offset within the chunk data (rows) or its position in the chunk (columns).
    @inlinable
    public func append(
        sequence: UInt64, timestampNs: Int64, kind: UInt16,
        key: UnsafeRawBufferPointer?, payload: UnsafeRawBufferPointer
    ) -> Int {
        if layout == .columns { return appendColumns(sequence: sequence, timestampNs: timestampNs, kind: kind, key: key, payload: payload) }
        let size = FormatConstants.recordHeaderSizeBytes + (key?.count ?? 0) + payload.count
        let offset = rawBuffer.count
        let pointer = rawBuffer.reserve(size)
        _ = RecordCodec.encode(
            sequence: sequence, timestampNs: timestampNs, kind: kind, key: key, payload: payload, into: pointer)
        rawBuffer.count += size
        noteRecord(sequence: sequence, timestampNs: timestampNs)
        return offset
    }

    @usableFromInline var rawBuffer: RawBuffer { buffer }

    @usableFromInline func appendColumns(
        sequence: UInt64, timestampNs: Int64, kind: UInt16, key: UnsafeRawBufferPointer?, payload: UnsafeRawBufferPointer
    ) -> Int {
        let c = columns!
        let position = recordCount
        storeLE(kind, c.kinds.reserve(2), 0)
        c.kinds.count += 2
        storeLE(timestampNs, c.timestamps.reserve(8), 0)
        c.timestamps.count += 8
        c.flags.reserve(1).storeBytes(of: key == nil ? 0 : 1, as: UInt8.self)
        c.flags.count += 1
        storeLE(UInt16(key?.count ?? 0), c.keyLengths.reserve(2), 0)
        c.keyLengths.count += 2
        storeLE(UInt32(payload.count), c.payloadLengths.reserve(4), 0)
        c.payloadLengths.count += 4
        if let key, !key.isEmpty {
            copyBytes(key, to: c.keys.reserve(key.count), 0)
            c.keys.count += key.count
        }
        if !payload.isEmpty {
            copyBytes(payload, to: c.payloads.reserve(payload.count), 0)
            c.payloads.count += payload.count
        }
        noteRecord(sequence: sequence, timestampNs: timestampNs)
        return position
    }

    /// Joins the columns into `buffer` as FORMAT.md §4.1 lays them out: timestamps become zigzag
    /// deltas, and the content CRC is computed last.
    private func assembleColumns(_ c: Columns) {
        buffer.count = 0
        let n = recordCount
        let total = rawSizeBytes
        let out = buffer.reserve(total)
        storeLE(UInt32(n), out, 0)
        var at = FormatConstants.columnPrefixSizeBytes
        copyBytes(c.kinds.bytes, to: out, at)
        at += c.kinds.count
        var previous = minTimestampNs
        for i in 0..<n {
            let t = Int64(littleEndian: c.timestamps.bytes.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
            storeLE(ColumnChunk.zigzag(t, after: previous), out, at + 8 * i)
            previous = t
        }
        at += 8 * n
        for part in [c.flags, c.keyLengths, c.payloadLengths, c.keys, c.payloads] {
            copyBytes(part.bytes, to: out, at)
            at += part.count
        }
        buffer.count = total
        let prefix = FormatConstants.columnPrefixSizeBytes
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: out + prefix, count: total - prefix))
        storeLE(CRC32C.mask(crc), out, 4)
    }

    @usableFromInline func noteRecord(sequence: UInt64, timestampNs: Int64) {
        if recordCount == 0 { firstSequence = sequence }
        recordCount += 1
        if timestampNs < minTimestampNs { minTimestampNs = timestampNs }
        if timestampNs > maxTimestampNs { maxTimestampNs = timestampNs }
    }

    /// Compresses the open chunk and calls `body` with its frame header and stored data; the
    /// builder is empty afterwards. `body` writes them out.
    public func close<R>(
        compressor: Compressor, _ body: (FrameHeader, [UInt8], UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        defer { reset() }
        return try encodeFrame(compressor: compressor, body)
    }

    /// Like `close`, but leaves the records in the builder: the writer calls `reset()` only once
    /// the frame is safely written, so a failed write (a full disk) loses nothing.
    public func encodeFrame<R>(
        compressor: Compressor, _ body: (FrameHeader, [UInt8], UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        if let columns { assembleColumns(columns) }
        return try compressor.compress(buffer.bytes) { codec, stored in
            var header = FrameHeader(
                type: FrameType.chunk.rawValue, codec: codec.rawValue, storedLength: UInt32(stored.count),
                rawLength: UInt32(buffer.count), recordCount: UInt32(recordCount),
                dataCRC: CRC32C.mask(CRC32C.checksum(stored)), firstSequence: firstSequence,
                minTimestampNs: minTimestampNs, maxTimestampNs: maxTimestampNs)
            header.layout = layout.rawValue
            return try body(header, header.encode(), stored)
        }
    }

    /// Empties the builder.
    public func reset() {
        if let columns {
            for part in columns.all { part.reset(keepingCapacity: targetSizeBytes + 4096) }
        }
        buffer.reset(keepingCapacity: targetSizeBytes + 4096)
        recordCount = 0
        minTimestampNs = .max
        maxTimestampNs = .min
    }
}

/// Reads the records of one chunk frame.
public enum ChunkReader {
    /// Gives `body` the decoded data of the chunk whose header `header` was read at `offset` of
    /// `buffer`: the mapped bytes themselves when uncompressed, a decompressed copy otherwise.
    /// Checks the data CRC first when `checkCRC`.
    public static func withData<R>(
        _ buffer: UnsafeRawBufferPointer, header: FrameHeader, offset: Int, decompressor: Decompressor,
        checkCRC: Bool = true, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> Result<R, FormatError> {
        if checkCRC, let error = header.checkData(buffer, headerOffset: offset) { return .failure(error) }
        guard let stored = ByteReader(buffer).slice(offset + header.headerLength, Int(header.storedLength)) else {
            return .failure(.truncated(offset: offset, needed: header.frameLength, available: max(0, buffer.count - offset)))
        }
        if header.codec == Codec.none.rawValue { return .success(try body(stored)) }
        switch decompressor.decompress(stored, codec: header.codec, rawLength: Int(header.rawLength), frameOffset: offset) {
        case .failure(let e): return .failure(e)
        case .success(let raw): return .success(try raw.withUnsafeBytes { try body($0) })
        }
    }

    /// Calls `body` with at least the first `prefixLength` bytes of a chunk's records (fewer only
    /// when the data is damaged). The frame's data CRC is checked only when `checkCRC`: a row
    /// record has its own CRC, a column chunk's lookup relies on the data CRC (FORMAT.md §4.1).
    public static func withDataPrefix<R>(
        _ buffer: UnsafeRawBufferPointer, header: FrameHeader, offset: Int, prefixLength: Int, decompressor: Decompressor,
        checkCRC: Bool = false, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> Result<R, FormatError> {
        if checkCRC, let error = header.checkData(buffer, headerOffset: offset) { return .failure(error) }
        guard let stored = ByteReader(buffer).slice(offset + header.headerLength, Int(header.storedLength)) else {
            return .failure(.truncated(offset: offset, needed: header.frameLength, available: max(0, buffer.count - offset)))
        }
        if header.codec == Codec.none.rawValue { return .success(try body(stored)) }
        let result = decompressor.decompressPrefix(
            stored, codec: header.codec, rawLength: Int(header.rawLength), prefixLength: prefixLength, frameOffset: offset)
        switch result {
        case .failure(let e): return .failure(e)
        case .success(let raw): return .success(try raw.withUnsafeBytes { try body($0) })
        }
    }

    /// Walks the records of decoded chunk data in order, in the layout `shape` gives. `body`
    /// returns false to stop early. `checkCRC` checks the CRCs inside the decoded data (each row
    /// record's, a column chunk's content CRC). Returns the first problem met (the records before
    /// it were delivered).
    @discardableResult
    public static func forEachRecord(
        _ data: UnsafeRawBufferPointer, shape: ChunkShape, checkCRC: Bool = true, _ body: (RecordView) throws -> Bool
    ) rethrows -> FormatError? {
        switch shape.layout {
        case ChunkLayout.rows.rawValue:
            return try forEachRowRecord(data, checkCRC: checkCRC, body)
        case ChunkLayout.columns.rawValue:
            switch ColumnChunk.open(data, shape: shape, checkCRC: checkCRC) {
            case .failure(let e): return e
            case .success(let chunk): return try chunk.forEach(body)
            }
        default:
            return .badField(offset: 0, what: "chunk layout", value: UInt64(shape.layout))
        }
    }

    /// The record a key table's location points at in decoded chunk data (`offsetInChunk` is an
    /// offset in rows, a position in columns), with the row record's CRC checked; nil when it is
    /// not there or damaged, or when the data is a prefix too short to hold it.
    public static func record(at offsetInChunk: Int, in data: UnsafeRawBufferPointer, shape: ChunkShape) -> RecordView? {
        switch shape.layout {
        case ChunkLayout.rows.rawValue:
            guard case .success(.record(let view, _)) = RecordCodec.decode(data, at: offsetInChunk) else { return nil }
            return view
        case ChunkLayout.columns.rawValue:
            guard case .success(let chunk) = ColumnChunk.open(data, shape: shape, checkCRC: false) else { return nil }
            return chunk.record(offsetInChunk)
        default:
            return nil
        }
    }

    /// True when `data` (a prefix of a chunk's decoded data) holds the whole record a key table's
    /// location points at.
    public static func holdsRecord(at offsetInChunk: Int, in data: UnsafeRawBufferPointer, shape: ChunkShape) -> Bool {
        switch shape.layout {
        case ChunkLayout.rows.rawValue:
            let r = ByteReader(data)
            guard let length = r.u32(offsetInChunk + 4) else { return false }
            return Int(length) <= data.count - offsetInChunk - 8
        case ChunkLayout.columns.rawValue:
            guard case .success(let chunk) = ColumnChunk.open(data, shape: shape, checkCRC: false),
                let end = chunk.endOfRecord(offsetInChunk)
            else { return false }
            return end <= data.count
        default:
            return false
        }
    }

    /// How many decoded bytes a lookup of the record at `offsetInChunk` asks for when `columns`
    /// (the decoded start of the chunk, if the caller has it) cannot say: rows, the record plus
    /// `marginBytes` (a record longer than that costs a second decompression); columns, whatever
    /// `columns` says ends the record, else the whole chunk.
    public static func lookupPrefixLength(
        at offsetInChunk: Int, shape: ChunkShape, marginBytes: Int, columns: UnsafeRawBufferPointer? = nil
    ) -> Int {
        let raw = Int(shape.rawLength)
        guard shape.layout == ChunkLayout.columns.rawValue else { return min(raw, offsetInChunk + marginBytes) }
        if let columns, case .success(let chunk) = ColumnChunk.open(columns, shape: shape, checkCRC: false),
            let end = chunk.endOfRecord(offsetInChunk)
        {
            return min(raw, end)
        }
        return raw
    }

    /// Bytes at the start of a column chunk's decoded data that hold its columns (FORMAT.md §4.1).
    public static func columnsLength(_ shape: ChunkShape) -> Int {
        min(Int(shape.rawLength), FormatConstants.columnPrefixSizeBytes + Int(shape.recordCount) * FormatConstants.columnBytesPerRecord)
    }

    /// `forEachRecord` for rows (FORMAT.md §4).
    static func forEachRowRecord(
        _ data: UnsafeRawBufferPointer, checkCRC: Bool, _ body: (RecordView) throws -> Bool
    ) rethrows -> FormatError? {
        var offset = 0
        while offset < data.count {
            switch RecordCodec.decode(data, at: offset, checkCRC: checkCRC) {
            case .failure(let e): return e
            case .success(.skipped(let next)): offset = next
            case .success(.record(let view, let next)):
                if try !body(view) { return nil }
                offset = next
            }
        }
        return nil
    }
}

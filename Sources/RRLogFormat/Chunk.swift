/// Collects records into one chunk's data and turns it into a frame (FORMAT.md §3-§5).
/// Owned by one writer; not thread-safe.
public final class ChunkBuilder {
    private let buffer: RawBuffer
    private let targetSizeBytes: Int
    /// Records in the open chunk.
    @exclusivity(unchecked) public private(set) var recordCount = 0
    /// Sequence of the first record in the open chunk.
    @exclusivity(unchecked) public private(set) var firstSequence: UInt64 = 0
    /// Smallest timestamp in the open chunk.
    @exclusivity(unchecked) public private(set) var minTimestampNs = Int64.max
    /// Largest timestamp in the open chunk.
    @exclusivity(unchecked) public private(set) var maxTimestampNs = Int64.min

    /// Makes a builder whose chunks close at about `targetSizeBytes` of record data.
    public init(targetSizeBytes: Int) {
        self.targetSizeBytes = max(targetSizeBytes, 256)
        self.buffer = RawBuffer(capacity: self.targetSizeBytes + 4096)
    }

    /// True when no record is in the open chunk.
    public var isEmpty: Bool { recordCount == 0 }
    /// Bytes of record data in the open chunk.
    public var rawSizeBytes: Int { buffer.count }

    /// True when a record of `encodedSizeBytes` should go into a new chunk rather than this one.
    @inlinable
    public func shouldCloseBefore(encodedSizeBytes: Int) -> Bool {
        recordCount > 0 && rawSizeBytes + encodedSizeBytes > targetSizeBytesValue
    }

    @usableFromInline var targetSizeBytesValue: Int { targetSizeBytes }

    /// True when the chunk has reached its target size.
    public var isFull: Bool { buffer.count >= targetSizeBytes }

    /// Appends one record (sizes already validated) and returns its offset within the chunk data.
    @inlinable
    public func append(
        sequence: UInt64, timestampNs: Int64, kind: UInt16,
        key: UnsafeRawBufferPointer?, payload: UnsafeRawBufferPointer
    ) -> Int {
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
        try compressor.compress(buffer.bytes) { codec, stored in
            let header = FrameHeader(
                type: FrameType.chunk.rawValue, codec: codec.rawValue, storedLength: UInt32(stored.count),
                rawLength: UInt32(buffer.count), recordCount: UInt32(recordCount),
                dataCRC: CRC32C.mask(CRC32C.checksum(stored)), firstSequence: firstSequence,
                minTimestampNs: minTimestampNs, maxTimestampNs: maxTimestampNs)
            return try body(header, header.encode(), stored)
        }
    }

    /// Empties the builder.
    public func reset() {
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
    /// when the data is damaged), without checking the frame's data CRC: for reading one record,
    /// whose own CRC protects it.
    public static func withDataPrefix<R>(
        _ buffer: UnsafeRawBufferPointer, header: FrameHeader, offset: Int, prefixLength: Int, decompressor: Decompressor,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> Result<R, FormatError> {
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

    /// Walks the records of decoded chunk data in order. `body` returns false to stop early.
    /// Returns the first problem met (the records before it were delivered).
    @discardableResult
    public static func forEachRecord(
        _ data: UnsafeRawBufferPointer, checkCRC: Bool = true, _ body: (RecordView) throws -> Bool
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

/// A column chunk's decoded data (FORMAT.md §4.1), checked once and then read by record
/// position. The data may be a prefix of the chunk (a lookup decompresses only as far as the
/// record it wants) as long as it holds the columns; `record(_:)` answers nil for a record the
/// prefix does not hold.
public struct ColumnChunk {
    /// Records in the chunk.
    public let count: Int
    private let data: UnsafeRawBufferPointer
    private let keysStart: Int
    private var payloadsStart: Int
    private let firstSequence: UInt64
    private let minTimestampNs: Int64

    private var kindsAt: Int { FormatConstants.columnPrefixSizeBytes }
    private var timestampsAt: Int { kindsAt + 2 * count }
    private var flagsAt: Int { kindsAt + 10 * count }
    private var keyLengthsAt: Int { kindsAt + 11 * count }
    private var payloadLengthsAt: Int { kindsAt + 13 * count }

    /// Checks `data` against FORMAT.md §4.1 (rules 1, 2, 4 and 5, and 3 when `checkCRC`, which
    /// needs the whole data) and indexes it. `shape` comes from the chunk's frame header
    /// or index entry. Error offsets are offsets into the decoded data.
    public static func open(_ data: UnsafeRawBufferPointer, shape: ChunkShape, checkCRC: Bool) -> Result<ColumnChunk, FormatError> {
        let r = ByteReader(data)
        let prefix = FormatConstants.columnPrefixSizeBytes
        let rawLength = Int(shape.rawLength)
        guard rawLength >= prefix else {
            return .failure(.badLength(offset: 0, what: "column chunk length", value: UInt64(rawLength), limit: UInt64(prefix)))
        }
        guard let stated = r.u32(0) else { return .failure(.truncated(offset: 0, needed: prefix, available: data.count)) }
        guard stated == shape.recordCount else {
            return .failure(.badField(offset: 0, what: "column chunk record count", value: UInt64(stated)))
        }
        let n = Int(stated)
        guard n <= FormatConstants.chunkRecordCountMax else {
            return .failure(.badLength(offset: 0, what: "column chunk record count", value: UInt64(n), limit: UInt64(FormatConstants.chunkRecordCountMax)))
        }
        let columnsEnd = prefix + n * FormatConstants.columnBytesPerRecord
        guard n <= (rawLength - prefix) / FormatConstants.columnBytesPerRecord else {
            return .failure(.badLength(
                offset: 0, what: "column chunk record count", value: UInt64(n),
                limit: UInt64((rawLength - prefix) / FormatConstants.columnBytesPerRecord)))
        }
        guard r.has(0, columnsEnd) else { return .failure(.truncated(offset: 0, needed: columnsEnd, available: data.count)) }
        if checkCRC {
            guard data.count >= rawLength else { return .failure(.truncated(offset: 0, needed: rawLength, available: data.count)) }
            let stored = CRC32C.unmask(r.u32Unchecked(4))
            let actual = CRC32C.checksum(r.slice(prefix, rawLength - prefix)!)
            guard stored == actual else {
                return .failure(.crcMismatch(offset: 0, what: "column chunk content", expected: stored, actual: actual))
            }
        }
        // Rules 4 and 5 read the columns through the accessors the records are read with.
        var chunk = ColumnChunk(
            count: n, data: data, keysStart: columnsEnd, payloadsStart: columnsEnd,
            firstSequence: shape.firstSequence, minTimestampNs: shape.minTimestampNs)
        var keyBytes = 0
        var payloadBytes = 0
        for i in 0..<n {
            // Bits 1-7 of the flags are reserved: ignored, as every reserved field is (FORMAT.md
            // §0), so rows and columns accept the same records.
            let flags = data[chunk.flagsAt + i]
            let keyLength = chunk.keyLength(i)
            let payloadLength = chunk.payloadLength(i)
            guard flags & 1 != 0 || keyLength == 0 else {
                return .failure(.badField(offset: chunk.keyLengthsAt + 2 * i, what: "key length without key flag", value: UInt64(keyLength)))
            }
            guard payloadLength <= FormatConstants.payloadSizeBytesMax else {
                return .failure(.badLength(
                    offset: chunk.payloadLengthsAt + 4 * i, what: "payload length", value: UInt64(payloadLength),
                    limit: UInt64(FormatConstants.payloadSizeBytesMax)))
            }
            keyBytes += keyLength
            payloadBytes += payloadLength
        }
        guard keyBytes + payloadBytes <= rawLength - columnsEnd else {
            return .failure(.badLength(
                offset: chunk.keyLengthsAt, what: "column chunk key and payload bytes", value: UInt64(keyBytes + payloadBytes),
                limit: UInt64(rawLength - columnsEnd)))
        }
        chunk.payloadsStart = columnsEnd + keyBytes
        return .success(chunk)
    }

    private init(count: Int, data: UnsafeRawBufferPointer, keysStart: Int, payloadsStart: Int, firstSequence: UInt64, minTimestampNs: Int64) {
        self.count = count
        self.data = data
        self.keysStart = keysStart
        self.payloadsStart = payloadsStart
        self.firstSequence = firstSequence
        self.minTimestampNs = minTimestampNs
    }

    /// Bytes of decoded data a reader needs to hold record `i` whole (its payload's end); nil
    /// when `i` is out of range.
    public func endOfRecord(_ i: Int) -> Int? {
        guard i >= 0, i < count else { return nil }
        var end = payloadsStart
        for j in 0...i { end += payloadLength(j) }
        return end
    }

    /// Record `i` (from 0), or nil when `i` is out of range or the data is a prefix that ends
    /// before the record does.
    public func record(_ i: Int) -> RecordView? {
        guard i >= 0, i < count else { return nil }
        var keyAt = keysStart
        var payloadAt = payloadsStart
        var timestamp = minTimestampNs
        for j in 0..<i {
            keyAt += keyLength(j)
            payloadAt += payloadLength(j)
            timestamp = Self.next(timestamp, zigzag: timestampDelta(j))
        }
        return view(i, keyAt: keyAt, payloadAt: payloadAt, timestamp: Self.next(timestamp, zigzag: timestampDelta(i)))
    }

    /// Calls `body` with every record in order until it returns false. Returns a problem when the
    /// data is a prefix that ends before the last record does.
    @discardableResult
    public func forEach(_ body: (RecordView) throws -> Bool) rethrows -> FormatError? {
        var keyAt = keysStart
        var payloadAt = payloadsStart
        var timestamp = minTimestampNs
        for i in 0..<count {
            timestamp = Self.next(timestamp, zigzag: timestampDelta(i))
            guard let record = view(i, keyAt: keyAt, payloadAt: payloadAt, timestamp: timestamp) else {
                return .truncated(offset: payloadAt, needed: payloadLength(i), available: max(0, data.count - payloadAt))
            }
            if try !body(record) { return nil }
            keyAt += keyLength(i)
            payloadAt += payloadLength(i)
        }
        return nil
    }

    private func view(_ i: Int, keyAt: Int, payloadAt: Int, timestamp: Int64) -> RecordView? {
        let r = ByteReader(data)
        let hasKey = data[flagsAt + i] & 1 != 0
        guard let payload = r.slice(payloadAt, payloadLength(i)) else { return nil }
        var key: UnsafeRawBufferPointer?
        if hasKey {
            guard let k = r.slice(keyAt, keyLength(i)) else { return nil }
            key = k
        }
        let kind = UInt16(littleEndian: data.loadUnaligned(fromByteOffset: kindsAt + 2 * i, as: UInt16.self))
        return RecordView(
            sequence: firstSequence &+ UInt64(i), timestampNs: timestamp, kind: kind, key: key, payload: payload,
            offsetInChunk: i)
    }

    private func keyLength(_ i: Int) -> Int {
        Int(UInt16(littleEndian: data.loadUnaligned(fromByteOffset: keyLengthsAt + 2 * i, as: UInt16.self)))
    }

    private func payloadLength(_ i: Int) -> Int {
        Int(UInt32(littleEndian: data.loadUnaligned(fromByteOffset: payloadLengthsAt + 4 * i, as: UInt32.self)))
    }

    private func timestampDelta(_ i: Int) -> UInt64 {
        UInt64(littleEndian: data.loadUnaligned(fromByteOffset: timestampsAt + 8 * i, as: UInt64.self))
    }

    /// FORMAT.md §4.1: the timestamp after `previous` whose zigzag-coded difference is `z`.
    @inlinable static func next(_ previous: Int64, zigzag z: UInt64) -> Int64 {
        previous &+ Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1)))
    }

    /// FORMAT.md §4.1: the zigzag code of `timestamp - previous` (wrapping).
    @inlinable static func zigzag(_ timestamp: Int64, after previous: Int64) -> UInt64 {
        let d = timestamp &- previous
        return UInt64(bitPattern: (d << 1) ^ (d >> 63))
    }
}

/// What decoding a chunk's data needs from its frame header or chunk-index entry.
public struct ChunkShape: Sendable, Equatable {
    /// The chunk's `layout` byte (`ChunkLayout`).
    public var layout: UInt8
    /// Data records in the chunk.
    public var recordCount: UInt32
    /// Bytes of decoded data.
    public var rawLength: UInt32
    /// Sequence of the first record.
    public var firstSequence: UInt64
    /// The chunk's smallest timestamp, from which column timestamps count.
    public var minTimestampNs: Int64

    /// The shape a frame header gives.
    public init(_ header: FrameHeader) {
        (layout, recordCount, rawLength, firstSequence, minTimestampNs) =
            (header.layout, header.recordCount, header.rawLength, header.firstSequence, header.minTimestampNs)
    }

    /// The shape a chunk-index entry gives.
    public init(_ entry: ChunkIndexEntry) {
        (layout, recordCount, rawLength, firstSequence, minTimestampNs) =
            (entry.layout, entry.recordCount, entry.rawLength, entry.firstSequence, entry.minTimestampNs)
    }
}

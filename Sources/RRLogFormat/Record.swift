/// One record as stored: FORMAT.md §4.
public struct Record: Sendable, Equatable, Hashable {
    /// Position in the log; strictly increasing within a log.
    public var sequence: UInt64
    /// Nanoseconds since the Unix epoch, as the writer's caller gave it.
    public var timestampNs: Int64
    /// What the record is; the application's numbering (rrlog's own kinds are in `RecordKind`).
    public var kind: UInt16
    /// An optional lookup key (IO key); `nil` when the record has none.
    public var key: [UInt8]?
    /// The record's bytes.
    public var payload: [UInt8]

    /// Makes a record.
    public init(sequence: UInt64, timestampNs: Int64, kind: UInt16, key: [UInt8]? = nil, payload: [UInt8]) {
        self.sequence = sequence
        self.timestampNs = timestampNs
        self.kind = kind
        self.key = key
        self.payload = payload
    }

    /// Bytes this record takes in a chunk.
    public var encodedSizeBytes: Int {
        FormatConstants.recordHeaderSizeBytes + (key?.count ?? 0) + payload.count
    }
}

/// A record borrowed from a mapped or decompressed buffer; valid only inside the closure that
/// lent it. Copy with `makeRecord()` to keep it.
public struct RecordView {
    /// Sequence number.
    public let sequence: UInt64
    /// Timestamp in nanoseconds.
    public let timestampNs: Int64
    /// Kind.
    public let kind: UInt16
    /// The key bytes, or nil when the record has no key.
    public let key: UnsafeRawBufferPointer?
    /// The payload bytes.
    public let payload: UnsafeRawBufferPointer
    /// Offset of the record within its chunk's decoded data.
    public let offsetInChunk: Int

    /// Makes a view (decoders only).
    @inlinable
    public init(
        sequence: UInt64, timestampNs: Int64, kind: UInt16, key: UnsafeRawBufferPointer?,
        payload: UnsafeRawBufferPointer, offsetInChunk: Int
    ) {
        self.sequence = sequence
        self.timestampNs = timestampNs
        self.kind = kind
        self.key = key
        self.payload = payload
        self.offsetInChunk = offsetInChunk
    }

    /// A copy that owns its bytes.
    public func makeRecord() -> Record {
        Record(
            sequence: sequence, timestampNs: timestampNs, kind: kind,
            key: key.map { Array($0) }, payload: Array(payload))
    }
}

/// Encodes and decodes single records (FORMAT.md §4).
public enum RecordCodec {
    /// Checks a record's sizes against FORMAT.md §8 before it is written.
    public static func validate(keyCount: Int?, payloadCount: Int) -> FormatError? {
        if let k = keyCount, k > FormatConstants.keySizeBytesMax {
            return .badLength(offset: 0, what: "key length", value: UInt64(k), limit: UInt64(FormatConstants.keySizeBytesMax))
        }
        if payloadCount > FormatConstants.payloadSizeBytesMax {
            return .badLength(
                offset: 0, what: "payload length", value: UInt64(payloadCount),
                limit: UInt64(FormatConstants.payloadSizeBytesMax))
        }
        return nil
    }

    /// Writes one record at `pointer` (which has room for `FormatConstants.recordHeaderSizeBytes +
    /// key.count + payload.count` bytes) and returns the bytes written.
    @inlinable
    public static func encode(
        sequence: UInt64, timestampNs: Int64, kind: UInt16,
        key: UnsafeRawBufferPointer?, payload: UnsafeRawBufferPointer,
        into pointer: UnsafeMutableRawPointer
    ) -> Int {
        let keyCount = key?.count ?? 0
        let total = FormatConstants.recordHeaderSizeBytes + keyCount + payload.count
        storeLE(UInt32(total - 8), pointer, 4)
        pointer.storeBytes(of: RecordType.data.rawValue, toByteOffset: 8, as: UInt8.self)
        pointer.storeBytes(of: key == nil ? 0 : 1, toByteOffset: 9, as: UInt8.self)
        storeLE(kind, pointer, 10)
        storeLE(sequence, pointer, 12)
        storeLE(timestampNs, pointer, 20)
        storeLE(UInt16(keyCount), pointer, 28)
        storeLE(UInt32(payload.count), pointer, 30)
        if let key { copyBytes(key, to: pointer, 34) }
        copyBytes(payload, to: pointer, 34 + keyCount)
        let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: pointer + 4, count: total - 4))
        storeLE(CRC32C.mask(crc), pointer, 0)
        return total
    }

    /// Encodes one record into a new array (tests and tools; the writer uses the pointer form).
    public static func encode(_ record: Record) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: record.encodedSizeBytes)
        out.withUnsafeMutableBytes { raw in
            record.payload.withUnsafeBytes { payload in
                if let key = record.key {
                    key.withUnsafeBytes { k in
                        _ = encode(
                            sequence: record.sequence, timestampNs: record.timestampNs, kind: record.kind,
                            key: k, payload: payload, into: raw.baseAddress!)
                    }
                } else {
                    _ = encode(
                        sequence: record.sequence, timestampNs: record.timestampNs, kind: record.kind,
                        key: nil, payload: payload, into: raw.baseAddress!)
                }
            }
        }
        return out
    }

    /// What one step over a chunk's data found.
    public enum Step {
        /// A data record, and where the next record starts.
        case record(RecordView, next: Int)
        /// A record of a type this reader does not know: skipped as FORMAT.md §4 says.
        case skipped(next: Int)
    }

    /// Decodes the record at `offset` of `data`, checking its CRC (when `checkCRC`) and every length
    /// against the bytes that remain.
    @inlinable
    public static func decode(
        _ data: UnsafeRawBufferPointer, at offset: Int, checkCRC: Bool = true
    ) -> Result<Step, FormatError> {
        let reader = ByteReader(data)
        guard let length32 = reader.u32(offset + 4) else {
            return .failure(.truncated(offset: offset, needed: 8, available: max(0, data.count - offset)))
        }
        let length = Int(length32)
        guard length >= FormatConstants.recordLengthMin else {
            return .failure(
                .badLength(offset: offset, what: "record length", value: UInt64(length),
                           limit: UInt64(FormatConstants.recordLengthMin)))
        }
        guard reader.has(offset + 8, length) else {
            return .failure(.truncated(offset: offset, needed: 8 + length, available: data.count - offset))
        }
        if checkCRC {
            let stored = CRC32C.unmask(reader.u32Unchecked(offset))
            let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: data[(offset + 4)..<(offset + 8 + length)]))
            guard stored == actual else {
                return .failure(.crcMismatch(offset: offset, what: "record", expected: stored, actual: actual))
            }
        }
        let next = offset + 8 + length
        let type = data[offset + 8]
        guard type == RecordType.data.rawValue else {
            if type == 0 {
                return .failure(.badField(offset: offset, what: "record type", value: 0))
            }
            return .success(.skipped(next: next))
        }
        let flags = data[offset + 9]
        let kind = reader.u16(offset + 10)!
        let sequence = reader.u64(offset + 12)!
        let timestamp = reader.i64(offset + 20)!
        let keyCount = Int(reader.u16(offset + 28)!)
        let payloadCount = Int(reader.u32(offset + 30)!)
        guard keyCount + payloadCount <= length - FormatConstants.recordLengthMin else {
            return .failure(
                .badLength(offset: offset, what: "key and payload length", value: UInt64(keyCount + payloadCount),
                           limit: UInt64(length - FormatConstants.recordLengthMin)))
        }
        if payloadCount > FormatConstants.payloadSizeBytesMax {
            return .failure(
                .badLength(offset: offset, what: "payload length", value: UInt64(payloadCount), limit: UInt64(FormatConstants.payloadSizeBytesMax)))
        }
        if flags & 1 == 0 && keyCount != 0 {
            return .failure(.badField(offset: offset, what: "key length without key flag", value: UInt64(keyCount)))
        }
        let keyStart = offset + FormatConstants.recordHeaderSizeBytes
        let key: UnsafeRawBufferPointer? = flags & 1 != 0 ? reader.slice(keyStart, keyCount) : nil
        let payload = reader.slice(keyStart + keyCount, payloadCount)!
        let view = RecordView(
            sequence: sequence, timestampNs: timestamp, kind: kind, key: key, payload: payload,
            offsetInChunk: offset)
        return .success(.record(view, next: next))
    }
}

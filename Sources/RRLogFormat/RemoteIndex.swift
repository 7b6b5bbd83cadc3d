/// The remote index (FORMAT-REMOTE.md "The remote index"): for the objects of a session kept in
/// a bucket, the few byte ranges a reader needs before it reads any record (each segment's
/// header, chunk index, key table head and footer; the log key index's head), so that a host
/// opens the session with one request and then fetches only the chunks and key slots a read
/// touches. Pure: encodes to and decodes from bytes.
public struct RemoteIndex: Sendable, Equatable {
    /// "\x89RRRIX\r\n": the object's first eight bytes.
    public static let magic: [UInt8] = [0x89, 0x52, 0x52, 0x52, 0x49, 0x58, 0x0D, 0x0A]
    /// The version this build writes and the newest it reads.
    public static let version: UInt16 = 1
    /// The largest index read (it holds ranges of a session's index frames, never its records).
    public static let sizeBytesMax = 1 << 30
    /// The most objects one index names.
    public static let objectCountMax = 1 << 20
    /// The longest name, key or ETag.
    public static let textLengthMax = 1024

    /// One object of the session.
    public struct Object: Sendable, Equatable {
        /// The file the object holds in a log directory (`<id>.rrseg`, `keys.rrki`).
        public var file: String
        /// Where the object is, relative to the session's directory in the bucket.
        public var key: String
        /// The ETag of the object's bytes (quotes left out), which ranged reads pin.
        public var etag: String
        /// The object's size in bytes.
        public var sizeBytes: UInt64

        /// An object entry.
        public init(file: String, key: String, etag: String, sizeBytes: UInt64) {
            self.file = file
            self.key = key
            self.etag = etag
            self.sizeBytes = sizeBytes
        }
    }

    /// Bytes of one object at one offset.
    public struct Piece: Sendable, Equatable {
        /// The object's position in `objects`.
        public var object: Int
        /// Where the bytes start in the object.
        public var offset: UInt64
        /// The bytes.
        public var bytes: [UInt8]

        /// A piece.
        public init(object: Int, offset: UInt64, bytes: [UInt8]) {
            self.object = object
            self.offset = offset
            self.bytes = bytes
        }
    }

    /// The objects, segments in id order, then the log key index when there is one.
    public var objects: [Object]
    /// The byte ranges, in any order.
    public var pieces: [Piece]

    /// An index of `objects` holding `pieces`.
    public init(objects: [Object], pieces: [Piece]) {
        self.objects = objects
        self.pieces = pieces
    }

    /// The byte ranges of a sealed segment a reader needs to open it (`SegmentView(sealed:)`):
    /// the header, the chunk index frame, the key table's frame header and slot count, and the
    /// footer.
    public static func openingRanges(of view: SegmentView) -> [Range<Int>] {
        let size = view.buffer.count
        var ranges = [0..<view.headerLength]
        guard let footer = view.footer else { return ranges }
        if let index = try? FrameHeader.decode(view.buffer, at: Int(footer.chunkIndexOffset)).get() {
            let start = Int(footer.chunkIndexOffset)
            ranges.append(start..<min(size, start + index.frameLength))
        }
        if footer.keyTableOffset != 0, let table = try? FrameHeader.decode(view.buffer, at: Int(footer.keyTableOffset)).get() {
            let start = Int(footer.keyTableOffset)
            ranges.append(start..<min(size, start + table.headerLength + 8))
        }
        ranges.append((size - FormatConstants.footerSizeBytes)..<size)
        return ranges
    }

    /// The byte ranges of a log key index file a reader needs to open it (`LogKeyIndex.init`):
    /// its header, segment list and key table head; nil when the bytes are not an index.
    public static func openingRanges(ofKeyIndex buffer: UnsafeRawBufferPointer) -> [Range<Int>]? {
        let listAt = LogKeyIndex.headerSizeBytes
        guard buffer.count >= listAt, let list = try? FrameHeader.decode(buffer, at: listAt).get() else { return nil }
        let tableAt = listAt + list.frameLength
        guard let table = try? FrameHeader.decode(buffer, at: tableAt).get(), tableAt + table.headerLength + 8 <= buffer.count else { return nil }
        return [0..<(tableAt + table.headerLength + 8)]
    }

    /// The encoded index: header, objects, pieces, and a CRC32C of everything before it.
    public func encoded() -> [UInt8] {
        var out = Self.magic
        out.appendLE(Self.version)
        out.appendLE(UInt16(0))
        out.appendLE(UInt32(objects.count))
        for o in objects {
            for text in [o.file, o.key, o.etag] {
                let utf8 = Array(text.utf8)
                out.appendLE(UInt16(utf8.count))
                out += utf8
            }
            out.appendLE(o.sizeBytes)
        }
        out.appendLE(UInt32(pieces.count))
        for p in pieces {
            out.appendLE(UInt32(p.object))
            out.appendLE(p.offset)
            out.appendLE(UInt32(p.bytes.count))
            out += p.bytes
        }
        out.appendLE(CRC32C.checksum(out))
        return out
    }

    /// Decodes and checks an index: magic, version, CRC, and every piece inside its object.
    public init(decoding buffer: UnsafeRawBufferPointer) throws(FormatError) {
        guard buffer.count >= 20 else { throw .truncated(offset: 0, needed: 20, available: buffer.count) }
        guard buffer.count <= Self.sizeBytesMax else { throw .badField(offset: 0, what: "remote index size", value: UInt64(buffer.count)) }
        guard buffer.prefix(8).elementsEqual(Self.magic) else { throw .badMagic(offset: 0, what: "remote index") }
        let r = ByteReader(buffer)
        let version = r.u16(8)!
        guard version == Self.version else { throw .unsupportedVersion(offset: 8, version: version) }
        let crcAt = buffer.count - 4
        let stored = r.u32(crcAt)!
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[0..<crcAt]))
        guard stored == actual else { throw .crcMismatch(offset: crcAt, what: "remote index", expected: stored, actual: actual) }
        let body = ByteReader(UnsafeRawBufferPointer(rebasing: buffer[0..<crcAt]))
        var at = 12
        func u16() throws(FormatError) -> Int {
            guard let v = body.u16(at) else { throw .truncated(offset: at, needed: 2, available: crcAt - at) }
            at += 2
            return Int(v)
        }
        func u32() throws(FormatError) -> Int {
            guard let v = body.u32(at) else { throw .truncated(offset: at, needed: 4, available: crcAt - at) }
            at += 4
            return Int(v)
        }
        func u64() throws(FormatError) -> UInt64 {
            guard let v = body.u64(at) else { throw .truncated(offset: at, needed: 8, available: crcAt - at) }
            at += 8
            return v
        }
        func bytes(_ count: Int) throws(FormatError) -> UnsafeRawBufferPointer {
            guard let s = body.slice(at, count) else { throw .truncated(offset: at, needed: count, available: crcAt - at) }
            at += count
            return s
        }
        func text(_ what: String) throws(FormatError) -> String {
            let length = try u16()
            guard length <= Self.textLengthMax else { throw .badField(offset: at - 2, what: what + " length", value: UInt64(length)) }
            return String(decoding: try bytes(length), as: UTF8.self)
        }
        let objectCount = try u32()
        guard objectCount <= Self.objectCountMax, objectCount * 14 <= crcAt - at else {
            throw .badField(offset: 12, what: "remote index object count", value: UInt64(objectCount))
        }
        var objects: [Object] = []
        objects.reserveCapacity(objectCount)
        for _ in 0..<objectCount {
            let file = try text("object file")
            let key = try text("object key")
            let etag = try text("object etag")
            let size = try u64()
            objects.append(Object(file: file, key: key, etag: etag, sizeBytes: size))
        }
        let pieceCountAt = at
        let pieceCount = try u32()
        guard pieceCount * 16 <= crcAt - at else { throw .badField(offset: pieceCountAt, what: "remote index piece count", value: UInt64(pieceCount)) }
        var pieces: [Piece] = []
        pieces.reserveCapacity(pieceCount)
        for _ in 0..<pieceCount {
            let pieceAt = at
            let object = try u32()
            let offset = try u64()
            let length = try u32()
            guard object < objects.count, offset <= objects[object].sizeBytes, UInt64(length) <= objects[object].sizeBytes - offset else {
                throw .badField(offset: pieceAt, what: "remote index piece outside its object", value: offset)
            }
            pieces.append(Piece(object: object, offset: offset, bytes: Array(try bytes(length))))
        }
        guard at == crcAt else { throw .badField(offset: at, what: "bytes after the remote index's pieces", value: UInt64(crcAt - at)) }
        self.objects = objects
        self.pieces = pieces
    }
}

/// Builds a whole segment in memory and reads one back (FORMAT.md §2-§7).
///
/// The bytes are the ones a disk writer produces for the same records and options: the segment
/// header, the chunk frames in record order, and, when sealed, the chunk-index frame, the key-table
/// frame (only when a record has a key) and the footer. Golden fixtures, round-trip tests and the
/// fuzzers use it; storage writes the same structures incrementally.
public struct SegmentEncoder {
    /// How a segment is encoded.
    public struct Options: Sendable, Equatable {
        /// The segment's number within its log (FORMAT.md §2).
        public var segmentID: UInt64
        /// The first sequence number the segment may hold (FORMAT.md §2).
        public var baseSequence: UInt64
        /// When the segment was created, nanoseconds since the Unix epoch.
        public var createdNs: Int64
        /// The codec asked for; a chunk that does not get smaller is stored uncompressed (§5).
        public var codec: Codec
        /// Record bytes after which a chunk is closed. `ChunkBuilder` raises values under 256 to 256.
        public var chunkTargetSizeBytes: Int
        /// The zstd level (1-19); ignored for other codecs.
        public var zstdLevel: Int
        /// The format version of the segment header (FORMAT.md §2). Version 1 has rows only.
        public var version: UInt16
        /// The chunks' layout; nil picks the storage engine's choice, `ChunkLayout.default(for:)`:
        /// columns for zstd (when the version has them), rows otherwise (FORMAT.md §3).
        public var layout: ChunkLayout?

        /// Makes options; by default 256 KiB chunks and zstd level 3, as the storage engine.
        public init(
            segmentID: UInt64 = 0, baseSequence: UInt64 = 0, createdNs: Int64 = 0, codec: Codec = .none,
            chunkTargetSizeBytes: Int = 256 << 10, zstdLevel: Int = 3, version: UInt16 = FormatConstants.formatVersion,
            layout: ChunkLayout? = nil
        ) {
            self.segmentID = segmentID
            self.baseSequence = baseSequence
            self.createdNs = createdNs
            self.codec = codec
            self.chunkTargetSizeBytes = chunkTargetSizeBytes
            self.zstdLevel = zstdLevel
            self.version = version
            self.layout = layout
        }

        /// The layout chunks get.
        public var effectiveLayout: ChunkLayout {
            layout ?? ChunkLayout.default(for: codec, version: version)
        }
    }

    /// Encodes `records` as a sealed segment: header, chunks, chunk index, key table, footer.
    ///
    /// Preconditions (FORMAT.md §3 and §8): every key and payload is within its cap, the first
    /// sequence is at least `options.baseSequence`, and sequences increase. A chunk holds
    /// consecutive sequences only, so a gap (as in a segment recovery salvaged) starts a new chunk.
    /// An empty array gives a sealed segment with an empty chunk index.
    public static func encode(_ records: [Record], options: Options) -> [UInt8] {
        build(records, options: options, sealed: true)
    }

    /// Encodes `records` as a segment that was never sealed: header and chunk frames only, which is
    /// what a log directory holds after its writer was killed between chunks (FORMAT.md §9).
    /// Same preconditions as `encode(_:options:)`.
    public static func encodeUnsealed(_ records: [Record], options: Options) -> [UInt8] {
        build(records, options: options, sealed: false)
    }

    /// Decodes every data record of a segment, strictly: a segment whose last 64 bytes look like a
    /// footer is opened from its tail (FORMAT.md §7), any other by a scan (§9). Throws on the first
    /// problem: a bad CRC anywhere (key table included), a damaged or torn region, a chunk whose
    /// header disagrees with its index entry or with its records (count, consecutive sequences,
    /// time bounds), sequences that do not increase from the base sequence, a payload above its
    /// cap (§8), or a footer whose totals disagree with the chunks. Records of unknown types and unknown
    /// frames are skipped, as the specification requires.
    ///
    /// Whatever this accepts, `encode` turns back into a segment that decodes to the same records.
    public static func decodeAll(_ bytes: [UInt8]) throws(FormatError) -> [Record] {
        let result: Result<[Record], FormatError> = bytes.withUnsafeBytes { buffer in
            do throws(FormatError) {
                return .success(try decodeAll(buffer))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// `decodeAll(_:)` over borrowed bytes.
    public static func decodeAll(_ buffer: UnsafeRawBufferPointer) throws(FormatError) -> [Record] {
        let view: SegmentView
        if SegmentFooter.present(in: buffer) {
            view = try SegmentView(sealed: buffer)
        } else {
            view = try SegmentView(scanning: buffer)
            if let first = view.damage.first {
                switch first {
                case .damaged(_, let error), .tornTail(_, let error): throw error
                case .frame, .footer: break
                }
            }
        }
        var records: [Record] = []
        var keyedCount = 0
        var nextSequence = view.header.baseSequence
        let decompressor = Decompressor()
        for (ordinal, entry) in view.chunks.enumerated() {
            let offset = Int(entry.offset)
            let header = try FrameHeader.decode(buffer, at: offset).get()
            guard header.type == FrameType.chunk.rawValue else {
                throw .badField(offset: offset, what: "chunk frame type", value: UInt64(header.type))
            }
            guard ChunkIndexEntry(header: header, offset: offset) == entry else {
                throw .badField(offset: offset, what: "chunk \(ordinal) index entry", value: entry.offset)
            }
            // Chunks hold consecutive sequences; between chunks sequences only increase (FORMAT.md §3).
            guard header.firstSequence >= nextSequence else {
                throw .badField(offset: offset, what: "chunk first sequence", value: header.firstSequence)
            }
            nextSequence = header.firstSequence
            var problem: FormatError?
            var count: UInt32 = 0
            guard header.layout == ChunkLayout.rows.rawValue || view.header.version >= 2 else {
                throw .badField(offset: offset, what: "chunk layout in a version 1 segment", value: UInt64(header.layout))
            }
            let walked = ChunkReader.withData(buffer, header: header, offset: offset, decompressor: decompressor) { data in
                ChunkReader.forEachRecord(data, shape: ChunkShape(header)) { record in
                    guard record.sequence == nextSequence, count < header.recordCount else {
                        problem = .badField(offset: offset, what: "record sequence", value: record.sequence)
                        return false
                    }
                    guard record.payload.count <= FormatConstants.payloadSizeBytesMax else {
                        problem = .badLength(
                            offset: offset, what: "payload length", value: UInt64(record.payload.count),
                            limit: UInt64(FormatConstants.payloadSizeBytesMax))
                        return false
                    }
                    guard record.timestampNs >= header.minTimestampNs, record.timestampNs <= header.maxTimestampNs else {
                        problem = .badField(
                            offset: offset, what: "record timestamp", value: UInt64(bitPattern: record.timestampNs))
                        return false
                    }
                    if record.key != nil { keyedCount += 1 }
                    records.append(record.makeRecord())
                    nextSequence &+= 1
                    count += 1
                    return true
                }
            }
            switch walked {
            case .failure(let error): throw error
            case .success(let error?):
                // Offsets inside stored data are file offsets; inside decompressed data they mean
                // nothing in the file, so the error then points at the chunk's frame.
                let uncompressed = header.codec == Codec.none.rawValue
                throw error.shifted(by: uncompressed ? offset + header.headerLength : offset - error.offset)
            case .success(nil): break
            }
            if let problem { throw problem }
            guard count == header.recordCount else {
                throw .badField(offset: offset, what: "chunk record count", value: UInt64(header.recordCount))
            }
        }
        if let footer = view.footer {
            try checkFooter(footer, view: view, records: records, keyedCount: keyedCount)
        }
        return records
    }

    // MARK: - Private

    private static func checkFooter(
        _ footer: SegmentFooter, view: SegmentView, records: [Record], keyedCount: Int
    ) throws(FormatError) {
        let footerOffset = view.buffer.count - FormatConstants.footerSizeBytes
        guard footer.recordCount == UInt64(records.count) else {
            throw .badField(offset: footerOffset + 24, what: "footer record count", value: footer.recordCount)
        }
        let first = records.first?.sequence ?? view.header.baseSequence
        let last = records.last?.sequence ?? view.header.baseSequence &- 1
        guard footer.firstSequence == first else {
            throw .badField(offset: footerOffset + 32, what: "footer first sequence", value: footer.firstSequence)
        }
        guard footer.lastSequence == last else {
            throw .badField(offset: footerOffset + 40, what: "footer last sequence", value: footer.lastSequence)
        }
        if footer.keyTableOffset == 0 {
            guard keyedCount == 0 else {
                throw .badField(offset: footerOffset + 16, what: "key table offset", value: 0)
            }
            return
        }
        let at = Int(footer.keyTableOffset)
        let header = try FrameHeader.decode(view.buffer, at: at).get()
        if let error = header.checkData(view.buffer, headerOffset: at) { throw error }
        guard let table = view.keyTable, table.entryCount == keyedCount else {
            throw .badField(offset: at, what: "key table entry count", value: UInt64(view.keyTable?.entryCount ?? 0))
        }
    }

    private static func build(_ records: [Record], options: Options, sealed: Bool) -> [UInt8] {
        precondition(
            options.chunkTargetSizeBytes <= FormatConstants.frameDataSizeBytesMax,
            "chunk target above the frame data cap of FORMAT.md §8")
        precondition(
            FormatConstants.readableVersions.contains(options.version) && (options.version >= 2 || options.effectiveLayout == .rows),
            "version \(options.version) with \(options.effectiveLayout) chunks (FORMAT.md §2: version 1 has rows only)")
        for (i, record) in records.enumerated() {
            precondition(
                RecordCodec.validate(keyCount: record.key?.count, payloadCount: record.payload.count) == nil,
                "record \(i): key or payload above the caps of FORMAT.md §8")
            precondition(
                i == 0 ? record.sequence >= options.baseSequence : record.sequence > records[i - 1].sequence,
                "record \(i): sequence \(record.sequence) breaks FORMAT.md §3 (increasing, from the base sequence)")
        }

        var segmentHeader = SegmentHeader(segmentID: options.segmentID, baseSequence: options.baseSequence, createdNs: options.createdNs)
        segmentHeader.version = options.version
        var out = segmentHeader.encode()
        let builder = ChunkBuilder(targetSizeBytes: options.chunkTargetSizeBytes, layout: options.effectiveLayout)
        let compressor = Compressor(codec: options.codec, level: options.zstdLevel)
        var index = SegmentIndexBuilder()

        func closeChunk() {
            builder.close(compressor: compressor) { header, headerBytes, stored in
                index.addChunk(ChunkIndexEntry(header: header, offset: out.count))
                out.append(contentsOf: headerBytes)
                out.append(contentsOf: stored)
            }
        }

        var previous: UInt64?
        for record in records {
            let gap = previous.map { record.sequence != $0 &+ 1 } ?? false
            if gap || builder.shouldCloseBefore(encodedSizeBytes: record.encodedSizeBytes) { closeChunk() }
            previous = record.sequence
            let offsetInChunk = record.payload.withUnsafeBytes { payload in
                guard let key = record.key else {
                    return builder.append(
                        sequence: record.sequence, timestampNs: record.timestampNs, kind: record.kind,
                        key: nil, payload: payload)
                }
                return key.withUnsafeBytes { keyBytes in
                    builder.append(
                        sequence: record.sequence, timestampNs: record.timestampNs, kind: record.kind,
                        key: keyBytes, payload: payload)
                }
            }
            // The key belongs to the chunk still open, whose ordinal is the number of chunks closed;
            // `offsetInChunk` is an offset (rows) or a position (columns), as FORMAT.md §6.2 says.
            if let key = record.key { index.addKey(hash: XXHash64.hash(key), offsetInChunk: offsetInChunk) }
            if builder.isFull { closeChunk() }
        }
        if !builder.isEmpty { closeChunk() }
        guard sealed else { return out }

        let chunkIndexOffset = out.count
        out.append(contentsOf: index.encodeChunkIndex())
        var keyTableOffset = 0
        if let keyTable = index.encodeKeyTable() {
            keyTableOffset = out.count
            out.append(contentsOf: keyTable)
        }
        let footer = SegmentFooter(
            chunkIndexOffset: UInt64(chunkIndexOffset), keyTableOffset: UInt64(keyTableOffset),
            recordCount: UInt64(records.count),
            firstSequence: records.first?.sequence ?? options.baseSequence,
            lastSequence: records.last?.sequence ?? options.baseSequence &- 1)
        out.append(contentsOf: footer.encode())
        return out
    }
}

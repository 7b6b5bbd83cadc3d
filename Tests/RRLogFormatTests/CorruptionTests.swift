import RRLogFormat
import XCTest

/// Damage of every kind FORMAT.md §8-§9 promise to survive: torn tails, flipped bits in each
/// structure, and length fields that lie.
final class CorruptionTests: XCTestCase {
    /// Three chunks of three records each (chunk target 256), unsealed. Columns hold 17 bytes of
    /// fixed fields per record instead of rows' 34, so their payloads are larger to keep the shape.
    private func threeChunkSegment(codec: Codec, layout: ChunkLayout = .rows) -> (bytes: [UInt8], records: [Record], chunks: [(offset: Int, header: FrameHeader)]) {
        let payload = layout == .rows ? 40 : 60
        let records = makeRecords(count: 9, payloadSize: { _ in payload }, key: { $0 % 2 == 0 ? Array("key\($0)".utf8) : nil })
        let options = SegmentEncoder.Options(segmentID: 1, baseSequence: 1, codec: codec, chunkTargetSizeBytes: 256, layout: layout)
        let bytes = SegmentEncoder.encodeUnsealed(records, options: options)
        let chunks = frames(of: bytes)
        precondition(chunks.count == 3 && chunks.allSatisfy { $0.header.recordCount == 3 }, "fixture shape changed")
        return (bytes, records, chunks)
    }

    // MARK: Torn tails

    func testTruncationAtEveryByteLeavesAPrefixAndATornTail() throws {
        for codec in Codec.allCases { for layout in ChunkLayout.allCases {
            let (bytes, records, chunks) = threeChunkSegment(codec: codec, layout: layout)
            let boundaries = Set(chunks.map(\.offset) + [bytes.count])
            for cut in 0..<bytes.count {
                let prefix = Array(bytes[..<cut])
                let context = "codec \(codec), \(layout), cut at \(cut) of \(bytes.count)"
                guard cut >= FormatConstants.segmentHeaderSizeBytes else {
                    XCTAssertThrowsError(try readSegment(prefix, sealed: false), context) { error in
                        guard case .truncated = error as? FormatError else { return XCTFail("\(context): \(error)") }
                    }
                    continue
                }
                let read = try readSegment(prefix, sealed: false)
                let whole = chunks.filter { $0.offset + $0.header.frameLength <= cut }.count
                XCTAssertEqual(read.records, Array(records.prefix(whole * 3)), context)
                XCTAssertNil(read.problem, context)
                if boundaries.contains(cut) {
                    XCTAssertTrue(read.damage.isEmpty, context)
                } else {
                    XCTAssertEqual(read.damage.count, 1, context)
                    XCTAssertTrue(read.hasTornTail, context)
                    if case .tornTail(let range, _)? = read.damage.last {
                        XCTAssertEqual(range, chunks[whole].offset..<cut, context)
                    }
                    XCTAssertThrowsError(try SegmentEncoder.decodeAll(prefix), context)
                }
            }
        } }
    }

    func testTruncatedSealedSegmentFallsBackToAScan() throws {
        let records = makeRecords(count: 9, payloadSize: { _ in 40 }, key: { $0 % 2 == 0 ? [UInt8($0)] : nil })
        let bytes = SegmentEncoder.encode(records, options: SegmentEncoder.Options(baseSequence: 1, chunkTargetSizeBytes: 256))
        for cut in FormatConstants.segmentHeaderSizeBytes..<bytes.count {
            let prefix = Array(bytes[..<cut])
            let view = try prefix.withUnsafeBytes { try SegmentView($0) }
            XCTAssertFalse(view.isSealed, "cut \(cut)")
            let read = try readSegment(prefix, sealed: false)
            XCTAssertEqual(read.records, Array(records.prefix(read.records.count)), "cut \(cut)")
        }
    }

    // MARK: Bit flips, one structure at a time

    func testFlippedSegmentHeaderByteIsDetected() {
        let bytes = SegmentEncoder.encode(makeRecords(count: 2), options: SegmentEncoder.Options(baseSequence: 1))
        for at in 0..<FormatConstants.segmentHeaderSizeBytes {
            for bit in [0, 5] {
                var damaged = bytes
                flipBit(&damaged, at: at, bit: bit)
                let result = damaged.withUnsafeBytes { SegmentHeader.decode($0) }
                guard case .failure(let error) = result else {
                    XCTFail("flip of bit \(bit) at \(at) not detected")
                    continue
                }
                switch (at, error) {
                case (0..<8, .badMagic), (12..<14, .badLength), (_, .crcMismatch), (_, .truncated): break
                default: XCTFail("flip of bit \(bit) at \(at): unexpected \(error)")
                }
            }
        }
    }

    func testFlippedRecordIsCaughtByChunkAndRecordCRC() throws {
        let records = makeRecords(count: 3, payloadSize: { _ in 20 })
        let bytes = SegmentEncoder.encodeUnsealed(records, options: SegmentEncoder.Options(baseSequence: 1))
        let (offset, header) = try XCTUnwrap(frames(of: bytes).first)
        let secondRecord = records[0].encodedSizeBytes
        var damaged = bytes
        flipBit(&damaged, at: offset + header.headerLength + secondRecord + 40, bit: 3)
        damaged.withUnsafeBytes { buffer in
            guard case .crcMismatch(let at, let what, _, _)? = header.checkData(buffer, headerOffset: offset) else {
                return XCTFail("chunk data CRC missed the flip")
            }
            XCTAssertEqual(at, offset)
            XCTAssertEqual(what, "frame data")
            // Past the chunk CRC, the record's own CRC still catches it, at the record's offset.
            var seen = 0
            let result = ChunkReader.withData(buffer, header: header, offset: offset, decompressor: Decompressor(), checkCRC: false) { data in
                ChunkReader.forEachRecord(data, shape: ChunkShape(header)) { _ in
                    seen += 1
                    return true
                }
            }
            guard case .success(.crcMismatch(let recordAt, "record", _, _)?) = result else {
                return XCTFail("record CRC missed the flip: \(result)")
            }
            XCTAssertEqual(recordAt, secondRecord)
            XCTAssertEqual(seen, 1, "only the record before the damage is delivered")
        }
    }

    func testFlippedCompressedDataIsCaughtBeforeDecompression() throws {
        let (bytes, _, chunks) = threeChunkSegment(codec: .zstd)
        let (offset, header) = chunks[0]
        XCTAssertEqual(header.codec, Codec.zstd.rawValue)
        var damaged = bytes
        flipBit(&damaged, at: offset + header.headerLength + Int(header.storedLength) / 2)
        damaged.withUnsafeBytes { buffer in
            var called = false
            let result = ChunkReader.withData(buffer, header: header, offset: offset, decompressor: Decompressor()) { _ in
                called = true
            }
            guard case .failure(.crcMismatch(offset, "frame data", _, _)) = result else { return XCTFail("\(result)") }
            XCTAssertFalse(called)
        }
    }

    func testFlippedChunkIndexIsDetected() throws {
        let bytes = SegmentEncoder.encode(makeRecords(count: 4), options: SegmentEncoder.Options(baseSequence: 1))
        let footer = try bytes.withUnsafeBytes { try SegmentFooter.decode($0).get() }
        let at = Int(footer.chunkIndexOffset)
        for (position, expected) in [(at + 20, "frame header"), (at + 56 + 8 + 17, "frame data")] {
            var damaged = bytes
            flipBit(&damaged, at: position)
            XCTAssertThrowsError(try damaged.withUnsafeBytes { try SegmentView(sealed: $0) }) { error in
                guard case .crcMismatch(at, expected, _, _)? = error as? FormatError else { return XCTFail("\(error)") }
            }
            XCTAssertThrowsError(try SegmentEncoder.decodeAll(damaged))
        }
    }

    func testFlippedKeyTableIsDetected() throws {
        let records = makeRecords(count: 4, key: { Array("key\($0)".utf8) })
        let bytes = SegmentEncoder.encode(records, options: SegmentEncoder.Options(baseSequence: 1))
        let footer = try bytes.withUnsafeBytes { try SegmentFooter.decode($0).get() }
        let at = Int(footer.keyTableOffset)
        XCTAssertNotEqual(at, 0)
        var damaged = bytes
        flipBit(&damaged, at: at + 56 + 8 + 3)
        damaged.withUnsafeBytes { buffer in
            guard case .success(let header) = FrameHeader.decode(buffer, at: at) else { return XCTFail("header") }
            guard case .crcMismatch(at, "frame data", _, _)? = header.checkData(buffer, headerOffset: at) else {
                return XCTFail("key table data CRC missed the flip")
            }
        }
        XCTAssertThrowsError(try SegmentEncoder.decodeAll(damaged))
    }

    func testFlippedFooterByteIsDetected() {
        let bytes = SegmentEncoder.encode(makeRecords(count: 2), options: SegmentEncoder.Options(baseSequence: 1))
        let start = bytes.count - FormatConstants.footerSizeBytes
        for at in start..<bytes.count {
            var damaged = bytes
            flipBit(&damaged, at: at, bit: at % 8)
            let result = damaged.withUnsafeBytes { SegmentFooter.decode($0) }
            guard case .failure(let error) = result else {
                XCTFail("flip at \(at) not detected")
                continue
            }
            switch error {
            case .badMagic, .crcMismatch: break
            default: XCTFail("flip at \(at): unexpected \(error)")
            }
            XCTAssertThrowsError(try SegmentEncoder.decodeAll(damaged), "flip at \(at)")
        }
    }

    /// Every structure is covered by a CRC or a magic: a flipped bit anywhere is caught.
    func testEveryBitFlipInASealedSegmentIsDetected() throws {
        let records = makeRecords(count: 6, payloadSize: { 10 + $0 }, key: { $0 % 2 == 0 ? Array("k\($0)".utf8) : nil })
        let bytes = SegmentEncoder.encode(records, options: SegmentEncoder.Options(baseSequence: 1, chunkTargetSizeBytes: 256))
        XCTAssertEqual(try SegmentEncoder.decodeAll(bytes), records)
        for at in bytes.indices {
            var damaged = bytes
            flipBit(&damaged, at: at, bit: at % 8)
            XCTAssertThrowsError(try SegmentEncoder.decodeAll(damaged), "flip of bit \(at % 8) at offset \(at) of \(bytes.count)")
        }
    }

    // MARK: Resynchronisation

    func testScannerResyncsAfterADamagedMiddleChunk() throws {
        for codec in Codec.allCases { for layout in ChunkLayout.allCases {
            let (bytes, records, chunks) = threeChunkSegment(codec: codec, layout: layout)
            let middle = chunks[1]
            let places = [
                ("data", middle.offset + middle.header.headerLength + 5),
                ("header", middle.offset + 30),
                ("magic", middle.offset + 1),
            ]
            for (place, at) in places {
                var damaged = bytes
                flipBit(&damaged, at: at, bit: 2)
                let context = "codec \(codec), \(layout), flip in the middle chunk's \(place)"
                let read = try readSegment(damaged, sealed: false)
                XCTAssertEqual(read.records, Array(records[0..<3] + records[6..<9]), context)
                XCTAssertEqual(read.chunkCount, 2, context)
                XCTAssertEqual(read.damage.count, 1, context)
                if case .damaged(let range, _)? = read.damage.first {
                    XCTAssertEqual(range, middle.offset..<chunks[2].offset, context)
                } else {
                    XCTFail("\(context): \(read.damage)")
                }
                XCTAssertThrowsError(try SegmentEncoder.decodeAll(damaged), context)
            }
        } }
    }

    func testScannerSkipsGarbageBetweenFrames() throws {
        let (bytes, records, chunks) = threeChunkSegment(codec: .none)
        // Garbage that contains a frame magic without a valid header after it.
        let garbage: [UInt8] = [0x52, 0x52, 0x43, 0x4B] + [UInt8](repeating: 0xEE, count: 70)
        let damaged = Array(bytes[..<chunks[1].offset]) + garbage + Array(bytes[chunks[1].offset...])
        let read = try readSegment(damaged, sealed: false)
        XCTAssertEqual(read.records, records)
        guard case .damaged(let range, _)? = read.damage.first, read.damage.count == 1 else {
            return XCTFail("\(read.damage)")
        }
        XCTAssertEqual(range, chunks[1].offset..<(chunks[1].offset + garbage.count))
    }

    // MARK: Lying lengths

    func testGarbageRecordLengthsNeverAllocate() {
        var record = RecordCodec.encode(Record(sequence: 1, timestampNs: 2, kind: 3, key: [1], payload: [4, 5]))
        var huge = record
        storeU32(&huge, 4, 0xFFFF_FFF0)
        huge.withUnsafeBytes { data in
            guard case .failure(.truncated) = RecordCodec.decode(data, at: 0) else { return XCTFail("record length") }
        }
        var tiny = record
        storeU32(&tiny, 4, 3)
        tiny.withUnsafeBytes { data in
            guard case .failure(.badLength) = RecordCodec.decode(data, at: 0) else { return XCTFail("short record length") }
        }
        // A payload length larger than the record, with a good CRC.
        storeU32(&record, 30, 0xFFFF_FFF0)
        fixRecordChecksum(&record, at: 0)
        record.withUnsafeBytes { data in
            guard case .failure(.badLength(0, "key and payload length", _, _)) = RecordCodec.decode(data, at: 0) else {
                return XCTFail("payload length")
            }
        }
    }

    func testGarbageFrameLengthsNeverAllocate() {
        let bytes = SegmentEncoder.encodeUnsealed(makeRecords(count: 2), options: SegmentEncoder.Options(baseSequence: 1, codec: .zstd))
        let at = FormatConstants.segmentHeaderSizeBytes
        for (field, value) in [(12, UInt32(0xFFFF_FFF0)), (16, 0xFFFF_FFF0)] {
            var damaged = bytes
            storeU32(&damaged, at + field, value)
            fixFrameHeaderChecksum(&damaged, at: at)
            let expected = UInt64(value)
            damaged.withUnsafeBytes { buffer in
                guard case .failure(.badLength(at, _, expected, _)) = FrameHeader.decode(buffer, at: at) else {
                    return XCTFail("field at \(field)")
                }
            }
            XCTAssertThrowsError(try SegmentEncoder.decodeAll(damaged))
        }
        var longHeader = bytes
        storeU16(&longHeader, at + 8, 0xFFFF)
        longHeader.withUnsafeBytes { buffer in
            guard case .failure(.badLength(at, "frame header length", 0xFFFF, _)) = FrameHeader.decode(buffer, at: at) else {
                return XCTFail("header length")
            }
        }
        var longSegmentHeader = bytes
        storeU16(&longSegmentHeader, 12, 0xFFFF)
        longSegmentHeader.withUnsafeBytes { buffer in
            guard case .failure(.badLength(12, _, 0xFFFF, _)) = SegmentHeader.decode(buffer) else {
                return XCTFail("segment header length")
            }
        }
        // A raw length above the cap is refused by the decompressor itself too.
        let result = [UInt8](repeating: 1, count: 8).withUnsafeBytes {
            Decompressor().decompress($0, codec: Codec.zstd.rawValue, rawLength: Int.max, frameOffset: 0)
        }
        guard case .failure(.badLength) = result else { return XCTFail("decompressor cap") }
    }

    func testGarbageIndexCountsNeverAllocate() throws {
        var chunkIndex: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0]
        storeU32(&chunkIndex, 0, 0xFFFF_FFF0)
        chunkIndex.withUnsafeBytes { body in
            guard case .failure(.badLength(_, "chunk count", _, _)) = ChunkIndexCodec.decode(body) else { return XCTFail("count") }
        }
        storeU32(&chunkIndex, 0, 1_000)
        chunkIndex.withUnsafeBytes { body in
            guard case .failure(.truncated) = ChunkIndexCodec.decode(body) else { return XCTFail("count beyond body") }
        }
        for (slots, entries) in [(UInt32(0x8000_0000), UInt32(1)), (0, 0), (12, 1), (8, 9), (1 << 20, 1)] {
            var keyTable = [UInt8](repeating: 0, count: 8 + 8 * 16)
            storeU32(&keyTable, 0, slots)
            storeU32(&keyTable, 4, entries)
            XCTAssertThrowsError(try keyTable.withUnsafeBytes { try KeyTable(body: $0) }, "slots \(slots), entries \(entries)")
        }
    }
}

import RRLogFormat
import XCTest

/// FORMAT.md §4.1 and what version 2 adds to §2, §3 and §6.1: column chunks are checked as
/// carefully as rows, and what no CRC of their data covers is checked against the frame header.
final class ColumnChunkTests: XCTestCase {
    private func columnSegment(codec: Codec = .zstd) -> (bytes: [UInt8], records: [Record]) {
        let records = makeRecords(count: 40, payloadSize: { 20 + $0 % 30 }, key: { $0 % 3 == 0 ? Array("key-\($0)".utf8) : nil })
        let options = SegmentEncoder.Options(segmentID: 2, baseSequence: 1, codec: codec, chunkTargetSizeBytes: 512, layout: .columns)
        return (SegmentEncoder.encode(records, options: options), records)
    }

    func testEncoderWritesVersionTwoColumnChunks() throws {
        let (bytes, records) = columnSegment()
        let chunks = frames(of: bytes).filter { $0.header.type == FrameType.chunk.rawValue }
        XCTAssertGreaterThan(chunks.count, 2)
        XCTAssertTrue(chunks.allSatisfy { $0.header.layout == ChunkLayout.columns.rawValue })
        XCTAssertEqual(try bytes.withUnsafeBytes { try SegmentHeader.decode($0).get().0.version }, 2)
        XCTAssertEqual(try SegmentEncoder.decodeAll(bytes), records)
        for record in records where record.key != nil {
            XCTAssertEqual(try lookup(record.key!, in: bytes), [record])
        }
    }

    /// A version 1 segment has rows only (FORMAT.md §2): a column chunk in one is damage, for the
    /// sealed open, the scan and the strict decoder alike.
    func testColumnChunkInAVersionOneSegmentIsDamage() throws {
        var (bytes, _) = columnSegment()
        storeU16(&bytes, 14, 1)
        fixChecksum(&bytes, crcAt: 8, from: 12, to: FormatConstants.segmentHeaderSizeBytes)
        XCTAssertEqual(try bytes.withUnsafeBytes { try SegmentHeader.decode($0).get().0.version }, 1)
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try SegmentView(sealed: $0) }) { error in
            guard case .badField(_, "chunk layout in a version 1 segment", _)? = error as? FormatError else { return XCTFail("\(error)") }
        }
        let scanned = try readSegment(bytes, sealed: false)
        XCTAssertEqual(scanned.records, [], "no column chunk is read as one")
        XCTAssertEqual(scanned.chunkCount, 0)
        XCTAssertFalse(scanned.damage.isEmpty)
        XCTAssertThrowsError(try SegmentEncoder.decodeAll(bytes))
    }

    /// Column timestamps count from the chunk's `min_timestamp_ns`, which the data CRC does not
    /// cover: an index entry that disagrees with its frame header must not shift them silently.
    func testIndexEntryThatDisagreesWithItsChunkIsNotUsed() throws {
        var (bytes, records) = columnSegment()
        let footer = try bytes.withUnsafeBytes { try SegmentFooter.decode($0).get() }
        let index = Int(footer.chunkIndexOffset)
        let entry0 = index + FormatConstants.frameHeaderSizeBytes + 8
        storeU64(&bytes, entry0 + 32, loadU64(bytes, entry0 + 32) &- 1_000)
        fixFrameDataChecksum(&bytes, at: index)
        try bytes.withUnsafeBytes { buffer in
            let view = try SegmentView(sealed: buffer)
            var delivered = 0
            let result = view.withChunkData(0, decompressor: Decompressor()) { _ in delivered += 1 }
            guard case .failure(.badField(_, let what, _)) = result else { return XCTFail("\(result)") }
            XCTAssertTrue(what.contains("disagrees with its index entry"), what)
            XCTAssertEqual(delivered, 0)
        }
        XCTAssertThrowsError(try SegmentEncoder.decodeAll(bytes))
        // Records of the other chunks are still found, and none comes back with a shifted time.
        for record in records.suffix(10) where record.key != nil {
            XCTAssertEqual(try lookup(record.key!, in: bytes), [record])
        }
    }

    /// Every truncation of a column chunk's decoded data, and a record count that lies, give an
    /// error or a prefix, never a trap or a record that is not in the data.
    func testTruncatedAndLyingColumnDataIsRejected() throws {
        let records = makeRecords(count: 9, payloadSize: { 10 + $0 }, key: { $0 % 2 == 0 ? [UInt8($0)] : nil })
        let bytes = SegmentEncoder.encode(records, options: SegmentEncoder.Options(baseSequence: 1, codec: .none, layout: .columns))
        let (offset, header) = try XCTUnwrap(frames(of: bytes).first)
        let data = Array(bytes[(offset + header.headerLength)..<(offset + header.frameLength)])
        let shape = ChunkShape(header)
        for cut in 0..<data.count {
            let prefix = Array(data[..<cut])
            prefix.withUnsafeBytes { buffer in
                var seen: [Record] = []
                let problem = ChunkReader.forEachRecord(buffer, shape: shape, checkCRC: false) { seen.append($0.makeRecord()); return true }
                XCTAssertNotNil(problem, "cut \(cut)")
                XCTAssertEqual(seen, Array(records.prefix(seen.count)), "cut \(cut): what is delivered is a prefix")
                for i in 0..<records.count {
                    if let r = ChunkReader.record(at: i, in: buffer, shape: shape) { XCTAssertEqual(r.makeRecord(), records[i], "cut \(cut)") }
                }
            }
        }
        for lie in [UInt32(8), 10, 1_000, UInt32.max] {
            var lying = shape
            lying.recordCount = lie
            data.withUnsafeBytes { buffer in
                XCTAssertNotNil(ChunkReader.forEachRecord(buffer, shape: lying) { _ in true }, "count \(lie)")
            }
        }
        var flipped = data
        flipBit(&flipped, at: data.count - 3)
        let problem = flipped.withUnsafeBytes { buffer in ChunkReader.forEachRecord(buffer, shape: shape, { _ in true }) }
        guard case .crcMismatch(_, "column chunk content", _, _)? = problem else { return XCTFail("the content CRC missed the flip: \(String(describing: problem))") }
    }
}

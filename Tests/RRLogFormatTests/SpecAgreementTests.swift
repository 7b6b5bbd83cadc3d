import RRLogFormat
import XCTest

/// Rules FORMAT.md once stated two ways (issue 19), each pinned to the one the code keeps.
final class SpecAgreementTests: XCTestCase {
    /// §0: readers ignore reserved fields. A flags byte with reserved bits set decodes to the same
    /// records in rows (§4) and in columns (§4.1), its CRCs made valid as a later writer would.
    func testReservedFlagBitsAreIgnoredInRowsAndColumns() throws {
        let records = makeRecords(count: 6, payloadSize: { 5 + $0 }, key: { $0 % 2 == 0 ? Array("k\($0)".utf8) : nil })
        for layout in ChunkLayout.allCases {
            var bytes = SegmentEncoder.encode(records, options: SegmentEncoder.Options(baseSequence: 1, codec: .none, layout: layout))
            let (offset, header) = try XCTUnwrap(frames(of: bytes).first { $0.header.type == FrameType.chunk.rawValue })
            let dataAt = offset + header.headerLength
            switch layout {
            case .rows:
                // The first record's flags byte (it has a key: bit 0 stays set).
                bytes[dataAt + 9] |= 0xFE
                var data = Array(bytes[dataAt..<(offset + header.frameLength)])
                fixRecordChecksum(&data, at: 0)
                bytes.replaceSubrange(dataAt..<(offset + header.frameLength), with: data)
            case .columns:
                let n = Int(header.recordCount)
                let flagsAt = dataAt + 8 + 10 * n
                for i in 0..<n { bytes[flagsAt + i] |= 0xFE }
                fixChecksum(&bytes, crcAt: dataAt + 4, from: dataAt + 8, to: offset + header.frameLength)
            }
            fixFrameDataChecksum(&bytes, at: offset)
            XCTAssertEqual(try SegmentEncoder.decodeAll(bytes), records, "\(layout)")
            XCTAssertEqual(try readSegment(bytes, sealed: false).records, records, "\(layout), scanned")
            XCTAssertEqual(try lookup(Array("k2".utf8), in: bytes), [records[2]], "\(layout), looked up")
        }
    }

    /// §7 and §6.1: every frame starts at or after header_length. A footer that points its chunk
    /// index into a longer segment header is damage, even when a valid frame sits there.
    func testChunkIndexInsideTheSegmentHeaderIsRejected() throws {
        let emptyIndex = SegmentIndexBuilder().encodeChunkIndex()
        let assembler = SegmentAssembler(options: SegmentEncoder.Options(baseSequence: 1, codec: .none), segmentHeaderPadding: emptyIndex)
        var bytes = assembler.assemble([], sealed: true)
        let footerAt = bytes.count - FormatConstants.footerSizeBytes
        XCTAssertEqual(Int(loadU64(bytes, footerAt + 8)), FormatConstants.segmentHeaderSizeBytes + emptyIndex.count)
        XCTAssertNoThrow(try bytes.withUnsafeBytes { try SegmentView(sealed: $0) }, "the segment as assembled is valid")
        storeU64(&bytes, footerAt + 8, UInt64(FormatConstants.segmentHeaderSizeBytes))
        fixChecksum(&bytes, crcAt: footerAt + 4, from: footerAt + 8, to: bytes.count)
        XCTAssertThrowsError(try bytes.withUnsafeBytes { try SegmentView(sealed: $0) }) { error in
            guard case .badField(footerAt + 8, "chunk index offset inside the segment header", 48)? = error as? FormatError else {
                return XCTFail("\(error)")
            }
        }
        // A reader falls back to a scan, which starts at header_length and meets only the footer.
        let scanned = try bytes.withUnsafeBytes { try SegmentView($0) }
        XCTAssertEqual(scanned.chunks.count, 0)
        XCTAssertNotNil(scanned.footer)
    }

    /// §6.1 and §8 give one cap for chunk_count: what fits one frame.
    func testChunkCountCapIsWhatFitsOneFrame() throws {
        XCTAssertEqual(FormatConstants.chunkCountMax, 5_593_855)
        XCTAssertLessThanOrEqual(8 + 48 * FormatConstants.chunkCountMax, FormatConstants.frameDataSizeBytesMax)
        XCTAssertGreaterThan(8 + 48 * (FormatConstants.chunkCountMax + 1), FormatConstants.frameDataSizeBytesMax)
        var body = [UInt8](repeating: 0, count: 8)
        storeU32(&body, 0, UInt32(FormatConstants.chunkCountMax + 1))
        body.withUnsafeBytes { raw in
            guard case .failure(.badLength(_, "chunk count", _, 5_593_855)) = ChunkIndexCodec.decode(raw) else {
                return XCTFail("a chunk count above the cap is rejected before its entries are read")
            }
        }
    }
}

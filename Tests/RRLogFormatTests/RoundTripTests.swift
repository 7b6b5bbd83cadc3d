import RRLogFormat
import XCTest

/// Encode, decode, compare: over record sizes around chunk boundaries and every codec.
final class RoundTripTests: XCTestCase {
    /// Record sizes just under, at and over the chunk target (and its half), with and without keys,
    /// compressible and not, for every codec. Prints the failing combination.
    func testRoundTripAroundChunkBoundariesForEveryCodec() throws {
        let target = 256
        let header = FormatConstants.recordHeaderSizeBytes
        var encodedSizes = [header, header + 1]
        for edge in [target / 2, target, 2 * target] { encodedSizes += (edge - 2)...(edge + 2) }
        var rng = SeededGenerator.seeded(#function)
        var failures = 0
        for codec in Codec.allCases { for layout in ChunkLayout.allCases {
            for encodedSize in encodedSizes {
                for keySize in [nil, 0, 7] as [Int?] {
                    for count in [1, 2, 3, 5, 9] {
                        for compressible in [true, false] {
                            let payloadSize = encodedSize - header - (keySize ?? 0)
                            guard payloadSize >= 0 else { continue }
                            let records = (0..<count).map { i in
                                Record(
                                    sequence: 1_000 + UInt64(i), timestampNs: Int64(i) * 7 - 3, kind: UInt16(i),
                                    key: keySize.map { Array("key\(i)xxxxxxx".utf8.prefix($0)) },
                                    payload: compressible
                                        ? compressibleBytes(payloadSize, seed: i) : randomBytes(payloadSize, using: &rng))
                            }
                            let combination =
                                "codec \(codec), \(layout), record size \(encodedSize), key \(keySize.map(String.init) ?? "none"), "
                                + "\(count) records, compressible \(compressible)"
                            let options = SegmentEncoder.Options(
                                segmentID: 3, baseSequence: 1_000, createdNs: 9, codec: codec, chunkTargetSizeBytes: target,
                                layout: layout)
                            if !roundTrips(records, options: options, combination) { failures += 1 }
                            if failures > 5 { return XCTFail("stopping after \(failures) failing combinations") }
                        }
                    }
                }
            }
        } }
    }

    /// Column timestamps are differences computed with wrapping arithmetic (FORMAT.md §4.1): any
    /// order and the extremes of `Int64` come back exactly.
    func testColumnTimestampsSurviveAnyOrderAndTheExtremes() throws {
        let times: [Int64] = [0, -1, .max, .min, 5, .min + 1, .max - 1, 1_700_000_000_000_000_000, -42, 0]
        let records = times.enumerated().map { i, t in
            Record(sequence: 10 + UInt64(i), timestampNs: t, kind: UInt16(i), key: i % 2 == 0 ? [UInt8(i)] : nil, payload: Array("p\(i)".utf8))
        }
        for codec in Codec.allCases {
            let options = SegmentEncoder.Options(baseSequence: 10, codec: codec, layout: .columns)
            XCTAssertTrue(roundTrips(records, options: options, "codec \(codec), extreme timestamps"))
        }
    }

    /// Checks one combination; returns false (after reporting) when it fails.
    private func roundTrips(_ records: [Record], options: SegmentEncoder.Options, _ combination: String) -> Bool {
        let sealed = SegmentEncoder.encode(records, options: options)
        let unsealed = SegmentEncoder.encodeUnsealed(records, options: options)
        var ok = true
        func check(_ condition: Bool, _ what: String) {
            if !condition {
                XCTFail("\(combination): \(what)")
                ok = false
            }
        }
        check(sealed.starts(with: unsealed), "the sealed segment does not extend the unsealed one")
        check((try? SegmentEncoder.decodeAll(sealed)) == records, "sealed decodeAll differs")
        check((try? SegmentEncoder.decodeAll(unsealed)) == records, "unsealed decodeAll differs")
        check((try? readSegment(sealed, sealed: true))?.records == records, "sealed view differs")
        check((try? readSegment(sealed, sealed: false))?.records == records, "scan differs")
        // Every chunk stays within the target, except a chunk holding a single larger record.
        for (_, header) in frames(of: sealed) where header.type == FrameType.chunk.rawValue {
            check(
                Int(header.rawLength) <= options.chunkTargetSizeBytes || header.recordCount == 1,
                "chunk of \(header.recordCount) records and \(header.rawLength) bytes over the target")
            check(header.codec == Codec.none.rawValue || header.storedLength < header.rawLength, "compression grew the chunk")
            check(header.layout == options.effectiveLayout.rawValue, "chunk layout \(header.layout)")
        }
        return ok
    }

    func testUnalignedStartSequenceAndEmptyKeys() throws {
        let records = [
            Record(sequence: 500, timestampNs: .min, kind: .max, key: [], payload: []),
            Record(sequence: 501, timestampNs: .max, kind: 0, key: nil, payload: [0]),
            Record(sequence: 502, timestampNs: 0, kind: 1, key: [0], payload: []),
        ]
        let options = SegmentEncoder.Options(baseSequence: 10, codec: .zstd)
        let decoded = try SegmentEncoder.decodeAll(SegmentEncoder.encode(records, options: options))
        XCTAssertEqual(decoded, records)
        XCTAssertEqual(decoded[0].key, [], "an empty key stays a key")
        XCTAssertNil(decoded[1].key)
    }

    /// Recovery may drop a damaged chunk and leave a gap in a segment's sequences (FORMAT.md §3).
    func testSequenceGapStartsANewChunk() throws {
        var records = makeRecords(count: 6)
        for i in 3..<6 { records[i].sequence += 10 }
        let bytes = SegmentEncoder.encode(records, options: SegmentEncoder.Options(baseSequence: 1))
        let chunks = frames(of: bytes).filter { $0.header.type == FrameType.chunk.rawValue }
        XCTAssertEqual(chunks.map(\.header.recordCount), [3, 3])
        XCTAssertEqual(chunks.map(\.header.firstSequence), [1, 14])
        XCTAssertEqual(try SegmentEncoder.decodeAll(bytes), records)
        try bytes.withUnsafeBytes { buffer in
            let view = try SegmentView(sealed: buffer)
            XCTAssertEqual(view.chunkOrdinal(containing: 3), 0)
            XCTAssertEqual(view.chunkOrdinal(containing: 14), 1)
            XCTAssertNil(view.chunkOrdinal(containing: 5), "inside the gap")
        }
    }

    func testEmptySegments() throws {
        let options = SegmentEncoder.Options(segmentID: 2, baseSequence: 0)
        let sealed = SegmentEncoder.encode([], options: options)
        XCTAssertEqual(try SegmentEncoder.decodeAll(sealed), [])
        let footer = try sealed.withUnsafeBytes { try SegmentFooter.decode($0).get() }
        XCTAssertEqual(footer.recordCount, 0)
        XCTAssertEqual(footer.firstSequence, 0)
        XCTAssertEqual(footer.lastSequence, UInt64.max, "last = first - 1, wrapping")
        XCTAssertEqual(footer.keyTableOffset, 0)
        let unsealed = SegmentEncoder.encodeUnsealed([], options: options)
        XCTAssertEqual(unsealed.count, FormatConstants.segmentHeaderSizeBytes)
        XCTAssertEqual(try SegmentEncoder.decodeAll(unsealed), [])
    }

    /// Decode, re-encode, decode: what the fuzzers assert, on every fixture.
    func testDecodeReencodeIsStable() throws {
        for fixture in FixtureCatalog.all() {
            let decoded = try SegmentEncoder.decodeAll(fixture.bytes)
            for codec in Codec.allCases {
                var options = fixture.options
                options.codec = codec
                XCTAssertEqual(try SegmentEncoder.decodeAll(SegmentEncoder.encode(decoded, options: options)), decoded, fixture.name)
            }
        }
    }

    /// The hand assembler, without padding, writes what the encoder writes: two independent
    /// paths from records to bytes agree (for rows, the layout the assembler writes).
    func testAssemblerAndEncoderAgree() {
        for codec in Codec.allCases {
            let records = makeRecords(count: 23, payloadSize: { 10 + $0 * 5 }, key: { $0 % 4 == 0 ? Array("k\($0 % 8)".utf8) : nil })
            let options = SegmentEncoder.Options(
                segmentID: 4, baseSequence: 1, createdNs: 5, codec: codec, chunkTargetSizeBytes: 300, layout: .rows)
            let encoded = SegmentEncoder.encode(records, options: options)
            // Split the records as the encoder did, from its chunk headers.
            var parts: [SegmentAssembler.Part] = []
            var next = 0
            for (_, header) in frames(of: encoded) where header.type == FrameType.chunk.rawValue {
                let count = Int(header.recordCount)
                parts.append(.chunk(records[next..<(next + count)].map { .record($0) }))
                next += count
            }
            XCTAssertEqual(next, records.count)
            XCTAssertEqual(SegmentAssembler(options: options).assemble(parts, sealed: true), encoded, "codec \(codec)")
        }
    }

    func testSealedSegmentLayout() throws {
        let records = makeRecords(count: 10, payloadSize: { _ in 40 }, key: { $0 == 3 ? [1, 2, 3] : nil })
        let bytes = SegmentEncoder.encode(records, options: SegmentEncoder.Options(baseSequence: 1, chunkTargetSizeBytes: 256))
        let all = frames(of: bytes)
        // Header, chunks, then the chunk index, the key table and the footer, in that order.
        XCTAssertEqual(all.first?.offset, FormatConstants.segmentHeaderSizeBytes)
        for (a, b) in zip(all, all.dropFirst()) { XCTAssertEqual(a.offset + a.header.frameLength, b.offset) }
        XCTAssertEqual(all.suffix(2).map(\.header.type), [FrameType.chunkIndex.rawValue, FrameType.keyTable.rawValue])
        let footer = try bytes.withUnsafeBytes { try SegmentFooter.decode($0).get() }
        XCTAssertEqual(Int(footer.chunkIndexOffset), all[all.count - 2].offset)
        XCTAssertEqual(Int(footer.keyTableOffset), all[all.count - 1].offset)
        XCTAssertEqual(all[all.count - 1].offset + all[all.count - 1].header.frameLength, bytes.count - FormatConstants.footerSizeBytes)
        XCTAssertEqual(footer.recordCount, 10)
        XCTAssertEqual(footer.firstSequence, 1)
        XCTAssertEqual(footer.lastSequence, 10)
        try bytes.withUnsafeBytes { buffer in
            let view = try SegmentView(sealed: buffer)
            XCTAssertEqual(view.recordCount, 10)
            for sequence in UInt64(1)...10 {
                let ordinal = try XCTUnwrap(view.chunkOrdinal(containing: sequence))
                XCTAssertTrue(view.chunks[ordinal].firstSequence <= sequence && sequence <= view.chunks[ordinal].lastSequence)
            }
            XCTAssertNil(view.chunkOrdinal(containing: 11))
        }
    }
}

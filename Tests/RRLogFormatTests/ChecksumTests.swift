import RRLogFormat
import XCTest

/// FORMAT.md §1 (CRC32C and its mask), §6.2 (XXH64) and the constants of §2-§8.
final class ChecksumTests: XCTestCase {
    /// A bit-at-a-time CRC32C written from FORMAT.md §1 alone, to check both fast paths against.
    private func referenceCRC32C(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }

    // The vectors of FORMAT.md §1 (the last three are RFC 3720's iSCSI vectors).
    private let crcVectors: [(String, [UInt8], crc: UInt32, masked: UInt32)] = [
        ("empty", [], 0x0000_0000, 0xA282_EAD8),
        ("a", Array("a".utf8), 0xC1D0_4330, 0x28E4_6E78),
        ("123456789", Array("123456789".utf8), 0xE306_9283, 0xC78A_B0E5),
        ("32 zero bytes", [UInt8](repeating: 0, count: 32), 0x8A91_36AA, 0x0FD7_FFFA),
        ("32 0xFF bytes", [UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43, 0xF909_B029),
        ("0x00...0x1F", Array(0..<32), 0x46DD_794E, 0x951F_7892),
    ]

    func testCRC32CVectors() {
        for (name, input, crc, masked) in crcVectors {
            XCTAssertEqual(CRC32C.checksum(input), crc, name)
            XCTAssertEqual(CRC32C.portableChecksum(input), crc, name)
            XCTAssertEqual(referenceCRC32C(input), crc, name)
            XCTAssertEqual(CRC32C.mask(crc), masked, name)
            XCTAssertEqual(CRC32C.unmask(masked), crc, name)
        }
    }

    func testHardwareAndPortableCRCAgreeOnRandomData() {
        var rng = SeededGenerator.seeded(#function)
        print("CRC32C hardware path in use: \(CRC32C.usesHardware)")
        var lengths = Array(0...300)
        // Around the three-way split sizes (3 x 32, 3 x 256, 3 x 8192) and past them.
        lengths += [383, 384, 385, 511, 512, 513, 767, 768, 769, 800, 1_000, 4095, 4096, 4097, 24_575, 24_576, 24_577, 25_000, 65_537, 262_157]
        for length in lengths {
            // A few bytes of slack so the data starts at every alignment.
            let shift = Int.random(in: 0..<8, using: &rng)
            let all = randomBytes(length + shift, using: &rng)
            let data = Array(all[shift...])
            let portable = CRC32C.portableChecksum(data)
            let fast = all.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[shift...])) }
            XCTAssertEqual(fast, portable, "length \(length), shift \(shift)")
            if length <= 300 { XCTAssertEqual(portable, referenceCRC32C(data), "length \(length)") }
        }
    }

    func testCRCContinuesFromASeed() {
        var rng = SeededGenerator.seeded(#function)
        for _ in 0..<50 {
            let data = randomBytes(Int.random(in: 0...200, using: &rng), using: &rng)
            let cut = Int.random(in: 0...data.count, using: &rng)
            let first = CRC32C.checksum(Array(data[..<cut]))
            XCTAssertEqual(CRC32C.checksum(Array(data[cut...]), seed: first), CRC32C.checksum(data), "cut \(cut) of \(data.count)")
            XCTAssertEqual(CRC32C.portableChecksum(Array(data[cut...]), seed: first), CRC32C.checksum(data))
        }
    }

    func testMaskRoundTripsAndChangesTheValue() {
        var rng = SeededGenerator.seeded(#function)
        for _ in 0..<1_000 {
            let crc = UInt32.random(in: 0...UInt32.max, using: &rng)
            XCTAssertEqual(CRC32C.unmask(CRC32C.mask(crc)), crc)
        }
        // The reason for masking (FORMAT.md §1): the CRC of bytes that end with their own CRC is a
        // constant, whatever the bytes; masked values break that.
        let a = Array("some bytes".utf8)
        let b = Array("other bytes entirely".utf8)
        func withCRC(_ d: [UInt8], masked: Bool) -> [UInt8] {
            var crc = CRC32C.checksum(d)
            if masked { crc = CRC32C.mask(crc) }
            return d + (0..<4).map { UInt8(truncatingIfNeeded: crc >> (8 * $0)) }
        }
        XCTAssertEqual(CRC32C.checksum(withCRC(a, masked: false)), 0x4867_4BC7)
        XCTAssertEqual(CRC32C.checksum(withCRC(b, masked: false)), 0x4867_4BC7)
        XCTAssertNotEqual(CRC32C.checksum(withCRC(a, masked: true)), CRC32C.checksum(withCRC(b, masked: true)))
    }

    // The vectors of FORMAT.md §6.2.
    func testXXH64Vectors() {
        let vectors: [(String, [UInt8], UInt64)] = [
            ("empty", [], 0xEF46_DB37_51D8_E999),
            ("a", Array("a".utf8), 0xD24E_C4F1_A98C_6E5B),
            ("abc", Array("abc".utf8), 0x44BC_2CF5_AD77_0999),
            ("123456789", Array("123456789".utf8), 0x8CB8_41DB_40E6_AE83),
            ("39-byte sentence", Array("Nobody inspects the spammish repetition".utf8), 0xFBCE_A83C_8A37_8BF1),
            ("0x00...0x63", Array(0..<100), 0x6AC1_E580_3216_6597),
            ("k1 (FORMAT.md §10)", Array("k1".utf8), 0xDFA4_515D_DFF4_07D3),
        ]
        for (name, input, expected) in vectors {
            XCTAssertEqual(XXHash64.hash(input), expected, name)
            XCTAssertEqual(input.withUnsafeBytes { XXHash64.hash($0) }, expected, name)
        }
    }

    func testXXH64DependsOnEveryByteAndLength() {
        var rng = SeededGenerator.seeded(#function)
        var seen = Set<UInt64>()
        for length in 0...80 {
            let data = randomBytes(length, using: &rng)
            XCTAssertTrue(seen.insert(XXHash64.hash(data)).inserted, "length \(length)")
            if length > 0 {
                var flipped = data
                flipBit(&flipped, at: Int.random(in: 0..<length, using: &rng), bit: Int.random(in: 0..<8, using: &rng))
                XCTAssertNotEqual(XXHash64.hash(flipped), XXHash64.hash(data), "length \(length)")
            }
        }
    }

    func testConstantInvariantsHold() {
        XCTAssertEqual(FormatConstants.brokenInvariants(), [])
    }

    func testEncodedSizesMatchTheConstants() {
        XCTAssertEqual(SegmentHeader(segmentID: 1, baseSequence: 2, createdNs: 3).encode().count, FormatConstants.segmentHeaderSizeBytes)
        let frame = FrameHeader(
            type: 1, codec: 0, storedLength: 0, rawLength: 0, recordCount: 0, dataCRC: 0, firstSequence: 0,
            minTimestampNs: 0, maxTimestampNs: 0)
        XCTAssertEqual(frame.encode().count, FormatConstants.frameHeaderSizeBytes)
        let footer = SegmentFooter(chunkIndexOffset: 48, keyTableOffset: 0, recordCount: 0, firstSequence: 1, lastSequence: 0)
        XCTAssertEqual(footer.encode().count, FormatConstants.footerSizeBytes)
        XCTAssertEqual(
            RecordCodec.encode(Record(sequence: 1, timestampNs: 0, kind: 0, payload: [])).count,
            FormatConstants.recordHeaderSizeBytes)
        XCTAssertEqual(Array(footer.encode().suffix(8)), FormatConstants.segmentMagic)
        XCTAssertEqual(Array("\u{89}RRLOG\r\n".unicodeScalars.map { UInt8($0.value) }), FormatConstants.segmentMagic)
        XCTAssertEqual(Array(frame.encode().prefix(4)), Array("RRCK".utf8))
        XCTAssertEqual(Array(footer.encode().prefix(4)), Array("RRFT".utf8))
    }
}

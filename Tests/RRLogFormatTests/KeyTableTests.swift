import Foundation
import RRLogFormat
import XCTest

/// FORMAT.md §6.2: the key table finds every keyed record, oldest first, and a reader that
/// compares full keys is never fooled by equal hashes.
final class KeyTableTests: XCTestCase {
    func testEveryKeyedRecordIsFoundOldestFirst() throws {
        for codec in Codec.allCases {
            let records = makeRecords(
                count: 300, payloadSize: { 5 + $0 % 50 }, key: { $0 % 5 == 4 ? nil : Array("GET /item/\($0 % 37)".utf8) })
            let bytes = SegmentEncoder.encode(
                records, options: SegmentEncoder.Options(baseSequence: 1, codec: codec, chunkTargetSizeBytes: 1_024))
            XCTAssertGreaterThan(frames(of: bytes).count, 10, "the records span many chunks")
            let keys = Set(records.compactMap(\.key))
            for key in keys {
                let expected = records.filter { $0.key == key }
                XCTAssertEqual(try lookup(key, in: bytes), expected, "codec \(codec), key \(String(decoding: key, as: UTF8.self))")
            }
            XCTAssertEqual(try lookup(Array("GET /item/99".utf8), in: bytes), [])
            try bytes.withUnsafeBytes { buffer in
                let table = try XCTUnwrap(try SegmentView(sealed: buffer).keyTable)
                XCTAssertEqual(table.entryCount, records.filter { $0.key != nil }.count)
                XCTAssertEqual(table.slotCount, KeyTable.slotCount(forEntries: table.entryCount))
            }
        }
    }

    func testFixtureKeysAreFound() throws {
        for name in [
            "keys-none", "keys-lz4", "keys-zstd", "padded-unknown-record", "padded-record-trailing-bytes",
            "columns-none", "columns-lz4", "columns-zstd",
        ] {
            let bytes = FixtureCatalog.all().first { $0.name == name }!.bytes
            XCTAssertEqual(try lookup(Array("GET /users/1".utf8), in: bytes).map(\.sequence), [100, 103], name)
            XCTAssertEqual(try lookup(Array("GET /users/2".utf8), in: bytes).map(\.sequence), [101], name)
            XCTAssertEqual(try lookup([], in: bytes).map(\.sequence), [104], "\(name): the empty key")
            XCTAssertEqual(try lookup(Array("POST /users".utf8), in: bytes).map(\.sequence), [105], name)
        }
    }

    func testFixtureWithATableOfTwentySevenSlotsFindsEveryKey() throws {
        let bytes = try Array(Data(contentsOf: FixturePaths.directory.appendingPathComponent("keys-twenty.rrseg")))
        try bytes.withUnsafeBytes { buffer in
            XCTAssertEqual(try XCTUnwrap(try SegmentView(sealed: buffer).keyTable).slotCount, 27)
        }
        for k in 0..<5 {
            XCTAssertEqual(try lookup(Array("GET /items/\(k)".utf8), in: bytes).map(\.sequence), (0..<4).map { 100 + UInt64(k + 5 * $0) })
        }
        XCTAssertEqual(try lookup(Array("GET /items/5".utf8), in: bytes), [])
    }

    func testSlotCounts() {
        let expected: [(Int, Int)] = [(0, 8), (1, 8), (6, 8), (7, 10), (12, 16), (13, 18), (400, 534), (768, 1_024), (769, 1_026)]
        for (entries, slots) in expected {
            XCTAssertEqual(KeyTable.slotCount(forEntries: entries), slots, "\(entries) entries")
        }
    }

    /// Two entries claim the hash of "beta"; one of them points at the record keyed "alpha".
    /// A lookup of "beta" must return only the record keyed "beta".
    func testCollidingSlotHashDoesNotReturnTheWrongRecord() throws {
        let alpha = Record(sequence: 1, timestampNs: 0, kind: 0, key: Array("alpha".utf8), payload: Array("A".utf8))
        let beta = Record(sequence: 2, timestampNs: 0, kind: 0, key: Array("beta".utf8), payload: Array("B".utf8))
        let betaHash = XXHash64.hash(Array("beta".utf8))
        var index = SegmentIndexBuilder()
        index.addKey(hash: betaHash, offsetInChunk: 0)
        index.addKey(hash: betaHash, offsetInChunk: alpha.encodedSizeBytes)
        let bytes = sealByHand([alpha, beta], index: &index)

        var candidates = 0
        try bytes.withUnsafeBytes { buffer in
            let table = try XCTUnwrap(try SegmentView(sealed: buffer).keyTable)
            table.forEachCandidate(hash: betaHash) { _ in
                candidates += 1
                return true
            }
        }
        XCTAssertEqual(candidates, 2, "both entries share the slot hash")
        XCTAssertEqual(try lookup(Array("beta".utf8), in: bytes), [beta])
        XCTAssertEqual(try lookup(Array("alpha".utf8), in: bytes), [], "alpha's hash is not in this table")
    }

    func testZeroHashIsStoredAsOne() throws {
        let record = Record(sequence: 1, timestampNs: 0, kind: 0, key: [9], payload: [])
        var index = SegmentIndexBuilder()
        index.addKey(hash: 0, offsetInChunk: 0)
        let bytes = sealByHand([record], index: &index)
        try bytes.withUnsafeBytes { buffer in
            let table = try XCTUnwrap(try SegmentView(sealed: buffer).keyTable)
            var stored: [UInt64] = []
            table.forEachEntry { hash, _ in stored.append(hash) }
            XCTAssertEqual(stored, [1], "0 marks an empty slot, so hash 0 is stored as 1")
            for hash: UInt64 in [0, 1] {
                var found: [RecordLocation] = []
                table.forEachCandidate(hash: hash) { found.append($0); return true }
                XCTAssertEqual(found, [RecordLocation(chunkOrdinal: 0, offsetInChunk: 0)], "hash \(hash)")
            }
        }
    }

    /// Entries whose home is the last slot wrap to slot 0 and stay in insertion order.
    func testProbingWrapsAroundInInsertionOrder() throws {
        var index = SegmentIndexBuilder()
        for i in 0..<3 { index.addKey(hash: 7, offsetInChunk: i * 100) }
        index.addKey(hash: 15, offsetInChunk: 999)  // Same home slot (7 of 8), another hash.
        index.addKey(hash: 0x10, offsetInChunk: 555)  // Home slot 0, already taken: probes on.
        let body = try keyTableBody(&index)
        XCTAssertEqual(loadU32(body, 0), 8, "slots")
        XCTAssertEqual(loadU32(body, 4), 5, "entries")
        // Slot 7, then 0, 1, 2, 3 in insertion order.
        let slotHashes = (0..<8).map { loadU64(body, 8 + $0 * 16) }
        XCTAssertEqual(slotHashes, [7, 7, 15, 0x10, 0, 0, 0, 7])
        try body.withUnsafeBytes { raw in
            let table = try KeyTable(body: raw)
            var offsets: [UInt32] = []
            table.forEachCandidate(hash: 7) { offsets.append($0.offsetInChunk); return true }
            XCTAssertEqual(offsets, [0, 100, 200])
            offsets = []
            table.forEachCandidate(hash: 0x10) { offsets.append($0.offsetInChunk); return true }
            XCTAssertEqual(offsets, [555])
            offsets = []
            table.forEachCandidate(hash: 7) { offsets.append($0.offsetInChunk); return false }
            XCTAssertEqual(offsets, [0], "returning false stops the walk")
        }
    }

    /// Seven entries get 10 slots; homes are `hash mod 10` and probing wraps from slot 9 to 0.
    func testSlotCountThatIsNotAPowerOfTwoHomesByRemainder() throws {
        var index = SegmentIndexBuilder()
        let hashes: [UInt64] = [9, 19, 29, 3, 13, 0xFFFF_FFFF_FFFF_FFFF, 10]  // Last two: homes 5 and 0.
        for (i, hash) in hashes.enumerated() { index.addKey(hash: hash, offsetInChunk: i) }
        let body = try keyTableBody(&index)
        XCTAssertEqual(loadU32(body, 0), 10, "slots")
        let slotHashes = (0..<10).map { loadU64(body, 8 + $0 * 16) }
        XCTAssertEqual(slotHashes, [19, 29, 10, 3, 13, 0xFFFF_FFFF_FFFF_FFFF, 0, 0, 0, 9])
        try body.withUnsafeBytes { raw in
            let table = try KeyTable(body: raw)
            for (i, hash) in hashes.enumerated() {
                var offsets: [UInt32] = []
                table.forEachCandidate(hash: hash) { offsets.append($0.offsetInChunk); return true }
                XCTAssertEqual(offsets, [UInt32(i)], "hash \(hash)")
            }
            var misses = 0
            table.forEachCandidate(hash: 39) { _ in misses += 1; return true }
            XCTAssertEqual(misses, 0)
        }
        var tooFew = [UInt8](repeating: 0, count: 8 + 7 * 16)
        storeU32(&tooFew, 0, 7)
        try tooFew.withUnsafeBytes { raw in
            XCTAssertThrowsError(try KeyTable(body: raw), "FORMAT.md §6.2: at least 8 slots")
        }
    }

    /// A table with no empty slot (never written, but possible in a damaged file) still ends.
    func testFullTableLookupTerminates() throws {
        var body = [UInt8](repeating: 0, count: 8 + 8 * 16)
        storeU32(&body, 0, 8)
        storeU32(&body, 4, 8)
        for slot in 0..<8 { storeU64(&body, 8 + slot * 16, 42) }
        try body.withUnsafeBytes { raw in
            let table = try KeyTable(body: raw)
            var visits = 0
            table.forEachCandidate(hash: 43) { _ in visits += 1; return true }
            XCTAssertEqual(visits, 0)
            table.forEachCandidate(hash: 42) { _ in visits += 1; return true }
            XCTAssertEqual(visits, 8)
        }
    }

    /// `unreachableEntryCount` counts the entries with an empty slot between their home and
    /// them (where a probe stops), also across the wrap from the last slot to slot 0.
    func testUnreachableEntriesAreCounted() throws {
        func count(_ slots: [Int: UInt64]) throws -> Int {
            var body = [UInt8](repeating: 0, count: 8 + 8 * 16)
            storeU32(&body, 0, 8)
            storeU32(&body, 4, UInt32(slots.count))
            for (slot, hash) in slots { storeU64(&body, 8 + slot * 16, hash) }
            return try body.withUnsafeBytes { raw in try KeyTable(body: raw).unreachableEntryCount() }
        }
        var built = SegmentIndexBuilder()
        for (i, hash) in ([7, 7, 15, 0x10, 3] as [UInt64]).enumerated() { built.addKey(hash: hash, offsetInChunk: i) }
        try keyTableBody(&built).withUnsafeBytes { raw in XCTAssertEqual(try KeyTable(body: raw).unreachableEntryCount(), 0) }
        XCTAssertEqual(try count([7: 7, 0: 15, 1: 0x10]), 0, "homes 7, 7, 0: a run across the wrap")
        XCTAssertEqual(try count([0: 15, 1: 0x10]), 1, "home 7 is empty, so the probe for 15 stops there")
        XCTAssertEqual(try count([5: 3]), 1, "home 3, slots 3 and 4 empty")
        XCTAssertEqual(try count([3: 3, 4: 11, 5: 19, 6: 4]), 0)
        XCTAssertEqual(try count([3: 3, 5: 19, 6: 4]), 2, "slot 4 empty: 19 (home 3) and 4 (home 4) are cut off")
        XCTAssertEqual(try count(Dictionary(uniqueKeysWithValues: (0..<8).map { ($0, UInt64(42)) })), 0, "a full table: a probe visits every slot")
    }

    /// The key-table body `index` encodes, given one empty chunk for its entries to name.
    private func keyTableBody(_ index: inout SegmentIndexBuilder) throws -> [UInt8] {
        index.addChunk(ChunkIndexEntry(
            offset: 48, frameLength: 56, rawLength: 0, firstSequence: 1, recordCount: 0, codec: 0, minTimestampNs: 0,
            maxTimestampNs: 0))
        let frame = try XCTUnwrap(index.encodeKeyTable())
        return Array(frame[FormatConstants.frameHeaderSizeBytes...])
    }

    /// One uncompressed chunk of `records`, then the given index (keys already added), its
    /// chunk entry, and a footer.
    private func sealByHand(_ records: [Record], index: inout SegmentIndexBuilder) -> [UInt8] {
        var bytes = SegmentEncoder.encodeUnsealed(records, options: SegmentEncoder.Options(baseSequence: 1))
        for (offset, header) in frames(of: bytes) { index.addChunk(ChunkIndexEntry(header: header, offset: offset)) }
        let chunkIndexOffset = bytes.count
        bytes += index.encodeChunkIndex()
        let keyTableOffset = bytes.count
        bytes += index.encodeKeyTable() ?? []
        bytes += SegmentFooter(
            chunkIndexOffset: UInt64(chunkIndexOffset), keyTableOffset: UInt64(keyTableOffset),
            recordCount: UInt64(records.count), firstSequence: 1, lastSequence: UInt64(records.count)
        ).encode()
        return bytes
    }
}

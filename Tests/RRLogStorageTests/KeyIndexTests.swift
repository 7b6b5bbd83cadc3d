import Foundation
import RRLogFormat
import RRLogStorage
import RRLogTestSupport
import XCTest

final class KeyIndexTests: XCTestCase {
    func testLogKeyIndexAnswersLikePerSegmentTablesAndStaysCorrectAfterAppends() throws {
        for codec in [Codec.none, .zstd] {
            let dir = temporaryDirectory(self) + "/log"
            var options = LogOptions()
            options.codec = codec
            options.chunkSizeBytes = 1024
            options.segmentRecordCountMax = 150
            var w = try LogWriter(directory: dir, options: options)
            // Every seventh key repeats: duplicates must come back oldest first.
            let keyOf = { (i: Int) in Array("k-\(i % 7 == 0 ? 0 : i)".utf8) }
            for i in 0..<1000 { try w.append(RecordInput(timestampNs: Int64(i), kind: 1, key: keyOf(i), payload: Array("v\(i)".utf8))) }
            try w.close()
            let reader = try LogReader(path: dir)
            XCTAssertGreaterThan(reader.segments.count, 5)
            XCTAssertFalse(reader.usesKeyIndex)
            let before = (0..<1000).map { reader.lookup(key: keyOf($0)).map(\.sequence) }
            XCTAssertEqual(try reader.writeKeyIndex(), 1000)
            XCTAssertTrue(reader.usesKeyIndex, "codec \(codec)")
            for i in 0..<1000 {
                XCTAssertEqual(reader.lookup(key: keyOf(i)).map(\.sequence), before[i], "codec \(codec) key \(i)")
                XCTAssertEqual(reader.lookupFirst(key: keyOf(i))?.sequence, before[i].first)
            }
            XCTAssertEqual(reader.lookup(key: keyOf(0)).count, 143)
            XCTAssertTrue(try Verifier.verify(path: dir).isClean)

            // Appends after the index: new segments are probed on their own.
            w = try LogWriter(directory: dir, options: options)
            for i in 1000..<1100 { try w.append(RecordInput(timestampNs: Int64(i), kind: 1, key: keyOf(i), payload: Array("v\(i)".utf8))) }
            try w.close()
            let later = try LogReader(path: dir)
            XCTAssertTrue(later.usesKeyIndex)
            XCTAssertEqual(later.lookup(key: keyOf(1051)).first?.payload, Array("v1051".utf8))
            XCTAssertEqual(later.lookup(key: keyOf(0)).count, 143 + 14 + 1)
            XCTAssertTrue(try Verifier.verify(path: dir).isClean)

            // A damaged index is reported by verify and never yields a wrong record.
            let file = dir + "/" + LogKeyIndex.fileName
            var bytes = readFile(file)
            bytes[bytes.count - 100] ^= 0x5A
            writeFile(file, bytes)
            XCTAssertFalse(try Verifier.verify(path: dir).isClean)
            let damaged = try LogReader(path: dir)
            for i in stride(from: 0, to: 1100, by: 13) {
                for r in damaged.lookup(key: keyOf(i)) { XCTAssertEqual(r.key, keyOf(i)) }
            }
        }
    }

    /// `prefault()` covers the key index and every sealed segment, leaves lookups as they were,
    /// and afterwards reading the mappings takes (almost) no page faults (5-7 here, against about
    /// 100 without it, with the kernel mapping 16 pages per fault); it outlives its reader.
    func testPrefaultCoversTheMappedFilesAndSparesLaterFaults() throws {
        let dir = temporaryDirectory(self) + "/log"
        try writeKeyedLog(dir, count: 8_000, size: 1_000, segmentRecords: 2_000)
        let reader = try LogReader(path: dir)
        try reader.writeKeyIndex()
        XCTAssertTrue(reader.usesKeyIndex)
        let job = reader.prefault()
        job.wait()
        XCTAssertTrue(job.isFinished)
        let indexBytes = Int(try FileManager.default.attributesOfItem(atPath: dir + "/" + LogKeyIndex.fileName)[.size] as! UInt64)
        XCTAssertEqual(job.totalBytes, reader.segments.reduce(indexBytes) { $0 + $1.sizeBytes })
        XCTAssertEqual(job.bytesDone, job.totalBytes)

        let pages = job.totalBytes / 4096
        let faultsBefore = minorFaults()
        var checked = 0
        reader.forEachRecord { view in
            checked += view.payload.count > 0 ? 1 : 0
            return true
        }
        for i in stride(from: 0, to: 8_000, by: 7) {
            XCTAssertEqual(reader.lookupFirst(key: Array("key-\(i)".utf8))?.payload, makeInput(i, size: 1_000).payload)
        }
        let faults = minorFaults() - faultsBefore
        XCTAssertEqual(checked, 8_000)
        XCTAssertLessThan(faults, pages / 64, "\(faults) page faults reading \(pages) prefaulted pages")

        // A prefault may outlive its reader: it keeps the files mapped until it stops.
        var shortLived: LogReader? = try LogReader(path: dir)
        let orphan = shortLived!.prefault()
        shortLived = nil
        orphan.wait()
        XCTAssertTrue(orphan.isFinished)
        XCTAssertLessThanOrEqual(orphan.bytesDone, orphan.totalBytes)
    }

    /// An entry that a lookup cannot reach (an empty slot between its home and it) passes a
    /// check of entries alone; verify probes for each key as a lookup does.
    func testVerifyFindsAKeyTableEntryThatLookupsCannotReach() throws {
        let dir = temporaryDirectory(self) + "/log"
        let w = try LogWriter(directory: dir, options: LogOptions())
        for i in 0..<3 { try w.append(makeInput(i, size: 50)) }
        try w.close()
        XCTAssertTrue(try Verifier.verify(path: dir).isClean)
        let file = segmentFiles(dir)[0]
        var bytes = readFile(file)
        try bytes.withUnsafeMutableBytes { raw in
            let footer = try SegmentFooter.decode(UnsafeRawBufferPointer(raw)).get()
            let at = Int(footer.keyTableOffset)
            var header = try FrameHeader.decode(UnsafeRawBufferPointer(raw), at: at).get()
            let body = at + header.headerLength
            let slots = Int(raw.loadUnaligned(fromByteOffset: body, as: UInt32.self))
            XCTAssertEqual(slots, 8)
            let slot = { (i: Int) in body + 8 + (i % slots) * 16 }
            let occupied = { (i: Int) in raw.loadUnaligned(fromByteOffset: slot(i), as: UInt64.self) != 0 }
            // Move an entry two slots on, past an empty one, where its probe stops.
            let from = try XCTUnwrap((0..<slots).first { occupied($0) && !occupied($0 + 1) && !occupied($0 + 2) })
            for b in 0..<16 {
                raw[slot(from + 2) + b] = raw[slot(from) + b]
                raw[slot(from) + b] = 0
            }
            header.dataCRC = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[body..<(body + Int(header.storedLength))])))
            let encoded = header.encode()
            for (i, b) in encoded.enumerated() { raw[at + i] = b }
        }
        writeFile(file, bytes)
        let report = try Verifier.verify(path: dir)
        XCTAssertTrue(report.problems.contains { $0.description.contains("a lookup cannot reach") }, "\(report.problems)")
    }

    /// A log key index whose CRCs are right but whose entries are not the segments' (one entry
    /// names another record), or that a lookup cannot walk (an entry moved past an empty slot),
    /// is reported by verify; a correct one is clean.
    func testVerifyComparesTheLogKeyIndexWithTheSegmentsTables() throws {
        let dir = temporaryDirectory(self) + "/log"
        try writeKeyedLog(dir, count: 200, size: 20, segmentRecords: 40)
        XCTAssertEqual(try LogReader(path: dir).writeKeyIndex(), 200)
        XCTAssertTrue(try Verifier.verify(path: dir).isClean)
        let file = dir + "/" + LogKeyIndex.fileName
        let original = readFile(file)

        /// Rewrites the key-table slots of the index with `change` and fixes the frame's CRC.
        func tamper(_ change: (_ slot: @escaping (Int) -> Int, _ slots: Int, _ raw: UnsafeMutableRawBufferPointer) throws -> Void) throws {
            var bytes = original
            try bytes.withUnsafeMutableBytes { raw in
                let list = try FrameHeader.decode(UnsafeRawBufferPointer(raw), at: 16).get()
                let at = 16 + list.frameLength
                var header = try FrameHeader.decode(UnsafeRawBufferPointer(raw), at: at).get()
                XCTAssertEqual(header.type, FrameType.keyTable.rawValue)
                let body = at + header.headerLength
                let slots = Int(raw.loadUnaligned(fromByteOffset: body, as: UInt32.self))
                try change({ body + 8 + ($0 % slots) * 16 }, slots, raw)
                header.dataCRC = CRC32C.mask(CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[body..<(body + Int(header.storedLength))])))
                for (i, b) in header.encode().enumerated() { raw[at + i] = b }
            }
            writeFile(file, bytes)
        }

        try tamper { slot, slots, raw in
            let first = try XCTUnwrap((0..<slots).first { raw.loadUnaligned(fromByteOffset: slot($0), as: UInt64.self) != 0 })
            let offset = raw.loadUnaligned(fromByteOffset: slot(first) + 12, as: UInt32.self)
            raw.storeBytes(of: offset &+ 1, toByteOffset: slot(first) + 12, as: UInt32.self)
        }
        var report = try Verifier.verify(path: dir)
        XCTAssertTrue(report.problems.contains { $0.description.contains("log key index holds 200 entries") && $0.description.contains("2 differ") }, "\(report.problems)")

        try tamper { slot, slots, raw in
            let occupied = { (i: Int) in raw.loadUnaligned(fromByteOffset: slot(i), as: UInt64.self) != 0 }
            let from = try XCTUnwrap((0..<slots).first { occupied($0) && !occupied($0 + 1) && !occupied($0 + 2) })
            for b in 0..<16 {
                raw[slot(from + 2) + b] = raw[slot(from) + b]
                raw[slot(from) + b] = 0
            }
        }
        report = try Verifier.verify(path: dir)
        XCTAssertTrue(report.problems.contains { $0.description.contains("a lookup cannot reach 1 entries of the log key index") }, "\(report.problems)")
        XCTAssertFalse(report.problems.contains { $0.description.contains("differ") }, "the entries themselves are the segments': \(report.problems)")

        writeFile(file, original)
        XCTAssertTrue(try Verifier.verify(path: dir).isClean)
    }

    private func minorFaults() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_minflt
    }

    /// A lookup in an uncompressed chunk reads the record straight from the mapping and trusts
    /// only its CRC: a record with a flipped payload byte is not returned (through the log key
    /// index or a segment's own table), and its neighbours in the same chunk still are.
    func testDamagedRecordInAnUncompressedChunkIsNotReturned() throws {
        for withLogIndex in [false, true] {
            let dir = temporaryDirectory(self) + "/log-\(withLogIndex)"
            let inputs = (0..<150).map { makeInput($0, size: 100) }
            let victim = 75
            try writeLogThenDamage(dir, codec: .none, inputs) { bytes in
                guard let at = bytes.firstRange(of: inputs[victim].payload)?.lowerBound else { return XCTFail("payload not found") }
                bytes[at + 10] ^= 0x5A
            }
            let reader = try LogReader(path: dir)
            if withLogIndex {
                XCTAssertEqual(try reader.writeKeyIndex(), 150)
                XCTAssertTrue(reader.usesKeyIndex)
            }
            XCTAssertEqual(reader.segments[0].view.chunks.count, 1, "the victim shares its chunk with the others")
            for (i, input) in inputs.enumerated() {
                let found = reader.lookupFirst(key: input.key!)
                if i == victim {
                    XCTAssertNil(found, "index \(withLogIndex): the damaged record")
                } else {
                    XCTAssertEqual(found?.payload, input.payload, "index \(withLogIndex): record \(i)")
                }
            }
        }
    }
}

/// Lookups in compressed logs decompress a chunk only as far as the record they need, keep that
/// prefix, and decompress the rest when a later lookup needs it.
final class CompressedLookupTests: XCTestCase {
    func testLookupsInCompressedChunksInAnyOrderAndAcrossTheMargin() throws {
        for codec in [Codec.lz4, .zstd] {
            let dir = temporaryDirectory(self) + "/log-\(codec)"
            var options = LogOptions()
            options.codec = codec
            XCTAssertEqual(options.effectiveChunkSizeBytes, codec == .lz4 ? 64 << 10 : 32 << 10)
            let writer = try LogWriter(directory: dir, options: options)
            // Sizes around the lookup margin (4 KiB) and chunks of many small records.
            let sizes = (0..<600).map { i in i % 50 == 7 ? 9_000 + i : i % 13 == 0 ? 4_090 : 60 + i % 300 }
            let inputs = sizes.enumerated().map { makeInput($0.offset, size: $0.element) }
            try writer.appendBatch(inputs)
            try writer.close()
            var rng = SplitMix64(seed: 42)
            for order in ["random", "forward", "backward"] {
                let reader = try LogReader(path: dir)
                XCTAssertGreaterThan(reader.segments[0].view.chunks.count, 3)
                var indices = Array(inputs.indices)
                if order == "random" { indices.shuffle(using: &rng) }
                if order == "backward" { indices.reverse() }
                for i in indices {
                    let found = reader.lookupFirst(key: inputs[i].key!)
                    XCTAssertEqual(found?.payload, inputs[i].payload, "\(codec) \(order) record \(i)")
                }
            }
        }
    }

    func testDamagedCompressedChunkGivesNoRecordRatherThanAWrongOne() throws {
        let dir = temporaryDirectory(self) + "/log"
        let inputs = (0..<200).map { makeInput($0, size: 200) }
        // Flip bytes inside the first chunk's compressed data (after the segment and frame headers).
        try writeLogThenDamage(dir, codec: .lz4, inputs) { bytes in
            for k in 200..<260 { bytes[k] ^= 0x5A }
        }
        let reader = try LogReader(path: dir)
        for input in inputs {
            if let found = reader.lookupFirst(key: input.key!) { XCTAssertEqual(found.payload, input.payload) }
        }
    }
}

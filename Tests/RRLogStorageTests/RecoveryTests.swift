import Foundation
import RRLogFormat
import RRLogStorage
import RRLogTestSupport
import XCTest

final class RecoveryTests: XCTestCase {
    func testUnsealedSegmentIsRecoveredLosslessly() throws {
        let (dir, inputs) = try crashedLog(self, records: 50)
        let before = try Verifier.verify(path: dir)
        XCTAssertTrue(before.isClean)
        XCTAssertFalse(before.notes.isEmpty, "an unsealed segment is noted")
        let w = try LogWriter(directory: dir)
        XCTAssertTrue(w.recoveryReport.isLossless)
        XCTAssertEqual(w.recoveryReport.resealed.count, 1)
        XCTAssertEqual(w.nextSequenceNumber, 51)
        try w.close()
        XCTAssertEqual(try LogReader(path: dir).readAll().map(\.payload), inputs.map(\.payload))
        XCTAssertTrue(try Verifier.verify(path: dir).isClean)
    }

    func testTruncationAtEveryByteOfTheLastChunkKeepsAPrefix() throws {
        let (dir, inputs) = try crashedLog(self, records: 12, chunk: 256)
        let file = segmentFiles(dir)[0]
        let original = readFile(file)
        let view = try original.withUnsafeBytes { try SegmentView(scanning: $0) }
        let lastChunkStart = Int(view.chunks[view.chunks.count - 1].offset)
        let previous = view.chunks.dropLast().reduce(0) { $0 + Int($1.recordCount) }
        for cut in stride(from: original.count - 1, through: lastChunkStart - 60, by: -1) {
            writeFile(file, Array(original[0..<cut]))
            let w = try LogWriter(directory: dir)
            let report = w.recoveryReport
            try w.close()
            let records = try LogReader(path: dir).readAll()
            XCTAssertLessThanOrEqual(records.count, inputs.count, "cut \(cut)")
            XCTAssertEqual(records.map(\.payload), Array(inputs.prefix(records.count)).map(\.payload), "cut \(cut)")
            if cut >= lastChunkStart {
                XCTAssertEqual(records.count, previous, "cut \(cut): the whole chunks before stay")
            }
            if cut > lastChunkStart { XCTAssertFalse(report.lost.isEmpty, "cut \(cut): the torn tail is reported") }
            XCTAssertTrue(try Verifier.verify(path: dir).isClean, "cut \(cut)")
            // Put the unsealed original back for the next cut.
            for f in segmentFiles(dir) where f != file { try FileManager.default.removeItem(atPath: f) }
        }
    }

    func testDamageInTheMiddleUnderEachMode() throws {
        let (dir, inputs) = try crashedLog(self, records: 60, chunk: 512)
        let file = segmentFiles(dir)[0]
        let original = readFile(file)
        let view = try original.withUnsafeBytes { try SegmentView(scanning: $0) }
        XCTAssertGreaterThanOrEqual(view.chunks.count, 3)
        let victim = view.chunks[1]
        var damaged = original
        damaged[Int(victim.offset) + 70] ^= 0x40
        let keptIfSalvaged = inputs.count - Int(victim.recordCount)

        for mode in RecoveryMode.allCases {
            writeFile(file, damaged)
            for f in segmentFiles(dir) where f != file { try FileManager.default.removeItem(atPath: f) }
            let verify = try Verifier.verify(path: dir)
            XCTAssertFalse(verify.isClean, "bit flip detected")
            XCTAssertEqual(verify.problems.first?.offset, Int(victim.offset))
            var options = LogOptions()
            options.recovery = mode
            switch mode {
            case .strict, .tolerateTail:
                XCTAssertThrowsError(try LogWriter(directory: dir, options: options), "\(mode)") {
                    XCTAssertEqual(($0 as! StorageError).code, .recoveryRefused)
                }
                XCTAssertEqual(readFile(file), damaged, "\(mode) changes nothing")
            case .pointInTime:
                let w = try LogWriter(directory: dir, options: options)
                XCTAssertEqual(w.recoveryReport.lost.first?.firstSequence, victim.firstSequence)
                try w.close()
                XCTAssertEqual(try LogReader(path: dir).readAll().count, Int(view.chunks[0].recordCount))
            case .salvage:
                let w = try LogWriter(directory: dir, options: options)
                XCTAssertEqual(w.recoveryReport.lost.count, 1)
                XCTAssertEqual(w.recoveryReport.lost[0].firstSequence, victim.firstSequence)
                XCTAssertEqual(w.recoveryReport.lost[0].lastSequence, victim.lastSequence)
                XCTAssertEqual(w.nextSequenceNumber, UInt64(inputs.count + 1))
                try w.close()
                let records = try LogReader(path: dir).readAll()
                XCTAssertEqual(records.count, keptIfSalvaged)
                XCTAssertFalse(records.contains { $0.sequence >= victim.firstSequence && $0.sequence <= victim.lastSequence })
            }
            if mode == .pointInTime || mode == .salvage { XCTAssertTrue(try Verifier.verify(path: dir).isClean, "\(mode)") }
        }
    }

    func testBitFlipInEachStructureIsDetectedAndLaterChunksStillRead() throws {
        let dir = temporaryDirectory(self) + "/log"
        var options = LogOptions()
        options.chunkSizeBytes = 512
        options.codec = .lz4
        let w = try LogWriter(directory: dir, options: options)
        for i in 0..<80 { try w.append(makeInput(i, size: 60)) }
        try w.close()
        let file = segmentFiles(dir)[0]
        let original = readFile(file)
        let view = try original.withUnsafeBytes { try SegmentView(sealed: $0) }
        let footer = view.footer!
        let targets: [(String, Int)] = [
            ("segment header", 20),
            ("chunk frame header", Int(view.chunks[1].offset) + 20),
            ("chunk stored data", Int(view.chunks[1].offset) + 60),
            ("chunk index", Int(footer.chunkIndexOffset) + 70),
            ("key table", Int(footer.keyTableOffset) + 80),
            ("footer", original.count - 30),
        ]
        for (what, at) in targets {
            var bytes = original
            bytes[at] ^= 0x10
            writeFile(file, bytes)
            let report = try Verifier.verify(path: file)
            XCTAssertFalse(report.isClean, "\(what) flip at \(at) undetected")
            if what.hasPrefix("chunk frame") || what.hasPrefix("chunk stored") {
                // Salvage-style reading skips the damaged chunk and reads the rest.
                let reader = try LogReader(path: file)
                var count = 0
                let lost = reader.forEachRecord { _ in count += 1; return true }
                XCTAssertFalse(lost.isEmpty, what)
                XCTAssertEqual(count, 80 - Int(view.chunks[1].recordCount), what)
            }
        }
        writeFile(file, original)
    }
}

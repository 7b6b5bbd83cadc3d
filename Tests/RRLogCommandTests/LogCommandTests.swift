import Foundation
import RRLogFormat
import RRLogStorage
import RRLogTestSupport
import XCTest

/// The commands that work on a log directory itself (`verify`, `recover`, and the crash
/// writer), on logs the storage API writes and damages.
final class LogCommandTests: XCTestCase {
    typealias T = CommandTestSupport

    /// Runs `rrlog` in a fresh directory; its exit status and what it wrote to standard output
    /// and standard error.
    func run(_ arguments: [String]) throws -> (Int32, String) {
        let result = try T.run(arguments, in: T.temporaryDirectory(self))
        return (result.status, result.stdout + result.stderr)
    }

    func testRecoverCommandKeepsEverythingIntact() throws {
        let (dir, inputs) = try crashedLog(self, records: 60, chunk: 512)
        let file = segmentFiles(dir)[0]
        var bytes = readFile(file)
        let view = try bytes.withUnsafeBytes { try SegmentView(scanning: $0) }
        bytes[Int(view.chunks[2].offset) + 100] ^= 0xFF
        writeFile(file, bytes)
        let out = T.temporaryDirectory(self) + "/out"
        let (status, output) = try run(["recover", dir, "-o", out])
        XCTAssertEqual(status, 3, output)
        XCTAssertTrue(output.contains("LOST"), output)
        XCTAssertEqual(readFile(file), bytes, "the source is untouched with -o")
        let records = try LogReader(path: out).readAll()
        XCTAssertEqual(records.count, inputs.count - Int(view.chunks[2].recordCount))
        XCTAssertTrue(try Verifier.verify(path: out).isClean)
        let (verifyStatus, verifyOutput) = try run(["verify", dir])
        XCTAssertEqual(verifyStatus, 1, verifyOutput)
        XCTAssertTrue(verifyOutput.contains("@ \(view.chunks[2].offset)"), verifyOutput)
        XCTAssertEqual(try run(["verify", out]).0, 0)
        XCTAssertEqual(try run(["verify", "--no-such-flag", out]).0, 2)
    }

    /// A chunk of a codec or layout this version does not know is unreadable, not damage
    /// (FORMAT.md §3, §5): verify lists it apart, checks everything else, and exits 3, not 1.
    func testVerifyReportsAnUnknownCodecOrLayoutAsUnreadableNotDamage() throws {
        for (field, value, word) in [(11, UInt8(7), "codec 7"), (28, UInt8(5), "layout 5")] {
            let dir = T.temporaryDirectory(self) + "/log"
            var options = LogOptions()
            options.codec = .none
            options.chunkSizeBytes = 512
            let writer = try LogWriter(directory: dir, options: options)
            try writer.appendBatch((0..<60).map { makeInput($0, size: 40) })
            try writer.close()
            let file = segmentFiles(dir)[0]
            var bytes = readFile(file)
            let view = try bytes.withUnsafeBytes { try SegmentView(sealed: $0) }
            XCTAssertGreaterThan(view.chunks.count, 2)
            // What a later writer would leave: chunk 1's header and its index entry name the new
            // codec or layout, every CRC valid.
            let chunk = Int(view.chunks[1].offset)
            bytes[chunk + field] = value
            func fixCRC(at crcAt: Int, over range: Range<Int>) {
                let crc = CRC32C.mask(CRC32C.checksum(Array(bytes[range])))
                for i in 0..<4 { bytes[crcAt + i] = UInt8(truncatingIfNeeded: crc >> (8 * i)) }
            }
            fixCRC(at: chunk + 4, over: (chunk + 8)..<(chunk + FormatConstants.frameHeaderSizeBytes))
            let index = Int(view.footer!.chunkIndexOffset)
            let body = index + FormatConstants.frameHeaderSizeBytes
            let entryField = field == 11 ? 28 : 29
            bytes[body + 8 + FormatConstants.chunkIndexEntrySizeBytes + entryField] = value
            let bodyLength = 8 + view.chunks.count * FormatConstants.chunkIndexEntrySizeBytes
            fixCRC(at: index + 24, over: body..<(body + bodyLength))
            fixCRC(at: index + 4, over: (index + 8)..<body)
            writeFile(file, bytes)

            let report = try Verifier.verify(path: dir)
            XCTAssertTrue(report.isClean, "\(word): \(report.problems)")
            XCTAssertFalse(report.isFullyChecked, word)
            XCTAssertEqual(report.unreadable.map(\.offset), [chunk], word)
            XCTAssertTrue(report.unreadable.first?.reason.contains(word) == true, "\(report.unreadable)")
            XCTAssertEqual(report.records, 60 - Int(view.chunks[1].recordCount), "the other chunks are checked")
            let (status, output) = try run(["verify", dir])
            XCTAssertEqual(status, 3, output)
            XCTAssertTrue(output.contains("UNREADABLE"), output)
            XCTAssertTrue(output.contains("unreadable by this version"), output)
            XCTAssertFalse(output.contains("DAMAGE"), output)

            // Damage elsewhere still decides the verdict.
            bytes[Int(view.chunks[2].offset) + 100] ^= 0xFF
            writeFile(file, bytes)
            let (damagedStatus, damagedOutput) = try run(["verify", dir])
            XCTAssertEqual(damagedStatus, 1, damagedOutput)
            XCTAssertTrue(damagedOutput.contains("DAMAGE"), damagedOutput)
            XCTAssertTrue(damagedOutput.contains("UNREADABLE"), damagedOutput)
        }
    }

    /// Kills a writing child at random moments and checks that every acknowledged record survives
    /// and the log verifies after recovery, under each durability policy in turn. A kill ends the
    /// process, not the machine, so each policy promises the same here: every-batch acknowledges
    /// after its fsync, none and interval after the chunk is written to the file
    /// (FORMAT-IO-PROFILE.md §11), and the page cache keeps it. What every-batch adds, surviving a machine crash, no process
    /// kill can show.
    func testKillNineKeepsEveryAcknowledgedRecord() throws {
        var rng = SplitMix64(seed: UInt64(Date().timeIntervalSince1970 * 1000))
        let seed = rng.state
        print("kill -9 test seed \(seed)")
        let dir = T.temporaryDirectory(self) + "/log"
        var acknowledged: UInt64 = 0
        for round in 0..<6 {
            let durability = ["every-batch", "none", "interval"][round % 3]
            let context = "round \(round) (\(durability)) seed \(seed)"
            let process = Process()
            process.executableURL = try T.executable()
            process.arguments = ["_crash-writer", dir, "--durability", durability, "--batch", "7"]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            // The kill comes at a random moment after the child's first acknowledgement, so that
            // every round has acknowledged records to lose.
            var buffer = Data()
            let handle = pipe.fileHandleForReading
            let started = Date()
            while !buffer.contains(Data("ack ".utf8)), Date().timeIntervalSince(started) < 30 {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
            }
            let deadline = Date().addingTimeInterval(Double(rng.next() % 300) / 1000)
            while Date() < deadline {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            buffer.append(handle.readDataToEndOfFile())
            let before = acknowledged
            for line in String(decoding: buffer, as: UTF8.self).split(separator: "\n") where line.hasPrefix("ack ") {
                if let n = UInt64(line.dropFirst(4)) { acknowledged = max(acknowledged, n) }
            }
            XCTAssertGreaterThan(acknowledged, before, "\(context): the child acknowledged nothing")
            let w = try LogWriter(directory: dir)
            try w.close()
            let reader = try LogReader(path: dir)
            let records = reader.readAll()
            XCTAssertGreaterThanOrEqual(UInt64(records.count), acknowledged, "\(context): acknowledged records lost")
            for (i, r) in records.enumerated() {
                XCTAssertEqual(r.sequence, UInt64(i + 1), context)
                XCTAssertTrue(String(decoding: r.payload, as: UTF8.self).hasPrefix("record \(r.sequence) "), context)
            }
            let report = try Verifier.verify(path: dir)
            XCTAssertTrue(report.isClean, "\(context): \(report.problems)")
        }
    }
}

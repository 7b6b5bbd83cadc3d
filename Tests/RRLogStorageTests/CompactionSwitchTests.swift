import Foundation
import RRLogFormat
import RRLogStorage
import RRLogTestSupport
import Synchronization
import XCTest

/// `LogCompaction`: the atomic switch of a log directory, its recovery after a crash at each
/// phase, and readers that read one whole log at any moment.
final class CompactionSwitchTests: XCTestCase {
    /// The error the phase observer throws to stop a compaction where it is, as a crash would.
    static let stop = StorageError(.io, "stopped on purpose (test)")

    /// A log of `count` keyed records in uncompressed segments of at most 40 records; returns
    /// the records and the segment ids.
    func writeOldLog(_ log: String, count: Int = 300) throws -> (records: [Record], ids: [UInt64]) {
        var options = LogOptions()
        options.codec = .none
        options.segmentRecordCountMax = 40
        let writer = try LogWriter(directory: log, options: options)
        for i in 0..<count { try writer.append(makeInput(i, size: 60 + i % 200)) }
        try writer.close()
        let reader = try LogReader(path: log)
        XCTAssertGreaterThan(reader.segments.count, 1, "several segments")
        return (reader.readAll(), reader.segments.map(\.id))
    }

    /// Runs a compaction of `log` into `codec`, telling `observer` each phase.
    @discardableResult
    func compact(_ log: String, codec: Codec, observer: ((CompactionPhase) throws(StorageError) -> Void)? = nil) throws -> Int {
        let compaction = try LogCompaction(directory: log, observer: observer)
        defer { compaction.release() }
        var options = LogOptions()
        options.codec = codec
        return try compaction.run(options: options) { true }
    }

    /// Which log `reader` holds: "old" when its segments are exactly `oldIDs`, "new" when all
    /// its ids are above them and its chunks all use `codec`; fails on anything else (a mix).
    func whichLog(_ reader: LogReader, oldIDs: [UInt64], codec: Codec, _ context: String, file: StaticString = #filePath, line: UInt = #line) -> String? {
        let ids = reader.segments.map(\.id)
        let codecs = Set(reader.segments.flatMap { $0.view.chunks.map(\.codec) })
        if ids == oldIDs && codecs == [Codec.none.rawValue] { return "old" }
        if !ids.isEmpty, ids.allSatisfy({ $0 > oldIDs.max()! }), codecs == [codec.rawValue] { return "new" }
        XCTFail("\(context): a mix of logs: segments \(ids), codecs \(codecs)", file: file, line: line)
        return nil
    }

    func testCompactionSwitchesInTheWholeNewLogAndDeletesTheOld() throws {
        let log = temporaryDirectory(self) + "/log"
        let (expected, oldIDs) = try writeOldLog(log)
        var seen: [CompactionPhase] = []
        let copied = try compact(log, codec: .zstd) { seen.append($0) }
        XCTAssertEqual(copied, expected.count)
        XCTAssertEqual(seen, CompactionPhase.allCases, "every phase is reached, in order")
        let reader = try LogReader(path: log)
        XCTAssertEqual(whichLog(reader, oldIDs: oldIDs, codec: .zstd, "after"), "new")
        XCTAssertEqual(reader.readAll(), expected, "sequence, time, kind, key and payload are kept")
        XCTAssertTrue(reader.usesKeyIndex, "the new log comes with its key index")
        XCTAssertEqual(reader.lookupFirst(key: Array("key-7".utf8))?.sequence, 8)
        XCTAssertFalse(FileManager.default.fileExists(atPath: log + LogCompaction.stagingSuffix))
        XCTAssertTrue(try Verifier.verify(path: log).isClean)
        // The log stays writable; sequences go on.
        let writer = try LogWriter(directory: log)
        XCTAssertEqual(try writer.append(makeInput(9999, size: 10)), UInt64(expected.count + 1))
        try writer.close()
    }

    func testACompactionIsRefusedWhileTheLogIsWrittenAndAWriterWhileItIsCompacted() throws {
        let log = temporaryDirectory(self) + "/log"
        _ = try writeOldLog(log, count: 100)
        let writer = try LogWriter(directory: log)
        XCTAssertThrowsError(try LogCompaction(directory: log)) {
            XCTAssertEqual(($0 as? StorageError)?.code, .locked)
            XCTAssertTrue("\($0)".contains("pid \(getpid())"), "names the holder: \($0)")
        }
        try writer.close()
        let compaction = try LogCompaction(directory: log)
        XCTAssertThrowsError(try LogWriter(directory: log)) { XCTAssertEqual(($0 as? StorageError)?.code, .locked) }
        XCTAssertEqual(LogWriter.isOpen(directory: log), true, "a compaction holds the writer's lock")
        compaction.release()
        try LogWriter(directory: log).close()
    }

    /// A compaction stopped at each phase, as a crash would stop it: the log's path holds the
    /// whole old log before the switch and the whole new one from it on; recovery removes what
    /// is left beside it, and the log then reads, verifies and appends.
    func testInterruptedAtEachPhaseLeavesOneWholeLogThatRecoveryCleansUp() throws {
        let root = temporaryDirectory(self)
        let switched: Set<CompactionPhase> = [.switched, .durable, .committed, .removing, .finished]
        for phase in CompactionPhase.allCases {
            let log = root + "/\(phase)/log"
            let (expected, oldIDs) = try writeOldLog(log)
            XCTAssertThrowsError(try compact(log, codec: .lz4) { (p) throws(StorageError) in if p == phase { throw Self.stop } }, "\(phase)")

            let left = try LogReader(path: log)
            XCTAssertEqual(whichLog(left, oldIDs: oldIDs, codec: .lz4, "\(phase)"), switched.contains(phase) ? "new" : "old", "\(phase)")
            XCTAssertEqual(left.readAll(), expected, "\(phase)")
            let leftover = FileManager.default.fileExists(atPath: log + LogCompaction.stagingSuffix)
            XCTAssertEqual(leftover, phase != .locked && phase != .finished, "\(phase): what lies beside the log")

            var committed = false
            XCTAssertEqual(try LogCompaction.recoverInterrupted(directory: log) { committed = true }, leftover, "\(phase)")
            XCTAssertEqual(committed, leftover, "\(phase): the caller is asked to commit when something was cleaned up")
            XCTAssertFalse(FileManager.default.fileExists(atPath: log + LogCompaction.stagingSuffix), "\(phase)")
            let after = try LogReader(path: log)
            XCTAssertEqual(after.readAll(), expected, "\(phase)")
            let report = try Verifier.verify(path: log)
            XCTAssertTrue(report.isClean, "\(phase): \(report.problems)")
            let writer = try LogWriter(directory: log)
            XCTAssertTrue(writer.recoveryReport.isLossless, "\(phase)")
            XCTAssertEqual(try writer.append(makeInput(9999, size: 10)), UInt64(expected.count + 1), "\(phase)")
            try writer.close()
        }
    }

    func testRecoveryLeavesARunningCompactionsFilesAlone() throws {
        let log = temporaryDirectory(self) + "/log"
        let (expected, _) = try writeOldLog(log, count: 100)
        // Stopped after writing the new log; then its lock is taken as a running compaction holds it.
        XCTAssertThrowsError(try compact(log, codec: .zstd) { (p) throws(StorageError) in if p == .written { throw Self.stop } })
        let held = try XCTUnwrap(try DirectoryLock.tryAcquire(DirectoryLock.lockPath(forLog: log)))
        XCTAssertFalse(try LogCompaction.recoverInterrupted(directory: log))
        XCTAssertTrue(FileManager.default.fileExists(atPath: log + LogCompaction.stagingSuffix), "a running compaction's output is left alone")
        held.release()
        XCTAssertTrue(try LogCompaction.recoverInterrupted(directory: log))
        XCTAssertFalse(FileManager.default.fileExists(atPath: log + LogCompaction.stagingSuffix))
        XCTAssertEqual(try LogReader(path: log).readAll(), expected)
    }

    /// A reader opened at each phase, and a reader opened before the compaction and refreshed
    /// at each phase, read one whole log (never a mix) with every record.
    func testReadersOpenedOrRefreshedAtEachPhaseReadOneWholeLog() throws {
        let log = temporaryDirectory(self) + "/log"
        let (expected, _) = try writeOldLog(log)
        let early = try LogReader(path: log)
        var codec = Codec.zstd
        for round in 0..<3 {
            let currentIDs = try LogReader(path: log).segments.map(\.id)
            let currentCodec: Codec = round == 0 ? .none : (codec == .zstd ? .lz4 : .zstd)
            var failures: [String] = []
            try compact(log, codec: codec) { (phase) throws(StorageError) in
                try early.refresh()
                let opened = try LogReader(path: log)
                for reader in [opened, early] {
                    let ids = reader.segments.map(\.id)
                    let codecs = Set(reader.segments.flatMap { $0.view.chunks.map(\.codec) })
                    let whole = (ids == currentIDs && codecs == [currentCodec.rawValue]) || (ids.allSatisfy { $0 > currentIDs.max()! } && codecs == [codec.rawValue])
                    if !whole { failures.append("round \(round), \(phase): segments \(ids), codecs \(codecs)") }
                    if reader.readAll() != expected { failures.append("round \(round), \(phase): records differ") }
                    if reader.lookupFirst(key: Array("key-123".utf8))?.sequence != 124 { failures.append("round \(round), \(phase): lookup failed") }
                }
            }
            XCTAssertEqual(failures, [])
            codec = codec == .zstd ? .lz4 : .zstd
        }
    }

    /// Readers opened and refreshed on other threads while compactions switch the log back and
    /// forth between two codecs: none fails, none sees a mix of the two logs or a missing
    /// record. Each compaction changes the codec, so a mix would show two.
    func testReadersOnOtherThreadsDuringRepeatedCompactionsNeverFailOrMix() throws {
        let log = temporaryDirectory(self) + "/log"
        let (expected, _) = try writeOldLog(log, count: 400)
        let shared = SharedReadState()
        let threads = (0..<2).map { t in
            Thread {
                defer { shared.ended.signal() }
                var follower: LogReader?
                while !shared.done.load(ordering: .acquiring) {
                    do {
                        let reader: LogReader
                        if t == 0 {
                            reader = try LogReader(path: log)
                        } else {
                            if let follower { try follower.refresh() } else { follower = try LogReader(path: log) }
                            reader = follower!
                        }
                        let codecs = Set(reader.segments.flatMap { $0.view.chunks.map(\.codec) })
                        if codecs.count != 1 { shared.fail("thread \(t): codecs \(codecs)") }
                        if reader.readAll() != expected { shared.fail("thread \(t): records differ") }
                        shared.reads.add(1, ordering: .relaxed)
                    } catch {
                        shared.fail("thread \(t): \(error)")
                    }
                }
            }
        }
        threads.forEach { $0.start() }
        let rounds = 30
        for round in 0..<rounds { try compact(log, codec: round % 2 == 0 ? .zstd : .lz4) }
        shared.done.store(true, ordering: .releasing)
        for _ in threads { shared.ended.wait() }
        let failures = shared.failures.withLock { Array($0.prefix(5)) }
        XCTAssertEqual(failures, [])
        print("readers during \(rounds) compactions: \(shared.reads.load(ordering: .relaxed)) whole reads")
        XCTAssertEqual(try LogReader(path: log).readAll(), expected)
    }

    /// Verifies on another thread while compactions switch the log back and forth: every report
    /// is clean and covers every record of one whole log, its key index included, never a file
    /// missing or the segments of one log beside the index of the other.
    func testVerifyDuringRepeatedCompactionsIsAlwaysClean() throws {
        let log = temporaryDirectory(self) + "/log"
        let (expected, _) = try writeOldLog(log, count: 400)
        let shared = SharedReadState()
        let verifier = Thread {
            defer { shared.ended.signal() }
            while !shared.done.load(ordering: .acquiring) {
                do {
                    let report = try Verifier.verify(path: log)
                    if !report.isClean { shared.fail("problems: \(report.problems)") }
                    if report.records != expected.count { shared.fail("\(report.records) records checked, not \(expected.count)") }
                    if report.segments == 0 { shared.fail("no segment") }
                } catch {
                    shared.fail("\(error)")
                }
                shared.reads.add(1, ordering: .releasing)
            }
        }
        verifier.start()
        let rounds = 30
        for round in 0..<rounds { try compact(log, codec: round % 2 == 0 ? .zstd : .lz4) }
        // At least one whole verify after the last switch.
        let reads = shared.reads.load(ordering: .acquiring)
        while shared.reads.load(ordering: .acquiring) < reads + 2 { usleep(1000) }
        shared.done.store(true, ordering: .releasing)
        shared.ended.wait()
        let failures = shared.failures.withLock { Array($0.prefix(5)) }
        XCTAssertEqual(failures, [])
        print("verifies during \(rounds) compactions: \(shared.reads.load(ordering: .relaxed))")
        XCTAssertTrue(try Verifier.verify(path: log).isClean)
    }

    /// What the two-rename switch of earlier versions left after a crash is finished.
    func testLeftoversOfTheEarlierTwoRenameSwitchAreFinished() throws {
        let root = temporaryDirectory(self)
        let fm = FileManager.default
        for state in ["between the renames", "after the first rename only", "before the cleanup"] {
            let log = root + "/\(state.replacingOccurrences(of: " ", with: "-"))/log"
            let (expected, oldIDs) = try writeOldLog(log)
            // The new log, complete, as the earlier versions wrote it beside the log.
            let source = try LogReader(path: log)
            var options = LogOptions()
            options.codec = .zstd
            options.firstSegmentID = oldIDs.max()! + 1
            let writer = try LogWriter(directory: log + ".compact", options: options)
            source.forEachRecord { (try? writer.appendPreservingSequence($0.makeRecord())) != nil }
            try writer.close()
            switch state {
            case "between the renames":
                try fm.moveItem(atPath: log, toPath: log + ".old")
            case "after the first rename only":
                try fm.removeItem(atPath: log + ".compact")
                try fm.moveItem(atPath: log, toPath: log + ".old")
            default:
                try fm.moveItem(atPath: log, toPath: log + ".old")
                try fm.moveItem(atPath: log + ".compact", toPath: log)
            }
            try LogCompaction.recoverInterrupted(directory: log)
            for leftover in [".compact", ".old"] { XCTAssertFalse(fm.fileExists(atPath: log + leftover), "\(state): \(leftover)") }
            let reader = try LogReader(path: log)
            XCTAssertEqual(whichLog(reader, oldIDs: oldIDs, codec: .zstd, state), state == "after the first rename only" ? "old" : "new", state)
            XCTAssertEqual(reader.readAll(), expected, state)
        }
    }

    func testRemovingALogWaitsForNoReaderAndLeavesNothing() throws {
        let log = temporaryDirectory(self) + "/log"
        let (expected, _) = try writeOldLog(log, count: 100)
        let reader = try LogReader(path: log)
        try LogDirectory.remove(log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: log))
        // A reader of a removed log keeps what it mapped; refreshing finds nothing new.
        try reader.refresh()
        XCTAssertEqual(reader.readAll(), expected)
        XCTAssertThrowsError(try LogReader(path: log)) { XCTAssertEqual(($0 as? StorageError)?.code, .notFound) }
        try LogDirectory.remove(log)
    }
}

/// What the reader threads of a test share.
final class SharedReadState: Sendable {
    let failures = Mutex<[String]>([])
    let reads = Atomic<Int>(0)
    let done = Atomic<Bool>(false)
    let ended = DispatchSemaphore(value: 0)

    func fail(_ message: String) { failures.withLock { $0.append(message) } }
}

import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogStorage
import RRLogTestSupport
import Synchronization
import XCTest

final class CompactionTests: XCTestCase {
    typealias S = StoreTestSupport

    /// Options that cut the fixture into many small uncompressed segments (at most ~100 records).
    static var smallSegments: LogOptions {
        var options = LogOptions()
        options.codec = .none
        options.chunkSizeBytes = 8 << 10
        options.segmentRecordCountMax = 100
        return options
    }

    /// The fixture written into session `name` in small segments; returns the manifest and the
    /// records as read back before any compaction.
    func smallSegmentSession(_ store: Store, name: String) throws -> (SessionManifest, [Record]) {
        let manifest = try S.writeSession(store, name: name, records: try S.fixtureRecords(), options: Self.smallSegments)
        XCTAssertGreaterThan(manifest.segments.count, 20, "the session is cut into many segments")
        let records = S.records(try store.openReader(manifest))
        XCTAssertEqual(records.count, S.fixtureLines.count)
        return (manifest, records)
    }

    /// Looks every event and stream start of the fixture up by identity and call index.
    func assertEveryCallIsFound(_ reader: SessionReader, _ context: String, file: StaticString = #filePath, line: UInt = #line) {
        var counter = CallIndexCounter()
        var misses: [Int] = []
        for (i, event) in S.fixtureLines.enumerated() {
            guard let type = event["type"]?.stringValue, type == "event" || type == "stream_start",
                let identity = IOCallIdentity(event: event)
            else { continue }
            let callIndex = counter.next(for: IOKey.callDigest(for: reader.redacted(identity)))
            if reader.lookup(identity, callIndex: callIndex) != S.redactedFixtureLines[i] { misses.append(i + 1) }
        }
        XCTAssertEqual(misses, [], "\(context): lines whose recorded call was not found", file: file, line: line)
    }

    func codecs(_ reader: SessionReader) -> Set<UInt8> {
        Set(reader.segments.flatMap { $0.view.chunks.map(\.codec) })
    }

    // MARK: Compaction

    func testCompactionMergesSegmentsAndKeepsEveryRecord() throws {
        let store = try Store(path: S.temporaryStore(self))
        let (manifest, expected) = try smallSegmentSession(store, name: "small")
        let log = S.logDirectory(store, manifest)
        let filesBefore = S.segmentPaths(log)
        XCTAssertEqual(filesBefore.count, manifest.segments.count)

        // A dry run reports and changes nothing.
        let dry = try store.compact(manifest, codec: .zstd, dryRun: true)
        XCTAssertTrue(dry.dryRun)
        XCTAssertEqual(dry.segmentsBefore, manifest.segments.count)
        XCTAssertEqual(dry.bytesBefore, manifest.bytesOnDisk)
        XCTAssertEqual(S.segmentPaths(log), filesBefore)
        XCTAssertEqual(try store.session("small"), manifest)

        let report = try store.compact(manifest, codec: .zstd, level: 3)
        XCTAssertFalse(report.dryRun)
        XCTAssertEqual(report.sessions, ["small"])
        XCTAssertEqual(report.segmentsBefore, manifest.segments.count)
        XCTAssertLessThan(report.segmentsAfter, report.segmentsBefore)
        XCTAssertGreaterThan(report.segmentsAfter, 0)
        XCTAssertEqual(report.bytesBefore, manifest.bytesOnDisk)
        XCTAssertGreaterThan(report.bytesAfter, 0)
        XCTAssertLessThan(report.bytesAfter, report.bytesBefore, "zstd over uncompressed JSON is smaller")
        XCTAssertEqual(report.reclaimedBytes, report.bytesBefore - report.bytesAfter)

        let after = try store.session("small")
        XCTAssertEqual(after.id, manifest.id)
        XCTAssertEqual(after.recordCount, manifest.recordCount)
        XCTAssertEqual(after.countsByKind, manifest.countsByKind)
        XCTAssertEqual(after.segments.count, report.segmentsAfter)
        XCTAssertEqual(after.bytesOnDisk, report.bytesAfter)
        XCTAssertEqual(S.segmentPaths(log).count, report.segmentsAfter)
        XCTAssertFalse(FileManager.default.fileExists(atPath: log + ".compact"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: log + ".old"))

        let reader = try store.openReader(after)
        XCTAssertEqual(codecs(reader), [Codec.zstd.rawValue])
        let records = S.records(reader)
        XCTAssertNil(S.firstDifference(records, expected))
        XCTAssertEqual(records, expected, "sequence, time, kind, key and payload are kept, in order")
        assertEveryCallIsFound(reader, "after compaction")
        let verify = try store.verify(after)
        XCTAssertTrue(verify.isClean, "\(verify.log.problems) \(verify.manifestProblems)")
        XCTAssertEqual(verify.log.records, expected.count)

        // The session can be appended to after compaction; sequences go on.
        let writer = try store.openWriter(after)
        let next = try writer.append(RecordInput(timestampNs: 1, kind: RecordKind.checkpoint.rawValue, payload: Array("{\"type\":\"checkpoint\"}".utf8)))
        XCTAssertEqual(next, UInt64(expected.count + 1))
        try writer.close()
        XCTAssertTrue(try store.verify(try store.session("small")).isClean)
    }

    func testReaderOpenedBeforeCompactionKeepsReadingCorrectRecords() throws {
        let store = try Store(path: S.temporaryStore(self))
        let (manifest, expected) = try smallSegmentSession(store, name: "followed")
        let early = try store.openReader(manifest)
        XCTAssertEqual(early.segments.count, manifest.segments.count)

        let report = try store.compact(manifest, codec: .zstd)
        XCTAssertLessThan(report.segmentsAfter, report.segmentsBefore)
        XCTAssertFalse(FileManager.default.fileExists(atPath: S.logDirectory(store, manifest) + ".old"), "the old segments are deleted")

        // Its mappings of the deleted segments stay valid.
        XCTAssertEqual(early.segments.count, manifest.segments.count)
        XCTAssertEqual(codecs(early), [Codec.none.rawValue])
        XCTAssertNil(S.firstDifference(S.records(early), expected))
        assertEveryCallIsFound(early, "old mappings")

        // After refresh() the early reader reads the compacted segments (new ids, never confused
        // with the old files of the same log).
        try early.refresh()
        XCTAssertEqual(codecs(early), [Codec.zstd.rawValue])
        XCTAssertNil(S.firstDifference(S.records(early), expected))

        // A reader opened afterwards sees the compacted segments.
        let late = try store.openReader(try store.session("followed"))
        XCTAssertEqual(late.segments.count, report.segmentsAfter)
        XCTAssertEqual(codecs(late), [Codec.zstd.rawValue])
        XCTAssertNil(S.firstDifference(S.records(late), expected))
    }

    // MARK: Crash safety

    /// What a crash in the two-rename switch of earlier versions could leave beside the
    /// session's `log` directory (stores they wrote must still open).
    enum CrashPoint: String, CaseIterable {
        /// `log` and a complete `log.compact`: the crash came before the first rename.
        case beforeSwap
        /// `log` and a `log.compact` whose writer died mid-way (no sealed last segment).
        case whileWritingCompactedLog
        /// Only `log.old` and `log.compact`: the crash came between the two renames.
        case betweenRenames
        /// The new `log` and `log.old`: the crash came before the old log was removed.
        case beforeCleanup
    }

    /// Writes the compacted copy of `log` into `log.compact` as the earlier `Store.compact` did:
    /// same records and sequences, recompressed with zstd.
    func writeCompactedCopy(of log: String, unsealed: Bool = false) throws {
        let source = try LogReader(path: log)
        var options = LogOptions()
        options.codec = .zstd
        let writer = try LogWriter(directory: log + ".compact", options: options)
        var failure: (any Error)?
        source.forEachRecord { view in
            do { try writer.appendPreservingSequence(view.makeRecord()) } catch {
                failure = error
                return false
            }
            return true
        }
        if let failure { throw failure }
        if unsealed {
            // A crashed writer leaves its open chunk unwritten and the segment without a footer.
            try writer.flush()
            let segments = S.segmentPaths(log + ".compact")
            let last = try XCTUnwrap(segments.last)
            let copy = try XCTUnwrap(FileManager.default.contents(atPath: last))
            try writer.close()
            XCTAssertTrue(FileManager.default.createFile(atPath: last, contents: copy.prefix(copy.count / 2)))
        } else {
            try writer.close()
        }
    }

    func testEveryCrashPointOfTheEarlierTwoRenameSwapLeavesTheOriginalRecords() throws {
        let store = try Store(path: S.temporaryStore(self))
        let fm = FileManager.default
        for point in CrashPoint.allCases {
            let (manifest, expected) = try smallSegmentSession(store, name: "crash-\(point.rawValue)")
            let log = S.logDirectory(store, manifest)
            let compacted = point != .beforeSwap && point != .whileWritingCompactedLog
            try writeCompactedCopy(of: log, unsealed: point == .whileWritingCompactedLog)
            switch point {
            case .beforeSwap, .whileWritingCompactedLog:
                break
            case .betweenRenames:
                try fm.moveItem(atPath: log, toPath: log + ".old")
            case .beforeCleanup:
                try fm.moveItem(atPath: log, toPath: log + ".old")
                try fm.moveItem(atPath: log + ".compact", toPath: log)
            }

            let reader = try store.openReader(try store.session(manifest.name))
            XCTAssertNil(S.firstDifference(S.records(reader), expected), "\(point)")
            XCTAssertEqual(codecs(reader), [compacted ? Codec.zstd.rawValue : Codec.none.rawValue], "\(point): which log is kept")
            XCTAssertFalse(fm.fileExists(atPath: log + ".compact"), "\(point): leftovers are removed")
            XCTAssertFalse(fm.fileExists(atPath: log + ".old"), "\(point): leftovers are removed")
            assertEveryCallIsFound(reader, "\(point)")
            let logReport = try Verifier.verify(path: log)
            XCTAssertTrue(logReport.isClean, "\(point): \(logReport.problems)")
            XCTAssertEqual(logReport.records, expected.count, "\(point)")
            // Where the old log is kept its manifest still matches; a swapped-in log gets its
            // manifest from the next writer (below).
            if !compacted {
                let report = try store.verify(try store.session(manifest.name))
                XCTAssertTrue(report.isClean, "\(point): \(report.log.problems) \(report.manifestProblems)")
            }

            // Opening a writer (what a recorder resuming the session does) brings the manifest up
            // to date; then the whole session verifies.
            let writer = try store.openWriter(try store.session(manifest.name))
            XCTAssertTrue(writer.recoveryReport.isLossless, "\(point)")
            let closed = try writer.close()
            XCTAssertEqual(closed.recordCount, expected.count, "\(point)")
            let report = try store.verify(closed)
            XCTAssertTrue(report.isClean, "\(point): \(report.log.problems) \(report.manifestProblems)")
            XCTAssertNil(S.firstDifference(S.records(try store.openReader(closed)), expected), "\(point)")
        }
    }

    /// Kills `rrlog compact` at random moments; after each kill the session reads back complete and
    /// its log verifies.
    func testKilledCompactionLeavesACompleteSession() throws {
        let executable = try rrlogExecutable()
        let root = S.temporaryStore(self)
        let store = try Store(path: root)
        let (manifest, expected) = try smallSegmentSession(store, name: "victim")
        let log = S.logDirectory(store, manifest)
        var rng = SeededGenerator(seed: UInt64(Date().timeIntervalSince1970 * 1000))
        let seed = rng.state
        print("killed-compaction test seed \(seed)")
        let rounds = 12
        var interrupted = 0
        var swapped = 0
        var current = Codec.none
        for round in 0..<rounds {
            // Ask for a codec the log does not use yet, to tell afterwards whether the swap happened.
            let requested: Codec = current == .zstd ? .lz4 : .zstd
            let process = Process()
            process.executableURL = executable
            process.arguments = ["compact", "victim", "--store", root, "--codec", requested.description]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // A whole compaction of the fixture takes a few tens of milliseconds in a debug build.
            Thread.sleep(forTimeInterval: Double(rng.next() % 80_000) / 1_000_000)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { interrupted += 1 }
            let context = "round \(round), seed \(seed), \(process.terminationReason == .uncaughtSignal ? "killed" : "finished")"
            XCTAssertTrue(process.terminationReason == .uncaughtSignal || process.terminationStatus == 0, context)

            let reader = try store.openReader(try store.session("victim"))
            XCTAssertNil(S.firstDifference(S.records(reader), expected), context)
            let kept = codecs(reader)
            XCTAssertTrue(kept == [current.rawValue] || kept == [requested.rawValue], "\(context): one whole log is kept, not a mix")
            if kept == [requested.rawValue] {
                swapped += 1
                current = requested
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: log + ".compact"), context)
            XCTAssertFalse(FileManager.default.fileExists(atPath: log + ".old"), context)
            let report = try Verifier.verify(path: log)
            XCTAssertTrue(report.isClean, "\(context): \(report.problems)")
            XCTAssertEqual(report.records, expected.count, context)
        }
        print("killed-compaction test (seed \(seed)): \(interrupted) of \(rounds) rounds killed, \(swapped) swapped in a new log")
        let writer = try store.openWriter(try store.session("victim"))
        let closed = try writer.close()
        let report = try store.verify(closed)
        XCTAssertTrue(report.isClean, "seed \(seed): \(report.log.problems) \(report.manifestProblems)")
        assertEveryCallIsFound(try store.openReader(closed), "after the kills")
    }

    // MARK: Retention

    func testRetentionRemovesTheOldestCompletedSessionsUntilUnderBudget() throws {
        let root = S.temporaryStore(self)
        let store = try Store(path: root)
        // The oldest session is still being recorded: retention never touches it.
        let live = try store.createSession(name: "live")
        let writer = try store.openWriter(live)
        try writer.append(S.syntheticRecords(100, tag: "live"))
        let old1 = try S.writeSession(store, name: "old-1", records: S.syntheticRecords(300, tag: "old-1"))
        let old2 = try S.writeSession(store, name: "old-2", records: S.syntheticRecords(200, tag: "old-2"))
        let new3 = try S.writeSession(store, name: "new-3", records: S.syntheticRecords(400, tag: "new-3"))
        let total = try store.sessions().reduce(Int64(0)) { $0 + $1.bytesOnDisk }
        XCTAssertEqual(total, old1.bytesOnDisk + old2.bytesOnDisk + new3.bytesOnDisk, "the live session counts 0 bytes until closed")
        XCTAssertGreaterThan(old1.bytesOnDisk, 0)

        // Removing old-1 alone leaves one byte too many; old-2 must go too.
        let budget = total - old1.bytesOnDisk - 1
        XCTAssertEqual(try store.applyRetention(maxAgeSeconds: nil, maxTotalBytes: total, dryRun: false), [])
        let dry = try store.applyRetention(maxAgeSeconds: nil, maxTotalBytes: budget, dryRun: true)
        XCTAssertEqual(dry, ["old-1", "old-2"])
        XCTAssertEqual(try store.sessions().map(\.name), ["live", "old-1", "old-2", "new-3"], "a dry run changes nothing")
        for m in [old1, old2] { XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/sessions/" + m.id)) }
        XCTAssertEqual(try store.applyRetention(maxAgeSeconds: 0, maxTotalBytes: nil, dryRun: true), ["old-1", "old-2", "new-3"])
        XCTAssertEqual(try store.sessions().count, 4)

        let removed = try store.applyRetention(maxAgeSeconds: 3600, maxTotalBytes: budget, dryRun: false)
        XCTAssertEqual(removed, ["old-1", "old-2"])
        XCTAssertEqual(try store.sessions().map(\.name), ["live", "new-3"])
        for m in [old1, old2] { XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/sessions/" + m.id)) }
        XCTAssertLessThanOrEqual(try store.sessions().reduce(Int64(0)) { $0 + $1.bytesOnDisk }, budget)
        XCTAssertEqual(S.records(try store.openReader(try store.session("new-3"))).count, 400)

        try writer.close()
        XCTAssertEqual(try store.session("live").recordCount, 100)
    }

    // MARK: Helpers

    /// The built `rrlog` binary (`TestPaths.rrlogBinary`).
    func rrlogExecutable() throws -> URL {
        guard let found = TestPaths.rrlogBinary() else { throw TestPaths.missing("no built rrlog binary; run 'swift build' first") }
        return found
    }
}

/// xorshift64*: a small deterministic generator whose seed the tests print.
struct SeededGenerator: RandomNumberGenerator {
    private(set) var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x2545_F491_4F6C_DD1D : seed }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

extension CompactionTests {
    func testOpeningAReaderDuringACompactionLeavesItsOutputAlone() throws {
        let store = try Store(path: S.temporaryStore(self))
        let (manifest, expected) = try smallSegmentSession(store, name: "busy")
        let log = S.logDirectory(store, manifest)
        // A compaction in progress: the log's lock is held and its output directory exists.
        let lock = try XCTUnwrap(try DirectoryLock.tryAcquire(DirectoryLock.lockPath(forLog: log)))
        try writeCompactedCopy(of: log)
        _ = try store.openReader(manifest)
        XCTAssertTrue(FileManager.default.fileExists(atPath: log + ".compact"), "a reader must not delete a running compaction's output")
        XCTAssertThrowsError(try store.compact(manifest)) { XCTAssertEqual(($0 as? RRLogError)?.code, .busy) }
        lock.release()
        // Once the compactor is gone, the leftover is cleaned up and the session is intact.
        let reader = try store.openReader(manifest)
        XCTAssertFalse(FileManager.default.fileExists(atPath: log + ".compact"))
        XCTAssertNil(S.firstDifference(S.records(reader), expected))
    }

    func testVerifyFinishesASwapInterruptedBetweenTheRenames() throws {
        let store = try Store(path: S.temporaryStore(self))
        let (manifest, expected) = try smallSegmentSession(store, name: "halfway")
        let log = S.logDirectory(store, manifest)
        try writeCompactedCopy(of: log)
        try FileManager.default.moveItem(atPath: log, toPath: log + ".old")
        let report = try store.verify(manifest)
        XCTAssertTrue(report.isClean, "\(report.log.problems) \(report.manifestProblems)")
        let updated = try store.session("halfway")
        XCTAssertEqual(updated.recordCount, expected.count)
        XCTAssertEqual(updated.segments.count, S.segmentPaths(log).count, "the manifest describes the new log")
    }

    /// `Store.compact` stopped at each phase as a crash would stop it: the next open finds one
    /// whole log (the old one before the switch, the new one from it on), removes what is left
    /// beside it, and brings the manifest up to date; the session then verifies clean.
    func testCompactionStoppedAtEachPhaseIsFinishedByTheNextOpen() throws {
        let store = try Store(path: S.temporaryStore(self))
        let switched: Set<CompactionPhase> = [.switched, .durable, .committed, .removing, .finished]
        for phase in CompactionPhase.allCases {
            let (manifest, expected) = try smallSegmentSession(store, name: "stopped-\(phase)")
            let log = S.logDirectory(store, manifest)
            let stop = StorageError(.io, "stopped at \(phase) (test)")
            XCTAssertThrowsError(try store.compact(manifest, codec: .zstd, phases: { (p) throws(StorageError) in if p == phase { throw stop } }), "\(phase)")
            let reader = try store.openReader(try store.session(manifest.name))
            XCTAssertFalse(FileManager.default.fileExists(atPath: log + LogCompaction.stagingSuffix), "\(phase): the leftover is removed")
            XCTAssertEqual(codecs(reader), [switched.contains(phase) ? Codec.zstd.rawValue : Codec.none.rawValue], "\(phase): one whole log")
            XCTAssertNil(S.firstDifference(S.records(reader), expected), "\(phase)")
            assertEveryCallIsFound(reader, "\(phase)")
            let report = try store.verify(try store.session(manifest.name))
            XCTAssertTrue(report.isClean, "\(phase): \(report.log.problems) \(report.manifestProblems)")
            XCTAssertEqual(try store.session(manifest.name).segments.count, reader.segments.count, "\(phase): the manifest describes the log")
        }
    }

    /// Sessions opened by name while another thread compacts them over and over: every open
    /// succeeds at once and reads one whole log with every record.
    func testOpeningReadersDuringCompactionsNeverFailsOrMixes() throws {
        let store = try Store(path: S.temporaryStore(self))
        let (manifest, expected) = try smallSegmentSession(store, name: "busy-reads")
        let compactions = CompactorOutcome()
        Thread {
            for round in 0..<12 {
                do { _ = try store.compact(try store.session("busy-reads"), codec: round % 2 == 0 ? .zstd : .lz4) } catch {
                    compactions.errors.withLock { $0.append("\(error)") }
                }
            }
            compactions.finished.signal()
        }.start()
        var opened = 0
        var problems: [String] = []
        while compactions.finished.wait(timeout: .now()) == .timedOut {
            do {
                let reader = try store.openReader(manifest)
                if codecs(reader).count != 1 { problems.append("a mix: \(codecs(reader))") }
                if S.records(reader) != expected { problems.append("records differ") }
                opened += 1
            } catch {
                problems.append("\(error)")
            }
        }
        XCTAssertEqual(Array(problems.prefix(5)), [])
        XCTAssertEqual(compactions.errors.withLock { $0 }, [])
        print("readers opened during 12 compactions: \(opened)")
        let after = try store.session("busy-reads")
        XCTAssertTrue(try store.verify(after).isClean)
    }
}

/// What the compacting thread of a test reports.
final class CompactorOutcome: Sendable {
    let errors = Mutex<[String]>([])
    let finished = DispatchSemaphore(value: 0)
}

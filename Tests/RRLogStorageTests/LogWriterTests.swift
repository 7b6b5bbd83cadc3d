import Foundation
import RRLogFormat
@testable import RRLogStorage
import RRLogTestSupport
import XCTest

final class LogWriterTests: XCTestCase {
    /// `discard(after:)` leaves the log exactly as at the mark, whether the batch after it stayed
    /// in the open segment or rolled through several (the mark's segment, sealed since, is cut
    /// back under a new inode: a reader holding the sealed one keeps reading it whole).
    func testDiscardAfterAMarkCutsTheLogBackToIt() throws {
        for (batch, rolls) in [(3, false), (40, true)] {
            let dir = temporaryDirectory(self) + "/log-\(batch)"
            var options = LogOptions()
            options.chunkSizeBytes = 4096
            options.segmentRecordCountMax = 16
            let writer = try LogWriter(directory: dir, options: options)
            let kept = (0..<10).map { makeInput($0, size: 300, keyed: true) }
            try writer.appendBatch(kept)
            let mark = try writer.mark()
            XCTAssertEqual(mark.nextSequence, 11)
            try writer.appendBatch((10..<(10 + batch)).map { makeInput($0, size: 300, keyed: true) })
            try writer.flush()
            let before = try LogReader(path: dir)
            XCTAssertEqual(before.recordCount, 10 + batch)
            XCTAssertEqual(segmentFiles(dir).count > 1, rolls, "batch \(batch)")
            try writer.discard(after: mark)
            XCTAssertThrowsError(try writer.append(makeInput(99, size: 10, keyed: false)), "discarding closes the writer")
            // A reader opened before still reads what it mapped.
            XCTAssertEqual(before.readAll().count, 10 + batch)
            let after = try LogReader(path: dir)
            XCTAssertEqual(after.readAll().map(\.payload), kept.map(\.payload), "batch \(batch)")
            XCTAssertEqual(segmentFiles(dir).count, 1)
            // The next writer reseals the cut segment and goes on from the mark's sequence.
            let next = try LogWriter(directory: dir, options: options)
            XCTAssertEqual(try next.append(makeInput(10, size: 300, keyed: true)), 11)
            try next.close()
            XCTAssertEqual(try LogReader(path: dir).readAll().count, 11)
            XCTAssertTrue(try Verifier.verify(path: dir).isClean)
        }
    }

    func testRoundTripEveryCodecAcrossChunkAndSegmentBoundaries() throws {
        let sizes = [0, 1, 33, 200, 1000, 4000, 4096 - 34, 4096, 9000, 70_000]
        for codec in Codec.allCases {
            let dir = temporaryDirectory(self) + "/log"
            var options = LogOptions()
            options.codec = codec
            options.chunkSizeBytes = 4096
            options.segmentSizeBytesMax = 16 << 10
            options.segmentRecordCountMax = 8
            let writer = try LogWriter(directory: dir, options: options)
            var expected: [RecordInput] = []
            for (i, size) in (sizes + sizes.reversed() + sizes).enumerated() {
                let input = makeInput(i, size: size, keyed: i % 3 != 0)
                expected.append(input)
                XCTAssertEqual(try writer.append(input), UInt64(i + 1), "codec \(codec) record \(i)")
            }
            try writer.close()
            XCTAssertGreaterThan(segmentFiles(dir).count, 1, "codec \(codec): expected several segments")
            let reader = try LogReader(path: dir)
            XCTAssertTrue(reader.segments.allSatisfy(\.isSealed))
            let records = reader.readAll()
            XCTAssertEqual(records.count, expected.count, "codec \(codec)")
            for (i, (r, e)) in zip(records, expected).enumerated() {
                XCTAssertEqual(r.sequence, UInt64(i + 1))
                XCTAssertEqual(r.payload, e.payload, "codec \(codec) record \(i) size \(e.payload.count)")
                XCTAssertEqual(r.key, e.key)
                XCTAssertEqual(r.kind, e.kind)
                XCTAssertEqual(r.timestampNs, e.timestampNs)
            }
            for (i, e) in expected.enumerated() where e.key != nil {
                let found = reader.lookup(key: e.key!)
                XCTAssertEqual(found.map(\.sequence), [UInt64(i + 1)], "codec \(codec) key \(i)")
            }
            XCTAssertTrue(reader.lookup(key: Array("absent".utf8)).isEmpty)
            let report = try Verifier.verify(path: dir)
            XCTAssertTrue(report.isClean, "\(report.problems)")
            XCTAssertEqual(report.records, expected.count)
        }
    }

    func testReopenContinuesSequencesAndFindsDuplicateKeysOldestFirst() throws {
        let dir = temporaryDirectory(self) + "/log"
        var w = try LogWriter(directory: dir)
        try w.append(RecordInput(timestampNs: 1, kind: 1, key: [1, 2, 3], payload: [1]))
        try w.append(RecordInput(timestampNs: 2, kind: 1, key: nil, payload: [2]))
        try w.close()
        w = try LogWriter(directory: dir)
        XCTAssertEqual(w.nextSequenceNumber, 3)
        try w.append(RecordInput(timestampNs: 3, kind: 1, key: [1, 2, 3], payload: [3]))
        try w.close()
        let reader = try LogReader(path: dir)
        XCTAssertEqual(reader.readAll().map(\.payload), [[1], [2], [3]])
        XCTAssertEqual(reader.lookup(key: [1, 2, 3]).map(\.payload), [[1], [3]])
        XCTAssertEqual(reader.lookupFirst(key: [1, 2, 3])?.sequence, 1)
    }

    func testSecondWriterIsRefusedWithPid() throws {
        let dir = temporaryDirectory(self) + "/log"
        let first = try LogWriter(directory: dir)
        XCTAssertThrowsError(try LogWriter(directory: dir)) { error in
            let e = error as! StorageError
            XCTAssertEqual(e.code, .locked)
            XCTAssertTrue(e.message.contains("pid \(getpid())"), e.message)
        }
        try first.close()
        XCTAssertNoThrow(try LogWriter(directory: dir).close())
    }

    func testRollsByRecordCountAndRejectsOversizedRecords() throws {
        let dir = temporaryDirectory(self) + "/log"
        var options = LogOptions()
        options.segmentRecordCountMax = 10
        options.chunkSizeBytes = 256
        let w = try LogWriter(directory: dir, options: options)
        for i in 0..<35 { try w.append(makeInput(i, size: 50)) }
        XCTAssertThrowsError(try w.append(RecordInput(timestampNs: 0, kind: 0, key: [UInt8](repeating: 1, count: 70_000), payload: []))) {
            XCTAssertEqual(($0 as! StorageError).code, .invalidRecord)
        }
        try w.close()
        XCTAssertEqual(segmentFiles(dir).count, 4)
        XCTAssertEqual(try LogReader(path: dir).readAll().count, 35)
    }

    func testGroupCommitFromManyThreadsKeepsEveryRecord() throws {
        try groupCommitFromManyThreads(wait: .sleep)
    }

    /// Waiters that spin before they sleep must see the same releases (and errors) as sleeping ones.
    func testGroupCommitWithSpinningWaitersKeepsEveryRecord() throws {
        try groupCommitFromManyThreads(wait: .spin)
    }

    /// How long each policy spins: `automatic` spins like `spin` after short fsyncs and sleeps
    /// after long ones; nobody spins before the first fsync, or for more than the limit.
    func testGroupCommitSpinBudget() {
        XCTAssertEqual(LogOptions().groupCommit.waiting, .automatic)
        func budget(_ waiting: GroupCommitPolicy.Waiting, _ typicalSyncNs: UInt64) -> UInt64 {
            GroupCommitPolicy(waiting: waiting).spinBudgetNs(typicalSyncNs: typicalSyncNs)
        }
        let short: UInt64 = 200_000
        let limit = GroupCommitPolicy.automaticSpinLimitNs
        for waiting in GroupCommitPolicy.Waiting.allCases {
            XCTAssertEqual(budget(waiting, 0), 0, "\(waiting) before the first fsync")
        }
        XCTAssertEqual(budget(.sleep, short), 0)
        XCTAssertEqual(budget(.spin, short), 3 * short)
        XCTAssertEqual(budget(.automatic, short), 3 * short)
        XCTAssertEqual(budget(.automatic, limit), 3 * limit)
        XCTAssertEqual(budget(.automatic, limit + 1), 0)
        XCTAssertEqual(budget(.spin, limit + 1), 3 * (limit + 1))
        XCTAssertEqual(budget(.spin, 50_000_000), GroupCommitPolicy.spinBudgetLimitNs)
    }

    private func groupCommitFromManyThreads(wait: GroupCommitPolicy.Waiting) throws {
        let dir = temporaryDirectory(self) + "/log"
        var options = LogOptions()
        options.durability = .everyBatch
        options.groupCommit.waiting = wait
        // Small segments: seals (which also make records durable) happen while groups form.
        options.segmentRecordCountMax = 97
        let w = try LogWriter(directory: dir, options: options)
        let threads = 16
        let perThread = 40
        let notDurableOnReturn = LockedCounter()
        let group = DispatchGroup()
        for t in 0..<threads {
            group.enter()
            let thread = Thread {
                for i in 0..<perThread {
                    let record = RecordInput(timestampNs: Int64(i), kind: UInt16(t), key: Array("t\(t)-\(i)".utf8), payload: Array("v\(t)-\(i)".utf8))
                    let sequence = i % 2 == 0 ? try! w.append(record) : try! w.appendBatch([record]).upperBound
                    if w.durableSequenceNumber < sequence { notDurableOnReturn.add(1) }
                }
                group.leave()
            }
            thread.start()
        }
        group.wait()
        XCTAssertEqual(notDurableOnReturn.value, 0, "an append returned before its record was durable")
        XCTAssertEqual(w.durableSequenceNumber, UInt64(threads * perThread))
        try w.close()
        let reader = try LogReader(path: dir)
        XCTAssertEqual(reader.recordCount, threads * perThread)
        for t in 0..<threads {
            for i in 0..<perThread {
                XCTAssertEqual(reader.lookup(key: Array("t\(t)-\(i)".utf8)).first?.payload, Array("v\(t)-\(i)".utf8))
            }
        }
    }

    func testManyTasksAppendDurablyAndShareFsyncs() async throws {
        let dir = temporaryDirectory(self) + "/log"
        var options = LogOptions()
        options.segmentRecordCountMax = 101
        let w = try LogWriter(directory: dir, options: options)
        let tasks = 24
        let perTask = 30
        let notDurable = try await withThrowingTaskGroup(of: Int.self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var late = 0
                    for i in 0..<perTask {
                        let record = RecordInput(timestampNs: Int64(i), kind: 1, key: Array("t\(t)-\(i)".utf8), payload: [UInt8(t), UInt8(i)])
                        let sequence = try await w.appendDurably(record)
                        if w.durableSequenceNumber < sequence { late += 1 }
                    }
                    return late
                }
            }
            return try await group.reduce(0, +)
        }
        XCTAssertEqual(notDurable, 0, "appendDurably returned before the record was durable")
        XCTAssertEqual(w.durableSequenceNumber, UInt64(tasks * perTask))
        try w.close()
        let reader = try LogReader(path: dir)
        XCTAssertEqual(reader.recordCount, tasks * perTask)
        XCTAssertEqual(reader.lookup(key: Array("t7-29".utf8)).first?.payload, [7, 29])
        // After close, waiting for a record never written gives `closed`, not a hang.
        do {
            try await w.waitUntilDurable(UInt64(tasks * perTask) + 10)
        } catch {
            XCTAssertEqual(error.code, .closed)
        }
    }

    func testSyncWaitersLearnWhenTheWriterCloses() throws {
        // durability .none: close does not fsync, so a sync caller still waiting must not hang.
        let dir = temporaryDirectory(self) + "/log"
        let w = try LogWriter(directory: dir, options: LogOptions())
        for i in 0..<100 { try w.append(RecordInput(timestampNs: Int64(i), kind: 1, payload: [UInt8(i)])) }
        let group = DispatchGroup()
        let outcomes = LockedCounter()
        for _ in 0..<8 {
            group.enter()
            Thread {
                do { try w.sync() } catch let e as StorageError { XCTAssertEqual(e.code, .closed) } catch { XCTFail("\(error)") }
                outcomes.add(1)
                group.leave()
            }.start()
        }
        try w.close()
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success, "a sync caller hung across close")
        XCTAssertEqual(outcomes.value, 8)
        XCTAssertEqual(try LogReader(path: dir).recordCount, 100)
    }

    func testConcurrentReaderNeverSeesPartialRecords() throws {
        let dir = temporaryDirectory(self) + "/log"
        var options = LogOptions()
        options.chunkSizeBytes = 2048
        options.segmentSizeBytesMax = 32 << 10
        let w = try LogWriter(directory: dir, options: options)
        let total = 3000
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            for i in 0..<total {
                try! w.append(makeInput(i, size: 40 + i % 200))
                if i % 50 == 0 { try! w.flush() }
            }
            try! w.close()
            done.signal()
        }
        let reader = try LogReader(path: dir)
        var seen = 0
        var finished = false
        while !finished {
            finished = done.wait(timeout: .now() + .milliseconds(5)) == .success
            try reader.refresh()
            var next = 1
            reader.forEachRecord { view in
                XCTAssertEqual(view.sequence, UInt64(next))
                XCTAssertEqual(Array(view.payload), makeInput(next - 1, size: 40 + (next - 1) % 200).payload)
                next += 1
                return true
            }
            XCTAssertGreaterThanOrEqual(next - 1, seen, "a reader went backwards")
            seen = next - 1
        }
        XCTAssertEqual(seen, total)
    }

    func testAsyncDurabilityWait() async throws {
        let dir = temporaryDirectory(self) + "/log"
        var options = LogOptions()
        options.durability = .interval(milliseconds: 1000)
        let w = try LogWriter(directory: dir, options: options)
        let seq = try w.append(makeInput(1, size: 10))
        try await w.waitUntilDurable(seq)
        XCTAssertGreaterThanOrEqual(w.durableSequenceNumber, seq)
        try w.close()
    }
}

/// A counter threads may add to.
final class LockedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
    func add(_ n: Int) {
        lock.lock()
        count += n
        lock.unlock()
    }
}

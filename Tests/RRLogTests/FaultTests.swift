import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogStorage
import XCTest

/// Faults a store must survive: a full disk, a read-only file system, torn manifests, a segment
/// deleted under a reader; and its safe defaults (modes 0700/0600).
final class FaultTests: XCTestCase {
    func temporary() -> String {
        let dir = FileManager.default.temporaryDirectory.path + "/rrlog-faults-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    @discardableResult
    func shell(_ command: String) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (-1, "\(error)") }
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    /// A size-limited tmpfs, or a skip when this machine cannot mount one.
    func smallFileSystem(sizeKiB: Int, readOnly: Bool = false) throws -> String {
        let mount = temporary() + "/mnt"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        let (status, output) = shell("mount -t tmpfs -o size=\(sizeKiB)k,mode=0700 tmpfs '\(mount)' 2>&1")
        guard status == 0 else { throw XCTSkip("cannot mount a tmpfs here (\(output.trimmingCharacters(in: .whitespacesAndNewlines))); run as root to test a full disk") }
        addTeardownBlock { self.shell("umount '\(mount)'") }
        return mount
    }

    func testFullDiskGivesAClearErrorKeepsTheLogConsistentAndRecovers() throws {
        let mount = try smallFileSystem(sizeKiB: 384)
        let filler = mount + "/filler"
        XCTAssertTrue(FileManager.default.createFile(atPath: filler, contents: Data(count: 192 << 10)))
        let dir = mount + "/log"
        var options = LogOptions()
        options.chunkSizeBytes = 8 << 10
        let writer = try LogWriter(directory: dir, options: options)
        var acknowledged = 0
        var failure: StorageError?
        for i in 0..<10_000 {
            do {
                try writer.append(makeRecord(i))
                acknowledged += 1
            } catch {
                failure = error
                break
            }
        }
        let error = try XCTUnwrap(failure, "the disk never filled")
        XCTAssertEqual(error.code, .noSpace, "\(error)")
        XCTAssertTrue(error.description.contains("disk is full"), error.description)
        XCTAssertNotNil(error.path)
        // What was acknowledged and flushed is readable and the log verifies.
        let flushedBefore = try LogReader(path: dir).recordCount
        XCTAssertGreaterThan(flushedBefore, 0)
        XCTAssertTrue(try Verifier.verify(path: dir).isClean)
        // Free space: appending works again and nothing acknowledged is lost.
        try FileManager.default.removeItem(atPath: filler)
        for i in acknowledged..<(acknowledged + 50) { try writer.append(makeRecord(i)) }
        try writer.close()
        let records = try LogReader(path: dir).readAll()
        XCTAssertEqual(records.count, acknowledged + 50)
        for (i, r) in records.enumerated() { XCTAssertEqual(r.payload, makeRecord(i).payload, "record \(i)") }
        XCTAssertTrue(try Verifier.verify(path: dir).isClean)
    }

    /// A server's appender kept open between POSTs: the POST that meets a full disk stores
    /// nothing, every earlier one stays whole and counted, and after space is freed the next
    /// appender continues the call indexes from what is stored.
    func testAFullDiskCutsTheFailedBatchBackAndKeepsEveryEarlierOne() async throws {
        let mount = try smallFileSystem(sizeKiB: 1024)
        let filler = mount + "/filler"
        XCTAssertTrue(FileManager.default.createFile(atPath: filler, contents: Data(count: 256 << 10)))
        let store = try Store(path: mount + "/store")
        func event(_ i: Int) -> String {
            #"{"type":"event","ts_ns":\#(1_000 + i),"io_type":"tool_call","tool_name":"search","agent_id":"a","inputs":{"q":"q\#(i % 10)"},"outputs":{"text":"\#(String(repeating: "answer \(i) ", count: 20))"}}"#
        }
        let ingest = try IOEventIngest.create(store: store, session: .init(name: "s"))
        let session = try ingest.commit()
        let appender = try IOEventAppender(store: store, session: session)
        var stored = 0
        var failure: RRLogError?
        for batch in 0..<1_000 {
            let lines = (0..<50).map { event(batch * 50 + $0) }.joined(separator: "\n")
            do {
                stored += try await appender.append(jsonLines: Array(lines.utf8))
            } catch {
                failure = error
                break
            }
        }
        let error = try XCTUnwrap(failure, "the disk never filled")
        XCTAssertTrue(error.message.contains("disk is full"), error.message)
        XCTAssertFalse(appender.isOpen, "a batch that could not be stored closes the appender")
        XCTAssertGreaterThan(stored, 0)
        XCTAssertEqual(try store.session("s").recordCount, stored, "the catalog counts every stored batch and none of the failed one")
        try FileManager.default.removeItem(atPath: filler)
        let reader = try store.openReader(try store.session("s"))
        XCTAssertEqual(reader.recordCount, stored, "the failed batch left no record in the log")
        // Space again: the next appender reseals the cut segment and counts on from what is stored.
        let next = try IOEventAppender(store: store, session: try store.session("s"))
        _ = try await next.append(jsonLines: Array(event(stored).utf8))
        let final = try next.close()
        XCTAssertEqual(final.recordCount, stored + 1)
        let identity = IOCallIdentity(ioType: "tool_call", tool: "search", agent: "a", inputs: ["q": .string("q\(stored % 10)")])
        XCTAssertEqual(Int(try store.openReader(final).recordedCallCount(identity)), stored / 10 + 1)
        XCTAssertTrue(try Verifier.verify(path: mount + "/store/sessions/\(final.id)/log").isClean)
    }

    func testReadOnlyFileSystemGivesAClearError() throws {
        let mount = try smallFileSystem(sizeKiB: 1024)
        do {
            // Scoped, so the catalog connection is closed before the remount.
            let store = try Store(path: mount + "/store")
            let m = try store.createSession(name: "s")
            let w = try store.openWriter(m)
            try w.append(makeRecord(1))
            try w.close()
        }
        let (status, output) = shell("mount -o remount,ro '\(mount)' 2>&1")
        guard status == 0 else { throw XCTSkip("cannot remount read-only: \(output)") }
        // The store cannot be opened for writing, and says why and where.
        XCTAssertThrowsError(try Store(path: mount + "/store")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("catalog.sqlite") && text.contains("read-only file system"), text)
        }
        // The segments themselves stay readable and verifiable in place.
        let sessions = try FileManager.default.contentsOfDirectory(atPath: mount + "/store/sessions")
        let log = mount + "/store/sessions/" + sessions[0] + "/log"
        XCTAssertEqual(try LogReader(path: log).readAll().map(\.payload), [makeRecord(1).payload])
        XCTAssertTrue(try Verifier.verify(path: log).isClean)
        XCTAssertThrowsError(try LogWriter(directory: log)) { error in
            XCTAssertTrue("\(error)".lowercased().contains("read-only"), "\(error)")
        }
    }

    func testTornManifestsNeverCrashAndAreReported() throws {
        let root = temporary() + "/store"
        let store = try Store(path: root)
        let m = try store.createSession(name: "torn")
        let w = try store.openWriter(m)
        try w.append([makeRecord(1), makeRecord(2)])
        try w.close()
        let manifestPath = root + "/sessions/\(m.id)/manifest.json"
        let full = try XCTUnwrap(FileManager.default.contents(atPath: manifestPath))
        for cut in stride(from: 0, to: full.count, by: max(1, full.count / 60)) {
            XCTAssertTrue(FileManager.default.createFile(atPath: manifestPath, contents: full.prefix(cut)))
            let report = try Store.reindex(path: root)
            XCTAssertEqual(report.sessions, 0, "cut \(cut)")
            XCTAssertEqual(report.skipped.count, 1, "cut \(cut): the torn manifest is reported")
        }
        XCTAssertTrue(FileManager.default.createFile(atPath: manifestPath, contents: full))
        XCTAssertEqual(try Store.reindex(path: root).sessions, 1)
        // A leftover temp file of an interrupted atomic write is not a manifest.
        XCTAssertTrue(FileManager.default.createFile(atPath: manifestPath + ".tmp-123", contents: full.prefix(10)))
        XCTAssertEqual(try Store.reindex(path: root).sessions, 1)
        XCTAssertTrue(try store.verify(try store.session("torn")).isClean)
    }

    /// A process killed between writing `manifest.json` and updating the catalog (found by the
    /// 1,000-kill crash run, during an import): verify finishes the save when the file matches the
    /// log and the catalog does not, and reports nothing lost.
    func testKillBetweenManifestFileAndCatalogIsFinishedByVerify() throws {
        let root = temporary() + "/store"
        let store = try Store(path: root)
        let m = try store.createSession(name: "half-saved")
        let stale = try store.session("half-saved")
        var options = LogOptions()
        options.segmentRecordCountMax = 3
        let w = try store.openWriter(m, options: options)
        try w.append((0..<10).map(makeRecord))
        try w.close()
        // Put the catalog back to what it held before the save: the file is now the newer one.
        let catalog = try Catalog(path: root + "/catalog.sqlite")
        try catalog.upsert(stale)
        XCTAssertEqual(try store.session("half-saved").segments, [])
        let report = try store.verify(try store.session("half-saved"))
        XCTAssertTrue(report.isClean, "\(report.manifestProblems)")
        let healed = try store.session("half-saved")
        XCTAssertEqual(healed.segments.count, 4)
        XCTAssertEqual(try store.openReader(healed).recordCount, 10)
        // A manifest file that disagrees with the log is not taken: that is real damage.
        var wrong = healed
        wrong.segments.removeLast()
        try catalog.upsert(stale)
        try Data(wrong.encoded()).write(to: URL(fileURLWithPath: root + "/sessions/\(m.id)/manifest.json"))
        XCTAssertFalse(try store.verify(try store.session("half-saved")).isClean)
    }

    func testSegmentDeletedUnderAReader() throws {
        let dir = temporary() + "/log"
        var options = LogOptions()
        options.segmentRecordCountMax = 10
        let w = try LogWriter(directory: dir, options: options)
        for i in 0..<40 { try w.append(makeRecord(i)) }
        try w.close()
        let reader = try LogReader(path: dir)
        let files = try SegmentFiles.list(dir)
        try FileManager.default.removeItem(atPath: files[1].path)
        // The mapping keeps the deleted segment readable until refresh; then it is gone.
        XCTAssertEqual(reader.readAll().count, 40)
        try reader.refresh()
        XCTAssertEqual(reader.readAll().count, 30)
        let report = try Verifier.verify(path: dir)
        XCTAssertTrue(report.isClean, "a log missing a whole segment still has consistent segments: \(report.problems)")
    }

    func testStoreDirectoriesAre0700AndFiles0600() throws {
        let root = temporary() + "/store"
        let store = try Store(path: root)
        let m = try store.createSession(name: "modes")
        let w = try store.openWriter(m)
        try w.append(makeRecord(1))
        // While the catalog is open its -wal and -shm files exist; they must be private too.
        var checked = 0
        let enumerator = FileManager.default.enumerator(atPath: root)!
        for case let relative as String in enumerator {
            let path = root + "/" + relative
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            let mode = (attributes[.posixPermissions] as! NSNumber).intValue & 0o777
            let isDirectory = attributes[.type] as? FileAttributeType == .typeDirectory
            XCTAssertEqual(mode, isDirectory ? 0o700 : 0o600, "\(relative) has mode \(String(mode, radix: 8))")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 5)
        try w.close()
    }

    func makeRecord(_ i: Int) -> RecordInput {
        RecordInput(timestampNs: Int64(i), kind: 1, key: Array("k\(i)".utf8), payload: Array(String(repeating: "payload \(i) ", count: 40).utf8))
    }
}

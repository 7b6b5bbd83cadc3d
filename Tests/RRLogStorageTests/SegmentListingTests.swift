import Foundation
import RRLogStorage
import RRLogTestSupport
import XCTest

/// Listing a log directory while segments appear: readdir on ext4 walks a directory in hash order,
/// so one listing can include a segment created during it and leave out an earlier one created
/// during it too. `SegmentFiles.list` must never report such a hole (a tail reader would skip a
/// whole segment), while holes that really exist stay visible.
final class SegmentListingTests: XCTestCase {
    func testListingWhileSegmentsAppearHasNoFalseHoles() throws {
        let dir = temporaryDirectory(self)
        let stop = StopFlag()
        let finished = DispatchSemaphore(value: 0)
        let creator = Thread {
            defer { finished.signal() }
            var id: UInt64 = 1
            // Created the way the writer creates segments: under a temporary name, then renamed.
            while !stop.isSet && id < 200_000 {
                let path = dir + "/" + SegmentFiles.name(for: id)
                _ = FileManager.default.createFile(atPath: path + ".new", contents: Data([1]))
                _ = rename(path + ".new", path)
                id += 1
            }
        }
        creator.start()
        defer {
            stop.set()
            finished.wait()
        }
        let deadline = Date().addingTimeInterval(2)
        var listings = 0
        while Date() < deadline {
            let listed = try SegmentFiles.list(dir)
            listings += 1
            for (a, b) in zip(listed, listed.dropFirst()) where b.id != a.id + 1 {
                XCTFail("listing \(listings) jumps from segment \(a.id) to \(b.id)")
                return
            }
        }
        XCTAssertGreaterThan(listings, 10)
    }

    func testRealHolesStayVisible() throws {
        let dir = temporaryDirectory(self)
        for id: UInt64 in [3, 4, 7, 8, 20] {
            _ = FileManager.default.createFile(atPath: dir + "/" + SegmentFiles.name(for: id), contents: Data([1]))
        }
        _ = FileManager.default.createFile(atPath: dir + "/" + SegmentFiles.name(for: 9) + ".new", contents: Data([1]))
        XCTAssertEqual(try SegmentFiles.list(dir).map(\.id), [3, 4, 7, 8, 20])
    }
}

final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

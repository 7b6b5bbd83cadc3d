import Foundation
import RRLogCatalog
import XCTest

// MARK: Helpers

/// A fresh directory under the system temporary directory, removed when the test ends.
private func makeTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("rrlog-catalog-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}

/// A manifest with every field set, so round trips cover them all.
private func sampleManifest(
    id: String = UUID().uuidString, name: String, type: String = "recording", createdNs: Int64 = 1_000,
    tags: [String] = ["nightly"]
) -> SessionManifest {
    SessionManifest(
        id: id, name: name, type: type, status: "completed", createdNs: createdNs,
        startNs: createdNs + 10, endNs: createdNs + 5_000, description: "session \(name)", tags: tags,
        provenance: .init(
            gitSHA: "0123abcd", configDigest: "sha256:ffee", modelIDs: ["planner-v2", "vision-v7"],
            seeds: [42, -7], createdBy: "ci", adapter: "ros2", adapterVersion: "1.4.0",
            extra: ["host": "builder-3"]),
        countsByKind: ["frame": 10, "event": 3], recordCount: 13, bytesStored: 4_096, bytesOnDisk: 1_234,
        segments: [
            .init(file: "seg-000001.rrl", firstSequence: 0, lastSequence: 9, recordCount: 10, bytesOnDisk: 1_000),
            .init(file: "seg-000002.rrl", firstSequence: 10, lastSequence: 12, recordCount: 3, bytesOnDisk: 234),
        ],
        annotations: ["reviewed": "yes"])
}

/// The `CatalogError` that `body` throws; fails the test when it throws nothing.
private func catalogError<T>(
    file: StaticString = #filePath, line: UInt = #line, _ body: () throws(CatalogError) -> T
) -> CatalogError? {
    do {
        _ = try body()
        XCTFail("expected a CatalogError", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// Rewrites the file at `path` with `change` applied to its bytes.
private func modifyFile(_ path: String, _ change: (inout [UInt8]) -> Void) throws {
    let url = URL(fileURLWithPath: path)
    var bytes = try [UInt8](Data(contentsOf: url))
    change(&bytes)
    try Data(bytes).write(to: url)
}

/// Sets the database header's `user_version` (a 4-byte big-endian integer at offset 60).
private func setUserVersion(_ version: UInt32, of path: String) throws {
    try modifyFile(path) { bytes in
        for i in 0..<4 { bytes[60 + i] = UInt8(truncatingIfNeeded: version >> (8 * (3 - i))) }
    }
}

// MARK: Catalog

final class CatalogTests: XCTestCase {
    private func makeCatalog() throws -> (Catalog, String) {
        let path = try makeTemporaryDirectory(self) + "/catalog.sqlite"
        let catalog = try Catalog(path: path)
        addTeardownBlock { catalog.close() }
        return (catalog, path)
    }

    func testManifestRoundTripsThroughUpsertLookupAndList() throws {
        let (catalog, path) = try makeCatalog()
        let manifest = sampleManifest(name: "drive-1")
        try catalog.upsert(manifest)

        XCTAssertEqual(try catalog.session(id: manifest.id), manifest)
        XCTAssertEqual(try catalog.session(name: "drive-1"), manifest)
        XCTAssertEqual(try catalog.list(), [manifest])
        XCTAssertEqual(try catalog.count(), 1)
        XCTAssertNil(try catalog.session(id: "no-such-id"))
        XCTAssertNil(try catalog.session(name: "no-such-name"))

        // The catalog persists across close and reopen.
        catalog.close()
        let reopened = try Catalog(path: path)
        defer { reopened.close() }
        XCTAssertEqual(try reopened.session(id: manifest.id), manifest)
        XCTAssertEqual(try reopened.integrityCheck(), [])
    }

    func testUpsertWithSameIDReplacesTheSession() throws {
        let (catalog, _) = try makeCatalog()
        var manifest = sampleManifest(name: "drive-1", tags: ["old"])
        manifest.status = "active"
        try catalog.upsert(manifest)

        manifest.name = "drive-1-renamed"
        manifest.status = "completed"
        manifest.tags = ["new"]
        manifest.recordCount = 99
        try catalog.upsert(manifest)

        XCTAssertEqual(try catalog.count(), 1)
        XCTAssertEqual(try catalog.session(id: manifest.id), manifest)
        XCTAssertNil(try catalog.session(name: "drive-1"))
        XCTAssertEqual(try catalog.list(tag: "old"), [])
        XCTAssertEqual(try catalog.list(tag: "new"), [manifest])
    }

    func testListIsOrderedByCreationTimeThenName() throws {
        let (catalog, _) = try makeCatalog()
        let late = sampleManifest(name: "a-late", createdNs: 300)
        let earlyB = sampleManifest(name: "b-early", createdNs: 100)
        let earlyA = sampleManifest(name: "a-early", createdNs: 100)
        let middle = sampleManifest(name: "z-middle", createdNs: 200)
        for manifest in [late, earlyB, earlyA, middle] { try catalog.upsert(manifest) }

        XCTAssertEqual(try catalog.list().map(\.name), ["a-early", "b-early", "z-middle", "a-late"])
    }

    func testListFiltersByTypeAndTag() throws {
        let (catalog, _) = try makeCatalog()
        let recording = sampleManifest(name: "r1", type: "recording", createdNs: 1, tags: ["lab", "night"])
        let capture = sampleManifest(name: "c1", type: "capture", createdNs: 2, tags: ["lab"])
        let seed = sampleManifest(name: "s1", type: "seed", createdNs: 3, tags: [])
        let recording2 = sampleManifest(name: "r2", type: "recording", createdNs: 4, tags: ["night", "night"])
        for manifest in [recording, capture, seed, recording2] { try catalog.upsert(manifest) }

        XCTAssertEqual(try catalog.list(type: "recording"), [recording, recording2])
        XCTAssertEqual(try catalog.list(type: "capture"), [capture])
        XCTAssertEqual(try catalog.list(type: "training"), [])
        XCTAssertEqual(try catalog.list(tag: "lab"), [recording, capture])
        XCTAssertEqual(try catalog.list(tag: "night"), [recording, recording2])
        XCTAssertEqual(try catalog.list(type: "capture", tag: "night"), [])
        XCTAssertEqual(try catalog.list(type: "recording", tag: "lab"), [recording])
        XCTAssertEqual(try catalog.list().count, 4)
    }

    func testNameUsedByAnotherSessionIsConflict() throws {
        let (catalog, _) = try makeCatalog()
        let first = sampleManifest(id: "id-1", name: "shared-name")
        try catalog.upsert(first)

        let error = catalogError { () throws(CatalogError) in
            try catalog.upsert(sampleManifest(id: "id-2", name: "shared-name"))
        }
        XCTAssertEqual(error?.code, .conflict)
        XCTAssertTrue(error?.message.contains("id-1") ?? false, "names the session holding the name: \(String(describing: error))")
        XCTAssertEqual(try catalog.list(), [first])
    }

    func testDeleteRemovesTheSessionAndItsTags() throws {
        let (catalog, _) = try makeCatalog()
        let keep = sampleManifest(name: "keep", tags: ["t"])
        let drop = sampleManifest(name: "drop", tags: ["t"])
        try catalog.upsert(keep)
        try catalog.upsert(drop)

        try catalog.delete(id: drop.id)

        XCTAssertNil(try catalog.session(id: drop.id))
        XCTAssertEqual(try catalog.list(), [keep])
        XCTAssertEqual(try catalog.list(tag: "t"), [keep])
        XCTAssertEqual(try catalog.integrityCheck(), [])
        // The name is free again.
        try catalog.upsert(sampleManifest(name: "drop"))
        XCTAssertEqual(try catalog.count(), 2)
    }

    func testDeletingAMissingSessionIsNotFound() throws {
        let (catalog, _) = try makeCatalog()
        let error = catalogError { () throws(CatalogError) in try catalog.delete(id: "never-stored") }
        XCTAssertEqual(error?.code, .notFound)
    }

    func testReplaceAllRebuildsExactlyTheGivenSet() throws {
        let (catalog, _) = try makeCatalog()
        let survivor = sampleManifest(id: "kept", name: "kept", createdNs: 1)
        try catalog.upsert(survivor)
        try catalog.upsert(sampleManifest(name: "stale-1", tags: ["gone"]))
        try catalog.upsert(sampleManifest(name: "stale-2"))

        var updated = survivor
        updated.status = "failed"
        let fresh = (0..<5).map { sampleManifest(name: "fresh-\($0)", createdNs: 10 + Int64($0)) }
        try catalog.replaceAll(with: [updated] + fresh)

        XCTAssertEqual(try catalog.list(), [updated] + fresh)
        XCTAssertEqual(try catalog.count(), 6)
        XCTAssertEqual(try catalog.list(tag: "gone"), [])
        XCTAssertEqual(try catalog.list(tag: "nightly").count, 6)

        try catalog.replaceAll(with: [])
        XCTAssertEqual(try catalog.count(), 0)
    }

    func testReplaceAllWithDuplicatesLeavesTheCatalogUnchanged() throws {
        let (catalog, _) = try makeCatalog()
        let existing = sampleManifest(name: "existing")
        try catalog.upsert(existing)

        let sameID = catalogError { () throws(CatalogError) in
            try catalog.replaceAll(with: [sampleManifest(id: "dup", name: "a"), sampleManifest(id: "dup", name: "b")])
        }
        XCTAssertEqual(sameID?.code, .conflict)
        let sameName = catalogError { () throws(CatalogError) in
            try catalog.replaceAll(with: [sampleManifest(name: "twin"), sampleManifest(name: "twin")])
        }
        XCTAssertEqual(sameName?.code, .conflict)
        let emptyID = catalogError { () throws(CatalogError) in
            try catalog.replaceAll(with: [sampleManifest(name: "ok"), sampleManifest(id: "", name: "no-id")])
        }
        XCTAssertEqual(emptyID?.code, .badManifest)

        XCTAssertEqual(try catalog.list(), [existing])
    }

    func testEmptyIDOrNameIsBadManifest() throws {
        let (catalog, _) = try makeCatalog()
        XCTAssertEqual(catalogError { () throws(CatalogError) in try catalog.upsert(sampleManifest(id: "", name: "n")) }?.code, .badManifest)
        XCTAssertEqual(catalogError { () throws(CatalogError) in try catalog.upsert(sampleManifest(name: "")) }?.code, .badManifest)
        XCTAssertEqual(try catalog.count(), 0)
    }

    func testMaliciousStringsAreStoredVerbatim() throws {
        let (catalog, _) = try makeCatalog()
        let nasty = [
            "'; DROP TABLE sessions; --",
            "Robert'); DELETE FROM tags; --",
            "\"double\" and 'single' quotes",
            "?1 ?2 :name @x $y %",
            "nul\u{0}inside",
            "ünïcödé ✓ 🚗",
            "",
        ]
        var stored: [SessionManifest] = []
        for (i, text) in nasty.enumerated() {
            var manifest = sampleManifest(id: "\(text)#id\(i)", name: "\(text)#name\(i)", type: text, createdNs: Int64(i), tags: [text, "x"])
            manifest.description = text
            manifest.annotations = [text: text]
            manifest.provenance.createdBy = text
            try catalog.upsert(manifest)
            stored.append(manifest)
        }

        XCTAssertEqual(try catalog.count(), nasty.count)
        XCTAssertEqual(try catalog.list(), stored)
        for (i, manifest) in stored.enumerated() {
            XCTAssertEqual(try catalog.session(id: manifest.id), manifest, "string \(i)")
            XCTAssertEqual(try catalog.session(name: manifest.name), manifest, "string \(i)")
            XCTAssertEqual(try catalog.list(type: nasty[i]), [manifest], "string \(i)")
            XCTAssertEqual(try catalog.list(tag: nasty[i]), [manifest], "string \(i)")
        }
        XCTAssertEqual(try catalog.integrityCheck(), [])
        try catalog.delete(id: stored[0].id)
        XCTAssertEqual(try catalog.count(), nasty.count - 1)
    }

    func testConcurrentUpsertsFromTasksAllLand() async throws {
        let (catalog, _) = try makeCatalog()
        let taskCount = 8
        let sessionsPerTask = 25
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<taskCount {
                group.addTask {
                    for s in 0..<sessionsPerTask {
                        let name = "task\(t)-session\(s)"
                        try catalog.upsert(sampleManifest(id: name, name: name, createdNs: Int64(s)))
                        // Reads interleave with the other tasks' writes.
                        _ = try catalog.session(id: name)
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(try catalog.count(), taskCount * sessionsPerTask)
        XCTAssertEqual(Set(try catalog.list().map(\.id)).count, taskCount * sessionsPerTask)
        XCTAssertEqual(try catalog.integrityCheck(), [])
    }

    func testConcurrentWritersOnTwoConnectionsAllLand() throws {
        let (first, path) = try makeCatalog()
        let second = try Catalog(path: path)
        defer { second.close() }
        let catalogs = [first, second]
        let threadCount = 4
        let sessionsPerThread = 20
        let failures = Failures()

        DispatchQueue.concurrentPerform(iterations: threadCount) { t in
            let catalog = catalogs[t % catalogs.count]
            for s in 0..<sessionsPerThread {
                let name = "thread\(t)-session\(s)"
                do throws(CatalogError) {
                    try catalog.upsert(sampleManifest(id: name, name: name))
                } catch {
                    failures.record(error)
                }
            }
        }

        XCTAssertEqual(failures.descriptions, [])
        XCTAssertEqual(try first.count(), threadCount * sessionsPerThread)
        XCTAssertEqual(try second.count(), threadCount * sessionsPerThread)
    }

    func testConcurrentOpensOfANewCatalogAllSucceed() throws {
        let path = try makeTemporaryDirectory(self) + "/catalog.sqlite"
        let threadCount = 4
        let failures = Failures()

        DispatchQueue.concurrentPerform(iterations: threadCount) { t in
            do throws(CatalogError) {
                let catalog = try Catalog(path: path)
                defer { catalog.close() }
                try catalog.upsert(sampleManifest(name: "opener-\(t)"))
            } catch {
                failures.record(error)
            }
        }

        XCTAssertEqual(failures.descriptions, [])
        let catalog = try Catalog(path: path)
        defer { catalog.close() }
        XCTAssertEqual(try catalog.count(), threadCount)
    }

    func testClosedCatalogThrowsClosed() throws {
        let (catalog, _) = try makeCatalog()
        catalog.close()
        catalog.close()
        XCTAssertEqual(catalogError { () throws(CatalogError) in try catalog.count() }?.code, .closed)
        XCTAssertEqual(catalogError { () throws(CatalogError) in try catalog.upsert(sampleManifest(name: "n")) }?.code, .closed)
    }

    // MARK: Damaged and foreign files

    func testGarbageFileIsCorruptNotACrash() throws {
        let path = try makeTemporaryDirectory(self) + "/catalog.sqlite"
        var generator = SplitMix64(seed: 0x5EED)
        let garbage = (0..<8192).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
        for contents in [garbage, Array("this is a text file, not a database\n".utf8)] {
            try Data(contents).write(to: URL(fileURLWithPath: path))

            let error = catalogError { () throws(CatalogError) in try Catalog(path: path) }

            XCTAssertEqual(error?.code, .corrupt)
            XCTAssertEqual(error?.path, path)
            let text = error?.description ?? ""
            XCTAssertTrue(text.contains(path), text)
            XCTAssertTrue(text.contains("rrlog reindex"), text)
            // Opening must not have modified the file the user may want to inspect.
            XCTAssertEqual(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))), contents)
        }
    }

    func testDamagedHeaderIsCorrupt() throws {
        let (catalog, path) = try makeCatalog()
        try catalog.upsert(sampleManifest(name: "n"))
        catalog.close()
        try modifyFile(path) { $0[0] &+= 1 }  // "SQLite format 3" becomes "TQLite format 3"

        let error = catalogError { () throws(CatalogError) in try Catalog(path: path) }
        XCTAssertEqual(error?.code, .corrupt)
        XCTAssertTrue(error?.description.contains("rrlog reindex") ?? false)
    }

    func testDamagedPagesAreReportedNotCrashed() throws {
        let (catalog, path) = try makeCatalog()
        try catalog.replaceAll(with: (0..<300).map { sampleManifest(name: "session-\($0)", createdNs: Int64($0)) })
        catalog.close()
        let pageSize = 4096
        try modifyFile(path) { bytes in
            XCTAssertGreaterThan(bytes.count, 8 * pageSize)
            // Scribble over every page after the first (which holds the schema).
            for page in 1..<(bytes.count / pageSize) {
                for offset in page * pageSize + 100..<page * pageSize + 164 { bytes[offset] ^= 0xA5 }
            }
        }

        do {
            let reopened = try Catalog(path: path)
            defer { reopened.close() }
            let problems = try reopened.integrityCheck()
            XCTAssertFalse(problems.isEmpty)
        } catch {
            XCTAssertEqual(error.code, .corrupt, error.description)
        }
    }

    func testSQLiteDatabaseThatIsNotACatalogIsRefused() throws {
        let (catalog, path) = try makeCatalog()
        catalog.close()
        // A database with tables but no catalog schema version looks like someone else's database.
        try setUserVersion(0, of: path)

        let error = catalogError { () throws(CatalogError) in try Catalog(path: path) }
        XCTAssertEqual(error?.code, .open)
        XCTAssertTrue(error?.message.contains("not an rrlog catalog") ?? false, String(describing: error))
    }

    func testNewerSchemaVersionIsRefused() throws {
        let (catalog, path) = try makeCatalog()
        catalog.close()
        try setUserVersion(99, of: path)

        let error = catalogError { () throws(CatalogError) in try Catalog(path: path) }
        XCTAssertEqual(error?.code, .open)
        XCTAssertTrue(error?.message.contains("99") ?? false, String(describing: error))
    }

    func testMissingDirectoryIsOpenError() throws {
        let path = try makeTemporaryDirectory(self) + "/no-such-directory/catalog.sqlite"
        let error = catalogError { () throws(CatalogError) in try Catalog(path: path) }
        XCTAssertEqual(error?.code, .open)
        XCTAssertTrue(error?.description.contains(path) ?? false)
    }
}

// MARK: Manifest JSON

final class SessionManifestTests: XCTestCase {
    /// A manifest as the documented snake_case JSON; pins the key names.
    private let documented = """
        {
          "annotations": {"reviewed": "yes"},
          "bytes_on_disk": 1234,
          "bytes_stored": 4096,
          "counts_by_kind": {"event": 3, "frame": 10},
          "created_ns": 1000,
          "description": "session drive-1",
          "end_ns": 6000,
          "id": "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
          "manifest_version": 1,
          "name": "drive-1",
          "provenance": {
            "adapter": "ros2", "adapter_version": "1.4.0", "config_digest": "sha256:ffee",
            "created_by": "ci", "extra": {"host": "builder-3"}, "git_sha": "0123abcd",
            "model_ids": ["planner-v2", "vision-v7"], "seeds": [42, -7]
          },
          "record_count": 13,
          "segments": [
            {"bytes_on_disk": 1000, "file": "seg-000001.rrl", "first_sequence": 0, "last_sequence": 9, "record_count": 10},
            {"bytes_on_disk": 234, "file": "seg-000002.rrl", "first_sequence": 10, "last_sequence": 12, "record_count": 3}
          ],
          "start_ns": 1010,
          "status": "completed",
          "tags": ["nightly"],
          "type": "recording"
        }
        """

    private func decodeError(_ json: String) -> CatalogError? {
        catalogError { () throws(CatalogError) in try SessionManifest.decode(from: Array(json.utf8)) }
    }

    func testDocumentedJSONDecodesAndReencodesWithTheSameKeys() throws {
        let expected = sampleManifest(id: "3F2504E0-4F89-11D3-9A0C-0305E82C3301", name: "drive-1")
        let decoded = try SessionManifest.decode(from: Array(documented.utf8))
        XCTAssertEqual(decoded, expected)

        func keys(_ bytes: [UInt8]) throws -> Set<String> {
            let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
            return Set(object?.keys.map { $0 } ?? [])
        }
        XCTAssertEqual(try keys(expected.encoded()), try keys(Array(documented.utf8)))
        XCTAssertEqual(try SessionManifest.decode(from: expected.encoded()), expected)
    }

    func testEncodingIsDeterministicWithSortedKeys() throws {
        let manifest = sampleManifest(name: "drive-1")
        let text = String(decoding: manifest.encoded(), as: UTF8.self)
        XCTAssertEqual(manifest.encoded(), manifest.encoded())
        let order = ["annotations", "bytes_on_disk", "bytes_stored", "counts_by_kind", "created_ns", "type"]
        let positions = order.compactMap { text.range(of: "\"\($0)\"")?.lowerBound }
        XCTAssertEqual(positions.count, order.count, text)
        XCTAssertEqual(positions, positions.sorted(), text)
        XCTAssertTrue(text.contains("\n"), "pretty printed")
    }

    func testExtremeValuesRoundTrip() throws {
        var manifest = sampleManifest(name: "extremes", createdNs: .min)
        manifest.endNs = .max
        manifest.startNs = nil
        manifest.segments = [.init(file: "a/b.rrl", firstSequence: .max - 1, lastSequence: .max, recordCount: .max, bytesOnDisk: .max)]
        manifest.provenance.seeds = [.min, .max]
        XCTAssertEqual(try SessionManifest.decode(from: manifest.encoded()), manifest)
    }

    func testAbsentOptionalKeysAndUnknownKeysAreAccepted() throws {
        let json = #"{"id": "x", "name": "n", "type": "seed", "status": "active", "created_ns": 5, "manifest_version": 1, "from_the_future": [1, 2]}"#
        let decoded = try SessionManifest.decode(from: Array(json.utf8))
        XCTAssertEqual(decoded, SessionManifest(id: "x", name: "n", type: "seed", status: "active", createdNs: 5))
    }

    func testMalformedManifestBytesAreBadManifest() {
        let cases: [(String, String)] = [
            ("", "empty input"),
            ("not json at all", "not JSON"),
            ("{\"id\": \"x\"", "truncated"),
            ("[]", "an array, not an object"),
            ("null", "null"),
            (String(documented.dropLast(20)), "truncated manifest"),
            (documented.replacingOccurrences(of: "\"record_count\": 13", with: "\"record_count\": \"13\""), "string count"),
            (documented.replacingOccurrences(of: "\"first_sequence\": 0", with: "\"first_sequence\": -1"), "negative sequence"),
            (documented.replacingOccurrences(of: "\"manifest_version\": 1", with: "\"manifest_version\": 2"), "newer version"),
            (documented.replacingOccurrences(of: "\"manifest_version\": 1", with: "\"manifest_version\": 0"), "version zero"),
            (documented.replacingOccurrences(of: "\"id\": \"3F2504E0-4F89-11D3-9A0C-0305E82C3301\",", with: ""), "missing id"),
        ]
        for (json, label) in cases {
            let error = decodeError(json)
            XCTAssertEqual(error?.code, .badManifest, label)
            XCTAssertFalse(error?.message.isEmpty ?? true, label)
        }
        XCTAssertTrue(decodeError(cases[10].0)?.message.contains("'id'") ?? false, "names the missing key")
        XCTAssertTrue(decodeError(cases[6].0)?.message.contains("record_count") ?? false, "names the mistyped key")
    }

    func testOversizedManifestIsRejectedBeforeParsing() {
        let bytes = [UInt8](repeating: UInt8(ascii: " "), count: SessionManifest.encodedSizeBytesMax + 1)
        let error = catalogError { () throws(CatalogError) in try SessionManifest.decode(from: bytes, path: "/sessions/x/manifest.json") }
        XCTAssertEqual(error?.code, .badManifest)
        XCTAssertEqual(error?.path, "/sessions/x/manifest.json")
    }
}

/// Errors collected from several threads.
private final class Failures: @unchecked Sendable {
    // `lock` guards `errors`; that is what makes the class safe to share.
    private let lock = NSLock()
    private var errors: [CatalogError] = []

    func record(_ error: CatalogError) {
        lock.lock()
        defer { lock.unlock() }
        errors.append(error)
    }

    var descriptions: [String] {
        lock.lock()
        defer { lock.unlock() }
        return errors.map(\.description)
    }
}

/// A small deterministic generator, so garbage inputs are the same on every run.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

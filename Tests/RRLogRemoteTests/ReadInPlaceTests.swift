import Foundation
import RRLog
import RRLogFormat
import RRLogRemote
import RRLogStorage
import RRLogTestSupport
import XCTest

/// Sessions read in place from a real SeaweedFS: attached (reindex --remote) and tiered
/// entries, lookups that count their ranged GETs, scans, verify, the cache's bound.
extension RemoteTests {
    /// The reads in place of this process use the test server's keys (from the environment, as
    /// a user's would).
    func installReads() {
        setenv("AWS_ACCESS_KEY_ID", SeaweedFS.accessKey, 1)
        setenv("AWS_SECRET_ACCESS_KEY", SeaweedFS.secretKey, 1)
        RemoteReads.install()
    }

    func testAttachedSessionReadsInPlaceWithAtMostTwoRequestsPerColdLookup() async throws {
        installReads()
        let server = try await seaweed()
        let bucket = try await bucket(on: server)
        let here = try store()
        let pushed = try record(here, "agent-run", count: 600, payloadBytes: 4096, segmentBytes: 1 << 20, seed: 7)
        let sessions = try remote(server, bucket)
        let report = try await sessions.push(pushed, from: here)
        XCTAssertTrue(report.committed)
        let listed = try await sessions.list().sessions
        XCTAssertEqual(listed.count, 1)
        XCTAssertNotNil(listed[0].manifest.remoteIndex)
        XCTAssertNotNil(listed[0].manifest.keyIndex, "the key index goes up with the segments")

        let there = try store()
        let before = RemoteReads.rangedGets
        let attached = try await sessions.attach(listed[0], into: there)
        XCTAssertEqual(RemoteReads.rangedGets, before, "attaching fetches the remote index only (a plain GET)")
        XCTAssertTrue(there.isReadInPlace(attached))
        XCTAssertEqual(attached.recordCount, 600)

        // Cold lookups: one ranged GET for the key slots, one for the chunk; warm ones none.
        let reader = try there.openReader(try there.session("agent-run"))
        XCTAssertTrue(reader.snapshot.isRemote)
        XCTAssertTrue(reader.snapshot.usesKeyIndex)
        let local = try here.openReader(pushed)
        for n in [5, 299, 598] {
            let start = RemoteReads.rangedGets
            let found = try XCTUnwrap(reader.snapshot.lookupFirst(key: Self.key(n)), "record \(n)")
            XCTAssertLessThanOrEqual(RemoteReads.rangedGets - start, 2, "cold lookup of record \(n)")
            XCTAssertEqual(found, local.snapshot.lookupFirst(key: Self.key(n)))
            let warm = RemoteReads.rangedGets
            XCTAssertEqual(reader.snapshot.lookupFirst(key: Self.key(n)), found)
            XCTAssertEqual(RemoteReads.rangedGets, warm, "warm lookup of record \(n)")
        }
        XCTAssertNil(reader.snapshot.lookupFirst(key: IOKey(callDigest: [UInt8](repeating: 0xEE, count: 32), callIndex: 9)!.bytes))

        // A scan reads every record, as the local one does.
        XCTAssertEqual(try records(there, attached), try records(here, pushed))

        // Verify fetches and checks every byte, and lets them go again.
        let verified = try there.verify(attached)
        XCTAssertTrue(verified.isClean, "\(verified)")

        // Writing to it is refused with what to do.
        XCTAssertThrowsError(try there.openWriter(attached)) { error in
            XCTAssertTrue("\(error)".contains("rrlog pull"), "\(error)")
        }
    }

    func testCacheStaysWithinItsBoundThroughAScan() async throws {
        installReads()
        let server = try await seaweed()
        let bucket = try await bucket(on: server)
        let here = try store()
        let pushed = try record(here, "wide", count: 1200, payloadBytes: 4096, segmentBytes: 2 << 20, seed: 3)
        let sessions = try remote(server, bucket)
        _ = try await sessions.push(pushed, from: here)
        let there = try store()
        let attached = try await sessions.attach(try await sessions.list().sessions[0], into: there)
        let capacity = RemoteLogs.cacheCapacityBytes
        RemoteLogs.cacheCapacityBytes = 1 << 20
        defer { RemoteLogs.cacheCapacityBytes = capacity }
        let reader = try there.openReader(attached)
        var count = 0
        var most = 0
        _ = reader.forEach { _ in
            count += 1
            most = max(most, RemoteLogs.cachedBytes)
            return true
        }
        XCTAssertEqual(count, 1200)
        XCTAssertGreaterThan(pushed.bytesOnDisk, 4 << 20)
        // The bound, plus the windows fetched ahead of the scan (3 of 4 MiB) and the one it reads.
        XCTAssertLessThanOrEqual(most, (1 << 20) + (17 << 20), "cache held \(most) bytes")
        XCTAssertEqual(try records(there, attached).count, 1200)
    }

    func testTierReplacesLocalSegmentsAtomicallyAndKeepsEveryRead() async throws {
        installReads()
        let server = try await seaweed()
        let bucket = try await bucket(on: server)
        let here = try store()
        let old = try record(here, "last-week", count: 300, payloadBytes: 2048, segmentBytes: 256 << 10, seed: 11)
        let expected = try records(here, old)
        let sessions = try remote(server, bucket)
        let report = try await sessions.tier(old, from: here)
        XCTAssertTrue(report.deletedLocal)
        let tiered = try here.session("last-week")
        XCTAssertTrue(here.isReadInPlace(tiered))
        XCTAssertNotNil(tiered.annotations["remote"])
        let log = here.path + "/sessions/\(tiered.id)/log"
        let files = try FileManager.default.contentsOfDirectory(atPath: log)
        XCTAssertFalse(files.contains { $0.hasSuffix(".rrseg") }, "\(files)")
        XCTAssertEqual(try records(here, tiered), expected)
        let reader = try here.openReader(tiered)
        XCTAssertEqual(reader.snapshot.lookupFirst(key: Self.key(123))?.payload, expected[123].payload)
        XCTAssertTrue(try here.verify(tiered).isClean)

        // Tiering again, or pushing it, says it is in the bucket already.
        do {
            _ = try await sessions.tier(tiered, from: here)
            XCTFail("tiered twice")
        } catch {
            XCTAssertTrue(error.description.contains("in a bucket already"), error.description)
        }
        do {
            _ = try await sessions.push(tiered, from: here)
            XCTFail("pushed a tiered session")
        } catch {
            XCTAssertTrue(error.description.contains("read in place"), error.description)
        }
    }

    func testRemoteIndexRejectsDamage() throws {
        let index = RemoteIndex(
            objects: [RemoteIndex.Object(file: "1.rrseg", key: "segments/1.rrseg.crc32c-00000000", etag: "x", sizeBytes: 100)],
            pieces: [RemoteIndex.Piece(object: 0, offset: 90, bytes: [1, 2, 3])])
        let bytes = index.encoded()
        XCTAssertEqual(try bytes.withUnsafeBytes { try RemoteIndex(decoding: $0) }, index)
        for position in stride(from: 0, to: bytes.count, by: 3) {
            var damaged = bytes
            damaged[position] ^= 0x40
            XCTAssertThrowsError(try damaged.withUnsafeBytes { try RemoteIndex(decoding: $0) }, "byte \(position)")
        }
        let outside = RemoteIndex(objects: index.objects, pieces: [RemoteIndex.Piece(object: 0, offset: 99, bytes: [1, 2])]).encoded()
        XCTAssertThrowsError(try outside.withUnsafeBytes { try RemoteIndex(decoding: $0) })
    }
}

/// `gc` and `rm --remote` against the real server.
extension RemoteTests {
    func testGCDeletesOnlyWhatNoManifestNamesAndRemoveTakesAWholeSession() async throws {
        let server = try await seaweed()
        let bucket = try await bucket(on: server)
        let here = try store()
        let a = try record(here, "keep-me", count: 100, payloadBytes: 1024, seed: 1)
        let b = try record(here, "drop-me", count: 100, payloadBytes: 1024, seed: 2)
        let sessions = try remote(server, bucket)
        _ = try await sessions.push(a, from: here)
        _ = try await sessions.push(b, from: here)
        // Leftovers: an object beside a session's, a claim of a session that never committed,
        // and a multipart upload never completed.
        let client = sessions.client
        let junk = sessions.client.remote.key(RemoteLayout.sessionDirectory(id: a.id) + "segments/junk.rrseg.crc32c-00000000")
        try await client.putObject(key: junk, body: [1, 2, 3])
        try await client.putObject(key: sessions.client.remote.key(RemoteLayout.nameKey("ghost")), body: Array(#"{"id":"no-such-id"}"#.utf8))
        let upload = try await client.createMultipartUpload(key: sessions.client.remote.key("sessions/half/segments/x.rrseg.crc32c-00000000"))

        let young = try await sessions.gc(minimumAge: 3600, dryRun: false)
        XCTAssertTrue(young.orphans.isEmpty && young.names.isEmpty && young.uploads.isEmpty, "\(young)")
        XCTAssertGreaterThanOrEqual(young.young, 3)
        let dry = try await sessions.gc(minimumAge: 0, dryRun: true)
        XCTAssertEqual(dry.orphans, [junk])
        XCTAssertEqual(dry.names, [sessions.client.remote.key("names/ghost")])
        XCTAssertEqual(dry.uploads.count, 1)
        XCTAssertTrue(dry.uploads[0].contains(upload), "\(dry.uploads)")
        _ = try await client.headObject(key: junk)  // still there after a dry run
        let done = try await sessions.gc(minimumAge: 0, dryRun: false)
        XCTAssertEqual(done.orphans, [junk])
        do {
            _ = try await client.headObject(key: junk)
            XCTFail("the orphan is still there")
        } catch {
            XCTAssertEqual(error.code, .noSuchKey)
        }
        let uploads = try await client.listMultipartUploads(prefix: sessions.client.remote.key(""))
        XCTAssertTrue(uploads.isEmpty, "\(uploads)")
        // Both sessions are whole: gc touched nothing they name.
        let other = try store()
        for name in ["keep-me", "drop-me"] {
            let pulled = try await sessions.pull(try await sessions.find(name), into: other)
            XCTAssertEqual(pulled.recordCount, 100)
        }

        // rm --remote: manifest, objects and claim of one session go; the other stays.
        let removed = try await sessions.remove(try await sessions.find("drop-me"))
        XCTAssertGreaterThan(removed, 3)
        let left = try await sessions.list().sessions.map(\.session.name)
        XCTAssertEqual(left, ["keep-me"])
        let rest = try await client.listObjects(prefix: sessions.client.remote.key(RemoteLayout.sessionDirectory(id: b.id)))
        XCTAssertTrue(rest.objects.isEmpty)
        do {
            _ = try await sessions.find("drop-me")
            XCTFail("found a removed session")
        } catch {
            XCTAssertEqual(error.code, .noSuchSession)
        }
    }
}

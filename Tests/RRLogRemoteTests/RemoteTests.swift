import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
@testable import RRLogRemote
import RRLogS3
import RRLogStorage
import RRLogTestSupport
import Synchronization
import XCTest

/// Push and pull against a real SeaweedFS (one server for the class, a bucket per test), with
/// boto3 as the independent peer, a fault proxy, and a server killed mid-push.
final class RemoteTests: XCTestCase {
    static let server = SharedSeaweedFS()

    override class func tearDown() {
        server.stop()
        super.tearDown()
    }

    func seaweed() async throws -> SeaweedFS { try await Self.server.get() }

    /// A new bucket named after the test.
    func bucket(on server: SeaweedFS) async throws -> String {
        let name = "r-" + String(name.lowercased().filter { $0.isLetter || $0.isNumber }.suffix(40)) + "-\(Int.random(in: 1000...9999))"
        let client = try server.client(bucket: name)
        try await client.createBucket()
        try await client.shutdown()
        return name
    }

    func remote(_ server: SeaweedFS, _ bucket: String, prefix: String = "team", endpoint: URL? = nil,
                options: RemoteTransferOptions = RemoteTransferOptions(), clientOptions: S3ClientOptions = SeaweedFS.clientOptions,
                afterObject: (@Sendable (Int) async -> Void)? = nil) throws -> RemoteSessions {
        let sessions = try RemoteSessions(remote: server.remote(bucket: bucket, prefix: prefix, endpoint: endpoint), options: options,
                                          clientOptions: clientOptions, afterObject: afterObject)
        // Closed however the test ends (a client must be shut down before it goes away).
        addTeardownBlock { await sessions.close() }
        return sessions
    }

    func store() throws -> Store { try Store(path: TestPaths.temporaryDirectory(self, prefix: "rrlog-remote") + "/store") }

    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] { pseudoRandomBytes(count, seed: seed) }

    /// A closed session of `count` records of `payloadBytes` each, in segments of `segmentBytes`.
    @discardableResult
    func record(_ store: Store, _ name: String, count: Int = 600, payloadBytes: Int = 4096, segmentBytes: Int = 1 << 20, seed: UInt64 = 1) throws -> SessionManifest {
        let manifest = try store.createSession(name: name)
        var options = LogOptions()
        options.segmentSizeBytesMax = segmentBytes
        let writer = try store.openWriter(manifest, options: options)
        for n in 0..<count {
            _ = try writer.append(RecordInput(timestampNs: Int64(1_000 + n), kind: 1, key: Self.key(n),
                                              payload: Self.bytes(payloadBytes, seed: seed &+ UInt64(n))))
        }
        return try writer.close()
    }

    /// The IO key of record `n`.
    static func key(_ n: Int) -> [UInt8] {
        IOKey(callDigest: [UInt8](repeating: UInt8(n % 251), count: 32), callIndex: UInt32(n))!.bytes
    }

    func records(_ store: Store, _ manifest: SessionManifest) throws -> [Record] {
        let reader = try store.openReader(manifest)
        var out: [Record] = []
        _ = reader.forEach { view in
            out.append(Record(sequence: view.sequence, timestampNs: view.timestampNs, kind: view.kind, key: view.key.map(Array.init), payload: Array(view.payload)))
            return true
        }
        return out
    }

    /// The session's segment files, by name, as bytes.
    func segmentBytes(_ store: Store, _ manifest: SessionManifest) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for file in try store.segmentFiles(manifest).files where file.ref != nil {
            out[file.name] = try Data(contentsOf: URL(fileURLWithPath: file.path))
        }
        return out
    }

    func remoteError(_ code: RemoteError.Code, file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> Void) async -> RemoteError? {
        do {
            try await body()
            XCTFail("expected a RemoteError \(code), got success", file: file, line: line)
        } catch let error as RemoteError {
            XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
            return error
        } catch {
            XCTFail("expected a RemoteError \(code), got \(error)", file: file, line: line)
        }
        return nil
    }

    // MARK: Round trips

    func testPushThenPullRoundTripByteForByteWithMultipartSegments() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try record(source, "round-trip", count: 6000, segmentBytes: 11 << 20)
        XCTAssertGreaterThan(manifest.segments.count, 2)
        // Segments above 6 MiB go up in 5 MiB parts (S3's smallest).
        let sessions = try remote(server, bucket, options: RemoteTransferOptions(multipartThresholdBytes: 6 << 20, partSizeBytes: 5 << 20))
        try await sessions.checkConditionalWrites()
        let first = try await sessions.push(manifest, from: source)
        XCTAssertEqual(first.uploaded, manifest.segments.count)
        XCTAssertTrue(first.committed)
        XCTAssertTrue(first.warnings.isEmpty)
        // A second push finds every object and the same manifest.
        let second = try await sessions.push(manifest, from: source)
        XCTAssertEqual(second.skipped, manifest.segments.count)
        XCTAssertEqual(second.uploaded, 0)
        XCTAssertFalse(second.committed)

        let listed = try await sessions.list()
        XCTAssertEqual(listed.sessions.map(\.session.name), ["round-trip"])
        XCTAssertEqual(listed.sessions.first?.session.recordCount, 6000)
        XCTAssertTrue(listed.sessions.first?.manifest.objects.first?.etag.hasSuffix("-3") == true, "a multipart ETag of 3 parts")

        let target = try store()
        let found = try await sessions.find("latest")
        let pulled = try await sessions.pull(found, into: target, progress: { done, total in XCTAssertLessThanOrEqual(done, total) })
        await sessions.close()
        XCTAssertEqual(pulled.id, manifest.id)
        XCTAssertEqual(pulled.recordCount, 6000)
        XCTAssertEqual(try segmentBytes(target, pulled), try segmentBytes(source, manifest))
        XCTAssertEqual(try records(target, pulled), try records(source, manifest))
        XCTAssertTrue(try target.verify(pulled).isClean)
        XCTAssertEqual(try target.openReader(pulled).record(for: IOKey(bytes: Self.key(77))!)?.timestampNs, 1_077)
    }

    func testPullRefusesANameClashAndPullsASecondCopyWithAs() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try record(source, "clash", count: 50)
        let sessions = try remote(server, bucket)
        _ = try await sessions.push(manifest, from: source)
        let found = try await sessions.find("clash")
        // Into the store it came from: the id is there already.
        let error = await remoteError(.local) { _ = try await sessions.pull(found, into: source) }
        XCTAssertTrue(error?.message.contains("--as") == true, "\(String(describing: error))")
        let copy = try await sessions.pull(found, into: source, as: "clash-copy")
        XCTAssertNotEqual(copy.id, manifest.id)
        XCTAssertEqual(try records(source, copy), try records(source, manifest))
        // A name the store has: refused, nothing added.
        let other = try store()
        try record(other, "clash", count: 3)
        let clash = await remoteError(.local) { _ = try await sessions.pull(found, into: other) }
        XCTAssertTrue(clash?.message.contains("a session named 'clash' exists") == true, "\(String(describing: clash))")
        XCTAssertEqual(try other.sessions().count, 1)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: other.path + "/sessions").count, 1)
        await sessions.close()
    }

    func testStrategiesAndTypeSelectOverTheRemote() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let small = try record(source, "small", count: 10)
        let large = try record(source, "large", count: 300)
        let sessions = try remote(server, bucket)
        for m in [small, large] { _ = try await sessions.push(m, from: source) }
        let latest = try await sessions.find("latest")
        let largest = try await sessions.find("largest")
        let smallest = try await sessions.find("smallest")
        XCTAssertEqual(latest.session.name, "large")
        XCTAssertEqual(largest.session.name, "large")
        XCTAssertEqual(smallest.session.name, "small")
        _ = await remoteError(.noSuchSession) { _ = try await sessions.find("latest", type: "capture") }
        _ = await remoteError(.noSuchSession) { _ = try await sessions.find("missing") }
        let byID = try await sessions.find(small.id)
        XCTAssertEqual(byID.session.name, "small")
        await sessions.close()
    }

    // MARK: boto3 as the peer

    /// Runs Tools/s3-peer.py with the test server's keys.
    func peer(_ server: SeaweedFS, _ bucket: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestPaths.packageRoot.appendingPathComponent("Tools/s3-peer.py").path, server.endpoint.absoluteString, bucket] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = SeaweedFS.accessKey
        environment["AWS_SECRET_ACCESS_KEY"] = SeaweedFS.secretKey
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 3 { throw TestPaths.missing("boto3 (pip install boto3)") }
        XCTAssertEqual(process.terminationStatus, 0, "s3-peer.py \(arguments)")
        return data
    }

    func testBoto3ListsAndReadsWhatRRLogPushed() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try record(source, "for-boto3", count: 400)
        let sessions = try remote(server, bucket)
        _ = try await sessions.push(manifest, from: source)
        await sessions.close()
        let keys = try JSONDecoder().decode([String].self, from: try peer(server, bucket, ["list", "team/"]))
        let directory = "team/sessions/\(manifest.id)/"
        XCTAssertTrue(keys.contains(directory + "manifest.json"), "\(keys)")
        XCTAssertTrue(keys.contains("team/names/for-boto3"), "\(keys)")
        let local = try segmentBytes(source, manifest)
        let temporary = TestPaths.temporaryDirectory(self)
        _ = try peer(server, bucket, ["get", directory + "manifest.json", temporary + "/manifest.json"])
        let remoteManifest = try RemoteManifest.decode(Array(try Data(contentsOf: URL(fileURLWithPath: temporary + "/manifest.json"))), id: manifest.id, location: "boto3")
        XCTAssertEqual(Set(remoteManifest.objects.map(\.file)), Set(local.keys))
        for object in remoteManifest.objects {
            XCTAssertTrue(keys.contains(directory + object.key))
            _ = try peer(server, bucket, ["get", directory + object.key, temporary + "/segment"])
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: temporary + "/segment")), local[object.file], object.file)
        }
    }

    func testASessionBoto3UploadsInRRLogsLayoutIsPulled() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try record(source, "by-boto3", count: 300, segmentBytes: 512 << 10)
        // The objects and the manifest, made here and uploaded by boto3 alone.
        let temporary = TestPaths.temporaryDirectory(self)
        var objects: [RemoteObject] = []
        for file in try source.segmentFiles(manifest).files where file.ref != nil {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file.path)))
            let crc = CRC32C.checksum(bytes)
            let key = RemoteLayout.segmentKey(file: file.name, crc32c: crc)
            objects.append(RemoteObject(file: file.name, key: key, sizeBytes: Int64(bytes.count), crc32c: RemoteLayout.hex8(crc), etag: ""))
            _ = try peer(server, bucket, ["put", "shared/sessions/\(manifest.id)/" + key, file.path])
        }
        let remoteManifest = RemoteManifest(session: manifest, objects: objects, pushedNs: 1, pushedBy: "boto3")
        try Data(try remoteManifest.encoded()).write(to: URL(fileURLWithPath: temporary + "/manifest.json"))
        _ = try peer(server, bucket, ["put", "shared/sessions/\(manifest.id)/manifest.json", temporary + "/manifest.json"])

        let sessions = try remote(server, bucket, prefix: "shared")
        let found = try await sessions.find("by-boto3")
        let target = try store()
        let pulled = try await sessions.pull(found, into: target)
        await sessions.close()
        XCTAssertEqual(try records(target, pulled), try records(source, manifest))
        XCTAssertTrue(try target.verify(pulled).isClean)
    }

    // MARK: Faults

    func testCorruptObjectIsRefusedOnPullAndNothingIsAdded() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try record(source, "damaged", count: 100)
        let sessions = try remote(server, bucket)
        _ = try await sessions.push(manifest, from: source)
        let found = try await sessions.find("damaged")
        // One byte of the first segment flipped in the bucket, size kept.
        let object = try XCTUnwrap(found.manifest.objects.first)
        let key = sessions.remote.key("sessions/\(manifest.id)/" + object.key)
        var bytes = try await sessions.client.getObject(key: key).bytes
        bytes[bytes.count / 2] ^= 0x40
        try await sessions.client.putObject(key: key, body: bytes)
        let target = try store()
        let error = await remoteError(.corrupt) { _ = try await sessions.pull(found, into: target) }
        XCTAssertTrue(error?.description.contains(object.key) == true, "\(String(describing: error))")
        XCTAssertEqual(try target.sessions().count, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target.path + "/sessions"), [])
        // A missing object: the manifest names what is not there.
        try await sessions.client.deleteObject(key: key)
        let missing = await remoteError(.corrupt) { _ = try await sessions.pull(found, into: target) }
        XCTAssertTrue(missing?.message.contains("missing") == true, "\(String(describing: missing))")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: target.path + "/sessions"), [])
        await sessions.close()
    }

    func testServerKilledDuringPushLeavesNoManifestAndTheRerunCompletes() async throws {
        // A server of its own: this test kills it.
        var server = try await SeaweedFS.start()
        defer { server.stop() }
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try record(source, "killed", count: 1200, segmentBytes: 1 << 20)
        XCTAssertGreaterThan(manifest.segments.count, 3)
        let killed = server
        // Every attempt at the dead server fails at once (the client's pool does not retry a
        // refused connection by itself), so the push gives up after its own attempts.
        let sessions = try remote(server, bucket, clientOptions: SeaweedFS.clientOptions, afterObject: { index in if index == 0 { killed.killNow() } })
        do throws(RemoteError) {
            _ = try await sessions.push(manifest, from: source)
            XCTFail("the push went through a killed server")
        } catch {
            XCTAssertEqual(error.code, .request, "\(error)")
        }
        await sessions.close()
        server = try await server.restart()
        let again = try remote(server, bucket)
        let before = try await again.manifest(id: manifest.id)
        XCTAssertNil(before, "a manifest is visible after an interrupted push")
        let listed = try await again.list()
        XCTAssertTrue(listed.sessions.isEmpty)
        let rerun = try await again.push(manifest, from: source)
        XCTAssertGreaterThanOrEqual(rerun.skipped, 1)
        XCTAssertEqual(rerun.skipped + rerun.uploaded, manifest.segments.count)
        XCTAssertTrue(rerun.committed)
        let target = try store()
        let pulled = try await again.pull(try await again.find("killed"), into: target)
        await again.close()
        XCTAssertEqual(try records(target, pulled), try records(source, manifest))
    }

    func testPushAndPullThroughAProxyAnswering503AndDroppingConnections() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try record(source, "flaky", count: 500, segmentBytes: 512 << 10)
        let proxy = try FaultProxy(upstreamPort: server.s3Port) { n in
            switch n % 10 {
            case 2: return .answer503
            case 5: return .dropBeforeForwarding
            case 8: return .dropAfterForwarding
            default: return .forward
            }
        }
        defer { proxy.stop() }
        let sessions = try remote(server, bucket, endpoint: proxy.endpoint)
        try await sessions.checkConditionalWrites()
        let report = try await sessions.push(manifest, from: source)
        XCTAssertTrue(report.committed)
        let target = try store()
        let pulled = try await sessions.pull(try await sessions.find("flaky"), into: target)
        await sessions.close()
        XCTAssertEqual(try records(target, pulled), try records(source, manifest))
        XCTAssertGreaterThan(proxy.count(.answer503), 0)
        XCTAssertGreaterThan(proxy.count(.dropBeforeForwarding), 0)
        XCTAssertGreaterThan(proxy.count(.dropAfterForwarding), 0)
    }

    func testAFailedMultipartUploadIsAbortedAndNothingIsCommitted() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try record(source, "big", count: 1700, segmentBytes: 11 << 20)
        XCTAssertEqual(manifest.segments.count, 1)
        // Requests: 0 HEAD (absent), 1 CreateMultipartUpload, 2 the first part, 3 the second
        // part, refused (403, not retried), 4 the abort.
        let proxy = try FaultProxy(upstreamPort: server.s3Port) { n in n == 3 ? .answer(status: 403, code: "AccessDenied") : .forward }
        defer { proxy.stop() }
        let sessions = try remote(server, bucket, endpoint: proxy.endpoint,
                                  options: RemoteTransferOptions(multipartThresholdBytes: 6 << 20, partSizeBytes: 5 << 20))
        let error = await remoteError(.request) { _ = try await sessions.push(manifest, from: source) }
        XCTAssertTrue(error?.message.contains("AccessDenied") == true, "\(String(describing: error))")
        let uploads = try await sessions.client.listMultipartUploads(prefix: "team/")
        XCTAssertEqual(uploads, [], "the failed upload was not aborted")
        let committed = try await sessions.manifest(id: manifest.id)
        XCTAssertNil(committed)
        // The same push without the fault completes.
        let direct = try remote(server, bucket, options: RemoteTransferOptions(multipartThresholdBytes: 6 << 20, partSizeBytes: 5 << 20))
        let report = try await direct.push(manifest, from: source)
        XCTAssertTrue(report.committed)
    }

    func testAStoreThatIgnoresConditionalWritesIsRefused() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let resigner = SigV4Signer(credentials: S3Credentials(accessKeyID: SeaweedFS.accessKey, secretAccessKey: SeaweedFS.secretKey), region: "us-east-1")
        let proxy = try FaultProxy(upstreamPort: server.s3Port, resigner: resigner) { _ in .stripConditions }
        defer { proxy.stop() }
        let sessions = try remote(server, bucket, endpoint: proxy.endpoint)
        let error = await remoteError(.unsupportedStore) { try await sessions.checkConditionalWrites() }
        XCTAssertTrue(error?.message.contains("ignores conditional writes") == true)
        await sessions.close()
    }

    func testAMissingBucketAndBadCredentialsGiveClearErrors() async throws {
        let server = try await seaweed()
        // (SeaweedFS creates a missing bucket on a write by an admin identity; a listing shows the error.)
        let missing = try remote(server, "no-such-bucket-here")
        let error = await remoteError(.request) { _ = try await missing.list() }
        XCTAssertTrue(error?.message.contains("NoSuchBucket") == true || error?.message.contains("create the bucket") == true, "\(String(describing: error))")
        await missing.close()
        let bucket = try await self.bucket(on: server)
        let wrong = try RemoteSessions(remote: server.remote(bucket: bucket, secret: "wrong"), clientOptions: SeaweedFS.clientOptions)
        addTeardownBlock { await wrong.close() }
        let denied = await remoteError(.request) { _ = try await wrong.list() }
        XCTAssertTrue(denied?.message.contains("AWS_ACCESS_KEY_ID") == true, "\(String(describing: denied))")
        await wrong.close()
    }

    // MARK: Concurrency and conflicts

    func testTwoStoresPushDifferentSessionsIntoOneBucketAtOnce() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let (a, b) = (try store(), try store())
        let ma = try record(a, "from-a", count: 300, seed: 10)
        let mb = try record(b, "from-b", count: 300, seed: 20)
        let (ra, rb) = (try remote(server, bucket), try remote(server, bucket))
        async let pushA = ra.push(ma, from: a)
        async let pushB = rb.push(mb, from: b)
        let (reportA, reportB) = try await (pushA, pushB)
        XCTAssertTrue(reportA.committed && reportB.committed)
        let listed = try await ra.list()
        XCTAssertEqual(Set(listed.sessions.map(\.session.name)), ["from-a", "from-b"])
        let target = try store()
        for (name, source, manifest) in [("from-a", a, ma), ("from-b", b, mb)] {
            let pulled = try await ra.pull(try await ra.find(name), into: target)
            XCTAssertEqual(try records(target, pulled), try records(source, manifest))
        }
        await ra.close()
        await rb.close()
    }

    func testTwoPushesOfOneNameWithDifferentContentOneWinsTheOtherConflicts() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let (a, b) = (try store(), try store())
        let ma = try record(a, "shared", count: 200, seed: 1)
        let mb = try record(b, "shared", count: 250, seed: 2)
        let (ra, rb) = (try remote(server, bucket), try remote(server, bucket))
        async let pushA: Result<PushReport, RemoteError> = { () async -> Result<PushReport, RemoteError> in do throws(RemoteError) { return .success(try await ra.push(ma, from: a)) } catch { return .failure(error) } }()
        async let pushB: Result<PushReport, RemoteError> = { () async -> Result<PushReport, RemoteError> in do throws(RemoteError) { return .success(try await rb.push(mb, from: b)) } catch { return .failure(error) } }()
        let results = await [pushA, pushB]
        let wins = results.filter { if case .success = $0 { return true } else { return false } }
        XCTAssertEqual(wins.count, 1, "\(results)")
        for case .failure(let error) in results {
            XCTAssertEqual(error.code, .conflict)
            XCTAssertTrue(error.message.contains("'shared'") && error.message.contains("--as"), error.message)
        }
        // The bucket holds the winner, whole.
        let found = try await ra.find("shared")
        let winner = found.session.id == ma.id ? (a, ma) : (b, mb)
        let target = try store()
        let pulled = try await ra.pull(found, into: target)
        XCTAssertEqual(try records(target, pulled), try records(winner.0, winner.1))
        await ra.close()
        await rb.close()
    }

    func testAManifestOfOneIdWithOtherContentIsAConflictAndNothingIsOverwritten() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try record(source, "same-id", count: 100)
        let sessions = try remote(server, bucket)
        _ = try await sessions.push(manifest, from: source)
        let before = try await XCTUnwrapAsync(try await sessions.manifest(id: manifest.id))
        // Another host's push of this id with other bytes in its segment.
        var other = before.manifest
        other.objects[0].crc32c = "00000000"
        other.objects[0].key = RemoteLayout.segmentKey(file: other.objects[0].file, crc32c: 0)
        let error = await remoteError(.conflict) { _ = try await sessions.commit(other) }
        XCTAssertTrue(error?.message.contains("nothing was overwritten") == true)
        let after = try await sessions.manifest(id: manifest.id)
        XCTAssertEqual(after?.manifest, before.manifest)
        await sessions.close()
    }

    func XCTUnwrapAsync<T>(_ value: T?, file: StaticString = #filePath, line: UInt = #line) async throws -> T {
        try XCTUnwrap(value, file: file, line: line)
    }

    // MARK: Sessions being written, --delete-local

    func testASessionBeingWrittenPushesItsSealedSegmentsAndWarnsForTheOpenOne() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try source.createSession(name: "live")
        var options = LogOptions()
        options.segmentSizeBytesMax = 256 << 10
        let writer = try source.openWriter(manifest, options: options)
        for n in 0..<200 { _ = try writer.append(RecordInput(timestampNs: Int64(n), kind: 1, payload: Self.bytes(4096, seed: UInt64(n)))) }
        try writer.flush()
        let sessions = try remote(server, bucket)
        let current = try source.session("live")
        let refused = await remoteError(.invalidArgument) { _ = try await sessions.push(current, from: source, deleteLocal: true) }
        XCTAssertTrue(refused?.message.contains("still being written") == true, "\(String(describing: refused))")
        let report = try await sessions.push(current, from: source)
        XCTAssertEqual(report.warnings.count, 1)
        XCTAssertTrue(report.warnings[0].contains("still being written"), report.warnings[0])
        let files = try source.segmentFiles(current).files
        let sealed = files.filter(\.isSealed)
        XCTAssertEqual(report.uploaded, sealed.count)
        let remoteManifest = try await XCTUnwrapAsync(try await sessions.manifest(id: manifest.id))
        XCTAssertEqual(remoteManifest.manifest.objects.map(\.file), sealed.map(\.name))
        XCTAssertEqual(remoteManifest.session.recordCount, sealed.compactMap(\.ref).reduce(0) { $0 + $1.recordCount })
        // Closed: the rest goes up and the manifest is updated (If-Match) to cover all.
        let closed = try writer.close()
        let final = try await sessions.push(closed, from: source)
        XCTAssertTrue(final.committed)
        XCTAssertTrue(final.warnings.isEmpty)
        XCTAssertEqual(final.skipped, sealed.count)
        let updated = try await sessions.manifest(id: manifest.id)
        XCTAssertEqual(updated?.session.recordCount, 200)
        await sessions.close()
    }

    func testDeleteLocalRemovesTheLocalCopyOnlyAfterTheCommitAndTheSessionStaysPullable() async throws {
        let server = try await seaweed()
        let bucket = try await self.bucket(on: server)
        let source = try store()
        let manifest = try record(source, "offload", count: 300)
        let expected = try records(source, manifest)
        let sessions = try remote(server, bucket)
        // A name another store owns in the bucket: the push fails and the local copy stays.
        let other = try store()
        _ = try await sessions.push(try record(other, "offload", count: 5), from: other)
        _ = await remoteError(.conflict) { _ = try await sessions.push(manifest, from: source, deleteLocal: true) }
        XCTAssertNotNil(try? source.session("offload"))
        XCTAssertEqual(try records(source, manifest), expected)

        let elsewhere = try await self.bucket(on: server)
        let clean = try remote(server, elsewhere)
        let report = try await clean.push(manifest, from: source, deleteLocal: true)
        XCTAssertTrue(report.committed && report.deletedLocal)
        XCTAssertNil(try? source.session("offload"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: source.path + "/sessions/" + manifest.id))
        let pulled = try await clean.pull(try await clean.find("offload"), into: source)
        XCTAssertEqual(try records(source, pulled), expected)
        await sessions.close()
        await clean.close()
    }

    // MARK: Configuration

    func testConfigFileGivesTheRemoteAndRefusesCredentials() throws {
        let directory = TestPaths.temporaryDirectory(self)
        try #"{"remote": "s3://team-bucket/rec", "endpoint": "http://127.0.0.1:9000", "region": "eu-west-1", "path_style": true}"#
            .write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        let config = try RemoteConfig.load(store: directory)
        XCTAssertEqual(config.remote, "s3://team-bucket/rec")
        let remote = try RemoteConfig(region: "us-west-2").overriding(config).resolve(environment: ["AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "HOME": directory])
        XCTAssertEqual(remote.bucket, "team-bucket")
        XCTAssertEqual(remote.prefix, "rec")
        XCTAssertEqual(remote.region, "us-west-2")
        XCTAssertEqual(remote.endpoint?.port, 9000)
        XCTAssertTrue(remote.pathStyle)

        try #"{"remote": "s3://team-bucket", "aws_secret_access_key": "x"}"#.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RemoteConfig.load(store: directory)) { error in
            XCTAssertTrue("\(error)".contains("credentials never go in the store's config"), "\(error)")
        }
        try #"{"remote": 3}"#.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RemoteConfig.load(store: directory))
        XCTAssertThrowsError(try RemoteConfig().resolve(environment: ["HOME": directory])) { error in
            XCTAssertTrue("\(error)".contains("--remote"), "\(error)")
        }
    }

    /// The fuzz harness's seeds (Fuzz/corpus/FuzzRemoteManifest) are manifests this reader accepts.
    func testFuzzCorpusSeedsAreValidManifests() throws {
        let directory = TestPaths.packageRoot.appendingPathComponent("Fuzz/corpus/FuzzRemoteManifest").path
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        XCTAssertFalse(names.isEmpty)
        for name in names {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
            XCTAssertNoThrow(try RemoteManifest.decode(bytes, id: nil, location: name), name)
        }
    }

    func testRemoteManifestRefusesKeysOutsideTheSession() throws {
        let session = SessionManifest(id: "abc", name: "n", type: "recording", createdNs: 1)
        for key in ["../other/x", "segments/../../x", "names/x", "segments/a/b"] {
            let manifest = RemoteManifest(session: session, objects: [RemoteObject(file: "00000000000000000001.rrseg", key: key, sizeBytes: 1, crc32c: "00000000", etag: "")], pushedNs: 0, pushedBy: "t")
            XCTAssertThrowsError(try RemoteManifest.decode(try manifest.encoded(), id: "abc", location: "t"), key)
        }
        let wrongID = RemoteManifest(session: session, objects: [], pushedNs: 0, pushedBy: "t")
        XCTAssertThrowsError(try RemoteManifest.decode(try wrongID.encoded(), id: "other", location: "t"))
    }
}

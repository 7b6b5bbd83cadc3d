import Foundation
import RRLog
import XCTest

final class IOKeyTests: XCTestCase {
    // MARK: Helpers

    func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    func paths(_ list: [String], file: StaticString = #filePath, line: UInt = #line) -> VolatilePaths {
        do {
            return try VolatilePaths(list)
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return VolatilePaths()
        }
    }

    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSONValue {
        do {
            return try JSONValue.parse(text)
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return .null
        }
    }

    // MARK: Test vectors (FORMAT-IO-PROFILE.md §8)

    /// Each vector's digest was computed independently with Python's `hashlib.sha256` over
    /// `json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`, which equals
    /// RFC 8785 for these inputs.
    struct Vector {
        var identity: IOCallIdentity
        var volatile: [String]
        var canonicalInputs: String
        var digest: String
    }

    func vectors() -> [Vector] {
        [
            Vector(
                identity: IOCallIdentity(
                    ioType: "llm_call", tool: "openai", agent: "reviewer",
                    inputs: parse(
                        #"{"model":"gpt-4o","temperature":0,"messages":[{"role":"system","content":"You are reviewer"},{"role":"user","content":"Summarise the error budget."}]}"#
                    )),
                volatile: [],
                canonicalInputs:
                    #"{"messages":[{"content":"You are reviewer","role":"system"},{"content":"Summarise the error budget.","role":"user"}],"model":"gpt-4o","temperature":0}"#,
                digest: "0226facd1bdec97f18131e62b520ae9a8ddf4350a79794a73744938ccaa76bbf"),
            Vector(
                identity: IOCallIdentity(
                    ioType: "io_network", tool: "http", agent: "reviewer",
                    inputs: parse(
                        #"{"method":"GET","url":"https://api.example.com/v1/items/919","headers":{"Authorization":"Bearer sk-test","X-Request-Id":"req-7f3a"}}"#
                    )),
                volatile: ["headers.X-Request-Id"],
                canonicalInputs:
                    #"{"headers":{"Authorization":"Bearer sk-test"},"method":"GET","url":"https://api.example.com/v1/items/919"}"#,
                digest: "08b7c98b972713ca59149424557e495c3c97f0f3a0e1e5befbe20f28287c1f83"),
            Vector(
                identity: IOCallIdentity(
                    ioType: "tool_call", tool: "search", agent: "planner",
                    inputs: parse(
                        #"{"messages":[{"id":"msg-1","role":"user","content":"café ✓ \"quoted\"\n"},{"id":"msg-2","role":"assistant","content":"ok"}],"meta":{"request_id":"r-9","trace":"t-1"},"top_k":5}"#
                    )),
                volatile: ["messages[*].id", "*.request_id"],
                canonicalInputs:
                    #"{"messages":[{"content":"café ✓ \"quoted\"\n","role":"user"},{"content":"ok","role":"assistant"}],"meta":{"trace":"t-1"},"top_k":5}"#,
                digest: "d61199da1ec921a90af1df48c08b2e822a40acad47414bd46955e109bdaf9630"),
            Vector(
                identity: IOCallIdentity(ioType: "io_read", tool: "fs", agent: "", inputs: .object([:])),
                volatile: [],
                canonicalInputs: "{}",
                digest: "79120b2481a1b672a4cfe7cf3ed7e2853b95ba95a6e6f0aa3965a98ad36ca7f8"),
            Vector(
                identity: IOCallIdentity(ioType: "clock", tool: "", agent: "", inputs: .null),
                volatile: [],
                canonicalInputs: "null",
                digest: "d196b3302522af120b94bf43a71a1129d2a5fb4f46815bad233c65d242f98fca"),
        ]
    }

    func testDigestVectors() {
        for (n, vector) in vectors().enumerated() {
            let volatile = paths(vector.volatile)
            let stripped = volatile.strip(vector.identity.inputs)
            XCTAssertEqual(String(decoding: stripped.canonicalBytes(), as: UTF8.self), vector.canonicalInputs, "vector \(n + 1)")
            let key = IOKey.derive(vector.identity, callIndex: 0, volatile: volatile)
            XCTAssertEqual(hex(key.callDigest), vector.digest, "vector \(n + 1)")
            XCTAssertEqual(IOKey.callDigest(for: vector.identity, volatile: volatile), key.callDigest)
        }
    }

    /// Member order is by UTF-16 code units (RFC 8785 §3.2.3), which differs from code point
    /// order between U+E000...U+FFFF and characters above U+FFFF; integers keep their digits.
    func testMemberOrderIsUTF16AndIntegersAreExact() {
        let alphabet: [String] = ["a", "B", "_", "é", "\u{E000}", "\u{FFFD}", "\u{FFFF}", "😀", "\u{10000}", "\u{1D11E}", "\u{7FF}", "\u{800}"]
        var state: UInt64 = 0x9E3779B97F4A7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(bound))
        }
        for round in 0..<300 {
            var members: [String: JSONValue] = [:]
            for _ in 0..<(1 + next(30)) {
                let key = (0..<(1 + next(4))).map { _ in alphabet[next(alphabet.count)] }.joined()
                let magnitude = Int64(next(1 << 30)) * Int64(next(1 << 23) + 1)
                members[key] = .int(next(2) == 0 ? magnitude : -magnitude)
            }
            let expected = "{" + members.keys.sorted { $0.utf16.lexicographicallyPrecedes($1.utf16) }.map { key -> String in
                guard case .int(let i) = members[key]! else { return "" }
                return "\"\(key)\":\(i)"
            }.joined(separator: ",") + "}"
            XCTAssertEqual(String(decoding: JSONValue.object(members).canonicalBytes(), as: UTF8.self), expected, "round \(round)")
        }
    }

    func testKeyBytesAndDescription() throws {
        let vector = vectors()[0]
        let key = IOKey.derive(vector.identity, callIndex: 0x0102_0304)
        XCTAssertEqual(key.callIndex, 0x0102_0304)
        XCTAssertEqual(key.bytes.count, IOKey.byteCount)
        XCTAssertEqual(IOKey.byteCount, 36)
        XCTAssertEqual(Array(key.bytes[32...]), [0x04, 0x03, 0x02, 0x01])
        XCTAssertEqual(Array(key.bytes[..<32]), key.callDigest)
        XCTAssertEqual(IOKey(bytes: key.bytes), key)
        XCTAssertEqual(IOKey(bytes: key.bytes[...]), key)
        XCTAssertNil(IOKey(bytes: key.bytes.dropLast()))
        XCTAssertNil(IOKey(bytes: key.bytes + [0]))
        // A collection without contiguous storage takes the element-by-element path.
        XCTAssertEqual(IOKey(bytes: key.bytes.lazy.map { $0 }), key)
        key.withUnsafeBytes { XCTAssertEqual(Array($0), key.bytes) }
        // Equality and hashing see every byte: the digest's last byte and the call index.
        var lastByte = key.bytes
        lastByte[31] ^= 1
        let neighbours = [key, IOKey(bytes: lastByte)!, IOKey.derive(vector.identity, callIndex: 0x0102_0305)]
        XCTAssertEqual(Set(neighbours).count, 3)
        XCTAssertEqual(Set(neighbours + neighbours.map { IOKey(bytes: $0.bytes)! }).count, 3)
        XCTAssertNil(IOKey(callDigest: [1, 2, 3], callIndex: 0))
        XCTAssertEqual(IOKey(callDigest: key.callDigest, callIndex: 0x0102_0304), key)
        XCTAssertEqual(
            IOKey.derive(vector.identity, callIndex: 2).description,
            "0226facd1bdec97f18131e62b520ae9a8ddf4350a79794a73744938ccaa76bbf#2")
        XCTAssertEqual(key.description, vector.digest + "#16909060")
    }

    func testEveryIdentityFieldChangesTheDigest() {
        let base = IOCallIdentity(ioType: "tool_call", tool: "search", agent: "planner", inputs: ["q": "x"])
        var variants = [base]
        variants.append(IOCallIdentity(ioType: "tool_calls", tool: "search", agent: "planner", inputs: ["q": "x"]))
        variants.append(IOCallIdentity(ioType: "tool_call", tool: "Search", agent: "planner", inputs: ["q": "x"]))
        variants.append(IOCallIdentity(ioType: "tool_call", tool: "search", agent: "planner2", inputs: ["q": "x"]))
        variants.append(IOCallIdentity(ioType: "tool_call", tool: "search", agent: "planner", inputs: ["q": "y"]))
        variants.append(IOCallIdentity(ioType: "tool_call", tool: "search", agent: "planner", inputs: ["q": ["x"]]))
        // Moving text across a separator changes the digest too.
        variants.append(IOCallIdentity(ioType: "tool_callsearch", tool: "", agent: "planner", inputs: ["q": "x"]))
        let digests = Set(variants.map { IOKey.callDigest(for: $0) })
        XCTAssertEqual(digests.count, variants.count)
    }

    func testNumbersWithEqualValuesGiveEqualDigests() {
        let a = IOCallIdentity(ioType: "llm_call", tool: "openai", agent: "a", inputs: ["temperature": 1, "top_p": 0.5])
        let b = IOCallIdentity(ioType: "llm_call", tool: "openai", agent: "a", inputs: parse(#"{"top_p":5e-1,"temperature":1.0}"#))
        XCTAssertEqual(IOKey.callDigest(for: a), IOKey.callDigest(for: b))
        XCTAssertEqual(a, b)
    }

    func testIdentityFromSampleEvents() throws {
        let url = JSONValueTests.fixtureURL
        var counter = CallIndexCounter()
        var keys = Set<IOKey>()
        var events = 0
        for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") {
            let value = try JSONValue.parse(String(line))
            guard value["type"]?.stringValue == "event" else { continue }
            let identity = try XCTUnwrap(IOCallIdentity(event: value))
            XCTAssertEqual(identity.ioType, value["io_type"]?.stringValue)
            XCTAssertEqual(identity.tool, value["tool_name"]?.stringValue)
            XCTAssertEqual(identity.agent, value["agent_id"]?.stringValue)
            keys.insert(counter.nextKey(for: identity, volatile: paths(["headers.Authorization"])))
            events += 1
        }
        XCTAssertEqual(events, 27)
        XCTAssertEqual(keys.count, events, "every recorded call has its own key")
        XCTAssertNil(IOCallIdentity(event: ["io_type": "llm_call", "tool_name": "x", "inputs": [:]]))
    }

    // MARK: Volatile paths

    func testVolatilePathsChangeOnlyTheStrippedMembers() {
        let first = vectors()[1].identity
        var second = first
        second.inputs = parse(
            #"{"method":"GET","url":"https://api.example.com/v1/items/919","headers":{"Authorization":"Bearer sk-test","X-Request-Id":"req-0000"}}"#
        )
        let volatile = paths(["headers.X-Request-Id"])
        XCTAssertNotEqual(IOKey.callDigest(for: first), IOKey.callDigest(for: second))
        XCTAssertEqual(IOKey.callDigest(for: first, volatile: volatile), IOKey.callDigest(for: second, volatile: volatile))

        // Stripping removes exactly the matched members: the differences between the original and
        // the stripped value are those members, each absent on the stripped side.
        let inputs = vectors()[2].identity.inputs
        let stripped = paths(["messages[*].id", "*.request_id"]).strip(inputs)
        XCTAssertEqual(
            InputDifference.diff(recorded: inputs, given: stripped),
            [
                InputDifference(path: "messages[0].id", recorded: "msg-1", given: nil),
                InputDifference(path: "messages[1].id", recorded: "msg-2", given: nil),
                InputDifference(path: "meta.request_id", recorded: "r-9", given: nil),
            ])
    }

    func testStripSemantics() {
        let value = parse(
            #"{"request_id":"top","a":{"request_id":"one","b":{"request_id":"two"}},"list":[{"id":1,"v":"x"},{"id":2,"v":"y"},{"id":3}],"a.b":{"c":1},"*":2,"":3}"#
        )
        func stripped(_ list: [String]) -> String { paths(list).strip(value).serialized() }

        // `*` is exactly one level; `**` is any depth, including none.
        XCTAssertEqual(
            stripped(["*.request_id"]),
            #"{"":3,"*":2,"a":{"b":{"request_id":"two"}},"a.b":{"c":1},"list":[{"id":1,"v":"x"},{"id":2,"v":"y"},{"id":3}],"request_id":"top"}"#)
        XCTAssertEqual(
            stripped(["**.request_id"]),
            #"{"":3,"*":2,"a":{"b":{}},"a.b":{"c":1},"list":[{"id":1,"v":"x"},{"id":2,"v":"y"},{"id":3}]}"#)
        XCTAssertEqual(
            stripped(["request_id", "a.b"]),
            #"{"":3,"*":2,"a":{"request_id":"one"},"a.b":{"c":1},"list":[{"id":1,"v":"x"},{"id":2,"v":"y"},{"id":3}]}"#)
        // Quoted keys, literal `*`, empty key.
        XCTAssertEqual(
            stripped([#"["a.b"].c"#, #"["*"]"#, #"[""]"#, "a", "request_id"]),
            #"{"a.b":{},"list":[{"id":1,"v":"x"},{"id":2,"v":"y"},{"id":3}]}"#)
        // Array elements: all, one index (indexes are those of the original array), nested members.
        XCTAssertEqual(paths(["list[*].id"]).strip(value)["list"]?.serialized(), #"[{"v":"x"},{"v":"y"},{}]"#)
        XCTAssertEqual(paths(["list[0]", "list[2]"]).strip(value)["list"]?.serialized(), #"[{"id":2,"v":"y"}]"#)
        XCTAssertEqual(paths(["list[1].v"]).strip(value)["list"]?[1]?.serialized(), #"{"id":2}"#)
        XCTAssertEqual(paths(["list[*]"]).strip(value)["list"], [])
        // Steps that do not fit the value's shape match nothing.
        XCTAssertEqual(paths(["request_id[0]", "list.id", "[0]", "list[7]"]).strip(value), value)
        XCTAssertEqual(paths(["[1]"]).strip([1, 2, 3]), [1, 3])
        XCTAssertEqual(paths(["**.id"]).strip([["id": 1], [["id": 2, "k": 0]]]), [[:], [["k": 0]]])
        XCTAssertEqual(VolatilePaths().strip(value), value)
        XCTAssertTrue(VolatilePaths().isEmpty)
        XCTAssertEqual(paths(["a", "b"]).paths, ["a", "b"])
    }

    func testMalformedVolatilePathsAreRejected() {
        let cases: [(String, Int)] = [
            ("", 0), ("a..b", 2), ("a.", 2), (".a", 0), ("[", 1), ("a[", 2), ("[x]", 1), ("a[01]", 2),
            ("a[1", 3), ("a[*", 3), ("**", 2), ("a.**", 4), (#"a"b"#, 1), (#"["open]"#, 1),
            (#"["\q"]"#, 1), ("a]", 1), ("a[*]b", 4), ("a[1234567890]", 2),
        ]
        for (path, offset) in cases {
            XCTAssertThrowsError(try VolatilePaths([path]), path) { error in
                guard let error = error as? VolatilePathError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.path, path)
                XCTAssertEqual(error.offset, offset, "\(path): \(error)")
                XCTAssertTrue(error.description.hasPrefix("volatile path \"\(path)\", byte \(offset): "))
            }
        }
        XCTAssertNoThrow(try VolatilePaths(["a b", "x-y_z", "é.ü", "[0]", "[\"\\\"\"]", "**.a.**.b", "*"]))
    }

    // MARK: Call indexes

    func testCallIndexCounterCountsPerDigest() {
        var counter = CallIndexCounter()
        let a = [UInt8](repeating: 1, count: 32)
        let b = [UInt8](repeating: 2, count: 32)
        XCTAssertEqual(counter.issuedCount(for: a), 0)
        XCTAssertEqual(counter.next(for: a), 0)
        XCTAssertEqual(counter.next(for: a), 1)
        XCTAssertEqual(counter.next(for: b), 0)
        XCTAssertEqual(counter.next(for: a), 2)
        XCTAssertEqual(counter.next(for: b), 1)
        XCTAssertEqual(counter.issuedCount(for: a), 3)

        // Replay runs a fresh counter over the same calls and finds the same keys.
        let calls = vectors().map(\.identity) + vectors().map(\.identity) + [vectors()[0].identity]
        var recorder = CallIndexCounter()
        var player = CallIndexCounter()
        let recorded = calls.map { recorder.nextKey(for: $0) }
        XCTAssertEqual(recorded.map(\.callIndex), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2])
        XCTAssertEqual(calls.map { player.nextKey(for: $0) }, recorded)
        XCTAssertEqual(recorded[10], IOKey.derive(calls[0], callIndex: 2))
    }

    /// The counter's table grows shard by shard; through many growths (and copies, which share
    /// storage until they count) every digest keeps its own count, checked against a dictionary.
    func testCallIndexCounterAgreesWithADictionaryAcrossGrowths() {
        let seed: UInt64 = 0x5EED_2026_1201
        var rng = SeededGenerator(seed: seed)
        var counter = CallIndexCounter()
        var expected: [[UInt8]: UInt32] = [:]
        var digests: [[UInt8]] = []
        // Copies taken along the way.
        var snapshots: [(counter: CallIndexCounter, expected: [[UInt8]: UInt32])] = []
        for step in 0..<60_000 {
            let digest: [UInt8]
            if digests.isEmpty || rng.next() % 3 == 0 {
                // A new digest; every fourth one shares its first word with an earlier one, so
                // probes meet equal home slots.
                var bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if digests.count > 4 && step % 4 == 0 { bytes.replaceSubrange(0..<8, with: digests[digests.count / 2][0..<8]) }
                digests.append(bytes)
                digest = bytes
            } else {
                digest = digests[Int(rng.next() % UInt64(digests.count))]
            }
            let want = expected[digest, default: 0]
            XCTAssertEqual(counter.next(for: digest), want, "seed \(seed), step \(step)")
            expected[digest] = want + 1
            if step % 4_999 == 4_998 { snapshots.append((counter, expected)) }
        }
        for digest in digests { XCTAssertEqual(counter.issuedCount(for: digest), expected[digest, default: 0], "seed \(seed)") }
        // Each copy kept its counts while the original went on, and counts on by itself.
        for (n, snapshot) in snapshots.enumerated() {
            var (copy, copyExpected) = snapshot
            for digest in digests.prefix(300) {
                XCTAssertEqual(copy.issuedCount(for: digest), copyExpected[digest, default: 0], "seed \(seed), copy \(n)")
                XCTAssertEqual(copy.next(for: digest), copyExpected[digest, default: 0], "seed \(seed), copy \(n)")
                copyExpected[digest, default: 0] += 1
            }
        }
        for digest in digests { XCTAssertEqual(counter.issuedCount(for: digest), expected[digest, default: 0], "seed \(seed)") }
    }

    // MARK: Differences

    func testDiffPaths() {
        let recorded = parse(
            #"{"model":"gpt-4o","temperature":0,"messages":[{"role":"system","content":"a"},{"role":"user","content":"hi"}],"tools":["x","y"],"a.b":1}"#
        )
        let given = parse(
            #"{"model":"gpt-4o","temperature":0.0,"messages":[{"role":"system","content":"a"},{"role":"user","content":"hello","name":"u"}],"tools":["x"],"seed":7,"a.b":2}"#
        )
        let differences = InputDifference.diff(recorded: recorded, given: given)
        XCTAssertEqual(
            differences,
            [
                InputDifference(path: #"["a.b"]"#, recorded: 1, given: 2),
                InputDifference(path: "messages[1].content", recorded: "hi", given: "hello"),
                InputDifference(path: "messages[1].name", recorded: nil, given: "u"),
                InputDifference(path: "seed", recorded: nil, given: 7),
                InputDifference(path: "tools[1]", recorded: "y", given: nil),
            ])
        XCTAssertEqual(differences[1].description, #"messages[1].content: recorded "hi", given "hello""#)
        XCTAssertEqual(differences[3].description, "seed: recorded (absent), given 7")

        XCTAssertEqual(InputDifference.diff(recorded: recorded, given: recorded), [])
        XCTAssertEqual(
            InputDifference.diff(recorded: ["a": 1], given: [1]),
            [InputDifference(path: "", recorded: ["a": 1], given: [1])])
        XCTAssertEqual(InputDifference.diff(recorded: 1, given: 2).first?.description, "(whole value): recorded 1, given 2")
        XCTAssertEqual(
            InputDifference.diff(recorded: ["x": ["k": 1, "t": 1]], given: ["x": ["k": 1, "t": 2]], volatile: paths(["x.t"])), [])
        // Every path the diff prints reads back as a volatile path that removes that member.
        for difference in differences {
            let volatile = paths([difference.path])
            XCTAssertEqual(InputDifference.diff(recorded: recorded, given: given, volatile: volatile).count, differences.count - 1, difference.path)
        }
    }
}

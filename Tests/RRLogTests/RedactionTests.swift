import Foundation
import RRLog
import XCTest

/// The default secret patterns are matched by a hand-written scanner; these tests hold it to the
/// regular expressions it replaces, on strings built to sit on every edge of the patterns.
final class RedactionTests: XCTestCase {
    /// The default patterns, each wrapped in a group: the same expressions, but no longer the
    /// default list, so `Redaction` runs them with NSRegularExpression.
    let regexOnly = Redaction(patterns: Redaction.defaultPatterns.map { "(?:\($0))" })

    static let fragments = [
        "Bearer", "bearer", "BEARER", "bEaReR", "xBearer", " ", "  ", "\t", "\n", "\u{00A0}", "\u{2028}", "sk-", "sk-live-",
        "sk-proj-", "ghp_", "gho_", "ghx_", "AKIA", "xoxb-", "xoxz-", "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----",
        "abcdefgh", "ABCDEFGHIJKLMNOP", "0123456789", "_", "-", ".", "/", "=", "~", "+", "é", "ſ", "\u{212A}", "[", "x", "a", "Z",
        "9", "日本", "token", ":", "\"",
    ]

    func testScannerAgreesWithTheRegularExpressions() {
        var rng = SeededGenerator(seed: 0x5EC2E7)
        var redactedCases = 0
        for n in 0..<20_000 {
            var s = ""
            for _ in 0..<Int.random(in: 1...14, using: &rng) { s += Self.fragments.randomElement(using: &rng)! }
            var fast: [String] = []
            var slow: [String] = []
            let a = Redaction.default.apply(.string(s), prefix: "v", redacted: &fast)
            let b = regexOnly.apply(.string(s), prefix: "v", redacted: &slow)
            XCTAssertEqual(a, b, "case \(n): \(s.debugDescription)")
            XCTAssertEqual(fast, slow, "case \(n): \(s.debugDescription)")
            if a != b { return }
            if !fast.isEmpty { redactedCases += 1 }
        }
        // The strings must exercise the patterns, not just miss them.
        XCTAssertGreaterThan(redactedCases, 1_000)
        XCTAssertLessThan(redactedCases, 18_000)
    }

    /// The recorder's one-pass key (canonical bytes written while checking for secrets) must be
    /// the key of the redacted inputs, which is what replay derives.
    func testRecorderKeysEqualKeysOfTheRedactedInputs() async throws {
        let dir = FileManager.default.temporaryDirectory.path + "/rrlog-redaction-\(UUID().uuidString.prefix(8))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: dir)
        let recorder = try Recorder.start(store: store, options: RecordingOptions(name: "keys"))
        var rng = SeededGenerator(seed: 77)
        for i in 0..<2_000 {
            var text = ""
            for _ in 0..<Int.random(in: 1...6, using: &rng) { text += Self.fragments.randomElement(using: &rng)! }
            let name = ["q", "token", "Api-Key", "note", "password"].randomElement(using: &rng)!
            let inputs: JSONValue = [name: .string(text), "list": [.string(text), 3], "n": .int(Int64(i))]
            let key = recorder.record(ioType: "tool_call", tool: "t\(i)", inputs: inputs, outputs: ["ok": true])
            var ignored: [String] = []
            let expected = IOKey.derive(
                IOCallIdentity(ioType: "tool_call", tool: "t\(i)", agent: "", inputs: Redaction.default.apply(inputs, prefix: "inputs", redacted: &ignored)),
                callIndex: 0)
            XCTAssertEqual(key, expected, "case \(i): \(inputs)")
        }
        let summary = try await recorder.stop()
        XCTAssertEqual(summary.events, 2_000)
        XCTAssertGreaterThan(summary.writerBusySeconds, 0)
        XCTAssertLessThan(summary.writerBusySeconds, summary.durationSeconds)
    }

    /// The recorder stores the inputs' canonical bytes when they are also the plain form; large
    /// numbers (written differently by RFC 8785) must still be stored exactly.
    func testStoredInputsAreExactIncludingLargeNumbers() async throws {
        let dir = FileManager.default.temporaryDirectory.path + "/rrlog-inputs-\(UUID().uuidString.prefix(8))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: dir)
        let cases: [JSONValue] = [
            ["q": "plain", "n": 3, "x": 1.5],
            ["id": .int(9_007_199_254_740_993), "note": "beyond 2^53"],
            ["big": .double(1e300), "small": .double(-0.0), "list": [.int(Int64.max), .int(Int64.min)]],
            ["nested": ["b": 2, "a": ["z": "é\u{0001}\"\\"]]],
        ]
        let summary = try await Recorder.withRecording(store: store, options: RecordingOptions(name: "exact")) { rec in
            for (i, inputs) in cases.enumerated() { rec.record(ioType: "tool_call", tool: "t\(i)", inputs: inputs, outputs: ["i": .int(Int64(i))]) }
            return try await rec.stop()
        }
        let reader = try store.openReader(summary.manifest)
        var stored: [JSONValue] = []
        reader.forEach { view in
            if let line = try? JSONValue.parse(Array(view.payload)), let inputs = line["inputs"] { stored.append(inputs) }
            return true
        }
        XCTAssertEqual(stored.count, cases.count)
        for (a, b) in zip(stored, cases) {
            XCTAssertEqual(a.serialized(), b.serialized())
        }
    }

    /// The caller writes outputs and metadata, checking for secrets as it writes; what is stored
    /// must be exactly what the redaction rules make of them, with every redacted path listed, for
    /// the default rules (one checked pass) and for custom ones (redacted before writing).
    func testStoredOutputsAndMetadataAreTheRedactedValues() async throws {
        let dir = FileManager.default.temporaryDirectory.path + "/rrlog-outputs-\(UUID().uuidString.prefix(8))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: dir)
        let custom = Redaction(patterns: Redaction.defaultPatterns + [#"case-\d{3}"#], paths: ["outputs.body.id"])
        for rules in [Redaction.default, custom] {
            var options = RecordingOptions(name: "outputs-\(rules.paths.count)")
            options.redaction = rules
            var rng = SeededGenerator(seed: 4242)
            var expected: [(inputs: JSONValue, outputs: JSONValue, metadata: JSONValue, redacted: [String])] = []
            let summary = try await Recorder.withRecording(store: store, options: options) { rec in
                for i in 0..<300 {
                    func text() -> String { (0..<Int.random(in: 1...5, using: &rng)).map { _ in Self.fragments.randomElement(using: &rng)! }.joined() }
                    let name = ["q", "token", "Authorization", "note"].randomElement(using: &rng)!
                    let inputs: JSONValue = ["q": .string(text()), "n": .int(Int64(i))]
                    let outputs: JSONValue = ["body": ["id": .int(Int64(i)), name: .string(text()), "list": [.string(text()), .string("case-\(100 + i % 900)")]]]
                    let metadata: JSONValue = [name: .string(text()), "big": .int(9_007_199_254_740_993)]
                    var paths: [String] = []
                    let cleanInputs = rules.apply(inputs, prefix: "inputs", redacted: &paths)
                    let cleanOutputs = rules.apply(outputs, prefix: "outputs", redacted: &paths)
                    let cleanMetadata = rules.apply(metadata, prefix: "metadata", redacted: &paths)
                    expected.append((cleanInputs, cleanOutputs, cleanMetadata, paths))
                    rec.record(ioType: "tool_call", tool: "t", inputs: inputs, outputs: outputs, metadata: metadata)
                }
                return try await rec.stop()
            }
            let reader = try store.openReader(summary.manifest)
            var n = 0
            reader.forEach { view in
                guard let line = try? JSONValue.parse(Array(view.payload)), line["type"]?.stringValue == "event" else { return true }
                let want = expected[n]
                XCTAssertEqual(line["inputs"]?.serialized(), want.inputs.serialized(), "event \(n)")
                XCTAssertEqual(line["outputs"]?.serialized(), want.outputs.serialized(), "event \(n)")
                XCTAssertEqual(line["metadata"]?.serialized(), want.metadata.serialized(), "event \(n)")
                XCTAssertEqual(Set(line["redacted"]?.arrayValue?.compactMap(\.stringValue) ?? []), Set(want.redacted), "event \(n)")
                n += 1
                return true
            }
            XCTAssertEqual(n, 300)
            XCTAssertTrue(expected.contains { !$0.redacted.isEmpty }, "the generator should produce secrets")
        }
    }

    func testKnownSecretsAndLookalikes() {
        let cases: [(String, String)] = [
            ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: [REDACTED]"),
            ("key sk-proj-ABCDEFGHIJKLMNOPQRSTUV end", "key [REDACTED] end"),
            ("AKIAABCDEFGHIJKLMNOP", "[REDACTED]"),
            ("AKIAABCDEFGHIJKLMNOPQ", "AKIAABCDEFGHIJKLMNOPQ"),  // 17 characters: no word boundary
            ("task-sk-ABCDEFGHIJKLMNOPQRST", "task-[REDACTED]"),
            ("asksk-ABCDEFGHIJKLMNOPQRST", "asksk-ABCDEFGHIJKLMNOPQRST"),
            ("the high thought through", "the high thought through"),
            ("xoxb-1234567890-abc", "[REDACTED]"),
        ]
        for (text, expected) in cases {
            var paths: [String] = []
            XCTAssertEqual(Redaction.default.apply(.string(text), prefix: "p", redacted: &paths), .string(expected), text)
            XCTAssertEqual(paths, text == expected ? [] : ["p"], text)
        }
    }

    func testFieldNamesAndPathsAreReportedWhereTheyAre() {
        let value: JSONValue = [
            "headers": ["X-Api-Key": "k-123", "Accept": "json", "Set-Cookie": ["a", "b"]],
            "items": [["password": "hunter2"], ["token": 3], ["note": "Bearer abcdefghijk"]],
            "untouched": ["deep": ["deeper": "fine"]],
        ]
        var paths: [String] = []
        let clean = Redaction.default.apply(value, prefix: "inputs", redacted: &paths)
        XCTAssertEqual(paths.sorted(), [
            "inputs.headers.Set-Cookie", "inputs.headers.X-Api-Key", "inputs.items[0].password", "inputs.items[2].note",
        ])
        XCTAssertEqual(clean["headers"]?["Accept"], "json")
        XCTAssertEqual(clean["items"]?[1]?["token"], 3)
        XCTAssertEqual(clean["untouched"], value["untouched"])
        XCTAssertEqual(clean["items"]?[2]?["note"], .string(Redaction.marker))
        // Nothing to redact: the value comes back as it was.
        var none: [String] = []
        XCTAssertEqual(Redaction.default.apply(value["untouched"]!, prefix: "x", redacted: &none), value["untouched"])
        XCTAssertEqual(none, [])
    }

    /// Every default name in the spellings a header or field takes is redacted, in the recorder's
    /// writer check and on the fast JSON-lines path alike; names that only look alike are not;
    /// custom names of any length (past the 24 bytes kept in words) and non-ASCII ones work.
    func testEveryNameInEverySpellingAndOnlyThose() throws {
        func spellings(_ name: String) -> [String] {
            [name, name.uppercased(), name.replacingOccurrences(of: "_", with: "-"), name.replacingOccurrences(of: "-", with: "_"),
             name.capitalized, "_" + name + "-"]
        }
        let custom = Redaction(fieldNames: Redaction.defaultFieldNames.union(["x-my-very-long-custom-secret-header-name", "clé"]))
        let secret = Redaction.defaultFieldNames.flatMap(spellings) + spellings("x-my-very-long-custom-secret-header-name") + ["CLÉ", "clé"]
        let lookalikes = ["tokens", "authorizations", "proxyauthorizatio", "passwords", "cookies", "secrets", "api", "key", "auth", "t0ken",
                          "x-my-very-long-custom-secret-header-nam", "cle", ""]
        for name in secret + lookalikes {
            let expected = secret.contains(name)
            var redacted: [String] = []
            let out = custom.apply(.object([name: "v", "other": "w"]), prefix: "inputs", redacted: &redacted)
            XCTAssertEqual(redacted, expected ? ["inputs.\(name)"] : [], "apply: \(name)")
            XCTAssertEqual(out["other"], "w")
            // The fast path (ASCII names), which must agree with the tree path.
            let line = #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"# + "\"\(name)\"" + #":"v"},"ts_ns":1}"#
            var encoder = IOEventEncoder(redaction: custom)
            let record = try Array(line.utf8).withUnsafeBytes { try encoder.record(forLine: $0, location: "1") }
            XCTAssertEqual(String(decoding: record.payload, as: UTF8.self).contains("[REDACTED]"), expected, "line: \(name)")
        }
    }

    /// The recorder writes an event's and a stream start's stored line in one pass: byte for byte
    /// what `JSONWriter` writes for the same line, with names that need escaping, with and without
    /// duration, outputs and metadata, with redacted paths.
    func testRecorderStoredLinesAreWhatTheJSONWriterWrites() async throws {
        let dir = FileManager.default.temporaryDirectory.path + "/rrlog-lines-\(UUID().uuidString.prefix(8))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: dir)
        let names = ["plain", "quote\"back\\slash", "line\nfeed\ttab\u{1}\u{1F}", "é\u{1F600}", ""]
        let summary = try await Recorder.withRecording(store: store, options: RecordingOptions(name: "lines")) { rec in
            for (n, name) in names.enumerated() {
                rec.record(
                    ioType: "io-\(name)", agent: name, tool: "t\(name)", inputs: ["q": .string(name), "token": "secret"],
                    outputs: n % 2 == 0 ? ["a": 1.5] : .null, durationSeconds: n % 2 == 0 ? 0.25 : nil,
                    metadata: n == 3 ? ["password": "p", "k": [1, 2]] : nil)
                let stream = rec.startStream(ioType: "llm", agent: name, tool: "t", inputs: ["n": .int(Int64(n))], metadata: n == 1 ? ["m": true] : nil)
                rec.finishStream(stream, totalChunks: 0)
            }
            return try await rec.stop()
        }
        var checked = 0
        try store.openReader(summary.manifest).forEach { view in
            let payload = Array(view.payload)
            guard let line = try? JSONValue.parse(payload), let type = line["type"]?.stringValue, type == "event" || type == "stream_start" else { return true }
            XCTAssertEqual(String(decoding: payload, as: UTF8.self), String(decoding: line.serializedBytes(), as: UTF8.self))
            XCTAssertTrue(names.contains(line["agent_id"]?.stringValue ?? "?"), "\(line)")
            if type == "event" { XCTAssertEqual(line["redacted"]?.arrayValue?.first, "inputs.token") }
            checked += 1
            return true
        }
        XCTAssertEqual(checked, 2 * names.count)
    }
}


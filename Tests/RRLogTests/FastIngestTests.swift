import Foundation
import RRLog
@testable import RRLogIOProfile
import RRLogStorage
import XCTest

/// `IOEventEncoder.record(forLine:location:)`, the fast path of JSON lines, against the tree path
/// (`record(for: JSONValue.parse(line))`): the same records (timestamp, kind, key, payload), the
/// same call indexes, the same errors, for every line of the fixtures, the fuzz corpus, edge cases
/// and mutations of them.
final class FastIngestTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func lines(of path: String) throws -> [[UInt8]] {
        let data = try Data(contentsOf: root.appendingPathComponent(path))
        return data.split(separator: 0x0A, omittingEmptySubsequences: true).map { Array($0) }
    }

    static func fixtureLines() throws -> [[UInt8]] {
        var all = try lines(of: "Tests/Fixtures/io/llm-session.jsonl") + lines(of: "Tests/Fixtures/io/llm-session-200.jsonl")
        let corpus = root.appendingPathComponent("Fuzz/corpus/FuzzIOEvents")
        for name in try FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted() {
            all += try lines(of: "Fuzz/corpus/FuzzIOEvents/" + name)
        }
        return all
    }

    /// What the tree path gives for `line`, with a parse error reported as the fast path's entry
    /// point (and `IOEventIngest.add(lineBytes:location:)`) reports it.
    static func treeRecord(_ encoder: inout IOEventEncoder, _ line: [UInt8], location: String) -> Result<RecordInput, RRLogError> {
        let value: JSONValue
        do throws(JSONParseError) { value = try JSONValue.parse(line) } catch {
            return .failure(RRLogError(.malformedInput, "invalid JSON at column \(error.column): \(error.reason)", location: location))
        }
        do throws(RRLogError) { return .success(try encoder.record(for: value, location: location)) } catch { return .failure(error) }
    }

    static func fastRecord(_ encoder: inout IOEventEncoder, _ line: [UInt8], location: String) -> Result<RecordInput, RRLogError> {
        line.withUnsafeBytes { bytes in
            do throws(RRLogError) { return .success(try encoder.record(forLine: bytes, location: location)) } catch { return .failure(error) }
        }
    }

    /// Runs `lines` (`rounds` times over, so repeated calls get increasing indexes) through both
    /// paths, each with its own fresh encoder, and compares every outcome. Returns how many lines
    /// the fast path itself encoded (a third encoder, which takes the tree path only where the
    /// fast path declines, and must agree too).
    @discardableResult
    func compare(
        _ lines: [[UInt8]], rounds: Int = 2, volatile: VolatilePaths = .init(), redaction: Redaction = .default,
        file: StaticString = #filePath, line testLine: UInt = #line
    ) -> Int {
        var tree = IOEventEncoder(volatile: volatile, redaction: redaction)
        var fast = IOEventEncoder(volatile: volatile, redaction: redaction)
        var probe = IOEventEncoder(volatile: volatile, redaction: redaction)
        var fastCount = 0
        var failures = 0
        for round in 0..<rounds {
            for (n, line) in lines.enumerated() {
                let location = "round \(round) line \(n + 1)"
                let expected = Self.treeRecord(&tree, line, location: location)
                let got = Self.fastRecord(&fast, line, location: location)
                let text = String(decoding: line.prefix(300), as: UTF8.self)
                switch (expected, got) {
                case (.success(let a), .success(let b)):
                    if a != b {
                        failures += 1
                        XCTFail(
                            "\(location): records differ for \(text)\n tree \(String(decoding: a.payload, as: UTF8.self)) \(a.key ?? [])\n fast \(String(decoding: b.payload, as: UTF8.self)) \(b.key ?? [])",
                            file: file, line: testLine)
                    }
                case (.failure(let a), .failure(let b)):
                    if a.code != b.code || a.location != b.location || a.message != b.message {
                        failures += 1
                        XCTFail("\(location): errors differ for \(text): tree \(a), fast \(b)", file: file, line: testLine)
                    }
                default:
                    failures += 1
                    XCTFail("\(location): outcomes differ for \(text): tree \(expected), fast \(got)", file: file, line: testLine)
                }
                // The fast path alone, where it takes the line.
                let direct = line.withUnsafeBytes { probe.fastPathUsable ? probe.fastRecord($0).map(RecordInput.init) : nil }
                if let direct {
                    fastCount += 1
                    if case .success(let a) = expected, a == direct {} else {
                        failures += 1
                        XCTFail("\(location): the fast path encoded a line the tree path gives otherwise: \(text)", file: file, line: testLine)
                    }
                } else {
                    _ = Self.treeRecord(&probe, line, location: location)
                }
                if failures > 20 { return fastCount }
            }
        }
        return fastCount
    }

    func testFixturesAndCorpusGiveTheSameRecords() throws {
        XCTAssertEqual(FastLineScanner.derivationTag.description, IOKey.derivationTag, "the fast path's copy of the key's tag")
        let lines = try Self.fixtureLines()
        XCTAssertGreaterThan(lines.count, 3400)
        let fast = compare(lines)
        // Lines with secrets are redacted on the fast path too; only the fuzz corpus's lines that
        // are not JSON, or not written the way JSONWriter writes, take the tree path.
        XCTAssertGreaterThan(fast, 2 * lines.count * 99 / 100, "the fast path took \(fast) of \(2 * lines.count)")
    }

    func testFixturesUnderOtherRules() throws {
        let lines = try Self.fixtureLines()
        // Redaction off: every line that is JSON is taken (the fuzz corpus ends in a cut-off line).
        let json = lines.filter { (try? JSONValue.parse($0)) != nil }.count
        XCTAssertEqual(compare(lines, redaction: .disabled), 2 * json)
        // Names only.
        XCTAssertGreaterThan(compare(lines, redaction: Redaction(patterns: [])), 0)
        // Rules the fast path cannot check, and volatile paths: the tree path throughout.
        XCTAssertEqual(compare(lines, redaction: Redaction(patterns: Redaction.defaultPatterns + [#"\bcorp-[0-9]{6}\b"#])), 0)
        XCTAssertEqual(compare(lines, redaction: Redaction(paths: ["inputs.url"])), 0)
        XCTAssertEqual(compare(lines, volatile: try VolatilePaths(["url", "messages[*].content"])), 0)
    }

    static let edgeCases: [String] = [
        // Plain lines of each kind, and whitespace.
        #"{"type":"event","io_type":"tool_call","tool_name":"search","agent_id":"a","inputs":{"q":"x"},"outputs":{"n":1},"ts_ns":5}"#,
        #"  { "type" : "event" , "io_type":"tool_call","tool_name":"search","agent_id":"a","inputs" : { "q" : [ 1 , 2 ] } ,"ts_ns":5 }  "#,
        "{\"type\":\"event\",\n\"io_type\":\"t\",\t\"tool_name\":\"s\",\r\"agent_id\":\"a\",\"inputs\":null,\"ts_ns\":5}",
        #"{"type":"stream_start","stream_id":"s1","io_type":"llm_call","tool_name":"openai","agent_id":"a","inputs":{"model":"m"},"ts_ns":7}"#,
        #"{"type":"chunk","stream_id":"s1","index":0,"content":"hello","ts_ns":8}"#,
        #"{"type":"stream_finish","stream_id":"s1","total_chunks":1,"ts_ns":9}"#,
        #"{"type":"checkpoint","label":"x","ts_ns":10}"#,
        // call_index given, right, wrong, of another type, missing.
        #"{"type":"event","call_index":0,"io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        #"{"type":"event","call_index":7,"io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        #"{"type":"event","call_index":"zero","io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        #"{"type":"event","call_index":0.0,"io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        #"{"type":"chunk","call_index":3,"stream_id":"s","ts_ns":1}"#,
        #"{"a":1,"b":2,"c":3,"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        #"{"zzz":1,"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        #"{"call_indey":1,"call_indexx":2,"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        // Escapes in values (as the writer writes them, and not), and in names.
        #"{"type":"chunk","stream_id":"s","content":"a\"b\\c\nd\te\rf\bg\fh\u0001\u001f","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","content":"a\/b","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","content":"caf\u00e9","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","content":"\u0041\u000A\u001F","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","content":"\ud83d\ude00","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","content":"\ud83d","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s\n2","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","me\u0074a":1,"ts_ns":1}"#,
        #"{"type":"event","io_type":"t\n","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t\u0000x","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"a\u0000b":1},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"s":"line\none \"quoted\" \\ tab\t"},"ts_ns":1}"#,
        #"{"type":"ev\u0065nt","io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        // Unicode keys and values, NFC and NFD, order by UTF-16 code units.
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"é":1,"e":2,"z":3},"ts_ns":1}"#,
        "{\"type\":\"event\",\"io_type\":\"t\",\"tool_name\":\"s\",\"agent_id\":\"a\",\"inputs\":{\"\u{E9}\":1,\"e\u{301}\":2},\"ts_ns\":1}",
        "{\"type\":\"event\",\"io_type\":\"t\",\"tool_name\":\"s\",\"agent_id\":\"a\",\"inputs\":{\"\u{FF61}\":1,\"\u{1F600}\":2},\"ts_ns\":1}",
        "{\"type\":\"event\",\"io_type\":\"t\u{E9}\",\"tool_name\":\"s\u{1F600}\",\"agent_id\":\"a\",\"inputs\":{\"v\":\"\u{E9}e\u{301}\u{1F600}\"},\"ts_ns\":1}",
        // Numbers: canonical and not.
        #"{"type":"checkpoint","metadata":{"a":1.0,"b":1e2,"c":-0,"d":0,"e":-0.0,"f":1.5,"g":0.000001,"h":0.0000001},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":1.0},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":1E+2},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":-0},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":0.1,"m":-12.625,"k":123456789012345},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":9007199254740993},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":1234567890123456789012},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":0.1234567890123456789},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":123456789012345.5},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":1e400},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":01},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":1.},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"n":-},"ts_ns":1}"#,
        // ts_ns forms.
        #"{"type":"checkpoint","ts_ns":-0}"#,
        // Eight digits at a time and the rest one by one.
        #"{"type":"checkpoint","ts_ns":12345678}"#,
        #"{"type":"checkpoint","ts_ns":123456789}"#,
        #"{"type":"checkpoint","ts_ns":1234567812345678}"#,
        #"{"type":"checkpoint","ts_ns":-12345678123456789}"#,
        #"{"type":"checkpoint","ts_ns":1733400000123456789}"#,
        #"{"type":"checkpoint","ts_ns":9999999999999999999}"#,
        #"{"type":"checkpoint","ts_ns":00000000}"#,
        #"{"type":"checkpoint","ts_ns":1234567:}"#,
        #"{"type":"checkpoint","ts_ns":12345678.5}"#,
        #"{"type":"checkpoint","ts_ns":1234567812345678e1}"#,
        #"{"type":"checkpoint","ts_ns":9223372036854775807}"#,
        #"{"type":"checkpoint","ts_ns":-9223372036854775808}"#,
        #"{"type":"checkpoint","ts_ns":9223372036854775808}"#,
        #"{"type":"checkpoint","ts_ns":1.0}"#,
        #"{"type":"checkpoint","ts_ns":1.5}"#,
        #"{"type":"checkpoint","ts_ns":1e3}"#,
        #"{"type":"checkpoint","ts_ns":"1"}"#,
        #"{"type":"checkpoint","ts_ns":01}"#,
        #"{"type":"checkpoint","metadata":{"ts_ns":1.0},"ts_ns":2}"#,
        // Secrets by name and by value, in and out of the redacted fields.
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"headers":{"Authorization":"x"}},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"API-Key":["a"]},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"token":3,"password":null,"secret":true},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"token":"[REDACTED]"},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"q":"Bearer abcdefghijkl"},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"q":"x\nBearer abcdefghijkl"},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"q":"n\nsk-abcdefghijklmnopqrstu"},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"outputs":{"k":"AKIAABCDEFGHIJKLMNOP"},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"metadata":[{"cookie":"c"}],"ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","content":"sk-live-abcdefghijklmnopqrstuvwxyz","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","content":"é sk-live-abcdefghijklmnopqrstuvwxyz","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","content":"-----BEGIN RSA PRIVATE KEY-----x-----END RSA PRIVATE KEY-----","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"Bearer abcdefghijkl","password":"p","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","redacted":["x"],"content":"sk-live-abcdefghijklmnopqrstuvwxyz","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":"s","redacted":["x"],"content":"fine","ts_ns":1}"#,
        // Nesting, empty containers.
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":[[[[]]],{},[{}],{"a":{"b":{"c":[1,[2,{"d":null}]]}}}],"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{},"outputs":[],"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":"just a string","ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":true,"ts_ns":1}"#,
        // Missing members and wrong types.
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","ts_ns":1}"#,
        #"{"type":"event","io_type":1,"tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        #"{"type":"event","tool_name":"s","agent_id":"a","inputs":{},"ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{}}"#,
        #"{"type":"chunk","ts_ns":1}"#,
        #"{"type":"chunk","stream_id":3,"ts_ns":1}"#,
        #"{"type":"stream_finish","stream_id":null,"ts_ns":1}"#,
        #"{"type":"bus_event","ts_ns":1}"#,
        #"{"type":"Event","ts_ns":1}"#,
        #"{"type":5,"ts_ns":1}"#,
        #"{"ts_ns":1}"#,
        #"{}"#,
        #"[]"#,
        #""event""#,
        #"3"#,
        #"null"#,
        // Duplicate keys, trailing data, malformed JSON.
        #"{"type":"chunk","stream_id":"s","stream_id":"t","ts_ns":1}"#,
        #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"a":1,"b":2,"a":3},"ts_ns":1}"#,
        #"{"type":"checkpoint","ts_ns":1,"ts_ns":2}"#,
        #"{"type":"checkpoint","ts_ns":1} x"#,
        #"{"type":"checkpoint","ts_ns":1}}"#,
        #"{"type":"checkpoint","ts_ns":1,}"#,
        #"{"type":"checkpoint","metadata":[1,],"ts_ns":1}"#,
        #"{"type":"checkpoint","metadata":[1 2],"ts_ns":1}"#,
        #"{"type":"checkpoint","metadata":tru,"ts_ns":1}"#,
        #"{"type":"checkpoint","metadata":nul"#,
        #"{"type":"checkpoint","ts_ns":1"#,
        #"{"type":"checkpoint""#,
        #"{"type":"checkpoint","s":"unterminated}"#,
        "{\"type\":\"checkpoint\",\"s\":\"raw\ttab\",\"ts_ns\":1}",
        #"{"type":"checkpoint","s":"\x","ts_ns":1}"#,
        #"{"type":"checkpoint","s":"\u12","ts_ns":1}"#,
        #"{'type':'checkpoint'}"#,
        "",
        " ",
    ]

    func testEdgeCases() {
        var lines = Self.edgeCases.map { Array($0.utf8) }
        // Bytes a string cannot hold: invalid UTF-8, overlong forms, surrogates, U+0000.
        for bad: [UInt8] in [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x00], [0xC3, 0xA9]] {
            lines.append(Array(#"{"type":"chunk","stream_id":"s","content":""#.utf8) + bad + Array(#"","ts_ns":1}"#.utf8))
            lines.append(Array(#"{"type":"chunk","stream_id":"s","k"#.utf8) + bad + Array(#"":1,"ts_ns":1}"#.utf8))
        }
        // Deep nesting, near and beyond the limits of both paths.
        for depth in [10, 63, 64, 65, 200, 512, 513] {
            let open = String(repeating: "[", count: depth), close = String(repeating: "]", count: depth)
            lines.append(Array(#"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":\#(open)\#(close),"ts_ns":1}"#.utf8))
        }
        // Many members (the sort beyond insertion sort), with and without a duplicate.
        let many = (0..<40).map { #""k\#(($0 * 7919) % 40)":\#($0)"# }.joined(separator: ",")
        lines.append(Array(#"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{\#(many)},"ts_ns":1}"#.utf8))
        lines.append(Array(#"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{\#(many),"k3":0},"ts_ns":1}"#.utf8))
        // Each line repeated, so keyed ones count up.
        for rules in [Redaction.default, .disabled, Redaction(patterns: [])] {
            XCTAssertGreaterThan(compare(lines + lines, rounds: 2, redaction: rules), 0)
        }
    }

    /// Random edits of the fixture's lines (bytes replaced, tokens spliced in): whatever the
    /// edit makes of a line, both paths agree.
    func testMutatedLines() throws {
        let base = try Self.lines(of: "Tests/Fixtures/io/llm-session-200.jsonl")
        let tokens: [[UInt8]] = [
            "\\n", "\\\"", "\\/", "\\u00e9", "\\u0000", "\\u001f", "1.0", "-0", "1e2", "0.5", "9007199254740993", "\"", ",", ":", "{",
            "}", "[", "]", "é", "e\u{301}", "\u{1F600}", "token", "Authorization", "Bearer abcdefghijkl", "sk-live-abcdefghijklmnopqrst",
            " ", "\t", "null", "true", "\"type\":\"event\"", "\"ts_ns\":1", "\"call_index\":2", "1.50", "0.0000001", "\\u00E9",
            "\\ud83d\\ude00", "123456789012345", "1234567890123456", "0.1234567890123456", "[]", "{}", "password", "\"inputs\":{\"a\":1}",
        ].map { Array($0.utf8) }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int(truncatingIfNeeded: (z ^ (z >> 31)) >> 1)
        }
        var lines: [[UInt8]] = []
        for _ in 0..<20000 {
            var line = base[next() % base.count]
            for _ in 0..<(1 + next() % 3) {
                let at = next() % (line.count + 1)
                switch next() % 3 {
                case 0: line.insert(contentsOf: tokens[next() % tokens.count], at: at)
                case 1 where at < line.count: line[at] = UInt8(truncatingIfNeeded: next())
                default:
                    let end = min(line.count, at + next() % 4)
                    line.replaceSubrange(at..<end, with: tokens[next() % tokens.count])
                }
            }
            lines.append(line)
        }
        for rules in [Redaction.default, .disabled] {
            XCTAssertGreaterThan(compare(lines, rounds: 1, redaction: rules), 0)
        }
    }

    /// Lines with secrets by name and by the default patterns are redacted on the fast path, as
    /// the tree path redacts them: the same records, and none of them left to the tree path.
    func testRedactionOnTheFastPath() throws {
        let head = #"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","#
        let lines = [
            head + #""inputs":{"headers":{"Authorization":"x","X-Api-Key":"y"},"messages":[{"role":"user","content":"Bearer abcdefghijkl and sk-abcdefghijklmnopqrstu"}]},"ts_ns":1}"#,
            head + #""inputs":{"a":[{"token":"t"},{"b":"ghp_abcdefghijklmnopqrstuvwxyz0123456789"}]},"outputs":{"password":{"n":"Bearer abcdefghijkl"}},"metadata":{"cookie":[]},"ts_ns":2}"#,
            // Replacements longer than what they replace, many of them.
            head + #""inputs":{"token":"a","secret":"b","password":"c","api_key":"d","passwd":"","cookie":{},"id_token":[1],"x":"e"},"ts_ns":3}"#,
            // Escaped strings: the decoded text is scanned, the replacement escaped again.
            head + #""inputs":{"q":"line\nBearer abcdefghijkl\t\"x\"","r":"\u0001 xoxb-0123456789abc"},"ts_ns":4}"#,
            #"{"type":"chunk","stream_id":"s","index":0,"content":"key: sk-live-abcdefghijklmnopqrstuvwxyz\tend","ts_ns":5}"#,
            #"{"type":"stream_finish","stream_id":"s","metadata":{"authorization":"Basic x"},"ts_ns":6}"#,
            #"{"type":"checkpoint","content":"AKIAABCDEFGHIJKLMNOP","metadata":{"token":"[REDACTED]"},"zz":1,"ts_ns":7}"#,
            // Out of the redacted fields nothing is touched.
            head + #""inputs":{},"password":"p","notes":"Bearer abcdefghijkl","ts_ns":8}"#,
        ].map { Array($0.utf8) }
        XCTAssertEqual(compare(lines, rounds: 2), 2 * lines.count, "every line on the fast path")

        var encoder = IOEventEncoder()
        let line = Array((head + #""inputs":{"token":"a","q":"Bearer abcdefghijkl"},"ts_ns":1}"#).utf8)
        let record = try line.withUnsafeBytes { try encoder.record(forLine: $0, location: "1") }
        XCTAssertEqual(
            String(decoding: record.payload, as: UTF8.self),
            #"{"agent_id":"a","call_index":0,"inputs":{"q":"[REDACTED]","token":"[REDACTED]"},"io_type":"t","redacted":["inputs.q","inputs.token"],"tool_name":"s","type":"event"}"#)
    }

    /// A copied encoder continues the original's call indexes on its own and gets its own buffers.
    func testCopiedEncoderKeepsItsOwnState() throws {
        let line = Array(#"{"type":"event","io_type":"t","tool_name":"s","agent_id":"a","inputs":{"q":1},"ts_ns":1}"#.utf8)
        var a = IOEventEncoder()
        let first = try line.withUnsafeBytes { try a.record(forLine: $0, location: "1") }
        var b = a
        let second = try line.withUnsafeBytes { try a.record(forLine: $0, location: "2") }
        let copied = try line.withUnsafeBytes { try b.record(forLine: $0, location: "2") }
        XCTAssertEqual(first.key.flatMap { IOKey(bytes: $0) }?.callIndex, 0)
        XCTAssertEqual(second.key.flatMap { IOKey(bytes: $0) }?.callIndex, 1)
        XCTAssertEqual(second, copied)
        XCTAssertEqual(String(decoding: second.payload, as: UTF8.self), #"{"agent_id":"a","call_index":1,"inputs":{"q":1},"io_type":"t","tool_name":"s","type":"event"}"#)
    }

    /// `SecretScanner.isClean` (which skips by a table of first and second bytes) gives what
    /// trying the pattern at every byte that starts one gives.
    func testSecretScannerSkipsExactly() throws {
        func reference(_ t: UnsafeBufferPointer<UInt8>) -> Bool {
            for i in t.indices {
                let pattern: SecretScanner.Pattern
                switch t[i] {
                case UInt8(ascii: "b"), UInt8(ascii: "B"): pattern = .bearer
                case UInt8(ascii: "s"): pattern = .openAIKey
                case UInt8(ascii: "g"): pattern = .gitHubToken
                case UInt8(ascii: "A"): pattern = .awsKeyID
                case UInt8(ascii: "x"): pattern = .slackToken
                case UInt8(ascii: "-"): pattern = .privateKey
                default: continue
                }
                if case .none = SecretScanner.step(pattern, t, i) { continue }
                return false
            }
            return true
        }
        var samples = try Self.lines(of: "Tests/Fixtures/io/llm-session.jsonl")
        let alphabet = Array("bBeEsSkKgGhHaAKIxXoO-_ 0123456789é\u{1F600}\n.=/+~".utf8) + Array("Bearer sk-live-ghp_AKIAxoxb------BEGIN ".utf8)
        var state: UInt64 = 42
        for _ in 0..<50000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let count = Int(state >> 58)
            var bytes: [UInt8] = []
            for _ in 0..<count {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                bytes.append(alphabet[Int(state >> 33) % alphabet.count])
            }
            samples.append(bytes)
        }
        samples += ["Bearer abcdefgh", "be", "sk", "-", "--", "ghp_" + String(repeating: "a", count: 30), "AKIA0123456789ABCDEF", "xoxb-0123456789"].map { Array($0.utf8) }
        var unclean = 0
        for sample in samples {
            sample.withUnsafeBufferPointer { t in
                let expected = reference(t)
                if !expected { unclean += 1 }
                XCTAssertEqual(SecretScanner.isClean(t), expected, String(decoding: sample.prefix(200), as: UTF8.self))
            }
        }
        XCTAssertGreaterThan(unclean, 50)
    }
}

import Foundation
import RRLog
import XCTest

final class JSONValueTests: XCTestCase {
    // MARK: Helpers

    static let fixtureURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/io/llm-session-200.jsonl")

    /// Parses `text`, which must fail, and returns the error.
    func parseFailure(
        _ text: String, file: StaticString = #filePath, line: UInt = #line
    ) -> JSONParseError? {
        parseFailure(Array(text.utf8), file: file, line: line)
    }

    func parseFailure(
        _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line
    ) -> JSONParseError? {
        do throws(JSONParseError) {
            let value = try JSONValue.parse(bytes)
            XCTFail("parsed \(value) but expected an error", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func assertRejects(
        _ text: String, _ reason: JSONParseError.Reason, offset: Int, line: Int = 1, column: Int? = nil,
        file: StaticString = #filePath, sourceLine: UInt = #line
    ) {
        guard let error = parseFailure(text, file: file, line: sourceLine) else { return }
        let expected = JSONParseError(offset: offset, line: line, column: column ?? offset + 1, reason: reason)
        XCTAssertEqual(error, expected, "input \(text.debugDescription)", file: file, line: sourceLine)
    }

    func canonical(_ value: JSONValue) -> String {
        String(decoding: value.canonicalBytes(), as: UTF8.self)
    }

    /// A deterministic generator for the mutation test (SplitMix64), so failures can be replayed.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    // MARK: Accepting

    func testParsesEverySampleLineAndRoundTrips() throws {
        let lines = try String(contentsOf: Self.fixtureURL, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: true)
        XCTAssertEqual(lines.count, 200)
        var events = 0
        for (n, line) in lines.enumerated() {
            let value: JSONValue
            do {
                value = try JSONValue.parse(String(line))
            } catch {
                XCTFail("line \(n + 1): \(error)")
                continue
            }
            XCTAssertEqual(try JSONValue.parse(value.serialized()), value, "line \(n + 1)")
            // The canonical form is a fixed point. It need not read back as `value`: RFC 8785 rounds
            // integers beyond 2^53 (here `ts_ns`) to the nearest double.
            let canonical = value.canonicalBytes()
            XCTAssertEqual(try JSONValue.parse(canonical).canonicalBytes(), canonical, "line \(n + 1)")
            // Pair check against Foundation's reader: same member names at the top level.
            let foundation = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertEqual(
                Set(foundation.map { Array($0.keys) } ?? []), Set(value.objectValue.map { Array($0.keys) } ?? []))
            if value["type"] == "event" {
                events += 1
                XCTAssertNotNil(value["io_type"]?.stringValue)
                XCTAssertNotNil(value["call_index"]?.int64Value)
                XCTAssertNotNil(value["duration"]?.doubleValue)
                XCTAssertNotNil(value["inputs"]?.objectValue)
            }
        }
        XCTAssertEqual(events, 27)
    }

    func testParsesScalars() throws {
        XCTAssertEqual(try JSONValue.parse("null"), .null)
        XCTAssertEqual(try JSONValue.parse(" \t\r\ntrue \n"), .bool(true))
        XCTAssertEqual(try JSONValue.parse("false"), .bool(false))
        XCTAssertEqual(try JSONValue.parse("0"), .int(0))
        XCTAssertEqual(try JSONValue.parse("-12"), .int(-12))
        XCTAssertEqual(try JSONValue.parse("9223372036854775807"), .int(.max))
        XCTAssertEqual(try JSONValue.parse("-9223372036854775808"), .int(.min))
        // Beyond Int64 the value becomes the nearest double.
        XCTAssertEqual(try JSONValue.parse("9223372036854775808"), .double(9_223_372_036_854_775_808))
        XCTAssertEqual(try JSONValue.parse("1.5"), .double(1.5))
        XCTAssertEqual(try JSONValue.parse("-2.5E-3"), .double(-0.0025))
        XCTAssertEqual(try JSONValue.parse("1e2"), .double(100))
        XCTAssertEqual(try JSONValue.parse("1e-400"), .double(0))
        XCTAssertEqual(try JSONValue.parse("\"\""), .string(""))
        XCTAssertEqual(
            try JSONValue.parse(#""a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC\ud83d\ude00\u0000""#),
            .string("a\"b\\c/d\u{8}\u{C}\n\r\t\u{E9}\u{20AC}\u{1F600}\u{0}"))
        XCTAssertEqual(try JSONValue.parse("\"caf\u{E9} \u{1F600}\""), .string("caf\u{E9} \u{1F600}"))
        XCTAssertEqual(try JSONValue.parse("[]"), .array([]))
        XCTAssertEqual(try JSONValue.parse("{}"), .object([:]))
        XCTAssertEqual(
            try JSONValue.parse(#"{"a":[1,{"b":null}],"c":"d"}"#), ["a": [1, ["b": .null]], "c": "d"])
    }

    func testParseEntryPointsAgree() throws {
        let text = #"{"k":[1,2.5,"x"]}"#
        let fromString = try JSONValue.parse(text)
        let fromBytes = try JSONValue.parse(Array(text.utf8))
        let fromPointer = try Array(text.utf8).withUnsafeBytes { raw in try JSONValue.parse(raw) }
        XCTAssertEqual(fromString, fromBytes)
        XCTAssertEqual(fromString, fromPointer)
        XCTAssertThrowsError(try JSONValue.parse(UnsafeRawBufferPointer(start: nil, count: 0)))
    }

    func testAcceptsNestingUpToTheLimit() throws {
        let depth = JSONValue.nestingDepthMax
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        var value = try JSONValue.parse(text)
        var levels = 0
        while case .array(let elements) = value {
            levels += 1
            value = elements.first ?? .null
        }
        XCTAssertEqual(levels, depth)
    }

    // MARK: Rejecting

    func testRejectsTruncatedInput() {
        assertRejects("", .unexpectedEndOfInput(expected: "a value"), offset: 0)
        assertRejects("   ", .unexpectedEndOfInput(expected: "a value"), offset: 3)
        assertRejects(#"{"a": [1, 2"#, .unexpectedEndOfInput(expected: "',' or ']'"), offset: 11)
        assertRejects(#"{"a""#, .unexpectedEndOfInput(expected: "':'"), offset: 4)
        assertRejects(#"{"a":"#, .unexpectedEndOfInput(expected: "a value"), offset: 5)
        assertRejects(#"{"a":1"#, .unexpectedEndOfInput(expected: "',' or '}'"), offset: 6)
        assertRejects(#""abc"#, .unexpectedEndOfInput(expected: "'\"' to close the string"), offset: 4)
        assertRejects(#""a\"#, .unexpectedEndOfInput(expected: "an escape character"), offset: 3)
        assertRejects(#""\u12"#, .unexpectedEndOfInput(expected: "four hexadecimal digits"), offset: 5)
        assertRejects("tru", .unexpectedEndOfInput(expected: "'true'"), offset: 3)
        assertRejects("-", .unexpectedEndOfInput(expected: "a digit"), offset: 1)
        assertRejects("1.", .unexpectedEndOfInput(expected: "a digit after '.'"), offset: 2)
        assertRejects("1e+", .unexpectedEndOfInput(expected: "a digit after the exponent marker"), offset: 3)
    }

    func testEveryProperPrefixOfASampleLineIsRejected() throws {
        let line = try String(contentsOf: Self.fixtureURL, encoding: .utf8)
            .split(separator: "\n").dropFirst(3).first.map(String.init) ?? ""
        let bytes = Array(line.utf8)
        XCTAssertGreaterThan(bytes.count, 100)
        for length in 0..<bytes.count {
            guard let error = parseFailure(Array(bytes[0..<length])) else { continue }
            XCTAssertLessThanOrEqual(error.offset, length, "prefix of \(length) bytes")
        }
    }

    func testRejectsTrailingCommas() {
        assertRejects("[1,2,]", .trailingComma, offset: 5)
        assertRejects(#"{"a":1,}"#, .trailingComma, offset: 7)
        assertRejects("{\n  \"a\": 1,\n}", .trailingComma, offset: 12, line: 3, column: 1)
        assertRejects("[,]", .unexpectedByte(UInt8(ascii: ","), expected: "a value"), offset: 1)
    }

    func testRejectsBadEscapes() {
        assertRejects(#""a\x""#, .invalidEscape(UInt8(ascii: "x")), offset: 2)
        assertRejects(#""\u12G4""#, .invalidUnicodeEscape, offset: 1)
        assertRejects(#""\U0041""#, .invalidEscape(UInt8(ascii: "U")), offset: 1)
        assertRejects("[\"ok\",\n \"tab\tinside\"]", .controlCharacterInString(0x09), offset: 12, line: 2, column: 6)
        assertRejects("\"a\nb\"", .controlCharacterInString(0x0A), offset: 2)
    }

    func testRejectsLoneSurrogates() {
        assertRejects(#"["\ud800"]"#, .loneSurrogate(0xD800), offset: 2)
        assertRejects(#""\udc00""#, .loneSurrogate(0xDC00), offset: 1)
        assertRejects(#""x\uDBFF\u0041""#, .loneSurrogate(0xDBFF), offset: 2)
        assertRejects(#""\ud83d\ud83d""#, .loneSurrogate(0xD83D), offset: 1)
        assertRejects(#""\ud83d""#, .loneSurrogate(0xD83D), offset: 1)
    }

    func testRejectsDeepNesting() {
        let deep = String(repeating: "[", count: 100_000)
        assertRejects(deep, .nestingTooDeep(limit: 512), offset: 512)
        let objects = String(repeating: #"{"a":"#, count: 1000)
        assertRejects(objects, .nestingTooDeep(limit: 512), offset: 512 * 5)
        let oneTooMany = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        assertRejects(oneTooMany, .nestingTooDeep(limit: 512), offset: 512)
    }

    func testRejectsInvalidUTF8() {
        let cases: [(bytes: [UInt8], offset: Int)] = [
            ([0x22, 0x61, 0xC3, 0x28, 0x22], 2),  // bad continuation byte
            ([0x22, 0xC0, 0x80, 0x22], 1),  // overlong NUL
            ([0x22, 0xE0, 0x80, 0xAF, 0x22], 1),  // overlong three-byte form
            ([0x22, 0xED, 0xA0, 0x80, 0x22], 1),  // encoded surrogate U+D800
            ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1),  // above U+10FFFF
            ([0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], 1),  // invalid lead byte
            ([0x22, 0x80, 0x22], 1),  // lone continuation byte
            ([0x22, 0xE2, 0x82], 1),  // truncated sequence at the end
            ([0x22, 0x5C, 0x6E, 0xFF, 0x22], 3),  // after an escape (slow path)
        ]
        for (bytes, offset) in cases {
            guard let error = parseFailure(bytes) else { continue }
            XCTAssertEqual(error.reason, .invalidUTF8, "\(bytes)")
            XCTAssertEqual(error.offset, offset, "\(bytes)")
        }
        // Outside strings, non-ASCII bytes are simply not JSON; a byte-order mark is not allowed.
        XCTAssertEqual(parseFailure([0xEF, 0xBB, 0xBF, 0x31])?.reason, .unexpectedByte(0xEF, expected: "a value"))
    }

    func testRejectsBadNumbers() {
        assertRejects("01", .invalidNumber("a leading zero must not be followed by digits"), offset: 0)
        assertRejects("-01", .invalidNumber("a leading zero must not be followed by digits"), offset: 0)
        assertRejects("1.e5", .invalidNumber("a digit must follow '.'"), offset: 2)
        assertRejects("1ex", .invalidNumber("a digit must follow the exponent marker"), offset: 2)
        assertRejects(".5", .unexpectedByte(UInt8(ascii: "."), expected: "a value"), offset: 0)
        assertRejects("+1", .unexpectedByte(UInt8(ascii: "+"), expected: "a value"), offset: 0)
        assertRejects("-a", .unexpectedByte(UInt8(ascii: "a"), expected: "a digit"), offset: 1)
        assertRejects("NaN", .unexpectedByte(UInt8(ascii: "N"), expected: "a value"), offset: 0)
        assertRejects("-Infinity", .unexpectedByte(UInt8(ascii: "I"), expected: "a digit"), offset: 1)
        assertRejects("[1e400]", .numberOutOfRange, offset: 1)
        assertRejects("-1e309", .numberOutOfRange, offset: 0)
    }

    func testRejectsOtherMalformedDocuments() {
        assertRejects("1 2", .trailingData, offset: 2)
        assertRejects("{} x", .trailingData, offset: 3)
        assertRejects("trUe", .unexpectedByte(UInt8(ascii: "U"), expected: "'true'"), offset: 2)
        assertRejects("{a:1}", .unexpectedByte(UInt8(ascii: "a"), expected: "a string key"), offset: 1)
        assertRejects(#"{"a" 1}"#, .unexpectedByte(UInt8(ascii: "1"), expected: "':'"), offset: 5)
        assertRejects("[1 2]", .unexpectedByte(UInt8(ascii: "2"), expected: "',' or ']'"), offset: 3)
        assertRejects(#"{"a":1 "b":2}"#, .unexpectedByte(UInt8(ascii: "\""), expected: "',' or '}'"), offset: 7)
        assertRejects("// comment\n1", .unexpectedByte(UInt8(ascii: "/"), expected: "a value"), offset: 0)
        assertRejects(#"{"a":1,"b":2,"a":3}"#, .duplicateKey("a"), offset: 13)
        assertRejects("{\n\"x\": {\n  \"y\": [1, 2,\n    ]}}", .trailingComma, offset: 27, line: 4, column: 5)
    }

    func testErrorDescriptionSaysWhereAndWhat() {
        let error = parseFailure("[\n  1,\n  2,\n]")
        XCTAssertEqual(error?.description, "line 4, column 1 (byte 12): a trailing comma is not allowed")
        XCTAssertEqual(
            parseFailure("\"\\ud800\"")?.description,
            "line 1, column 2 (byte 1): the escape \\uD800 is an unpaired UTF-16 surrogate")
        XCTAssertEqual(
            parseFailure("[1;")?.description, "line 1, column 3 (byte 2): found ';' where ',' or ']' was expected")
    }

    func testMutatedSampleLinesNeverTrapAndRoundTripWhenAccepted() throws {
        let seed: UInt64 = 0x5EED_2025
        var random = SplitMix64(state: seed)
        let lines = try String(contentsOf: Self.fixtureURL, encoding: .utf8)
            .split(separator: "\n").prefix(40).map { Array($0.utf8) }
        let interesting: [UInt8] = Array(#"{}[]",:\u0123456789eE+-.tfn "#.utf8) + [0x00, 0x80, 0xC3, 0xED, 0xFF]
        var accepted = 0
        for round in 0..<4000 {
            var bytes = lines[round % lines.count]
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = interesting.randomElement(using: &random)!
                case 1: bytes.remove(at: at)
                default: bytes.insert(interesting.randomElement(using: &random)!, at: at)
                }
                if bytes.isEmpty { bytes = [0x30] }
            }
            do throws(JSONParseError) {
                let value = try JSONValue.parse(bytes)
                accepted += 1
                XCTAssertEqual(try JSONValue.parse(value.serializedBytes()), value, "seed \(seed) round \(round)")
            } catch {
                XCTAssertLessThanOrEqual(error.offset, bytes.count, "seed \(seed) round \(round)")
                XCTAssertGreaterThanOrEqual(error.line, 1)
                XCTAssertGreaterThanOrEqual(error.column, 1)
            }
        }
        XCTAssertGreaterThan(accepted, 0, "seed \(seed): some mutations keep the JSON valid")
    }

    // MARK: Values

    func testNumbersCompareByValue() {
        XCTAssertEqual(JSONValue.int(1), .double(1.0))
        XCTAssertEqual(JSONValue.double(-0.0), .int(0))
        XCTAssertNotEqual(JSONValue.int(1), .double(1.5))
        XCTAssertNotEqual(JSONValue.int(1), .string("1"))
        XCTAssertNotEqual(JSONValue.bool(true), .int(1))
        XCTAssertEqual(Set<JSONValue>([.int(3), .double(3), .double(3.5)]).count, 2)
        XCTAssertEqual(JSONValue.object(["a": .int(2)]).hashValue, JSONValue.object(["a": .double(2)]).hashValue)
    }

    func testAccessors() throws {
        let value = try JSONValue.parse(#"{"s":"x","i":7,"d":2.5,"w":4.0,"a":[true,null],"o":{"k":1}}"#)
        XCTAssertEqual(value["s"]?.stringValue, "x")
        XCTAssertEqual(value["i"]?.int64Value, 7)
        XCTAssertEqual(value["i"]?.doubleValue, 7)
        XCTAssertEqual(value["d"]?.doubleValue, 2.5)
        XCTAssertNil(value["d"]?.int64Value)
        XCTAssertEqual(value["w"]?.int64Value, 4)
        XCTAssertEqual(value["a"]?.arrayValue?.count, 2)
        XCTAssertEqual(value["a"]?[0]?.boolValue, true)
        XCTAssertEqual(value["a"]?[1]?.isNull, true)
        XCTAssertNil(value["a"]?[2])
        XCTAssertNil(value["a"]?[-1])
        XCTAssertEqual(value["o"]?.objectValue, ["k": .int(1)])
        XCTAssertNil(value["missing"])
        XCTAssertNil(value["s"]?["x"])
        XCTAssertNil(value.stringValue)
    }

    func testSerializedIsCompactSortedAndExact() {
        let value: JSONValue = [
            "b": [1, 2.5, .null, true], "a": "q\"\\/\n\u{1}\u{7F}\u{E9}", "big": .int(9_007_199_254_740_993),
        ]
        XCTAssertEqual(value.serialized(), #"{"a":"q\"\\/\n\u0001\#u{7F}é","b":[1,2.5,null,true],"big":9007199254740993}"#)
        XCTAssertEqual(value.serializedBytes(), Array(value.serialized().utf8))
        XCTAssertEqual(value.description, value.serialized())
        XCTAssertEqual(JSONValue.array([.double(.nan), .double(.infinity)]).serialized(), "[null,null]")
        // An integral double of 2^53 or more keeps the exponent form so that it reads back as the
        // same double, not as an `.int` with the zero-padded digits of the canonical form.
        let large = JSONValue.double(170_600_108_700_001_011.987)
        XCTAssertEqual(large.serialized(), "1.7060010870000102e+17")
        XCTAssertEqual(String(decoding: large.canonicalBytes(), as: UTF8.self), "170600108700001020")
        XCTAssertEqual(try JSONValue.parse(large.serialized()), large)
        XCTAssertEqual(JSONValue.double(9_007_199_254_740_991).serialized(), "9007199254740991")
    }

    func testCodableRoundTrip() throws {
        let value: JSONValue = ["a": [1, 2.5, "s", .null, false], "o": ["k": "v"], "n": -3]
        let data = try JSONEncoder().encode(value)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: data)
        XCTAssertEqual(decoded, value)
        XCTAssertEqual(try JSONValue.parse(Array(data)), value)
    }

    // MARK: Canonical form (RFC 8785)

    func testRFC8785AppendixBNumbers() {
        // RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
        let vectors: [(UInt64, String)] = [
            (0x0000_0000_0000_0000, "0"),
            (0x8000_0000_0000_0000, "0"),
            (0x0000_0000_0000_0001, "5e-324"),
            (0x8000_0000_0000_0001, "-5e-324"),
            (0x7FEF_FFFF_FFFF_FFFF, "1.7976931348623157e+308"),
            (0xFFEF_FFFF_FFFF_FFFF, "-1.7976931348623157e+308"),
            (0x4340_0000_0000_0000, "9007199254740992"),
            (0xC340_0000_0000_0000, "-9007199254740992"),
            (0x4430_0000_0000_0000, "295147905179352830000"),
            (0x44B5_2D02_C7E1_4AF5, "9.999999999999997e+22"),
            (0x44B5_2D02_C7E1_4AF6, "1e+23"),
            (0x44B5_2D02_C7E1_4AF7, "1.0000000000000001e+23"),
            (0x444B_1AE4_D6E2_EF4E, "999999999999999700000"),
            (0x444B_1AE4_D6E2_EF4F, "999999999999999900000"),
            (0x444B_1AE4_D6E2_EF50, "1e+21"),
            (0x3EB0_C6F7_A0B5_ED8C, "9.999999999999997e-7"),
            (0x3EB0_C6F7_A0B5_ED8D, "0.000001"),
            (0x41B3_DE43_5555_5553, "333333333.3333332"),
            (0x41B3_DE43_5555_5554, "333333333.33333325"),
            (0x41B3_DE43_5555_5555, "333333333.3333333"),
            (0x41B3_DE43_5555_5556, "333333333.3333334"),
            (0x41B3_DE43_5555_5557, "333333333.33333343"),
            (0xBECB_F647_612F_3696, "-0.0000033333333333333333"),
            (0x4314_3FF3_C1CB_0959, "1424953923781206.2"),
        ]
        for (bits, expected) in vectors {
            XCTAssertEqual(canonical(.double(Double(bitPattern: bits))), expected, "0x\(String(bits, radix: 16))")
        }
    }

    func testCanonicalNumbersFromDecimalText() throws {
        let vectors: [(String, String)] = [
            ("1e30", "1e+30"), ("1E+30", "1e+30"), ("4.50", "4.5"), ("2e-3", "0.002"), ("0.002", "0.002"),
            ("1e-7", "1e-7"), ("0.0000001", "1e-7"), ("333333333.33333329", "333333333.3333333"),
            ("-0", "0"), ("-0.0", "0"), ("9007199254740991", "9007199254740991"),
            ("-9007199254740991", "-9007199254740991"), ("9007199254740993", "9007199254740992"),
            ("9223372036854775807", "9223372036854776000"), ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"), ("100", "100"), ("100.0", "100"), ("0.1", "0.1"),
            ("1e-6", "0.000001"), ("123e-20", "1.23e-18"), ("1.5e300", "1.5e+300"),
            ("0.000000000000000000000000001", "1e-27"), ("-1.25e-5", "-0.0000125"),
        ]
        for (text, expected) in vectors {
            XCTAssertEqual(canonical(try JSONValue.parse(text)), expected, text)
        }
    }

    func testCanonicalNumbersMatchNode() {
        // Random doubles formatted by Node.js 20 (`JSON.stringify`); 300,000 such values were
        // checked while writing the formatter, these are a fixed sample of them.
        let vectors: [(UInt64, String)] = [
            (0x1F82_BA97_B099_57C3, "6.820622409616837e-157"), (0x3D64_ABBA_C495_F307, "5.875e-13"),
            (0x307E_40A7_093A_9583, "4.1802577660866236e-75"), (0x3BBA_C4B6_1D3D_A093, "5.66843e-21"),
            (0xA3AB_7286_6A20_A790, "-7.375519499815971e-137"), (0xC4EE_0303_5BC3_B5A0, "-1.1338126137640026e+24"),
            (0x3E63_9AB3_DF30_E1A8, "3.651586757313288e-8"), (0x4430_5245_31BD_4B80, "301076104352941200000"),
            (0x3C0F_9B09_CCAA_D6F7, "2.1416799999999998e-19"), (0x5162_1583_CA7B_7AFD, "1.0978533208433433e+84"),
            (0x3DF6_A86D_E5FE_C955, "3.297162317437114e-10"), (0x3F8E_E327_8225_08CE, "0.0150817"),
            (0xFC02_8805_D374_78B8, "-2.2574214576150886e+289"), (0xC2F8_3B0A_0B7A_7E40, "-426269610584036"),
            (0xC32B_B50F_2CA1_5210, "-3899450574547208"), (0x4122_D4E2_0000_0000, "617073"),
            (0x4040_2B26_17C1_BDA5, "32.3371"), (0x3FAC_82FE_D0DF_AA88, "0.0556869153950475"),
            (0x3B32_5A13_4681_9DC3, "1.5180300000000002e-23"), (0x4051_9393_DD97_F62C, "70.30590000000001"),
            (0xC55C_FE9D_141D_9FA0, "-1.4020920649667298e+26"), (0x755B_5772_0483_1940, "2.052673984092921e+257"),
        ]
        for (bits, expected) in vectors {
            XCTAssertEqual(canonical(.double(Double(bitPattern: bits))), expected, "0x\(String(bits, radix: 16))")
        }
    }

    func testRFC8785MainExample() throws {
        // RFC 8785 section 3.2.2, input and canonical output.
        let input = #"""
            {
              "numbers": [333333333.33333329, 1E30, 4.50,
                          2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """#
        let expected = #"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        XCTAssertEqual(canonical(try JSONValue.parse(input)), expected)
    }

    func testRFC8785KeySortingByUTF16() throws {
        // RFC 8785 section 3.2.3: U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16
        // order, although it is the larger code point.
        let input = #"""
            {
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }
            """#
        let value = try JSONValue.parse(input)
        let expectedOrder = [
            "Carriage Return", "One", "Control", "Latin Small Letter O With Diaeresis", "Euro Sign",
            "Emoji: Grinning Face", "Hebrew Letter Dalet With Dagesh",
        ]
        let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{F6}\":\""
            + "Latin Small Letter O With Diaeresis\",\"\u{20AC}\":\"Euro Sign\",\"\u{1F600}\":\"Emoji: "
            + "Grinning Face\",\"\u{FB33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        XCTAssertEqual(canonical(value), expected)
        let reparsed = String(decoding: value.canonicalBytes(), as: UTF8.self)
        var lastEnd = reparsed.startIndex
        for name in expectedOrder {
            let range = try XCTUnwrap(reparsed.range(of: name, range: lastEnd..<reparsed.endIndex), name)
            lastEnd = range.upperBound
        }
    }

    func testCanonicalStringEscaping() {
        let controls = JSONValue.string(String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self))
        XCTAssertEqual(
            canonical(controls),
            #""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#
                + #"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f""#)
        // Only `"` and `\` are escaped among the rest; `/`, DEL, U+2028 and emoji stay literal.
        XCTAssertEqual(canonical(.string("\"\\/\u{7F}\u{2028}\u{1F600}")), "\"\\\"\\\\/\u{7F}\u{2028}\u{1F600}\"")
        XCTAssertEqual(canonical(["": 1, "a": [:], "b": []]), #"{"":1,"a":{},"b":[]}"#)
    }

    func testCanonicalIntegersFollowTheDouble() {
        XCTAssertEqual(canonical(.int(9_007_199_254_740_993)), "9007199254740992")
        XCTAssertEqual(canonical(.int(-9_007_199_254_740_992)), "-9007199254740992")
        XCTAssertEqual(canonical(.int(.max)), "9223372036854776000")
        XCTAssertEqual(canonical(.int(.min)), "-9223372036854776000")
        XCTAssertEqual(canonical(.int(0)), canonical(.double(-0.0)))
        XCTAssertEqual(canonical(.int(42)), canonical(.double(42)))
    }
}

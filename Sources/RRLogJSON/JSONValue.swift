// JSON values and the strict reader rrlog uses for every JSON document that comes from outside:
// recorded inputs and outputs, imported session files, and command-line arguments.

/// A JSON value as RFC 8259 describes it.
///
/// Integers that fit in `Int64` and are written without a fraction or an exponent are kept exactly
/// in `.int`; every other number is a `.double`. JSON has a single number type, so equality and
/// hashing compare numbers by value: `.int(1) == .double(1.0)`. String values compare scalar
/// for scalar, as RFC 8785 does, not by Swift's canonical equivalence. Object member names are
/// Swift `String` dictionary keys, so two names that differ only by Unicode normalisation
/// cannot both be members of one object.
public enum JSONValue: Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// An integer written without fraction or exponent that fits in `Int64`.
    case int(Int64)
    /// Any other number. Never NaN or infinite when it comes from `parse(_:)`.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object. Member order is not kept; writers sort keys.
    case object([String: JSONValue])

    /// The deepest nesting of arrays and objects the parser accepts. A document nested deeper is
    /// rejected with ``JSONParseError/Reason/nestingTooDeep(limit:)`` before any recursion could
    /// exhaust the stack.
    public static let nestingDepthMax = 512
}

// MARK: - Equality and hashing

extension JSONValue: Hashable {
    /// Structural equality, with numbers compared by value across `.int` and `.double`.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null):
            return true
        case (.bool(let a), .bool(let b)):
            return a == b
        case (.int(let a), .int(let b)):
            return a == b
        case (.double(let a), .double(let b)):
            return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)):
            return Int64(exactly: b) == a
        case (.string(let a), .string(let b)):
            // Scalar for scalar, as RFC 8785 compares (UTF-16 code units): two strings that
            // Swift calls equal by canonical equivalence (NFC and NFD) serialise to different
            // bytes and give different IO keys, so they are different values.
            return a.utf8.elementsEqual(b.utf8)
        case (.array(let a), .array(let b)):
            return a == b
        case (.object(let a), .object(let b)):
            return a == b
        default:
            return false
        }
    }

    /// Hashes consistently with `==`: an integral double hashes like the equal `.int`.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null:
            hasher.combine(0 as UInt8)
        case .bool(let b):
            hasher.combine(1 as UInt8)
            hasher.combine(b)
        case .int(let i):
            hasher.combine(2 as UInt8)
            hasher.combine(i)
        case .double(let d):
            if let i = Int64(exactly: d) {
                hasher.combine(2 as UInt8)
                hasher.combine(i)
            } else {
                hasher.combine(3 as UInt8)
                hasher.combine(d)
            }
        case .string(let s):
            hasher.combine(4 as UInt8)
            hasher.combine(s)
        case .array(let a):
            hasher.combine(5 as UInt8)
            hasher.combine(a)
        case .object(let o):
            hasher.combine(6 as UInt8)
            hasher.combine(o)
        }
    }
}

// MARK: - Accessors

extension JSONValue {
    /// The member named `key` when this is an object, else nil.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members[key]
    }

    /// The element at `index` when this is an array and the index is in range, else nil.
    public subscript(index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    /// True for `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The Boolean when this is `true` or `false`.
    public var boolValue: Bool? {
        guard case .bool(let b) = self else { return nil }
        return b
    }

    /// The string when this is a string.
    public var stringValue: String? {
        guard case .string(let s) = self else { return nil }
        return s
    }

    /// The integer when this is a number with an exact `Int64` value (`2.0` gives 2, `2.5` nil).
    public var int64Value: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d): return Int64(exactly: d)
        default: return nil
        }
    }

    /// The number as a `Double` (integers beyond 2^53 are rounded to the nearest double).
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// The elements when this is an array.
    public var arrayValue: [JSONValue]? {
        guard case .array(let a) = self else { return nil }
        return a
    }

    /// The members when this is an object.
    public var objectValue: [String: JSONValue]? {
        guard case .object(let o) = self else { return nil }
        return o
    }
}

// MARK: - Serialization

extension JSONValue: CustomStringConvertible {
    /// Compact JSON text: no whitespace, object keys sorted by UTF-16 code units, integers in
    /// `.int` written exactly, doubles in ECMAScript form. Non-finite doubles, which JSON cannot
    /// express, are written as `null` (as `JSON.stringify` does).
    public func serialized() -> String {
        String(decoding: serializedBytes(), as: UTF8.self)
    }

    /// ``serialized()`` as UTF-8 bytes.
    public func serializedBytes() -> [UInt8] {
        var writer = JSONWriter(canonical: false)
        writer.write(self)
        return writer.output
    }

    /// The compact serialization, see ``serialized()``.
    public var description: String { serialized() }
}

// MARK: - Literals

// There is deliberately no `ExpressibleByNilLiteral`: with it, `nil` written for a `JSONValue?`
// can silently become `.some(.null)`. Write `.null`.

extension JSONValue: ExpressibleByBooleanLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// A Boolean.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An exact integer.
    public init(integerLiteral value: Int64) { self = .int(value) }
    /// A double.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// A string.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An array.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// An object; when a key repeats, the last value wins.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        var members: [String: JSONValue] = [:]
        members.reserveCapacity(elements.count)
        for (key, value) in elements { members[key] = value }
        self = .object(members)
    }
}

// MARK: - Codable

extension JSONValue: Codable {
    /// Decodes whatever JSON value the decoder holds.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else if let o = try? container.decode([String: JSONValue].self) {
            self = .object(o)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "The value is not null, a Boolean, number, string, array or object.")
        }
    }

    /// Encodes the value as the matching JSON value.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

// MARK: - Parsing

/// Why JSON text was rejected, and where: a byte offset plus a 1-based line and column.
///
/// The column counts bytes from the start of the line, so a line with multi-byte UTF-8 before the
/// problem reports a column larger than the number of characters an editor shows.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The rule the input broke.
    public enum Reason: Equatable, Sendable, CustomStringConvertible {
        /// The input ended where `expected` should have followed.
        case unexpectedEndOfInput(expected: String)
        /// A byte that cannot start or continue the construct being read.
        case unexpectedByte(UInt8, expected: String)
        /// A `,` directly followed by `]` or `}`.
        case trailingComma
        /// More than whitespace after the top-level value.
        case trailingData
        /// A number that breaks the RFC 8259 grammar, such as `01`, `1.` or `-`.
        case invalidNumber(String)
        /// A number whose magnitude does not fit in a finite IEEE 754 double.
        case numberOutOfRange
        /// A backslash followed by something other than `" \ / b f n r t u`.
        case invalidEscape(UInt8)
        /// `\u` not followed by four hexadecimal digits.
        case invalidUnicodeEscape
        /// A `\u` escape of a UTF-16 surrogate that is not part of a high-low pair.
        case loneSurrogate(UInt16)
        /// A raw control character (below U+0020) inside a string.
        case controlCharacterInString(UInt8)
        /// Bytes that are not well-formed UTF-8.
        case invalidUTF8
        /// Arrays and objects nested deeper than `limit`.
        case nestingTooDeep(limit: Int)
        /// An object with the same key twice.
        case duplicateKey(String)
        /// Two member names of one object differ only by Unicode normalisation (NFC and NFD):
        /// RFC 8785 keeps both, but an object here is keyed by Swift `String`, which calls them
        /// equal. Refused rather than one silently dropped.
        case keysDifferOnlyInNormalisation(String, String)

        /// A sentence describing the rule.
        public var description: String {
            switch self {
            case .unexpectedEndOfInput(let expected):
                return "the input ends where \(expected) was expected"
            case .unexpectedByte(let byte, let expected):
                return "found \(Self.show(byte)) where \(expected) was expected"
            case .trailingComma:
                return "a trailing comma is not allowed"
            case .trailingData:
                return "unexpected data after the JSON value"
            case .invalidNumber(let detail):
                return "invalid number: \(detail)"
            case .numberOutOfRange:
                return "the number is too large for a double"
            case .invalidEscape(let byte):
                return "invalid escape \\\(Self.show(byte)) in a string"
            case .invalidUnicodeEscape:
                return "\\u must be followed by four hexadecimal digits"
            case .loneSurrogate(let unit):
                return "the escape \\u\(Self.hex4(unit)) is an unpaired UTF-16 surrogate"
            case .controlCharacterInString(let byte):
                return "control character \(Self.show(byte)) must be escaped in a string"
            case .invalidUTF8:
                return "the bytes are not valid UTF-8"
            case .nestingTooDeep(let limit):
                return "arrays and objects are nested deeper than \(limit) levels"
            case .duplicateKey(let key):
                return "the key \"\(key)\" appears twice in one object"
            case .keysDifferOnlyInNormalisation(let a, let b):
                let scalars = { (s: String) in s.unicodeScalars.map { "U+" + String($0.value, radix: 16, uppercase: true) }.joined(separator: " ") }
                return "the keys \"\(a)\" (\(scalars(a))) and \"\(b)\" (\(scalars(b))) differ only in Unicode normalisation; rrlog cannot keep both in one object"
            }
        }

        private static func show(_ byte: UInt8) -> String {
            if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
            let digits = String(byte, radix: 16, uppercase: true)
            return "byte 0x" + (digits.count < 2 ? "0" + digits : digits)
        }

        private static func hex4(_ unit: UInt16) -> String {
            let digits = String(unit, radix: 16, uppercase: true)
            return String(repeating: "0", count: 4 - digits.count) + digits
        }
    }

    /// Byte offset of the problem from the start of the input.
    public let offset: Int
    /// 1-based line of the problem (lines end at `\n`).
    public let line: Int
    /// 1-based byte column of the problem within its line.
    public let column: Int
    /// What was wrong.
    public let reason: Reason

    /// Creates an error; the parser computes `line` and `column` from the input.
    public init(offset: Int, line: Int, column: Int, reason: Reason) {
        self.offset = offset
        self.line = line
        self.column = column
        self.reason = reason
    }

    /// For example `line 3, column 14 (byte 52): a trailing comma is not allowed`.
    public var description: String {
        "line \(line), column \(column) (byte \(offset)): \(reason)"
    }
}

extension JSONValue {
    /// Parses one JSON document (RFC 8259) from UTF-8 bytes.
    ///
    /// The reader is strict: no byte-order mark, comments, trailing commas, leading zeros,
    /// unescaped control characters, invalid UTF-8, unpaired surrogate escapes, duplicate keys,
    /// numbers outside the double range, or nesting deeper than ``nestingDepthMax``. It never
    /// traps, and what it allocates is proportional to the input length.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        let typed = UnsafeBufferPointer(
            start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        var parser = JSONParser(input: typed)
        return try parser.parseDocument()
    }

    /// Parses one JSON document from UTF-8 bytes; see the `UnsafeRawBufferPointer` variant.
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBytes { raw in
            do throws(JSONParseError) {
                return .success(try parse(raw))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Parses one JSON document from a string; see the `UnsafeRawBufferPointer` variant.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        var text = text
        let result: Result<JSONValue, JSONParseError> = text.withUTF8 { buffer in
            do throws(JSONParseError) {
                return .success(try parse(UnsafeRawBufferPointer(buffer)))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

/// A recursive-descent reader over a UTF-8 buffer. Recursion is bounded by
/// `JSONValue.nestingDepthMax`, and every read checks `offset < input.count` first.
package struct JSONParser {
    let input: UnsafeBufferPointer<UInt8>
    var offset = 0
    var depth = 0
    /// Reused for strings that contain escapes.
    var scratch: [UInt8] = []

    init(input: UnsafeBufferPointer<UInt8>) {
        self.input = input
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        if offset < input.count { throw failure(.trailingData, at: offset) }
        return value
    }

    // MARK: Values

    mutating func parseValue() throws(JSONParseError) -> JSONValue {
        guard offset < input.count else {
            throw failure(.unexpectedEndOfInput(expected: "a value"), at: offset)
        }
        switch input[offset] {
        case UInt8(ascii: "{"):
            return try parseObject()
        case UInt8(ascii: "["):
            return try parseArray()
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try parseNumber()
        case let byte:
            throw failure(.unexpectedByte(byte, expected: "a value"), at: offset)
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let expected = "'\(literal)'"
        let bytes = UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount)
        for byte in bytes {
            guard offset < input.count else {
                throw failure(.unexpectedEndOfInput(expected: expected), at: offset)
            }
            guard input[offset] == byte else {
                throw failure(.unexpectedByte(input[offset], expected: expected), at: offset)
            }
            offset += 1
        }
    }

    mutating func enterContainer() throws(JSONParseError) {
        depth += 1
        if depth > JSONValue.nestingDepthMax {
            throw failure(.nestingTooDeep(limit: JSONValue.nestingDepthMax), at: offset)
        }
    }

    mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        offset += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if offset < input.count && input[offset] == UInt8(ascii: "]") {
            offset += 1
            return .array(elements)
        }
        while true {
            elements.append(try parseValue())
            skipWhitespace()
            guard offset < input.count else {
                throw failure(.unexpectedEndOfInput(expected: "',' or ']'"), at: offset)
            }
            switch input[offset] {
            case UInt8(ascii: ","):
                offset += 1
                skipWhitespace()
                if offset < input.count && input[offset] == UInt8(ascii: "]") {
                    throw failure(.trailingComma, at: offset)
                }
            case UInt8(ascii: "]"):
                offset += 1
                return .array(elements)
            case let byte:
                throw failure(.unexpectedByte(byte, expected: "',' or ']'"), at: offset)
            }
        }
    }

    mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        defer { depth -= 1 }
        offset += 1  // {
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if offset < input.count && input[offset] == UInt8(ascii: "}") {
            offset += 1
            return .object(members)
        }
        while true {
            guard offset < input.count else {
                throw failure(.unexpectedEndOfInput(expected: "a string key"), at: offset)
            }
            guard input[offset] == UInt8(ascii: "\"") else {
                if input[offset] == UInt8(ascii: "}") { throw failure(.trailingComma, at: offset) }
                throw failure(.unexpectedByte(input[offset], expected: "a string key"), at: offset)
            }
            let keyOffset = offset
            let key = try parseString()
            skipWhitespace()
            guard offset < input.count else {
                throw failure(.unexpectedEndOfInput(expected: "':'"), at: offset)
            }
            guard input[offset] == UInt8(ascii: ":") else {
                throw failure(.unexpectedByte(input[offset], expected: "':'"), at: offset)
            }
            offset += 1
            skipWhitespace()
            let value = try parseValue()
            if let existing = members.index(forKey: key) {
                let earlier = members[existing].key
                if earlier.utf8.elementsEqual(key.utf8) { throw failure(.duplicateKey(key), at: keyOffset) }
                throw failure(.keysDifferOnlyInNormalisation(earlier, key), at: keyOffset)
            }
            members[key] = value
            skipWhitespace()
            guard offset < input.count else {
                throw failure(.unexpectedEndOfInput(expected: "',' or '}'"), at: offset)
            }
            switch input[offset] {
            case UInt8(ascii: ","):
                offset += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                offset += 1
                return .object(members)
            case let byte:
                throw failure(.unexpectedByte(byte, expected: "',' or '}'"), at: offset)
            }
        }
    }

    // MARK: Strings

    /// Reads a string starting at its opening quote. Strings without escapes are decoded straight
    /// from the input; the others are assembled in `scratch`.
    mutating func parseString() throws(JSONParseError) -> String {
        offset += 1  // "
        let start = offset
        var i = offset
        while i < input.count {
            let byte = input[i]
            if byte == UInt8(ascii: "\"") {
                offset = i + 1
                return String(decoding: UnsafeBufferPointer(rebasing: input[start..<i]), as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw failure(.controlCharacterInString(byte), at: i) }
            i = byte < 0x80 ? i + 1 : try endOfUTF8Sequence(at: i)
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[start..<i]))
        while i < input.count {
            let byte = input[i]
            if byte == UInt8(ascii: "\"") {
                offset = i + 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") {
                i = try appendEscape(at: i)
            } else if byte < 0x20 {
                throw failure(.controlCharacterInString(byte), at: i)
            } else if byte < 0x80 {
                scratch.append(byte)
                i += 1
            } else {
                let end = try endOfUTF8Sequence(at: i)
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[i..<end]))
                i = end
            }
        }
        throw failure(.unexpectedEndOfInput(expected: "'\"' to close the string"), at: i)
    }

    /// Decodes the escape at `start` (a backslash) into `scratch`; returns the index after it.
    mutating func appendEscape(at start: Int) throws(JSONParseError) -> Int {
        let next = start + 1
        guard next < input.count else {
            throw failure(.unexpectedEndOfInput(expected: "an escape character"), at: next)
        }
        let decoded: UInt8
        switch input[next] {
        case UInt8(ascii: "\""): decoded = UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): decoded = UInt8(ascii: "\\")
        case UInt8(ascii: "/"): decoded = UInt8(ascii: "/")
        case UInt8(ascii: "b"): decoded = 0x08
        case UInt8(ascii: "f"): decoded = 0x0C
        case UInt8(ascii: "n"): decoded = 0x0A
        case UInt8(ascii: "r"): decoded = 0x0D
        case UInt8(ascii: "t"): decoded = 0x09
        case UInt8(ascii: "u"):
            return try appendUnicodeEscape(at: start)
        case let byte:
            throw failure(.invalidEscape(byte), at: start)
        }
        scratch.append(decoded)
        return next + 1
    }

    /// Decodes `\uXXXX`, or a `\uXXXX\uXXXX` surrogate pair, starting at the backslash.
    mutating func appendUnicodeEscape(at start: Int) throws(JSONParseError) -> Int {
        let unit = try hexQuad(at: start + 2)
        var end = start + 6
        let scalarValue: UInt32
        switch unit {
        case 0xD800...0xDBFF:
            guard end + 1 < input.count, input[end] == UInt8(ascii: "\\"),
                input[end + 1] == UInt8(ascii: "u")
            else { throw failure(.loneSurrogate(unit), at: start) }
            let low = try hexQuad(at: end + 2)
            guard (0xDC00...0xDFFF).contains(low) else { throw failure(.loneSurrogate(unit), at: start) }
            scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            end += 6
        case 0xDC00...0xDFFF:
            throw failure(.loneSurrogate(unit), at: start)
        default:
            scalarValue = UInt32(unit)
        }
        // Surrogates were handled above, so `scalarValue` is a Unicode scalar below 0x110000.
        switch scalarValue {
        case 0..<0x80:
            scratch.append(UInt8(scalarValue))
        case 0x80..<0x800:
            scratch.append(0xC0 | UInt8(scalarValue >> 6))
            scratch.append(0x80 | UInt8(scalarValue & 0x3F))
        case 0x800..<0x10000:
            scratch.append(0xE0 | UInt8(scalarValue >> 12))
            scratch.append(0x80 | UInt8((scalarValue >> 6) & 0x3F))
            scratch.append(0x80 | UInt8(scalarValue & 0x3F))
        default:
            scratch.append(0xF0 | UInt8(scalarValue >> 18))
            scratch.append(0x80 | UInt8((scalarValue >> 12) & 0x3F))
            scratch.append(0x80 | UInt8((scalarValue >> 6) & 0x3F))
            scratch.append(0x80 | UInt8(scalarValue & 0x3F))
        }
        return end
    }

    /// Reads four hexadecimal digits at `index`.
    func hexQuad(at index: Int) throws(JSONParseError) -> UInt16 {
        var value: UInt16 = 0
        for i in index..<(index + 4) {
            guard i < input.count else {
                throw failure(.unexpectedEndOfInput(expected: "four hexadecimal digits"), at: i)
            }
            let byte = input[i]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure(.invalidUnicodeEscape, at: index - 2)
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    /// Validates the multi-byte UTF-8 sequence starting at `start` (whose first byte is >= 0x80)
    /// and returns the index after it. Overlong forms, surrogates and values above U+10FFFF fail.
    func endOfUTF8Sequence(at start: Int) throws(JSONParseError) -> Int {
        guard let end = Self.utf8SequenceEnd(input, at: start) else { throw failure(.invalidUTF8, at: start) }
        return end
    }

    /// The index after the well-formed multi-byte UTF-8 sequence starting at `start` in `input`
    /// (whose first byte is >= 0x80); nil for overlong forms, surrogates, values above U+10FFFF
    /// and sequences cut short. The fast ingest path checks strings with it too.
    package static func utf8SequenceEnd(_ input: UnsafeBufferPointer<UInt8>, at start: Int) -> Int? {
        let lead = input[start]
        let continuationCount: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: continuationCount = 1
        case 0xE0: continuationCount = 2; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: continuationCount = 2
        case 0xED: continuationCount = 2; high = 0x9F
        case 0xF0: continuationCount = 3; low = 0x90
        case 0xF1...0xF3: continuationCount = 3
        case 0xF4: continuationCount = 3; high = 0x8F
        default: return nil
        }
        for k in 1...continuationCount {
            let i = start + k
            guard i < input.count else { return nil }
            // Only the byte after the lead has the narrowed range.
            let range = k == 1 ? low...high : 0x80...0xBF
            guard range.contains(input[i]) else { return nil }
        }
        return start + continuationCount + 1
    }

    // MARK: Numbers

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = offset
        var i = offset
        var negative = false
        if input[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        var magnitude: UInt64 = 0
        var overflowed = false
        guard i < input.count else {
            throw failure(.unexpectedEndOfInput(expected: "a digit"), at: i)
        }
        switch input[i] {
        case UInt8(ascii: "0"):
            i += 1
            if i < input.count && Self.isDigit(input[i]) {
                throw failure(.invalidNumber("a leading zero must not be followed by digits"), at: start)
            }
        case UInt8(ascii: "1")...UInt8(ascii: "9"):
            while i < input.count && Self.isDigit(input[i]) {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(input[i] - UInt8(ascii: "0")))
                overflowed = overflowed || o1 || o2
                magnitude = sum
                i += 1
            }
        case let byte:
            throw failure(.unexpectedByte(byte, expected: "a digit"), at: i)
        }
        var isInteger = true
        if i < input.count && input[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            i = try skipDigits(from: i, after: "'.'")
        }
        if i < input.count && (input[i] == UInt8(ascii: "e") || input[i] == UInt8(ascii: "E")) {
            isInteger = false
            i += 1
            if i < input.count && (input[i] == UInt8(ascii: "+") || input[i] == UInt8(ascii: "-")) {
                i += 1
            }
            i = try skipDigits(from: i, after: "the exponent marker")
        }
        offset = i
        if isInteger && !overflowed {
            if !negative && magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
            if negative && magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
            if negative && magnitude == UInt64(Int64.max) + 1 { return .int(Int64.min) }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: input[start..<i]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw failure(.numberOutOfRange, at: start)
        }
        return .double(value)
    }

    /// Skips one or more digits; `after` names what they follow, for the error message.
    func skipDigits(from start: Int, after: String) throws(JSONParseError) -> Int {
        var i = start
        while i < input.count && Self.isDigit(input[i]) { i += 1 }
        if i == start {
            if i < input.count {
                throw failure(.invalidNumber("a digit must follow \(after)"), at: i)
            }
            throw failure(.unexpectedEndOfInput(expected: "a digit after \(after)"), at: i)
        }
        return i
    }

    package static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    // MARK: Whitespace and errors

    mutating func skipWhitespace() {
        while offset < input.count {
            switch input[offset] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                offset += 1
            default:
                return
            }
        }
    }

    /// Builds the error for `reason` at `offset`, counting lines only now that it is needed.
    func failure(_ reason: JSONParseError.Reason, at offset: Int) -> JSONParseError {
        let end = min(offset, input.count)
        var line = 1
        var lineStart = 0
        var i = 0
        while i < end {
            if input[i] == UInt8(ascii: "\n") {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        return JSONParseError(offset: offset, line: line, column: offset - lineStart + 1, reason: reason)
    }
}

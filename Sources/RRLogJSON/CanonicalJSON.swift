// RFC 8785, the JSON Canonicalization Scheme (JCS): the byte form of a JSON value that IO keys
// hash. FORMAT-IO-PROFILE.md §3 restates the rules this file implements.

extension JSONValue {
    /// The RFC 8785 canonical form of the value, as UTF-8.
    ///
    /// Object members are sorted by the UTF-16 code units of their keys, there is no whitespace,
    /// strings escape only `"`, `\` and control characters, and every number is written as
    /// ECMAScript's `Number.prototype.toString` writes the nearest IEEE 754 double. An `.int`
    /// beyond ±2^53 is therefore rounded, exactly as any RFC 8785 implementation would read it.
    /// JSON cannot express NaN or infinity; such a `.double` is written as `null`, like
    /// `JSON.stringify` (the parser never produces one).
    public func canonicalBytes() -> [UInt8] {
        var writer = JSONWriter(canonical: true)
        // One allocation for a typical call's inputs instead of a doubling series.
        writer.output.reserveCapacity(1024)
        writer.write(self)
        return writer.output
    }
}

/// A check `JSONWriter` runs on member names and string values while it writes them: the
/// redaction rules (RRLogIOProfile's `SecretCheck`), so that one pass gives a value's bytes and
/// proves there is nothing to redact.
package protocol JSONWriterSecretCheck: AnyObject, Sendable {
    /// False when string values need no check by their bytes (no value pattern applies).
    var hasPatterns: Bool { get }
    /// True when the member `key` with `value` is redacted by its name.
    func memberIsSecretByName(_ key: String, _ value: JSONValue) -> Bool
    /// True when the string value `s` needs redaction.
    func stringNeedsRedaction(_ s: String) -> Bool
    /// True when a string value given as its UTF-8 bytes (8 or more) may hold a secret.
    func bytesMayHoldSecret(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool
}

/// Writes compact JSON. With `canonical` set it follows RFC 8785. Otherwise `.int` values keep all
/// their digits, and integral doubles of 2^53 or more are written in exponent form, so that the
/// text reads back as the same `.double` rather than as an `.int` with different low digits.
/// Everything else is the same.
package struct JSONWriter {
    package var output: [UInt8] = []
    package var canonical: Bool
    /// When set, member names and string values are checked against these rules while they are
    /// written, and `foundSecret` says whether the value needs redaction (the recorder's fast path:
    /// one pass gives the key's bytes and proves there is nothing to redact).
    package var secretCheck: (any JSONWriterSecretCheck)?
    package var foundSecret = false
    /// Set once a number of magnitude 2^53 or more was written: its canonical and stored forms
    /// may differ.
    package private(set) var wroteLargeNumber = false

    package init(canonical: Bool) {
        self.canonical = canonical
    }

    package mutating func write(_ value: JSONValue) {
        switch value {
        case .null:
            output.append(contentsOf: "null".utf8)
        case .bool(let b):
            output.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i):
            if i.magnitude >= 1 << 53 { wroteLargeNumber = true }
            // Integers up to 2^53 are exact doubles whose shortest form is the integer itself.
            if !canonical || i.magnitude <= 1 << 53 {
                Self.appendInteger(i, to: &output)
            } else {
                ECMAScriptNumber.append(Double(i), to: &output)
            }
        case .double(let d):
            if d.magnitude >= 0x1p53 { wroteLargeNumber = true }
            ECMAScriptNumber.append(d, to: &output, keepLargeIntegersDouble: !canonical)
        case .string(let s):
            // One borrow of the UTF-8 serves both the secret check and the copy.
            let done: Void? = s.utf8.withContiguousStorageIfAvailable { bytes in
                if !foundSecret, let check = secretCheck, check.hasPatterns, bytes.count >= 8, check.bytesMayHoldSecret(bytes) {
                    foundSecret = true
                }
                Self.appendStringBytes(bytes, to: &output)
            }
            if done == nil {
                if !foundSecret, let check = secretCheck, check.stringNeedsRedaction(s) { foundSecret = true }
                Self.appendString(s, to: &output)
            }
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (n, element) in elements.enumerated() {
                if n > 0 { output.append(UInt8(ascii: ",")) }
                write(element)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            writeMembers(members)
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Writes `members` in RFC 8785 order. The order is found by sorting the dictionary's indices
    /// in a stack buffer, so no member is copied and nothing is allocated.
    private mutating func writeMembers(_ members: [String: JSONValue]) {
        let count = members.count
        guard count > 1 else {
            for (key, value) in members { writeMember(key, value) }
            return
        }
        withUnsafeTemporaryAllocation(of: Dictionary<String, JSONValue>.Index.self, capacity: count) { buffer in
            var order = buffer
            var n = 0
            var i = members.startIndex
            while i != members.endIndex {
                order.initializeElement(at: n, to: i)
                n += 1
                members.formIndex(after: &i)
            }
            let keys = members.keys
            if count <= 24 {
                // Insertion sort: the usual object has a handful of members.
                for j in 1..<count {
                    let moving = order[j]
                    let movingKey = keys[moving]
                    var k = j
                    while k > 0 && Self.keyPrecedes(movingKey, keys[order[k - 1]]) {
                        order[k] = order[k - 1]
                        k -= 1
                    }
                    order[k] = moving
                }
            } else {
                order.sort { Self.keyPrecedes(keys[$0], keys[$1]) }
            }
            let values = members.values
            for j in 0..<count { writeMember(keys[order[j]], values[order[j]]) }
            _ = order.deinitialize()
        }
    }

    private mutating func writeMember(_ key: String, _ value: JSONValue) {
        if output.last != UInt8(ascii: "{") { output.append(UInt8(ascii: ",")) }
        if !foundSecret, let check = secretCheck, check.memberIsSecretByName(key, value) { foundSecret = true }
        Self.appendString(key, to: &output)
        output.append(UInt8(ascii: ":"))
        write(value)
    }

    /// Members in RFC 8785 order: keys compared lexicographically as UTF-16 code units.
    package static func sortedMembers(_ members: [String: JSONValue]) -> [(key: String, value: JSONValue)] {
        members.sorted { keyPrecedes($0.key, $1.key) }
    }

    /// RFC 8785 member order: true when `a` sorts before `b` by UTF-16 code units. Compares UTF-8
    /// bytes, which order characters by code point; the two orders differ only between a
    /// character from U+E000 to U+FFFF (UTF-8 lead byte EE or EF) and one above U+FFFF (lead byte
    /// F0 to F4, a surrogate pair in UTF-16, so it sorts first there).
    package static func keyPrecedes(_ a: String, _ b: String) -> Bool {
        let bytewise: Bool? = a.utf8.withContiguousStorageIfAvailable { pa in
            b.utf8.withContiguousStorageIfAvailable { pb -> Bool in
                let n = Swift.min(pa.count, pb.count)
                var i = 0
                while i < n {
                    let x = pa[i]
                    let y = pb[i]
                    if x != y {
                        if x >= 0xF0 && (y == 0xEE || y == 0xEF) { return true }
                        if y >= 0xF0 && (x == 0xEE || x == 0xEF) { return false }
                        return x < y
                    }
                    i += 1
                }
                return pa.count < pb.count
            }
        } ?? nil
        return bytewise ?? a.utf16.lexicographicallyPrecedes(b.utf16)
    }

    /// Appends the decimal digits of `value`.
    package static func appendInteger(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var m = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = 20
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: m % 10)
                m /= 10
            } while m > 0
            output.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start..<20]))
        }
    }

    /// Appends `s` as a JSON string literal with RFC 8785 escaping: `\"`, `\\`, the short forms
    /// `\b \t \n \f \r`, `\u00xx` with lowercase hex for other controls, and every other character
    /// as its UTF-8 bytes.
    package static func appendString(_ s: String, to output: inout [UInt8]) {
        let appended: Void? = s.utf8.withContiguousStorageIfAvailable { appendStringBytes($0, to: &output) }
        if appended == nil {
            output.append(UInt8(ascii: "\""))
            for byte in s.utf8 {
                if byte < 0x20 || byte == 0x22 || byte == 0x5C {
                    appendEscaped(byte, to: &output)
                } else {
                    output.append(byte)
                }
            }
            output.append(UInt8(ascii: "\""))
        }
    }

    /// `appendString` for UTF-8 bytes already borrowed.
    package static func appendStringBytes(_ bytes: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        // Copy runs of bytes that need no escape in one go.
        var runStart = 0
        var i = 0
        let count = bytes.count
        while i < count {
            let byte = bytes[i]
            if byte < 0x20 || byte == 0x22 || byte == 0x5C {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                appendEscaped(byte, to: &output)
                runStart = i + 1
            }
            i += 1
        }
        output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<count]))
        output.append(UInt8(ascii: "\""))
    }

    /// Appends the escape for `"`, `\` or a control character.
    static func appendEscaped(_ byte: UInt8, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""): output.append(UInt8(ascii: "\""))
        case UInt8(ascii: "\\"): output.append(UInt8(ascii: "\\"))
        case 0x08: output.append(UInt8(ascii: "b"))
        case 0x09: output.append(UInt8(ascii: "t"))
        case 0x0A: output.append(UInt8(ascii: "n"))
        case 0x0C: output.append(UInt8(ascii: "f"))
        case 0x0D: output.append(UInt8(ascii: "r"))
        default:
            output.append(contentsOf: "u00".utf8)
            output.append(hexDigit(byte >> 4))
            output.append(hexDigit(byte & 0x0F))
        }
    }

    package static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}

/// ECMAScript `Number.prototype.toString` for doubles (ECMA-262, Number::toString with radix 10),
/// which RFC 8785 section 3.2.2.3 adopts.
package enum ECMAScriptNumber {
    /// Appends the ECMAScript form of `value`; `null` when it is not finite. With
    /// `keepLargeIntegersDouble`, values of magnitude 2^53 or more always use the exponent form.
    package static func append(_ value: Double, to output: inout [UInt8], keepLargeIntegersDouble: Bool = false) {
        guard value.isFinite else {
            output.append(contentsOf: "null".utf8)
            return
        }
        if value == 0 {
            // Both +0 and -0.
            output.append(UInt8(ascii: "0"))
            return
        }
        if value < 0 { output.append(UInt8(ascii: "-")) }

        // Swift's description gives the shortest digit string that reads back as the same double,
        // choosing the closest such string, which is what ECMAScript asks for. Only its layout
        // (point position, exponent style) differs, so take its digits and decimal exponent apart
        // and lay them out again: the value is digits × 10^(exponent10).
        var digits: [UInt8] = []
        digits.reserveCapacity(20)
        var fractionDigitCount = 0
        var sawPoint = false
        var inExponent = false
        var exponentNegative = false
        var exponentValue = 0
        for byte in value.magnitude.description.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if inExponent {
                    exponentValue = exponentValue * 10 + Int(byte - UInt8(ascii: "0"))
                } else {
                    if sawPoint { fractionDigitCount += 1 }
                    // Leading zeros do not change the integer the digits spell.
                    if !(digits.isEmpty && byte == UInt8(ascii: "0")) { digits.append(byte) }
                }
            case UInt8(ascii: "."):
                sawPoint = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                inExponent = true
            case UInt8(ascii: "-"):
                exponentNegative = true
            default:
                break
            }
        }
        var exponent10 = (exponentNegative ? -exponentValue : exponentValue) - fractionDigitCount
        while digits.count > 1 && digits.last == UInt8(ascii: "0") {
            digits.removeLast()
            exponent10 += 1
        }

        // ECMA-262 names: k digits, and n such that the value is 0.d1d2…dk × 10^n.
        let k = digits.count
        let n = exponent10 + k
        let forceExponent = keepLargeIntegersDouble && value.magnitude >= 0x1p53
        if k <= n && n <= 21 && !forceExponent {
            output.append(contentsOf: digits)
            output.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: n - k))
        } else if 0 < n && n <= 21 && !forceExponent {
            output.append(contentsOf: digits[0..<n])
            output.append(UInt8(ascii: "."))
            output.append(contentsOf: digits[n...])
        } else if -6 < n && n <= 0 {
            output.append(contentsOf: "0.".utf8)
            output.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: -n))
            output.append(contentsOf: digits)
        } else {
            output.append(digits[0])
            if k > 1 {
                output.append(UInt8(ascii: "."))
                output.append(contentsOf: digits[1...])
            }
            output.append(UInt8(ascii: "e"))
            let e = n - 1
            output.append(e < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            output.append(contentsOf: String(e.magnitude).utf8)
        }
    }
}

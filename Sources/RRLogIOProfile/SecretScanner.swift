// A hand-written matcher for the default secret patterns (`Redaction.defaultPatterns`). It gives
// exactly what the regular expressions give, and is about two orders of magnitude cheaper than
// NSRegularExpression; where the answer would depend on Unicode rules (a non-ASCII character
// next to a candidate) it says so, and the caller falls back to the regular expressions.

enum SecretScanner {
    /// What scanning a string found.
    enum Outcome: Equatable {
        /// No default pattern matches.
        case clean
        /// The text with every match of every default pattern replaced by the marker, applied
        /// pattern by pattern as the regular expressions are.
        case redacted([UInt8])
        /// A candidate sits next to non-ASCII text; use the regular expressions.
        case undecided
    }

    /// Scans `text` for the default patterns.
    static func scan(_ text: UnsafeBufferPointer<UInt8>) -> Outcome {
        if isClean(text) { return .clean }
        var current: [UInt8]?
        for pattern in Pattern.allCases {
            let found: [Range<Int>]?
            if let c = current {
                found = c.withUnsafeBufferPointer { matches(of: pattern, in: $0) }
            } else {
                found = matches(of: pattern, in: text)
            }
            guard let ranges = found else { return .undecided }
            if ranges.isEmpty { continue }
            current = replace(ranges, in: current ?? Array(text))
        }
        return current.map { .redacted($0) } ?? .clean
    }

    /// One pass that proves most strings clean: only bytes that can start a pattern are looked at.
    static func isClean(_ t: UnsafeBufferPointer<UInt8>) -> Bool {
        secondByteTable.withUnsafeBufferPointer { table in
            // Every pattern needs at least two bytes, so the last byte starts nothing.
            var i = 0
            var checkedTo = 0
            while i + 1 < t.count {
                // Eight positions at a time without a branch per byte: a 0 in the table never
                // equals a byte with bit 0x20 set.
                if i >= checkedTo {
                    // Per position, the table's byte XOR the next byte (with 0x20 set) is zero
                    // only where a pattern may start: eight positions in one word, one test.
                    let base = UnsafeRawPointer(t.baseAddress!)
                    let table = table.baseAddress!
                    while i &+ 9 <= t.count {
                        let q = base + i
                        var expected = UInt64(table[Int(q.load(fromByteOffset: 7, as: UInt8.self))])
                        for k in stride(from: 6, through: 0, by: -1) {
                            expected = expected &<< 8 | UInt64(table[Int(q.load(fromByteOffset: k, as: UInt8.self))])
                        }
                        let next = UInt64(littleEndian: q.loadUnaligned(fromByteOffset: 1, as: UInt64.self)) | 0x2020_2020_2020_2020
                        let x = expected ^ next
                        if (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080 != 0 { break }
                        i &+= 8
                    }
                    checkedTo = i + 8
                    guard i + 1 < t.count else { break }
                }
                let byte = t[i]
                // Most bytes start no pattern, and most that do are not followed by its second byte.
                guard table[Int(byte)] == t[i + 1] | 0x20 else {
                    i += 1
                    continue
                }
                // Each pattern starts with its own byte.
                let pattern: Pattern
                switch byte {
                case UInt8(ascii: "b"), UInt8(ascii: "B"): pattern = .bearer
                case UInt8(ascii: "s"): pattern = .openAIKey
                case UInt8(ascii: "g"): pattern = .gitHubToken
                case UInt8(ascii: "A"): pattern = .awsKeyID
                case UInt8(ascii: "x"): pattern = .slackToken
                default: pattern = .privateKey
                }
                if mayStart(pattern, second: t[i + 1]) {
                    if case .none = step(pattern, t, i) {} else { return false }
                }
                i += 1
            }
            return true
        }
    }

    /// For each byte that starts a pattern, the pattern's second byte with bit 0x20 set (a
    /// superset test: `mayStart` decides); 0 for the other bytes.
    static let secondByteTable: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for (first, second) in [("b", "e"), ("B", "e"), ("s", "k"), ("g", "h"), ("A", "K"), ("x", "o"), ("-", "-")] {
            table[Int(UInt8(ascii: Unicode.Scalar(first)!))] = UInt8(ascii: Unicode.Scalar(second)!) | 0x20
        }
        return table
    }()

    /// False when `pattern` cannot match where its first byte is followed by `second`.
    @inline(__always)
    static func mayStart(_ pattern: Pattern, second: UInt8) -> Bool {
        switch pattern {
        case .bearer: return second | 0x20 == UInt8(ascii: "e")
        case .openAIKey: return second == UInt8(ascii: "k")
        case .gitHubToken: return second == UInt8(ascii: "h")
        case .awsKeyID: return second == UInt8(ascii: "K")
        case .slackToken: return second == UInt8(ascii: "o")
        case .privateKey: return second == UInt8(ascii: "-")
        }
    }

    /// The default patterns, in `Redaction.defaultPatterns` order.
    enum Pattern: CaseIterable {
        case bearer, openAIKey, gitHubToken, awsKeyID, slackToken, privateKey
    }

    private static let marker = Array(Redaction.marker.utf8)

    private static func replace(_ ranges: [Range<Int>], in text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var from = 0
        for r in ranges {
            out.append(contentsOf: text[from..<r.lowerBound])
            out.append(contentsOf: marker)
            from = r.upperBound
        }
        out.append(contentsOf: text[from...])
        return out
    }

    /// Leftmost non-overlapping matches, or nil when undecided.
    static func matches(of pattern: Pattern, in t: UnsafeBufferPointer<UInt8>) -> [Range<Int>]? {
        var found: [Range<Int>] = []
        var i = 0
        while i < t.count {
            switch step(pattern, t, i) {
            case .undecided: return nil
            case .match(let end):
                found.append(i..<end)
                i = end
            case .none:
                i += 1
            }
        }
        return found
    }

    /// Whether `pattern` matches at `i`.
    static func step(_ pattern: Pattern, _ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Step {
        switch pattern {
        case .bearer: return bearer(t, i)
        case .openAIKey: return prefixedRun(t, i, prefix: "sk-", minimum: 16, member: isKeyByte)
        case .gitHubToken: return gitHub(t, i)
        case .awsKeyID: return aws(t, i)
        case .slackToken: return slack(t, i)
        case .privateKey: return privateKey(t, i)
        }
    }

    enum Step {
        case none, match(Int), undecided
    }

    // ASCII classes of the patterns. ICU's `\w` is Unicode-aware: a byte of 0x80 or more next to
    // a candidate makes the answer undecided.
    static func isWordByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }
    static func isAlnum(_ b: UInt8) -> Bool { b != 0x5F && isWordByte(b) }
    static func isKeyByte(_ b: UInt8) -> Bool { isWordByte(b) || b == 0x2D }  // [A-Za-z0-9_-]
    static func isSlackByte(_ b: UInt8) -> Bool { isAlnum(b) || b == 0x2D }  // [A-Za-z0-9-]
    static func isTokenByte(_ b: UInt8) -> Bool {  // [A-Za-z0-9._~+/=-]
        isAlnum(b) || b == 0x2E || b == 0x5F || b == 0x7E || b == 0x2B || b == 0x2F || b == 0x3D || b == 0x2D
    }
    static func isAsciiSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    /// `\b` before position `i`, where `t[i]` is a word byte: true, false, or nil (undecided).
    static func boundaryBefore(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool? {
        guard i > 0 else { return true }
        let p = t[i - 1]
        if p >= 0x80 { return nil }
        return !isWordByte(p)
    }

    static func hasPrefix(_ t: UnsafeBufferPointer<UInt8>, _ i: Int, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard i + count <= t.count else { return false }
        return prefix.withUTF8Buffer { p in
            for k in 0..<count where t[i + k] != p[k] { return false }
            return true
        }
    }

    /// End of the run of `member` bytes from `i`, and whether it stopped at a non-ASCII byte.
    static func run(_ t: UnsafeBufferPointer<UInt8>, from i: Int, _ member: (UInt8) -> Bool) -> (end: Int, stoppedAtNonASCII: Bool) {
        var j = i
        while j < t.count && member(t[j]) { j += 1 }
        return (j, j < t.count && t[j] >= 0x80)
    }

    /// `(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}`
    static func bearer(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Step {
        guard i + 6 <= t.count, t[i] | 0x20 == UInt8(ascii: "b") else { return .none }
        guard t[i + 1] | 0x20 == 0x65, t[i + 2] | 0x20 == 0x61, t[i + 3] | 0x20 == 0x72, t[i + 4] | 0x20 == 0x65,
            t[i + 5] | 0x20 == 0x72
        else { return .none }
        guard let boundary = boundaryBefore(t, i) else { return .undecided }
        guard boundary else { return .none }
        let spaces = run(t, from: i + 6, isAsciiSpace)
        // Unicode white space (NBSP, U+2028, ...) also counts for ICU's \s.
        if spaces.stoppedAtNonASCII { return .undecided }
        guard spaces.end > i + 6 else { return .none }
        // Under (?i), [A-Za-z] also takes U+017F and U+212A.
        let token = run(t, from: spaces.end, isTokenByte)
        if token.stoppedAtNonASCII { return .undecided }
        return token.end - spaces.end >= 8 ? .match(token.end) : .none
    }

    /// `\b` + prefix + a run of at least `minimum` `member` bytes (greedy).
    static func prefixedRun(_ t: UnsafeBufferPointer<UInt8>, _ i: Int, prefix: StaticString, minimum: Int, member: (UInt8) -> Bool) -> Step {
        guard hasPrefix(t, i, prefix) else { return .none }
        guard let boundary = boundaryBefore(t, i) else { return .undecided }
        guard boundary else { return .none }
        let start = i + prefix.utf8CodeUnitCount
        let end = run(t, from: start, member).end
        return end - start >= minimum ? .match(end) : .none
    }

    /// `\bgh[pousr]_[A-Za-z0-9]{30,}`
    static func gitHub(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Step {
        guard hasPrefix(t, i, "gh"), i + 4 <= t.count, t[i + 3] == UInt8(ascii: "_") else { return .none }
        guard "pousr".utf8.contains(t[i + 2]) else { return .none }
        guard let boundary = boundaryBefore(t, i) else { return .undecided }
        guard boundary else { return .none }
        let end = run(t, from: i + 4, isAlnum).end
        return end - (i + 4) >= 30 ? .match(end) : .none
    }

    /// `\bAKIA[0-9A-Z]{16}\b`
    static func aws(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Step {
        guard hasPrefix(t, i, "AKIA"), i + 20 <= t.count else { return .none }
        for k in (i + 4)..<(i + 20) {
            let b = t[k]
            guard (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) else { return .none }
        }
        guard let boundary = boundaryBefore(t, i) else { return .undecided }
        guard boundary else { return .none }
        if i + 20 == t.count { return .match(i + 20) }
        let next = t[i + 20]
        if next >= 0x80 { return .undecided }
        return isWordByte(next) ? .none : .match(i + 20)
    }

    /// `\bxox[baprs]-[A-Za-z0-9-]{10,}`
    static func slack(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Step {
        guard hasPrefix(t, i, "xox"), i + 5 <= t.count, t[i + 4] == UInt8(ascii: "-") else { return .none }
        guard "baprs".utf8.contains(t[i + 3]) else { return .none }
        guard let boundary = boundaryBefore(t, i) else { return .undecided }
        guard boundary else { return .none }
        let end = run(t, from: i + 5, isSlackByte).end
        return end - (i + 5) >= 10 ? .match(end) : .none
    }

    /// `-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----`: rare, and its
    /// backtracking is subtle, so any candidate goes to the regular expression.
    static func privateKey(_ t: UnsafeBufferPointer<UInt8>, _ i: Int) -> Step {
        hasPrefix(t, i, "-----BEGIN ") ? .undecided : .none
    }
}

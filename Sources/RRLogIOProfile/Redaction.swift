import Foundation
public import RRLogJSON

/// Removes secrets from recorded data before anything reaches disk (README "Redaction"). On by
/// default. A redacted value is replaced by the string `"[REDACTED]"` (or, inside a longer string,
/// the secret part only), and the record lists the redacted paths under `redacted`, so a reader
/// sees that something was removed.
public struct Redaction: Sendable {
    /// The replacement text.
    public static let marker = "[REDACTED]"

    /// Member names (compared case-insensitively, `-` and `_` ignored) whose values are secrets.
    /// Changing the set takes effect at once: the normalised forms are derived again.
    public var fieldNames: Set<String> {
        didSet { deriveNames() }
    }
    /// Patterns whose matches inside any string are secrets. Changing the list takes effect at
    /// once: the patterns are compiled again (one that does not compile is reported by
    /// `validate()` and matches nothing).
    public var patterns: [String] {
        didSet { derivePatterns() }
    }
    /// Paths (volatile-path syntax, FORMAT-IO-PROFILE.md §4) redacted wherever they point.
    public var paths: [String]
    /// False turns redaction off.
    public var isEnabled: Bool

    // Derived from `fieldNames` and `patterns` whenever either is set.
    fileprivate private(set) var compiled: [NSRegularExpressionBox] = []
    fileprivate private(set) var usesDefaultPatterns = false
    fileprivate private(set) var normalisedNames: Set<String> = []
    fileprivate private(set) var asciiNames = ASCIINameTable([])

    /// The default rules: Authorization, Cookie, API keys, tokens, passwords and secrets by name;
    /// `Bearer …`, `sk-…`, GitHub, AWS and Slack tokens, and private-key blocks by value.
    public static let defaultFieldNames: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "apikey", "api_key",
        "access_token", "refresh_token", "id_token", "token", "auth_token", "password", "passwd", "secret", "client_secret",
        "private_key", "x-auth-token",
    ]

    /// The default value patterns.
    public static let defaultPatterns: [String] = [
        #"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"#,
        #"\bsk-(?:live-|proj-|ant-)?[A-Za-z0-9_-]{16,}"#,
        #"\bgh[pousr]_[A-Za-z0-9]{30,}"#,
        #"\bAKIA[0-9A-Z]{16}\b"#,
        #"\bxox[baprs]-[A-Za-z0-9-]{10,}"#,
        #"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"#,
    ]

    /// The default rules.
    public static let `default` = Redaction()

    /// No redaction at all.
    public static let disabled = Redaction(fieldNames: [], patterns: [], paths: [], isEnabled: false)

    /// Makes rules. Invalid patterns are reported by `validate()`.
    public init(
        fieldNames: Set<String> = Redaction.defaultFieldNames, patterns: [String] = Redaction.defaultPatterns,
        paths: [String] = [], isEnabled: Bool = true
    ) {
        self.fieldNames = fieldNames
        self.patterns = patterns
        self.paths = paths
        self.isEnabled = isEnabled
        deriveNames()
        derivePatterns()
    }

    private mutating func deriveNames() {
        normalisedNames = Set(fieldNames.map(Redaction.normalise))
        asciiNames = ASCIINameTable(normalisedNames.compactMap { n in n.utf8.allSatisfy { $0 < 0x80 } ? Array(n.utf8) : nil })
    }

    private mutating func derivePatterns() {
        compiled = patterns.compactMap { NSRegularExpressionBox($0) }
        usesDefaultPatterns = patterns == Redaction.defaultPatterns
    }

    /// Patterns that do not compile and paths that do not parse.
    public func validate() -> [String] {
        var problems = patterns.filter { NSRegularExpressionBox($0) == nil }.map { "invalid pattern: \($0)" }
        if (try? VolatilePaths(paths)) == nil { problems.append("invalid redaction path in \(paths)") }
        return problems
    }

    static func normalise(_ name: String) -> String {
        String(name.lowercased().unicodeScalars.filter { $0 != "-" && $0 != "_" })
    }

    /// True when `key` names a secret.
    private func isSecretName(_ key: String) -> Bool {
        Redaction.isSecretName(key, asciiNames: asciiNames, names: normalisedNames)
    }

    /// True when `key` names a secret in `names` (normalised). ASCII keys are lowercased and
    /// stripped of `-` and `_` in a stack buffer and compared with `asciiNames`; others take the
    /// Unicode-aware path.
    fileprivate static func isSecretName(_ key: String, asciiNames: ASCIINameTable, names: Set<String>) -> Bool {
        let ascii: Bool? = key.utf8.withContiguousStorageIfAvailable { asciiNames.containsName($0) } ?? nil
        if let ascii { return ascii }
        return names.contains(Redaction.normalise(key))
    }

    /// `value` with secrets replaced; `redacted` gets the path of each replacement, prefixed by
    /// `prefix`.
    public func apply(_ value: JSONValue, prefix: String, redacted: inout [String]) -> JSONValue {
        guard isEnabled else { return value }
        var result = withUnsafePointer(to: PathNode(step: .root(prefix), parent: nil)) { walk(value, path: $0, redacted: &redacted) } ?? value
        if !paths.isEmpty, let strip = try? VolatilePaths(paths) {
            let stripped = strip.strip(result)
            if stripped != result {
                result = mark(original: result, stripped: stripped, path: prefix, redacted: &redacted)
            }
        }
        return result
    }

    /// One step of the path to the value being walked, kept on the stack: the path is rendered
    /// only when something is redacted there.
    struct PathNode {
        enum Step {
            case root(String)
            case key(String)
            case index(Int)
        }
        let step: Step
        let parent: UnsafePointer<PathNode>?

        var rendered: String {
            var path: String
            switch step {
            case .root(let prefix): return prefix
            case .key(let k):
                path = parent?.pointee.rendered ?? ""
                path = path.isEmpty ? k : path + "." + k
            case .index(let i):
                path = (parent?.pointee.rendered ?? "") + "[\(i)]"
            }
            return path
        }
    }

    /// True when `JSONWriter.secretCheck` can decide for these rules whether a value needs
    /// redaction (no redaction paths, and no patterns beyond the default ones).
    package var supportsWriterCheck: Bool { isEnabled && paths.isEmpty && (compiled.isEmpty || usesDefaultPatterns) }

    /// True when the member `key: value` is redacted by its name.
    func memberIsSecretByName(_ key: String, _ value: JSONValue) -> Bool {
        Redaction.valueCanBeSecret(value) && isSecretName(key)
    }

    /// By name only strings (other than the marker) and containers are secrets: `"token": 3` is
    /// a count.
    fileprivate static func valueCanBeSecret(_ value: JSONValue) -> Bool {
        switch value {
        case .null, .bool, .int, .double: return false
        case .string(let s): return s != Redaction.marker
        case .array, .object: return true
        }
    }

    /// True when the string value `s` may hold a secret by the default patterns (conservative).
    func stringNeedsRedaction(_ s: String) -> Bool {
        Redaction.stringNeedsRedaction(s, hasPatterns: !compiled.isEmpty)
    }

    fileprivate static func stringNeedsRedaction(_ s: String, hasPatterns: Bool) -> Bool {
        guard hasPatterns, s.utf8.count >= 8 else { return false }
        var text = s
        return !text.withUTF8 { SecretScanner.isClean($0) }
    }

    /// The redacted form of `value`, or nil when nothing in it is a secret (the common case, which
    /// allocates nothing).
    private func walk(_ value: JSONValue, path: UnsafePointer<PathNode>, redacted: inout [String]) -> JSONValue? {
        switch value {
        case .object(let members):
            var out: [String: JSONValue]?
            for (k, v) in members {
                // By name only strings (and containers) are secrets: `"token": 3` is a count.
                let replacement: JSONValue? = withUnsafePointer(to: PathNode(step: .key(k), parent: path)) { child in
                    if case .string(let s) = v, s == Redaction.marker { return nil }
                    if memberIsSecretByName(k, v) {
                        redacted.append(child.pointee.rendered)
                        return .string(Redaction.marker)
                    }
                    return walk(v, path: child, redacted: &redacted)
                }
                if let replacement {
                    if out == nil { out = members }
                    out![k] = replacement
                }
            }
            return out.map { .object($0) }
        case .array(let items):
            var out: [JSONValue]?
            for (i, item) in items.enumerated() {
                let replacement = withUnsafePointer(to: PathNode(step: .index(i), parent: path)) { walk(item, path: $0, redacted: &redacted) }
                if let replacement {
                    if out == nil { out = items }
                    out![i] = replacement
                }
            }
            return out.map { .array($0) }
        case .string(let s):
            guard !compiled.isEmpty, s.utf8.count >= 8 else { return nil }
            if usesDefaultPatterns {
                var bytes = s
                let outcome = bytes.withUTF8 { SecretScanner.scan($0) }
                switch outcome {
                case .clean: return nil
                case .redacted(let text):
                    redacted.append(path.pointee.rendered)
                    return .string(String(decoding: text, as: UTF8.self))
                case .undecided: break
                }
            }
            var text = s
            var changed = false
            for regex in compiled {
                let replaced = regex.replace(in: text, with: Redaction.marker)
                if replaced != text {
                    text = replaced
                    changed = true
                }
            }
            if changed { redacted.append(path.pointee.rendered) }
            return changed ? .string(text) : nil
        default:
            return nil
        }
    }

    /// Puts the marker where `paths` removed members, so the record shows they existed.
    private func mark(original: JSONValue, stripped: JSONValue, path: String, redacted: inout [String]) -> JSONValue {
        switch (original, stripped) {
        case (.object(let a), .object(let b)):
            var out: [String: JSONValue] = [:]
            for (k, v) in a {
                let childPath = path.isEmpty ? k : path + "." + k
                if let w = b[k] {
                    out[k] = mark(original: v, stripped: w, path: childPath, redacted: &redacted)
                } else {
                    out[k] = .string(Redaction.marker)
                    redacted.append(childPath)
                }
            }
            return .object(out)
        case (.array(let a), .array(let b)) where a.count == b.count:
            return .array(zip(a, b).enumerated().map { mark(original: $1.0, stripped: $1.1, path: "\(path)[\($0)]", redacted: &redacted) })
        default:
            return stripped
        }
    }
}

/// What `JSONWriter.secretCheck` needs of the redaction rules, behind one reference and copied
/// out of them once, so that the writer's per-value check copies nothing.
package final class SecretCheck: JSONWriterSecretCheck {
    /// False when no value pattern applies (only names are checked).
    package let hasPatterns: Bool
    private let asciiNames: ASCIINameTable
    private let names: Set<String>

    package init(_ rules: Redaction) {
        hasPatterns = !rules.compiled.isEmpty
        asciiNames = rules.asciiNames
        names = rules.normalisedNames
    }

    /// `Redaction.memberIsSecretByName` with these rules.
    package func memberIsSecretByName(_ key: String, _ value: JSONValue) -> Bool {
        Redaction.valueCanBeSecret(value) && Redaction.isSecretName(key, asciiNames: asciiNames, names: names)
    }

    /// `Redaction.isSecretName` for a member name given as its bytes, all ASCII (what the fast
    /// ingest path takes): lowercased and stripped of `-` and `_`, then compared with the names.
    func asciiNameIsSecret(_ name: UnsafeRawBufferPointer) -> Bool {
        if let found = asciiNames.containsName(name.assumingMemoryBound(to: UInt8.self)) { return found }
        return Redaction.isSecretName(String(decoding: name, as: UTF8.self), asciiNames: asciiNames, names: names)
    }

    /// `Redaction.stringNeedsRedaction` with these rules.
    package func stringNeedsRedaction(_ s: String) -> Bool {
        Redaction.stringNeedsRedaction(s, hasPatterns: hasPatterns)
    }

    /// False when `SecretScanner` proves the bytes hold no secret by the default patterns.
    package func bytesMayHoldSecret(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        !SecretScanner.isClean(bytes)
    }
}

/// The normalised ASCII secret names as a small hash table (names are looked up once per member
/// written, a list of separately allocated arrays cost a cache miss per name): a name of up to 24
/// bytes is its length and three zero-padded words, placed by a hash of those.
struct ASCIINameTable: Sendable {
    struct Entry: Sendable, Equatable {
        var count: Int
        var w0: UInt64, w1: UInt64, w2: UInt64

        /// The home slot in a table of `1 << bits` slots.
        func slot(bits: Int) -> Int {
            let mixed = (w0 ^ w1 &* 0x9E37_79B9_7F4A_7C15 ^ w2 &* 0xC2B2_AE3D_27D4_EB4F ^ UInt64(count)) &* 0xFF51_AFD7_ED55_8CCD
            return Int(truncatingIfNeeded: mixed >> UInt64(64 - bits))
        }
    }

    /// Open addressing, at most half full; nil marks an empty slot.
    private let slots: [Entry?]
    private let bits: Int
    /// Names longer than 24 bytes, compared byte by byte.
    private let long: [[UInt8]]

    init(_ names: [[UInt8]]) {
        let short = Set(names.filter { $0.count <= 24 }).map { name in name.withUnsafeBufferPointer { Self.entry($0) } }
        var bits = 4
        while (1 << bits) < 2 * short.count { bits += 1 }
        var slots = [Entry?](repeating: nil, count: 1 << bits)
        for entry in short {
            var i = entry.slot(bits: bits)
            while slots[i] != nil { i = (i + 1) & ((1 << bits) - 1) }
            slots[i] = entry
        }
        self.slots = slots
        self.bits = bits
        long = names.filter { $0.count > 24 }
    }

    /// The entry for `name` (at most 24 bytes).
    static func entry(_ name: UnsafeBufferPointer<UInt8>) -> Entry {
        // Bytes shifted into registers (stored one by one and loaded as words, they would wait
        // on the stores).
        var w: (UInt64, UInt64, UInt64) = (0, 0, 0)
        for k in 0..<name.count {
            let bits = UInt64(name[k]) << UInt64(8 * (k & 7))
            switch k >> 3 {
            case 0: w.0 |= bits
            case 1: w.1 |= bits
            default: w.2 |= bits
            }
        }
        return Entry(count: name.count, w0: w.0, w1: w.1, w2: w.2)
    }

    /// Whether the member name `raw` names a secret, normalised here (ASCII letters lowercased,
    /// `-` and `_` left out) in a stack buffer; nil when it is not ASCII or longer than 64 bytes
    /// (the caller then normalises the Unicode way).
    func containsName(_ raw: UnsafeBufferPointer<UInt8>) -> Bool? {
        guard raw.count <= 64 else { return nil }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer -> Bool? in
            var n = 0
            for b in raw {
                if b >= 0x80 { return nil }
                if b == 0x2D || b == 0x5F { continue }
                buffer[n] = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b
                n += 1
            }
            return contains(UnsafeBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// True when `name` (normalised) is one of the names.
    func contains(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard name.count <= 24 else { return long.contains { $0.elementsEqual(name) } }
        let probe = Self.entry(name)
        return slots.withUnsafeBufferPointer { slots in
            var i = probe.slot(bits: bits)
            while let entry = slots[i] {
                if entry == probe { return true }
                i = (i + 1) & (slots.count - 1)
            }
            return false
        }
    }
}

/// An `NSRegularExpression` that is safe to share: it is immutable after creation.
struct NSRegularExpressionBox: @unchecked Sendable {
    let regex: NSRegularExpression

    init?(_ pattern: String) {
        guard let r = try? NSRegularExpression(pattern: pattern) else { return nil }
        regex = r
    }

    func replace(in text: String, with replacement: String) -> String {
        let range = NSRange(text.startIndex..., in: text)
        guard regex.firstMatch(in: text, range: range) != nil else { return text }
        return regex.stringByReplacingMatches(in: text, range: range, withTemplate: NSRegularExpression.escapedTemplate(for: replacement))
    }
}

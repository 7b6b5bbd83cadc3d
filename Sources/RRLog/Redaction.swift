import Foundation

/// Removes secrets from recorded data before anything reaches disk (README "Redaction"). On by
/// default. A redacted value is replaced by the string `"[REDACTED]"` (or, inside a longer string,
/// the secret part only), and the record lists the redacted paths under `redacted`, so a reader
/// sees that something was removed.
public struct Redaction: Sendable {
    /// The replacement text.
    public static let marker = "[REDACTED]"

    /// Member names (compared case-insensitively, `-` and `_` ignored) whose values are secrets.
    public var fieldNames: Set<String>
    /// Patterns whose matches inside any string are secrets.
    public var patterns: [String]
    /// Paths (volatile-path syntax, FORMAT.md §10.4) redacted wherever they point.
    public var paths: [String]
    /// False turns redaction off.
    public var isEnabled: Bool

    private let compiled: [NSRegularExpressionBox]
    private let usesDefaultPatterns: Bool
    private let normalisedNames: Set<String>

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
        self.compiled = patterns.compactMap { NSRegularExpressionBox($0) }
        self.usesDefaultPatterns = patterns == Redaction.defaultPatterns
        self.normalisedNames = Set(fieldNames.map(Redaction.normalise))
    }

    /// Patterns that do not compile and paths that do not parse.
    public func validate() -> [String] {
        var problems = patterns.filter { NSRegularExpressionBox($0) == nil }.map { "invalid pattern: \($0)" }
        if (try? VolatilePaths(paths)) == nil { problems.append("invalid redaction path in \(paths)") }
        return problems
    }

    /// A cheap test that lets most strings skip the default patterns: each one needs one of these
    /// byte sequences.
    static let triggers: [[UInt8]] = ["earer", "EARER", "sk-", "gh", "AKIA", "xox", "PRIVATE"].map { Array($0.utf8) }

    static func mayHoldDefaultSecret(_ s: String) -> Bool {
        let triggers = Redaction.triggers
        return s.utf8.withContiguousStorageIfAvailable { bytes in
            for i in bytes.indices {
                let b = bytes[i]
                guard b == 0x65 || b == 0x45 || b == 0x73 || b == 0x67 || b == 0x41 || b == 0x78 || b == 0x50 else { continue }
                for t in triggers where t[0] == b && i + t.count <= bytes.count {
                    if bytes[i..<(i + t.count)].elementsEqual(t) { return true }
                }
            }
            return false
        } ?? true
    }

    static func normalise(_ name: String) -> String {
        String(name.lowercased().unicodeScalars.filter { $0 != "-" && $0 != "_" })
    }

    /// `value` with secrets replaced; `redacted` gets the path of each replacement, prefixed by
    /// `prefix`.
    public func apply(_ value: JSONValue, prefix: String, redacted: inout [String]) -> JSONValue {
        guard isEnabled else { return value }
        var result = walk(value, path: prefix, redacted: &redacted)
        if !paths.isEmpty, let strip = try? VolatilePaths(paths) {
            let stripped = strip.strip(result)
            if stripped != result {
                result = mark(original: result, stripped: stripped, path: prefix, redacted: &redacted)
            }
        }
        return result
    }

    private func walk(_ value: JSONValue, path: String, redacted: inout [String]) -> JSONValue {
        switch value {
        case .object(let members):
            var out: [String: JSONValue] = [:]
            out.reserveCapacity(members.count)
            for (k, v) in members {
                let childPath = path.isEmpty ? k : path + "." + k
                // By name only strings (and containers) are secrets: `"token": 3` is a count.
                if normalisedNames.contains(Redaction.normalise(k)), !v.isNull, v.int64Value == nil, v.doubleValue == nil, v.boolValue == nil,
                    v != .string(Redaction.marker)
                {
                    out[k] = .string(Redaction.marker)
                    redacted.append(childPath)
                } else {
                    out[k] = walk(v, path: childPath, redacted: &redacted)
                }
            }
            return .object(out)
        case .array(let items):
            return .array(items.enumerated().map { walk($1, path: "\(path)[\($0)]", redacted: &redacted) })
        case .string(let s):
            guard !compiled.isEmpty, s.utf8.count >= 8 else { return value }
            if usesDefaultPatterns && !Redaction.mayHoldDefaultSecret(s) { return value }
            var text = s
            var changed = false
            for regex in compiled {
                let replaced = regex.replace(in: text, with: Redaction.marker)
                if replaced != text {
                    text = replaced
                    changed = true
                }
            }
            if changed { redacted.append(path) }
            return changed ? .string(text) : value
        default:
            return value
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

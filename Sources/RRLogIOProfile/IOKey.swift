// The identity of a recorded call and the key it is stored under. FORMAT-IO-PROFILE.md §1-§7 is
// the specification; this file follows it section by section.

import Crypto
public import RRLogJSON

/// What makes two calls "the same call" for replay: the kind of IO, the tool and agent that made
/// it, and its inputs.
public struct IOCallIdentity: Sendable, Hashable {
    /// The kind of IO, such as `llm_call`, `tool_call`, `io_network`, `io_read`.
    public var ioType: String
    /// The tool or client that made the call, such as `openai` or `http`.
    public var tool: String
    /// The agent that made the call.
    public var agent: String
    /// The call's inputs. Members named by ``VolatilePaths`` are left out of the key.
    public var inputs: JSONValue

    /// Creates an identity from its four parts.
    public init(ioType: String, tool: String, agent: String, inputs: JSONValue) {
        self.ioType = ioType
        self.tool = tool
        self.agent = agent
        self.inputs = inputs
    }

    /// What is wrong with the three names by FORMAT-IO-PROFILE.md §2, nil when nothing: the key
    /// derivation separates them with U+0000, so a name holding it could make two different calls
    /// hash alike. Every writer (recorder, append, import, servers) checks through this one
    /// function, by way of `validateNames` (RRLogSessions) or the encoder.
    package static func invalidNameMessage(ioType: String, tool: String, agent: String) -> String? {
        for (member, value) in [("io_type", ioType), ("tool_name", tool), ("agent_id", agent)]
        where value.utf8.contains(0) {
            return "\(member) must not contain U+0000 (FORMAT-IO-PROFILE.md §2)"
        }
        return nil
    }

    /// The identity of an event line of an rrlog JSONL session (`io_type`, `tool_name`,
    /// `agent_id` and `inputs` members); nil when one of them is missing or the three names are
    /// not strings.
    public init?(event: JSONValue) {
        guard let ioType = event["io_type"]?.stringValue, let tool = event["tool_name"]?.stringValue,
            let agent = event["agent_id"]?.stringValue, let inputs = event["inputs"]
        else { return nil }
        self.init(ioType: ioType, tool: tool, agent: agent, inputs: inputs)
    }
}

// MARK: - Volatile paths

/// Why a volatile path was rejected.
public struct VolatilePathError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path as given.
    public let path: String
    /// Byte offset within `path` where the problem was found.
    public let offset: Int
    /// What is wrong, as a sentence fragment.
    public let reason: String

    /// Creates an error.
    public init(path: String, offset: Int, reason: String) {
        self.path = path
        self.offset = offset
        self.reason = reason
    }

    /// For example `volatile path "a..b", byte 2: a key name must not be empty`.
    public var description: String {
        "volatile path \"\(path)\", byte \(offset): \(reason)"
    }
}

/// Members of a call's inputs that change from run to run without changing what the call means
/// (request ids, timestamps), and so are left out of its key.
///
/// A path is a sequence of steps (FORMAT-IO-PROFILE.md §4):
/// - `name` or `.name`: the object member `name`; `name` may not contain `.`, `[`, `]`, `"`, `\`
///   or control characters. Write other keys as `["a.b"]`, a JSON string in brackets.
/// - `*`: any member of an object. `[*]`: any element of an array. `[N]`: element N (from 0).
/// - `**`: zero or more steps of any kind, so `**.request_id` is `request_id` at any depth.
///
/// Examples: `headers.X-Request-Id`, `metadata.timestamp`, `messages[*].id`, `*.request_id`.
/// Every path is matched against the original value; matching members and array elements are
/// removed.
public struct VolatilePaths: Sendable, Hashable {
    /// The paths as written.
    public let paths: [String]
    /// The parsed steps of each path, in the order of `paths`.
    let compiled: [[PathStep]]

    /// No volatile paths: nothing is stripped.
    public init() {
        paths = []
        compiled = []
    }

    /// Parses `paths`; throws for the first malformed one.
    public init(_ paths: [String]) throws(VolatilePathError) {
        var compiled: [[PathStep]] = []
        compiled.reserveCapacity(paths.count)
        for path in paths { compiled.append(try PathStep.parse(path)) }
        self.paths = paths
        self.compiled = compiled
    }

    /// True when there are no paths.
    public var isEmpty: Bool { paths.isEmpty }

    /// `value` without the object members and array elements that any path matches.
    public func strip(_ value: JSONValue) -> JSONValue {
        guard !compiled.isEmpty else { return value }
        var start: [Cursor] = []
        for path in compiled.indices { insertClosure(Cursor(path: path, step: 0), into: &start) }
        return strip(value, active: start)
    }

    /// A position within one path: the next step to match is `compiled[path][step]`.
    struct Cursor: Equatable {
        var path: Int
        var step: Int
    }

    /// Adds `cursor` and, when it stands on `**`, the cursors that skip it (the zero-step match).
    func insertClosure(_ cursor: Cursor, into set: inout [Cursor]) {
        var cursor = cursor
        while !set.contains(cursor) {
            set.append(cursor)
            let steps = compiled[cursor.path]
            guard cursor.step < steps.count, steps[cursor.step] == .anyDepth else { return }
            cursor.step += 1
        }
    }

    /// The cursors after descending into the child named `key` or at `index`, and whether some
    /// path ends exactly there (the child is removed).
    func advance(_ active: [Cursor], key: String?, index: Int?) -> (next: [Cursor], removed: Bool) {
        var next: [Cursor] = []
        for cursor in active {
            let steps = compiled[cursor.path]
            guard cursor.step < steps.count else { continue }
            let advanced = Cursor(path: cursor.path, step: cursor.step + 1)
            switch steps[cursor.step] {
            case .key(let name):
                if let key, key == name { insertClosure(advanced, into: &next) }
            case .anyKey:
                if key != nil { insertClosure(advanced, into: &next) }
            case .index(let wanted):
                if let index, index == wanted { insertClosure(advanced, into: &next) }
            case .anyIndex:
                if index != nil { insertClosure(advanced, into: &next) }
            case .anyDepth:
                insertClosure(cursor, into: &next)
            }
        }
        let removed = next.contains { $0.step == compiled[$0.path].count }
        return (next, removed)
    }

    func strip(_ value: JSONValue, active: [Cursor]) -> JSONValue {
        switch value {
        case .object(let members):
            var kept: [String: JSONValue] = [:]
            kept.reserveCapacity(members.count)
            for (key, child) in members {
                let (next, removed) = advance(active, key: key, index: nil)
                if removed { continue }
                kept[key] = next.isEmpty ? child : strip(child, active: next)
            }
            return .object(kept)
        case .array(let elements):
            var kept: [JSONValue] = []
            kept.reserveCapacity(elements.count)
            for (index, child) in elements.enumerated() {
                let (next, removed) = advance(active, key: nil, index: index)
                if removed { continue }
                kept.append(next.isEmpty ? child : strip(child, active: next))
            }
            return .array(kept)
        default:
            return value
        }
    }
}

/// One step of a volatile path.
enum PathStep: Hashable, Sendable {
    case key(String)
    case anyKey
    case index(Int)
    case anyIndex
    case anyDepth

    /// The largest array index a path may name; longer numbers are typos, not real positions.
    static let indexMax = 999_999_999

    /// Parses the path syntax of ``VolatilePaths``.
    static func parse(_ path: String) throws(VolatilePathError) -> [PathStep] {
        let bytes = Array(path.utf8)
        func failure(_ offset: Int, _ reason: String) -> VolatilePathError {
            VolatilePathError(path: path, offset: offset, reason: reason)
        }
        var steps: [PathStep] = []
        var i = 0
        guard !bytes.isEmpty else { throw failure(0, "a path must not be empty") }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "[") {
                let (step, end) = try parseBracket(bytes, at: i, failure: failure)
                steps.append(step)
                i = end
                continue
            }
            if !steps.isEmpty {
                guard bytes[i] == UInt8(ascii: ".") else {
                    throw failure(i, "expected '.' or '[' after a step")
                }
                i += 1
            }
            let start = i
            while i < bytes.count && !isNameDelimiter(bytes[i]) { i += 1 }
            if i < bytes.count && !isStepDelimiter(bytes[i]) {
                throw failure(i, "write keys containing quotes, backslashes or control characters as [\"…\"]")
            }
            guard i > start else { throw failure(i, "a key name must not be empty (write an empty key as [\"\"])") }
            let name = String(decoding: bytes[start..<i], as: UTF8.self)
            switch name {
            case "*": steps.append(.anyKey)
            case "**": steps.append(.anyDepth)
            default: steps.append(.key(name))
            }
        }
        if steps.last == .anyDepth {
            throw failure(bytes.count, "a path must not end with '**'")
        }
        return steps
    }

    /// Parses `[*]`, `[N]` or `["key"]` starting at the `[`; returns the step and the index after `]`.
    private static func parseBracket(
        _ bytes: [UInt8], at open: Int, failure: (Int, String) -> VolatilePathError
    ) throws(VolatilePathError) -> (PathStep, Int) {
        var i = open + 1
        guard i < bytes.count else { throw failure(i, "'[' must be followed by '*', an index or a quoted key") }
        let step: PathStep
        switch bytes[i] {
        case UInt8(ascii: "*"):
            step = .anyIndex
            i += 1
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = i
            var value = 0
            while i < bytes.count && JSONParser.isDigit(bytes[i]) {
                value = value * 10 + Int(bytes[i] - UInt8(ascii: "0"))
                i += 1
                if value > indexMax { throw failure(start, "an array index must be at most \(indexMax)") }
            }
            if bytes[start] == UInt8(ascii: "0") && i - start > 1 {
                throw failure(start, "an array index must not have leading zeros")
            }
            step = .index(value)
        case UInt8(ascii: "\""):
            // Find the closing quote, skipping escaped characters, then read the literal as JSON.
            let start = i
            i += 1
            while i < bytes.count && bytes[i] != UInt8(ascii: "\"") {
                i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard i < bytes.count else { throw failure(start, "the quoted key is not closed") }
            i += 1
            let literal = Array(bytes[start..<i])
            guard let value = try? JSONValue.parse(literal), case .string(let key) = value else {
                throw failure(start, "the quoted key is not a valid JSON string")
            }
            step = .key(key)
        default:
            throw failure(i, "'[' must be followed by '*', an index or a quoted key")
        }
        guard i < bytes.count, bytes[i] == UInt8(ascii: "]") else { throw failure(i, "expected ']'") }
        return (step, i + 1)
    }

    /// Bytes that end a bare key name: step separators and bytes that need the quoted form.
    static func isNameDelimiter(_ byte: UInt8) -> Bool {
        isStepDelimiter(byte) || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20
    }

    static func isStepDelimiter(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: ".") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
    }

    /// Appends the member step for `key` to a rendered path, quoting the key when the bare form
    /// would not read back as the same key.
    static func appendKey(_ key: String, to path: inout String) {
        let bare = !key.isEmpty && key != "*" && key != "**" && !key.utf8.contains(where: isNameDelimiter)
        if bare {
            if !path.isEmpty { path += "." }
            path += key
        } else {
            var literal: [UInt8] = []
            JSONWriter.appendString(key, to: &literal)
            path += "[" + String(decoding: literal, as: UTF8.self) + "]"
        }
    }
}

// MARK: - Keys

/// The key a recorded call is stored under: a digest of its identity, plus the number of identical
/// calls made before it in the session.
public struct IOKey: Sendable, Hashable, CustomStringConvertible {
    /// Bytes in ``callDigest`` (a SHA-256 digest).
    public static let digestByteCount = 32
    /// Bytes in the stored form ``bytes``: the digest and a 4-byte call index.
    public static let byteCount = digestByteCount + 4
    /// The domain-separation tag that starts every digest; a new derivation gets a new tag.
    public static let derivationTag = "rrlog-iokey-v1"

    /// The stored form, kept inline so that a key is copied and compared without allocating:
    /// the digest's 32 bytes as four words in memory order, then the call index little-endian.
    @usableFromInline var stored: (UInt64, UInt64, UInt64, UInt64, UInt32)

    /// SHA-256 of the call's identity (FORMAT-IO-PROFILE.md §5); always 32 bytes.
    public var callDigest: [UInt8] {
        withUnsafeBytes { Array($0[0..<Self.digestByteCount]) }
    }
    /// How many calls with the same digest came before this one in the session, from 0.
    public var callIndex: UInt32 { UInt32(littleEndian: stored.4) }

    /// A key from its parts; nil unless `callDigest` has ``digestByteCount`` bytes.
    public init?(callDigest: [UInt8], callIndex: UInt32) {
        guard callDigest.count == Self.digestByteCount else { return nil }
        self.init(uncheckedDigest: callDigest, callIndex: callIndex)
    }

    /// A key from its stored form; nil unless there are exactly ``byteCount`` bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var stored: (UInt64, UInt64, UInt64, UInt64, UInt32) = (0, 0, 0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &stored) { out in
            // `out` is exactly `byteCount` bytes (the tuple's size, not its stride).
            if bytes.withContiguousStorageIfAvailable({ out.copyMemory(from: UnsafeRawBufferPointer($0)) }) == nil {
                for (i, byte) in bytes.enumerated() { out[i] = byte }
            }
        }
        self.stored = stored
    }

    /// The stored form: the 32 digest bytes followed by the call index as a little-endian u32.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Calls `body` with the stored form (``bytes``) without copying it to the heap: what a
    /// lookup hashes and compares. Inlinable so that a lookup from another module does not pay for
    /// an unspecialised generic call.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        var copy = stored
        return try Swift.withUnsafeBytes(of: &copy) { (all) throws(E) -> R in
            try body(UnsafeRawBufferPointer(rebasing: all[0..<Self.byteCount]))
        }
    }

    /// Whether two keys have the same digest and call index.
    @inlinable
    public static func == (a: IOKey, b: IOKey) -> Bool {
        a.stored.0 == b.stored.0 && a.stored.1 == b.stored.1 && a.stored.2 == b.stored.2
            && a.stored.3 == b.stored.3 && a.stored.4 == b.stored.4
    }

    /// Feeds the digest and the call index to `hasher`.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(stored.0)
        hasher.combine(stored.1)
        hasher.combine(stored.2)
        hasher.combine(stored.3)
        hasher.combine(stored.4)
    }

    /// Lowercase hex of the digest, `#`, and the decimal call index, e.g. `9f86…0a08#2`.
    public var description: String {
        var text = ""
        text.reserveCapacity(2 * Self.digestByteCount + 11)
        for byte in callDigest {
            text.unicodeScalars.append(Unicode.Scalar(JSONWriter.hexDigit(byte >> 4)))
            text.unicodeScalars.append(Unicode.Scalar(JSONWriter.hexDigit(byte & 0x0F)))
        }
        return text + "#" + String(callIndex)
    }

    /// The call digest of `identity`:
    /// `SHA-256("rrlog-iokey-v1" 0x00 ioType 0x00 tool 0x00 agent 0x00 JCS(strip(inputs)))`,
    /// strings as UTF-8, JCS being RFC 8785 (``JSONValue/canonicalBytes()``).
    ///
    /// The three names must not contain U+0000, which separates them; names that do can collide
    /// with other names.
    public static func callDigest(for identity: IOCallIdentity, volatile: VolatilePaths = .init()) -> [UInt8] {
        callDigest(ioType: identity.ioType, tool: identity.tool, agent: identity.agent, canonicalInputs: volatile.strip(identity.inputs).canonicalBytes())
    }

    /// The call digest from the canonical bytes of the (stripped) inputs, for callers that have
    /// them already.
    static func callDigest(ioType: String, tool: String, agent: String, canonicalInputs: [UInt8]) -> [UInt8] {
        canonicalInputs.withUnsafeBytes { inputs in
            withCallDigest(ioType: ioType, tool: tool, agent: agent, canonicalInputs: inputs) { Array($0) }
        }
    }

    /// Calls `body` with the call digest's bytes, computed from borrowed canonical inputs.
    static func withCallDigest<R>(
        ioType: String, tool: String, agent: String, canonicalInputs: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R
    ) -> R {
        var prefix: [UInt8] = []
        appendIdentityPrefix(ioType: ioType, tool: tool, agent: agent, to: &prefix)
        var hasher = SHA256()
        prefix.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        hasher.update(bufferPointer: canonicalInputs)
        return hasher.finalize().withUnsafeBytes(body)
    }

    /// Appends the bytes the call digest hashes before the canonical inputs (FORMAT-IO-PROFILE.md
    /// §5): the derivation tag, io type, tool and agent, each followed by a zero byte.
    package static func appendIdentityPrefix(ioType: String, tool: String, agent: String, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: derivationTag.utf8)
        bytes.append(0)
        bytes.append(contentsOf: ioType.utf8)
        bytes.append(0)
        bytes.append(contentsOf: tool.utf8)
        bytes.append(0)
        bytes.append(contentsOf: agent.utf8)
        bytes.append(0)
    }

    /// The call digest of bytes that are the identity prefix followed by the canonical inputs,
    /// written to `destination` (32 bytes): one pass of SHA-256 over contiguous bytes.
    package static func writeCallDigest(ofPrefixedInputs bytes: UnsafeRawBufferPointer, to destination: UnsafeMutableRawPointer) {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        hasher.finalize().withUnsafeBytes {
            destination.copyMemory(from: $0.baseAddress!, byteCount: digestByteCount)
        }
    }

    /// The key of the call `identity` that is the `callIndex`-th (from 0) with its digest.
    public static func derive(
        _ identity: IOCallIdentity, callIndex: UInt32, volatile: VolatilePaths = .init()
    ) -> IOKey {
        let digest = callDigest(for: identity, volatile: volatile)
        // SHA-256 always yields 32 bytes, so this initializer cannot fail.
        return IOKey(uncheckedDigest: digest, callIndex: callIndex)
    }

    package init(uncheckedDigest: [UInt8], callIndex: UInt32) {
        stored = (0, 0, 0, 0, callIndex.littleEndian)
        Swift.withUnsafeMutableBytes(of: &stored) { out in
            uncheckedDigest.withUnsafeBytes { digest in
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: digest.prefix(Self.digestByteCount)))
            }
        }
    }
}

/// Assigns call indexes during a session: the first call with a given digest gets 0, the next
/// identical one 1, and so on. Replay runs the same counter to find the recorded call.
public struct CallIndexCounter: Sendable {
    /// Counts by digest; SHA-256 digests are kept as four words in a table whose growth never
    /// stalls one call for long (`DigestCountTable`).
    private var issuedCounts = DigestCountTable()
    /// Digests of any other length (only callers passing their own bytes make these).
    private var otherCounts: [[UInt8]: UInt32] = [:]

    package struct DigestWords: Hashable, Sendable {
        var a: UInt64, b: UInt64, c: UInt64, d: UInt64

        package init(a: UInt64, b: UInt64, c: UInt64, d: UInt64) {
            (self.a, self.b, self.c, self.d) = (a, b, c, d)
        }

        package init?(_ digest: [UInt8]) {
            guard digest.count == IOKey.digestByteCount else { return nil }
            self.init(digestOf: digest)
        }

        /// The words of the digest that starts `bytes` (at least 32 bytes long).
        package init(digestOf bytes: [UInt8]) {
            precondition(bytes.count >= IOKey.digestByteCount)
            (a, b, c, d) = bytes.withUnsafeBytes {
                ($0.loadUnaligned(fromByteOffset: 0, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self),
                 $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self), $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            }
        }
    }

    /// A counter that has issued nothing.
    public init() {}

    /// The next index for `digest`. After `UInt32.max` indexes for one digest the counter stays at
    /// `UInt32.max` rather than wrapping onto indexes already used.
    package mutating func next(for words: DigestWords) -> UInt32 {
        issuedCounts.bump(words)
    }

    private static func bump(_ count: inout UInt32) -> UInt32 {
        let index = count
        if count < UInt32.max { count += 1 }
        return index
    }

    public mutating func next(for digest: [UInt8]) -> UInt32 {
        if let words = DigestWords(digest) { return next(for: words) }
        return Self.bump(&otherCounts[digest, default: 0])
    }

    /// How many indexes have been issued for `digest`.
    public func issuedCount(for digest: [UInt8]) -> UInt32 {
        if let words = DigestWords(digest) { return issuedCounts.count(of: words) }
        return otherCounts[digest, default: 0]
    }

    /// Notes that `key` is already stored, so that the next index issued for its digest comes
    /// after it. Reopening a session replays this over its stored keys: call indexes count per
    /// session (FORMAT-IO-PROFILE.md §6), not per process.
    public mutating func observe(_ key: IOKey) {
        let next = key.callIndex == UInt32.max ? UInt32.max : key.callIndex + 1
        let bytes = key.callDigest
        issuedCounts.raise(DigestWords(digestOf: bytes), to: next)
    }

    /// Derives the digest of `identity`, takes its next index, and returns the key.
    public mutating func nextKey(for identity: IOCallIdentity, volatile: VolatilePaths = .init()) -> IOKey {
        let digest = IOKey.callDigest(for: identity, volatile: volatile)
        return IOKey(uncheckedDigest: digest, callIndex: next(for: digest))
    }
}

// MARK: - Differences

/// One place where a call's inputs differ from the recorded call's, for mismatch reports.
public struct InputDifference: Sendable, Equatable, CustomStringConvertible {
    /// Where the values differ, in volatile-path syntax (`messages[1].content`); empty for the
    /// whole value. It can be pasted into ``VolatilePaths`` to ignore the member.
    public let path: String
    /// The recorded value there; nil when the recorded inputs have no such member or element.
    public let recorded: JSONValue?
    /// The given value there; nil when the given inputs have no such member or element.
    public let given: JSONValue?

    /// Creates a difference.
    public init(path: String, recorded: JSONValue?, given: JSONValue?) {
        self.path = path
        self.recorded = recorded
        self.given = given
    }

    /// For example `messages[1].content: recorded "hi", given "hello"`.
    public var description: String {
        let place = path.isEmpty ? "(whole value)" : path
        return "\(place): recorded \(recorded?.serialized() ?? "(absent)"), given \(given?.serialized() ?? "(absent)")"
    }

    /// The differences between `recorded` and `given`, depth first, members in key order.
    ///
    /// Objects are compared member by member and arrays element by element, so a change deep
    /// inside is reported at its own path; any other pair of unequal values is one difference.
    /// Numbers compare by value (`1` equals `1.0`). With `volatile`, both sides are stripped first.
    public static func diff(
        recorded: JSONValue, given: JSONValue, volatile: VolatilePaths = .init()
    ) -> [InputDifference] {
        var differences: [InputDifference] = []
        collect(
            recorded: volatile.strip(recorded), given: volatile.strip(given), path: "", into: &differences)
        return differences
    }

    private static func collect(
        recorded: JSONValue, given: JSONValue, path: String, into differences: inout [InputDifference]
    ) {
        switch (recorded, given) {
        case (.object(let a), .object(let b)):
            var keys = Array(a.keys)
            for key in b.keys where a[key] == nil { keys.append(key) }
            keys.sort { $0.utf16.lexicographicallyPrecedes($1.utf16) }
            for key in keys {
                var childPath = path
                PathStep.appendKey(key, to: &childPath)
                switch (a[key], b[key]) {
                case (let x?, let y?):
                    collect(recorded: x, given: y, path: childPath, into: &differences)
                case (let x, let y):
                    differences.append(InputDifference(path: childPath, recorded: x, given: y))
                }
            }
        case (.array(let a), .array(let b)):
            for index in 0..<max(a.count, b.count) {
                let childPath = path + "[\(index)]"
                if index < a.count && index < b.count {
                    collect(recorded: a[index], given: b[index], path: childPath, into: &differences)
                } else {
                    differences.append(
                        InputDifference(
                            path: childPath, recorded: a.indices.contains(index) ? .some(a[index]) : .none,
                            given: b.indices.contains(index) ? .some(b[index]) : .none))
                }
            }
        default:
            if recorded != given {
                differences.append(InputDifference(path: path, recorded: recorded, given: given))
            }
        }
    }
}

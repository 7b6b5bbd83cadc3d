// The fast path of `IOEventEncoder` for JSON lines (issue #19, "Speed of the one way in"): one pass
// over the line's bytes records where each value and member name is, without building a
// `JSONValue` tree, and the stored line and the canonical inputs are written from those spans.
//
// It only takes lines whose output it can prove byte for byte equal to the tree path's
// (`record(for: JSONValue.parse(bytes))`): every string, name and number must already be written
// the way `JSONWriter` writes it, so that copying its bytes is what a parse and re-serialisation
// would give. Redaction by name and by the default value patterns is done here as the tree path
// does it (`Redaction.apply`): a redacted value is written from replacement bytes and its path
// listed under `redacted`. Anything else (a secret the scanner cannot decide, a line that already
// has a `redacted` member and gets more, every line that would be an error) goes to the tree
// path, which stays the one definition of the result.

import RRLogJSON

/// Buffers the fast path reuses from line to line (one set per encoder; an encoder copied to
/// another place makes its own set on first use).
final class FastIngestScratch: @unchecked Sendable {
    // One encoder, and so one scanner, uses the scratch at a time: the runtime's exclusivity
    // checks (a tenth of a line's cost) would only repeat that.
    @exclusivity(unchecked) var nodes = ScratchBuffer<FastNode>()
    @exclusivity(unchecked) var order = ScratchBuffer<Int>()
    @exclusivity(unchecked) var decoded: [UInt8] = []
    @exclusivity(unchecked) var hashInput: [UInt8] = []
    @exclusivity(unchecked) var replaced: [Int] = []
    @exclusivity(unchecked) var replacements: [UInt8] = []

    deinit {
        nodes.deallocate()
        order.deallocate()
    }
}

/// A growable buffer of the scanner's nodes or member order, without the uniqueness checks and
/// reference counting of an array, which cost the fast path a tenth of its time. Owned by one
/// `FastIngestScratch` and lent to one scanner at a time; indexes are checked in debug builds.
struct ScratchBuffer<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var count = 0
    private var capacity: Int

    init() {
        capacity = 64
        base = .allocate(capacity: capacity)
    }

    subscript(index: Int) -> Element {
        @inline(__always) get {
            assert(index >= 0 && index < count)
            return base[index]
        }
        @inline(__always) nonmutating set {
            assert(index >= 0 && index < count)
            base[index] = newValue
        }
    }

    @inline(__always)
    mutating func append(_ element: Element) {
        if count == capacity { grow() }
        (base + count).initialize(to: element)
        count += 1
    }

    /// Elements `range` of the buffer.
    func slice(_ range: Range<Int>) -> UnsafeMutableBufferPointer<Element> {
        assert(range.lowerBound >= 0 && range.upperBound <= count)
        return UnsafeMutableBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    mutating func removeAll() { count = 0 }

    private mutating func grow() {
        let larger = UnsafeMutablePointer<Element>.allocate(capacity: 2 * capacity)
        larger.moveInitialize(from: base, count: count)
        base.deallocate()
        base = larger
        capacity *= 2
    }

    /// Frees the buffer (its elements hold no references, so nothing needs deinitialising).
    func deallocate() { base.deallocate() }
}

/// One value of the line, in document order (preorder): a container's first child follows it,
/// and `after` is the index past its whole subtree.
struct FastNode {
    enum Kind: UInt8 {
        /// A number or literal, copied as written.
        case scalar
        /// A string without escapes.
        case plainString
        /// A string whose escapes are exactly the ones `JSONWriter` writes.
        case escapedString
        case array
        case object
        /// A value redaction replaced: its bytes are `count` bytes from `orderStart` in the
        /// scanner's `replacements` (a JSON string as `JSONWriter` writes it).
        case replaced
    }

    var kind: Kind
    /// The value's bytes (for strings, with their quotes).
    var start: Int
    var end: Int
    /// The member name (without quotes) when this value is an object member, else empty.
    var nameStart: Int
    var nameEnd: Int
    /// Children of an array or object.
    var count: Int
    /// The index of the node after this value's subtree.
    var after: Int
    /// For an object: where its children's node indexes, sorted by name, start in `order`. For
    /// a replaced value: where its bytes start in `replacements`.
    var orderStart: Int = 0
    /// The first eight bytes of the member name, big-endian, zero-padded: names compare as these
    /// do unless both are equal (a name holds no zero byte).
    var nameKey: UInt64 = 0
    /// For an array or object: written compactly with its members in order, so that its bytes
    /// are already what `JSONWriter` writes.
    var verbatim = false
}

/// The tokenizer: strict where the tree parser is, and giving up (false) on anything it does not
/// take, so that the tree path decides.
struct FastLineScanner {
    let p: UnsafeBufferPointer<UInt8>
    var i = 0
    var nodes: ScratchBuffer<FastNode>
    var order: ScratchBuffer<Int>
    /// The buffers of the scratch the scanner's nodes came from; the rarely used ones below are
    /// its (the encoder holds it for the whole scan).
    unowned(unsafe) let scratch: FastIngestScratch
    /// A string's decoded bytes, when escapes must be undone to scan it for secrets.
    var decoded: [UInt8] {
        get { scratch.decoded }
        nonmutating _modify { yield &scratch.decoded }
    }
    /// The encoder's rules, held by it for the whole scan (`unowned(unsafe)`: the scan takes no
    /// reference count per check).
    unowned(unsafe) let check: SecretCheck
    /// Whether member names are checked (redaction is on).
    let checksNames: Bool
    /// Whether strings are scanned for the value patterns.
    let checksValues: Bool
    /// The top-level `ts_ns`, when it is an integer.
    var timestamp: Int64?
    /// How many times the bytes scanned so far needed rewriting: whitespace skipped, an object's
    /// members out of order. A container during whose scan this did not change is verbatim.
    var rewrites = 0
    /// The nodes redaction replaced, in ascending order (none inside another).
    var replaced: [Int] {
        get { scratch.replaced }
        nonmutating _modify { yield &scratch.replaced }
    }
    /// The replacement bytes of those nodes.
    var replacements: [UInt8] {
        get { scratch.replacements }
        nonmutating _modify { yield &scratch.replacements }
    }
    /// How many bytes the replacements add beyond the values they replace (an upper bound).
    var growth = 0

    /// The marker as `JSONWriter` writes it.
    static let quotedMarker = Array("\"\(Redaction.marker)\"".utf8)

    /// Deeper nesting goes to the tree path.
    static let depthMax = 64

    /// `IOKey.derivationTag` (a static string: reading it takes no reference count).
    static let derivationTag: StaticString = "rrlog-iokey-v1"

    /// See `FastNode.nameKey`.
    @inline(__always)
    static func nameKey(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> UInt64 {
        if end - start >= 8 {
            return UInt64(bigEndian: UnsafeRawPointer(p.baseAddress! + start).loadUnaligned(as: UInt64.self))
        }
        var key: UInt64 = 0
        for k in start..<end { key = key << 8 | UInt64(p[k]) }
        return key << (8 * UInt64(8 - (end - start)))
    }

    /// True when `a` holds the bytes of `s`.
    @inline(__always)
    static func equals(_ a: UnsafeBufferPointer<UInt8>, _ s: StaticString) -> Bool {
        guard a.count == s.utf8CodeUnitCount else { return false }
        let b = s.utf8Start
        for k in 0..<a.count where a[k] != b[k] { return false }
        return true
    }

    /// True when `a` sorts before `s` byte by byte.
    static func precedes(_ a: UnsafeBufferPointer<UInt8>, _ s: StaticString) -> Bool {
        let b = UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)
        return a.lexicographicallyPrecedes(b)
    }

    /// The top-level members whose values redaction walks (`IOEventEncoder.redact`).
    static func isRedactedField(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        equals(name, "inputs") || equals(name, "outputs") || equals(name, "metadata") || equals(name, "content")
    }

    init(_ p: UnsafeBufferPointer<UInt8>, scratch: FastIngestScratch, check: SecretCheck, redacting: Bool) {
        self.p = p
        self.check = check
        checksNames = redacting
        checksValues = redacting && check.hasPatterns
        self.scratch = scratch
        nodes = scratch.nodes
        order = scratch.order
        nodes.removeAll()
        order.removeAll()
        // Usually empty already (and then not worth a call).
        if !scratch.replaced.isEmpty { scratch.replaced.removeAll(keepingCapacity: true) }
        if !scratch.replacements.isEmpty { scratch.replacements.removeAll(keepingCapacity: true) }
    }

    /// Hands the buffers back for the next line.
    mutating func release(to scratch: FastIngestScratch) {
        // The buffer may have grown (moved) during the scan.
        scratch.nodes = nodes
        scratch.order = order
    }

    mutating func skipWhitespace() {
        while i < p.count {
            let b = p[i]
            guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
            rewrites &+= 1
            i += 1
        }
    }

    /// The whole line: one object and nothing but whitespace around it.
    mutating func scanLine() -> Bool {
        skipWhitespace()
        guard i < p.count, p[i] == UInt8(ascii: "{") else { return false }
        guard scanValue(nameStart: 0, nameEnd: 0, depth: 1, redactable: false, topLevel: true) else { return false }
        skipWhitespace()
        return i == p.count
    }

    /// Scans the value at `i` (whitespace already skipped) and appends its nodes.
    mutating func scanValue(nameStart: Int, nameEnd: Int, depth: Int, redactable: Bool, topLevel: Bool = false) -> Bool {
        guard i < p.count else { return false }
        let index = nodes.count
        let start = i
        let rewritesBefore = rewrites
        var kind = FastNode.Kind.scalar
        var count = 0
        var orderStart = 0
        let nameKey = nameEnd > nameStart ? Self.nameKey(p, nameStart, nameEnd) : 0
        nodes.append(FastNode(kind: .scalar, start: start, end: start, nameStart: nameStart, nameEnd: nameEnd, count: 0, after: 0, nameKey: nameKey))
        switch p[i] {
        case UInt8(ascii: "{"):
            guard depth <= Self.depthMax else { return false }
            i += 1
            skipWhitespace()
            if i < p.count && p[i] == UInt8(ascii: "}") {
                i += 1
            } else {
                while true {
                    guard i < p.count, p[i] == UInt8(ascii: "\"") else { return false }
                    // The name: ASCII without escapes, so its bytes are its UTF-16 code units.
                    let ns = i + 1
                    var j = ns
                    let base = UnsafeRawPointer(p.baseAddress!)
                    while j + 8 <= p.count && !Self.hasSpecialByte(base.loadUnaligned(fromByteOffset: j, as: UInt64.self)) { j += 8 }
                    while j < p.count {
                        let b = p[j]
                        if b == UInt8(ascii: "\"") { break }
                        if b < 0x20 || b >= 0x80 || b == UInt8(ascii: "\\") { return false }
                        j += 1
                    }
                    guard j < p.count else { return false }
                    let ne = j
                    i = j + 1
                    skipWhitespace()
                    guard i < p.count, p[i] == UInt8(ascii: ":") else { return false }
                    i += 1
                    skipWhitespace()
                    let child = nodes.count
                    if topLevel {
                        let name = UnsafeBufferPointer(rebasing: p[ns..<ne])
                        if FastLineScanner.equals(name, "ts_ns") {
                            guard scanTimestamp(nameStart: ns, nameEnd: ne) else { return false }
                        } else {
                            let childRedactable = Self.isRedactedField(name)
                            guard scanValue(nameStart: ns, nameEnd: ne, depth: depth + 1, redactable: childRedactable) else { return false }
                        }
                    } else {
                        guard scanValue(nameStart: ns, nameEnd: ne, depth: depth + 1, redactable: redactable) else { return false }
                        // Redaction by name: strings (but the marker) and containers under a
                        // secret name become the marker, whatever was redacted inside them.
                        if redactable, checksNames, nodes[child].kind != .scalar, !isMarker(child),
                            check.asciiNameIsSecret(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: p[ns..<ne])))
                        {
                            while let last = replaced.last, last >= child { replaced.removeLast() }
                            let start = replacements.count
                            replacements.append(contentsOf: Self.quotedMarker)
                            replace(child, from: start)
                        }
                    }
                    count += 1
                    guard let more = afterItem(closer: UInt8(ascii: "}")) else { return false }
                    if !more { break }
                }
            }
            kind = .object
            guard let sorted = sortMembers(of: index, count: count) else { return false }
            orderStart = sorted
        case UInt8(ascii: "["):
            guard depth <= Self.depthMax else { return false }
            i += 1
            skipWhitespace()
            if i < p.count && p[i] == UInt8(ascii: "]") {
                i += 1
            } else {
                while true {
                    guard scanValue(nameStart: 0, nameEnd: 0, depth: depth + 1, redactable: redactable) else { return false }
                    count += 1
                    guard let more = afterItem(closer: UInt8(ascii: "]")) else { return false }
                    if !more { break }
                }
            }
            kind = .array
        case UInt8(ascii: "\""):
            let replacementStart = redactable && checksValues ? replacements.count : 0
            guard let string = scanString(redactable: redactable) else { return false }
            kind = string
            if kind == .replaced {
                // The fields `replace` sets, written below with the others.
                orderStart = replacementStart
                count = replacements.count - replacementStart
                replaced.append(index)
                growth += Swift.max(0, count - (i - start))
                rewrites &+= 1
            }
        case UInt8(ascii: "t"):
            guard expect("true") else { return false }
        case UInt8(ascii: "f"):
            guard expect("false") else { return false }
        case UInt8(ascii: "n"):
            guard expect("null") else { return false }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            guard scanCanonicalNumber() else { return false }
        default:
            return false
        }
        // The node's fields, written once its subtree is scanned.
        let after = nodes.count
        let end = i
        let verbatim = rewrites == rewritesBefore
        let all = nodes.base
        all[index].kind = kind
        all[index].count = count
        all[index].orderStart = orderStart
        all[index].end = end
        all[index].after = after
        all[index].verbatim = verbatim
        return true
    }

    /// After a member or element: true past a `,` (another follows), false past `closer`, nil
    /// for anything else.
    mutating func afterItem(closer: UInt8) -> Bool? {
        skipWhitespace()
        guard i < p.count else { return nil }
        if p[i] == UInt8(ascii: ",") {
            i += 1
            skipWhitespace()
            return true
        }
        guard p[i] == closer else { return nil }
        i += 1
        return false
    }

    mutating func expect(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard i + n <= p.count else { return false }
        for k in 0..<n where p[i + k] != literal.utf8Start[k] { return false }
        i += n
        return true
    }

    /// The top-level `ts_ns`: an integer that fits in `Int64` (it is not stored in the payload, so
    /// only its value matters).
    mutating func scanTimestamp(nameStart: Int, nameEnd: Int) -> Bool {
        let start = i
        var negative = false
        if i < p.count && p[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        let digits = i
        var magnitude: Int64 = 0
        // Eight digits at a time while at most sixteen are taken (they cannot overflow), then
        // one at a time.
        if let base = p.baseAddress {
            let raw = UnsafeRawPointer(base)
            while i + 8 <= p.count, i - digits <= 8 {
                let word = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                guard let value = Self.eightDigits(word) else { break }
                magnitude = magnitude &* 100_000_000 &+ Int64(value)
                i += 8
            }
        }
        while i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") {
            let digit = Int64(p[i] - UInt8(ascii: "0"))
            if i - digits < 18 {
                // Eighteen digits cannot overflow.
                magnitude = magnitude &* 10 &+ digit
            } else {
                let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(digit)
                if o1 || o2 { return false }
                magnitude = s
            }
            i += 1
        }
        guard i > digits, i - digits == 1 || p[digits] != UInt8(ascii: "0") else { return false }
        if i < p.count && (p[i] == UInt8(ascii: ".") || p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) { return false }
        timestamp = negative ? -magnitude : magnitude
        nodes.append(FastNode(kind: .scalar, start: start, end: i, nameStart: nameStart, nameEnd: nameEnd, count: 0, after: nodes.count + 1,
            nameKey: Self.nameKey(p, nameStart, nameEnd)))
        return true
    }

    /// The value of eight ASCII decimal digits in `word` (the first in its low byte), or nil when
    /// one byte is not a digit.
    @inline(__always)
    static func eightDigits(_ word: UInt64) -> UInt64? {
        let high: UInt64 = 0xF0F0_F0F0_F0F0_F0F0
        // Every byte 0x30...0x39: its high nibble is 3, and adding 6 keeps it 3.
        guard (word & high) | (((word &+ 0x0606_0606_0606_0606) & high) >> 4) == 0x3333_3333_3333_3333 else { return nil }
        var v = word &- 0x3030_3030_3030_3030
        // Pairs, then quadruples, then the eight digits.
        v = (v &* 10) &+ (v >> 8)
        let mask: UInt64 = 0x0000_00FF_0000_00FF
        let hundreds: UInt64 = 100 + (1_000_000 << 32)
        let ones: UInt64 = 1 + (10_000 << 32)
        let low = (v & mask) &* hundreds
        let upper = ((v >> 16) & mask) &* ones
        return ((low &+ upper) >> 32) & 0xFFFF_FFFF
    }

    /// A number already in the form `JSONWriter` writes it, stored and canonical alike: an
    /// integer of at most 15 digits (not `-0`), or a decimal fraction without exponent of at most
    /// 15 significant digits, ending in a non-zero digit, below 1 only with at most five zeros
    /// after the point. Such a decimal reads back as a double whose shortest form is these
    /// digits, laid out as written. Everything else goes to the tree path.
    mutating func scanCanonicalNumber() -> Bool {
        var negative = false
        if p[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        let intStart = i
        while i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") { i += 1 }
        let intDigits = i - intStart
        guard intDigits >= 1, intDigits == 1 || p[intStart] != UInt8(ascii: "0") else { return false }
        let intIsZero = p[intStart] == UInt8(ascii: "0")
        if i < p.count && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) { return false }
        guard i < p.count, p[i] == UInt8(ascii: ".") else {
            // An integer.
            if intIsZero && negative { return false }
            return intDigits <= 15
        }
        i += 1
        let fracStart = i
        while i < p.count, p[i] >= UInt8(ascii: "0"), p[i] <= UInt8(ascii: "9") { i += 1 }
        let fracDigits = i - fracStart
        guard fracDigits >= 1, p[i - 1] != UInt8(ascii: "0") else { return false }
        if i < p.count && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) { return false }
        if intIsZero {
            var zeros = 0
            while p[fracStart + zeros] == UInt8(ascii: "0") { zeros += 1 }
            return zeros <= 5 && fracDigits - zeros <= 15
        }
        return intDigits + fracDigits <= 15
    }

    /// A string at `i` (its opening quote): valid UTF-8, no raw control characters, and escapes
    /// only as `JSONWriter` writes them. Under a redacted field, a string that could hold a
    /// secret (by the value patterns) gives up.
    mutating func scanString(redactable: Bool) -> FastNode.Kind? {
        let start = i + 1
        var j = start
        var escaped = false
        let base = UnsafeRawPointer(p.baseAddress!)
        while j < p.count {
            // Eight bytes at a time while none of them needs a look.
            while j + 8 <= p.count && !Self.hasSpecialByte(base.loadUnaligned(fromByteOffset: j, as: UInt64.self)) { j += 8 }
            guard j < p.count else { break }
            let b = p[j]
            if b == UInt8(ascii: "\"") { break }
            if b < 0x20 { return nil }
            if b < 0x80 {
                if b == UInt8(ascii: "\\") {
                    guard let end = Self.writerEscapeEnd(p, at: j) else { return nil }
                    escaped = true
                    j = end
                } else {
                    j += 1
                }
                continue
            }
            guard let end = JSONParser.utf8SequenceEnd(p, at: j) else { return nil }
            j = end
        }
        guard j < p.count else { return nil }
        i = j + 1
        if redactable, checksValues, j - start >= 8 {
            // The decoded string is what the tree path scans (and counts).
            if escaped { decode(start..<j) }
            let outcome: SecretScanner.Outcome? =
                escaped
                ? decoded.withUnsafeBufferPointer { $0.count < 8 || SecretScanner.isClean($0) ? nil : SecretScanner.scan($0) }
                : SecretScanner.isClean(UnsafeBufferPointer(rebasing: p[start..<j])) ? nil : SecretScanner.scan(UnsafeBufferPointer(rebasing: p[start..<j]))
            switch outcome {
            case nil, .clean?:
                break
            case .redacted(let text)?:
                text.withUnsafeBufferPointer { JSONWriter.appendStringBytes($0, to: &replacements) }
                return .replaced
            case .undecided?:
                return nil
            }
        }
        return escaped ? .escapedString : .plainString
    }

    /// True when the value at node `index` is the string `"[REDACTED]"`, which redaction by
    /// name leaves as it is.
    func isMarker(_ index: Int) -> Bool {
        let node = nodes[index]
        return node.kind == .plainString
            && Self.equals(UnsafeBufferPointer(rebasing: p[node.start..<node.end]), "\"[REDACTED]\"")
    }

    /// Makes node `index` (its subtree scanned) a replaced value whose bytes were appended to
    /// `replacements` from `start`.
    mutating func replace(_ index: Int, from start: Int) {
        let length = replacements.count - start
        let all = nodes.base
        growth += Swift.max(0, length - (all[index].end - all[index].start))
        all[index].kind = .replaced
        all[index].orderStart = start
        all[index].count = length
        replaced.append(index)
        rewrites &+= 1
    }

    /// The paths of the replaced values, as `Redaction.apply` renders them (`inputs.a.b[2]`),
    /// sorted by their bytes.
    func redactedPaths() -> [[UInt8]] {
        var paths: [[UInt8]] = []
        let top = nodes[0]
        var child = 1
        for _ in 0..<top.count {
            let name = self.name(of: child)
            if Self.isRedactedField(name) { collectPaths(child, path: Array(name), into: &paths) }
            child = nodes[child].after
        }
        paths.sort { $0.lexicographicallyPrecedes($1) }
        return paths
    }

    /// Adds the paths of the replaced values in the subtree of node `index`, whose path is `path`.
    func collectPaths(_ index: Int, path: [UInt8], into paths: inout [[UInt8]]) {
        let node = nodes[index]
        guard replaced.contains(where: { $0 >= index && $0 < node.after }) else { return }
        if node.kind == .replaced {
            paths.append(path)
            return
        }
        var child = index + 1
        for n in 0..<node.count {
            var childPath = path
            if node.kind == .object {
                childPath.append(UInt8(ascii: "."))
                childPath.append(contentsOf: name(of: child))
            } else {
                childPath.append(contentsOf: "[\(n)]".utf8)
            }
            collectPaths(child, path: childPath, into: &paths)
            child = nodes[child].after
        }
    }

    /// True when one of the eight bytes of `v` is a quote, a backslash, a control character or
    /// not ASCII (each test is exact for the word as a whole).
    @inline(__always)
    static func hasSpecialByte(_ v: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = v ^ (ones &* 0x22)
        let backslash = v ^ (ones &* 0x5C)
        let zeroInQuote = (quote &- ones) & ~quote
        let zeroInBackslash = (backslash &- ones) & ~backslash
        let below20 = (v &- ones &* 0x20) & ~v
        return (zeroInQuote | zeroInBackslash | below20 | v) & highs != 0
    }

    /// The index after the escape at `j` when it is one `JSONWriter` writes (`\"`, `\\`, `\b`,
    /// `\t`, `\n`, `\f`, `\r`, or `\u00xx` in lowercase hex for another control character).
    static func writerEscapeEnd(_ p: UnsafeBufferPointer<UInt8>, at j: Int) -> Int? {
        guard j + 1 < p.count else { return nil }
        switch p[j + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "b"), UInt8(ascii: "t"), UInt8(ascii: "n"), UInt8(ascii: "f"),
            UInt8(ascii: "r"):
            return j + 2
        case UInt8(ascii: "u"):
            guard j + 5 < p.count, p[j + 2] == UInt8(ascii: "0"), p[j + 3] == UInt8(ascii: "0") else { return nil }
            guard let value = controlEscapeValue(p[j + 4], p[j + 5]) else { return nil }
            switch value {
            case 0x08, 0x09, 0x0A, 0x0C, 0x0D: return nil
            default: return j + 6
            }
        default:
            return nil
        }
    }

    /// The value of the two hex digits of a `\u00xx` escape as `JSONWriter` writes them: below
    /// 0x20, lowercase.
    static func controlEscapeValue(_ high: UInt8, _ low: UInt8) -> UInt8? {
        guard high == UInt8(ascii: "0") || high == UInt8(ascii: "1") else { return nil }
        let l: UInt8
        switch low {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): l = low - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): l = low - UInt8(ascii: "a") + 10
        default: return nil
        }
        return (high - UInt8(ascii: "0")) << 4 | l
    }

    /// Decodes the string bytes in `range` (escapes already checked) into `decoded`.
    mutating func decode(_ range: Range<Int>) {
        decoded.removeAll(keepingCapacity: true)
        var j = range.lowerBound
        while j < range.upperBound {
            let b = p[j]
            guard b == UInt8(ascii: "\\") else {
                decoded.append(b)
                j += 1
                continue
            }
            switch p[j + 1] {
            case UInt8(ascii: "b"): decoded.append(0x08)
            case UInt8(ascii: "t"): decoded.append(0x09)
            case UInt8(ascii: "n"): decoded.append(0x0A)
            case UInt8(ascii: "f"): decoded.append(0x0C)
            case UInt8(ascii: "r"): decoded.append(0x0D)
            case UInt8(ascii: "u"):
                decoded.append(Self.controlEscapeValue(p[j + 4], p[j + 5]) ?? 0)
                j += 6
                continue
            case let other: decoded.append(other)
            }
            j += 2
        }
    }

    /// Sorts the members of the object at `index` by name into `order` and returns where they
    /// start there; nil when two names are equal (the tree parser refuses duplicates).
    mutating func sortMembers(of index: Int, count: Int) -> Int? {
        let orderStart = order.count
        var child = index + 1
        for _ in 0..<count {
            order.append(child)
            child = nodes[child].after
        }
        guard count > 1 else { return orderStart }
        let p = self.p
        let nodes = self.nodes
        func compare(_ a: Int, _ b: Int) -> Int {
            let ka = nodes[a].nameKey, kb = nodes[b].nameKey
            if ka != kb { return ka < kb ? -1 : 1 }
            let x = UnsafeBufferPointer(rebasing: p[nodes[a].nameStart..<nodes[a].nameEnd])
            let y = UnsafeBufferPointer(rebasing: p[nodes[b].nameStart..<nodes[b].nameEnd])
            let n = Swift.min(x.count, y.count)
            var k = 0
            while k < n {
                if x[k] != y[k] { return x[k] < y[k] ? -1 : 1 }
                k += 1
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        }
        var duplicate = false
        do {
            var slice = order.slice(orderStart..<(orderStart + count))
            // Members often come in order already (and then hold no duplicate).
            var j = 1
            while j < count && compare(slice[j - 1], slice[j]) < 0 { j += 1 }
            if j == count { return orderStart }
            rewrites &+= 1
            if count <= 24 {
                for j in 1..<count {
                    let moving = slice[j]
                    var k = j
                    while k > 0 {
                        let c = compare(moving, slice[k - 1])
                        if c >= 0 { break }
                        slice[k] = slice[k - 1]
                        k -= 1
                    }
                    slice[k] = moving
                }
            } else {
                slice.sort { compare($0, $1) < 0 }
            }
            for j in 1..<count where compare(slice[j - 1], slice[j]) == 0 { duplicate = true }
        }
        return duplicate ? nil : orderStart
    }

    // MARK: Writing

    /// Writes the value at node `index` as `JSONWriter` writes it (stored and canonical forms
    /// are the same for the values the scanner takes); never more bytes than it has in the line.
    func write(_ index: Int, to out: inout ByteCursor) {
        let node = nodes[index]
        switch node.kind {
        case .scalar, .plainString, .escapedString:
            out.put(UnsafeBufferPointer(rebasing: p[node.start..<node.end]))
        case .replaced:
            replacements.withUnsafeBufferPointer { out.put(UnsafeBufferPointer(rebasing: $0[node.orderStart..<(node.orderStart + node.count)])) }
        case .array where node.verbatim, .object where node.verbatim:
            out.put(UnsafeBufferPointer(rebasing: p[node.start..<node.end]))
        case .array:
            out.put(UInt8(ascii: "["))
            var child = index + 1
            for n in 0..<node.count {
                if n > 0 { out.put(UInt8(ascii: ",")) }
                write(child, to: &out)
                child = nodes[child].after
            }
            out.put(UInt8(ascii: "]"))
        case .object:
            out.put(UInt8(ascii: "{"))
            for n in 0..<node.count {
                if n > 0 { out.put(UInt8(ascii: ",")) }
                let child = order[node.orderStart + n]
                appendName(of: child, to: &out)
                write(child, to: &out)
            }
            out.put(UInt8(ascii: "}"))
        }
    }

    /// Writes `"name":` of the member at node `index`.
    func appendName(of index: Int, to out: inout ByteCursor) {
        let node = nodes[index]
        // The name's quotes are the bytes around it, and usually the colon follows.
        if p[node.nameEnd + 1] == UInt8(ascii: ":") {
            out.put(UnsafeBufferPointer(rebasing: p[(node.nameStart - 1)...(node.nameEnd + 1)]))
        } else {
            out.put(UnsafeBufferPointer(rebasing: p[(node.nameStart - 1)...node.nameEnd]))
            out.put(UInt8(ascii: ":"))
        }
    }

    /// The stored line (FORMAT-IO-PROFILE.md §10): the top-level members sorted, without `ts_ns`,
    /// with `call_index` set to `callIndex` when given, and with a `redacted` member listing
    /// `redacted` when it is not empty (the line has none of its own); `inputs` is written from
    /// bytes already written for the key. At most the line's length plus `growth`, 24 bytes (a
    /// `call_index` member) and the `redacted` member: every token is copied as it stands or
    /// replaced, and only whitespace and `ts_ns` are left out. The buffer is twice that, so that
    /// no mistake in that reasoning can write past it.
    func storedLine(callIndex: UInt32?, inputs: (node: Int, bytes: UnsafeBufferPointer<UInt8>)?, redacted: [[UInt8]] = []) -> [UInt8] {
        let top = nodes[0]
        let redactedBytes = redacted.isEmpty ? 0 : redacted.reduce(14) { $0 + $1.count + 3 }
        return [UInt8](unsafeUninitializedCapacity: 2 * (p.count + 24 + growth + redactedBytes)) { buffer, written in
            var out = ByteCursor(at: buffer.baseAddress!)
            out.put(UInt8(ascii: "{"))
            var first = true
            var pendingIndex = callIndex
            var pendingRedacted = !redacted.isEmpty
            for n in 0..<top.count {
                let child = order[top.orderStart + n]
                let name = self.name(of: child)
                if Self.equals(name, "ts_ns") { continue }
                if let index = pendingIndex, !Self.precedes(name, "call_index") {
                    if !first { out.put(UInt8(ascii: ",")) }
                    first = false
                    out.putCallIndex(index)
                    pendingIndex = nil
                    // The line's own call_index gives way to the key's.
                    if Self.equals(name, "call_index") { continue }
                }
                // ("call_index" sorts before "redacted", so it is written by now.)
                if pendingRedacted, !Self.precedes(name, "redacted") {
                    if !first { out.put(UInt8(ascii: ",")) }
                    first = false
                    out.putRedacted(redacted)
                    pendingRedacted = false
                }
                if !first { out.put(UInt8(ascii: ",")) }
                first = false
                appendName(of: child, to: &out)
                if let inputs, inputs.node == child {
                    out.put(inputs.bytes)
                } else {
                    write(child, to: &out)
                }
            }
            if let index = pendingIndex {
                if !first { out.put(UInt8(ascii: ",")) }
                first = false
                out.putCallIndex(index)
            }
            if pendingRedacted {
                if !first { out.put(UInt8(ascii: ",")) }
                out.putRedacted(redacted)
            }
            out.put(UInt8(ascii: "}"))
            written = out.at - buffer.baseAddress!
        }
    }

    func name(of index: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: p[nodes[index].nameStart..<nodes[index].nameEnd])
    }

    /// The contents (without quotes) of the string at node `index` when it has no escapes.
    func plainString(_ index: Int) -> UnsafeBufferPointer<UInt8>? {
        let node = nodes[index]
        guard node.kind == .plainString else { return nil }
        return UnsafeBufferPointer(rebasing: p[(node.start + 1)..<(node.end - 1)])
    }
}

extension IOEventEncoder {
    /// The record for one line of JSON text (without its newline), what `record(forLine:location:)`
    /// (RRLogSessions) stores: exactly what `encode(JSONValue.parse(bytes))` gives, with the same
    /// call indexes, and the same error for a line that is not JSON as
    /// `IOEventIngest.add(lineBytes:location:)` throws.
    ///
    /// Lines the fast path proves it writes byte for byte as the tree path would (no escapes
    /// in member names, strings escaped as `JSONWriter` escapes them, numbers already in their
    /// written form, nothing to redact, no volatile paths, no duplicate names, shallow nesting)
    /// are encoded from their bytes without a `JSONValue` tree; every other line, and every line
    /// that is an error, takes the tree path.
    package mutating func encode(line bytes: UnsafeRawBufferPointer) throws(IOLineError) -> IORecord {
        if fastPathUsable, let record = fastRecord(bytes) { return record }
        let value: JSONValue
        do throws(JSONParseError) { value = try JSONValue.parse(bytes) } catch {
            throw IOLineError("invalid JSON at column \(error.column): \(error.reason)")
        }
        return try encode(value)
    }

    /// The fast path: the record, or nil when the tree path must decide. Changes nothing (the
    /// call index counter included) when it gives nil.
    mutating func fastRecord(_ raw: UnsafeRawBufferPointer) -> IORecord? {
        guard let base = raw.baseAddress else { return nil }
        if !isKnownUniquelyReferenced(&fastScratch) { fastScratch = FastIngestScratch() }
        let scratch = fastScratch
        let p = UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: raw.count)
        var scanner = FastLineScanner(p, scratch: scratch, check: fastSecretCheck, redacting: redaction.isEnabled)
        defer { scanner.release(to: scratch) }
        guard scanner.scanLine(), let timestamp = scanner.timestamp else { return nil }

        // The top-level members this needs, found among the sorted members.
        let top = scanner.nodes[0]
        var typeNode = -1, ioTypeNode = -1, toolNode = -1, agentNode = -1, inputsNode = -1, streamIDNode = -1
        var hasRedactedMember = false
        for n in 0..<top.count {
            let child = scanner.order[top.orderStart + n]
            let name = scanner.name(of: child)
            switch name.count {
            case 8 where FastLineScanner.equals(name, "redacted"): hasRedactedMember = true
            case 4 where FastLineScanner.equals(name, "type"): typeNode = child
            case 6 where FastLineScanner.equals(name, "inputs"): inputsNode = child
            case 7 where FastLineScanner.equals(name, "io_type"): ioTypeNode = child
            case 8 where FastLineScanner.equals(name, "agent_id"): agentNode = child
            case 9 where FastLineScanner.equals(name, "tool_name"): toolNode = child
            case 9 where FastLineScanner.equals(name, "stream_id"): streamIDNode = child
            default: break
            }
        }
        guard typeNode >= 0, let type = scanner.plainString(typeNode) else { return nil }
        // Paths redacted here join the line's own list in the tree path; that is left to it.
        var redacted: [[UInt8]] = []
        if !scanner.replaced.isEmpty {
            guard !hasRedactedMember else { return nil }
            redacted = scanner.redactedPaths()
        }
        let kind: RecordKind
        if FastLineScanner.equals(type, "event") {
            kind = .event
        } else if FastLineScanner.equals(type, "stream_start") {
            kind = .streamStart
        } else if FastLineScanner.equals(type, "chunk") {
            kind = .chunk
        } else if FastLineScanner.equals(type, "stream_finish") {
            kind = .streamFinish
        } else if FastLineScanner.equals(type, "checkpoint") {
            kind = .checkpoint
        } else {
            return nil
        }

        switch kind {
        case .event, .streamStart:
            guard ioTypeNode >= 0, toolNode >= 0, agentNode >= 0, inputsNode >= 0, let ioType = scanner.plainString(ioTypeNode),
                let tool = scanner.plainString(toolNode), let agent = scanner.plainString(agentNode)
            else { return nil }
            // The key: SHA-256 over the identity prefix and the canonical inputs, written side by
            // side (IOKey.appendIdentityPrefix's layout). Unescaped strings hold no U+0000.
            var hashInput: [UInt8] = []
            swap(&hashInput, &scratch.hashInput)
            defer { swap(&hashInput, &scratch.hashInput) }
            let tag = FastLineScanner.derivationTag
            // The canonical inputs are at most their bytes in the line; twice that, as a margin.
            let needed = tag.utf8CodeUnitCount + ioType.count + tool.count + agent.count + 4 + 2 * (raw.count + scanner.growth)
            if hashInput.count < needed { hashInput = [UInt8](repeating: 0, count: Swift.max(needed, 2 * hashInput.count)) }
            var key = [UInt8](repeating: 0, count: IOKey.byteCount)
            let payload = hashInput.withUnsafeMutableBufferPointer { buffer -> [UInt8] in
                let base = buffer.baseAddress!
                var out = ByteCursor(at: base)
                out.put(UnsafeBufferPointer(start: tag.utf8Start, count: tag.utf8CodeUnitCount))
                out.put(0)
                out.put(ioType)
                out.put(0)
                out.put(tool)
                out.put(0)
                out.put(agent)
                out.put(0)
                let inputsStart = out.at
                scanner.write(inputsNode, to: &out)
                let prefixed = UnsafeRawBufferPointer(start: base, count: out.at - base)
                key.withUnsafeMutableBytes { IOKey.writeCallDigest(ofPrefixedInputs: prefixed, to: $0.baseAddress!) }
                let index = counter.next(for: CallIndexCounter.DigestWords(digestOf: key))
                key.withUnsafeMutableBytes { $0.storeBytes(of: index.littleEndian, toByteOffset: IOKey.digestByteCount, as: UInt32.self) }
                let inputs = UnsafeBufferPointer(start: inputsStart, count: out.at - inputsStart)
                return scanner.storedLine(callIndex: index, inputs: (inputsNode, inputs), redacted: redacted)
            }
            return IORecord(timestampNs: timestamp, kind: kind.rawValue, key: key, payload: payload)
        case .chunk, .streamFinish, .checkpoint:
            if kind != .checkpoint {
                guard streamIDNode >= 0, scanner.nodes[streamIDNode].kind == .plainString || scanner.nodes[streamIDNode].kind == .escapedString
                else { return nil }
            }
            return IORecord(
                timestampNs: timestamp, kind: kind.rawValue, key: nil, payload: scanner.storedLine(callIndex: nil, inputs: nil, redacted: redacted))
        default:
            return nil
        }
    }
}

/// Writes bytes through a pointer into memory sized for them beforehand (the fast path here and
/// the recorder's stored lines, which write byte by byte: `put` is inlinable across modules).
package struct ByteCursor {
    @usableFromInline package var at: UnsafeMutablePointer<UInt8>

    package init(at: UnsafeMutablePointer<UInt8>) { self.at = at }

    @inlinable @inline(__always)
    package mutating func put(_ byte: UInt8) {
        at.pointee = byte
        at += 1
    }

    @inlinable @inline(__always)
    package mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        at.update(from: source, count: bytes.count)
        at += bytes.count
    }

    /// `"redacted":` and the array of `paths` (ASCII without quotes, backslashes or control
    /// characters, so each is written as its bytes in quotes).
    package mutating func putRedacted(_ paths: [[UInt8]]) {
        for byte in #""redacted":["#.utf8 { put(byte) }
        for (n, path) in paths.enumerated() {
            if n > 0 { put(UInt8(ascii: ",")) }
            put(UInt8(ascii: "\""))
            path.withUnsafeBufferPointer { put($0) }
            put(UInt8(ascii: "\""))
        }
        put(UInt8(ascii: "]"))
    }

    /// `s` as a JSON string, escaped as `JSONWriter.appendString` escapes it; at most 6 bytes
    /// per UTF-8 byte of `s`, plus the quotes.
    package mutating func putJSONString(_ s: String) {
        put(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { bytes in
            for byte in bytes {
                guard byte < 0x20 || byte == 0x22 || byte == 0x5C else {
                    put(byte)
                    continue
                }
                put(UInt8(ascii: "\\"))
                switch byte {
                case 0x22, 0x5C: put(byte)
                case 0x08: put(UInt8(ascii: "b"))
                case 0x09: put(UInt8(ascii: "t"))
                case 0x0A: put(UInt8(ascii: "n"))
                case 0x0C: put(UInt8(ascii: "f"))
                case 0x0D: put(UInt8(ascii: "r"))
                default:
                    for digit in "u00".utf8 { put(digit) }
                    put(JSONWriter.hexDigit(byte >> 4))
                    put(JSONWriter.hexDigit(byte & 0x0F))
                }
            }
        }
        put(UInt8(ascii: "\""))
    }

    /// The decimal digits of `value` (at most 20 bytes).
    package mutating func putInt(_ value: Int) {
        for byte in String(value).utf8 { put(byte) }
    }

    /// `"call_index":` and the decimal digits of `index`.
    package mutating func putCallIndex(_ index: UInt32) {
        for byte in #""call_index":"#.utf8 { put(byte) }
        var digits = 1
        var rest = index
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        var value = index
        var k = digits
        while k > 0 {
            k -= 1
            at[k] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
        }
        at += digits
    }
}


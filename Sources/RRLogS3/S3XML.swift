/// A small XML reader for the answers S3 sends: elements, attributes (read and dropped), text,
/// CDATA, the five predefined entities and numeric character references. The XML declaration,
/// processing instructions and comments are skipped; a DTD is refused. Input size, depth and
/// element count are bounded, and no input traps.
public struct S3XMLElement: Sendable, Equatable {
    /// The element's name as written, prefix included (`s3:Key` stays `s3:Key`).
    public var name: String
    /// The element's own character data, entities resolved, in document order.
    public var text: String
    /// The child elements in document order.
    public var children: [S3XMLElement]

    /// An element from its parts.
    public init(name: String, text: String = "", children: [S3XMLElement] = []) {
        self.name = name
        self.text = text
        self.children = children
    }

    /// The first child named `name`.
    public func child(_ name: String) -> S3XMLElement? { children.first { $0.name == name } }

    /// All children named `name`.
    public func children(_ name: String) -> [S3XMLElement] { children.filter { $0.name == name } }

    /// The text of the first child named `name`.
    public func text(_ name: String) -> String? { child(name)?.text }

    /// The element written back as XML (text first, then the children); reading it again gives
    /// an equal element.
    public func serialized() -> String {
        var out = ""
        write(into: &out)
        return out
    }

    private func write(into out: inout String) {
        out += "<\(name)>"
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\r": out += "&#13;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        for child in children { child.write(into: &out) }
        out += "</\(name)>"
    }

    /// Reads one document. Throws `S3XMLError` for anything but one well-formed root element
    /// within `limits`.
    public static func parse(_ bytes: [UInt8], limits: S3XMLLimits = S3XMLLimits()) throws(S3XMLError) -> S3XMLElement {
        var reader = XMLReader(bytes: bytes, limits: limits)
        return try reader.document()
    }
}

/// Bounds on what `S3XMLElement.parse` accepts.
public struct S3XMLLimits: Sendable, Equatable {
    /// The largest document in bytes (S3 answers of 1,000 keys are about 300 KB).
    public var sizeBytesMax: Int
    /// The deepest nesting of elements.
    public var depthMax: Int
    /// The most elements in one document.
    public var elementCountMax: Int

    /// Limits generous for any S3 answer: 16 MiB, depth 32, 500,000 elements.
    public init(sizeBytesMax: Int = 16 << 20, depthMax: Int = 32, elementCountMax: Int = 500_000) {
        self.sizeBytesMax = sizeBytesMax
        self.depthMax = depthMax
        self.elementCountMax = elementCountMax
    }
}

/// Why an XML document was refused; `offset` is the byte where reading stopped.
public enum S3XMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The document is larger than the limit.
    case tooLarge(sizeBytes: Int, limit: Int)
    /// Elements nest deeper than the limit.
    case tooDeep(offset: Int, limit: Int)
    /// More elements than the limit.
    case tooManyElements(offset: Int, limit: Int)
    /// A `<!DOCTYPE` (DTDs and their entities are never expanded).
    case dtdNotAllowed(offset: Int)
    /// Not well-formed XML.
    case malformed(offset: Int, reason: String)

    /// What was refused, and where.
    public var description: String {
        switch self {
        case .tooLarge(let size, let limit): return "XML answer of \(size) bytes is larger than \(limit)"
        case .tooDeep(let offset, let limit): return "XML nests deeper than \(limit) at byte \(offset)"
        case .tooManyElements(let offset, let limit): return "XML has more than \(limit) elements (byte \(offset))"
        case .dtdNotAllowed(let offset): return "XML with a DTD at byte \(offset) is refused"
        case .malformed(let offset, let reason): return "malformed XML at byte \(offset): \(reason)"
        }
    }
}

/// The tokenizer and tree builder behind `S3XMLElement.parse`.
struct XMLReader {
    let bytes: [UInt8]
    let limits: S3XMLLimits
    var position = 0
    var elementCount = 0

    init(bytes: [UInt8], limits: S3XMLLimits) {
        self.bytes = bytes
        self.limits = limits
    }

    mutating func document() throws(S3XMLError) -> S3XMLElement {
        guard bytes.count <= limits.sizeBytesMax else { throw .tooLarge(sizeBytes: bytes.count, limit: limits.sizeBytesMax) }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
        try skipMisc()
        guard peek() == UInt8(ascii: "<") else { throw malformed("expected the root element") }
        // Elements are built with an explicit stack, so depth costs heap, not call frames.
        var stack: [S3XMLElement] = []
        var root: S3XMLElement?
        while root == nil {
            guard position < bytes.count else { throw malformed("the document ends inside <\(stack.last?.name ?? "")>") }
            if peek() != UInt8(ascii: "<") {
                let text = try characterData()
                if stack.isEmpty { throw malformed("text outside the root element") }
                stack[stack.count - 1].text += text
            } else if starts("<!--") {
                try skipComment()
            } else if starts("<![CDATA[") {
                guard !stack.isEmpty else { throw malformed("CDATA outside the root element") }
                stack[stack.count - 1].text += try cdata()
            } else if starts("<!") {
                if starts("<!DOCTYPE") { throw .dtdNotAllowed(offset: position) }
                throw malformed("unexpected <!")
            } else if starts("<?") {
                try skipProcessingInstruction()
            } else if starts("</") {
                position += 2
                let name = try self.name()
                skipSpace()
                guard take(UInt8(ascii: ">")) else { throw malformed("expected > after </\(name)") }
                guard let open = stack.popLast() else { throw malformed("</\(name)> without an open element") }
                guard open.name == name else { throw malformed("</\(name)> closes <\(open.name)>") }
                if stack.isEmpty { root = open } else { stack[stack.count - 1].children.append(open) }
            } else {
                let start = position
                position += 1
                let name = try self.name()
                let selfClosing = try attributes()
                elementCount += 1
                guard elementCount <= limits.elementCountMax else { throw .tooManyElements(offset: start, limit: limits.elementCountMax) }
                guard stack.count < limits.depthMax else { throw .tooDeep(offset: start, limit: limits.depthMax) }
                let element = S3XMLElement(name: name)
                if selfClosing {
                    if stack.isEmpty { root = element } else { stack[stack.count - 1].children.append(element) }
                } else {
                    stack.append(element)
                }
            }
        }
        try skipMisc()
        guard position == bytes.count else { throw malformed("content after the root element") }
        return root!
    }

    // MARK: Tokens

    func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    func malformed(_ reason: String) -> S3XMLError { .malformed(offset: position, reason: reason) }

    func starts(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count - position >= count else { return false }
        return text.withUTF8Buffer { literal in
            (0..<count).allSatisfy { bytes[position + $0] == literal[$0] }
        }
    }

    mutating func take(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        position += 1
        return true
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

    mutating func skipSpace() {
        while let byte = peek(), Self.isSpace(byte) { position += 1 }
    }

    /// Skips space, comments and processing instructions (the prolog and what follows the root).
    mutating func skipMisc() throws(S3XMLError) {
        while true {
            skipSpace()
            if starts("<?") {
                try skipProcessingInstruction()
            } else if starts("<!--") {
                try skipComment()
            } else if starts("<!DOCTYPE") {
                throw .dtdNotAllowed(offset: position)
            } else {
                return
            }
        }
    }

    /// Moves past the next `terminator` (searched from the current position).
    mutating func skip(past terminator: [UInt8], what: String) throws(S3XMLError) {
        var index = position
        while index + terminator.count <= bytes.count {
            if bytes[index] == terminator[0], bytes[index..<(index + terminator.count)].elementsEqual(terminator) {
                position = index + terminator.count
                return
            }
            index += 1
        }
        throw malformed("unterminated \(what)")
    }

    mutating func skipComment() throws(S3XMLError) {
        position += 4
        try skip(past: Array("-->".utf8), what: "comment")
    }

    mutating func skipProcessingInstruction() throws(S3XMLError) {
        position += 2
        try skip(past: Array("?>".utf8), what: "processing instruction")
    }

    mutating func cdata() throws(S3XMLError) -> String {
        position += 9
        let start = position
        try skip(past: Array("]]>".utf8), what: "CDATA section")
        return try Self.utf8(bytes[start..<(position - 3)], at: start)
    }

    static func utf8(_ slice: ArraySlice<UInt8>, at offset: Int) throws(S3XMLError) -> String {
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw .malformed(offset: offset, reason: "invalid UTF-8")
        }
        return text
    }

    static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: "."), 0x80...0xFF:
            return true
        default:
            return false
        }
    }

    /// An element or attribute name: letters, digits, `_ : - .` and non-ASCII, not starting with
    /// a digit, `-` or `.`.
    mutating func name() throws(S3XMLError) -> String {
        let start = position
        while let byte = peek(), Self.isNameByte(byte) { position += 1 }
        guard position > start else { throw malformed("expected a name") }
        let first = bytes[start]
        if first == UInt8(ascii: "-") || first == UInt8(ascii: ".") || (first >= 48 && first <= 57) {
            throw .malformed(offset: start, reason: "a name cannot start with a digit, - or .")
        }
        return try Self.utf8(bytes[start..<position], at: start)
    }

    /// Reads the attributes up to `>` or `/>`; true for `/>`.
    mutating func attributes() throws(S3XMLError) -> Bool {
        while true {
            let hadSpace = peek().map(Self.isSpace) ?? false
            skipSpace()
            if take(UInt8(ascii: ">")) { return false }
            if starts("/>") {
                position += 2
                return true
            }
            guard hadSpace else { throw malformed("expected space, > or /> in a tag") }
            _ = try name()
            skipSpace()
            guard take(UInt8(ascii: "=")) else { throw malformed("expected = after an attribute name") }
            skipSpace()
            guard let quote = peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                throw malformed("expected a quoted attribute value")
            }
            position += 1
            while let byte = peek(), byte != quote {
                if byte == UInt8(ascii: "<") { throw malformed("< in an attribute value") }
                if byte == UInt8(ascii: "&") { _ = try reference() } else { position += 1 }
            }
            guard take(quote) else { throw malformed("unterminated attribute value") }
        }
    }

    /// Character data up to the next `<`, references resolved.
    mutating func characterData() throws(S3XMLError) -> String {
        var out = ""
        var runStart = position
        while let byte = peek(), byte != UInt8(ascii: "<") {
            if byte == UInt8(ascii: "&") {
                out += try Self.utf8(bytes[runStart..<position], at: runStart)
                out.unicodeScalars.append(try reference())
                runStart = position
            } else {
                position += 1
            }
        }
        out += try Self.utf8(bytes[runStart..<position], at: runStart)
        return out
    }

    /// One reference starting at `&`: `&lt; &gt; &amp; &apos; &quot;`, `&#N;` or `&#xH;`.
    mutating func reference() throws(S3XMLError) -> Unicode.Scalar {
        let start = position
        position += 1
        var body: [UInt8] = []
        while let byte = peek(), byte != UInt8(ascii: ";") {
            guard body.count < 10 else { throw .malformed(offset: start, reason: "an unterminated reference") }
            body.append(byte)
            position += 1
        }
        guard take(UInt8(ascii: ";")) else { throw .malformed(offset: start, reason: "an unterminated reference") }
        switch String(decoding: body, as: UTF8.self) {
        case "lt": return "<"
        case "gt": return ">"
        case "amp": return "&"
        case "apos": return "'"
        case "quot": return "\""
        default: break
        }
        guard body.first == UInt8(ascii: "#"), body.count >= 2 else {
            throw .malformed(offset: start, reason: "an unknown entity (only the five predefined ones and &#...; are read)")
        }
        let hex = body[1] == UInt8(ascii: "x")
        let digits = body.dropFirst(hex ? 2 : 1)
        guard !digits.isEmpty, let value = UInt32(String(decoding: digits, as: UTF8.self), radix: hex ? 16 : 10),
              let scalar = Unicode.Scalar(value), value != 0 else {
            throw .malformed(offset: start, reason: "a character reference to no valid character")
        }
        return scalar
    }
}

/// Why bytes did not decode. Every case names the offset (within the buffer being decoded) where
/// the problem was found, so storage can turn it into a file position.
public enum FormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The buffer ends before the structure does.
    case truncated(offset: Int, needed: Int, available: Int)
    /// Magic bytes differ from the specification's.
    case badMagic(offset: Int, what: String)
    /// A stored CRC does not match the bytes it covers.
    case crcMismatch(offset: Int, what: String, expected: UInt32, actual: UInt32)
    /// A version this reader does not know.
    case unsupportedVersion(offset: Int, version: UInt16)
    /// A length or count field that is impossible or above a hard cap.
    case badLength(offset: Int, what: String, value: UInt64, limit: UInt64)
    /// A field with a value the specification does not allow.
    case badField(offset: Int, what: String, value: UInt64)
    /// Decompression failed or produced the wrong size.
    case decompressionFailed(offset: Int, codec: UInt8, reason: String)
    /// A codec this build does not know.
    case unknownCodec(offset: Int, codec: UInt8)
    /// The bytes could not be read at all (a remote object's range whose request failed): no
    /// statement about the data.
    case unavailable(offset: Int, reason: String)

    /// The offset the problem was found at.
    public var offset: Int {
        switch self {
        case .truncated(let o, _, _), .badMagic(let o, _), .crcMismatch(let o, _, _, _),
            .unsupportedVersion(let o, _), .badLength(let o, _, _, _), .badField(let o, _, _),
            .decompressionFailed(let o, _, _), .unknownCodec(let o, _), .unavailable(let o, _):
            return o
        }
    }

    /// The same error with its offset moved by `delta` (to report file positions).
    public func shifted(by delta: Int) -> FormatError {
        switch self {
        case .truncated(let o, let n, let a): return .truncated(offset: o + delta, needed: n, available: a)
        case .badMagic(let o, let w): return .badMagic(offset: o + delta, what: w)
        case .crcMismatch(let o, let w, let e, let a):
            return .crcMismatch(offset: o + delta, what: w, expected: e, actual: a)
        case .unsupportedVersion(let o, let v): return .unsupportedVersion(offset: o + delta, version: v)
        case .badLength(let o, let w, let v, let l): return .badLength(offset: o + delta, what: w, value: v, limit: l)
        case .badField(let o, let w, let v): return .badField(offset: o + delta, what: w, value: v)
        case .decompressionFailed(let o, let c, let r):
            return .decompressionFailed(offset: o + delta, codec: c, reason: r)
        case .unknownCodec(let o, let c): return .unknownCodec(offset: o + delta, codec: c)
        case .unavailable(let o, let r): return .unavailable(offset: o + delta, reason: r)
        }
    }

    public var description: String {
        switch self {
        case .truncated(let o, let n, let a):
            return "truncated at offset \(o): needs \(n) bytes, \(a) remain"
        case .badMagic(let o, let w): return "bad \(w) magic at offset \(o)"
        case .crcMismatch(let o, let w, let e, let a):
            return "\(w) CRC mismatch at offset \(o): stored \(hex(e)), computed \(hex(a))"
        case .unsupportedVersion(let o, let v): return "unsupported format version \(v) at offset \(o)"
        case .badLength(let o, let w, let v, let l): return "bad \(w) \(v) at offset \(o) (limit \(l))"
        case .badField(let o, let w, let v): return "bad \(w) \(v) at offset \(o)"
        case .decompressionFailed(let o, let c, let r):
            return "decompression (codec \(c)) failed for the frame at offset \(o): \(r)"
        case .unknownCodec(let o, let c): return "unknown codec \(c) in the frame at offset \(o)"
        case .unavailable(let o, let r): return "the bytes at offset \(o) could not be read: \(r)"
        }
    }
}

@usableFromInline func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

import RRLog

/// The JSON parser and RFC 8785 canonicalisation: what parses must serialize and parse back equal,
/// and canonical bytes must be a fixed point.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    guard let value = try? JSONValue.parse(buffer) else { return 0 }
    let text = value.serializedBytes()
    guard let again = try? JSONValue.parse(text), again == value else { fatalError("serialized JSON does not parse back equal") }
    let canonical = value.canonicalBytes()
    guard let parsed = try? JSONValue.parse(canonical), parsed.canonicalBytes() == canonical else {
        fatalError("canonical JSON is not a fixed point")
    }
    return 0
}

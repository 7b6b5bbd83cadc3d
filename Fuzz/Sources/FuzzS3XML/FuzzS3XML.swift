import RRLogS3

/// S3's XML answers: the reader never traps, what it reads writes back and reads again equal,
/// and every answer decoder survives any document.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    S3Responses.decodeAll(bytes)
    guard let element = try? S3XMLElement.parse(bytes) else { return 0 }
    guard let again = try? S3XMLElement.parse(Array(element.serialized().utf8)), again == element else {
        fatalError("an S3 XML document does not survive writing back")
    }
    return 0
}

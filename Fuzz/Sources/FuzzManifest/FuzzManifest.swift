import RRLogCatalog

/// Session manifests: what decodes must encode and decode back equal.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let manifest = try? SessionManifest.decode(from: bytes) else { return 0 }
    guard let again = try? SessionManifest.decode(from: manifest.encoded()), again == manifest else {
        fatalError("manifest does not survive re-encoding")
    }
    return 0
}

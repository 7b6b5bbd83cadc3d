import RRLogRemote

/// Remote manifests (FORMAT-REMOTE.md), read from a bucket anyone may write: a manifest that
/// passes the checks must encode and decode back equal, and never name a key outside its session.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let manifest = try? RemoteManifest.decode(bytes, id: nil, location: "fuzz") else { return 0 }
    for object in manifest.objects where !object.key.hasPrefix("segments/") || object.key.dropFirst(9).contains("/") {
        fatalError("a checked manifest names \(object.key)")
    }
    guard let encoded = try? manifest.encoded(), let again = try? RemoteManifest.decode(encoded, id: manifest.session.id, location: "fuzz"),
          again == manifest else {
        fatalError("remote manifest does not survive re-encoding")
    }
    return 0
}

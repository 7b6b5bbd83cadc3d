import RRLogFormat

/// A remote index (FORMAT-REMOTE.md "Reading in place"), as a host reads it from a bucket: what
/// decodes encodes to bytes that decode to the same index, and each small object rebuilt from its
/// pieces (zeros elsewhere, as a reader's buffer holds before any fetch) opens or is refused
/// without a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    guard let index = try? RemoteIndex(decoding: buffer) else { return 0 }
    let again = index.encoded()
    guard let decoded = try? again.withUnsafeBytes({ try RemoteIndex(decoding: $0) }), decoded == index else {
        fatalError("a decoded remote index does not survive encoding")
    }
    for (position, object) in index.objects.enumerated() where object.sizeBytes <= 1 << 20 {
        var bytes = [UInt8](repeating: 0, count: Int(object.sizeBytes))
        for piece in index.pieces where piece.object == position {
            bytes.replaceSubrange(Int(piece.offset)..<(Int(piece.offset) + piece.bytes.count), with: piece.bytes)
        }
        bytes.withUnsafeBytes { raw in
            if object.file == LogKeyIndex.fileName {
                if let keys = try? LogKeyIndex(raw) { _ = keys.locate(globalChunk: 0) }
            } else if let view = try? SegmentView(sealed: raw) {
                _ = RemoteIndex.openingRanges(of: view)
                if let table = view.keyTable { _ = table.slotBytes(0..<min(4, table.slotCount)) }
            }
        }
    }
    return 0
}

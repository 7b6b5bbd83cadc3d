import RRLogFormat

/// Record and chunk decoding: the first bytes pick a codec and raw length for a chunk frame's data;
/// a record that decodes must re-encode to a record with the same fields.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    if case .success(.record(let view, _)) = RecordCodec.decode(buffer, at: 0) {
        let record = view.makeRecord()
        let bytes = RecordCodec.encode(record)
        let again = bytes.withUnsafeBytes { b -> Record? in
            if case .success(.record(let v, _)) = RecordCodec.decode(b, at: 0) { return v.makeRecord() }
            return nil
        }
        if again != record { fatalError("record does not survive re-encoding") }
    }
    ChunkReader.forEachRecord(buffer) { _ in true }
    _ = FrameHeader.decode(buffer, at: 0)
    _ = SegmentFooter.decode(buffer)
    if size > 5 {
        let codec = data[0] % 3
        let raw = Int((UInt32(data[1]) | UInt32(data[2]) << 8 | UInt32(data[3]) << 16) & 0xFFFF)
        let stored = UnsafeRawBufferPointer(rebasing: buffer[4...])
        if case .success(let out) = Decompressor().decompress(stored, codec: codec, rawLength: raw, frameOffset: 0) {
            if out.count != raw { fatalError("decompressed \(out.count) bytes, expected \(raw)") }
            out.withUnsafeBytes { ChunkReader.forEachRecord($0) { _ in true } }
        }
    }
    if let table = try? KeyTable(body: buffer) {
        table.forEachCandidate(hash: 12345) { _ in true }
        table.forEachEntry { _, _ in }
    }
    return 0
}

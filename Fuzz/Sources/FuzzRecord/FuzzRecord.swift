import RRLogFormat

/// Record and chunk decoding, rows and columns: the first bytes pick a codec and raw length for a
/// chunk frame's data; a record that decodes must re-encode to a record with the same fields.
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
    fuzzChunkData(buffer)
    _ = FrameHeader.decode(buffer, at: 0)
    _ = SegmentFooter.decode(buffer)
    if size > 5 {
        let codec = data[0] % 3
        let raw = Int((UInt32(data[1]) | UInt32(data[2]) << 8 | UInt32(data[3]) << 16) & 0xFFFF)
        let stored = UnsafeRawBufferPointer(rebasing: buffer[4...])
        if case .success(let out) = Decompressor().decompress(stored, codec: codec, rawLength: raw, frameOffset: 0) {
            if out.count != raw { fatalError("decompressed \(out.count) bytes, expected \(raw)") }
            out.withUnsafeBytes { fuzzChunkData($0) }
        }
    }
    if let table = try? KeyTable(body: buffer) {
        table.forEachCandidate(hash: 12345) { _ in true }
        table.forEachEntry { _, _ in }
    }
    return 0
}

/// Reads `data` as a row chunk and as a column chunk whose header count is the data's first
/// word (what a frame header would state); a column chunk that opens gives every record.
func fuzzChunkData(_ data: UnsafeRawBufferPointer) {
    var rows = ChunkShape(FrameHeader(
        type: 1, codec: 0, storedLength: UInt32(data.count), rawLength: UInt32(data.count), recordCount: 0, dataCRC: 0,
        firstSequence: 7, minTimestampNs: -5, maxTimestampNs: 5))
    ChunkReader.forEachRecord(data, shape: rows) { _ in true }
    var columns = rows
    columns.layout = ChunkLayout.columns.rawValue
    columns.recordCount = data.count >= 4 ? UInt32(littleEndian: data.loadUnaligned(as: UInt32.self)) : 0
    for checkCRC in [false, true] {
        var seen = 0
        ChunkReader.forEachRecord(data, shape: columns, checkCRC: checkCRC) { _ in seen += 1; return true }
        if case .success(let chunk) = ColumnChunk.open(data, shape: columns, checkCRC: checkCRC) {
            if seen != chunk.count { fatalError("an opened column chunk gave \(seen) of \(chunk.count) records") }
            if chunk.count > 0, chunk.record(chunk.count - 1) == nil || (chunk.endOfRecord(chunk.count - 1) ?? .max) > data.count {
                fatalError("an opened column chunk cannot give its last record")
            }
        }
    }
    rows.layout = 9
    ChunkReader.forEachRecord(data, shape: rows) { _ in true }
}

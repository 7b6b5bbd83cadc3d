import RRLogFormat

/// A whole segment: header, frames, chunk index, key table, footer; sealed and scanning paths.
/// What decodes must encode again to a segment that decodes to the same records.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    guard let view = try? SegmentView(buffer) else { return 0 }
    let decompressor = Decompressor()
    var records: [Record] = []
    var bad = false
    for ordinal in view.chunks.indices {
        let result = view.withChunkData(ordinal, decompressor: decompressor) { chunk in
            ChunkReader.forEachRecord(chunk, shape: ChunkShape(view.chunks[ordinal])) { records.append($0.makeRecord()); return records.count < 100_000 }
        }
        if case .success(nil) = result {} else { bad = true }
    }
    // Lookups decompress a prefix of a chunk (LogReader.record(in:at:)): every prefix length
    // must be safe, and what a prefix holds must agree with the whole chunk.
    for ordinal in view.chunks.indices.prefix(8) {
        var whole: [UInt8]?
        _ = view.withChunkData(ordinal, decompressor: decompressor, checkCRC: false) { whole = Array($0) }
        let shape = ChunkShape(view.chunks[ordinal])
        for length in [0, 1, 100, 4096, Int(view.chunks[ordinal].rawLength) / 2] {
            _ = view.withChunkPrefix(ordinal, prefixLength: length, decompressor: decompressor) { prefix in
                if let whole, prefix.count <= whole.count, !prefix.elementsEqual(whole.prefix(prefix.count)) {
                    fatalError("a decompressed prefix of chunk \(ordinal) differs from the whole chunk")
                }
                // A lookup's view of a prefix: a record it says the prefix holds must be there.
                for at in [0, 1, Int(shape.recordCount) / 2, Int(shape.recordCount) &- 1] where at >= 0 {
                    if ChunkReader.holdsRecord(at: at, in: prefix, shape: shape), shape.layout == ChunkLayout.columns.rawValue,
                        ChunkReader.record(at: at, in: prefix, shape: shape) == nil
                    {
                        fatalError("chunk \(ordinal): a prefix holds column record \(at) but cannot give it")
                    }
                }
            }
        }
    }
    if let table = view.keyTable {
        for r in records.prefix(64) {
            guard let key = r.key else { continue }
            table.forEachCandidate(hash: XXHash64.hash(key)) { _ in true }
        }
    }
    _ = view.chunkOrdinals(overlappingFrom: .min, to: .max)
    if !bad, !records.isEmpty, records.count < 10_000 {
        var sorted = true
        for (a, b) in zip(records, records.dropFirst()) where a.sequence >= b.sequence { sorted = false }
        if sorted && records.allSatisfy({ $0.payload.count < 1 << 20 }) {
            for layout in ChunkLayout.allCases {
                let options = SegmentEncoder.Options(
                    segmentID: 1, baseSequence: records[0].sequence, createdNs: 0, codec: .none, chunkTargetSizeBytes: 4096, layout: layout)
                let again = SegmentEncoder.encode(records, options: options)
                guard let decoded = try? SegmentEncoder.decodeAll(again), decoded == records else {
                    fatalError("re-encoded segment (\(layout)) does not decode to the same \(records.count) records")
                }
            }
        }
    }
    return 0
}

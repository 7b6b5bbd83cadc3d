import RRLogFormat
import SystemPackage

/// Names and lists the segment files of a log directory (FORMAT.md §9: `NNNNNNNNNNNNNNNNNNNN.rrseg`,
/// the 20-digit decimal segment id).
public enum SegmentFiles {
    /// The file name extension of segments.
    public static let fileExtension = "rrseg"

    /// The file name of segment `id`.
    public static func name(for id: UInt64) -> String {
        let digits = String(id)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + "." + fileExtension
    }

    /// The segment id in a file name, or nil when it is not a segment name.
    public static func id(fromName name: String) -> UInt64? {
        guard name.hasSuffix("." + fileExtension) else { return nil }
        let stem = name.dropLast(fileExtension.count + 1)
        guard stem.count == 20, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(stem)
    }

    /// The segments of `directory`, sorted by id.
    ///
    /// A directory listing made while a writer creates segments may leave out a segment that
    /// appeared during the listing yet include a later one (readdir walks ext4 directories in hash
    /// order): a reader following the tail would then skip a whole segment. Segment ids only grow,
    /// so a second listing settles it: every segment that existed when the second listing began
    /// is in it, and that includes every segment up to the first listing's last one. Holes below
    /// that point are real (retention, a deleted file); above it, the listing stops at the first
    /// hole and a later call picks up the rest.
    public static func list(_ directory: String) throws(StorageError) -> [(id: UInt64, path: String)] {
        try settled { () throws(StorageError) -> [String] in
            do throws(Errno) { return try Sys.listDirectory(directory) } catch { throw .system(error, "list the log directory", path: directory) }
        } path: { directory + "/" + $0 }
    }

    /// The segments among the names `listNames` returns, settled as `list(_:)` explains (it is
    /// called a second time when the first listing has a hole); `path` makes a name a path.
    static func settled(
        _ listNames: () throws(StorageError) -> [String], path: (String) -> String
    ) throws(StorageError) -> [(id: UInt64, path: String)] {
        func listOnce() throws(StorageError) -> [(id: UInt64, path: String)] {
            try listNames().compactMap { n in id(fromName: n).map { ($0, path(n)) } }.sorted { $0.id < $1.id }
        }
        let first = try listOnce()
        guard let firstLast = first.last?.id, hasHole(first) else { return first }
        let second = try listOnce()
        var settled: [(id: UInt64, path: String)] = []
        for entry in second {
            if entry.id > firstLast, let previous = settled.last, entry.id != previous.id + 1 { break }
            settled.append(entry)
        }
        return settled
    }

    private static func hasHole(_ sorted: [(id: UInt64, path: String)]) -> Bool {
        zip(sorted, sorted.dropFirst()).contains { $1.id != $0.id + 1 }
    }

    /// True when `path` is a directory.
    public static func isDirectory(_ path: String) -> Bool { Sys.isDirectory(path) }

    /// True when `path` exists.
    public static func exists(_ path: String) -> Bool { Sys.exists(path) }
}

/// Builds the index of chunks that already exist in a file, by decoding their records: what
/// recovery and `recover` use to seal a segment whose index was never written.
enum IndexRebuilder {
    static func build(
        from buffer: UnsafeRawBufferPointer, chunks: [(entry: ChunkIndexEntry, newOffset: UInt64)], decompressor: Decompressor
    ) -> Result<SegmentIndexBuilder, FormatError> {
        var builder = SegmentIndexBuilder()
        for (entry, newOffset) in chunks {
            let offset = Int(entry.offset)
            let header: FrameHeader
            switch FrameHeader.decode(buffer, at: offset) {
            case .failure(let e): return .failure(e)
            case .success(let h): header = h
            }
            let result = ChunkReader.withData(buffer, header: header, offset: offset, decompressor: decompressor) { data -> FormatError? in
                ChunkReader.forEachRecord(data, shape: ChunkShape(header)) { view in
                    if let key = view.key { builder.addKey(hash: XXHash64.hash(key), offsetInChunk: view.offsetInChunk) }
                    return true
                }
            }
            switch result {
            case .failure(let e): return .failure(e)
            case .success(let e?): return .failure(e)
            case .success(nil): break
            }
            var moved = entry
            moved.offset = newOffset
            builder.addChunk(moved)
        }
        return .success(builder)
    }

    /// Index frames and footer for a segment whose chunks end at `dataEnd`.
    static func tail(_ builder: SegmentIndexBuilder, dataEnd: Int, baseSequence: UInt64) -> [UInt8] {
        let chunkIndex = builder.encodeChunkIndex()
        let keyTable = builder.encodeKeyTable()
        let records = builder.chunks.reduce(UInt64(0)) { $0 + UInt64($1.recordCount) }
        let first = builder.chunks.first?.firstSequence ?? baseSequence
        let last = builder.chunks.last.map { $0.lastSequence } ?? (baseSequence &- 1)
        let footer = SegmentFooter(
            chunkIndexOffset: UInt64(dataEnd),
            keyTableOffset: keyTable == nil ? 0 : UInt64(dataEnd + chunkIndex.count),
            recordCount: records, firstSequence: first, lastSequence: last)
        return chunkIndex + (keyTable ?? []) + footer.encode()
    }
}

import RRLogFormat

/// One problem `verify` found.
public struct VerifyProblem: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The segment file.
    public var file: String
    /// Byte offset in the file.
    public var offset: Int
    /// What is wrong.
    public var reason: String

    public var description: String { "\(file) @ \(offset): \(reason)" }
}

/// What `verify` checked and found.
public struct VerifyReport: Sendable, Equatable, Codable {
    /// Segments checked.
    public var segments = 0
    /// Records whose CRC and fields checked.
    public var records = 0
    /// Bytes read.
    public var bytes = 0
    /// Damage and broken invariants: a non-empty list means the log is damaged.
    public var problems: [VerifyProblem] = []
    /// Facts that are not damage (an unsealed segment a writer is appending to, or a crash left).
    public var notes: [VerifyProblem] = []
    /// Chunks whose codec or layout this version does not know (FORMAT.md §3, §5): a later
    /// version wrote them, so they are not damage, but their records could not be checked.
    public var unreadable: [VerifyProblem] = []

    /// True when no problem was found (unreadable chunks are not problems; see `isFullyChecked`).
    public var isClean: Bool { problems.isEmpty }
    /// True when every chunk could be decoded and checked.
    public var isFullyChecked: Bool { unreadable.isEmpty }
}

/// Checks every invariant of FORMAT.md in a segment or a log directory, like `mcap doctor`: magic,
/// framing, every CRC, decompression, record fields, sequence order across chunks and segments,
/// chunk time bounds, the chunk index and key table against the data, and the footer. A chunk
/// of a codec or layout this version does not know is listed as unreadable, not as damage
/// (FORMAT.md §3, §5): its frame and data CRC are checked, its records cannot be.
public enum Verifier {
    /// Verifies `path`, a log directory or one segment file. `progress` is told bytes done.
    ///
    /// A log directory is read as `LogReader` reads it: its files are opened from the directory
    /// held open, under its shared lock, while `path` still names it. A compaction that switches
    /// the log meanwhile leaves the verify with the old log whole (its files cannot be deleted
    /// while they are being opened, and stay readable once mapped), never with a mix of the two
    /// or with files missing.
    public static func verify(path: String, progress: ((Int) -> Void)? = nil) throws(StorageError) -> VerifyReport {
        if SegmentFiles.isDirectory(path), let remote = try RemoteLogs.openIfRemote(path) {
            return verifyRemote(remote.segments, keyIndex: remote.keyIndex, path: path, progress: progress)
        }
        var report = VerifyReport()
        let log: OpenedLog
        if SegmentFiles.isDirectory(path) {
            log = try OpenedLog(directory: path)
        } else if SegmentFiles.exists(path) {
            log = OpenedLog(segments: [(path, try MappedFile(path: path, sequential: true))])
        } else {
            throw StorageError(.notFound, "no such log directory or segment file", path: path)
        }
        var previousLast: UInt64?
        let decompressor = Decompressor()
        for (n, (file, mapped)) in log.segments.enumerated() {
            report.segments += 1
            report.bytes += mapped.size
            mapped.withBytes { buffer in
                verifySegment(
                    buffer, file: file, isLast: n == log.segments.count - 1, previousLast: &previousLast, decompressor: decompressor,
                    report: &report)
            }
            progress?(report.bytes)
        }
        if let keyIndex = log.keyIndex { verifyKeyIndex(keyIndex, report: &report) }
        return report
    }

    /// Verifies a remote log (`RemoteLogs`) as a local one: each segment fetched whole, checked,
    /// and dropped from the cache again; then its log key index.
    static func verifyRemote(
        _ segments: [SegmentHandle], keyIndex: (file: MappedFile, index: LogKeyIndex, handles: [SegmentHandle])?, path: String,
        progress: ((Int) -> Void)?
    ) -> VerifyReport {
        var report = VerifyReport()
        var previousLast: UInt64?
        let decompressor = Decompressor()
        for (n, handle) in segments.enumerated() {
            report.segments += 1
            report.bytes += handle.sizeBytes
            let pin: Int
            do { pin = try handle.pinAll() } catch {
                report.problems.append(VerifyProblem(file: handle.path, offset: 0, reason: "not read: \(error.description)"))
                continue
            }
            handle.file.withBytes { buffer in
                verifySegment(
                    buffer, file: handle.path, isLast: n == segments.count - 1, previousLast: &previousLast, decompressor: decompressor,
                    report: &report)
            }
            handle.unpinAll(pin)
            progress?(report.bytes)
        }
        if let keyIndex {
            do {
                // The index is compared with the segments' own key tables: both read whole.
                var pins: [(SegmentHandle, Int)] = []
                defer { for (handle, pin) in pins { handle.unpinAll(pin) } }
                for handle in segments { pins.append((handle, try handle.pinKeyTable())) }
                let pin = try keyIndex.file.pin(0..<keyIndex.file.size)
                verifyKeyIndex(OpenedKeyIndex(path: keyIndex.file.path, file: .success(keyIndex.file), segments: segments), report: &report)
                keyIndex.file.unpin(pin)
                keyIndex.file.remote?.evictAll()
            } catch {
                report.problems.append(VerifyProblem(file: keyIndex.file.path, offset: 0, reason: "not read: \(error.description)"))
            }
        }
        return report
    }

    /// The files of one log, opened: its segments in id order, and its log key index with the
    /// segments as a reader sees them (nil when there is none).
    struct OpenedLog {
        var segments: [(path: String, file: MappedFile)]
        var keyIndex: OpenedKeyIndex?

        init(segments: [(path: String, file: MappedFile)], keyIndex: OpenedKeyIndex? = nil) {
            self.segments = segments
            self.keyIndex = keyIndex
        }

        /// Opens the files of the log directory `path` names, from the directory held open and
        /// under its shared lock (see `LogReader.refresh`). A directory switched between its
        /// opening and its locking is read again, as the one `path` names now. A segment its
        /// writer deleted after the listing (a discarded or empty one) is left out.
        init(directory path: String) throws(StorageError) {
            while true {
                let pinned = try PinnedDirectory(path: path)
                let opened = try pinned.withLock(exclusive: false) { () throws(StorageError) -> OpenedLog? in
                    guard pinned.isCurrent else { return nil }
                    var segments: [(path: String, file: MappedFile)] = []
                    for (_, file) in try pinned.segments() {
                        do throws(StorageError) {
                            segments.append((file, try MappedFile(name: Self.name(file), in: pinned, path: file, sequential: true)))
                        } catch where error.code == .notFound {
                            continue
                        }
                    }
                    return OpenedLog(segments: segments, keyIndex: try OpenedKeyIndex(in: pinned, segments: segments.map(\.path)))
                }
                if let opened {
                    self = opened
                    return
                }
            }
        }

        static func name(_ path: String) -> String { String(path.split(separator: "/").last ?? "") }
    }

    /// A log key index opened with the segments it indexes.
    struct OpenedKeyIndex {
        var path: String
        /// The index file, or the error opening it gave.
        var file: Result<MappedFile, StorageError>
        /// The segments as a reader opens them; nil when one could not be opened (then the
        /// segment's own check reports why, and the index is not compared).
        var segments: [SegmentHandle]?

        init(path: String, file: Result<MappedFile, StorageError>, segments: [SegmentHandle]?) {
            self.path = path
            self.file = file
            self.segments = segments
        }

        /// Opens the log key index of `directory` (nil when it has none) and the segments at
        /// `paths`, with the directory's lock held.
        init?(in directory: PinnedDirectory, segments paths: [String]) throws(StorageError) {
            path = directory.path + "/" + LogKeyIndex.fileName
            do {
                file = .success(try MappedFile(name: LogKeyIndex.fileName, in: directory, path: path))
            } catch where error.code == .notFound {
                return nil
            } catch {
                file = .failure(error)
            }
            var handles: [SegmentHandle] = []
            for segment in paths {
                guard let handle = try? SegmentHandle(path: segment, in: directory) else {
                    segments = nil
                    return
                }
                handles.append(handle)
            }
            segments = handles
        }
    }

    /// Checks the log key index (FORMAT.md §6.3): its CRCs, that it covers the first segments as
    /// they are, and that its entries are exactly theirs.
    static func verifyKeyIndex(_ opened: OpenedKeyIndex, report: inout VerifyReport) {
        let file = opened.path
        guard case .success(let mapped) = opened.file else {
            report.problems.append(VerifyProblem(file: file, offset: 0, reason: "cannot read the log key index"))
            return
        }
        guard let segments = opened.segments else { return }
        report.bytes += mapped.size
        mapped.withBytes { buffer in
            let index: LogKeyIndex
            do throws(FormatError) { index = try LogKeyIndex(buffer, checkKeyTableCRC: true) } catch {
                report.problems.append(VerifyProblem(file: file, offset: error.offset, reason: "log key index: \(error.description) (rebuilt by 'rrlog compact')"))
                return
            }
            guard index.segments.count <= segments.count,
                zip(index.segments, segments).allSatisfy({ $0.segmentID == $1.id && Int($0.chunkCount) == $1.view.chunks.count })
            else {
                report.notes.append(VerifyProblem(file: file, offset: 0, reason: "the log key index is stale (segments changed); lookups ignore it until it is rebuilt"))
                return
            }
            // Each side's entries as (slot hash, global chunk, offset): the segments' own tables,
            // their chunks numbered from each segment's first global chunk, and the index's table.
            func forEachExpected(_ visit: (UInt64, UInt64, UInt32) -> Void) {
                for (entry, handle) in zip(index.segments, segments) {
                    handle.view.keyTable?.forEachEntry { hash, location in
                        visit(hash, UInt64(entry.firstGlobalChunk) + UInt64(location.chunkOrdinal), location.offsetInChunk)
                    }
                }
            }
            func forEachActual(_ visit: (UInt64, UInt64, UInt32) -> Void) {
                index.keyTable.forEachEntry { hash, location in visit(hash, UInt64(location.chunkOrdinal), location.offsetInChunk) }
            }
            // Fast path: an order-free fingerprint of each side's entries, and reachability in
            // one pass over the slots. Only a mismatch pays for sets of entries (to count them).
            var expectedPrint = EntryFingerprint()
            forEachExpected { expectedPrint.add($0, chunk: $1, offset: $2) }
            var actualPrint = EntryFingerprint()
            forEachActual { actualPrint.add($0, chunk: $1, offset: $2) }
            let unreachable = index.keyTable.unreachableEntryCount()
            if unreachable > 0 {
                report.problems.append(VerifyProblem(
                    file: file, offset: 0, reason: "a lookup cannot reach \(unreachable) entries of the log key index (rebuilt by 'rrlog compact')"))
            }
            guard actualPrint != expectedPrint || index.keyTable.entryCount != expectedPrint.count else { return }
            struct Entry: Hashable {
                var hash: UInt64
                var chunk: UInt64
                var offset: UInt32
            }
            var expected = Set<Entry>()
            forEachExpected { expected.insert(Entry(hash: $0, chunk: $1, offset: $2)) }
            var actual = Set<Entry>()
            forEachActual { actual.insert(Entry(hash: $0, chunk: $1, offset: $2)) }
            report.problems.append(VerifyProblem(
                file: file, offset: 0,
                reason: "log key index holds \(actualPrint.count) entries (header: \(index.keyTable.entryCount)), the segments' key tables \(expectedPrint.count); \(actual.symmetricDifference(expected).count) differ"))
        }
    }

    static func verifySegment(
        _ buffer: UnsafeRawBufferPointer, file: String, isLast: Bool, previousLast: inout UInt64?, decompressor: Decompressor,
        report: inout VerifyReport
    ) {
        func problem(_ offset: Int, _ reason: String) {
            report.problems.append(VerifyProblem(file: file, offset: offset, reason: reason))
        }
        let headerLength: Int
        let header: SegmentHeader
        switch SegmentHeader.decode(buffer) {
        case .failure(let e):
            problem(e.offset, e.description)
            return
        case .success(let (h, l)):
            header = h
            headerLength = l
        }
        if let id = SegmentFiles.id(fromName: String(file.split(separator: "/").last ?? "")), id != header.segmentID {
            problem(16, "segment id \(header.segmentID) in the header differs from the file name's \(id)")
        }
        var scanner = SegmentScanner(buffer: buffer, headerLength: headerLength)
        var chunks: [ChunkIndexEntry] = []
        var keyed: [(sequence: UInt64, hash: UInt64, location: RecordLocation)] = []  // In scan order.
        var keyedPrint = EntryFingerprint()
        var footer: SegmentFooter?
        var indexFrames: [(FrameHeader, Int)] = []
        var unreadableChunks = Set<UInt32>()  // Ordinals: their keyed records are unknown.
        var lastSequence = previousLast
        while let item = scanner.next() {
            switch item {
            case .damaged(let r, let e):
                problem(r.lowerBound, "\(e.description); \(r.count) bytes skipped to the next frame at \(r.upperBound)")
            case .tornTail(let r, let e):
                problem(r.lowerBound, "\(e.description); \(r.count) bytes to the end of the file are not a valid frame (torn write?)")
            case .footer(let f, _):
                footer = f
            case .frame(let h, let offset):
                guard h.type == FrameType.chunk.rawValue else {
                    if h.type == FrameType.chunkIndex.rawValue || h.type == FrameType.keyTable.rawValue { indexFrames.append((h, offset)) }
                    continue
                }
                let ordinal = UInt32(chunks.count)
                chunks.append(ChunkIndexEntry(header: h, offset: offset))
                var count: UInt32 = 0
                var minTs = Int64.max
                var maxTs = Int64.min
                var first: UInt64?
                if h.layout != ChunkLayout.rows.rawValue && header.version < 2 {
                    problem(offset, "chunk layout \(h.layout) in a version \(header.version) segment (only version 2 has column chunks)")
                } else if Codec(rawValue: h.codec) == nil || ChunkLayout(rawValue: h.layout) == nil {
                    // Written by a later version: the scan checked its header and data CRCs; its
                    // header still says which sequences it holds, so their order is checked.
                    unreadableChunks.insert(ordinal)
                    let what = Codec(rawValue: h.codec) == nil ? "codec \(h.codec)" : "layout \(h.layout)"
                    report.unreadable.append(VerifyProblem(
                        file: file, offset: offset,
                        reason: "chunk of \(h.recordCount) records (sequences \(h.firstSequence)...\(h.firstSequence &+ UInt64(h.recordCount) &- 1)) uses \(what), which this version of rrlog cannot read; its records were not checked"))
                    if h.recordCount > 0 {
                        if let last = lastSequence, h.firstSequence <= last {
                            problem(offset, "chunk first sequence \(h.firstSequence) is not above the previous \(last)")
                        }
                        if h.firstSequence < header.baseSequence {
                            problem(offset, "sequence \(h.firstSequence) is below the segment's base sequence \(header.baseSequence)")
                        }
                        lastSequence = h.firstSequence &+ UInt64(h.recordCount) &- 1
                    }
                    continue
                }
                // Rows: every record's CRC; columns: the chunk's content CRC (FORMAT.md §4.1).
                let result = ChunkReader.withData(buffer, header: h, offset: offset, decompressor: decompressor, checkCRC: false) { data -> FormatError? in
                    ChunkReader.forEachRecord(data, shape: ChunkShape(h)) { view in
                        count += 1
                        report.records += 1
                        if first == nil { first = view.sequence }
                        if let last = lastSequence, view.sequence <= last {
                            problem(offset, "record sequence \(view.sequence) is not above the previous \(last)")
                        }
                        lastSequence = view.sequence
                        minTs = min(minTs, view.timestampNs)
                        maxTs = max(maxTs, view.timestampNs)
                        if let key = view.key {
                            let hash = KeyTable.slotHash(XXHash64.hash(key))
                            let location = RecordLocation(chunkOrdinal: ordinal, offsetInChunk: UInt32(view.offsetInChunk))
                            keyed.append((view.sequence, hash, location))
                            keyedPrint.add(hash, chunk: UInt64(ordinal), offset: location.offsetInChunk)
                        }
                        return true
                    }
                }
                switch result {
                case .failure(let e): problem(offset, e.description)
                case .success(let e?): problem(offset, "record in chunk: \(e.description)")
                case .success(nil):
                    if count != h.recordCount { problem(offset, "chunk header says \(h.recordCount) records, data holds \(count)") }
                    if let first, first != h.firstSequence { problem(offset, "chunk header first sequence \(h.firstSequence), first record \(first)") }
                    if count > 0 && (minTs != h.minTimestampNs || maxTs != h.maxTimestampNs) {
                        problem(offset, "chunk time bounds \(h.minTimestampNs)...\(h.maxTimestampNs) differ from its records' \(minTs)...\(maxTs)")
                    }
                    if count > 0, let f = first, f < header.baseSequence {
                        problem(offset, "sequence \(f) is below the segment's base sequence \(header.baseSequence)")
                    }
                }
            }
        }
        previousLast = lastSequence
        guard let footer else {
            report.notes.append(VerifyProblem(
                file: file, offset: buffer.count,
                reason: isLast ? "not sealed (a writer is appending, or one crashed: opening the log recovers it)" : "not sealed"))
            if !isLast { problem(buffer.count, "a segment other than the last has no footer") }
            return
        }
        let footerAt = buffer.count - FormatConstants.footerSizeBytes
        let view: SegmentView
        do throws(FormatError) { view = try SegmentView(sealed: buffer) } catch {
            problem(error.offset, "index: \(error.description)")
            return
        }
        if view.chunks != chunks {
            problem(Int(footer.chunkIndexOffset), "the chunk index (\(view.chunks.count) entries) differs from the chunks in the data (\(chunks.count))")
        }
        let records = UInt64(chunks.reduce(0) { $0 + Int($1.recordCount) })
        if footer.recordCount != records { problem(footerAt, "footer says \(footer.recordCount) records, chunks hold \(records)") }
        if records > 0 {
            if footer.firstSequence != chunks.first!.firstSequence { problem(footerAt, "footer first sequence \(footer.firstSequence) is wrong") }
            if footer.lastSequence != chunks.last!.lastSequence { problem(footerAt, "footer last sequence \(footer.lastSequence) is wrong") }
        }
        let expectedIndexEnd = footer.keyTableOffset != 0 ? Int(footer.keyTableOffset) : footerAt
        if let firstIndex = indexFrames.first, firstIndex.1 != Int(footer.chunkIndexOffset) || expectedIndexEnd > footerAt {
            problem(firstIndex.1, "index frames are not where the footer says")
        }
        if footer.keyTableOffset != 0 {
            let at = Int(footer.keyTableOffset)
            if case .success(let h) = FrameHeader.decode(buffer, at: at), let e = h.checkData(buffer, headerOffset: at) {
                problem(at, "key table: \(e.description)")
            }
        }
        if let table = view.keyTable {
            // Fast path: the table's entries have the keyed records' fingerprint and a lookup
            // reaches every one of them. Otherwise find the first record that is not served.
            // Entries of unreadable chunks are left out: which keyed records those hold is unknown.
            var entries = EntryFingerprint()
            var allEntries = 0
            table.forEachEntry { hash, location in
                allEntries += 1
                if !unreadableChunks.contains(location.chunkOrdinal) {
                    entries.add(hash, chunk: UInt64(location.chunkOrdinal), offset: location.offsetInChunk)
                }
            }
            if entries == keyedPrint && table.entryCount == allEntries && table.unreachableEntryCount() == 0 { return }
            let before = report.problems.count
            var byLocation: [RecordLocation: UInt64] = [:]
            table.forEachEntry { hash, location in byLocation[location] = hash }
            if allEntries != table.entryCount || entries.count != keyed.count {
                let skipped = unreadableChunks.isEmpty ? "" : " (\(allEntries - entries.count) more in unreadable chunks)"
                problem(Int(footer.keyTableOffset), "key table holds \(entries.count) entries\(skipped) (header: \(table.entryCount)); the data has \(keyed.count) keyed records")
            }
            // Each keyed record needs its entry, reachable the way a lookup probes (FORMAT.md
            // §6.2): from its home slot, with no empty slot before it. The first failure is reported.
            for expected in keyed {
                guard byLocation[expected.location] == expected.hash else {
                    problem(Int(footer.keyTableOffset), "key table has no entry for the keyed record \(expected.sequence)")
                    break
                }
                var reached = false
                table.forEachCandidate(hash: expected.hash) { location in
                    reached = location == expected.location
                    return !reached
                }
                if !reached {
                    problem(Int(footer.keyTableOffset), "a lookup cannot reach the key table entry of the keyed record \(expected.sequence)")
                    break
                }
            }
            if report.problems.count == before {
                problem(Int(footer.keyTableOffset), "key table entries differ from the keyed records in the data")
            }
        } else if !keyed.isEmpty {
            problem(footerAt, "the segment has \(keyed.count) keyed records but no key table")
        }
    }
}

/// An order-free fingerprint of a multiset of key-table entries (slot hash, chunk, offset), so
/// that verify compares a table with the data, or the log key index with the segments' tables,
/// in one pass each and no set of entries. Equal multisets always have equal fingerprints; two
/// 64-bit sums of differently mixed entries make unequal ones collide with a probability of about
/// 2^-128. When fingerprints differ, verify builds the sets to say what differs.
struct EntryFingerprint: Equatable {
    private(set) var count = 0
    private var first: UInt64 = 0
    private var second: UInt64 = 0

    mutating func add(_ hash: UInt64, chunk: UInt64, offset: UInt32) {
        let location = chunk &* 0x1_0000_0000 &+ UInt64(offset)
        count += 1
        first &+= Self.mix(hash &+ Self.mix(location))
        second &+= Self.mix(location ^ Self.mix(hash ^ 0x9E37_79B9_7F4A_7C15))
    }

    /// SplitMix64's finaliser: every input bit changes about half the output bits.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

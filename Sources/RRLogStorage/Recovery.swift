import RRLogFormat
import SystemPackage

/// Recovery of a log's segments after a crash (FORMAT.md §9).
public enum Recovery {
    /// Checks every segment of `directory` before a writer appends: sealed segments are trusted
    /// by their footer and index (read from the tail); a segment without a valid footer — the one
    /// a crash interrupted — is repaired as `mode` says and sealed. Returns the report, the last
    /// sequence stored and the last segment id (0 when the log is empty).
    static func prepareForAppend(directory: String, mode: RecoveryMode) throws(StorageError) -> (RecoveryReport, UInt64, UInt64) {
        var report = RecoveryReport()
        var lastSequence: UInt64 = 0
        var lastID: UInt64 = 0
        for (id, path) in try SegmentFiles.list(directory) {
            lastID = id
            let file = try MappedFile(path: path)
            let sealed: SegmentFooter? = file.withBytes { buffer in
                guard SegmentFooter.present(in: buffer), let view = try? SegmentView(sealed: buffer) else { return nil }
                return view.footer
            }
            if let footer = sealed {
                if footer.recordCount > 0 { lastSequence = max(lastSequence, footer.lastSequence) }
                continue
            }
            let outcome = try repair(path: path, mode: mode, write: true)
            report.truncatedBytes += outcome.truncatedBytes
            report.lost += outcome.lost
            if outcome.removed {
                continue
            }
            report.resealed.append(path)
            lastSequence = max(lastSequence, outcome.highestSequence)
        }
        return (report, lastSequence, lastID)
    }

    /// What `repair` did to one segment.
    public struct SegmentOutcome: Sendable {
        /// Bytes cut from the end.
        public var truncatedBytes = 0
        /// What was dropped.
        public var lost: [LostRange] = []
        /// The highest sequence stored or seen in a damaged frame header (never reused).
        public var highestSequence: UInt64 = 0
        /// Records kept.
        public var keptRecords = 0
        /// True when the file was removed (it was shorter than a segment header).
        public var removed = false
    }

    /// Repairs one segment file without a valid footer: decides what to keep by `mode`, then (when
    /// `write`) truncates or rewrites it and writes its index and footer. With `write` false it
    /// only reports what it would do.
    public static func repair(path: String, mode: RecoveryMode, write: Bool) throws(StorageError) -> SegmentOutcome {
        let file = try MappedFile(copying: path)
        var outcome = SegmentOutcome()
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let plan: Plan = try file.withBytes { (buffer) throws(StorageError) -> Plan in
            if buffer.count < FormatConstants.segmentHeaderSizeBytes {
                return .remove
            }
            let view: SegmentView
            do throws(FormatError) { view = try SegmentView(scanning: buffer) } catch {
                throw .corrupt(error, path: path, what: "the segment header is damaged; recover it with 'rrlog recover'")
            }
            for c in view.chunks { outcome.highestSequence = max(outcome.highestSequence, c.lastSequence) }
            var keep = view.chunks
            var cut: Int? = nil
            var rewrite = false
            for item in view.damage {
                let (range, error, isTail): (Range<Int>, FormatError, Bool)
                switch item {
                case .damaged(let r, let e): (range, error, isTail) = (r, e, false)
                case .tornTail(let r, let e): (range, error, isTail) = (r, e, true)
                default: continue
                }
                var lost = LostRange(file: name, startOffset: range.lowerBound, endOffset: range.upperBound, reason: error.description)
                if case .success(let h) = FrameHeader.decode(buffer, at: range.lowerBound, requireData: false), h.type == FrameType.chunk.rawValue,
                    h.recordCount > 0
                {
                    lost.firstSequence = h.firstSequence
                    lost.lastSequence = h.firstSequence &+ UInt64(h.recordCount) &- 1
                    outcome.highestSequence = max(outcome.highestSequence, lost.lastSequence!)
                }
                switch mode {
                case .strict:
                    throw StorageError(.recoveryRefused, "strict recovery refuses damage: \(lost)", path: path, offset: range.lowerBound, formatError: error)
                case .tolerateTail:
                    guard isTail else {
                        throw StorageError(
                            .recoveryRefused, "damage followed by valid data (use --mode salvage or point-in-time): \(lost)",
                            path: path, offset: range.lowerBound, formatError: error)
                    }
                    cut = range.lowerBound
                    outcome.lost.append(lost)
                case .pointInTime:
                    if cut == nil {
                        cut = range.lowerBound
                        lost.endOffset = buffer.count
                        outcome.lost.append(lost)
                    }
                case .salvage:
                    if isTail { cut = range.lowerBound } else { rewrite = true }
                    outcome.lost.append(lost)
                }
            }
            if let cut {
                let dropped = keep.filter { Int($0.offset) >= cut }
                keep.removeAll { Int($0.offset) >= cut }
                if mode == .pointInTime, !dropped.isEmpty, let first = dropped.first, let last = dropped.last {
                    outcome.lost.append(LostRange(
                        file: name, startOffset: Int(first.offset), endOffset: Int(last.offset) + Int(last.frameLength),
                        firstSequence: first.firstSequence, lastSequence: last.lastSequence,
                        reason: "intact chunks after the damage, dropped by point-in-time recovery"))
                }
            }
            // Frames that are not chunks (an old index) are dropped: the index is rebuilt.
            let dataEnd = keep.last.map { Int($0.offset) + Int($0.frameLength) } ?? view.headerLength
            if !rewrite {
                let contiguous = zip(keep, keep.dropFirst()).allSatisfy { Int($0.offset) + Int($0.frameLength) == Int($1.offset) }
                rewrite = !contiguous || (keep.first.map { Int($0.offset) != view.headerLength } ?? false)
            }
            outcome.keptRecords = keep.reduce(0) { $0 + Int($1.recordCount) }
            outcome.truncatedBytes = rewrite ? 0 : buffer.count - dataEnd
            guard write else { return .none }
            let decompressor = Decompressor()
            if rewrite {
                var bytes = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<view.headerLength]))
                var moved: [(entry: ChunkIndexEntry, newOffset: UInt64)] = []
                for c in keep {
                    moved.append((c, UInt64(bytes.count)))
                    bytes += UnsafeRawBufferPointer(rebasing: buffer[Int(c.offset)..<(Int(c.offset) + Int(c.frameLength))])
                }
                let index: SegmentIndexBuilder
                switch IndexRebuilder.build(from: buffer, chunks: moved, decompressor: decompressor) {
                case .failure(let e): throw .corrupt(e, path: path)
                case .success(let b): index = b
                }
                bytes += IndexRebuilder.tail(index, dataEnd: bytes.count, baseSequence: view.header.baseSequence)
                return .rewrite(bytes)
            }
            let index: SegmentIndexBuilder
            switch IndexRebuilder.build(from: buffer, chunks: keep.map { ($0, $0.offset) }, decompressor: decompressor) {
            case .failure(let e): throw .corrupt(e, path: path)
            case .success(let b): index = b
            }
            return .truncate(at: dataEnd, tail: IndexRebuilder.tail(index, dataEnd: dataEnd, baseSequence: view.header.baseSequence))
        }
        if plan.isRemove {
            outcome.removed = true
            if file.size > 0 {
                outcome.lost.append(LostRange(file: name, startOffset: 0, endOffset: file.size, reason: "segment shorter than its header (interrupted creation)"))
            }
        }
        if write { try apply(plan, path: path) }
        return outcome
    }

    enum Plan {
        case none
        case remove
        case truncate(at: Int, tail: [UInt8])
        case rewrite([UInt8])

        var isRemove: Bool {
            if case .remove = self { return true }
            return false
        }
    }

    static func apply(_ plan: Plan, path: String) throws(StorageError) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        do {
            switch plan {
            case .none:
                return
            case .remove:
                try Sys.unlink(path)
            case .truncate(let at, let tail):
                let fd = try Sys.open(path, Sys.readWrite)
                defer { Sys.close(fd) }
                try Sys.ftruncate(fd, at)
                try Sys.pwriteAll(fd, tail, at: at)
                try Sys.fsync(fd)
            case .rewrite(let bytes):
                try AtomicFile.write(bytes, to: path)
            }
            try Sys.syncDirectory(directory.isEmpty ? "." : directory)
        } catch {
            throw .system(error, "repair the segment", path: path)
        }
    }
}

/// Writes a whole file so that a crash leaves either the old or the new contents: temp file,
/// fsync, rename, fsync of the directory.
public enum AtomicFile {
    /// Replaces `path` with `bytes` atomically; files are created 0600.
    static func write(_ bytes: [UInt8], to path: String) throws(Errno) {
        // A name of its own for every write: two writers of the same file (threads of one process
        // included) never share, truncate or rename each other's temp file.
        let temp = path + ".tmp-\(Sys.processID())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = try Sys.open(temp, Sys.createExclusive)
        do {
            try Sys.pwriteAll(fd, bytes, at: 0)
            try Sys.fsync(fd)
        } catch {
            Sys.close(fd)
            try? Sys.unlink(temp)
            throw error
        }
        Sys.close(fd)
        try Sys.rename(temp, path)
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        try Sys.syncDirectory(path.hasPrefix("/") && directory.isEmpty ? "/" : (directory.isEmpty ? "." : directory))
    }

    /// Writes `bytes` atomically, reporting failures as `StorageError`.
    public static func save(_ bytes: [UInt8], to path: String) throws(StorageError) {
        do { try write(bytes, to: path) } catch { throw .system(error, "write", path: path) }
    }

    /// Reads a whole file (bounded by `limitBytes`).
    public static func read(_ path: String, limitBytes: Int = 256 << 20) throws(StorageError) -> [UInt8] {
        if let size = Sys.fileSize(path: path), size > limitBytes {
            throw StorageError(.invalidRecord, "file is \(size) bytes, over the \(limitBytes)-byte limit", path: path)
        }
        let file = try MappedFile(copying: path)
        return file.withBytes { Array($0) }
    }
}

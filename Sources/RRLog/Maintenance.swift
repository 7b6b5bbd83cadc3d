import Foundation
public import RRLogCatalog
public import RRLogFormat
public import RRLogStorage

/// What `verify` found in a session.
public struct SessionVerifyReport: Sendable, Codable {
    /// The session's name.
    public var session: String
    /// The session's id.
    public var id: String
    /// What the segment checks found.
    public var log: VerifyReport
    /// Disagreements between manifest, catalog and segments.
    public var manifestProblems: [String] = []

    /// True when nothing is damaged or inconsistent.
    public var isClean: Bool { log.isClean && manifestProblems.isEmpty }
}

/// A place in a session that looks like a secret that was not redacted.
public struct SecretFinding: Sendable, Codable, Equatable, CustomStringConvertible {
    /// The record's sequence number.
    public var sequence: UInt64
    /// The JSON path of the value.
    public var path: String

    public var description: String { "record \(sequence): \(path)" }
}

/// What `compact` did (or would do, in a dry run).
public struct CompactionReport: Sendable, Codable {
    /// Sessions rewritten.
    public var sessions: [String] = []
    /// Sessions removed by retention.
    public var removedSessions: [String] = []
    /// Segments before and after.
    public var segmentsBefore = 0
    /// Segments after.
    public var segmentsAfter = 0
    /// Bytes on disk before.
    public var bytesBefore: Int64 = 0
    /// Bytes on disk after.
    public var bytesAfter: Int64 = 0
    /// True when nothing was changed.
    public var dryRun = false

    /// Bytes freed.
    public var reclaimedBytes: Int64 { bytesBefore - bytesAfter }

    /// An empty report.
    public init() {}
}

extension Store {
    /// Checks a session: its segments (every FORMAT.md invariant), that its manifest is readable and
    /// agrees with the catalog, and that the manifest's segments exist with the ranges it says.
    public func verify(_ manifest: SessionManifest, progress: ((Int) -> Void)? = nil) throws(RRLogError) -> SessionVerifyReport {
        finishInterruptedCompaction(manifest.id)
        finishInterruptedSave(manifest.id)
        let manifest = (try? catalog.session(id: manifest.id)) ?? manifest
        let log: VerifyReport
        do { log = try Verifier.verify(path: logDirectory(manifest.id), progress: progress) } catch { throw RRLogError(error) }
        var report = SessionVerifyReport(session: manifest.name, id: manifest.id, log: log)
        let file = manifestPath(manifest.id)
        do {
            let onDisk = try SessionManifest.decode(from: try AtomicFile.read(file, limitBytes: SessionManifest.encodedSizeBytesMax), path: file)
            if onDisk.id != manifest.id || onDisk.name != manifest.name || onDisk.type != manifest.type {
                report.manifestProblems.append("\(file): manifest (\(onDisk.name), \(onDisk.type)) disagrees with the catalog (\(manifest.name), \(manifest.type)); run 'rrlog reindex'")
            }
            if onDisk.segments != manifest.segments {
                report.manifestProblems.append("\(file): manifest segments differ from the catalog's; run 'rrlog reindex'")
            }
        } catch {
            report.manifestProblems.append("\(file): \(error)")
        }
        if let reader = try? LogReader(path: logDirectory(manifest.id)) {
            let present = Dictionary(reader.segments.map { (($0.path as NSString).lastPathComponent, $0) }, uniquingKeysWith: { a, _ in a })
            for ref in manifest.segments {
                guard let s = present[ref.file] else {
                    report.manifestProblems.append("manifest names segment \(ref.file), which is missing from \(logDirectory(manifest.id))")
                    continue
                }
                let first = s.view.chunks.first?.firstSequence
                let last = s.view.chunks.last?.lastSequence
                if first != ref.firstSequence || last != ref.lastSequence || s.view.recordCount != ref.recordCount {
                    report.manifestProblems.append(
                        "segment \(ref.file) holds sequences \(first.map(String.init) ?? "-")...\(last.map(String.init) ?? "-") (\(s.view.recordCount) records); the manifest says \(ref.firstSequence)...\(ref.lastSequence) (\(ref.recordCount))")
                }
            }
        }
        return report
    }

    /// The lock `compact` holds for its whole run; cleanup of an interrupted compaction takes it
    /// too, so it never touches the files of one that is running.
    func compactionLockPath(_ id: String) -> String { sessionDirectory(id) + "/COMPACT.lock" }

    /// Scans every JSON record of a session with the default redaction rules and reports what
    /// they would redact: secrets that reached the disk (`rrlog verify --secrets`).
    public func scanSecrets(_ manifest: SessionManifest, limit: Int = 1000) throws(RRLogError) -> [SecretFinding] {
        let reader = try openReader(manifest)
        var findings: [SecretFinding] = []
        let rules = Redaction.default
        reader.forEach { view in
            guard let line = try? JSONValue.parse(Array(view.payload)) else { return true }
            var paths: [String] = []
            _ = rules.apply(line, prefix: "", redacted: &paths)
            for p in paths { findings.append(SecretFinding(sequence: view.sequence, path: p)) }
            return findings.count < limit
        }
        return findings
    }

    /// Finishes or undoes a compaction a crash interrupted, so the session has exactly one log:
    /// the old one if the swap had not happened, the new one if it had (and then its manifest is
    /// brought up to date). Does nothing while a compaction is running.
    func finishInterruptedCompaction(_ id: String) {
        let fm = FileManager.default
        let log = logDirectory(id)
        let fresh = log + ".compact"
        let old = log + ".old"
        guard fm.fileExists(atPath: fresh) || fm.fileExists(atPath: old) else { return }
        guard let lock = try? DirectoryLock.tryAcquire(compactionLockPath(id)) else { return }
        defer { lock.release() }
        finishInterruptedCompactionLocked(id)
    }

    /// Saving a manifest writes `manifest.json`, then the catalog's copy (`save`). A process killed
    /// between the two leaves the file newer than the catalog. When the file's segments are the
    /// ones in the log directory and the catalog's are not, the file is the truth: finish the save.
    func finishInterruptedSave(_ id: String) {
        let file = manifestPath(id)
        guard let cataloged = try? catalog.session(id: id),
            let bytes = try? AtomicFile.read(file, limitBytes: SessionManifest.encodedSizeBytesMax),
            let onDisk = try? SessionManifest.decode(from: bytes, path: file),
            onDisk.id == id, onDisk.name == cataloged.name, onDisk.type == cataloged.type, onDisk.segments != cataloged.segments,
            let reader = try? LogReader(path: logDirectory(id))
        else { return }
        let actual = Store.segmentRefs(reader)
        func matches(_ refs: [SessionManifest.SegmentRef]) -> Bool {
            refs.count == actual.count
                && zip(refs, actual).allSatisfy {
                    $0.file == $1.file && $0.firstSequence == $1.firstSequence && $0.lastSequence == $1.lastSequence && $0.recordCount == $1.recordCount
                }
        }
        if matches(onDisk.segments) && !matches(cataloged.segments) { _ = try? catalog.upsert(onDisk) }
    }

    func finishInterruptedCompactionLocked(_ id: String) {
        let fm = FileManager.default
        let log = logDirectory(id)
        let fresh = log + ".compact"
        let old = log + ".old"
        var swapped = false
        if !fm.fileExists(atPath: log) && fm.fileExists(atPath: fresh) {
            swapped = (try? fm.moveItem(atPath: fresh, toPath: log)) != nil
        }
        if !fm.fileExists(atPath: log) && fm.fileExists(atPath: old) { try? fm.moveItem(atPath: old, toPath: log) }
        if fm.fileExists(atPath: log) {
            try? fm.removeItem(atPath: fresh)
            if fm.fileExists(atPath: old) {
                swapped = true
                try? fm.removeItem(atPath: old)
            }
        }
        if swapped, let m = try? catalog.session(id: id) { _ = try? refreshManifest(m) }
    }

    /// Rewrites a session's log into fresh segments: merges small ones, applies `codec` (and zstd
    /// `level`) and `chunkSizeBytes` (default: the codec's, `LogOptions.defaultChunkSizeBytes`),
    /// rebuilds every index, and keeps sequence numbers. Larger chunks compress better and make
    /// lookups decompress more: 1 MiB zstd chunks suit an archive. Crash-safe: the new log is
    /// written beside the old one and swapped in by renames; a crash leaves one or the other.
    /// Readers keep working (their mapped segments stay valid; `refresh()` sees the new ones).
    public func compact(
        _ manifest: SessionManifest, codec: Codec? = nil, level: Int = 3, chunkSizeBytes: Int? = nil, dryRun: Bool = false,
        progress: ((Int) -> Void)? = nil
    ) throws(RRLogError) -> CompactionReport {
        if let chunkSizeBytes, !LogOptions.chunkSizeBytesRange.contains(chunkSizeBytes) {
            throw RRLogError(.invalidArgument, "a chunk size must be \(LogOptions.chunkSizeBytesRange.lowerBound) to \(LogOptions.chunkSizeBytesRange.upperBound) bytes, not \(chunkSizeBytes)")
        }
        let compactionLock: DirectoryLock?
        do { compactionLock = try DirectoryLock.tryAcquire(compactionLockPath(manifest.id)) } catch { throw RRLogError(error) }
        guard let compactionLock else { throw RRLogError(.busy, "session \(manifest.name) is being compacted by another process") }
        defer { compactionLock.release() }
        finishInterruptedCompactionLocked(manifest.id)
        var report = CompactionReport()
        report.dryRun = dryRun
        let log = logDirectory(manifest.id)
        let fresh = log + ".compact"
        // Holding the writer lock keeps recorders out; opening also recovers and seals.
        let guardWriter: LogWriter
        do { guardWriter = try LogWriter(directory: log) } catch { throw RRLogError(error) }
        defer { try? guardWriter.close() }
        let reader: LogReader
        do { reader = try LogReader(path: log) } catch { throw RRLogError(error) }
        report.segmentsBefore = reader.segments.count
        report.bytesBefore = Int64(reader.segments.reduce(0) { $0 + $1.sizeBytes })
        report.sessions = [manifest.name]
        if dryRun {
            // The estimate: the records rewritten into segments of the default size limit, at
            // about the size they have now (a codec change makes the real size differ).
            report.bytesAfter = report.bytesBefore
            let limit = Int64(LogOptions().segmentSizeBytesMax)
            report.segmentsAfter = reader.recordCount == 0 ? 0 : Int(max(1, (report.bytesBefore + limit - 1) / limit))
            return report
        }
        try? FileManager.default.removeItem(atPath: fresh)
        var options = LogOptions()
        options.codec = codec ?? (reader.segments.first?.view.chunks.first.map { Codec(rawValue: $0.codec) ?? .none } ?? .none)
        options.zstdLevel = level
        options.chunkSizeBytes = chunkSizeBytes
        options.firstSegmentID = (reader.segments.map(\.id).max() ?? 0) + 1
        let writer: LogWriter
        do { writer = try LogWriter(directory: fresh, options: options) } catch { throw RRLogError(error) }
        var failure: StorageError?
        var copied = 0
        let lost = reader.forEachRecord { view in
            do throws(StorageError) { try writer.appendPreservingSequence(view.makeRecord()) } catch {
                failure = error
                return false
            }
            copied += 1
            if copied % 65536 == 0 { progress?(copied) }
            return true
        }
        if failure == nil, !lost.isEmpty {
            failure = StorageError(.corrupt, "damaged data in the session (\(lost[0])); run 'rrlog verify' and 'rrlog recover' first", path: log)
        }
        do { try writer.close() } catch { failure = failure ?? error }
        if let failure {
            try? FileManager.default.removeItem(atPath: fresh)
            throw RRLogError(failure)
        }
        do {
            try FileManager.default.moveItem(atPath: log, toPath: log + ".old")
            try FileManager.default.moveItem(atPath: fresh, toPath: log)
        } catch {
            finishInterruptedCompactionLocked(manifest.id)
            throw RRLogError(.storage, "cannot swap in the compacted log: \(error.localizedDescription)", location: log)
        }
        // The manifest is brought up to date before the old log goes: a crash in between leaves
        // `log.old`, which tells the next open to refresh the manifest (finishInterruptedCompaction).
        let updated = try refreshManifest(manifest)
        try? FileManager.default.removeItem(atPath: log + ".old")
        report.segmentsAfter = updated.segments.count
        report.bytesAfter = updated.bytesOnDisk
        return report
    }

    /// Removes completed sessions older than `maxAgeSeconds`, then the oldest completed ones
    /// until the store holds at most `maxTotalBytes`. Returns the names removed.
    public func applyRetention(maxAgeSeconds: Double?, maxTotalBytes: Int64?, dryRun: Bool) throws(RRLogError) -> [String] {
        var removed: [String] = []
        var all = try sessions()
        let now = nowNs()
        if let maxAgeSeconds {
            for m in all where m.status != "active" && Double(now - m.createdNs) / 1e9 > maxAgeSeconds {
                if !dryRun { try remove(m) }
                removed.append(m.name)
            }
            all.removeAll { removed.contains($0.name) }
        }
        if let maxTotalBytes {
            var total = all.reduce(Int64(0)) { $0 + $1.bytesOnDisk }
            for m in all.sorted(by: { $0.createdNs < $1.createdNs }) where total > maxTotalBytes && m.status != "active" {
                if !dryRun { try remove(m) }
                removed.append(m.name)
                total -= m.bytesOnDisk
            }
        }
        return removed
    }
}

import Foundation
public import RRLogCatalog
public import RRLogFormat
import RRLogIOProfile
import RRLogJSON
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
    /// the old one if the switch had not happened, the new one if it had (then its manifest is
    /// brought up to date). Does nothing while a writer or a compaction holds the log.
    func finishInterruptedCompaction(_ id: String) {
        _ = try? LogCompaction.recoverInterrupted(directory: logDirectory(id)) {
            if let m = try? catalog.session(id: id) { _ = try? refreshManifest(m) }
        }
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

    /// Rewrites a session's log into fresh segments: merges small ones, applies `codec` (and zstd
    /// `level`) and `chunkSizeBytes` (default: the codec's, `LogOptions.defaultChunkSizeBytes`),
    /// rebuilds every index, and keeps sequence numbers. Larger chunks compress better and make
    /// lookups decompress more: 1 MiB zstd chunks suit an archive. Crash-safe: the new log is
    /// written beside the old one and switched in by one atomic exchange of the two directories
    /// (`LogCompaction`); a crash at any moment leaves the whole old or the whole new log.
    /// Readers keep working: their mapped segments stay valid, a reader opened at any moment
    /// reads one whole log, and `refresh()` moves to the new one.
    public func compact(
        _ manifest: SessionManifest, codec: Codec? = nil, level: Int = 3, chunkSizeBytes: Int? = nil, dryRun: Bool = false,
        progress: ((Int) -> Void)? = nil
    ) throws(RRLogError) -> CompactionReport {
        try compact(manifest, codec: codec, level: level, chunkSizeBytes: chunkSizeBytes, dryRun: dryRun, progress: progress, phases: nil)
    }

    /// `compact`, telling `phases` each `CompactionPhase` as it is reached; an error it throws
    /// stops the compaction there, as a crash would (crash tests), and is rethrown.
    public func compact(
        _ manifest: SessionManifest, codec: Codec? = nil, level: Int = 3, chunkSizeBytes: Int? = nil, dryRun: Bool = false,
        progress: ((Int) -> Void)? = nil, phases: ((CompactionPhase) throws(StorageError) -> Void)?
    ) throws(RRLogError) -> CompactionReport {
        if let chunkSizeBytes, !LogOptions.chunkSizeBytesRange.contains(chunkSizeBytes) {
            throw RRLogError(.invalidArgument, "a chunk size must be \(LogOptions.chunkSizeBytesRange.lowerBound) to \(LogOptions.chunkSizeBytesRange.upperBound) bytes, not \(chunkSizeBytes)")
        }
        if isRemote(manifest) {
            // Compacting here would download the whole session into a local log.
            throw RRLogError(
                .invalidArgument,
                "session \(manifest.name) is kept in a bucket and read in place; 'rrlog compact \(manifest.name) --remote' compacts it there, 'rrlog pull \(manifest.name) --as NAME' makes a local copy",
                location: logDirectory(manifest.id))
        }
        finishInterruptedCompaction(manifest.id)
        let compaction: LogCompaction
        do { compaction = try LogCompaction(directory: logDirectory(manifest.id), observer: phases) } catch {
            if error.code == .locked {
                throw RRLogError(.busy, "session \(manifest.name) is being written or compacted by another process (\(error.message))")
            }
            throw RRLogError(error)
        }
        defer { compaction.release() }
        let reader = compaction.source
        var report = CompactionReport()
        report.dryRun = dryRun
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
        var options = LogOptions()
        options.codec = codec ?? (reader.segments.first?.view.chunks.first.map { Codec(rawValue: $0.codec) ?? .none } ?? .none)
        options.zstdLevel = level
        options.chunkSizeBytes = chunkSizeBytes
        // The manifest is brought up to date while the old log still lies beside the new one: a
        // crash before it leaves that leftover, which tells the next open to refresh the
        // manifest (finishInterruptedCompaction).
        var updated: SessionManifest?
        var commitFailure: RRLogError?
        do {
            try compaction.run(options: options, progress: progress) {
                do throws(RRLogError) {
                    updated = try refreshManifest(manifest)
                    return true
                } catch {
                    commitFailure = error
                    return false
                }
            }
        } catch {
            throw RRLogError(error)
        }
        if let commitFailure { throw commitFailure }
        guard let updated else { throw RRLogError(.storage, "the compacted session's manifest was not saved", location: logDirectory(manifest.id)) }
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

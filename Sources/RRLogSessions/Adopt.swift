import Foundation
package import RRLogCatalog
import RRLogFormat
import RRLogStorage

/// What `rrlog push` and `rrlog pull` (RRLogRemote) need from a store: a session's segment files
/// as they are on disk, and adding a session whose segments arrive from elsewhere, staged until
/// they are all present and verified (the way an import stages a new session).
extension Store {
    /// A sealed or still-open segment file of a session, as push reads it.
    package struct SegmentFile: Sendable {
        /// The file name (`<id>.rrseg`).
        package var name: String
        /// The full path.
        package var path: String
        /// The size in bytes.
        package var sizeBytes: Int
        /// Whether the segment is sealed (it never changes again).
        package var isSealed: Bool
        /// Its entry in the manifest.
        package var ref: SessionManifest.SegmentRef?
    }

    /// The segment files of a session, in sequence order, with their manifest entries (empty
    /// segments have none), and whether a writer has the log open now.
    package func segmentFiles(_ manifest: SessionManifest) throws(RRLogError) -> (files: [SegmentFile], writerOpen: Bool) {
        finishInterruptedCompaction(manifest.id)
        let reader: LogReader
        do { reader = try LogReader(path: logDirectory(manifest.id)) } catch { throw RRLogError(error) }
        let refs = Dictionary(Self.segmentRefs(reader).map { ($0.file, $0) }, uniquingKeysWith: { a, _ in a })
        let files = reader.segments.map { s in
            let name = (s.path as NSString).lastPathComponent
            return SegmentFile(name: name, path: s.path, sizeBytes: s.sizeBytes, isSealed: s.isSealed, ref: refs[name])
        }
        return (files, LogWriter.isOpen(directory: logDirectory(manifest.id)) == true)
    }

    /// The session with this id, if the store has it.
    package func session(id: String) -> SessionManifest? {
        (try? catalog.session(id: id)).flatMap { $0 }
    }

    /// Starts adding `manifest`'s session from segment files written elsewhere: refuses a name
    /// or id the store has already, then makes its directory with the manifest marked staged
    /// (never listed; `reindex` skips it). Returns the log directory to put the segment files in.
    package func stageAdopted(_ manifest: SessionManifest) throws(RRLogError) -> String {
        try Store.validateName(manifest.name)
        if let existing = try? catalog.session(name: manifest.name) {
            throw RRLogError(.sessionExists, "a session named '\(manifest.name)' exists in the store at \(path) (id \(existing.id)); give another name with --as NAME")
        }
        guard !manifest.id.isEmpty, !manifest.id.contains("/"), !manifest.id.hasPrefix(".") else {
            throw RRLogError(.malformedInput, "the session id '\(manifest.id)' cannot name a directory")
        }
        if FileManager.default.fileExists(atPath: sessionDirectory(manifest.id)) {
            let holder = session(id: manifest.id).map { " as '\($0.name)'" } ?? " (a staged or damaged directory; remove it or run 'rrlog reindex')"
            throw RRLogError(.sessionExists, "the session with id \(manifest.id) is in the store at \(path) already\(holder)", location: sessionDirectory(manifest.id))
        }
        var staged = manifest
        staged.status = Store.stagedStatus
        do {
            try FileManager.default.createDirectory(atPath: logDirectory(manifest.id), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw RRLogError(.storage, "cannot create the session directory: \(error.localizedDescription)", location: sessionDirectory(manifest.id))
        }
        do { try AtomicFile.save(staged.encoded(), to: manifestPath(manifest.id)) } catch {
            discardAdopted(id: manifest.id)
            throw RRLogError(error)
        }
        return logDirectory(manifest.id)
    }

    /// Commits a staged session once its segment files are in place: verifies them (every
    /// FORMAT.md check), writes the key index, takes the segments and sizes from the log, saves
    /// the manifest and adds it to the catalog. On any failure the staged directory is deleted
    /// and nothing is listed.
    package func commitAdopted(_ manifest: SessionManifest) throws(RRLogError) -> SessionManifest {
        do throws(RRLogError) {
            let log = logDirectory(manifest.id)
            let report: VerifyReport
            do { report = try Verifier.verify(path: log) } catch { throw RRLogError(error) }
            guard report.isClean else {
                throw RRLogError(.corrupt, "the segments fail verification: \(report.problems.prefix(3).map(\.description).joined(separator: "; "))", location: log)
            }
            let reader: LogReader
            do { reader = try LogReader(path: log) } catch { throw RRLogError(error) }
            var m = manifest
            m.segments = Self.segmentRefs(reader)
            do { try reader.writeKeyIndex() } catch { throw RRLogError(error) }
            m.recordCount = reader.recordCount
            m.bytesOnDisk = Int64(reader.segments.reduce(0) { $0 + $1.sizeBytes })
            guard m.recordCount == manifest.recordCount else {
                throw RRLogError(.corrupt, "the segments hold \(m.recordCount) records; the manifest says \(manifest.recordCount)", location: log)
            }
            try save(m)
            return m
        } catch {
            discardAdopted(id: manifest.id)
            throw error
        }
    }

    /// Adds a session whose segments stay in a bucket (FORMAT-REMOTE.md "Reading in place"):
    /// its log directory gets `files` (the remote index and the remote's description) and no
    /// segment; reads fetch what they need. Checks that the log opens and holds the records the
    /// manifest says before listing it.
    package func adoptRemote(_ manifest: SessionManifest, files: [(name: String, bytes: [UInt8])]) throws(RRLogError) -> SessionManifest {
        let log = try stageAdopted(manifest)
        do throws(RRLogError) {
            for file in files {
                do { try AtomicFile.save(file.bytes, to: log + "/" + file.name) } catch { throw RRLogError(error) }
            }
            let reader: LogReader
            do { reader = try LogReader(path: log) } catch { throw RRLogError(error) }
            guard reader.recordCount == manifest.recordCount else {
                throw RRLogError(.corrupt, "the remote index names \(reader.recordCount) records; the manifest says \(manifest.recordCount)", location: log)
            }
            try save(manifest)
            return manifest
        } catch {
            discardAdopted(id: manifest.id)
            throw error
        }
    }

    /// Replaces a local session's segments with `files` (a remote index and the remote's
    /// description) once they are in a bucket (`rrlog tier`, `push --delete-local` keeping the
    /// entry): the switch is one atomic step, as a compaction's, and `manifest` is saved with it.
    /// Refuses while a writer has the log open.
    package func replaceWithRemote(_ manifest: SessionManifest, files: [(name: String, bytes: [UInt8])]) throws(RRLogError) -> SessionManifest {
        finishInterruptedCompaction(manifest.id)
        let compaction: LogCompaction
        do { compaction = try LogCompaction(directory: logDirectory(manifest.id)) } catch { throw RRLogError(error) }
        defer { compaction.release() }
        guard compaction.source.recordCount == manifest.recordCount, compaction.source.segments.allSatisfy(\.isSealed) else {
            throw RRLogError(.invalidArgument, "session \(manifest.name) changed since it was pushed (or has an unsealed segment); push it again first", location: logDirectory(manifest.id))
        }
        var saveError: RRLogError?
        do {
            try compaction.replace(with: files) {
                do throws(RRLogError) { try save(manifest) } catch {
                    saveError = error
                    return false
                }
                return true
            }
        } catch {
            throw RRLogError(error)
        }
        if let saveError { throw saveError }
        return manifest
    }

    /// True when the session's segments are in a bucket, read in place (`rrlog tier`,
    /// `rrlog reindex --remote`).
    package func isReadInPlace(_ manifest: SessionManifest) -> Bool { isRemote(manifest) }

    /// `isReadInPlace`.
    package func isRemote(_ manifest: SessionManifest) -> Bool {
        FileManager.default.fileExists(atPath: logDirectory(manifest.id) + "/" + RemoteLogs.indexFileName)
    }

    /// Adds `annotations` to a closed session's manifest (an import's provenance, say) and saves it.
    @discardableResult
    package func annotate(_ manifest: SessionManifest, _ annotations: [String: String]) throws(RRLogError) -> SessionManifest {
        var m = manifest
        m.annotations.merge(annotations) { _, new in new }
        try save(m)
        return m
    }

    /// Deletes a staged session's directory (never in the catalog).
    package func discardAdopted(id: String) {
        guard session(id: id) == nil else { return }
        try? FileManager.default.removeItem(atPath: sessionDirectory(id))
    }
}

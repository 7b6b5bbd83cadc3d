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

    /// Deletes a staged session's directory (never in the catalog).
    package func discardAdopted(id: String) {
        guard session(id: id) == nil else { return }
        try? FileManager.default.removeItem(atPath: sessionDirectory(id))
    }
}

// Removing sessions from a bucket and collecting what no manifest names (FORMAT-REMOTE.md
// "Removing and collecting").
public import Foundation
import RRLogS3

/// What `gc` found and did.
public struct RemoteGCReport: Sendable, Codable {
    /// Objects no committed manifest names (old index versions, segments of pushes that never
    /// committed), deleted unless a dry run.
    public var orphans: [String] = []
    /// Their bytes.
    public var orphanBytes: Int64 = 0
    /// Name claims whose session has no manifest.
    public var names: [String] = []
    /// Multipart uploads never completed (key and upload id), aborted unless a dry run.
    public var uploads: [String] = []
    /// Unnamed objects and uploads left because they are younger than the minimum age (a push
    /// under way writes its objects before its manifest).
    public var young = 0
    /// Sessions whose manifest could not be read: nothing of theirs is touched.
    public var unreadable: [String] = []
    /// True when nothing was deleted.
    public var dryRun = false
}

extension RemoteSessions {
    /// Deletes what no committed manifest names: objects under `sessions/` (older versions of a
    /// session's indexes, the segments of a push that never committed), name claims without a
    /// session, and multipart uploads never completed, each only when older than
    /// `minimumAge` seconds (a push under way uploads its objects before its manifest). A session
    /// whose manifest cannot be read is left whole. With `dryRun`, only reports.
    public func gc(minimumAge: TimeInterval, dryRun: Bool, now: Date = Date()) async throws(RemoteError) -> RemoteGCReport {
        var report = RemoteGCReport()
        report.dryRun = dryRun
        let root = remote.key("")
        let listing = try await request("listing \(url(""))") { () async throws(S3Error) in
            try await client.listObjects(prefix: remote.key(RemoteLayout.sessionsDirectory))
        }
        // What the committed manifests name, by session id.
        var named = Set<String>()
        var committed = Set<String>()
        var unreadable = Set<String>()
        for object in listing.objects where object.key.hasSuffix("/manifest.json") {
            guard let id = Self.sessionID(ofKey: object.key, root: root) else { continue }
            do throws(RemoteError) {
                guard let session = try await manifest(id: id) else { continue }
                committed.insert(id)
                named.insert(object.key)
                let directory = RemoteLayout.sessionDirectory(id: id)
                for o in session.manifest.objects + [session.manifest.keyIndex, session.manifest.remoteIndex].compactMap({ $0 }) {
                    named.insert(remote.key(directory + o.key))
                }
            } catch {
                unreadable.insert(id)
                report.unreadable.append("\(id): \(error.message)")
            }
        }
        for object in listing.objects where !named.contains(object.key) {
            guard let id = Self.sessionID(ofKey: object.key, root: root), !unreadable.contains(id) else { continue }
            guard Self.age(object.lastModified, now: now) >= minimumAge else {
                report.young += 1
                continue
            }
            report.orphans.append(object.key)
            report.orphanBytes += Int64(object.sizeBytes)
        }
        // Name claims whose session never committed (or was removed).
        let claims = try await request("listing \(url("names/"))") { () async throws(S3Error) in
            try await client.listObjects(prefix: remote.key("names/"))
        }
        for claim in claims.objects {
            let data = try? await client.getObject(key: claim.key, sizeBytesMax: 4096)
            guard let id = data.flatMap({ Self.claimedID($0.bytes) }), !committed.contains(id), !unreadable.contains(id) else { continue }
            guard Self.age(claim.lastModified, now: now) >= minimumAge else {
                report.young += 1
                continue
            }
            report.names.append(claim.key)
        }
        let uploads = try await request("listing the multipart uploads under \(url(""))") { () async throws(S3Error) in
            try await client.listMultipartUploads(prefix: root)
        }
        var stale: [S3MultipartUpload] = []
        for upload in uploads {
            if Self.age(upload.initiated, now: now) >= minimumAge { stale.append(upload) } else { report.young += 1 }
        }
        report.uploads = stale.map { "\($0.key) (upload \($0.uploadID))" }
        guard !dryRun else { return report }
        for key in report.orphans + report.names {
            _ = try await request("deleting \(key)") { () async throws(S3Error) in try await client.deleteObject(key: key) }
        }
        for upload in stale {
            _ = try await request("aborting the upload of \(upload.key)") { () async throws(S3Error) in
                try await client.abortMultipartUpload(key: upload.key, uploadID: upload.uploadID)
            }
        }
        return report
    }

    /// Removes `session` from the bucket: its manifest first (the session is gone for every
    /// reader from then on), then every object under its directory, then its name claim when it
    /// names this session. Returns the objects deleted.
    public func remove(_ session: RemoteSession) async throws(RemoteError) -> Int {
        let id = session.session.id
        _ = try await request("deleting the manifest of \(session.session.name)") { () async throws(S3Error) in
            try await client.deleteObject(key: remote.key(RemoteLayout.manifestKey(id: id)))
        }
        let listing = try await request("listing \(url(RemoteLayout.sessionDirectory(id: id)))") { () async throws(S3Error) in
            try await client.listObjects(prefix: remote.key(RemoteLayout.sessionDirectory(id: id)))
        }
        for object in listing.objects {
            _ = try await request("deleting \(object.key)") { () async throws(S3Error) in try await client.deleteObject(key: object.key) }
        }
        let claim = remote.key(RemoteLayout.nameKey(session.session.name))
        if let data = try? await client.getObject(key: claim, sizeBytesMax: 4096), Self.claimedID(data.bytes) == id {
            _ = try await request("deleting the name claim \(session.session.name)") { () async throws(S3Error) in
                try await client.deleteObject(key: claim)
            }
        }
        return listing.objects.count + 1
    }

    /// The session id of a key under `<root>sessions/<id>/`.
    static func sessionID(ofKey key: String, root: String) -> String? {
        let prefix = root + RemoteLayout.sessionsDirectory
        guard key.hasPrefix(prefix) else { return nil }
        let rest = key.dropFirst(prefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let id = String(rest[..<slash])
        return RemoteLayout.isSafeComponent(id) ? id : nil
    }

    /// Seconds since an S3 timestamp (ISO 8601, with or without fractions); 0 (young, kept) when
    /// it cannot be read.
    static func age(_ timestamp: String, now: Date) -> TimeInterval {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: timestamp) { return now.timeIntervalSince(date) }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: timestamp) { return now.timeIntervalSince(date) }
        return 0
    }
}

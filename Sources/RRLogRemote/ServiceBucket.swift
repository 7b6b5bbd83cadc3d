// Buckets in the layout of the OTLP record-replay service rrlog replaces:
// `sessions/{id}/metadata.json` and `sessions/{id}/raw/YYYY-MM-DD/HH/{traces|metrics|logs}-{timestamp}-{uuid}.otlp.gz`.
// `rrlog pull --layout otlp-service` picks one of its sessions and imports its OTLP files.
import Foundation
import RRLogS3

/// A session in the replaced service's layout.
public struct ServiceSession: Sendable {
    /// The `{id}` of its directory.
    public var id: String
    /// `metadata.json`'s members whose values are strings, numbers or booleans, as text.
    public var metadata: [String: String]
    /// Its OTLP files (keys relative to the remote's prefix), in key order: by date, hour and
    /// timestamp.
    public var files: [String]
    /// Bytes of its OTLP files.
    public var sizeBytes: Int64
    /// The newest file's last-modified time, as the server wrote it (ISO 8601).
    public var newest: String

    /// A name for the session: `name` or `session_name` from the metadata, else the id.
    public var name: String { metadata["name"] ?? metadata["session_name"] ?? id }
}

extension RemoteSessions {
    /// The sessions of a bucket in the replaced service's layout (a directory under `sessions/`
    /// with OTLP files under `raw/`), oldest first.
    public func serviceSessions() async throws(RemoteError) -> [ServiceSession] {
        let base = remote.key(RemoteLayout.sessionsDirectory)
        let listing = try await request("listing \(url(RemoteLayout.sessionsDirectory))") { () async throws(S3Error) in
            try await client.listObjects(prefix: base)
        }
        var byID: [String: ServiceSession] = [:]
        var metadataKeys: [String: String] = [:]
        for object in listing.objects {
            let rest = object.key.dropFirst(base.count)
            guard let slash = rest.firstIndex(of: "/") else { continue }
            let id = String(rest[..<slash])
            let inside = rest[rest.index(after: slash)...]
            guard RemoteLayout.isSafeComponent(id) else { continue }
            if inside == "metadata.json" {
                metadataKeys[id] = object.key
            } else if inside.hasPrefix("raw/"), Self.otlpSignal(of: String(inside)) != nil {
                var session = byID[id] ?? ServiceSession(id: id, metadata: [:], files: [], sizeBytes: 0, newest: "")
                session.files.append(String(object.key.dropFirst(remote.key("").count)))
                session.sizeBytes += Int64(object.sizeBytes)
                session.newest = max(session.newest, object.lastModified)
                byID[id] = session
            }
        }
        var sessions: [ServiceSession] = []
        for (id, var session) in byID {
            session.files.sort()
            if let key = metadataKeys[id] {
                let data = try? await client.getObject(key: key, sizeBytesMax: 1 << 20)
                session.metadata = data.map { Self.flatMetadata($0.bytes) } ?? [:]
            }
            sessions.append(session)
        }
        return sessions.sorted { ($0.newest, $0.id) < ($1.newest, $1.id) }
    }

    /// The session `selector` names (its id, or its metadata's name) or picks (latest by its
    /// newest file, largest and smallest by bytes, random), of metadata `type` when given.
    public func findServiceSession(_ selector: String, type: String? = nil) async throws(RemoteError) -> ServiceSession {
        let all = try await serviceSessions().filter { type == nil || $0.metadata["type"] == type }
        let picked: ServiceSession?
        switch selector {
        case "latest": picked = all.last
        case "largest": picked = all.max { ($0.sizeBytes, $0.id) < ($1.sizeBytes, $1.id) }
        case "smallest": picked = all.min { ($0.sizeBytes, $0.id) < ($1.sizeBytes, $1.id) }
        case "random": picked = all.randomElement()
        default: picked = all.first { $0.id == selector } ?? all.first { $0.name == selector }
        }
        guard let picked else {
            throw RemoteError(.noSuchSession, "no session '\(selector)'\(type.map { " of type \($0)" } ?? "") in the OTLP service layout under \(url(RemoteLayout.sessionsDirectory)) (sessions/{id}/raw/…otlp.gz)")
        }
        return picked
    }

    /// Downloads `session`'s OTLP files into `directory` (file names kept, prefixed by their
    /// order so the import keeps the bucket's order); returns the paths.
    public func download(_ session: ServiceSession, to directory: String) async throws(RemoteError) -> [String] {
        var paths: [String] = []
        for (n, relative) in session.files.enumerated() {
            let name = String(relative.split(separator: "/").last ?? "")
            let data = try await request("downloading \(url(relative))") { () async throws(S3Error) in
                try await client.getObject(key: remote.key(relative), sizeBytesMax: 1 << 30)
            }
            let path = directory + "/" + String(format: "%06d-", n) + name
            guard FileManager.default.createFile(atPath: path, contents: Data(data.bytes), attributes: [.posixPermissions: 0o600]) else {
                throw RemoteError(.local, "cannot write the downloaded file (is the disk full?)", location: path)
            }
            paths.append(path)
        }
        return paths
    }

    /// The signal of an OTLP file under `raw/` by its name, nil for anything else.
    static func otlpSignal(of path: String) -> String? {
        let name = path.split(separator: "/").last.map(String.init) ?? ""
        guard name.hasSuffix(".otlp.gz") || name.hasSuffix(".otlp") else { return nil }
        return ["traces", "metrics", "logs"].first { name.hasPrefix($0 + "-") }
    }

    /// A metadata object's scalar members as text (nested values left out).
    static func flatMetadata(_ bytes: [UInt8]) -> [String: String] {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { return [:] }
        var out: [String: String] = [:]
        for (key, value) in object {
            switch value {
            case let text as String: out[key] = text
            case let number as NSNumber: out[key] = number.stringValue
            default: continue
            }
        }
        return out
    }
}

// RRLogRemote: sessions in an S3 bucket (issue #22): the bucket layout, the commit rule, push,
// pull and listing. FORMAT-REMOTE.md describes the layout and the rule; RRLogS3 does the
// requests; RRLogSessions gives the segment files and adds pulled sessions to the store.
import Foundation
public import RRLogCatalog

/// Where a session's objects live in a bucket (FORMAT-REMOTE.md):
///
/// ```
/// <prefix>/sessions/<id>/manifest.json                           the commit point
/// <prefix>/sessions/<id>/segments/<segment>.crc32c-<8 hex>       one object per sealed segment
/// <prefix>/names/<name>                                          {"id": "<id>"}: who owns the name
/// ```
public enum RemoteLayout {
    /// The key, relative to the prefix, of the directory of all sessions.
    public static let sessionsDirectory = "sessions/"

    /// The manifest of session `id`, relative to the prefix.
    public static func manifestKey(id: String) -> String { "sessions/\(id)/manifest.json" }

    /// The name claim of `name`, relative to the prefix.
    public static func nameKey(_ name: String) -> String { "names/\(name)" }

    /// A segment object's key relative to its session's directory: the file name and its
    /// CRC32C, so a segment with other bytes (after a compaction) gets another key and no object
    /// is ever overwritten with different content.
    public static func segmentKey(file: String, crc32c: UInt32) -> String {
        "segments/\(file).crc32c-\(hex8(crc32c))"
    }

    /// An index object's key relative to its session's directory (`index/keys.rrki...`,
    /// `index/remote.rrix...`), versioned by its CRC32C as segments are.
    public static func indexKey(file: String, crc32c: UInt32) -> String {
        "index/\(file).crc32c-\(hex8(crc32c))"
    }

    /// The session directory of `id`, relative to the prefix, with a trailing slash.
    public static func sessionDirectory(id: String) -> String { "sessions/\(id)/" }

    static func hex8(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    /// Whether an id or name may become part of a key (no `/`, no `..`, printable ASCII).
    static func isSafeComponent(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 128 && text != "." && text != ".."
            && text.unicodeScalars.allSatisfy { $0.isASCII && $0.value > 32 && $0.value < 127 && $0 != "/" && $0 != "\\" }
    }
}

/// One object a remote manifest covers.
public struct RemoteObject: Codable, Sendable, Equatable {
    /// The segment's file name in the session's log directory.
    public var file: String
    /// The object key relative to the session's directory (`segments/...`).
    public var key: String
    /// The size in bytes.
    public var sizeBytes: Int64
    /// The CRC32C of the whole object, 8 lowercase hex digits.
    public var crc32c: String
    /// The ETag S3 gives these bytes: the MD5 (hex) for one PUT, or the MD5 of the parts' MD5s
    /// and `-N` for a multipart upload of N parts (quotes left out).
    public var etag: String

    /// Stable JSON keys.
    enum CodingKeys: String, CodingKey {
        case file, key, crc32c, etag
        case sizeBytes = "size_bytes"
    }

    /// An object entry.
    public init(file: String, key: String, sizeBytes: Int64, crc32c: String, etag: String) {
        self.file = file
        self.key = key
        self.sizeBytes = sizeBytes
        self.crc32c = crc32c
        self.etag = etag
    }
}

/// `sessions/<id>/manifest.json`: the session's manifest as the local store keeps it (counts
/// and segments of the objects pushed) and exactly the objects the push covers. Written last,
/// conditionally (FORMAT-REMOTE.md "The commit rule"): a session is in the bucket when, and
/// only as far as, its manifest says.
public struct RemoteManifest: Codable, Sendable, Equatable {
    /// The format version this build writes and the newest it reads.
    public static let currentVersion = 1
    /// The largest manifest read (a manifest is metadata).
    public static let sizeBytesMax = 64 << 20

    /// The format version. JSON key `rrlog_remote_manifest`.
    public var version: Int
    /// The session. JSON key `session`.
    public var session: SessionManifest
    /// The objects, one per segment, in sequence order. JSON key `objects`.
    public var objects: [RemoteObject]
    /// The log key index over the segments (one probe per lookup, whatever their number), when
    /// the push had one. JSON key `key_index`.
    public var keyIndex: RemoteObject?
    /// The remote index (`RemoteIndex`, FORMAT-REMOTE.md "Reading in place"): what a host needs
    /// to read the session in place. JSON key `remote_index`.
    public var remoteIndex: RemoteObject?
    /// When the push committed, in nanoseconds since the epoch. JSON key `pushed_ns`.
    public var pushedNs: Int64
    /// The host that pushed. JSON key `pushed_by`.
    public var pushedBy: String

    enum CodingKeys: String, CodingKey {
        case version = "rrlog_remote_manifest"
        case session, objects
        case keyIndex = "key_index"
        case remoteIndex = "remote_index"
        case pushedNs = "pushed_ns"
        case pushedBy = "pushed_by"
    }

    /// A manifest from its parts.
    public init(session: SessionManifest, objects: [RemoteObject], pushedNs: Int64, pushedBy: String) {
        version = Self.currentVersion
        self.session = session
        self.objects = objects
        self.pushedNs = pushedNs
        self.pushedBy = pushedBy
    }

    /// The JSON bytes (sorted keys).
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    /// Reads and checks a manifest: the version, the session id matching `id`, and every
    /// object key inside the session's `segments/`.
    public static func decode(_ bytes: [UInt8], id: String?, location: String) throws(RemoteError) -> RemoteManifest {
        let manifest: RemoteManifest
        do { manifest = try JSONDecoder().decode(RemoteManifest.self, from: Data(bytes)) } catch {
            throw RemoteError(.corrupt, "not a remote manifest: \(error)", location: location)
        }
        guard manifest.version <= currentVersion else {
            throw RemoteError(.corrupt, "remote manifest version \(manifest.version) is newer than this rrlog reads (\(currentVersion)); upgrade rrlog", location: location)
        }
        if let id, manifest.session.id != id {
            throw RemoteError(.corrupt, "the manifest is of session id \(manifest.session.id), not \(id)", location: location)
        }
        guard RemoteLayout.isSafeComponent(manifest.session.id) else {
            throw RemoteError(.corrupt, "the session id '\(manifest.session.id)' cannot name a directory", location: location)
        }
        var files = Set<String>()
        for object in manifest.objects {
            let rest = object.key.dropFirst("segments/".count)
            guard object.key.hasPrefix("segments/"), RemoteLayout.isSafeComponent(String(rest)), RemoteLayout.isSafeComponent(object.file),
                  object.file.hasSuffix(".rrseg"), object.sizeBytes >= 0, files.insert(object.file).inserted,
                  object.crc32c.count == 8, UInt32(object.crc32c, radix: 16) != nil
            else {
                throw RemoteError(.corrupt, "the manifest names an invalid object (\(object.file) at \(object.key))", location: location)
            }
        }
        for (object, name) in [(manifest.keyIndex, "keys.rrki"), (manifest.remoteIndex, "remote.rrix")] {
            guard let object else { continue }
            let rest = object.key.dropFirst("index/".count)
            guard object.key.hasPrefix("index/"), RemoteLayout.isSafeComponent(String(rest)), object.file == name, object.sizeBytes >= 0,
                  object.crc32c.count == 8, UInt32(object.crc32c, radix: 16) != nil
            else {
                throw RemoteError(.corrupt, "the manifest names an invalid index object (\(object.file) at \(object.key))", location: location)
            }
        }
        return manifest
    }

    /// Whether this manifest names the same objects as `other` (segments and indexes).
    func sameObjects(as other: RemoteManifest) -> Bool {
        objects == other.objects && keyIndex == other.keyIndex && remoteIndex == other.remoteIndex
    }
}

/// A failure of a push, pull or listing, with where it happened and what to do.
public struct RemoteError: Error, Sendable, CustomStringConvertible {
    /// The kinds of failure.
    public enum Code: Sendable, Equatable {
        /// Another host's session holds the name or id with other content.
        case conflict
        /// No such session in the bucket.
        case noSuchSession
        /// An object or manifest is damaged or not rrlog's.
        case corrupt
        /// The remote is not configured, or configured wrongly.
        case configuration
        /// The store cannot be used with this remote (it ignores conditional writes).
        case unsupportedStore
        /// An S3 request failed (see the message).
        case request
        /// The local store refused (a name clash, a full disk).
        case local
        /// Nothing to do the asked thing with (no sealed segment).
        case invalidArgument
    }

    /// The kind.
    public var code: Code
    /// What failed and what to do.
    public var message: String
    /// Where: an s3:// URL or a local path.
    public var location: String?

    /// An error from its parts.
    public init(_ code: Code, _ message: String, location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String { location.map { "\($0): \(message)" } ?? message }
}

import Foundation

/// The metadata of one recording session.
///
/// The facade writes it as `manifest.json` in the session directory, and the catalog keeps a copy
/// of it so sessions can be listed without opening every directory. The manifest file is the
/// source of truth: `rrlog reindex` rebuilds the catalog from the manifests.
///
/// JSON keys are snake_case and stable (see `CodingKeys`). Readers ignore unknown keys, and keys
/// that hold optional values or collections may be absent (they decode as nil or empty), so later
/// versions can add fields without bumping `manifestVersion`.
public struct SessionManifest: Codable, Sendable, Equatable {
    /// The manifest version this build writes and the newest it reads.
    public static let currentManifestVersion = 1
    /// The largest manifest `decode(from:)` accepts; a manifest is metadata, never record data.
    public static let encodedSizeBytesMax = 64 << 20

    /// Unique identifier, e.g. a UUID string. JSON key `id`.
    public var id: String
    /// Unique, human-chosen name. JSON key `name`.
    public var name: String
    /// `recording`, `capture`, `seed` or `training` (the facade validates it). JSON key `type`.
    public var type: String
    /// `active`, `completed` or `failed`. JSON key `status`.
    public var status: String
    /// When the session was created, in nanoseconds since the Unix epoch. JSON key `created_ns`.
    public var createdNs: Int64
    /// Timestamp of the first record, if any. JSON key `start_ns`.
    public var startNs: Int64?
    /// Timestamp of the last record, if any. JSON key `end_ns`.
    public var endNs: Int64?
    /// Free text. JSON key `description`.
    public var description: String
    /// Labels for finding sessions (`Catalog.list(tag:)`). JSON key `tags`.
    public var tags: [String]
    /// Where the session came from. JSON key `provenance`.
    public var provenance: Provenance
    /// Number of records of each kind. JSON key `counts_by_kind`.
    public var countsByKind: [String: Int]
    /// Number of records in the session. JSON key `record_count`.
    public var recordCount: Int
    /// Uncompressed record bytes. JSON key `bytes_stored`.
    public var bytesStored: Int64
    /// Bytes the session's files take on disk. JSON key `bytes_on_disk`.
    public var bytesOnDisk: Int64
    /// The session's segment files, in sequence order. JSON key `segments`.
    public var segments: [SegmentRef]
    /// Free-form key/value notes. JSON key `annotations`.
    public var annotations: [String: String]
    /// The manifest format version (1). JSON key `manifest_version`.
    public var manifestVersion: Int

    /// Where a session came from: code, configuration, models and seeds, and the tool that made it.
    public struct Provenance: Codable, Sendable, Equatable {
        /// Git commit of the code that produced the session. JSON key `git_sha`.
        public var gitSHA: String?
        /// Digest of the configuration in use. JSON key `config_digest`.
        public var configDigest: String?
        /// Identifiers of the models involved. JSON key `model_ids`.
        public var modelIDs: [String]
        /// Random seeds used. JSON key `seeds`.
        public var seeds: [Int64]
        /// User or program that created the session. JSON key `created_by`.
        public var createdBy: String?
        /// Adapter that fed the recorder. JSON key `adapter`.
        public var adapter: String?
        /// Version of that adapter. JSON key `adapter_version`.
        public var adapterVersion: String?
        /// Anything else worth keeping. JSON key `extra`.
        public var extra: [String: String]

        /// Makes a provenance; every field is optional.
        public init(
            gitSHA: String? = nil, configDigest: String? = nil, modelIDs: [String] = [],
            seeds: [Int64] = [], createdBy: String? = nil, adapter: String? = nil,
            adapterVersion: String? = nil, extra: [String: String] = [:]
        ) {
            self.gitSHA = gitSHA
            self.configDigest = configDigest
            self.modelIDs = modelIDs
            self.seeds = seeds
            self.createdBy = createdBy
            self.adapter = adapter
            self.adapterVersion = adapterVersion
            self.extra = extra
        }

        /// Stable JSON keys.
        enum CodingKeys: String, CodingKey {
            case gitSHA = "git_sha"
            case configDigest = "config_digest"
            case modelIDs = "model_ids"
            case seeds
            case createdBy = "created_by"
            case adapter
            case adapterVersion = "adapter_version"
            case extra
        }

        /// Decodes leniently: absent keys become nil or empty.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            gitSHA = try c.decodeIfPresent(String.self, forKey: .gitSHA)
            configDigest = try c.decodeIfPresent(String.self, forKey: .configDigest)
            modelIDs = try c.decodeIfPresent([String].self, forKey: .modelIDs) ?? []
            seeds = try c.decodeIfPresent([Int64].self, forKey: .seeds) ?? []
            createdBy = try c.decodeIfPresent(String.self, forKey: .createdBy)
            adapter = try c.decodeIfPresent(String.self, forKey: .adapter)
            adapterVersion = try c.decodeIfPresent(String.self, forKey: .adapterVersion)
            extra = try c.decodeIfPresent([String: String].self, forKey: .extra) ?? [:]
        }
    }

    /// One segment file of a session.
    public struct SegmentRef: Codable, Sendable, Equatable {
        /// File name relative to the session directory. JSON key `file`.
        public var file: String
        /// Sequence number of the segment's first record. JSON key `first_sequence`.
        public var firstSequence: UInt64
        /// Sequence number of the segment's last record. JSON key `last_sequence`.
        public var lastSequence: UInt64
        /// Number of records in the segment. JSON key `record_count`.
        public var recordCount: Int
        /// Size of the file on disk. JSON key `bytes_on_disk`.
        public var bytesOnDisk: Int64

        /// Makes a segment reference.
        public init(file: String, firstSequence: UInt64, lastSequence: UInt64, recordCount: Int, bytesOnDisk: Int64) {
            self.file = file
            self.firstSequence = firstSequence
            self.lastSequence = lastSequence
            self.recordCount = recordCount
            self.bytesOnDisk = bytesOnDisk
        }

        /// Stable JSON keys.
        enum CodingKeys: String, CodingKey {
            case file
            case firstSequence = "first_sequence"
            case lastSequence = "last_sequence"
            case recordCount = "record_count"
            case bytesOnDisk = "bytes_on_disk"
        }
    }

    /// Makes a manifest; only the identity, type and creation time are required.
    public init(
        id: String, name: String, type: String, status: String = "active", createdNs: Int64,
        startNs: Int64? = nil, endNs: Int64? = nil, description: String = "", tags: [String] = [],
        provenance: Provenance = Provenance(), countsByKind: [String: Int] = [:], recordCount: Int = 0,
        bytesStored: Int64 = 0, bytesOnDisk: Int64 = 0, segments: [SegmentRef] = [],
        annotations: [String: String] = [:], manifestVersion: Int = SessionManifest.currentManifestVersion
    ) {
        self.id = id
        self.name = name
        self.type = type
        self.status = status
        self.createdNs = createdNs
        self.startNs = startNs
        self.endNs = endNs
        self.description = description
        self.tags = tags
        self.provenance = provenance
        self.countsByKind = countsByKind
        self.recordCount = recordCount
        self.bytesStored = bytesStored
        self.bytesOnDisk = bytesOnDisk
        self.segments = segments
        self.annotations = annotations
        self.manifestVersion = manifestVersion
    }

    /// Stable JSON keys.
    enum CodingKeys: String, CodingKey {
        case id, name, type, status
        case createdNs = "created_ns"
        case startNs = "start_ns"
        case endNs = "end_ns"
        case description, tags, provenance
        case countsByKind = "counts_by_kind"
        case recordCount = "record_count"
        case bytesStored = "bytes_stored"
        case bytesOnDisk = "bytes_on_disk"
        case segments, annotations
        case manifestVersion = "manifest_version"
    }

    /// Decodes leniently: `id`, `name`, `type`, `status`, `created_ns` and `manifest_version` are
    /// required; every other key may be absent and then decodes as nil, zero or empty.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        name = try c.decode(String.self, forKey: .name)
        type = try c.decode(String.self, forKey: .type)
        status = try c.decode(String.self, forKey: .status)
        createdNs = try c.decode(Int64.self, forKey: .createdNs)
        startNs = try c.decodeIfPresent(Int64.self, forKey: .startNs)
        endNs = try c.decodeIfPresent(Int64.self, forKey: .endNs)
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        tags = try c.decodeIfPresent([String].self, forKey: .tags) ?? []
        provenance = try c.decodeIfPresent(Provenance.self, forKey: .provenance) ?? Provenance()
        countsByKind = try c.decodeIfPresent([String: Int].self, forKey: .countsByKind) ?? [:]
        recordCount = try c.decodeIfPresent(Int.self, forKey: .recordCount) ?? 0
        bytesStored = try c.decodeIfPresent(Int64.self, forKey: .bytesStored) ?? 0
        bytesOnDisk = try c.decodeIfPresent(Int64.self, forKey: .bytesOnDisk) ?? 0
        segments = try c.decodeIfPresent([SegmentRef].self, forKey: .segments) ?? []
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations) ?? [:]
        manifestVersion = try c.decode(Int.self, forKey: .manifestVersion)
    }

    /// Decodes a manifest from JSON bytes.
    ///
    /// Rejects input larger than `encodedSizeBytesMax`, malformed JSON, missing required keys,
    /// values of the wrong type and manifests newer than `currentManifestVersion`, each with a
    /// `.badManifest` error that names the offending key. `path`, when given, goes into the error
    /// so a user knows which manifest file to fix.
    public static func decode(from bytes: [UInt8], path: String? = nil) throws(CatalogError) -> SessionManifest {
        guard bytes.count <= encodedSizeBytesMax else {
            throw CatalogError(
                .badManifest,
                "manifest is \(bytes.count) bytes, more than the \(encodedSizeBytesMax) bytes a manifest may have; it is not a session manifest",
                path: path)
        }
        let manifest: SessionManifest
        do {
            manifest = try JSONDecoder().decode(SessionManifest.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw CatalogError(.badManifest, "manifest is not valid: \(explain(error))", path: path)
        } catch {
            throw CatalogError(.badManifest, "manifest is not valid: \(error)", path: path)
        }
        guard manifest.manifestVersion >= 1 else {
            throw CatalogError(
                .badManifest, "manifest has manifest_version \(manifest.manifestVersion); versions start at 1",
                path: path)
        }
        guard manifest.manifestVersion <= currentManifestVersion else {
            throw CatalogError(
                .badManifest,
                "manifest has manifest_version \(manifest.manifestVersion), newer than the \(currentManifestVersion) this rrlog reads; upgrade rrlog",
                path: path)
        }
        return manifest
    }

    /// The manifest as JSON: keys sorted and pretty printed, so equal manifests give equal bytes
    /// and the file reads well in a diff.
    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(self))
        } catch {
            // Only non-finite floating-point values make JSONEncoder fail, and a manifest has none.
            preconditionFailure("encoding a SessionManifest cannot fail: \(error)")
        }
    }

    /// A sentence naming the key and the problem of a decoding failure.
    private static func explain(_ error: DecodingError) -> String {
        func keyPath(_ path: [any CodingKey]) -> String {
            var text = ""
            for key in path {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += (text.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return text
        }
        if case .keyNotFound(let key, let context) = error {
            return "required key '\(keyPath(context.codingPath + [key]))' is missing"
        }
        if case .typeMismatch(let type, let context) = error {
            if context.codingPath.isEmpty { return "the manifest must be a JSON object" }
            return "key '\(keyPath(context.codingPath))' holds a value of the wrong type (expected \(type))"
        }
        if case .valueNotFound(let type, let context) = error {
            if context.codingPath.isEmpty { return "the manifest must be a JSON object" }
            return "key '\(keyPath(context.codingPath))' is null (expected \(type))"
        }
        if case .dataCorrupted(let context) = error, !context.codingPath.isEmpty {
            return "key '\(keyPath(context.codingPath))': \(context.debugDescription)"
        }
        // Some decoders report a number that does not fit its key without naming the key.
        return "not well-formed JSON, or a number too large or negative for its key"
    }
}

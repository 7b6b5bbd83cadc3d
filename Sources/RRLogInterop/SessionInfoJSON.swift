import Foundation
public import RRLogCatalog
import RRLogFormat

/// A session as JSON: the stable shape of `rrlog ls --json`, `rrlog info --json` and the server's
/// `/api/v1/sessions` (README "JSON output"). Times are ISO 8601 with fractions of a second.
public struct SessionInfoJSON: Codable, Sendable, Equatable {
    public var id, name, type, status: String
    public var created: String
    public var start: String?
    public var end: String?
    public var records: Int
    public var bytes_stored: Int64
    public var bytes_on_disk: Int64
    public var compression_ratio: Double?
    public var counts_by_kind: [String: Int]
    public var segments: Int
    public var description: String
    public var tags: [String]
    public var provenance: SessionManifest.Provenance
    public var annotations: [String: String]

    /// The JSON of `m`.
    public init(_ m: SessionManifest) {
        id = m.id
        name = m.name
        type = m.type
        status = m.status
        created = Self.time(m.createdNs)
        start = m.startNs.map(Self.time)
        end = m.endNs.map(Self.time)
        records = m.recordCount
        bytes_stored = m.bytesStored
        bytes_on_disk = m.bytesOnDisk
        compression_ratio = m.bytesOnDisk > 0 ? (Double(m.bytesStored) / Double(m.bytesOnDisk) * 100).rounded() / 100 : nil
        counts_by_kind = m.countsByKind
        segments = m.segments.count
        description = m.description
        tags = m.tags
        provenance = m.provenance
        annotations = m.annotations
    }

    /// Nanoseconds since the epoch as ISO 8601 with fractions of a second, in UTC.
    public static func time(_ ns: Int64) -> String {
        // By arithmetic rather than an ISO8601DateFormatter, which costs tens of microseconds to
        // make (a page of 100 sessions formats 300 times). Milliseconds, rounded down, UTC.
        let ms = ns >= 0 ? ns / 1_000_000 : -((-(ns + 1)) / 1_000_000) - 1
        let seconds = ms >= 0 ? ms / 1000 : -((-(ms + 1)) / 1000) - 1
        let t = CivilTime(unixSeconds: seconds)
        let pad = CivilTime.pad
        return pad(t.year, 4) + "-" + pad(t.month, 2) + "-" + pad(t.day, 2) + "T" + pad(t.hour, 2) + ":" + pad(t.minute, 2) + ":"
            + pad(t.second, 2) + "." + pad(ms - seconds * 1000, 3) + "Z"
    }
}

import Foundation
public import RRLogCatalog

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
        // make (a page of 100 sessions formats 300 times). Milliseconds, rounded down, UTC; the
        // proleptic Gregorian calendar (days to a civil date as in Howard Hinnant's algorithm).
        let ms = ns >= 0 ? ns / 1_000_000 : -((-(ns + 1)) / 1_000_000) - 1
        let seconds = ms >= 0 ? ms / 1000 : -((-(ms + 1)) / 1000) - 1
        let milli = ms - seconds * 1000
        let days = seconds >= 0 ? seconds / 86400 : -((-(seconds + 1)) / 86400) - 1
        let secondOfDay = seconds - days * 86400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ v: Int64, _ width: Int) -> String {
            let digits = String(v)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":"
            + pad(secondOfDay % 60, 2) + "." + pad(milli, 3) + "Z"
    }
}

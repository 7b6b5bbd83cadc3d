import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog

/// Options every store command takes.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The store directory (default: $RRLOG_STORE, else ./rrlog-data).")
    var store: String?

    func open(create: Bool = false) throws -> Store {
        do { return try Store(path: store, create: create) } catch { throw CommandFailure(message: error.description) }
    }
}

/// Runs `body`, turning library errors into a message and exit code 1.
func reporting<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as RRLogError {
        throw CommandFailure(message: e.description)
    } catch let e as CommandFailure {
        throw e
    }
}

func formatTime(_ ns: Int64?) -> String {
    guard let ns else { return "-" }
    let date = Date(timeIntervalSince1970: Double(ns) / 1e9)
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: date)
}

/// Parses a time given as nanoseconds since the epoch or as an ISO 8601 date.
func parseTime(_ text: String, option: String) throws -> Int64 {
    if let ns = Int64(text) { return ns }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = f.date(from: text), abs(d.timeIntervalSince1970) < 9.2e9 { return Int64(d.timeIntervalSince1970 * 1e9) }
    f.formatOptions = [.withInternetDateTime]
    if let d = f.date(from: text), abs(d.timeIntervalSince1970) < 9.2e9 { return Int64(d.timeIntervalSince1970 * 1e9) }
    throw ValidationError("\(option) takes nanoseconds since the epoch or an ISO 8601 time like 2026-01-02T03:04:05Z, not '\(text)'")
}

/// The JSON shape of a session in `ls --json` and `info --json` (stable; README "JSON output").
struct SessionJSON: Encodable {
    var id, name, type, status: String
    var created: String
    var start: String?
    var end: String?
    var records: Int
    var bytes_stored: Int64
    var bytes_on_disk: Int64
    var compression_ratio: Double?
    var counts_by_kind: [String: Int]
    var segments: Int
    var description: String
    var tags: [String]
    var provenance: SessionManifest.Provenance
    var annotations: [String: String]

    init(_ m: SessionManifest) {
        id = m.id
        name = m.name
        type = m.type
        status = m.status
        created = formatTime(m.createdNs)
        start = m.startNs.map { formatTime($0) }
        end = m.endNs.map { formatTime($0) }
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
}

import Foundation
import RRLog
import RRLogInterop

/// An event-recorder JSON file named where a session is expected (`rrlog info FILE`, `rrlog
/// timeline FILE`): read and shown without importing it.
enum EventFile {
    /// True when `argument` is the path of an existing regular file (which then wins over a
    /// session of the same name).
    static func names(_ argument: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// The file's top-level members and its events in time order.
    static func load(_ path: String) throws -> (header: [String: JSONValue], events: [BusEvent]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure(message: "\(path): cannot read the file")
        }
        return try reporting { try EventRecorderFormat.events(from: Array(data), file: path) }
    }

    /// What `rrlog info FILE` prints.
    static func info(_ path: String, json: Bool) throws {
        let (header, events) = try load(path)
        var names: [String: Int] = [:]
        var sources: [String: Int] = [:]
        for e in events {
            names[e.name, default: 0] += 1
            sources[e.source, default: 0] += 1
        }
        let spanMs = Double((events.last?.offsetNs ?? 0)) / 1e6
        if json {
            struct Info: Encodable {
                var file: String
                var session_name: String?
                var start_time: String?
                var duration_ms: Double
                var total_events: Int
                var counts_by_event_name: [String: Int]
                var counts_by_source: [String: Int]
            }
            try Output.json(Info(
                file: path, session_name: header["session_name"]?.stringValue, start_time: header["start_time"]?.stringValue,
                duration_ms: spanMs, total_events: events.count, counts_by_event_name: names, counts_by_source: sources))
            return
        }
        Output.line("file         \(path) (event-recorder JSON, not imported)")
        if let name = header["session_name"]?.stringValue { Output.line("session      \(name)") }
        if let start = header["start_time"]?.stringValue { Output.line("start        \(start)") }
        Output.line(String(format: "duration     %.3f s (first to last event)", spanMs / 1e3))
        Output.line("events       \(events.count)")
        let width = max(14, names.keys.map(\.count).max() ?? 0)
        for (name, n) in names.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
            Output.line("  \(name.padding(toLength: width, withPad: " ", startingAt: 0)) \(n)")
        }
        Output.line("sources      " + sources.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.key.isEmpty ? "(none)" : $0.key) \($0.value)" }.joined(separator: ", "))
    }
}

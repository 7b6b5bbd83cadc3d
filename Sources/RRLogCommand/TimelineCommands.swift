import ArgumentParser
import Foundation
import RRLog
import RRLogFormat

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline", abstract: "Print a session's records as a timeline (offset from the first record).")

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice

    @Option(help: "Print at most this many lines.")
    var limit: Int = 50

    @Flag(help: "Also list stream chunks (by default a stream is one line).")
    var chunks = false

    func validate() throws { if limit < 0 { throw ValidationError("--limit must be at least 0") } }

    func run() throws {
        if EventFile.names(choice.selector) {
            let (_, events) = try EventFile.load(choice.selector)
            for event in events.prefix(limit) { Output.line(event.timelineLine()) }
            return
        }
        let store = try storeOptions.open()
        try reporting {
            let reader = try store.openReader(try choice.manifest(in: store))
            var first: Int64?
            var printed = 0
            reader.forEach { view in
                if printed >= limit { return false }
                let kind = RecordKind(rawValue: view.kind)
                if kind == .chunk && !chunks { return true }
                let start = first ?? view.timestampNs
                first = start
                let line = (try? JSONValue.parse(Array(view.payload))) ?? .null
                let what: String
                switch kind {
                case .event?:
                    what = "\(line["io_type"]?.stringValue ?? "?") \(line["tool_name"]?.stringValue ?? "?") agent=\(line["agent_id"]?.stringValue ?? "")"
                case .streamStart?:
                    what = "\(line["stream_id"]?.stringValue ?? "?") \(line["io_type"]?.stringValue ?? "?") \(line["tool_name"]?.stringValue ?? "?") agent=\(line["agent_id"]?.stringValue ?? "")"
                case .streamFinish?:
                    what = "\(line["stream_id"]?.stringValue ?? "?") \(line["total_chunks"]?.int64Value.map { "\($0) chunks" } ?? "")"
                case .chunk?:
                    what = "\(line["stream_id"]?.stringValue ?? "?") #\(line["index"]?.int64Value ?? 0) \(line["content"]?.stringValue ?? "")"
                case .checkpoint?:
                    what = line["label"]?.stringValue ?? ""
                case .busEvent?:
                    let data = (line["event_data"] ?? .null).serialized()
                    let shown = data.count > 80 ? String(data.prefix(79)) + "…" : data
                    what = "\(line["event_name"]?.stringValue ?? "?") from \(line["source"]?.stringValue ?? "?")  \(shown)"
                default:
                    what = "\(view.payload.count) bytes"
                }
                Output.line(String(format: "%+12.3f ms  %-13@ %@", Double(view.timestampNs - start) / 1e6, RecordKind.name(of: view.kind), what))
                printed += 1
                return true
            }
        }
    }
}

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary", abstract: "Count a session's records by kind, by IO call and by event name; time its streams.")

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let store = try storeOptions.open()
        try reporting {
            let manifest = try choice.manifest(in: store)
            let reader = try store.openReader(manifest)
            var byKind: [String: Int] = [:]
            var byCall: [String: Int] = [:]
            var byEvent: [String: Int] = [:]
            var first: Int64?
            var last: Int64?
            var collector = RecordedStream.Collector()
            reader.forEach { view in
                byKind[RecordKind.name(of: view.kind), default: 0] += 1
                collector.add(kind: view.kind, timestampNs: view.timestampNs, payload: view.payload)
                first = min(first ?? view.timestampNs, view.timestampNs)
                last = max(last ?? view.timestampNs, view.timestampNs)
                let kind = RecordKind(rawValue: view.kind)
                if kind == .event || kind == .streamStart || kind == .busEvent, let line = try? JSONValue.parse(Array(view.payload)) {
                    if kind == .busEvent {
                        byEvent[line["event_name"]?.stringValue ?? "?", default: 0] += 1
                    } else {
                        byCall["\(line["io_type"]?.stringValue ?? "?")/\(line["tool_name"]?.stringValue ?? "?")", default: 0] += 1
                    }
                }
                return true
            }
            let span = Double((last ?? 0) - (first ?? 0)) / 1e9
            let streams = collector.streams
            if json {
                struct Stream: Encodable {
                    var stream_id, io_type, tool_name, agent_id: String
                    var chunks: Int
                    var time_to_first_chunk_ms, chunks_per_second, gap_p50_ms, gap_p99_ms: Double?
                }
                struct Summary: Encodable {
                    var session: String
                    var records: Int
                    var duration_seconds: Double
                    var by_kind, by_call, by_event: [String: Int]
                    var streams: [Stream]
                }
                let timed = streams.map { s in
                    Stream(
                        stream_id: s.id, io_type: s.ioType, tool_name: s.tool, agent_id: s.agent, chunks: s.chunks.count,
                        time_to_first_chunk_ms: s.timeToFirstChunkMs, chunks_per_second: s.chunksPerSecond,
                        gap_p50_ms: RecordedStream.quantile(s.gapsMs, 0.5), gap_p99_ms: RecordedStream.quantile(s.gapsMs, 0.99))
                }
                try Output.json(Summary(
                    session: manifest.name, records: reader.recordCount, duration_seconds: span, by_kind: byKind, by_call: byCall, by_event: byEvent,
                    streams: timed))
                return
            }
            Output.line("\(manifest.name): \(reader.recordCount) records over \(String(format: "%.3f", span)) s")
            for (title, counts) in [("by kind", byKind), ("by call (io type/tool)", byCall), ("by event name", byEvent)] where !counts.isEmpty {
                Output.line(title)
                for (name, n) in counts.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
                    Output.line("  " + name.padding(toLength: 32, withPad: " ", startingAt: 0) + String(n).leftPad(8))
                }
            }
            if !streams.isEmpty {
                Output.line("streams (time to first chunk, chunks per second, gaps between chunks)")
                for line in StreamCommand.table(Array(streams.prefix(20))) { Output.line("  " + line) }
                if streams.count > 20 { Output.line("  … \(streams.count - 20) more ('rrlog stream \(manifest.name)' lists them all)") }
            }
        }
    }
}

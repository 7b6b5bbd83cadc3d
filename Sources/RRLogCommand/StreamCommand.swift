import ArgumentParser
import Foundation
import RRLog
import RRLogFormat

/// One recorded stream (an LLM call answered in chunks) and its timing.
struct RecordedStream {
    var id: String
    var ioType = "", tool = "", agent = ""
    var startNs: Int64?
    var finishNs: Int64?
    /// (timestamp, content) of each chunk, in the order recorded.
    var chunks: [(ns: Int64, content: String)] = []

    /// Milliseconds from the stream's start to its first chunk.
    var timeToFirstChunkMs: Double? {
        guard let startNs, let first = chunks.first?.ns else { return nil }
        return Double(first - startNs) / 1e6
    }

    /// Chunks per second from the first chunk to the last.
    var chunksPerSecond: Double? {
        guard chunks.count >= 2, let first = chunks.first?.ns, let last = chunks.last?.ns, last > first else { return nil }
        return Double(chunks.count - 1) / (Double(last - first) / 1e9)
    }

    /// The gaps between consecutive chunks, milliseconds, sorted.
    var gapsMs: [Double] { zip(chunks.dropFirst(), chunks).map { Double($0.ns - $1.ns) / 1e6 }.sorted() }

    /// The `q` quantile of the sorted `values` (nearest rank).
    static func quantile(_ values: [Double], _ q: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        return values[min(values.count - 1, max(0, Int((q * Double(values.count)).rounded(.up)) - 1))]
    }

    /// The streams of `reader`'s session, in the order they started.
    static func all(in reader: SessionReader) -> [RecordedStream] {
        var collector = Collector()
        reader.forEach(kinds: Collector.kinds) { view in
            collector.add(kind: view.kind, timestampNs: view.timestampNs, payload: view.payload)
            return true
        }
        return collector.streams
    }

    /// Gathers streams from records given one at a time, so that a pass over a session made for
    /// something else (`rrlog summary`) times its streams too.
    struct Collector {
        static let kinds: Set<UInt16> = [RecordKind.streamStart.rawValue, RecordKind.chunk.rawValue, RecordKind.streamFinish.rawValue]
        private var order: [String] = []
        private var byID: [String: RecordedStream] = [:]

        /// Takes a record; those of other kinds are ignored.
        mutating func add(kind: UInt16, timestampNs: Int64, payload: UnsafeRawBufferPointer) {
            guard Self.kinds.contains(kind), let line = try? JSONValue.parse(payload), let id = line["stream_id"]?.stringValue else { return }
            if byID[id] == nil {
                order.append(id)
                byID[id] = RecordedStream(id: id)
            }
            switch RecordKind(rawValue: kind) {
            case .streamStart?:
                byID[id]?.startNs = timestampNs
                byID[id]?.ioType = line["io_type"]?.stringValue ?? ""
                byID[id]?.tool = line["tool_name"]?.stringValue ?? ""
                byID[id]?.agent = line["agent_id"]?.stringValue ?? ""
            case .chunk?:
                byID[id]?.chunks.append((timestampNs, line["content"]?.stringValue ?? ""))
            default:
                byID[id]?.finishNs = timestampNs
            }
        }

        /// The streams, in the order they started.
        var streams: [RecordedStream] { order.compactMap { byID[$0] } }
    }
}

/// `rrlog stream`: plays a recorded stream back with its timing, or lists a session's streams.
struct StreamCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream", abstract: "Play a recorded stream's chunks back as they were received, or list a session's streams.",
        discussion: """
            With a stream id, prints the stream's chunks to standard output with the recorded gaps \\
            between them (divided by --speed; --fast: no waiting), then its timing on standard error. \\
            Without one, lists the session's streams: call, chunks, time to the first chunk, chunks per \\
            second and the gaps between chunks (p50, p99).
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "Session name, id or strategy (or --session), then the stream's id (stream_id); omit the id to list the streams.")
    var arguments: [String] = []

    @OptionGroup var sessionFlags: SessionFlags

    var session: String { sessionFlags.split(arguments).session }
    var streamID: String? { sessionFlags.split(arguments).second }

    @Option(help: "Playback speed, 0.1 to 100.")
    var speed: Double = 1

    @Flag(help: "No waiting between chunks.")
    var fast = false

    func validate() throws {
        try sessionFlags.check(arguments, then: "the stream id", optional: true)
        guard (0.1...100).contains(speed) else { throw ValidationError("--speed must be between 0.1 and 100") }
    }

    func run() async throws {
        let store = try storeOptions.open()
        let (manifest, streams) = try reporting {
            let manifest = try store.session(session, type: sessionFlags.type)
            return (manifest, RecordedStream.all(in: try store.openReader(manifest)))
        }
        guard let streamID else {
            if streams.isEmpty { throw CommandFailure(message: "session \(manifest.name) has no streams") }
            for line in Self.table(streams) { Output.line(line) }
            return
        }
        guard let stream = streams.first(where: { $0.id == streamID }) else {
            let known = streams.prefix(5).map(\.id).joined(separator: ", ")
            throw CommandFailure(message: "session \(manifest.name) has no stream '\(streamID)'" + (known.isEmpty ? " (it has no streams)" : " (it has \(streams.count): \(known)\(streams.count > 5 ? ", …" : ""))"))
        }
        var previous = stream.startNs ?? stream.chunks.first?.ns ?? 0
        for chunk in stream.chunks {
            if !fast, chunk.ns > previous {
                try await Task.sleep(for: .nanoseconds(Int64(Double(chunk.ns - previous) / speed)))
            }
            previous = chunk.ns
            FileHandle.standardOutput.write(Data(chunk.content.utf8))
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        FileHandle.standardError.write(Data((Self.describe(stream) + "\n").utf8))
    }

    /// One line of timing for `stream`.
    static func describe(_ s: RecordedStream) -> String {
        func ms(_ v: Double?) -> String { v.map { String(format: "%.1f ms", $0) } ?? "-" }
        let gaps = s.gapsMs
        return "\(s.id) \(s.ioType)/\(s.tool) agent=\(s.agent): \(s.chunks.count) chunks, first after \(ms(s.timeToFirstChunkMs)), "
            + (s.chunksPerSecond.map { String(format: "%.1f chunks/s", $0) } ?? "- chunks/s")
            + ", gaps p50 \(ms(RecordedStream.quantile(gaps, 0.5))) p99 \(ms(RecordedStream.quantile(gaps, 0.99)))"
    }

    static func table(_ streams: [RecordedStream]) -> [String] { streams.map(describe) }
}

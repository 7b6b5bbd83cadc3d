import ArgumentParser
import Foundation
import RRLog
import RRLogFormat

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
            Output.write(Data(chunk.content.utf8))
        }
        Output.write(Data("\n".utf8))
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

import RRLogFormat
import RRLogIOProfile
import RRLogJSON

/// One recorded stream (an LLM call answered in chunks) and its timing.
package struct RecordedStream: Sendable {
    package var id: String
    package var ioType = "", tool = "", agent = ""
    package var startNs: Int64?
    package var finishNs: Int64?
    /// (timestamp, content) of each chunk, in the order recorded.
    package var chunks: [(ns: Int64, content: String)] = []

    /// Milliseconds from the stream's start to its first chunk.
    package var timeToFirstChunkMs: Double? {
        guard let startNs, let first = chunks.first?.ns else { return nil }
        return Double(first - startNs) / 1e6
    }

    /// Chunks per second from the first chunk to the last.
    package var chunksPerSecond: Double? {
        guard chunks.count >= 2, let first = chunks.first?.ns, let last = chunks.last?.ns, last > first else { return nil }
        return Double(chunks.count - 1) / (Double(last - first) / 1e9)
    }

    /// The gaps between consecutive chunks, milliseconds, sorted.
    package var gapsMs: [Double] { zip(chunks.dropFirst(), chunks).map { Double($0.ns - $1.ns) / 1e6 }.sorted() }

    /// The `q` quantile of the sorted `values` (nearest rank).
    package static func quantile(_ values: [Double], _ q: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        return values[min(values.count - 1, max(0, Int((q * Double(values.count)).rounded(.up)) - 1))]
    }

    /// The streams of `reader`'s session, in the order they started.
    package static func all(in reader: SessionReader) -> [RecordedStream] {
        var collector = Collector()
        reader.forEach(kinds: Collector.kinds) { view in
            collector.add(kind: view.kind, timestampNs: view.timestampNs, payload: view.payload)
            return true
        }
        return collector.streams
    }

    /// Gathers streams from records given one at a time, so that a pass over a session made for
    /// something else (`rrlog summary`) times its streams too.
    package struct Collector {
        package static let kinds: Set<UInt16> = [RecordKind.streamStart.rawValue, RecordKind.chunk.rawValue, RecordKind.streamFinish.rawValue]
        private var order: [String] = []
        private var byID: [String: RecordedStream] = [:]

        /// No streams yet.
        package init() {}

        /// Takes a record; those of other kinds are ignored.
        package mutating func add(kind: UInt16, timestampNs: Int64, payload: UnsafeRawBufferPointer) {
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
        package var streams: [RecordedStream] { order.compactMap { byID[$0] } }
    }
}

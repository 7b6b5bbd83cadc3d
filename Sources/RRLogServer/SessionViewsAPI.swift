import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogInterop
import Synchronization

/// The views of one session under `/api/v1/sessions/<name>/…` that the dashboard draws: a
/// timeline of buckets computed from chunk summaries, a trace's span tree, a stream's chunks with
/// their offsets, an export streamed as it is made, verify, and a live tail (Server-Sent Events).
struct SessionViewsAPI {
    let state: ServerState

    func register(on router: Router<BasicRequestContext>) {
        let v1 = router.group("/api/v1/sessions/:name")
        v1.get("/timeline") { request, context in try timeline(try context.parameters.required("name"), Query(request: request)) }
        v1.get("/traces/:trace") { _, context in
            try trace(try context.parameters.required("name"), try context.parameters.required("trace"))
        }
        v1.get("/streams") { _, context in try streams(try context.parameters.required("name"), only: nil) }
        v1.get("/streams/:stream") { _, context in
            try streams(try context.parameters.required("name"), only: try context.parameters.required("stream"))
        }
        v1.get("/export") { request, context in try export(try context.parameters.required("name"), Query(request: request)) }
        v1.get("/verify") { _, context in try await verify(try context.parameters.required("name")) }
        v1.get("/tail") { request, context in try tail(try context.parameters.required("name"), request) }
    }

    // MARK: Timeline

    /// `?buckets=500&from_ns=&to_ns=&group=agent&top=12`: record counts in equal slices of the
    /// window, one lane per group value (`SessionTimelines`).
    func timeline(_ name: String, _ query: Query) throws -> Response {
        let manifest = try state.session(name)
        var q = TimelineQuery()
        q.buckets = try query.int("buckets", in: 1...TimelineQuery.maxBuckets, default: 500)!
        q.topGroups = try query.int("top", in: 1...100, default: 12)!
        q.fromNs = try query.int("from_ns", in: Int(Int64.min)...Int(Int64.max)).map(Int64.init)
        q.toNs = try query.int("to_ns", in: Int(Int64.min)...Int(Int64.max)).map(Int64.init)
        if let from = q.fromNs, let to = q.toNs, to <= from { throw Problem(.badRequest, "to_ns must be after from_ns") }
        if let group = query.raw("group") {
            guard let g = TimelineGrouping(rawValue: group) else {
                throw Problem(.badRequest, "group must be one of \(TimelineGrouping.allCases.map(\.rawValue).joined(separator: ", ")), not '\(group)'")
            }
            q.group = g
        }
        let t: Timeline
        do throws(RRLogError) { t = try state.timelines.timeline(of: manifest, q) } catch { throw Problem(error) }
        return JSONReply.value([
            "session": .string(manifest.name), "from_ns": .int(t.fromNs), "to_ns": .int(t.toNs), "bucket_ns": .int(t.bucketNs),
            "group": q.group.map { .string($0.rawValue) } ?? .null, "exact": .bool(t.exact), "chunks": .int(Int64(t.chunks)),
            "counts": .array(t.counts.map { .int(Int64($0)) }),
            "lanes": .array(t.lanes.map { ["name": .string($0.name), "total": .int(Int64($0.total)), "counts": .array($0.counts.map { .int(Int64($0)) })] }),
        ])
    }

    // MARK: Traces and streams

    /// A trace's spans in tree order with their depth (the waterfall), through the trace index.
    func trace(_ name: String, _ traceID: String) throws -> Response {
        let manifest = try state.session(name)
        let id = traceID.lowercased()
        guard id.count == 32, id.allSatisfy(\.isHexDigit) else { throw Problem(.badRequest, "a trace id is 32 hex digits, not '\(traceID)'") }
        let spans: [OTLPSpan]
        do throws(RRLogError) { spans = try OTLPExporter.spans(traceID: id, in: manifest, from: state.store) } catch { throw Problem(error) }
        guard !spans.isEmpty else { throw Problem(.notFound, "session \(manifest.name) has no span of trace \(id)") }
        let rows: [JSONValue] = OTLPSpan.tree(spans).map { row in
            let s = row.span
            return [
                "depth": .int(Int64(row.depth)), "span_id": .string(s.spanID), "parent_span_id": .string(s.parentSpanID), "name": .string(s.name),
                "kind": .int(Int64(s.kind)), "start_ns": .int(Int64(clamping: s.startTimeUnixNano)), "duration_ns": .int(Int64(clamping: s.durationNs)),
                "service": s.serviceName.map(JSONValue.string) ?? .null, "scope": .string(s.scopeName), "status_code": .int(Int64(s.statusCode)),
                "status_message": .string(s.statusMessage), "attributes": .object(s.attributes),
            ]
        }
        return JSONReply.value(["session": .string(manifest.name), "trace_id": .string(id), "spans": .array(rows)])
    }

    /// The session's streams with their timing, or one stream's chunks with each one's offset
    /// from the stream's start (what `rrlog stream` plays).
    func streams(_ name: String, only id: String?) throws -> Response {
        let manifest = try state.session(name)
        let reader: SessionReader
        do throws(RRLogError) { reader = try state.store.openReader(manifest) } catch { throw Problem(error) }
        let all = RecordedStream.all(in: reader)
        func summary(_ s: RecordedStream) -> [String: JSONValue] {
            [
                "stream_id": .string(s.id), "io_type": .string(s.ioType), "tool_name": .string(s.tool), "agent_id": .string(s.agent),
                "start_ns": s.startNs.map(JSONValue.int) ?? .null, "finish_ns": s.finishNs.map(JSONValue.int) ?? .null,
                "chunks": .int(Int64(s.chunks.count)), "first_chunk_ms": s.timeToFirstChunkMs.map(JSONValue.double) ?? .null,
                "chunks_per_second": s.chunksPerSecond.map(JSONValue.double) ?? .null,
            ]
        }
        guard let id else {
            return JSONReply.value(["session": .string(manifest.name), "streams": .array(all.map { .object(summary($0)) })])
        }
        guard let stream = all.first(where: { $0.id == id }) else { throw Problem(.notFound, "session \(manifest.name) has no stream '\(id)'") }
        var out = summary(stream)
        let origin = stream.startNs ?? stream.chunks.first?.ns ?? 0
        out["chunk_list"] = .array(stream.chunks.map { ["offset_ns": .int($0.ns &- origin), "content": .string($0.content)] })
        return JSONReply.value(.object(out))
    }

    // MARK: Export and verify

    static let exportFormats = ["jsonl", "events-json", "otlp-json"]

    /// `?format=jsonl|events-json|otlp-json`: the session exported as `rrlog export` writes it,
    /// streamed while it is made: a thread writes pieces of about 64 KiB, at most a few ahead of
    /// the client, so the server's memory stays flat whatever the session's size.
    func export(_ name: String, _ query: Query) throws -> Response {
        let manifest = try state.session(name)
        let content = SessionContent(manifest)
        let format: String
        if let asked = query.raw("format") {
            guard Self.exportFormats.contains(asked) else {
                throw Problem(.badRequest, "format must be one of \(Self.exportFormats.joined(separator: ", ")), not '\(asked)'")
            }
            format = asked
        } else {
            switch content {
            case .ioEvents: format = "jsonl"
            case .busEvents: format = "events-json"
            case .otlp: format = "otlp-json"
            default: throw Problem(.unprocessableContent, "session \(manifest.name) holds \(content.rawValue): choose a format (\(Self.exportFormats.joined(separator: ", ")))")
            }
        }
        let fits: Bool
        switch format {
        case "jsonl": fits = content == .ioEvents || content == .mixed
        case "events-json": fits = content == .busEvents || content == .mixed
        default: fits = content == .otlp || content == .mixed
        }
        guard fits else { throw Problem(.unprocessableContent, "session \(manifest.name) holds \(content.rawValue), nothing to export as \(format)") }
        let store = state.store
        let produce: @Sendable (([UInt8]) throws(RRLogError) -> Void) throws(RRLogError) -> Void = { write throws(RRLogError) in
            switch format {
            case "jsonl": _ = try IOJSONLines.export(manifest, from: store, to: write)
            case "events-json": _ = try EventRecorderFormat.write(manifest, from: store, to: write)
            default: _ = try OTLPExporter.writeJSONLines(manifest, from: store, filter: OTLPExportFilter(), to: write)
            }
        }
        let type = format == "events-json" ? "application/json" : "application/x-ndjson"
        let file = manifest.name.filter { $0.isLetter || $0.isNumber || "-_.".contains($0) } + (format == "events-json" ? ".json" : ".jsonl")
        return Response(
            status: .ok,
            headers: [.contentType: type, .cacheControl: "no-store", .contentDisposition: "attachment; filename=\"\(file)\""],
            body: ResponseBody { writer in try await ProducerPipe.stream(produce, to: &writer) })
    }

    /// The session's verify report, as `rrlog verify --json` prints it (paths relative to the store).
    func verify(_ name: String) async throws -> Response {
        let manifest = try state.session(name)
        let store = state.store
        let report: SessionVerifyReport = try await Task.detached {
            do throws(RRLogError) { return try store.verify(manifest) } catch { throw Problem(error) }
        }.value
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var text = String(decoding: try encoder.encode(report), as: UTF8.self)
        text = text.replacingOccurrences(of: store.path + "/", with: "")
        var answer = try JSONValue.parse(Array(text.utf8))
        if case .object(var members) = answer {
            members["clean"] = .bool(report.isClean)
            members["fully_checked"] = .bool(report.log.isFullyChecked)
            answer = .object(members)
        }
        return JSONReply.value(answer)
    }

    // MARK: Live tail

    /// Server-Sent Events: every record after `after` (or the `Last-Event-ID` the browser sends
    /// when it reconnects) as an event `record` whose id is its sequence, then new ones as they
    /// are written, until the session is no longer being written (event `end`). A comment every
    /// 15 s keeps proxies from closing the connection. At most `maxEventStreams` at once (503).
    func tail(_ name: String, _ request: Request) throws -> Response {
        let manifest = try state.session(name)
        let query = Query(request: request)
        var after = try query.int("after", in: -1...Int.max, default: -1)!
        if let last = request.headers[HTTPField.Name("Last-Event-ID")!], let n = Int(last), n >= 0 { after = n }
        guard state.eventStreams.take(limit: state.options.maxEventStreams) else {
            var problem = Problem(.serviceUnavailable, "\(state.options.maxEventStreams) live streams are open; close one or try later")
            problem.headers[.retryAfter] = "5"
            throw problem
        }
        let reader: SessionReader
        do throws(RRLogError) { reader = try state.store.openReader(manifest) } catch {
            state.eventStreams.give()
            throw Problem(error)
        }
        let state = self.state
        let start = after < 0 ? UInt64(0) : UInt64(after) + 1
        let body = ResponseBody { [reader = SendableReader(reader)] writer in
            defer { state.eventStreams.give() }
            var next = start
            var quiet = ContinuousClock.now
            while true {
                var pieces: [UInt8] = []
                var sent = 0
                reader.reader.forEach(fromSequence: next) { view in
                    pieces.append(contentsOf: "id: \(view.sequence)\nevent: record\ndata: ".utf8)
                    pieces.append(contentsOf: SessionsAPI.json(view, line: SessionsAPI.line(view)).serializedBytes())
                    pieces.append(contentsOf: "\n\n".utf8)
                    next = view.sequence + 1
                    sent += 1
                    return pieces.count < 1 << 20
                }
                if !pieces.isEmpty {
                    try await writer.write(ByteBuffer(bytes: pieces))
                    quiet = .now
                }
                if sent > 0 { continue }
                let current = try? state.store.session(manifest.id)
                if current?.status != "active" {
                    // Written to the end: one last refresh picks up what the writer's close flushed.
                    try? reader.reader.refresh()
                    var rest = 0
                    reader.reader.forEach(fromSequence: next) { _ in rest += 1; return false }
                    if rest > 0 { continue }
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {\"status\":\"\(current?.status ?? "removed")\"}\n\n"))
                    break
                }
                if ContinuousClock.now - quiet > .seconds(15) {
                    try await writer.write(ByteBuffer(string: ": still here\n\n"))
                    quiet = .now
                }
                try await Task.sleep(for: .milliseconds(200))
                try? reader.reader.refresh()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }
}

/// A session reader handed to one response body, which alone uses it.
struct SendableReader: @unchecked Sendable {
    let reader: SessionReader
    init(_ reader: SessionReader) { self.reader = reader }
}

/// Set once the client of a streamed body has gone.
final class GoneFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// A count of open live streams, bounded.
final class StreamSlots: Sendable {
    private let open = Atomic<Int>(0)

    /// Takes a slot; false when `limit` are taken.
    func take(limit: Int) -> Bool {
        var current = open.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = open.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives a slot back.
    func give() { open.subtract(1, ordering: .acquiringAndReleasing) }

    /// Slots taken now.
    var count: Int { open.load(ordering: .relaxed) }
}

/// Bytes made by blocking code (an exporter writing to a sink) on a thread of its own, sent as a
/// response body as they come: the thread waits while `depth` pieces are on their way, and stops
/// (its sink throws) once the client has gone.
enum ProducerPipe {
    static let depth = 4

    static func stream(
        _ produce: @escaping @Sendable (([UInt8]) throws(RRLogError) -> Void) throws(RRLogError) -> Void,
        to writer: inout any ResponseBodyWriter
    ) async throws {
        let (pieces, continuation) = AsyncStream<[UInt8]?>.makeStream()
        let room = DispatchSemaphore(value: depth)
        let gone = GoneFlag()
        let thread = Thread {
            var piece: [UInt8] = []
            let send = { (bytes: [UInt8]) throws(RRLogError) in
                piece.append(contentsOf: bytes)
                guard piece.count >= 64 << 10 else { return }
                room.wait()
                if gone.value.load(ordering: .acquiring) { throw RRLogError(.invalidArgument, "the client went away") }
                continuation.yield(piece)
                piece.removeAll(keepingCapacity: true)
            }
            do throws(RRLogError) {
                try produce(send)
                if !piece.isEmpty { continuation.yield(piece) }
                continuation.finish()
            } catch {
                // A failure after the status line was sent: the connection is closed without the
                // end of the body, which a client sees as a truncated download.
                continuation.yield(nil)
                continuation.finish()
            }
        }
        thread.start()
        do {
            for await piece in pieces {
                guard let piece else { throw Problem(.internalServerError, "the export failed part way") }
                try await writer.write(ByteBuffer(bytes: piece))
                room.signal()
            }
        } catch {
            gone.value.store(true, ordering: .releasing)
            for _ in 0..<depth + 1 { room.signal() }
            throw error
        }
        try await writer.finish(nil)
    }
}

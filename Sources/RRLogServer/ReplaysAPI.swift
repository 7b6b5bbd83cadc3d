import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogInterop
import RRLogOTLPHTTP
import Synchronization

/// Replays of event sessions under `/api/v1/replays`, several at once, each with an id: start
/// one (speed, the filter grammar of `rrlog replay` and `rrlog copy`, a time window, a loop, a
/// webhook), control it (pause, resume, step, seek, speed, stop), read its progress, and follow
/// the events it delivers as Server-Sent Events. One engine (`EventReplayer`) and one controller
/// (`ReplayControl`) serve these routes and the event recorder's `/api/replay/…`. In simulation
/// (no `webhook`) nothing leaves the server.
struct ReplaysAPI {
    let state: ServerState

    func register(on router: Router<BasicRequestContext>) {
        let v1 = router.group("/api/v1/replays")
        v1.get("") { _, _ in list() }
        v1.post("") { request, _ in try await start(request) }
        v1.get("/:id") { _, context in JSONReply.value(try status(try context.parameters.required("id"))) }
        v1.delete("/:id") { _, context in try await remove(try context.parameters.required("id")) }
        v1.post("/:id/pause") { _, context in try act(try context.parameters.required("id")) { $0.setPaused(true) } }
        v1.post("/:id/resume") { _, context in try act(try context.parameters.required("id")) { $0.setPaused(false) } }
        v1.post("/:id/step") { _, context in try act(try context.parameters.required("id")) { $0.step() } }
        v1.post("/:id/stop") { _, context in
            let control = try state.replays.control(try context.parameters.required("id"))
            await control.stopAndWait()
            return JSONReply.value(try status(try context.parameters.required("id")))
        }
        v1.post("/:id/seek") { request, context in
            let body = try await JSONBody.read(request, limit: 4096)
            guard let ms = body["offset_ms"]?.doubleValue, ms >= 0, ms < 9e12 else {
                throw Problem(.unprocessableContent, "offset_ms must be milliseconds from the session's start, from 0")
            }
            return try act(try context.parameters.required("id")) { $0.seek(to: .nanoseconds(Int64(ms * 1e6))) }
        }
        v1.post("/:id/speed") { request, context in
            let speed = try EventRecorderAPI.speed(try await JSONBody.read(request, limit: 4096))
            return try act(try context.parameters.required("id")) { $0.setSpeed(speed) }
        }
        v1.get("/:id/events") { request, context in try events(try context.parameters.required("id"), request) }
    }

    func status(_ id: String) throws -> JSONValue {
        let control = try state.replays.control(id)
        guard case .object(var members) = control.status.json else { return control.status.json }
        members["id"] = .string(id)
        return .object(members)
    }

    func list() -> Response {
        let all = state.replays.all().map { id, control -> JSONValue in
            guard case .object(var members) = control.status.json else { return .null }
            members["id"] = .string(id)
            return .object(members)
        }
        return JSONReply.value(["replays": .array(all)])
    }

    func act(_ id: String, _ body: (ReplayControl) -> Void) throws -> Response {
        body(try state.replays.control(id))
        return JSONReply.value(try status(id))
    }

    /// `{"session", "speed", "event_name", "source", "from_ms", "to_ms", "loop", "webhook"}`.
    func start(_ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, limit: 64 << 10)
        let name = try JSONBody.string(body, "session")
        let speed = try EventRecorderAPI.speed(body)
        let filter = EventRecorderAPI.filter(names: try EventRecorderAPI.strings(body, "event_name"), sources: try EventRecorderAPI.strings(body, "source"))
        let (from, to) = try Self.window(body)
        let loop = try JSONBody.optionalBool(body, "loop") ?? false
        let poster = try body["webhook"].map { try EventRecorderAPI.poster($0, member: "webhook", allowed: state.options.allowedTargets) }
        let manifest = try state.session(name)
        guard EventRecorderAPI.busEvents(manifest) > 0 else {
            throw Problem(.unprocessableContent, "session \(manifest.name) holds no bus events to replay")
        }
        let replayer: EventReplayer
        do throws(RRLogError) {
            replayer = try EventReplayer(
                store: state.store, session: manifest.id, filter: filter,
                startOffset: .nanoseconds(Int64((from ?? 0) * 1e6)), until: to.map { .nanoseconds(Int64($0 * 1e6)) })
        } catch { throw Problem(error) }
        let control = ReplayControl()
        let id = try state.replays.add(control)
        do { try control.start(replayer, speed: speed, loop: loop, poster: poster) } catch {
            state.replays.remove(id)
            throw error
        }
        return JSONReply.value(try status(id), status: .created)
    }

    func remove(_ id: String) async throws -> Response {
        let control = try state.replays.control(id)
        await control.stopAndWait()
        state.replays.remove(id)
        return JSONReply.noContent()
    }

    /// Server-Sent Events: `event` for each event delivered (id: its number in delivery order,
    /// data: the event), `progress` after each batch, `end` once the replay has stopped. Resumes
    /// after `Last-Event-ID`; events that fell out of the last 1,000 are counted in a `skipped`
    /// event.
    func events(_ id: String, _ request: Request) throws -> Response {
        let control = try state.replays.control(id)
        var after = -1
        if let last = request.headers[HTTPField.Name("Last-Event-ID")!], let n = Int(last), n >= 0 { after = n }
        guard state.eventStreams.take(limit: state.options.maxEventStreams) else {
            var problem = Problem(.serviceUnavailable, "\(state.options.maxEventStreams) live streams are open; close one or try later")
            problem.headers[.retryAfter] = "5"
            throw problem
        }
        let slots = state.eventStreams
        let first = after
        let body = ResponseBody { writer in
            defer { slots.give() }
            var cursor = first
            var quiet = ContinuousClock.now
            while true {
                let running = control.status.running
                let (events, skipped) = control.delivered(after: cursor)
                var out: [UInt8] = []
                if skipped > 0 { out.append(contentsOf: "event: skipped\ndata: {\"events\":\(skipped)}\n\n".utf8) }
                for (index, event) in events {
                    out.append(contentsOf: "id: \(index)\nevent: event\ndata: ".utf8)
                    out.append(contentsOf: event.serializedBytes())
                    out.append(contentsOf: "\n\n".utf8)
                    cursor = index
                }
                if !events.isEmpty {
                    out.append(contentsOf: "event: progress\ndata: ".utf8)
                    out.append(contentsOf: control.status.json.serializedBytes())
                    out.append(contentsOf: "\n\n".utf8)
                }
                if !out.isEmpty {
                    try await writer.write(ByteBuffer(bytes: out))
                    quiet = .now
                }
                if !events.isEmpty { continue }
                if !running {
                    try await writer.write(ByteBuffer(bytes: Array("event: end\ndata: ".utf8) + control.status.json.serializedBytes() + Array("\n\n".utf8)))
                    break
                }
                if ContinuousClock.now - quiet > .seconds(15) {
                    try await writer.write(ByteBuffer(string: ": still here\n\n"))
                    quiet = .now
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// `from_ms` and `to_ms`: a window of milliseconds from the session's start (either may be
    /// absent), the end after the start.
    static func window(_ body: JSONValue) throws -> (from: Double?, to: Double?) {
        var window: [Double?] = []
        for member in ["from_ms", "to_ms"] {
            guard let value = body[member] else {
                window.append(nil)
                continue
            }
            guard let ms = value.doubleValue, ms >= 0, ms < 9e12 else { throw Problem(.unprocessableContent, "\(member) must be milliseconds from 0") }
            window.append(ms)
        }
        if let from = window[0], let to = window[1], to <= from { throw Problem(.unprocessableContent, "to_ms must be after from_ms") }
        return (window[0], window[1])
    }
}

/// The replays of `/api/v1/replays` by id, at most `limit` kept (finished ones are forgotten
/// first when a new one needs room).
final class ReplayRegistry: Sendable {
    private let replays = Mutex<[(id: String, control: ReplayControl)]>([])
    let limit: Int

    init(limit: Int = 16) { self.limit = limit }

    /// Adds a replay; 409 when `limit` are running.
    func add(_ control: ReplayControl) throws -> String {
        let id = "r-" + Hex.lowercase((0..<6).map { _ in UInt8.random(in: 0...255) })
        try replays.withLock { all in
            if all.count >= limit {
                guard let finished = all.firstIndex(where: { !$0.control.status.running }) else {
                    throw Problem(.conflict, "\(limit) replays are running; stop one first")
                }
                all.remove(at: finished)
            }
            all.append((id, control))
        }
        return id
    }

    func control(_ id: String) throws -> ReplayControl {
        guard let found = replays.withLock({ all in all.first { $0.id == id }?.control }) else {
            throw Problem(.notFound, "no replay '\(id)'")
        }
        return found
    }

    func all() -> [(String, ReplayControl)] { replays.withLock { $0.map { ($0.id, $0.control) } } }

    func remove(_ id: String) { replays.withLock { $0.removeAll { $0.id == id } } }

    /// Stops every replay and waits for each.
    func stopAll() async {
        for (_, control) in all() { await control.stopAndWait() }
    }
}

/// Replays of OTLP sessions to an OTLP/HTTP endpoint, as `rrlog replay` does them:
/// `POST /api/v1/sessions/{name}/otlp-replay` starts one in the background, `GET` and `DELETE
/// /api/v1/otlp-replays/{id}` read its totals and cancel it. The endpoint must be a loopback host
/// or one `--allow-target` names.
struct OTLPReplaysAPI {
    let state: ServerState

    func register(on router: Router<BasicRequestContext>) {
        router.post("/api/v1/sessions/:name/otlp-replay") { request, context in try await start(try context.parameters.required("name"), request) }
        router.get("/api/v1/otlp-replays/:id") { _, context in JSONReply.value(try state.otlpReplays.status(try context.parameters.required("id"))) }
        router.delete("/api/v1/otlp-replays/:id") { _, context in
            try await state.otlpReplays.cancel(try context.parameters.required("id"))
            return JSONReply.noContent()
        }
    }

    /// `{"endpoint", "speed" (null: as fast as possible), "timestamps": none|relative|current,
    /// "signals": [...], "json", "gzip"}`.
    func start(_ name: String, _ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, limit: 64 << 10)
        let manifest = try state.session(name)
        guard let given = body["endpoint"] else { throw Problem(.unprocessableContent, "the body needs the member endpoint") }
        let endpoint = try JSONBody.target(given, "endpoint", allowed: state.options.allowedTargets)
        var options = OTLPReplayOptions(endpoint: endpoint)
        switch body["speed"] {
        case nil: break
        case .null?: options.speed = nil
        case let value?:
            guard let speed = value.doubleValue, (0.1...10).contains(speed) else { throw Problem(.unprocessableContent, "speed must be 0.1-10, or null for as fast as possible") }
            options.speed = speed
        }
        if let value = body["timestamps"] {
            guard let text = value.stringValue, let t = OTLPReplayTimestamps(rawValue: text) else {
                throw Problem(.unprocessableContent, "timestamps must be none, relative or current")
            }
            options.timestamps = t
        }
        let signals = try EventRecorderAPI.strings(body, "signals")
        if !signals.isEmpty {
            let parsed = signals.compactMap(OTLPSignal.init(rawValue:))
            guard parsed.count == signals.count else { throw Problem(.unprocessableContent, "signals are traces, metrics or logs") }
            options.signals = Set(parsed)
        }
        options.json = try JSONBody.optionalBool(body, "json") ?? false
        options.gzip = try JSONBody.optionalBool(body, "gzip") ?? false
        guard SessionContent(manifest) == .otlp else {
            throw Problem(.unprocessableContent, "session \(manifest.name) holds \(SessionContent(manifest).rawValue), not OTLP data")
        }
        let id = try state.otlpReplays.start(OTLPReplayer(options: options), manifest, store: state.store)
        return JSONReply.value(try state.otlpReplays.status(id), status: .accepted)
    }
}

/// The OTLP replays running or done, by id (at most `limit` kept).
final class OTLPReplayRegistry: Sendable {
    struct Entry: Sendable {
        var session: String
        var endpoint: String
        var running = true
        var totals = OTLPReplayTotals()
        var error: String?
        var task: Task<Void, Never>?
    }
    private let entries = Mutex<[(id: String, entry: Entry)]>([])
    let limit = 16

    func start(_ replayer: OTLPReplayer, _ manifest: SessionManifest, store: Store) throws -> String {
        let id = "o-" + Hex.lowercase((0..<6).map { _ in UInt8.random(in: 0...255) })
        try entries.withLock { all in
            if all.count >= limit {
                guard let done = all.firstIndex(where: { !$0.entry.running }) else { throw Problem(.conflict, "\(limit) OTLP replays are running; stop one first") }
                all.remove(at: done)
            }
            all.append((id, Entry(session: manifest.name, endpoint: replayer.options.endpoint)))
        }
        let task = Task {
            var failure: String?
            var final: OTLPReplayTotals?
            do {
                final = try await replayer.run(manifest, from: store) { totals in self.update(id) { $0.totals = totals } }
            } catch is CancellationError {
                failure = "cancelled"
            } catch {
                failure = (error as? RRLogError)?.description ?? "\(error)"
            }
            self.update(id) { e in
                if let final { e.totals = final }
                e.running = false
                e.error = failure
            }
        }
        update(id) { $0.task = task }
        return id
    }

    private func update(_ id: String, _ change: (inout Entry) -> Void) {
        entries.withLock { all in
            if let i = all.firstIndex(where: { $0.id == id }) { change(&all[i].entry) }
        }
    }

    func status(_ id: String) throws -> JSONValue {
        guard let e = entries.withLock({ all in all.first { $0.id == id }?.entry }) else { throw Problem(.notFound, "no OTLP replay '\(id)'") }
        var out: [String: JSONValue] = [
            "id": .string(id), "session_name": .string(e.session), "endpoint": .string(e.endpoint), "running": .bool(e.running),
            "requests": .int(Int64(e.totals.requests)), "planned_requests": .int(Int64(e.totals.plannedRequests)),
            "items": .int(Int64(e.totals.items)), "failed_requests": .int(Int64(e.totals.failedRequests)), "retries": .int(Int64(e.totals.retries)),
            "loops": .int(Int64(e.totals.loops)),
        ]
        if let error = e.error ?? e.totals.lastError { out["error"] = .string(error) }
        return .object(out)
    }

    func cancel(_ id: String) async throws {
        guard let task = entries.withLock({ all in all.first { $0.id == id }?.entry.task }) else { throw Problem(.notFound, "no OTLP replay '\(id)'") }
        task.cancel()
        await task.value
    }

    func cancelAll() async {
        for task in entries.withLock({ $0.compactMap(\.entry.task) }) {
            task.cancel()
            await task.value
        }
    }
}

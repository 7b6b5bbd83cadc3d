import Foundation
import HTTPTypes
import Hummingbird
import RRLog
import RRLogCatalog
import RRLogInterop
import RRLogOTLPHTTP
import Synchronization

/// The routes of the pub/sub devtools Event Recorder's dashboard, so its users' scripts keep
/// working: recordings (`/api/recordings`, `/api/recording/<name>…`), live recording
/// (`/api/record/…`) and simulated replay (`/api/replay/…`). Answers use its recording format's
/// field names (`session_name`, `start_time`, `duration_ms`, `total_events`, and events of
/// `timestamp_offset_ms`, `event_name`, `event_data`, `source`); the OpenAPI document describes
/// each.
struct EventRecorderAPI {
    let state: ServerState

    func register(on router: Router<BasicRequestContext>) {
        router.get("/api/recordings") { _, _ in try listRecordings() }
        router.get("/api/recording/:name") { request, context in try recording(try context.parameters.required("name"), Query(request: request)) }
        router.get("/api/recording/:name/events") { request, context in try events(try context.parameters.required("name"), Query(request: request)) }
        router.get("/api/recording/:name/fields") { _, context in try fields(try context.parameters.required("name")) }
        router.post("/api/recording/create") { request, _ in try await createCopy(request) }
        router.post("/api/record/start") { request, _ in try await startRecording(request) }
        router.post("/api/record/event") { request, _ in try await recordEvent(request) }
        router.post("/api/record/stop") { _, _ in try stopRecording() }
        router.get("/api/record/status") { _, _ in recordStatus() }
        router.post("/api/replay/start/:name") { request, context in try await startReplay(try context.parameters.required("name"), request) }
        router.post("/api/replay/pause") { _, _ in
            state.replay.togglePause()
            return JSONReply.value(state.replay.status.json)
        }
        router.post("/api/replay/stop") { _, _ in
            await state.replay.stopAndWait()
            return JSONReply.value(state.replay.status.json)
        }
        router.post("/api/replay/speed") { request, _ in
            let body = try await JSONBody.read(request, limit: 4096)
            guard body["speed"] != nil else { throw Problem(.unprocessableContent, "the body needs the member speed") }
            state.replay.setSpeed(try Self.speed(body))
            return JSONReply.value(state.replay.status.json)
        }
        router.get("/api/replay/status") { _, _ in JSONReply.value(state.replay.status.json) }
    }

    /// The speed of a replay body: 0.1 to 10, default 1.
    static func speed(_ body: JSONValue) throws -> Double {
        guard let value = body["speed"] else { return 1 }
        guard let speed = value.doubleValue, speed >= 0.1, speed <= 10 else {
            throw Problem(.unprocessableContent, "speed must be a number from 0.1 to 10")
        }
        return speed
    }

    /// A member that is a string or an array of strings (empty strings left out).
    static func strings(_ body: JSONValue, _ name: String) throws -> [String] {
        guard let value = body[name] else { return [] }
        if let text = value.stringValue { return text.isEmpty ? [] : [text] }
        guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
            throw Problem(.unprocessableContent, "\(name) must be a string or an array of strings")
        }
        return items.compactMap(\.stringValue).filter { !$0.isEmpty }
    }

    /// The filter of the event names and sources a request lists (an empty list selects all).
    static func filter(names: [String], sources: [String]) -> EventFilter {
        EventFilter(names: names.isEmpty ? nil : Set(names), sources: sources.isEmpty ? nil : Set(sources))
    }

    /// The bus events `m`'s session holds.
    static func busEvents(_ m: SessionManifest) -> Int { m.countsByKind[RecordKind.busEvent.name] ?? 0 }

    // MARK: Recordings

    /// A recording's header in the event-recorder format.
    static func header(_ m: SessionManifest, events: Int) -> [String: JSONValue] {
        let durationMs = m.startNs.flatMap { s in m.endNs.map { Double($0 - s) / 1e6 } } ?? 0
        return [
            "session_name": .string(m.name), "start_time": m.startNs.map { .string(SessionInfoJSON.time($0)) } ?? .null,
            "duration_ms": .double(durationMs.rounded()), "total_events": .int(Int64(events)), "id": .string(m.id), "type": .string(m.type),
            "status": .string(m.status),
        ]
    }

    func listRecordings() throws -> Response {
        let all: [SessionManifest]
        do throws(RRLogError) { all = try state.store.sessions() } catch { throw Problem(error) }
        let live = state.recording.withLock { $0?.sessionName }
        let list = all.filter { Self.busEvents($0) > 0 || $0.name == live }.map { m -> JSONValue in
            var h = Self.header(m, events: Self.busEvents(m))
            h["recording"] = .bool(m.name == live)
            return .object(h)
        }
        return JSONReply.value(["recordings": .array(list)])
    }

    /// The replayer of an event session, whole (its events in time order).
    func replayer(_ name: String, filter: EventFilter = EventFilter()) throws -> EventReplayer {
        let manifest = try state.session(name)
        guard Self.busEvents(manifest) > 0 || manifest.recordCount == 0 else {
            throw Problem(.unprocessableContent, "session \(manifest.name) holds no bus events (it is a \(manifest.type) session of other records)")
        }
        do throws(RRLogError) { return try EventReplayer(store: state.store, session: manifest.id, filter: filter) } catch { throw Problem(error) }
    }

    func recording(_ name: String, _ query: Query) throws -> Response {
        let limit = try query.int("limit", in: 0...state.options.pageSizeMax * 10, default: 1000)!
        let r = try replayer(name)
        var h = Self.header(r.manifest, events: r.events.count)
        h["events"] = .array(r.events.prefix(limit).map(\.raw))
        h["event_counts"] = .object(r.summary().mapValues { .int(Int64($0)) })
        return JSONReply.value(.object(h))
    }

    func events(_ name: String, _ query: Query) throws -> Response {
        let limit = try query.int("limit", in: 1...state.options.pageSizeMax, default: 100)!
        let offset = try query.int("offset", in: 0...Int(Int32.max), default: 0)!
        let names = query.strings("event_name"), sources = query.strings("source")
        let r = try replayer(name, filter: Self.filter(names: names, sources: sources))
        let page = r.events.dropFirst(offset).prefix(limit).map(\.raw)
        return JSONReply.value([
            "session_name": .string(r.manifest.name), "total": .int(Int64(r.events.count)), "offset": .int(Int64(offset)),
            "events": .array(Array(page)),
        ])
    }

    func fields(_ name: String) throws -> Response {
        let r = try replayer(name)
        var byName: [String: Set<String>] = [:]
        var sources: Set<String> = []
        for e in r.events {
            var keys = byName[e.name, default: []]
            if case .object(let members) = e.data { keys.formUnion(members.keys) }
            byName[e.name] = keys
            if !e.source.isEmpty { sources.insert(e.source) }
        }
        return JSONReply.value([
            "session_name": .string(r.manifest.name), "event_names": .array(byName.keys.sorted().map { .string($0) }),
            "sources": .array(sources.sorted().map { .string($0) }),
            "fields": .object(byName.mapValues { .array($0.sorted().map { .string($0) }) }),
        ])
    }

    /// `{"source_filename", "event_indices": [...], "new_session_name"}`: the events at those
    /// indices (in time order, as `/events` lists them unfiltered) saved as a new session.
    func createCopy(_ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, limit: state.options.maxBodyBytes)
        let source = try JSONBody.string(body, "source_filename"), target = try JSONBody.string(body, "new_session_name")
        guard let indices = body["event_indices"]?.arrayValue else { throw Problem(.unprocessableContent, "event_indices must be an array of integers") }
        let all = try replayer(source)
        var chosen: Set<Int> = []
        for value in indices {
            guard let i = value.int64Value, i >= 0, i < all.events.count else {
                throw Problem(.unprocessableContent, "event_indices holds \(value.serialized()), not an index from 0 to \(all.events.count - 1)")
            }
            chosen.insert(Int(i))
        }
        // In time order, each once, as a filter over the session would give them.
        let picked = chosen.sorted().map { all.events[$0] }
        let copy: SessionManifest
        do throws(RRLogError) { copy = try all.saveCopy(of: picked, as: target) } catch { throw Problem(error) }
        return JSONReply.value(.object(Self.header(copy, events: copy.recordCount)), status: .created)
    }

    // MARK: Live recording

    func startRecording(_ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, limit: 64 << 10)
        let name = try JSONBody.string(body, "session_name")
        let description = try JSONBody.optionalString(body, "description") ?? ""
        let result: Result<BusRecorder, Problem> = state.recording.withLock { current in
            if let current { return .failure(Problem(.conflict, "already recording \(current.sessionName); stop it first")) }
            do throws(RRLogError) {
                let recorder = try BusRecorder.start(store: state.store, name: name, description: description)
                current = recorder
                return .success(recorder)
            } catch {
                return .failure(Problem(error))
            }
        }
        let recorder = try result.get()
        // Events become readable (the session's live tail) within 200 ms, in chunks of what
        // arrived meanwhile.
        let shared = state
        Task {
            while shared.recording.withLock({ $0 === recorder }) {
                try? await Task.sleep(for: .milliseconds(200))
                try? recorder.flush()
            }
        }
        return JSONReply.value(["session_name": .string(recorder.sessionName), "recording": true, "total_events": 0], status: .created)
    }

    func recordEvent(_ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, limit: state.options.maxBodyBytes)
        let name = try JSONBody.string(body, "event_name")
        let source = try JSONBody.optionalString(body, "source") ?? ""
        guard let recorder = state.recording.withLock({ $0 }) else { throw Problem(.conflict, "no recording is running; POST /api/record/start first") }
        guard recorder.record(name: name, data: body["event_data"] ?? .null, source: source) else {
            throw Problem(.conflict, "the recording of \(recorder.sessionName) has stopped")
        }
        return JSONReply.value(["session_name": .string(recorder.sessionName), "total_events": .int(Int64(recorder.eventCount))])
    }

    func stopRecording() throws -> Response {
        guard let recorder = state.takeRecording() else {
            throw Problem(.conflict, "no recording is running")
        }
        let manifest: SessionManifest
        do throws(RRLogError) { manifest = try recorder.stop() } catch { throw Problem(error) }
        var h = Self.header(manifest, events: recorder.eventCount)
        h["recording"] = false
        return JSONReply.value(.object(h))
    }

    func recordStatus() -> Response {
        guard let recorder = state.recording.withLock({ $0 }) else { return JSONReply.value(["recording": false, "total_events": 0]) }
        return JSONReply.value(["recording": true, "session_name": .string(recorder.sessionName), "total_events": .int(Int64(recorder.eventCount))])
    }

    // MARK: Replay

    /// `{"speed": 2.0, "loop": false, "event_name": [...], "source": [...], "target": URL}`:
    /// replays in simulation (events are counted and the last one shown in the status; nothing
    /// is sent) unless `target` names a URL to POST each event to, on a loopback host or one
    /// `--allow-target` named.
    /// A poster to the http or https URL `value` names: a loopback host, or one of `allowed`
    /// (no requests to other hosts through the server).
    static func poster(_ value: JSONValue, member: String, allowed: [String]) throws -> EventPoster {
        EventPoster(url: try JSONBody.target(value, member, allowed: allowed))
    }

    func startReplay(_ name: String, _ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, limit: 64 << 10)
        let speed = try Self.speed(body)
        let names = try Self.strings(body, "event_name"), sources = try Self.strings(body, "source")
        let filter = Self.filter(names: names, sources: sources)
        let poster = try body["target"].map { try Self.poster($0, member: "target", allowed: state.options.allowedTargets) }
        let replayer = try self.replayer(name, filter: filter)
        let loop = try JSONBody.optionalBool(body, "loop") ?? false
        try state.replay.start(replayer, speed: speed, loop: loop, poster: poster)
        return JSONReply.value(state.replay.status.json, status: .accepted)
    }
}

/// The one replay the event recorder's routes control.
final class ReplayControl: Sendable {
    struct Status: Sendable {
        var session: String?
        var running = false
        var paused = false
        var speed: Double = 1
        var delivered = 0
        var total = 0
        var loopsCompleted = 0
        var lastEvent: JSONValue?
        var target: String?
        var error: String?

        var json: JSONValue {
            var out: [String: JSONValue] = [
                "running": .bool(running), "paused": .bool(paused), "speed": .double(speed), "delivered": .int(Int64(delivered)),
                "total_events": .int(Int64(total)), "loops_completed": .int(Int64(loopsCompleted)),
                "session_name": session.map { .string($0) } ?? .null, "last_event": lastEvent ?? .null,
                "mode": target == nil ? "simulation" : "post", "target": target.map { .string($0) } ?? .null,
            ]
            if let error { out["error"] = .string(error) }
            return .object(out)
        }
    }

    private let state = Mutex<(replayer: EventReplayer?, task: Task<Void, Never>?, status: Status)>((nil, nil, Status()))
    /// The last events delivered, numbered from 0, for the replay's event stream (`/api/v1/replays/{id}/events`).
    private let recent = Mutex<(next: Int, events: [(index: Int, event: JSONValue)])>((0, []))
    /// Events kept for late event-stream readers.
    static let recentMax = 1000

    /// Delivered events numbered after `after` (at most `limit`), and whether earlier ones were
    /// dropped from the window before this reader got them.
    func delivered(after: Int, limit: Int = 500) -> (events: [(index: Int, event: JSONValue)], skipped: Int) {
        recent.withLock { r in
            let first = r.events.first?.index ?? r.next
            let skipped = max(0, first - (after + 1))
            return (Array(r.events.lazy.filter { $0.index > after }.prefix(limit)), skipped)
        }
    }

    var status: Status {
        state.withLock { s in
            var status = s.status
            status.paused = s.replayer?.isPaused ?? false
            return status
        }
    }

    /// Starts `replayer` (409 while another replay runs).
    func start(_ replayer: EventReplayer, speed: Double, loop: Bool, poster: EventPoster?) throws {
        try state.withLock { s in
            if s.status.running { throw Problem(.conflict, "a replay of \(s.status.session ?? "?") is running; stop it first") }
            s.replayer = replayer
            s.status = Status(session: replayer.manifest.name, running: true, speed: speed, total: replayer.events.count, target: poster?.url)
            s.task = Task { [self] in
                var failure: String?
                do {
                    try await replayer.run(speed: speed, loops: loop ? nil : 1, progress: { p in
                        self.state.withLock {
                            $0.status.delivered = p.delivered
                            $0.status.loopsCompleted = p.loopsCompleted
                        }
                    }) { event in
                        if let poster { try await poster.post(event) }
                        self.state.withLock { $0.status.lastEvent = event.raw }
                        self.recent.withLock { r in
                            r.events.append((r.next, event.raw))
                            r.next += 1
                            if r.events.count > Self.recentMax { r.events.removeFirst(r.events.count - Self.recentMax) }
                        }
                    }
                } catch is CancellationError {
                    // Stopped while waiting for the next event.
                } catch {
                    failure = (error as? RRLogError)?.description ?? "\(error)"
                }
                await poster?.shutdown()
                self.state.withLock {
                    $0.status.running = false
                    $0.status.error = failure
                }
            }
        }
    }

    func togglePause() {
        state.withLock { s in
            guard let r = s.replayer, s.status.running else { return }
            if r.isPaused { r.resume() } else { r.pause() }
        }
    }

    /// Pauses (`true`) or resumes a running replay.
    func setPaused(_ paused: Bool) {
        state.withLock { s in
            guard let r = s.replayer, s.status.running else { return }
            if paused { r.pause() } else { r.resume() }
        }
    }

    /// Delivers the next event of a paused replay.
    func step() { state.withLock { $0.replayer?.step() } }

    /// Moves a running replay to the first event at or after `offset` from the session's start.
    func seek(to offset: Duration) { state.withLock { $0.replayer?.seek(to: offset) } }

    func setSpeed(_ speed: Double) {
        state.withLock { s in
            s.replayer?.setSpeed(speed)
            s.status.speed = speed
        }
    }

    /// Stops the replay and waits until its task has ended.
    func stopAndWait() async {
        let task = state.withLock { s -> Task<Void, Never>? in
            s.replayer?.stop()
            s.replayer?.resume()
            return s.task
        }
        task?.cancel()
        await task?.value
    }
}

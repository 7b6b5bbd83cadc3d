import Foundation
import HTTPTypes
import Hummingbird
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogInterop

/// rrlog's own API under `/api/v1`: sessions listed with filters, sort and pages; a session's
/// info; its records filtered and paged by a sequence cursor; one record; lookup by IO key;
/// create a session, append IO events through the one ingest path, delete.
struct SessionsAPI {
    let state: ServerState

    func register(on router: Router<BasicRequestContext>) {
        let v1 = router.group("/api/v1")
        v1.get("/sessions") { request, _ in try list(Query(request: request)) }
        v1.post("/sessions") { request, _ in try await create(request) }
        v1.get("/sessions/:name") { _, context in
            try JSONReply.encoded(SessionInfoJSON(try state.session(try context.parameters.required("name"))))
        }
        v1.delete("/sessions/:name") { _, context in try await remove(try context.parameters.required("name")) }
        v1.get("/sessions/:name/records") { request, context in try records(try context.parameters.required("name"), Query(request: request)) }
        v1.get("/sessions/:name/records/:sequence") { _, context in
            try record(try context.parameters.required("name"), try context.parameters.required("sequence"))
        }
        v1.post("/sessions/:name/io-events") { request, context in try await appendIOEvents(try context.parameters.required("name"), request) }
        v1.post("/sessions/:name/copy") { request, context in try await copy(try context.parameters.required("name"), request) }
        v1.post("/sessions/:name/lookup") { request, context in try await lookup(try context.parameters.required("name"), request) }
    }

    // MARK: Sessions

    static let sorts = ["created", "name", "records", "bytes", "start"]

    func list(_ query: Query) throws -> Response {
        let limit = try query.int("limit", in: 1...state.options.pageSizeMax, default: 100)!
        let offset = try query.int("offset", in: 0...Int(Int32.max), default: 0)!
        let sort = try query.choice("sort", Self.sorts, default: "created")
        let order = try query.choice("order", ["asc", "desc"], default: sort == "name" ? "asc" : "desc")
        let type = query.string("type"), status = query.string("status"), name = query.string("name")?.lowercased()
        // A time range keeps the sessions whose records overlap it (a session without records
        // by its creation time).
        let fromNs = try query.int("from_ns", in: 0...Int.max).map(Int64.init), toNs = try query.int("to_ns", in: 0...Int.max).map(Int64.init)
        var page = Catalog.PageQuery()
        page.type = type
        page.status = status
        page.nameContains = name
        page.fromNs = fromNs
        page.toNs = toNs
        page.sort = Catalog.PageQuery.Sort(rawValue: sort) ?? .created
        page.descending = order == "desc"
        page.limit = limit
        page.offset = offset
        let found: (total: Int, sessions: [SessionManifest])
        do throws(RRLogError) { found = try state.store.sessionsPage(page) } catch { throw Problem(error) }
        struct Page: Encodable {
            var total, offset, limit: Int
            var sessions: [SessionInfoJSON]
        }
        return try JSONReply.encoded(Page(total: found.total, offset: offset, limit: limit, sessions: found.sessions.map(SessionInfoJSON.init)))
    }

    /// `{"name", "type", "description", "tags", "redact": true, "volatile_paths": [...]}`: an
    /// empty session for IO events, its redaction and volatile paths fixed from now on.
    func create(_ request: Request) async throws -> Response {
        let body = try await JSONBody.read(request, limit: 1 << 20)
        var settings = IOEventIngest.NewSession(name: try JSONBody.string(body, "name"))
        if let type = body["type"] {
            guard let t = type.stringValue, ["recording", "capture", "seed", "training"].contains(t) else {
                throw Problem(.unprocessableContent, "type must be recording, capture, seed or training")
            }
            settings.type = t
        }
        settings.description = try JSONBody.optionalString(body, "description") ?? ""
        if let tags = body["tags"] {
            guard let list = tags.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                throw Problem(.unprocessableContent, "tags must be an array of strings")
            }
            settings.tags = list.compactMap(\.stringValue)
        }
        if let on = try JSONBody.optionalBool(body, "redact") {
            settings.redaction = on ? .default : .disabled
        }
        if let paths = body["volatile_paths"] {
            guard let list = paths.arrayValue?.compactMap(\.stringValue), list.count == paths.arrayValue?.count else {
                throw Problem(.unprocessableContent, "volatile_paths must be an array of strings")
            }
            do { settings.volatile = try VolatilePaths(list) } catch { throw Problem(.unprocessableContent, "volatile_paths: \(error)") }
        }
        let manifest: SessionManifest
        do throws(RRLogError) {
            let ingest = try IOEventIngest.create(store: state.store, session: settings, options: state.options.ioWriteOptions)
            manifest = try ingest.commit()
        } catch { throw Problem(error) }
        return try JSONReply.encoded(SessionInfoJSON(manifest), status: .created)
    }

    func remove(_ name: String) async throws -> Response {
        let manifest = try state.session(name)
        if state.recording.withLock({ $0?.sessionName == manifest.name }) {
            throw Problem(.conflict, "session \(manifest.name) is being recorded; POST /api/record/stop first")
        }
        await state.appenders.close(manifest.id)
        do throws(RRLogError) { try state.store.remove(try state.store.session(manifest.id)) } catch { throw Problem(error) }
        return JSONReply.noContent()
    }

    /// IO events as JSON lines (`application/x-ndjson`) or a JSON array, appended all or
    /// nothing through the ingest path of `rrlog append`: validated, redacted by the session's
    /// rules, call indexes counted per session. A bad event is a 422 naming its line.
    func appendIOEvents(_ name: String, _ request: Request) async throws -> Response {
        let manifest = try state.session(name)
        let type = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard ["application/x-ndjson", "application/jsonl", "application/json", ""].contains(type) else {
            throw Problem(.unsupportedMediaType, "send JSON lines (application/x-ndjson) or a JSON array (application/json), not \(type)")
        }
        do throws(RRLogError) { try SessionContent(manifest).checkAccepts(.ioEvents, session: manifest.name) } catch {
            throw Problem(.conflict, error.message)
        }
        let bytes = try await JSONBody.collect(request, limit: state.options.maxBodyBytes)
        var events: [JSONValue]?
        if type == "application/json" {
            do {
                guard let array = try JSONValue.parse(bytes).arrayValue else { throw Problem(.unprocessableContent, "the body must be a JSON array of IO events") }
                events = array
            } catch let error as JSONParseError {
                throw Problem(.unprocessableContent, "the body is not valid JSON: \(error)")
            }
        }
        if events?.isEmpty ?? bytes.allSatisfy({ [0x20, 0x09, 0x0D, 0x0A].contains($0) }) {
            throw Problem(.unprocessableContent, "the body holds no IO events")
        }
        let parsed = events
        do {
            let (added, final) = try await state.appenders.withAppender(store: state.store, manifest, options: state.options.ioWriteOptions) { appender in
                let added: Int
                if let parsed { added = try await appender.append(events: parsed) } else { added = try await appender.append(jsonLines: bytes) }
                return (added, appender.manifest)
            }
            return JSONReply.value(["appended": .int(Int64(added)), "records": .int(Int64(final.recordCount))])
        } catch let error as RRLogError {
            throw Problem(error.code == .invalidArgument ? RRLogError(.malformedInput, error.message, location: error.location) : error)
        }
    }

    /// `{"new_session_name", "event_name": [...], "source": [...], "from_ms", "to_ms"}`: the
    /// bus events that pass the selection (the one of `rrlog copy` and `rrlog replay`) saved as a
    /// new session.
    func copy(_ name: String, _ request: Request) async throws -> Response {
        let manifest = try state.session(name)
        let body = try await JSONBody.read(request, limit: 1 << 20)
        let target = try JSONBody.string(body, "new_session_name")
        let names = try EventRecorderAPI.strings(body, "event_name"), sources = try EventRecorderAPI.strings(body, "source")
        let window = try ReplaysAPI.window(body)
        guard EventRecorderAPI.busEvents(manifest) > 0 else {
            throw Problem(.unprocessableContent, "session \(manifest.name) holds no bus events; copy saves bus events")
        }
        let copy: SessionManifest
        do throws(RRLogError) {
            let replayer = try EventReplayer(
                store: state.store, session: manifest.id,
                filter: EventRecorderAPI.filter(names: names, sources: sources),
                startOffset: .nanoseconds(Int64((window.from ?? 0) * 1e6)), until: window.to.map { .nanoseconds(Int64($0 * 1e6)) })
            copy = try replayer.saveFilteredCopy(as: target)
        } catch { throw Problem(error) }
        return try JSONReply.encoded(SessionInfoJSON(copy), status: .created)
    }

    // MARK: Records

    /// A record's JSON: an IO event's line with its `ts_ns` put back, a bus event's as stored, an
    /// OTLP request as its OTLP JSON and a trace index entry as `{trace_id, request_sequence,
    /// spans}` (as `rrlog cat` prints them); nil for a record that does not decode.
    static func line(_ view: RecordView) -> JSONValue? {
        switch RecordKind(rawValue: view.kind) {
        case let kind? where kind.isIOEvent: return IOLine.parse(view)
        case .busEvent?: return try? JSONValue.parse(Array(view.payload))
        default:
            guard let bytes = try? OTLPExporter.recordJSON(kind: view.kind, key: view.key.map(Array.init), payload: Array(view.payload), location: "record \(view.sequence)")
            else { return nil }
            return try? JSONValue.parse(bytes)
        }
    }

    /// One record as JSON: its `line` when it has one, else the payload in base64.
    static func json(_ view: RecordView, line: JSONValue?) -> JSONValue {
        var out: [String: JSONValue] = [
            "sequence": .int(Int64(view.sequence)), "timestamp_ns": .int(view.timestampNs), "kind": .string(RecordKind.name(of: view.kind)),
            "size": .int(Int64(view.payload.count)),
        ]
        if let key = view.key { out["key"] = .string(Hex.lowercase(key)) }
        if let line {
            out["data"] = line
        } else {
            out["payload_base64"] = .string(Data(view.payload).base64EncodedString())
        }
        return .object(out)
    }

    /// Records after the cursor `after` (a sequence) that pass every filter, at most `limit`;
    /// `next_after` continues the page, null at the end.
    func records(_ name: String, _ query: Query) throws -> Response {
        let manifest = try state.session(name)
        let limit = try query.int("limit", in: 1...state.options.pageSizeMax, default: 100)!
        let after = try query.int("after", in: -1...Int.max, default: -1)!
        var kinds: [UInt16] = []
        for name in query.strings("kind") {
            guard let kind = RecordKind(name: name) else {
                throw Problem(.badRequest, "kind must be one of \(RecordKind.allCases.map(\.name).joined(separator: ", ")), not '\(name)'")
            }
            kinds.append(kind.rawValue)
        }
        let fromNs = try query.int("from_ns", in: 0...Int.max).map(Int64.init)
        let toNs = try query.int("to_ns", in: 0...Int.max).map(Int64.init)
        let match: [(String, Set<String>)] = [("io_type", "io_type"), ("tool", "tool_name"), ("agent", "agent_id"), ("event_name", "event_name"), ("source", "source")]
            .compactMap { parameter, member in
                let values = query.strings(parameter)
                return values.isEmpty ? nil : (member, Set(values))
            }
        let prefilter = PayloadFilter(text: query.string("q").map { Array($0.utf8) }, values: match.map(\.1))
        let reader: SessionReader
        do throws(RRLogError) { reader = try state.store.openReader(manifest) } catch { throw Problem(error) }
        var page: [JSONValue] = []
        var last: UInt64?
        var more = false
        reader.forEach(kinds: kinds.isEmpty ? nil : Set(kinds), fromSequence: after < 0 ? 0 : UInt64(after) + 1) { view in
            if let fromNs, view.timestampNs < fromNs { return true }
            if let toNs, view.timestampNs >= toNs { return true }
            // Byte tests first: most records fail them and are never parsed.
            if !prefilter.mayMatch(view.payload) { return true }
            // Parsed once, for the member filters and the answer.
            let line = Self.line(view)
            for (member, values) in match {
                guard let value = line?[member]?.stringValue, values.contains(value) else { return true }
            }
            if page.count == limit {
                more = true
                return false
            }
            page.append(Self.json(view, line: line))
            last = view.sequence
            return true
        }
        return JSONReply.value([
            "session": .string(manifest.name), "records": .array(page),
            "next_after": more ? last.map { .int(Int64($0)) } ?? .null : .null,
        ])
    }

    func record(_ name: String, _ sequenceText: String) throws -> Response {
        let manifest = try state.session(name)
        guard let sequence = UInt64(sequenceText) else { throw Problem(.badRequest, "the record's sequence must be a non-negative integer, not '\(sequenceText)'") }
        let reader: SessionReader
        do throws(RRLogError) { reader = try state.store.openReader(manifest) } catch { throw Problem(error) }
        var found: JSONValue?
        reader.forEach(fromSequence: sequence) { view in
            if view.sequence == sequence { found = Self.json(view, line: Self.line(view)) }
            return false
        }
        guard let found else { throw Problem(.notFound, "session \(manifest.name) has no record \(sequence)") }
        return JSONReply.value(found)
    }

    // MARK: Lookup

    /// `{"io_type", "tool", "agent", "inputs", "call_index"}`: the recorded answer by IO key, as
    /// `rrlog get` finds it; a miss is a 404 whose problem carries the mismatch report as data.
    func lookup(_ name: String, _ request: Request) async throws -> Response {
        let manifest = try state.session(name)
        let body = try await JSONBody.read(request, limit: state.options.maxBodyBytes)
        let ioType = try JSONBody.string(body, "io_type"), tool = try JSONBody.string(body, "tool")
        let agent = try JSONBody.optionalString(body, "agent") ?? ""
        guard let inputs = body["inputs"] else { throw Problem(.unprocessableContent, "the body needs the member inputs") }
        var callIndex: UInt32 = 0
        if let given = body["call_index"] {
            guard let n = given.int64Value, n >= 0, n <= Int64(UInt32.max) else { throw Problem(.unprocessableContent, "call_index must be an integer from 0") }
            callIndex = UInt32(n)
        }
        let player: Player
        do throws(ReplayError) { player = try Player(store: state.store, session: manifest.id, logger: .init(label: "rrlog.serve")) } catch { throw Self.problem(error) }
        do throws(ReplayError) {
            let call = try player.lookup(ioType: ioType, agent: agent, tool: tool, inputs: inputs, callIndex: callIndex)
            return JSONReply.value([
                "key": .string(call.key.description), "call_index": .int(Int64(call.key.callIndex)), "sequence": .int(Int64(call.sequence)),
                "outputs": call.outputs, "line": call.line,
            ])
        } catch { throw Self.problem(error) }
    }

    /// A replay error as a problem: misses are 404s with their report as data.
    static func problem(_ error: ReplayError) -> Problem {
        switch error {
        case .noSuchRecording(let name): return Problem(.notFound, "no session named '\(name)'")
        case .noMatch:
            return Problem(.notFound, "no recorded call matches these inputs", extensions: error.missMembers ?? [:])
        case .exhausted(_, _, _, let recorded, let callIndex):
            return Problem(.notFound, "only \(recorded) identical call(s) were recorded; this is call \(callIndex)", extensions: error.missMembers ?? [:])
        case .storage(let e): return Problem(e)
        default: return Problem(.unprocessableContent, error.description)
        }
    }
}

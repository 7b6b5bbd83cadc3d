import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Prometheus
import RRLog
import RRLogInterop
import RRLogOTLPHTTP
import RRLogServer
import RRLogTestSupport
import Synchronization
import XCTest

/// `rrlog serve`'s API through a real HTTP client: access rules, the event recorder's routes and
/// rrlog's own.
final class ServerTests: XCTestCase {
    static let token = "test-token-0123456789abcdef"
    static let eventsFile = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/events/event-recorder.json").path
    static let ioFile = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/io/llm-session-200.jsonl").path

    struct Answer {
        var status: Int
        var body: [UInt8]
        var headers: HTTPHeaders
        var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// A server on a free loopback port over a store holding the sample event recording
    /// (`events`) and the sample agent session (`io`).
    final class Running: @unchecked Sendable {
        let server: RRLogServer
        let store: Store
        let port: Int
        let task: Task<Void, any Error>
        /// A client that shows redirects instead of following them.
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        var base: String { "http://127.0.0.1:\(port)" }

        init(server: RRLogServer, store: Store, port: Int, task: Task<Void, any Error>) {
            self.server = server
            self.store = store
            self.port = port
            self.task = task
        }

        func request(
            _ method: HTTPMethod, _ path: String, json: JSONValue? = nil, body: [UInt8]? = nil, contentType: String? = nil,
            token: String? = ServerTests.token, headers extra: [(String, String)] = []
        ) async throws -> Answer {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            if let json {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: json.serializedBytes()))
            } else if let body {
                if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
                request.body = .bytes(ByteBuffer(bytes: body))
            }
            for (name, value) in extra { request.headers.replaceOrAdd(name: name, value: value) }
            let response = try await client.execute(request, timeout: .seconds(30))
            let buffer = try await response.body.collect(upTo: 64 << 20)
            return Answer(status: Int(response.status.code), body: Array(buffer.readableBytesView), headers: response.headers)
        }

        func stop() async throws {
            try? await client.shutdown()
            await server.stop()
            try await task.value
        }
    }

    func start(token: String? = ServerTests.token, configure: (inout ServeOptions) -> Void = { _ in }, before: (RRLogServer, Store) throws -> Void = { _, _ in }) async throws -> Running {
        let store = try Store(path: TestPaths.temporaryDirectory(self, prefix: "rrlog-serve") + "/store")
        _ = try EventRecorderFormat.importFile([UInt8](FileManager.default.contents(atPath: Self.eventsFile)!), file: "event-recorder.json", into: store, name: "events")
        let ingest = try IOEventIngest.create(store: store, session: IOEventIngest.NewSession(name: "io"))
        var reader = try JSONLinesReader(path: Self.ioFile)
        try reader.forEachLine { (line, n) throws(RRLogError) in try ingest.add(lineBytes: line, location: "io:\(n)") }
        _ = try ingest.commit()
        var options = ServeOptions()
        options.port = 0
        options.token = token
        configure(&options)
        let server = try RRLogServer(store: store, options: options)
        try before(server, store)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { _, port in continuation.yield(port) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw XCTSkip("the server did not start") }
        let running = Running(server: server, store: store, port: port, task: task)
        addTeardownBlock { try? await running.stop() }
        return running
    }

    // MARK: Access

    func testEveryRequestNeedsTheTokenAndTheServersOwnHost() async throws {
        let s = try await start()
        let none = try await s.request(.GET, "/api/v1/sessions", token: nil)
        XCTAssertEqual(none.status, 401)
        XCTAssertEqual(none.headers.first(name: "Content-Type"), "application/problem+json")
        XCTAssertEqual(none.json["status"], 401)
        XCTAssertNotNil(none.headers.first(name: "WWW-Authenticate"))
        let answer1 = try await s.request(.GET, "/api/v1/sessions", token: "wrong-token-0123456789abcdef")
        XCTAssertEqual(answer1.status, 401)
        let ok = try await s.request(.GET, "/api/v1/sessions")
        XCTAssertEqual(ok.status, 200)
        XCTAssertTrue(ok.headers.first(name: "Content-Security-Policy")?.contains("default-src 'none'") == true)
        XCTAssertEqual(ok.headers.first(name: "X-Content-Type-Options"), "nosniff")

        // The start URL sets an HttpOnly, SameSite=Strict cookie and drops the token from the URL.
        let login = try await s.request(.GET, "/?token=\(Self.token)", token: nil)
        XCTAssertEqual(login.status, 302)
        XCTAssertEqual(login.headers.first(name: "Location"), "/")
        let cookie = try XCTUnwrap(login.headers.first(name: "Set-Cookie"))
        XCTAssertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), cookie)
        let byCookie = try await s.request(.GET, "/api/v1/sessions", token: nil, headers: [("Cookie", String(cookie.prefix { $0 != ";" }))])
        XCTAssertEqual(byCookie.status, 200)
        let answer2 = try await s.request(.GET, "/?token=nope", token: nil)
        XCTAssertEqual(answer2.status, 401)

        // DNS rebinding: another Host is refused; so is a cross-site POST.
        let answer3 = try await s.request(.GET, "/api/v1/sessions", headers: [("Host", "evil.example:\(s.port)")])
        XCTAssertEqual(answer3.status, 403)
        let crossSite = try await s.request(.POST, "/api/record/start", json: ["session_name": "x"], headers: [("Origin", "http://evil.example")])
        XCTAssertEqual(crossSite.status, 403)
        let answer4 = try await s.request(.GET, "/api/record/status")
        XCTAssertEqual(answer4.json["recording"], false, "nothing was started")
        let sameSite = try await s.request(.GET, "/api/v1/sessions", headers: [("Origin", "http://127.0.0.1:\(s.port)")])
        XCTAssertEqual(sameSite.status, 200)
    }

    func testNoAuthOnlyOnLoopbackAndOtherAddressesOnlyOverTLS() async throws {
        let directory = TestPaths.temporaryDirectory(self, prefix: "rrlog-serve")
        let store = try Store(path: directory + "/store")
        try Certificates.make(in: directory)
        var options = ServeOptions()
        options.host = "0.0.0.0"
        options.token = Self.token
        options.allowedHosts = ["rrlog.example"]
        XCTAssertThrowsError(try RRLogServer(store: store, options: options)) { error in
            XCTAssertTrue("\(error)".contains("tls-cert"), "\(error)")
        }
        options.tlsCertificatePath = directory + "/server.pem"
        options.tlsKeyPath = directory + "/server.key"
        XCTAssertNoThrow(try RRLogServer(store: store, options: options))
        options.allowedHosts = []
        XCTAssertThrowsError(try RRLogServer(store: store, options: options), "beyond loopback, the names clients use must be given")
        options.allowedHosts = ["rrlog.example"]
        options.token = nil
        XCTAssertThrowsError(try RRLogServer(store: store, options: options), "no --no-auth beyond loopback")
        options.token = Self.token
        options.tlsKeyPath = directory + "/missing.key"
        XCTAssertThrowsError(try RRLogServer(store: store, options: options)) { error in
            XCTAssertTrue("\(error)".contains("missing.key"), "\(error)")
        }

        // HTTPS on loopback with a certificate from a private CA: a client that trusts the CA
        // gets in (with the token); plain HTTP does not.
        options.host = "127.0.0.1"
        options.port = 0
        options.tlsKeyPath = directory + "/server.key"
        let server = try RRLogServer(store: store, options: options)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { _, port in continuation.yield(port) } }
        var iterator = ports.makeAsyncIterator()
        let next = await iterator.next()
        let port = try XCTUnwrap(next)
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(directory + "/ca.pem"))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls, redirectConfiguration: .disallow))
        var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/api/v1/sessions")
        request.headers.add(name: "Authorization", value: "Bearer \(Self.token)")
        let answer = try await client.execute(request, timeout: .seconds(30))
        XCTAssertEqual(answer.status.code, 200)
        let login = try await client.execute(HTTPClientRequest(url: "https://127.0.0.1:\(port)/?token=\(Self.token)"), timeout: .seconds(30))
        XCTAssertTrue(login.headers.first(name: "Set-Cookie")?.contains("; Secure") == true, "the cookie is Secure over TLS")
        let plain = HTTPClient(eventLoopGroupProvider: .singleton)
        var failed = false
        do { _ = try await plain.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/api/v1/sessions"), timeout: .seconds(10)) } catch { failed = true }
        XCTAssertTrue(failed, "no clear text on a TLS server")
        try await client.shutdown()
        try await plain.shutdown()
        await server.stop()
        try await task.value

        let s = try await start(token: nil)
        let answer5 = try await s.request(.GET, "/api/v1/sessions", token: nil)
        XCTAssertEqual(answer5.status, 200)
    }

    // MARK: The event recorder's routes

    func testRecordingsEventsFieldsAndCopies() async throws {
        let s = try await start()
        let list = try await s.request(.GET, "/api/recordings").json["recordings"]?.arrayValue ?? []
        XCTAssertEqual(list.map { $0["session_name"] }, ["events"], "only sessions with bus events")
        XCTAssertEqual(list.first?["total_events"], 2000)

        let whole = try await s.request(.GET, "/api/recording/events?limit=5").json
        XCTAssertEqual(whole["total_events"], 2000)
        XCTAssertEqual(whole["events"]?.arrayValue?.count, 5)
        XCTAssertEqual(whole["events"]?[0]?["event_name"], "SignalGenerated")

        let placed = try await s.request(.GET, "/api/recording/events/events?event_name=OrderPlaced&limit=3").json
        XCTAssertEqual(placed["events"]?.arrayValue?.count, 3)
        XCTAssertTrue(placed["events"]?.arrayValue?.allSatisfy { $0["event_name"] == "OrderPlaced" } == true)
        let counted = whole["event_counts"]?["OrderPlaced"]?.int64Value
        XCTAssertEqual(placed["total"]?.int64Value, counted)

        let fields = try await s.request(.GET, "/api/recording/events/fields").json
        XCTAssertEqual(fields["fields"]?["OrderPlaced"], ["order_id", "price", "side", "size", "symbol"])
        XCTAssertTrue(fields["sources"]?.arrayValue?.contains("TradingBot") == true)

        let copy = try await s.request(
            .POST, "/api/recording/create", json: ["source_filename": "events", "event_indices": [0, 3, 4], "new_session_name": "picked"])
        XCTAssertEqual(copy.status, 201, copy.text)
        let picked = try await s.request(.GET, "/api/recording/picked/events").json["events"]?.arrayValue ?? []
        XCTAssertEqual(picked.map { $0["event_name"] }, ["SignalGenerated", "OrderPlaced", "OrderFailed"])

        for (path, body, status) in [
            ("/api/recording/create", ["source_filename": "events", "event_indices": [5000], "new_session_name": "bad"] as JSONValue, 422),
            ("/api/recording/create", ["source_filename": "nope", "event_indices": [0], "new_session_name": "bad"], 404),
            ("/api/recording/create", ["source_filename": "events", "event_indices": [0], "new_session_name": "picked"], 409),
            ("/api/recording/create", ["source_filename": "events"], 422),
        ] {
            let answer = try await s.request(.POST, path, json: body)
            XCTAssertEqual(answer.status, status, "\(body): \(answer.text)")
            XCTAssertEqual(answer.headers.first(name: "Content-Type"), "application/problem+json")
        }
        let answer6 = try await s.request(.GET, "/api/recording/io/events")
        XCTAssertEqual(answer6.status, 422, "an IO session has no bus events")
        let answer7 = try await s.request(.GET, "/api/recording/events/events?limit=0")
        XCTAssertEqual(answer7.status, 400)
        let answer8 = try await s.request(.POST, "/api/recording/create", body: Array("{".utf8), contentType: "application/json")
        XCTAssertEqual(answer8.status, 400)
        let answer9 = try await s.request(.POST, "/api/recording/create", body: Array("a=b".utf8), contentType: "text/plain")
        XCTAssertEqual(answer9.status, 415)
    }

    func testLiveRecordingThroughTheAPI() async throws {
        let s = try await start()
        let answer10 = try await s.request(.POST, "/api/record/event", json: ["event_name": "Early"])
        XCTAssertEqual(answer10.status, 409, "nothing is recording")
        let answer11 = try await s.request(.POST, "/api/record/start", json: ["session_name": "live"])
        XCTAssertEqual(answer11.status, 201)
        let answer12 = try await s.request(.POST, "/api/record/start", json: ["session_name": "other"])
        XCTAssertEqual(answer12.status, 409)
        for i in 0..<10 {
            let answer = try await s.request(.POST, "/api/record/event", json: ["event_name": "Tick", "event_data": ["i": .int(Int64(i))], "source": "test"])
            XCTAssertEqual(answer.status, 200, answer.text)
        }
        let status = try await s.request(.GET, "/api/record/status").json
        XCTAssertEqual(status["recording"], true)
        XCTAssertEqual(status["total_events"], 10)
        let answer13 = try await s.request(.DELETE, "/api/v1/sessions/live")
        XCTAssertEqual(answer13.status, 409, "a session being recorded is not deleted")
        let stopped = try await s.request(.POST, "/api/record/stop")
        XCTAssertEqual(stopped.status, 200)
        XCTAssertEqual(stopped.json["total_events"], 10)
        let events = try await s.request(.GET, "/api/recording/live/events").json["events"]?.arrayValue ?? []
        XCTAssertEqual(events.map { $0["event_data"]?["i"] }, (0..<10).map { .int(Int64($0)) })
        let answer14 = try await s.request(.GET, "/api/v1/sessions/live")
        XCTAssertEqual(answer14.json["status"], "completed")
    }

    func testReplayStartsPausesChangesSpeedAndStops() async throws {
        let s = try await start()
        let started = try await s.request(.POST, "/api/replay/start/events", json: ["speed": 0.1])
        XCTAssertEqual(started.status, 202, started.text)
        XCTAssertEqual(started.json["running"], true)
        XCTAssertEqual(started.json["mode"], "simulation")
        let answer15 = try await s.request(.POST, "/api/replay/start/events", json: [:])
        XCTAssertEqual(answer15.status, 409)
        let answer16 = try await s.request(.POST, "/api/replay/pause")
        XCTAssertEqual(answer16.json["paused"], true)
        let answer17 = try await s.request(.POST, "/api/replay/pause")
        XCTAssertEqual(answer17.json["paused"], false)
        let answer18 = try await s.request(.POST, "/api/replay/speed", json: ["speed": 10])
        XCTAssertEqual(answer18.json["speed"], 10)
        let answer19 = try await s.request(.POST, "/api/replay/speed", json: ["speed": 50])
        XCTAssertEqual(answer19.status, 422)
        let stopped = try await s.request(.POST, "/api/replay/stop")
        XCTAssertEqual(stopped.json["running"], false)
        XCTAssertNil(stopped.json["error"])

        // As fast as a filter allows: only OrderPlaced events, all delivered.
        let fast = try await s.request(.POST, "/api/replay/start/events", json: ["speed": 10, "event_name": ["OrderPlaced"]])
        XCTAssertEqual(fast.status, 202)
        let total = try XCTUnwrap(fast.json["total_events"]?.int64Value)
        var status = JSONValue.null
        for _ in 0..<600 {
            status = try await s.request(.GET, "/api/replay/status").json
            if status["running"] == false { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(status["running"], false, "\(status)")
        XCTAssertEqual(status["delivered"]?.int64Value, total)
        XCTAssertEqual(status["last_event"]?["event_name"], "OrderPlaced")

        let remote = try await s.request(.POST, "/api/replay/start/events", json: ["target": "http://example.com/hook"])
        XCTAssertEqual(remote.status, 422, "no requests to other hosts unless --allow-target")
    }

    // MARK: rrlog's own API

    func testSessionsListInfoAndPages() async throws {
        let s = try await start()
        let page = try await s.request(.GET, "/api/v1/sessions?sort=name&limit=1").json
        XCTAssertEqual(page["total"], 2)
        XCTAssertEqual(page["sessions"]?.arrayValue?.map { $0["name"] }, ["events"])
        let answer20 = try await s.request(.GET, "/api/v1/sessions?sort=name&offset=1")
        XCTAssertEqual(answer20.json["sessions"]?[0]?["name"], "io")
        let answer21 = try await s.request(.GET, "/api/v1/sessions?type=seed")
        XCTAssertEqual(answer21.json["total"], 0)
        let answer22 = try await s.request(.GET, "/api/v1/sessions?sort=size")
        XCTAssertEqual(answer22.status, 400)
        let answer23 = try await s.request(.GET, "/api/v1/sessions?limit=100000")
        XCTAssertEqual(answer23.status, 400)
        let info = try await s.request(.GET, "/api/v1/sessions/io").json
        XCTAssertEqual(info["records"], 200)
        // A time range: the event recording is from 2025-10-17, the agent session from 2025-10-09.
        let october17 = 1_760_659_200_000_000_000
        let later = try await s.request(.GET, "/api/v1/sessions?from_ns=\(october17)").json
        XCTAssertEqual(later["sessions"]?.arrayValue?.map { $0["name"] }, ["events"])
        let earlier = try await s.request(.GET, "/api/v1/sessions?to_ns=\(october17)").json
        XCTAssertEqual(earlier["sessions"]?.arrayValue?.map { $0["name"] }, ["io"])
        let answer24 = try await s.request(.GET, "/api/v1/sessions/nope")
        XCTAssertEqual(answer24.status, 404)
    }

    func testRecordsFilterAndPageByCursor() async throws {
        let s = try await start()
        var seen: [Int64] = []
        var after: Int64 = -1
        repeat {
            let page = try await s.request(.GET, "/api/v1/sessions/io/records?kind=event&limit=7&after=\(after)").json
            for r in page["records"]?.arrayValue ?? [] {
                XCTAssertEqual(r["kind"], "event")
                XCTAssertNotNil(r["data"]?["ts_ns"], "the line comes back with its timestamp")
                XCTAssertEqual(r["key"]?.stringValue?.count, 72)
                seen.append(r["sequence"]?.int64Value ?? -1)
            }
            after = page["next_after"]?.int64Value ?? -2
        } while after >= 0
        XCTAssertEqual(Set(seen).count, seen.count, "no record twice")
        let info = try await s.request(.GET, "/api/v1/sessions/io").json
        XCTAssertEqual(Int64(seen.count), info["counts_by_kind"]?["event"]?.int64Value)

        let one = try await s.request(.GET, "/api/v1/sessions/io/records/\(seen[2])").json
        XCTAssertEqual(one["sequence"]?.int64Value, seen[2])
        let answer25 = try await s.request(.GET, "/api/v1/sessions/io/records/999999")
        XCTAssertEqual(answer25.status, 404)
        let answer26 = try await s.request(.GET, "/api/v1/sessions/io/records/x")
        XCTAssertEqual(answer26.status, 400)
        let answer27 = try await s.request(.GET, "/api/v1/sessions/io/records?kind=nonsense")
        XCTAssertEqual(answer27.status, 400)

        let tool = try XCTUnwrap(one["data"]?["tool_name"]?.stringValue)
        let byTool = try await s.request(.GET, "/api/v1/sessions/io/records?tool=\(tool)&limit=1000").json["records"]?.arrayValue ?? []
        XCTAssertFalse(byTool.isEmpty)
        XCTAssertTrue(byTool.allSatisfy { $0["data"]?["tool_name"]?.stringValue == tool })
        let searched = try await s.request(.GET, "/api/v1/sessions/events/records?q=ord-67164890").json["records"]?.arrayValue ?? []
        XCTAssertEqual(searched.count, 1)
        XCTAssertEqual(searched.first?["data"]?["event_data"]?["order_id"], "ord-67164890")
    }

    /// POSTs of IO events continue the call indexes from the state the server keeps per session:
    /// a refused batch does not advance them, an append by another writer and a removed and
    /// recreated session are noticed.
    func testIOEventPostsContinueCallIndexes() async throws {
        let s = try await start()
        func post(_ count: Int, bad: Bool = false) async throws -> Answer {
            var lines = (0..<count).map { _ in
                JSONValue.object([
                    "type": "event", "ts_ns": 1_000, "io_type": "tool_call", "tool_name": "search", "agent_id": "a",
                    "inputs": ["q": "same"], "outputs": ["ok": true],
                ]).serialized()
            }
            if bad { lines.append(#"{"type": "event"}"#) }
            return try await s.request(.POST, "/api/v1/sessions/calls/io-events", body: Array(lines.joined(separator: "\n").utf8), contentType: "application/x-ndjson")
        }
        func indexes() async throws -> [Int64] {
            let page = try await s.request(.GET, "/api/v1/sessions/calls/records?limit=1000").json
            return (page["records"]?.arrayValue ?? []).compactMap { $0["data"]?["call_index"]?.int64Value }
        }
        let created = try await s.request(.POST, "/api/v1/sessions", json: ["name": "calls"])
        XCTAssertEqual(created.status, 201, created.text)
        let first = try await post(2)
        XCTAssertEqual(first.status, 200, first.text)
        let refused = try await post(3, bad: true)
        XCTAssertEqual(refused.status, 422, refused.text)
        let second = try await post(2)
        XCTAssertEqual(second.status, 200, second.text)
        let afterRefused = try await indexes()
        XCTAssertEqual(afterRefused, [0, 1, 2, 3])
        // Another writer (as `rrlog append` does) between two POSTs: refused while the server
        // keeps its writer open, welcome once that closed (idle).
        XCTAssertThrowsError(try IOEventIngest.append(store: s.store, to: try s.store.session("calls"))) { error in
            XCTAssertEqual((error as? RRLogError)?.code, .busy, "\(error)")
        }
        for _ in 0..<100 where try s.store.session("calls").status != "completed" { try await Task.sleep(for: .milliseconds(100)) }
        let direct = try IOEventIngest.append(store: s.store, to: try s.store.session("calls"))
        try direct.add(["type": "event", "ts_ns": 2_000, "io_type": "tool_call", "tool_name": "search", "agent_id": "a", "inputs": ["q": "same"], "outputs": ["ok": true]], location: "direct")
        _ = try direct.commit()
        let third = try await post(1)
        XCTAssertEqual(third.status, 200, third.text)
        let afterDirect = try await indexes()
        XCTAssertEqual(afterDirect, [0, 1, 2, 3, 4, 5])
        // Removed and created again: indexes start over.
        let removed = try await s.request(.DELETE, "/api/v1/sessions/calls")
        XCTAssertEqual(removed.status, 204, removed.text)
        let again = try await s.request(.POST, "/api/v1/sessions", json: ["name": "calls"])
        XCTAssertEqual(again.status, 201, again.text)
        let fourth = try await post(2)
        XCTAssertEqual(fourth.status, 200, fourth.text)
        let afresh = try await indexes()
        XCTAssertEqual(afresh, [0, 1])
    }

    /// The member filters test bytes before they parse: a value found elsewhere in the line, or
    /// inside a longer value, is no match; values JSON may escape are still found.
    func testRecordsMemberFiltersAreExact() async throws {
        let s = try await start()
        let created = try await s.request(.POST, "/api/v1/sessions", json: ["name": "tools"])
        XCTAssertEqual(created.status, 201, created.text)
        func event(_ tool: String, _ q: String) -> String {
            JSONValue.object([
                "type": "event", "ts_ns": 1_000, "io_type": "tool_call", "tool_name": .string(tool), "agent_id": "a",
                "inputs": ["q": .string(q)], "outputs": ["ok": true],
            ]).serialized()
        }
        let lines = [
            event("search", "retry tool"), event("http", "search"), event("research", "x"), event("a/b", "search"),
            event("café", "y"), event("quote\"d", "z"), event("search", "other"),
        ].joined(separator: "\n")
        let appended = try await s.request(.POST, "/api/v1/sessions/tools/io-events", body: Array(lines.utf8), contentType: "application/x-ndjson")
        XCTAssertEqual(appended.status, 200, appended.text)
        func tools(_ query: String) async throws -> [String] {
            let page = try await s.request(.GET, "/api/v1/sessions/tools/records?\(query)").json
            return (page["records"]?.arrayValue ?? []).compactMap { $0["data"]?["tool_name"]?.stringValue }
        }
        let searchTools = try await tools("tool=search")
        XCTAssertEqual(searchTools, ["search", "search"])
        let slashTools = try await tools("tool=a/b")
        XCTAssertEqual(slashTools, ["a/b"])
        let accented = try await tools("tool=caf%C3%A9")
        XCTAssertEqual(accented, ["café"])
        let quoted = try await tools("tool=quote%22d")
        XCTAssertEqual(quoted, ["quote\"d"])
        let either = try await tools("tool=search&tool=research&q=retry%20tool")
        XCTAssertEqual(either, ["search"])
        let none = try await tools("tool=search&q=nowhere")
        XCTAssertEqual(none, [])
    }

    func testCreateAppendLookupAndDelete() async throws {
        let s = try await start()
        let created = try await s.request(.POST, "/api/v1/sessions", json: ["name": "api", "volatile_paths": ["request_id"]])
        XCTAssertEqual(created.status, 201, created.text)
        let answer28 = try await s.request(.POST, "/api/v1/sessions", json: ["name": "api"])
        XCTAssertEqual(answer28.status, 409)

        func event(_ q: String, _ hits: Int, _ id: String) -> JSONValue {
            [
                "type": "event", "ts_ns": 1_000, "io_type": "tool_call", "tool_name": "search", "agent_id": "a",
                "inputs": ["q": .string(q), "request_id": .string(id)], "outputs": ["hits": .int(Int64(hits))],
            ]
        }
        let lines = [event("swift", 1, "r1"), event("swift", 2, "r2"), event("rust", 3, "r3")].map { $0.serialized() }.joined(separator: "\n")
        let appended = try await s.request(.POST, "/api/v1/sessions/api/io-events", body: Array(lines.utf8), contentType: "application/x-ndjson")
        XCTAssertEqual(appended.status, 200, appended.text)
        XCTAssertEqual(appended.json["appended"], 3)

        // All or nothing: a bad third line keeps nothing of the batch, and names its line.
        let bad = [event("go", 4, "r4").serialized(), event("go", 5, "r5").serialized(), #"{"type": "event"}"#].joined(separator: "\n")
        let refused = try await s.request(.POST, "/api/v1/sessions/api/io-events", body: Array(bad.utf8), contentType: "application/x-ndjson")
        XCTAssertEqual(refused.status, 422, refused.text)
        XCTAssertTrue(refused.json["detail"]?.stringValue?.contains("line 3") == true, refused.text)
        let answer29 = try await s.request(.GET, "/api/v1/sessions/api")
        XCTAssertEqual(answer29.json["records"], 3)
        let answer30 = try await s.request(.POST, "/api/v1/sessions/api/io-events", body: Array("x".utf8), contentType: "text/plain")
        XCTAssertEqual(answer30.status, 415)
        let answer31 = try await s.request(.POST, "/api/v1/sessions/events/io-events", body: Array(lines.utf8), contentType: "application/x-ndjson")
        XCTAssertEqual(answer31.status, 409)

        // Lookups by IO key: the volatile request_id does not count; identical calls by index.
        let first = try await s.request(.POST, "/api/v1/sessions/api/lookup", json: ["io_type": "tool_call", "tool": "search", "agent": "a", "inputs": ["q": "swift", "request_id": "zzz"]])
        XCTAssertEqual(first.status, 200, first.text)
        XCTAssertEqual(first.json["outputs"], ["hits": 1])
        let second = try await s.request(.POST, "/api/v1/sessions/api/lookup", json: ["io_type": "tool_call", "tool": "search", "agent": "a", "inputs": ["q": "swift"], "call_index": 1])
        XCTAssertEqual(second.json["outputs"], ["hits": 2])
        let miss = try await s.request(.POST, "/api/v1/sessions/api/lookup", json: ["io_type": "tool_call", "tool": "search", "agent": "a", "inputs": ["q": "swiftly"]])
        XCTAssertEqual(miss.status, 404)
        XCTAssertEqual(miss.json["reason"], "no_match")
        XCTAssertEqual(miss.json["closest"]?[0]?["differences"]?[0]?["path"], "q")
        let exhausted = try await s.request(.POST, "/api/v1/sessions/api/lookup", json: ["io_type": "tool_call", "tool": "search", "agent": "a", "inputs": ["q": "rust"], "call_index": 1])
        XCTAssertEqual(exhausted.json["reason"], "exhausted")
        XCTAssertEqual(exhausted.json["recorded"], 1)

        let answer32 = try await s.request(.DELETE, "/api/v1/sessions/api")
        XCTAssertEqual(answer32.status, 204)
        let answer33 = try await s.request(.GET, "/api/v1/sessions/api")
        XCTAssertEqual(answer33.status, 404)
        // Gone from every route under it, with filters or without (schemathesis' use-after-free
        // check, made deterministic: see Tools/api-check).
        for path in ["records", "records?agent=a&to_ns=12&after=5", "records/0", "timeline", "traces/abc", "streams", "streams/x", "export", "verify", "tail"] {
            let answer = try await s.request(.GET, "/api/v1/sessions/api/\(path)")
            XCTAssertEqual(answer.status, 404, "GET \(path): \(answer.text)")
        }
        for path in ["io-events", "lookup", "copy"] {
            let answer = try await s.request(.POST, "/api/v1/sessions/api/\(path)", json: ["new_session_name": "again", "io_type": "tool_call"])
            XCTAssertEqual(answer.status, 404, "POST \(path): \(answer.text)")
        }
        let again = try await s.request(.DELETE, "/api/v1/sessions/api")
        XCTAssertEqual(again.status, 404)
    }

    /// POSTs of IO events to one session go through one writer kept open between them (they
    /// share its segment), each counted in the catalog at once; idle, it closes and the session
    /// completes, its log free for another writer; concurrent POSTs take turns, none lost.
    func testIOEventPOSTsShareAWriterThatClosesWhenIdle() async throws {
        let s = try await start()
        let created = try await s.request(.POST, "/api/v1/sessions", json: ["name": "posts"])
        XCTAssertEqual(created.status, 201, created.text)
        func lines(_ from: Int, _ count: Int) -> [UInt8] {
            Array((from..<(from + count)).map { i in
                #"{"type":"event","ts_ns":\#(1_000 + i),"io_type":"tool_call","tool_name":"t","agent_id":"a","inputs":{"q":"q\#(i % 3)"},"outputs":{"n":\#(i)}}"#
            }.joined(separator: "\n").utf8)
        }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for p in 0..<8 {
                group.addTask {
                    let a = try await s.request(.POST, "/api/v1/sessions/posts/io-events", body: lines(p * 10, 10), contentType: "application/x-ndjson")
                    return a.status
                }
            }
            for try await status in group { XCTAssertEqual(status, 200) }
        }
        let listed = try await s.request(.GET, "/api/v1/sessions/posts")
        XCTAssertEqual(listed.json["records"], 80)
        XCTAssertEqual(listed.json["status"], "active", "the writer stays open between POSTs")
        let page = try await s.request(.GET, "/api/v1/sessions/posts/records?limit=100")
        XCTAssertEqual(page.json["records"]?.arrayValue?.count, 80, "readers see every POST while the writer is open")
        var status: JSONValue?
        for _ in 0..<100 {
            status = try await s.request(.GET, "/api/v1/sessions/posts").json["status"]
            if status == "completed" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(status, "completed", "an idle writer closes")
        let m = try s.store.session("posts")
        XCTAssertEqual(m.segments.count, 1, "80 events in 8 POSTs share one segment")
        // Closed, the log takes another writer; call indexes count every POST's calls.
        let more = try IOEventIngest.append(store: s.store, to: m)
        try more.add(["type": "event", "ts_ns": 5, "io_type": "tool_call", "tool_name": "t", "agent_id": "a", "inputs": ["q": "q0"], "outputs": [:]], location: "x")
        let final = try more.commit()
        let reader = try s.store.openReader(final)
        XCTAssertEqual(reader.recordedCallCount(IOCallIdentity(ioType: "tool_call", tool: "t", agent: "a", inputs: ["q": "q0"])), 28)
    }

    // MARK: Session views

    func testTimelineTracesStreamsExportAndVerify() async throws {
        let s = try await start()
        // Timeline: the io session's 200 records in 20 buckets, by agent; lanes add up.
        let t = try await s.request(.GET, "/api/v1/sessions/io/timeline?buckets=20&group=agent")
        XCTAssertEqual(t.status, 200, t.text)
        XCTAssertEqual(t.json["counts"]?.arrayValue?.count, 20)
        XCTAssertEqual(t.json["counts"]?.arrayValue?.compactMap(\.int64Value).reduce(0, +), 200)
        XCTAssertEqual(t.json["lanes"]?.arrayValue?.compactMap { $0["total"]?.int64Value }.reduce(0, +), 200)
        let byName = try await s.request(.GET, "/api/v1/sessions/events/timeline?buckets=5&group=event_name").json
        XCTAssertFalse((byName["lanes"]?.arrayValue ?? []).contains { $0["name"] == "(none)" }, "every bus event has a name")
        for bad in ["buckets=0", "group=colour", "from_ns=5&to_ns=5", "buckets=x"] {
            let answer = try await s.request(.GET, "/api/v1/sessions/io/timeline?\(bad)")
            XCTAssertEqual(answer.status, 400, bad)
        }

        // Streams: the list, one stream's chunks with offsets from its start, a missing one.
        let list = try await s.request(.GET, "/api/v1/sessions/io/streams").json["streams"]?.arrayValue ?? []
        XCTAssertEqual(list.count, 3)
        let id = try XCTUnwrap(list.first?["stream_id"]?.stringValue)
        let one = try await s.request(.GET, "/api/v1/sessions/io/streams/\(id)").json
        let offsets = one["chunk_list"]?.arrayValue?.compactMap { $0["offset_ns"]?.int64Value } ?? []
        XCTAssertEqual(Int64(offsets.count), one["chunks"]?.int64Value)
        XCTAssertEqual(offsets, offsets.sorted())
        XCTAssertTrue(offsets.allSatisfy { $0 >= 0 })
        let answer40 = try await s.request(.GET, "/api/v1/sessions/io/streams/nope")
        XCTAssertEqual(answer40.status, 404)

        // A trace of an OTLP session, in tree order: each span after its parent.
        let otlp = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/otlp/traces-003.otlp").path
        let m = try OTLPImporter().importFiles([otlp], into: s.store, session: "traces")
        let traceID = try XCTUnwrap(try OTLPImporter().requests(fromFile: otlp).first?.spans.first?.traceID)
        let trace = try await s.request(.GET, "/api/v1/sessions/traces/traces/\(traceID)")
        XCTAssertEqual(trace.status, 200, trace.text)
        let spans = trace.json["spans"]?.arrayValue ?? []
        XCTAssertEqual(spans.count, try OTLPExporter.spans(traceID: traceID, in: m, from: s.store).count)
        var seen: Set<String> = []
        for span in spans {
            let parent = span["parent_span_id"]?.stringValue ?? ""
            if span["depth"] != 0 { XCTAssertTrue(seen.contains(parent), "a child after its parent") }
            seen.insert(span["span_id"]?.stringValue ?? "")
        }
        let answer41 = try await s.request(.GET, "/api/v1/sessions/traces/traces/\(String(repeating: "0", count: 32))")
        XCTAssertEqual(answer41.status, 404)
        let answer42 = try await s.request(.GET, "/api/v1/sessions/traces/traces/xyz")
        XCTAssertEqual(answer42.status, 400)

        // Export, streamed: the same bytes as the library writes.
        let exported = try await s.request(.GET, "/api/v1/sessions/io/export")
        XCTAssertEqual(exported.status, 200)
        XCTAssertEqual(exported.headers.first(name: "Content-Type"), "application/x-ndjson")
        var expected: [UInt8] = []
        _ = try IOJSONLines.export(try s.store.session("io"), from: s.store) { (b: [UInt8]) throws(RRLogError) in expected.append(contentsOf: b) }
        XCTAssertEqual(exported.body, expected)
        let events = try await s.request(.GET, "/api/v1/sessions/events/export").json
        XCTAssertEqual(events["events"]?.arrayValue?.count, try s.store.session("events").recordCount)
        let answer43 = try await s.request(.GET, "/api/v1/sessions/events/export?format=otlp-json")
        XCTAssertEqual(answer43.status, 422)
        let answer44 = try await s.request(.GET, "/api/v1/sessions/events/export?format=csv")
        XCTAssertEqual(answer44.status, 400)

        // Verify: clean, with no path of the server in the answer.
        let verified = try await s.request(.GET, "/api/v1/sessions/io/verify")
        XCTAssertEqual(verified.json["clean"], true, verified.text)
        XCTAssertFalse(verified.text.contains(s.store.path))
    }

    func testLiveTailSendsRecordsAsTheyAreWrittenThenEnds() async throws {
        let s = try await start()
        let started = try await s.request(.POST, "/api/record/start", json: ["session_name": "live"])
        XCTAssertEqual(started.status, 201, started.text)
        _ = try await s.request(.POST, "/api/record/event", json: ["event_name": "first", "event_data": ["n": 1], "source": "test"])
        var request = HTTPClientRequest(url: s.base + "/api/v1/sessions/live/tail")
        request.headers.add(name: "Authorization", value: "Bearer \(Self.token)")
        let response = try await s.client.execute(request, timeout: .seconds(60))
        XCTAssertEqual(response.status.code, 200)
        XCTAssertEqual(response.headers.first(name: "Content-Type"), "text/event-stream")
        var text = ""
        var wroteSecond = false
        for try await buffer in response.body {
            text += String(buffer: buffer)
            if text.contains("\"first\""), !wroteSecond {
                wroteSecond = true
                _ = try await s.request(.POST, "/api/record/event", json: ["event_name": "second", "event_data": ["n": 2], "source": "test"])
                _ = try await s.request(.POST, "/api/record/stop")
            }
            if text.contains("event: end") { break }
        }
        XCTAssertTrue(text.contains("\"second\""), text)
        XCTAssertTrue(text.range(of: "first")!.lowerBound < text.range(of: "second")!.lowerBound)
        XCTAssertTrue(text.contains("event: end"), text)
        let ids = text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.compactMap { Int($0.dropFirst(4)) }
        XCTAssertEqual(ids.count, 2)
        XCTAssertEqual(ids.last, ids.first.map { $0 + 1 })
        // Resuming after the last id the client saw sends nothing more than the end; after the
        // first, the second again.
        let resumed = try await s.request(.GET, "/api/v1/sessions/live/tail", headers: [("Last-Event-ID", String(ids.last ?? 0))])
        XCTAssertFalse(resumed.text.contains("event: record"), resumed.text)
        XCTAssertTrue(resumed.text.contains("event: end"))
        let again = try await s.request(.GET, "/api/v1/sessions/live/tail?after=\(ids.first ?? 0)")
        XCTAssertEqual(again.text.components(separatedBy: "event: record").count, 2, again.text)
        XCTAssertTrue(again.text.contains("\"second\""))
    }

    // MARK: Metrics and OTLP

    func testMetricsAndOTLPCaptureBehindTheToken() async throws {
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(descriptor: MetricNameDescriptor(metricName: "rrlog_test", unitName: "total", helpText: "A counter of the test.")).increment(by: Int64(3))
        let writer = Mutex<SessionWriter?>(nil)
        let s = try await start(configure: { $0.metrics = { registry.emitToBuffer() } }, before: { server, store in
            let w = try store.openWriter(try store.createSession(name: "otlp-in", type: "capture"))
            writer.withLock { $0 = w }
            server.captureOTLP(into: w)
        })
        let metrics = try await s.request(.GET, "/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers.first(name: "Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        XCTAssertTrue(metrics.text.contains("rrlog_test_total 3"), metrics.text)
        let answer50 = try await s.request(.GET, "/metrics", token: nil)
        XCTAssertEqual(answer50.status, 401)

        // OTLP/HTTP into the capture session: with the token only, then the session holds it.
        let body = [UInt8](try Data(contentsOf: TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/otlp/traces-003.otlp")))
        let refused = try await s.request(.POST, "/v1/traces", body: body, contentType: "application/x-protobuf", token: nil)
        XCTAssertEqual(refused.status, 401)
        let taken = try await s.request(.POST, "/v1/traces", body: body, contentType: "application/x-protobuf")
        XCTAssertEqual(taken.status, 200, taken.text)
        let bad = try await s.request(.POST, "/v1/logs", body: [1, 2, 3], contentType: "application/x-protobuf")
        XCTAssertEqual(bad.status, 400)
        try await s.stop()
        let totals = try XCTUnwrap(try s.server.finishOTLPCapture())
        XCTAssertEqual(totals.requests, 1)
        let manifest = try XCTUnwrap(writer.withLock { $0 }).close()
        let expected = try OTLPRequest(protobuf: body, signal: .traces, source: "fixture").spans.count
        XCTAssertEqual(totals.spans, expected)
        XCTAssertEqual(try OTLPExporter.requests(manifest, from: s.store).flatMap(\.spans).count, expected)
    }

    // MARK: Replays under /api/v1

    func testReplaysWithControlsAnEventStreamAndAWebhook() async throws {
        // No token (loopback), so that the webhook can be this server's own /api/record/event:
        // the replayed events are recorded again, into "echo".
        let s = try await start(token: nil)
        _ = try await s.request(.POST, "/api/record/start", json: ["session_name": "echo"])
        let started = try await s.request(.POST, "/api/v1/replays", json: [
            "session": "events", "speed": 10, "event_name": ["OrderPlaced"], "to_ms": 30000, "webhook": .string(s.base + "/api/record/event"),
        ])
        XCTAssertEqual(started.status, 201, started.text)
        let id = try XCTUnwrap(started.json["id"]?.stringValue)
        let total = try XCTUnwrap(started.json["total_events"]?.int64Value)
        XCTAssertGreaterThan(total, 0)
        XCTAssertEqual(started.json["mode"], "post")

        // The event stream: every delivered event once, then the end.
        let stream = try await s.request(.GET, "/api/v1/replays/\(id)/events")
        XCTAssertEqual(stream.headers.first(name: "Content-Type"), "text/event-stream")
        let delivered = stream.text.components(separatedBy: "event: event\n").count - 1
        XCTAssertEqual(Int64(delivered), total, stream.text)
        XCTAssertTrue(stream.text.contains("event: end"))
        XCTAssertFalse(stream.text.contains("\"event_name\":\"OrderFailed\""), "the filter holds")
        let done = try await s.request(.GET, "/api/v1/replays/\(id)").json
        XCTAssertEqual(done["delivered"]?.int64Value, total)
        let echoed = try await s.request(.POST, "/api/record/stop")
        XCTAssertEqual(echoed.json["total_events"]?.int64Value, total, "every event reached the webhook")

        // Controls: pause, step one event at a time, seek, speed, stop, delete.
        let slow = try await s.request(.POST, "/api/v1/replays", json: ["session": "events", "speed": 0.1])
        let slowID = try XCTUnwrap(slow.json["id"]?.stringValue)
        let paused = try await s.request(.POST, "/api/v1/replays/\(slowID)/pause")
        XCTAssertEqual(paused.json["paused"], true)
        let before = try await s.request(.GET, "/api/v1/replays/\(slowID)").json["delivered"]?.int64Value ?? -1
        _ = try await s.request(.POST, "/api/v1/replays/\(slowID)/step")
        var after = before
        for _ in 0..<500 where after == before {
            try await Task.sleep(for: .milliseconds(20))
            after = try await s.request(.GET, "/api/v1/replays/\(slowID)").json["delivered"]?.int64Value ?? -1
        }
        XCTAssertEqual(after, before + 1, "a step delivers one event")
        let answer60 = try await s.request(.POST, "/api/v1/replays/\(slowID)/seek", json: ["offset_ms": -1])
        XCTAssertEqual(answer60.status, 422)
        let answer61 = try await s.request(.POST, "/api/v1/replays/\(slowID)/seek", json: ["offset_ms": 60000])
        XCTAssertEqual(answer61.status, 200)
        let answer62 = try await s.request(.POST, "/api/v1/replays/\(slowID)/speed", json: ["speed": 5])
        XCTAssertEqual(answer62.json["speed"], 5)
        let listed = try await s.request(.GET, "/api/v1/replays").json["replays"]?.arrayValue ?? []
        XCTAssertEqual(Set(listed.compactMap { $0["id"]?.stringValue }), [id, slowID])
        let stopped = try await s.request(.POST, "/api/v1/replays/\(slowID)/stop")
        XCTAssertEqual(stopped.json["running"], false)
        let answer63 = try await s.request(.DELETE, "/api/v1/replays/\(slowID)")
        XCTAssertEqual(answer63.status, 204)
        let answer64 = try await s.request(.GET, "/api/v1/replays/\(slowID)")
        XCTAssertEqual(answer64.status, 404)
        let answer65 = try await s.request(.POST, "/api/v1/replays", json: ["session": "events", "webhook": "http://example.com/hook"])
        XCTAssertEqual(answer65.status, 422, "no requests to other hosts unless --allow-target")
        let answer66 = try await s.request(.POST, "/api/v1/replays", json: ["session": "io"])
        XCTAssertEqual(answer66.status, 422, "an IO session has no bus events")
    }

    func testOTLPReplayToAnEndpointIntoTheServersOwnCapture() async throws {
        // No token (loopback), so that the replay's endpoint can be this server's own /v1/*.
        let writer = Mutex<SessionWriter?>(nil)
        let s = try await start(token: nil, before: { server, store in
            let w = try store.openWriter(try store.createSession(name: "received", type: "capture"))
            writer.withLock { $0 = w }
            server.captureOTLP(into: w)
        })
        let fixture = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/otlp/traces-003.otlp").path
        let source = try OTLPImporter().importFiles([fixture], into: s.store, session: "traces")
        let expected = try OTLPExporter.requests(source, from: s.store).flatMap(\.spans).count
        let started = try await s.request(.POST, "/api/v1/sessions/traces/otlp-replay", json: ["endpoint": .string(s.base), "speed": .null])
        XCTAssertEqual(started.status, 202, started.text)
        let id = try XCTUnwrap(started.json["id"]?.stringValue)
        var status = JSONValue.null
        for _ in 0..<300 {
            status = try await s.request(.GET, "/api/v1/otlp-replays/\(id)").json
            if status["running"] == false { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertEqual(status["running"], false, "\(status)")
        XCTAssertNil(status["error"], "\(status)")
        XCTAssertEqual(status["requests"], status["planned_requests"])
        try await s.stop()
        let totals = try XCTUnwrap(try s.server.finishOTLPCapture())
        XCTAssertEqual(totals.spans, expected)
        let received = try XCTUnwrap(writer.withLock { $0 }).close()
        XCTAssertEqual(try OTLPExporter.requests(received, from: s.store).flatMap(\.spans).count, expected)

        let s2 = try await start()
        let answer70 = try await s2.request(.POST, "/api/v1/sessions/events/otlp-replay", json: ["endpoint": .string(s2.base)])
        XCTAssertEqual(answer70.status, 422, "an event session holds no OTLP data")
        let answer71 = try await s2.request(.POST, "/api/v1/sessions/io/otlp-replay", json: ["endpoint": "http://example.com:4318"])
        XCTAssertEqual(answer71.status, 422, "no requests to other hosts unless --allow-target")
        let answer72 = try await s2.request(.GET, "/api/v1/otlp-replays/o-000000000000")
        XCTAssertEqual(answer72.status, 404)
    }

    func testTheOpenAPIDocumentNamesEveryRoute() async throws {
        let s = try await start()
        let doc = try await s.request(.GET, "/api/openapi.json").json
        XCTAssertEqual(doc["openapi"], "3.1.0")
        let paths = Set(doc["paths"]?.objectValue?.keys.map { $0 } ?? [])
        for route in [
            "/api/recordings", "/api/recording/{name}", "/api/recording/{name}/events", "/api/recording/{name}/fields", "/api/recording/create",
            "/api/record/start", "/api/record/event", "/api/record/stop", "/api/record/status", "/api/replay/start/{name}", "/api/replay/pause",
            "/api/replay/stop", "/api/replay/speed", "/api/replay/status", "/api/v1/sessions", "/api/v1/sessions/{name}",
            "/api/v1/sessions/{name}/records", "/api/v1/sessions/{name}/records/{sequence}", "/api/v1/sessions/{name}/io-events",
            "/api/v1/sessions/{name}/lookup", "/api/v1/sessions/{name}/timeline", "/api/v1/sessions/{name}/traces/{trace}",
            "/api/v1/sessions/{name}/streams", "/api/v1/sessions/{name}/streams/{stream}", "/api/v1/sessions/{name}/export",
            "/api/v1/sessions/{name}/verify", "/api/v1/sessions/{name}/tail", "/metrics", "/api/v1/replays", "/api/v1/replays/{id}",
            "/api/v1/replays/{id}/pause", "/api/v1/replays/{id}/resume", "/api/v1/replays/{id}/step", "/api/v1/replays/{id}/seek",
            "/api/v1/replays/{id}/speed", "/api/v1/replays/{id}/stop", "/api/v1/replays/{id}/events",
            "/api/v1/sessions/{name}/otlp-replay", "/api/v1/otlp-replays/{id}",
        ] {
            XCTAssertTrue(paths.contains(route), route)
        }
    }
}

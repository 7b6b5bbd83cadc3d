import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import RRLog
@testable import RRLogProxy
import RRLogTestSupport
import XCTest

/// `rrlog proxy` against a local upstream: recording, strict replay, misses, secrets, streams,
/// concurrency, TLS, refusals and failures.
final class ProxyTests: XCTestCase {
    func store() throws -> Store {
        try Store(path: TestPaths.temporaryDirectory(self, prefix: "rrlog-proxy") + "/store")
    }

    static let chat: JSONValue = ["model": "gpt-test", "messages": [["role": "user", "content": "hello"]]]
    static let chatStream: JSONValue = ["model": "gpt-test", "messages": [["role": "user", "content": "tell me more"]], "stream": true]
    static let messageStream: JSONValue = [
        "model": "claude-test", "max_tokens": 64, "messages": [["role": "user", "content": "hi claude"]], "stream": true,
    ]

    // MARK: Record, then replay

    func testReplaysEveryRecordedAnswerByteForByteWithoutTheUpstream() async throws {
        let upstream = try await MockUpstream.start()
        let store = try store()
        let requests: [(String, JSONValue)] = [
            ("/v1/chat/completions", Self.chat), ("/v1/chat/completions", Self.chatStream), ("/v1/chat/completions", Self.chat),
            ("/v1/messages", Self.messageStream), ("/v1/chat/completions", Self.chatStream),
        ]
        let recording = try await RunningProxy.start(store, "s", RunningProxy.options(.record, upstream: upstream.base))
        var recorded: [Answer] = []
        for (path, body) in requests { recorded.append(try await recording.post(path, body)) }
        let totals = try await recording.stop()
        await upstream.stop()
        XCTAssertEqual(totals.recorded, 5)
        XCTAssertEqual(totals.answered, 5)
        XCTAssertEqual(upstream.requests, 5)
        XCTAssertTrue(recorded.allSatisfy { $0.status == 200 })
        // Identical requests got the upstream's successive answers.
        XCTAssertTrue(recorded[0].text.contains("echo 1: hello"), recorded[0].text)
        XCTAssertTrue(recorded[2].text.contains("echo 3: hello"), recorded[2].text)
        XCTAssertTrue(recorded[1].text.hasSuffix("data: [DONE]\n\n"), recorded[1].text)

        // The streams were recorded chunk by chunk with their offsets, which grow.
        let player = try Player(store: store, session: "s")
        let call = try player.lookup(ioType: "http", tool: "http", inputs: postInputs("/v1/chat/completions", Self.chatStream))
        let stream = try XCTUnwrap(player.stream(of: call))
        XCTAssertEqual(Array(stream.chunks.map(\.content).joined().utf8), recorded[1].body)
        XCTAssertGreaterThan(stream.chunks.count, 3)
        XCTAssertEqual(stream.chunks.map(\.offsetNs), stream.chunks.map(\.offsetNs).sorted())
        XCTAssertEqual(call.line["metadata"]?["status"], 200)
        XCTAssertEqual(call.line["metadata"]?["headers"]?["content-type"], "text/event-stream; charset=utf-8")

        let replaying = try await RunningProxy.start(store, "s", RunningProxy.options(.strict, upstream: nil))
        for (n, (path, body)) in requests.enumerated() {
            let answer = try await replaying.post(path, body)
            XCTAssertEqual(answer.status, recorded[n].status, "request \(n)")
            XCTAssertEqual(answer.body, recorded[n].body, "request \(n): \(answer.text)")
            XCTAssertEqual(answer.headers.first(name: "content-type"), recorded[n].headers.first(name: "content-type"))
            XCTAssertEqual(answer.headers.first(name: "x-rrlog-replay"), "hit")
        }
        // A third identical request was never recorded: the calls are exhausted.
        let extra = try await replaying.post("/v1/chat/completions", Self.chat)
        XCTAssertEqual(extra.status, 404)
        XCTAssertEqual(extra.json["reason"], "exhausted")
        XCTAssertEqual(extra.json["recorded"], 2)
        let replayed = try await replaying.stop()
        XCTAssertEqual(replayed.replayed, 5)
        XCTAssertEqual(replayed.misses, 1)
        XCTAssertEqual(upstream.requests, 5, "a strict replay never contacts the upstream")
    }

    func testReplayedStreamsKeepTheirChunksAndRecordedOffsets() async throws {
        let upstream = try await MockUpstream.start()
        let store = try store()
        let recording = try await RunningProxy.start(store, "s", RunningProxy.options(.record, upstream: upstream.base))
        let recorded = try await recording.post("/v1/messages", Self.messageStream)
        try await recording.stop()
        await upstream.stop()
        // At speed 1 each chunk goes out on its own, as recorded (the gaps keep them apart).
        let replaying = try await RunningProxy.start(store, "s", RunningProxy.options(.strict, upstream: nil, speed: 1))
        let replayed = try await replaying.post("/v1/messages", Self.messageStream)
        let totals = try await replaying.stop()
        XCTAssertEqual(replayed.body, recorded.body)
        let player = try Player(store: store, session: "s")
        let stream = try XCTUnwrap(player.stream(of: try player.lookup(ioType: "http", tool: "http", inputs: postInputs("/v1/messages", Self.messageStream))))
        XCTAssertEqual(replayed.chunks.count, stream.chunks.count, "one client chunk per recorded chunk")
        XCTAssertEqual(replayed.chunks, stream.chunks.map { Array($0.content.utf8) })
        // Every paced chunk's time at the socket was measured (how late is the benchmark's to say).
        XCTAssertEqual(totals.chunkTiming.count, stream.chunks.count)
        XCTAssertNotNil(totals.chunkTiming.percentileNs(0.99))
        XCTAssertTrue(totals.description.contains("\(stream.chunks.count) stream chunks paced"), totals.description)
    }

    func testAClientThatLeavesMidStreamEndsItsPacedReplayAndTheProxyGoesOn() async throws {
        let store = try store()
        // Two streams of four chunks 300 ms apart, recorded as the proxy records them.
        try await Recorder.withRecording(store: store, options: RecordingOptions(name: "s")) { recorder in
            for n in 0..<2 {
                let handle = recorder.startStream(
                    ioType: "http", tool: "http", inputs: postInputs("/v1/stream", ["n": .int(Int64(n))]),
                    metadata: ["status": 200, "headers": ["content-type": "text/event-stream"]], timestampNs: 1_000)
                for c in 0..<4 { recorder.chunk(handle, index: c, content: "data: \(c)\n\n", timestampNs: 1_000 + Int64(c) * 300_000_000) }
                recorder.finishStream(handle, totalChunks: 4)
            }
        }
        let replaying = try await RunningProxy.start(store, "s", RunningProxy.options(.strict, upstream: nil, speed: 1))
        // A client reads the first chunk of stream 0 and goes away.
        let leaver = HTTPClient(eventLoopGroupProvider: .singleton)
        var request = HTTPClientRequest(url: replaying.http.base + "/v1/stream")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: JSONValue.object(["n": 0]).serializedBytes()))
        let response = try await leaver.execute(request, timeout: .seconds(30))
        var chunks = response.body.makeAsyncIterator()
        let first = try await chunks.next().map { String(buffer: $0) }
        XCTAssertEqual(first, "data: 0\n\n")
        try await leaver.shutdown()
        // The proxy goes on: stream 1 is replayed whole, and it stops without waiting for stream 0.
        let whole = try await replaying.post("/v1/stream", ["n": 1])
        XCTAssertEqual(whole.text, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n")
        let totals = try await replaying.stop()
        XCTAssertEqual(totals.replayed, 2)
        XCTAssertEqual(totals.answered, 1, "the stream its client left is not answered")
        XCTAssertGreaterThanOrEqual(totals.chunkTiming.count, 5, "stream 1's four chunks and stream 0's first")
        XCTAssertLessThan(totals.chunkTiming.count, 8, "stream 0 stopped once its client was gone")
    }

    func testChunkTimingPercentilesComeFromTenMicrosecondBuckets() {
        var timing = ChunkTiming()
        XCTAssertNil(timing.percentileNs(0.5))
        for ns: Int64 in [-5_000, 3_000, 12_000, 15_000, 250_000, 40_000_000] { timing.add(ns) }
        XCTAssertEqual(timing.count, 6)
        XCTAssertEqual(timing.maxNs, 40_000_000)
        XCTAssertEqual(timing.percentileNs(0.25), 10_000, "5 µs early and 3 µs late share the first bucket")
        XCTAssertEqual(timing.percentileNs(0.5), 20_000)
        XCTAssertEqual(timing.percentileNs(0.8), 260_000)
        XCTAssertEqual(timing.percentileNs(1), 40_000_000, "past 10 ms: the overflow bucket answers the maximum")
        var one = ChunkTiming()
        one.add(4_000)
        XCTAssertEqual(one.percentileNs(0.99), 4_000, "never above the maximum")
        XCTAssertNil(one.percentileNs(.nan))
        var hundred = ChunkTiming()
        for n: Int64 in 0..<100 { hundred.add(n * 10_000 + 5_000) }
        XCTAssertEqual(hundred.percentileNs(0.07), 70_000, "the 7th of 100, not the 8th (0.07 * 100 is 7.000000000000001 in floating point)")
    }

    func testThePacingLeadIsTheLeastRecentWakeUpDelayUpTo500Microseconds() {
        let lead = PacingLead()
        XCTAssertEqual(lead.lead, .zero, "no chunk yet: timers are set on time")
        for us: Int64 in [300, 250, 400] { lead.observe(us * 1_000) }
        XCTAssertEqual(lead.lead, .microseconds(250))
        // The least of the last 64: the 250 µs one is pushed out by 64 later ones.
        for _ in 0..<PacingLead.window { lead.observe(900_000) }
        XCTAssertEqual(lead.lead, .microseconds(500), "never more than 500 µs early")
        lead.observe(-20_000)
        XCTAssertEqual(lead.lead, .zero, "a chunk out before its timer (clock noise) counts as 0")
    }

    // MARK: Misses

    func testAStrictMissAnswers404WithTheClosestRequestAndTheFieldThatDiffers() async throws {
        let upstream = try await MockUpstream.start()
        let store = try store()
        let recording = try await RunningProxy.start(store, "s", RunningProxy.options(.record, upstream: upstream.base))
        _ = try await recording.post("/v1/chat/completions", Self.chat)
        try await recording.stop()
        await upstream.stop()
        let replaying = try await RunningProxy.start(store, "s", RunningProxy.options(.strict, upstream: nil))
        let changed: JSONValue = ["model": "gpt-test", "messages": [["role": "user", "content": "hello there"]]]
        let miss = try await replaying.post("/v1/chat/completions", changed)
        let totals = try await replaying.stop()
        XCTAssertEqual(miss.status, 404)
        XCTAssertEqual(miss.headers.first(name: "content-type"), "application/problem+json")
        XCTAssertEqual(miss.headers.first(name: "x-rrlog-replay"), "miss")
        XCTAssertEqual(miss.json["reason"], "no_match")
        XCTAssertEqual(miss.json["status"], 404)
        let closest = try XCTUnwrap(miss.json["closest"]?.arrayValue?.first)
        let differences = closest["differences"]?.arrayValue ?? []
        XCTAssertEqual(differences.count, 1, miss.text)
        XCTAssertEqual(differences.first?["path"], "body.messages[0].content")
        XCTAssertEqual(differences.first?["recorded"], "hello")
        XCTAssertEqual(differences.first?["given"], "hello there")
        XCTAssertEqual(miss.json["request"]?["path"], "/v1/chat/completions")
        XCTAssertEqual(totals.misses, 1)
        XCTAssertEqual(totals.replayed, 0)
    }

    func testWarnAnswersAMissLiveAndHybridAlsoRecordsIt() async throws {
        let upstream = try await MockUpstream.start()
        let store = try store()
        let recording = try await RunningProxy.start(store, "s", RunningProxy.options(.record, upstream: upstream.base))
        _ = try await recording.post("/v1/chat/completions", Self.chat)
        try await recording.stop()
        let new: JSONValue = ["model": "gpt-test", "messages": [["role": "user", "content": "new question"]]]

        let warn = try await RunningProxy.start(store, "s", RunningProxy.options(.warn, upstream: upstream.base))
        let hit = try await warn.post("/v1/chat/completions", Self.chat)
        let live = try await warn.post("/v1/chat/completions", new)
        let warned = try await warn.stop()
        XCTAssertTrue(hit.text.contains("echo 1: hello"))
        XCTAssertTrue(live.text.contains("echo 2: new question"), live.text)
        XCTAssertEqual(warned.liveCalls, 1)
        XCTAssertEqual(warned.recorded, 0)
        XCTAssertEqual(try store.sessions().count, 1, "warn records nothing")

        let hybrid = try await RunningProxy.start(store, "s", RunningProxy.options(.hybrid, upstream: upstream.base))
        let streamed = try await hybrid.post("/v1/chat/completions", Self.chatStream)
        let totals = try await hybrid.stop()
        await upstream.stop()
        XCTAssertEqual(totals.liveCalls, 1)
        XCTAssertEqual(totals.recorded, 1)
        let live2 = try XCTUnwrap(try store.sessions().first { $0.name.hasPrefix("s-hybrid-") })
        let player = try Player(store: store, session: live2.name)
        let stream = try XCTUnwrap(player.stream(of: try player.lookup(ioType: "http", tool: "http", inputs: postInputs("/v1/chat/completions", Self.chatStream))))
        XCTAssertEqual(Array(stream.text.utf8), streamed.body)
    }

    func testVolatilePathsLeaveAnInputOutOfTheKey() async throws {
        let upstream = try await MockUpstream.start()
        let store = try store()
        var options = RunningProxy.options(.record, upstream: upstream.base)
        options.volatilePaths = ["body.metadata.request_id"]
        func body(_ id: String) -> JSONValue {
            ["model": "gpt-test", "messages": [["role": "user", "content": "hello"]], "metadata": ["request_id": .string(id)]]
        }
        let recording = try await RunningProxy.start(store, "s", options)
        let recorded = try await recording.post("/v1/chat/completions", body("r-1"))
        try await recording.stop()
        await upstream.stop()
        let replaying = try await RunningProxy.start(store, "s", RunningProxy.options(.strict, upstream: nil))
        let replayed = try await replaying.post("/v1/chat/completions", body("r-2"))
        try await replaying.stop()
        XCTAssertEqual(replayed.status, 200, replayed.text)
        XCTAssertEqual(replayed.body, recorded.body)
    }

    // MARK: Secrets and what is stored

    func testSecretsNeverReachTheStoreAndOnlyAllowListedHeadersAreKept() async throws {
        let upstream = try await MockUpstream.start()
        let directory = TestPaths.temporaryDirectory(self, prefix: "rrlog-proxy")
        let store = try Store(path: directory + "/store")
        var options = RunningProxy.options(.record, upstream: upstream.base)
        options.recordedHeaders = ["x-trace"]
        let recording = try await RunningProxy.start(store, "s", options)
        let secrets = ["sk-proj-SECRETKEY0123456789abcdef", "XKEY-SECRET-456", "COOKIE-SECRET-789", "QUERY-SECRET-321", "cookie-secret-77", "internal-secret-88"]
        let echo = try await recording.send(.GET, "/echo?key=QUERY-SECRET-321&q=swift&q=nio", headers: [
            ("Authorization", "Bearer sk-proj-SECRETKEY0123456789abcdef"), ("x-api-key", "XKEY-SECRET-456"), ("Cookie", "c=COOKIE-SECRET-789"),
            ("x-trace", "trace-1"), ("x-unlisted", "u-1"),
        ])
        let cookie = try await recording.send(.GET, "/cookie")
        let binary = try await recording.send(.POST, "/binary", body: [0, 1, 2, 0xFF])
        let gzip = try await recording.send(.GET, "/gzip")
        try await recording.stop()
        await upstream.stop()

        // The upstream got everything, the client too, and the upstream was asked for no encoding.
        XCTAssertEqual(echo.status, 200)
        let seen = try XCTUnwrap(upstream.log.received.withLock { $0.first })
        XCTAssertEqual(seen.headers["authorization"], "Bearer sk-proj-SECRETKEY0123456789abcdef")
        XCTAssertEqual(seen.headers["accept-encoding"], "identity")
        XCTAssertEqual(seen.target, "/echo?key=QUERY-SECRET-321&q=swift&q=nio")
        XCTAssertEqual(cookie.headers.first(name: "set-cookie"), "session=cookie-secret-77; HttpOnly")
        XCTAssertEqual(binary.status, 404, "the mock serves GET /binary only")
        // A gzip answer is decoded: the client and the record get the JSON.
        XCTAssertEqual(gzip.text, #"{"compressed":true}"#)
        XCTAssertNil(gzip.headers.first(name: "content-encoding"))

        // The store holds none of the secrets, in its files or in its decoded records.
        let files = SessionContents.fileBytes(under: directory)
        let lines = try SessionContents.lines(store, "s")
        let decoded = lines.map { $0.serialized() }.joined(separator: "\n")
        for secret in secrets {
            XCTAssertFalse(files.contains(bytes: secret), "\(secret) is in the store's files")
            XCTAssertFalse(decoded.contains(secret), "\(secret) is in a stored record")
        }
        let events = lines.filter { $0["type"] == "event" }
        XCTAssertEqual(events.count, 4)
        XCTAssertEqual(events[3]["outputs"]?["body"], #"{"compressed":true}"#)
        let inputs = try XCTUnwrap(events.first?["inputs"])
        XCTAssertEqual(inputs["query"], ["q": ["swift", "nio"]])
        XCTAssertEqual(inputs["headers"], ["x-trace": "trace-1"])
        XCTAssertEqual(inputs["method"], "GET")
        let stored = try XCTUnwrap(events[1]["outputs"]?["headers"]?.objectValue)
        XCTAssertEqual(stored["x-request-id"], "req-1")
        XCTAssertNil(stored["set-cookie"])
        XCTAssertNil(stored["x-internal-token"])
        // A body that is not JSON is keyed by its hash, its bytes kept in the metadata.
        XCTAssertEqual(events[2]["inputs"]?["body_sha256"]?.stringValue?.count, 64)
        XCTAssertEqual(events[2]["metadata"]?["request_body_base64"], "AAEC/w==")
    }

    func testCredentialHeadersCannotBeListedForStorage() throws {
        var options = ProxyOptions()
        options.upstreams = [ProxyUpstream(prefix: "/", baseURL: "http://127.0.0.1:9")]
        options.recordedHeaders = ["Authorization"]
        XCTAssertEqual(options.problems().count, 1)
        XCTAssertThrowsError(try ProxyServer(store: try store(), session: "s", options: options))
    }

    // MARK: Concurrency

    func testSixtyFourConcurrentStreamsRecordAndReplay() async throws {
        let upstream = try await MockUpstream.start()
        let store = try store()
        let count = 64
        func body(_ n: Int) -> JSONValue {
            ["model": "gpt-test", "messages": [["role": "user", "content": .string("question \(n)")]], "stream": true]
        }
        let recording = try await RunningProxy.start(store, "s", RunningProxy.options(.record, upstream: upstream.base))
        let recorded = try await withThrowingTaskGroup(of: (Int, Answer).self) { group in
            for n in 0..<count { group.addTask { (n, try await recording.post("/v1/chat/completions", body(n))) } }
            var out: [Int: Answer] = [:]
            for try await (n, answer) in group { out[n] = answer }
            return out
        }
        let totals = try await recording.stop()
        await upstream.stop()
        XCTAssertEqual(totals.recorded, count)
        for n in 0..<count {
            // Chunks of four characters: the question's number arrives whole in the joined text.
            let text = recorded[n]?.text ?? ""
            let pieces = text.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("data: {"), let json = try? JSONValue.parse(String(line.dropFirst(6))) else { return nil }
                return json["choices"]?[0]?["delta"]?["content"]?.stringValue
            }
            XCTAssertTrue(pieces.joined().hasSuffix("question \(n)"), "stream \(n): \(pieces.joined())")
        }
        let replaying = try await RunningProxy.start(store, "s", RunningProxy.options(.strict, upstream: nil, speed: 1))
        let replayed = try await withThrowingTaskGroup(of: (Int, Answer).self) { group in
            for n in 0..<count { group.addTask { (n, try await replaying.post("/v1/chat/completions", body(n))) } }
            var out: [Int: Answer] = [:]
            for try await (n, answer) in group { out[n] = answer }
            return out
        }
        let replayTotals = try await replaying.stop()
        XCTAssertEqual(replayTotals.replayed, count)
        for n in 0..<count { XCTAssertEqual(replayed[n]?.body, recorded[n]?.body, "stream \(n)") }
    }

    // MARK: Upstreams

    func testSeveralUpstreamsByPathPrefix() async throws {
        let first = try await MockUpstream.start()
        let second = try await MockUpstream.start()
        let store = try store()
        var options = RunningProxy.options(.record, upstream: nil)
        options.upstreams = [ProxyUpstream(prefix: "/openai", baseURL: first.base + "/v1"), ProxyUpstream(prefix: "/anthropic", baseURL: second.base)]
        let proxy = try await RunningProxy.start(store, "s", options)
        let a = try await proxy.post("/openai/chat/completions", Self.chat)
        let b = try await proxy.post("/anthropic/v1/messages", Self.messageStream)
        let none = try await proxy.post("/other/v1/messages", Self.chat)
        try await proxy.stop()
        await first.stop()
        await second.stop()
        XCTAssertEqual(a.status, 200)
        XCTAssertEqual(b.status, 200)
        XCTAssertEqual(none.status, 404)
        XCTAssertEqual(first.log.received.withLock { $0.map(\.target) }, ["/v1/chat/completions"])
        XCTAssertEqual(second.log.received.withLock { $0.map(\.target) }, ["/v1/messages"])
        let paths = try SessionContents.lines(store, "s").compactMap { $0["inputs"]?["path"]?.stringValue }
        XCTAssertEqual(paths, ["/openai/chat/completions", "/anthropic/v1/messages"])
    }

    func testAnHTTPSUpstreamWithAPrivateCA() async throws {
        let directory = TestPaths.temporaryDirectory(self, prefix: "rrlog-proxy-tls")
        try Certificates.make(in: directory)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(directory + "/server.pem").map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: directory + "/server.key", format: .pem)))
        tls.minimumTLSVersion = .tlsv12
        let upstream = try await MockUpstream.start(tls: tls)
        let store = try store()
        // Without the CA the upstream's certificate is not trusted: a 502 that says so.
        let untrusting = try await RunningProxy.start(store, "refused", RunningProxy.options(.record, upstream: upstream.base))
        let refused = try await untrusting.post("/v1/chat/completions", Self.chat)
        try await untrusting.stop()
        XCTAssertEqual(refused.status, 502)
        XCTAssertTrue(refused.json["detail"]?.stringValue?.contains(upstream.base) == true, refused.text)

        var options = RunningProxy.options(.record, upstream: upstream.base)
        options.upstreamCAFile = directory + "/ca.pem"
        let proxy = try await RunningProxy.start(store, "s", options)
        let plain = try await proxy.post("/v1/chat/completions", Self.chat)
        let streamed = try await proxy.post("/v1/chat/completions", Self.chatStream)
        try await proxy.stop()
        await upstream.stop()
        XCTAssertEqual(plain.status, 200)
        XCTAssertTrue(plain.text.contains("echo 1: hello"))
        XCTAssertTrue(streamed.text.hasSuffix("data: [DONE]\n\n"))
        XCTAssertEqual(try SessionContents.lines(store, "s").filter { $0["type"] == "chunk" }.count, streamed.text.components(separatedBy: "\n\n").count - 1)

        var bad = options
        bad.upstreamCAFile = directory + "/missing.pem"
        XCTAssertThrowsError(try ProxyServer(store: store, session: "t", options: bad)) { error in
            XCTAssertTrue("\(error)".contains("--upstream-ca"), "\(error)")
        }
    }

    // MARK: Refusals and failures

    func testRefusesConnectAbsoluteURLsAndOversizedBodies() async throws {
        let upstream = try await MockUpstream.start()
        let store = try store()
        var options = RunningProxy.options(.record, upstream: upstream.base)
        options.maxRequestBodyBytes = 1024
        let proxy = try await RunningProxy.start(store, "s", options)
        let connect = try rawExchange(port: proxy.port, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
        XCTAssertTrue(connect.hasPrefix("HTTP/1.1 405"), connect)
        let absolute = try rawExchange(port: proxy.port, "GET http://example.com/echo HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
        XCTAssertTrue(absolute.hasPrefix("HTTP/1.1 421"), absolute)
        XCTAssertTrue(absolute.contains("application/problem+json"), absolute)
        let large = try await proxy.send(.POST, "/v1/chat/completions", body: [UInt8](repeating: 0x20, count: 4096))
        XCTAssertEqual(large.status, 413)
        let totals = try await proxy.stop()
        await upstream.stop()
        XCTAssertEqual(upstream.requests, 0, "nothing refused reached the upstream")
        XCTAssertEqual(totals.recorded, 0)
        XCTAssertGreaterThanOrEqual(totals.failed, 3)
    }

    func testAnUpstreamThatDiesMidStreamEndsTheRecordedStreamWithTheError() async throws {
        let upstream = try await MockUpstream.start()
        let store = try store()
        let proxy = try await RunningProxy.start(store, "s", RunningProxy.options(.record, upstream: upstream.base))
        // The client sees the answer cut off: an error, never a clean end.
        var received: [UInt8]?
        do { received = try await proxy.send(.GET, "/breaks").body } catch {}
        XCTAssertNil(received, "an answer the upstream broke off must not end cleanly")
        // The proxy goes on serving.
        let after = try await proxy.post("/v1/chat/completions", Self.chat)
        XCTAssertEqual(after.status, 200)
        let totals = try await proxy.stop()
        await upstream.stop()
        XCTAssertEqual(totals.answered, 1)
        let lines = try SessionContents.lines(store, "s")
        let finish = try XCTUnwrap(lines.first { $0["type"] == "stream_finish" })
        XCTAssertNotNil(finish["metadata"]?["error"]?.stringValue, finish.serialized())
        XCTAssertEqual(lines.filter { $0["type"] == "chunk" }.compactMap { $0["content"]?.stringValue }.joined(), "data: one\n\ndata: two\n\n")
        XCTAssertEqual(lines.filter { $0["type"] == "event" }.count, 1)

        // Replayed, the answer is broken off after the same two events.
        let replaying = try await RunningProxy.start(store, "s", RunningProxy.options(.strict, upstream: nil))
        var replayedBody: [UInt8]?
        do { replayedBody = try await replaying.send(.GET, "/breaks").body } catch {}
        try await replaying.stop()
        XCTAssertNil(replayedBody, "a replayed answer that was broken off must not end cleanly")
    }

    func testAFullDiskAnswers503AndKeepsEveryExchangeAnsweredBefore() async throws {
        let mount = TestPaths.temporaryDirectory(self, prefix: "rrlog-proxy-full") + "/mnt"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        guard try await Subprocess.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1024k,mode=0700", "tmpfs", mount]).status == 0 else {
            throw XCTSkip("cannot mount a tmpfs here; run as root to test a full disk")
        }
        addTeardownBlock { _ = try? await Subprocess.run("/bin/umount", [mount]) }
        let upstream = try await MockUpstream.start()
        let store = try Store(path: mount + "/store")
        let proxy = try await RunningProxy.start(store, "s", RunningProxy.options(.record, upstream: upstream.base))
        XCTAssertTrue(FileManager.default.createFile(atPath: mount + "/filler", contents: Data(count: 512 << 10)))
        var generator = SystemRandomNumberGenerator()
        var answered: [JSONValue] = []
        var refusal: Answer?
        for _ in 0..<400 {
            // Random text, which compression cannot shrink: each exchange takes about 32 KB.
            let prompt = (0..<8192).map { _ in String(UInt8.random(in: 0...15, using: &generator), radix: 16) }.joined()
            let body: JSONValue = ["model": "gpt-test", "messages": [["role": "user", "content": .string(prompt)]]]
            let answer = try await proxy.post("/v1/chat/completions", body)
            guard answer.status == 200 else {
                refusal = answer
                break
            }
            answered.append(body)
        }
        _ = try? await proxy.stop()
        await upstream.stop()
        let refused = try XCTUnwrap(refusal, "the disk never filled")
        XCTAssertEqual(refused.status, 503)
        XCTAssertTrue(refused.json["detail"]?.stringValue?.contains("could not be recorded") == true, refused.text)
        XCTAssertGreaterThan(answered.count, 0)
        // Every exchange answered before the disk filled is in the session.
        try FileManager.default.removeItem(atPath: mount + "/filler")
        let player = try Player(store: try Store(path: mount + "/store"), session: "s")
        for (n, body) in answered.enumerated() {
            let call = try player.lookup(ioType: "http", tool: "http", inputs: postInputs("/v1/chat/completions", body))
            XCTAssertEqual(call.outputs["status"], 200, "exchange \(n)")
        }
    }

    func testReplayOfAMissingSessionSaysSo() throws {
        var options = ProxyOptions()
        options.mode = .strict
        XCTAssertThrowsError(try ProxyServer(store: try store(), session: "nothing", options: options)) { error in
            XCTAssertTrue("\(error)".contains("no session named 'nothing'"), "\(error)")
        }
        options.volatilePaths = ["body.user"]
        XCTAssertThrowsError(try ProxyServer(store: try store(), session: "nothing", options: options))
    }
}


import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import HummingbirdTLS
import NIOCore
import NIOSSL
import RRLog
import RRLogInterop
import Synchronization
import XCTest

/// A local upstream for the proxy's tests: answers in the wire formats of OpenAI's chat
/// completions and responses APIs and Anthropic's messages API (whole, or as server-sent events
/// with a pause between events), and a few plain routes, over HTTP or TLS.
///
/// Each answer carries a number that counts the requests to its path, so the k-th identical
/// request gets an answer of its own, and the test can tell which recorded answer a replay gave.
final class MockUpstream: Sendable {
    let port: Int
    let scheme: String
    private let app: Task<Void, any Error>
    let log: Log

    /// Requests counted by path, and what the upstream received: method, target, headers
    /// (lowercased names).
    final class Log: Sendable {
        let counts = Mutex<[String: Int]>([:])
        let received = Mutex<[Received]>([])

        func next(_ path: String) -> Int {
            counts.withLock { c in
                c[path, default: 0] += 1
                return c[path]!
            }
        }
    }

    /// A request as the upstream saw it.
    struct Received: Sendable {
        var method: String
        var target: String
        var headers: [String: String]
    }

    /// The pause between streamed events.
    static let gapMilliseconds = 40

    var base: String { "\(scheme)://\(scheme == "https" ? "localhost" : "127.0.0.1"):\(port)" }

    /// Requests received so far.
    var requests: Int { log.counts.withLock { $0.values.reduce(0, +) } }

    private init(port: Int, scheme: String, app: Task<Void, any Error>, log: Log) {
        self.port = port
        self.scheme = scheme
        self.app = app
        self.log = log
    }

    /// Starts an upstream on a free loopback port; with `tls`, over TLS with that configuration.
    static func start(tls: TLSConfiguration? = nil) async throws -> MockUpstream {
        let log = Log()
        let router = Router()
        router.middlewares.add(Recording(log: log))
        let next = { @Sendable (path: String) in log.next(path) }
        router.post("/v1/chat/completions") { request, _ in
            let body = try await Self.json(request)
            let n = next("/v1/chat/completions")
            let text = "echo \(n): " + Self.prompt(body)
            if body["stream"]?.boolValue == true { return Self.sse(OpenAIWire.chatStream(n: n, text: text)) }
            return Self.json(OpenAIWire.chat(n: n, text: text))
        }
        router.post("/v1/responses") { request, _ in
            let body = try await Self.json(request)
            let n = next("/v1/responses")
            let text = "echo \(n): " + (body["input"]?.stringValue ?? Self.prompt(body))
            if body["stream"]?.boolValue == true { return Self.sse(OpenAIWire.responseStream(n: n, text: text)) }
            return Self.json(OpenAIWire.response(n: n, text: text))
        }
        router.post("/v1/messages") { request, _ in
            let body = try await Self.json(request)
            let n = next("/v1/messages")
            let text = "echo \(n): " + Self.prompt(body)
            if body["stream"]?.boolValue == true { return Self.sse(AnthropicWire.messageStream(n: n, text: text)) }
            return Self.json(AnthropicWire.message(n: n, text: text))
        }
        router.get("/echo") { _, _ in
            // What the upstream received is in `log`; the answer repeats none of it (an upstream
            // that echoes credentials into its answers would have them recorded).
            Self.json(["n": .int(Int64(next("/echo")))])
        }
        router.get("/cookie") { _, _ in
            var response = Self.json(["ok": true])
            response.headers[.setCookie] = "session=cookie-secret-77; HttpOnly"
            response.headers[HTTPField.Name("x-internal-token")!] = "internal-secret-88"
            response.headers[HTTPField.Name("x-request-id")!] = "req-1"
            return response
        }
        router.get("/gzip") { _, _ in
            // Compressed although the proxy asked for identity, as some servers do.
            let body = try GzipEncoder.compress(Array(#"{"compressed":true}"#.utf8))
            return Response(status: .ok, headers: [.contentType: "application/json", .contentEncoding: "gzip"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/binary") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: [0xFF, 0x00, 0xFE, 0x80])))
        }
        router.get("/breaks") { _, _ in
            // Two events, then the connection is dropped in the middle of the answer.
            Response(status: .ok, headers: [.contentType: "text/event-stream"], body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "data: one\n\n"))
                try await Task.sleep(for: .milliseconds(20))
                try await writer.write(ByteBuffer(string: "data: two\n\n"))
                throw CancellationError()
            })
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server: HTTPServerBuilder = try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
        let app = Application(
            router: router, server: server, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: { var l = Logger(label: "mock-upstream"); l.logLevel = .critical; return l }())
        let task = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw XCTSkip("the mock upstream did not start") }
        return MockUpstream(port: port, scheme: tls == nil ? "http" : "https", app: task, log: log)
    }

    /// Stops the upstream (its connections are closed).
    func stop() async {
        app.cancel()
        _ = try? await app.value
    }

    /// Notes every request's method, target and headers.
    struct Recording: RouterMiddleware {
        typealias Context = BasicRequestContext
        let log: Log
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            log.received.withLock { $0.append(Received(method: request.method.rawValue, target: request.uri.description, headers: headers)) }
            return try await next(request, context)
        }
    }

    static func json(_ request: Request) async throws -> JSONValue {
        var request = request
        let buffer = try await request.collectBody(upTo: 1 << 20)
        return try JSONValue.parse(Array(buffer.readableBytesView))
    }

    /// The last user message's text (a string, or the text parts of a list).
    static func prompt(_ body: JSONValue) -> String {
        guard let last = body["messages"]?.arrayValue?.last else { return "" }
        if let text = last["content"]?.stringValue { return text }
        return (last["content"]?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined()
    }

    static func json(_ value: JSONValue) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json", HTTPField.Name("x-request-id")!: "req-\(value["id"]?.stringValue ?? "x")"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.serializedBytes())))
    }

    /// Server-sent events, each `(event name, data)`, with a pause before every event but the first.
    static func sse(_ events: [(String?, JSONValue?)]) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache"], body: ResponseBody { writer in
            for (n, (name, data)) in events.enumerated() {
                if n > 0 { try await Task.sleep(for: .milliseconds(gapMilliseconds)) }
                var text = name.map { "event: \($0)\n" } ?? ""
                text += "data: " + (data.map { $0.serialized() } ?? "[DONE]") + "\n\n"
                try await writer.write(ByteBuffer(string: text))
            }
            try await writer.finish(nil)
        })
    }

    /// `text` in pieces of four characters, as a model streams tokens.
    static func pieces(_ text: String) -> [String] {
        var out: [String] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            out.append(String(rest.prefix(4)))
            rest = rest.dropFirst(4)
        }
        return out
    }
}

/// OpenAI's wire format, as much of it as the SDK reads.
enum OpenAIWire {
    static func chat(n: Int, text: String) -> JSONValue {
        [
            "id": .string("chatcmpl-\(n)"), "object": "chat.completion", "created": 1_760_000_000, "model": "gpt-test",
            "choices": [["index": 0, "message": ["role": "assistant", "content": .string(text)], "finish_reason": "stop"]],
            "usage": ["prompt_tokens": 5, "completion_tokens": .int(Int64(text.count)), "total_tokens": .int(Int64(5 + text.count))],
        ]
    }

    static func chatStream(n: Int, text: String) -> [(String?, JSONValue?)] {
        func chunk(_ delta: JSONValue, _ finish: JSONValue) -> JSONValue {
            [
                "id": .string("chatcmpl-\(n)"), "object": "chat.completion.chunk", "created": 1_760_000_000, "model": "gpt-test",
                "choices": [["index": 0, "delta": delta, "finish_reason": finish]],
            ]
        }
        var events: [(String?, JSONValue?)] = [(nil, chunk(["role": "assistant", "content": ""], .null))]
        for piece in MockUpstream.pieces(text) { events.append((nil, chunk(["content": .string(piece)], .null))) }
        events.append((nil, chunk([:], "stop")))
        events.append((nil, nil))
        return events
    }

    static func response(n: Int, text: String, status: String = "completed") -> JSONValue {
        [
            "id": .string("resp_\(n)"), "object": "response", "created_at": 1_760_000_000, "status": .string(status), "model": "gpt-test",
            "output": [[
                "type": "message", "id": .string("msg_\(n)"), "status": "completed", "role": "assistant",
                "content": [["type": "output_text", "text": .string(text), "annotations": []]],
            ]],
            "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
            "usage": ["input_tokens": 5, "output_tokens": .int(Int64(text.count)), "total_tokens": .int(Int64(5 + text.count))],
        ]
    }

    static func responseStream(n: Int, text: String) -> [(String?, JSONValue?)] {
        var sequence = 0
        var events: [(String?, JSONValue?)] = []
        func add(_ type: String, _ members: [String: JSONValue]) {
            var all = members
            all["type"] = .string(type)
            all["sequence_number"] = .int(Int64(sequence))
            sequence += 1
            events.append((type, .object(all)))
        }
        var started = response(n: n, text: "", status: "in_progress")
        if case .object(var members) = started {
            members["output"] = []
            started = .object(members)
        }
        add("response.created", ["response": started])
        for piece in MockUpstream.pieces(text) {
            add("response.output_text.delta", ["item_id": .string("msg_\(n)"), "output_index": 0, "content_index": 0, "delta": .string(piece)])
        }
        add("response.completed", ["response": response(n: n, text: text)])
        return events
    }
}

/// Anthropic's wire format, as much of it as the SDK reads.
enum AnthropicWire {
    static func message(n: Int, text: String) -> JSONValue {
        [
            "id": .string("msg_\(n)"), "type": "message", "role": "assistant", "model": "claude-test",
            "content": [["type": "text", "text": .string(text)]], "stop_reason": "end_turn", "stop_sequence": .null,
            "usage": ["input_tokens": 5, "output_tokens": .int(Int64(text.count))],
        ]
    }

    static func messageStream(n: Int, text: String) -> [(String?, JSONValue?)] {
        var events: [(String?, JSONValue?)] = []
        let start: JSONValue = [
            "id": .string("msg_\(n)"), "type": "message", "role": "assistant", "model": "claude-test", "content": [],
            "stop_reason": .null, "stop_sequence": .null, "usage": ["input_tokens": 5, "output_tokens": 1],
        ]
        events.append(("message_start", ["type": "message_start", "message": start]))
        events.append(("content_block_start", ["type": "content_block_start", "index": 0, "content_block": ["type": "text", "text": ""]]))
        for piece in MockUpstream.pieces(text) {
            events.append(("content_block_delta", ["type": "content_block_delta", "index": 0, "delta": ["type": "text_delta", "text": .string(piece)]]))
        }
        events.append(("content_block_stop", ["type": "content_block_stop", "index": 0]))
        events.append((
            "message_delta",
            ["type": "message_delta", "delta": ["stop_reason": "end_turn", "stop_sequence": .null], "usage": ["output_tokens": .int(Int64(text.count))]]
        ))
        events.append(("message_stop", ["type": "message_stop"]))
        return events
    }
}

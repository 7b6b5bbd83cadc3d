import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RRLog
import RRLogProxy
import RRLogTestSupport
import XCTest

/// A proxy running in the test process on a free loopback port, and a client for it.
final class RunningProxy: Sendable {
    let proxy: ProxyServer
    let port: Int
    let task: Task<ProxyTotals, any Error>
    let http: ProxyClient
    var base: String { http.base }

    private init(proxy: ProxyServer, port: Int, task: Task<ProxyTotals, any Error>) {
        self.proxy = proxy
        self.port = port
        self.task = task
        self.http = ProxyClient(port: port)
    }

    /// Starts a proxy for `session` with `options` (the port is made 0: a free one).
    static func start(_ store: Store, _ session: String, _ options: ProxyOptions) async throws -> RunningProxy {
        var options = options
        options.port = 0
        let proxy = try ProxyServer(store: store, session: session, options: options)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await proxy.run { _, port in continuation.yield(port) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw XCTSkip("the proxy did not start") }
        return RunningProxy(proxy: proxy, port: port, task: task)
    }

    /// Options for `mode` with one upstream serving every path (none when nil).
    static func options(_ mode: ProxyMode, upstream: String?, speed: Double? = nil) -> ProxyOptions {
        var options = ProxyOptions()
        options.mode = mode
        options.speed = speed
        if let upstream { options.upstreams = [ProxyUpstream(prefix: "/", baseURL: upstream)] }
        return options
    }

    /// Stops the proxy and returns its totals.
    @discardableResult
    func stop() async throws -> ProxyTotals {
        await http.shutdown()
        await proxy.stop()
        return try await task.value
    }

    func send(
        _ method: HTTPMethod, _ path: String, json: JSONValue? = nil, body: [UInt8]? = nil, headers: [(String, String)] = []
    ) async throws -> Answer {
        try await http.send(method, path, json: json, body: body, headers: headers)
    }

    func post(_ path: String, _ json: JSONValue) async throws -> Answer {
        try await http.send(.POST, path, json: json)
    }
}

/// An HTTP client for a proxy on a loopback port.
final class ProxyClient: Sendable {
    let base: String
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    init(port: Int) { base = "http://127.0.0.1:\(port)" }

    func shutdown() async { try? await client.shutdown() }

    func post(_ path: String, _ json: JSONValue) async throws -> Answer {
        try await send(.POST, path, json: json)
    }

    /// Sends a request; the answer's chunks are kept as they arrived.
    func send(
        _ method: HTTPMethod, _ path: String, json: JSONValue? = nil, body: [UInt8]? = nil, headers: [(String, String)] = []
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json.serializedBytes()))
        } else if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(60))
        var chunks: [[UInt8]] = []
        for try await buffer in response.body { chunks.append(Array(buffer.readableBytesView)) }
        return Answer(status: Int(response.status.code), headers: response.headers, chunks: chunks)
    }
}

/// An answer as a client received it.
struct Answer: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var chunks: [[UInt8]]
    var body: [UInt8] { chunks.flatMap { $0 } }
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSONValue { (try? JSONValue.parse(body)) ?? .null }
}

/// Reading what a session holds.
enum SessionContents {
    /// Every stored line of `session`, in order.
    static func lines(_ store: Store, _ session: String) throws -> [JSONValue] {
        let reader = try store.openReader(try store.session(session))
        var out: [JSONValue] = []
        reader.forEach { view in
            if let line = try? JSONValue.parse(Array(view.payload)) { out.append(line) }
            return true
        }
        return out
    }

    /// Every byte of every file under `directory`.
    static func fileBytes(under directory: String) -> [UInt8] {
        var out: [UInt8] = []
        let files = FileManager.default.enumerator(atPath: directory)
        while let name = files?.nextObject() as? String {
            if let data = FileManager.default.contents(atPath: directory + "/" + name) { out += data }
        }
        return out
    }
}

extension Array where Element == UInt8 {
    /// True when `needle`'s bytes occur in these.
    func contains(bytes needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard !n.isEmpty, n.count <= count else { return false }
        for start in 0...(count - n.count) where self[start] == n[0] && Array(self[start..<start + n.count]) == n { return true }
        return false
    }
}

/// The inputs the proxy stores for a JSON POST to `path`.
func postInputs(_ path: String, _ body: JSONValue) -> JSONValue {
    ["method": "POST", "path": .string(path), "body": body]
}

/// Sends raw bytes to a loopback port and returns what comes back until the server closes or
/// a second passes: for requests an HTTP client will not make (CONNECT, absolute URLs).
func rawExchange(port: Int, _ text: String) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var timeout = timeval(tv_sec: 1, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        out += buffer[0..<n]
        if String(decoding: out, as: UTF8.self).contains("\r\n\r\n") && out.count > 200 { break }
    }
    return String(decoding: out, as: UTF8.self)
}

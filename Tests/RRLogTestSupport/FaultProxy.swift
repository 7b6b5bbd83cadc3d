public import Foundation
import Glibc
public import RRLogS3
import Synchronization

/// An HTTP proxy on loopback that injects faults in front of an S3 server: for the request
/// numbered n (from 0, in arrival order) `plan(n)` says whether to forward it, answer an error
/// such as 503 SlowDown, drop the connection before forwarding, or forward it and drop the connection
/// instead of answering (the server applied the request; the client never hears of it), or
/// forward it with one body byte flipped. Every
/// answer closes its connection, so each request arrives on a connection of its own.
public final class FaultProxy: Sendable {
    public enum Action: Sendable, Equatable {
        case forward, dropBeforeForwarding, dropAfterForwarding, corruptBody
        /// Forward without `If-None-Match` and `If-Match`, signed again with `resigner`: the
        /// proxy plays a store that ignores conditional writes.
        case stripConditions
        /// An error answer with this status and S3 error code, never forwarded.
        case answer(status: Int, code: String)
        public static let answer503 = Action.answer(status: 503, code: "SlowDown")
    }

    let port: Int
    let listener: Int32
    let upstreamPort: Int
    let plan: @Sendable (Int) -> Action
    /// The signer that re-signs requests whose conditions were stripped.
    let resigner: SigV4Signer?
    /// The requests seen, and how many got each action.
    let log = Mutex<(requests: Int, actions: [String: Int])>((0, [:]))

    public init(upstreamPort: Int, resigner: SigV4Signer? = nil, plan: @escaping @Sendable (Int) -> Action) throws {
        self.upstreamPort = upstreamPort
        self.resigner = resigner
        self.plan = plan
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 64) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            while true {
                let connection = accept(fd, nil, nil)
                if connection < 0 { return }
                Thread.detachNewThread { [self] in handle(connection) }
            }
        }
    }

    public var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// How many requests got `action`.
    /// How many requests arrived.
    public var requestCount: Int { log.withLock { $0.requests } }

    public func count(_ action: Action) -> Int { log.withLock { $0.actions["\(action)", default: 0] } }

    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    func handle(_ connection: Int32) {
        defer { close(connection) }
        guard let request = Self.readRequest(connection) else { return }
        let (number, action) = log.withLock { state in
            let number = state.requests
            state.requests += 1
            let action = plan(number)
            state.actions["\(action)", default: 0] += 1
            return (number, action)
        }
        switch action {
        case .answer(let status, let code):
            let body = "<Error><Code>\(code)</Code><Message>injected by the test proxy</Message><RequestId>proxy-\(number)</RequestId></Error>"
            Self.write(connection, Array("HTTP/1.1 \(status) Injected\r\nContent-Type: application/xml\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8))
        case .dropBeforeForwarding:
            return
        case .forward, .dropAfterForwarding, .corruptBody, .stripConditions:
            var request = request
            if action == .corruptBody, !request.body.isEmpty { request.body[request.body.count / 2] ^= 0x01 }
            if action == .stripConditions, let resigner { request.head = Self.withoutConditions(request.head, resigner) }
            guard let answer = forward(request) else { return }
            if action != .dropAfterForwarding { Self.write(connection, answer) }
        }
    }

    /// `head` without `If-None-Match` and `If-Match`, signed again over the headers it signed
    /// before (the payload hash kept).
    static func withoutConditions(_ head: String, _ signer: SigV4Signer) -> String {
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        var headers: [(name: String, value: String)] = lines.compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        func value(_ name: String) -> String { headers.first { $0.name == name }?.value ?? "" }
        let signed = value("authorization").components(separatedBy: "SignedHeaders=").last?.prefix { $0 != "," }.split(separator: ";").map(String.init) ?? []
        let target = requestLine[1].split(separator: "?", maxSplits: 1)
        let query: [(name: String, value: String)] = target.count < 2 ? [] : target[1].split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]).removingPercentEncoding ?? "", parts.count > 1 ? String(parts[1]).removingPercentEncoding ?? "" : "")
        }
        let stripped: Set = ["if-none-match", "if-match"]
        let resignedNames = Set(signed).subtracting(stripped).subtracting(["x-amz-date", "x-amz-content-sha256", "x-amz-security-token"])
        let signature = signer.sign(
            SigV4Signer.Request(method: String(requestLine[0]), path: String(target[0]).removingPercentEncoding ?? "",
                                query: query, headers: headers.filter { resignedNames.contains($0.name) },
                                payloadHash: value("x-amz-content-sha256")),
            at: Date())
        headers.removeAll { stripped.contains($0.name) || signature.headers[$0.name] != nil }
        headers += signature.headers.map { (name: $0.key, value: $0.value) }
        return ([requestLine.joined(separator: " ")] + headers.map { "\($0.name): \($0.value)" }).joined(separator: "\r\n")
    }

    /// Sends `request` upstream with `Connection: close` and reads the whole answer.
    func forward(_ request: (head: String, body: [UInt8])) -> [UInt8]? {
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(upstream) }
        var address = Self.loopback(port: upstreamPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let lines = request.head.components(separatedBy: "\r\n").filter { !$0.lowercased().hasPrefix("connection:") && !$0.isEmpty }
        Self.write(upstream, Array((lines.joined(separator: "\r\n") + "\r\nConnection: close\r\n\r\n").utf8) + request.body)
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(upstream, &buffer, buffer.count)
            if count <= 0 { break }
            answer += buffer[0..<count]
        }
        return answer
    }

    /// Reads one request: the head up to the blank line and a body of Content-Length bytes.
    static func readRequest(_ connection: Int32) -> (head: String, body: [UInt8])? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        var bodyLength = 0
        while true {
            if headEnd == nil, let range = data.firstRange(of: separator) {
                headEnd = range.upperBound
                let head = String(decoding: data[..<range.lowerBound], as: UTF8.self)
                for line in head.components(separatedBy: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    bodyLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let headEnd, data.count >= headEnd + bodyLength {
                return (String(decoding: data[..<(headEnd - 4)], as: UTF8.self), Array(data[headEnd..<(headEnd + bodyLength)]))
            }
            let count = read(connection, &buffer, buffer.count)
            if count <= 0 { return nil }
            data += buffer[0..<count]
        }
    }

    static func write(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            offset += written
        }
    }
}

import Foundation
import Hummingbird
import Logging
import NIOCore
import RRLog
import RRLogInterop
import RRLogOTLPHTTP
import XCTest

/// Replay against a scripted endpoint: retries on 429/502/503/504 only, Retry-After honoured,
/// partial successes counted as failures and never resent.
final class ReplayRetryTests: XCTestCase {
    /// Answers per call number (1-based), then 200.
    final class Script: @unchecked Sendable {
        let lock = NSLock()
        var calls = 0
        let answers: [Int: (Int, String?, String)]  // status, Retry-After, JSON body

        init(_ answers: [Int: (Int, String?, String)]) { self.answers = answers }

        func next() -> (Int, String?, String) {
            lock.lock()
            defer { lock.unlock() }
            calls += 1
            return answers[calls] ?? (200, nil, "{}")
        }

        var count: Int {
            lock.lock()
            defer { lock.unlock() }
            return calls
        }
    }

    func run(_ script: Script, requests: Int, maxAttempts: Int = 3) async throws -> OTLPReplayTotals {
        let path = FileManager.default.temporaryDirectory.path + "/rrlog-replay-retry-\(getpid())-\(UUID().uuidString.prefix(8))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        let store = try Store(path: path)
        let options = OTLPSeedOptions(durationSeconds: Double(requests), tracesPerSecond: 1, seed: 9)
        let manifest = try store.createSession(name: "s", type: "seed")
        let writer = try store.openWriter(manifest)
        try OTLPImporter.append(try OTLPSeedGenerator.requests(options), to: writer)
        let closed = try writer.close()

        let responder = CallbackResponder<BasicRequestContext> { _, _ in
            let (status, retryAfter, body) = script.next()
            var headers: HTTPFields = [.contentType: "application/json"]
            if let retryAfter { headers[.retryAfter] = retryAfter }
            return Response(status: .init(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            responder: responder, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        let server = Task { try await app.run() }
        defer { server.cancel() }
        var port = 0
        for await p in ports { port = p; break }
        var replay = OTLPReplayOptions(endpoint: "http://127.0.0.1:\(port)")
        replay.speed = nil
        replay.json = true
        replay.maxAttempts = maxAttempts
        replay.initialBackoffSeconds = 0.01
        return try await OTLPReplayer(options: replay).run(closed, from: store)
    }

    func testRetriesOnRetryableStatusesOnly() async throws {
        let script = Script([1: (503, "0", "{}"), 2: (429, nil, "{}"), 4: (400, nil, "{\"code\":3}"), 5: (500, nil, "")])
        let totals = try await run(script, requests: 3)
        // Request 1: 503, 429, 200. Request 2: 400 (no retry). Request 3: 500 (no retry).
        XCTAssertEqual(script.count, 5)
        XCTAssertEqual(totals.retries, 2)
        XCTAssertEqual(totals.requests, 1)
        XCTAssertEqual(totals.failedRequests, 2)
    }

    func testAttemptsAreBounded() async throws {
        let script = Script([1: (503, nil, ""), 2: (502, nil, ""), 3: (504, "Thu, 01 Jan 1970 00:00:00 GMT", "")])
        let totals = try await run(script, requests: 1, maxAttempts: 3)
        XCTAssertEqual(script.count, 3)
        XCTAssertEqual(totals.failedRequests, 1)
        XCTAssertEqual(totals.retries, 2)
    }

    func testPartialSuccessIsNotResent() async throws {
        let script = Script([1: (200, nil, #"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too old"}}"#)])
        let totals = try await run(script, requests: 2)
        XCTAssertEqual(script.count, 2)
        XCTAssertEqual(totals.requests, 2)
        XCTAssertEqual(totals.failedItems, 2)
        XCTAssertEqual(totals.retries, 0)
        XCTAssertEqual(totals.failedRequests, 0)
    }
}

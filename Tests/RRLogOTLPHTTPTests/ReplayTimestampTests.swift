import Foundation
import RRLog
import RRLogInterop
import RRLogOTLPHTTP
import XCTest

/// `--timestamps current` moves each request to the moment it is sent and keeps every span's
/// duration and the time between spans (issue #19, item 9); an endpoint nobody listens on stops
/// the replay at the first request (item 8).
final class ReplayTimestampTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/otlp")

    /// A store holding the fixture `file` as the session `fixture`, and the fixture's requests.
    func session(_ file: String) throws -> (Store, [OTLPRequest]) {
        let path = FileManager.default.temporaryDirectory.path + "/rrlog-replay-times-\(getpid())-\(UUID().uuidString.prefix(8))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        let store = try Store(path: path)
        let requests = try OTLPImporter().requests(fromFile: Self.fixtures.appendingPathComponent(file).path)
        let writer = try store.openWriter(try store.createSession(name: "fixture"))
        try OTLPImporter.append(requests, to: writer)
        _ = try writer.close()
        return (store, requests)
    }

    /// Each span as (trace id, span id) -> (start, end).
    static func spans(_ requests: [OTLPRequest]) -> [String: (start: UInt64, end: UInt64)] {
        var out: [String: (start: UInt64, end: UInt64)] = [:]
        for span in requests.flatMap(\.spans) { out[span.traceID + "/" + span.spanID] = (span.startTimeUnixNano, span.endTimeUnixNano) }
        return out
    }

    func testCurrentTimestampsKeepDurationsAndGaps() async throws {
        let (store, original) = try session("traces-003.otlp")
        let manifest = try store.session("fixture")
        let before = UInt64(Date().timeIntervalSince1970 * 1e9)
        // rrlog's own capture server receives the replay and keeps the bodies as they came.
        let writer = try store.openWriter(try store.createSession(name: "received", type: "capture"))
        let server = OTLPCaptureServer(writer: writer, options: OTLPCaptureOptions(host: "127.0.0.1", port: 0, maxBodyBytes: 16 << 20))
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let running = Task { try await server.run { _, port in continuation.yield(port) } }
        var port = 0
        for await p in ports { port = p; break }

        var options = OTLPReplayOptions(endpoint: "http://127.0.0.1:\(port)")
        options.speed = nil
        options.timestamps = .current
        let totals = try await OTLPReplayer(options: options).run(manifest, from: store)
        await server.stop()
        _ = try await running.value
        XCTAssertEqual(totals.requests, original.count)
        let sent = try OTLPExporter.requests(try writer.close(), from: store)
        XCTAssertEqual(sent.count, original.count)

        let was = Self.spans(original)
        let now = Self.spans(sent)
        XCTAssertEqual(Set(was.keys), Set(now.keys))
        XCTAssertGreaterThan(was.count, 1)
        XCTAssertTrue(was.values.contains { $0.end > $0.start }, "the fixture has spans that last")
        // One delta for every time field: durations and the gaps between span starts are kept.
        let delta = Int64(bitPattern: now.values.map { $0.start }.min()! &- was.values.map { $0.start }.min()!)
        for (id, span) in was {
            let moved = try XCTUnwrap(now[id])
            XCTAssertEqual(moved.end - moved.start, span.end - span.start, "duration of \(id)")
            XCTAssertEqual(Int64(bitPattern: moved.start &- span.start), delta, "start of \(id)")
        }
        XCTAssertGreaterThanOrEqual(now.values.map { $0.start }.min()!, before, "the earliest span starts when it is sent")
    }

    func testAnEndpointThatRefusesStopsTheReplayAtTheFirstRequest() async throws {
        let (store, original) = try session("traces-003.otlp")
        let manifest = try store.session("fixture")
        XCTAssertGreaterThan(original.count, 0)
        var options = OTLPReplayOptions(endpoint: "http://127.0.0.1:9")
        options.speed = nil
        do {
            let totals = try await OTLPReplayer(options: options).run(manifest, from: store)
            XCTFail("a replay to a closed port went on: \(totals)")
        } catch let error as RRLogError {
            XCTAssertEqual(error.message, "cannot reach http://127.0.0.1:9/v1/traces: connection refused; is an OTLP/HTTP receiver listening there?")
        }
    }
}

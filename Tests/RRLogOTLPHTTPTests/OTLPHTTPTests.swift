import AsyncHTTPClient
import Foundation
import NIOCore
import RRLog
import RRLogCatalog
import RRLogInterop
import RRLogOTLPHTTP
import RRLogTestSupport
import XCTest

final class OTLPHTTPTests: XCTestCase {
    /// A fresh directory, removed when the test ends.
    func temporaryDirectory() -> String {
        TestPaths.temporaryDirectory(self, prefix: "rrlog-otlphttp-tests")
    }

    /// A capture server on 127.0.0.1 (a free port) writing into a new capture session.
    struct Running {
        var server: OTLPCaptureServer
        var writer: SessionWriter
        var port: Int
        var task: Task<OTLPCaptureTotals, any Error>
        var base: String { "http://127.0.0.1:\(port)" }

        /// Stops the server, closes the session and returns the totals and the stored requests.
        func stop(_ store: Store) async throws -> (OTLPCaptureTotals, [OTLPRequest]) {
            await server.stop()
            let totals = try await task.value
            let manifest = try writer.close()
            XCTAssertEqual(manifest.status, "completed")
            return (totals, try OTLPExporter.requests(manifest, from: store))
        }
    }

    func startCapture(_ store: Store, session: String, maxBodyBytes: Int = 4 << 20) async throws -> Running {
        let manifest = try store.createSession(name: session, type: "capture")
        let writer = try store.openWriter(manifest)
        let server = OTLPCaptureServer(writer: writer, options: OTLPCaptureOptions(host: "127.0.0.1", port: 0, maxBodyBytes: maxBodyBytes))
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { _, port in continuation.yield(port) } }
        let port = try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask { for await port in ports { return port }; return nil }
            group.addTask { try await Task.sleep(nanoseconds: 20_000_000_000); return nil }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let port, port > 0 else {
            await server.stop()
            throw XCTSkip("the capture server did not start listening within 20 s")
        }
        return Running(server: server, writer: writer, port: port, task: task)
    }

    static func post(_ url: String, _ body: [UInt8], contentType: String, encoding: String? = nil, get: Bool = false) async throws -> (Int, [UInt8], String?) {
        var request = HTTPClientRequest(url: url)
        request.method = get ? .GET : .POST
        request.headers.add(name: "Content-Type", value: contentType)
        if let encoding { request.headers.add(name: "Content-Encoding", value: encoding) }
        if !get { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let buffer = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), Array(buffer.readableBytesView), response.headers.first(name: "Content-Type"))
    }

    func seeded(_ options: OTLPSeedOptions, into store: Store, session: String) throws -> SessionManifest {
        let manifest = try store.createSession(name: session, type: "seed", annotations: OTLPSeedGenerator.annotations(options))
        let writer = try store.openWriter(manifest)
        try OTLPImporter.append(try OTLPSeedGenerator.requests(options), to: writer)
        return try writer.close()
    }

    static func spanCount(_ requests: [OTLPRequest]) -> Int { requests.reduce(0) { $0 + ($1.signal == .traces ? $1.itemCount : 0) } }

    // MARK: Capture

    func testCaptureAnswersAndStoresEverySpan() async throws {
        let store = try Store(path: temporaryDirectory() + "/store")
        let running = try await startCapture(store, session: "cap", maxBodyBytes: 256 << 10)
        let sent = try OTLPSeedGenerator.requests(OTLPSeedOptions(durationSeconds: 3, tracesPerSecond: 5, errorRate: 0.2, seed: 7))
        XCTAssertEqual(sent.count, 3)
        let traces = running.base + "/v1/traces"

        var (status, body, type) = try await Self.post(traces, sent[0].protobufBytes(), contentType: "application/x-protobuf")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(body, [UInt8]())
        XCTAssertEqual(type, "application/x-protobuf")

        (status, body, type) = try await Self.post(traces, sent[1].jsonBytes(), contentType: "application/json; charset=utf-8")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(String(decoding: body, as: UTF8.self), "{}")
        XCTAssertEqual(type, "application/json")

        (status, _, _) = try await Self.post(traces, try GzipEncoder.compress(sent[2].protobufBytes()), contentType: "application/x-protobuf", encoding: "gzip")
        XCTAssertEqual(status, 200)

        // Malformed bodies: 400 with a google.rpc.Status in the request's encoding.
        (status, body, _) = try await Self.post(traces, [0x0A, 0xFF, 0xFF, 0xFF], contentType: "application/x-protobuf")
        XCTAssertEqual(status, 400)
        XCTAssertEqual(Array(body.prefix(3)), [0x08, 0x03, 0x12])
        (status, body, _) = try await Self.post(traces, Array("{\"resourceSpans\": [".utf8), contentType: "application/json")
        XCTAssertEqual(status, 400)
        let parsed = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]
        XCTAssertEqual(parsed?["code"] as? Int, 3)
        XCTAssertNotNil(parsed?["message"] as? String)
        (status, _, _) = try await Self.post(traces, [0x00, 0x01], contentType: "application/x-protobuf", encoding: "gzip")
        XCTAssertEqual(status, 400)

        // Too large, as sent and after decompression.
        (status, _, _) = try await Self.post(traces, [UInt8](repeating: 0x20, count: 300 << 10), contentType: "application/json")
        XCTAssertEqual(status, 413)
        (status, _, _) = try await Self.post(traces, try GzipEncoder.compress([UInt8](repeating: 0x20, count: 1 << 20)), contentType: "application/json", encoding: "gzip")
        XCTAssertEqual(status, 413)

        // Other content types, methods, paths.
        (status, _, _) = try await Self.post(traces, Array("hello".utf8), contentType: "text/plain")
        XCTAssertEqual(status, 415)
        (status, _, _) = try await Self.post(traces, [], contentType: "application/json", get: true)
        XCTAssertEqual(status, 405)
        (status, _, _) = try await Self.post(running.base + "/v1/other", [], contentType: "application/json")
        XCTAssertEqual(status, 404)

        // Metrics and logs in JSON.
        let logs = Array(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"1735689600000000000","body":{"stringValue":"hi"}},{"observedTimeUnixNano":"1735689601000000000"}]}]}]}"#.utf8)
        (status, _, _) = try await Self.post(running.base + "/v1/logs", logs, contentType: "application/json")
        XCTAssertEqual(status, 200)
        let metrics = Array(#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"timeUnixNano":"1735689600000000000","asInt":"3"}]}}]}]}]}"#.utf8)
        (status, _, _) = try await Self.post(running.base + "/v1/metrics", metrics, contentType: "application/json")
        XCTAssertEqual(status, 200)

        let (totals, stored) = try await running.stop(store)
        XCTAssertEqual(totals.requests, 5)
        XCTAssertEqual(totals.spans, Self.spanCount(sent))
        XCTAssertEqual(totals.logRecords, 2)
        XCTAssertEqual(totals.dataPoints, 1)
        XCTAssertEqual(stored.count, 5)
        XCTAssertEqual(stored.filter { $0.signal == .traces }, sent)
        XCTAssertEqual(Self.spanCount(stored), Self.spanCount(sent))
    }

    func testCaptureManyConcurrentRequests() async throws {
        let store = try Store(path: temporaryDirectory() + "/store")
        let running = try await startCapture(store, session: "load")
        let requests = try OTLPSeedGenerator.requests(OTLPSeedOptions(pattern: .highLoad, durationSeconds: 20, tracesPerSecond: 10, seed: 3))
        let bodies = requests.map { $0.protobufBytes() }
        let url = running.base + "/v1/traces"
        try await withThrowingTaskGroup(of: Int.self) { group in
            for body in bodies {
                group.addTask { try await Self.post(url, body, contentType: "application/x-protobuf").0 }
            }
            for try await status in group { XCTAssertEqual(status, 200) }
        }
        let (totals, stored) = try await running.stop(store)
        XCTAssertEqual(totals.requests, requests.count)
        XCTAssertEqual(Self.spanCount(stored), Self.spanCount(requests))
        XCTAssertEqual(Set(stored.map { $0.protobufBytes() }), Set(bodies))
    }

    // MARK: Replay

    func testReplaySeededSessionIntoCapture() async throws {
        let store = try Store(path: temporaryDirectory() + "/store")
        let options = OTLPSeedOptions(pattern: .paymentFailure, durationSeconds: 6, tracesPerSecond: 4, errorRate: 0.1, seed: 11)
        let seed = try seeded(options, into: store, session: "seeded")
        let original = try OTLPExporter.requests(seed, from: store)

        // none: times kept; JSON and gzip on the wire.
        var running = try await startCapture(store, session: "replay-none")
        var replay = OTLPReplayOptions(endpoint: running.base)
        replay.speed = nil
        replay.json = true
        replay.gzip = true
        var totals = try await OTLPReplayer(options: replay).run(seed, from: store)
        XCTAssertEqual(totals.requests, original.count)
        XCTAssertEqual(totals.items, Self.spanCount(original))
        XCTAssertEqual(totals.failedRequests, 0)
        var (_, stored) = try await running.stop(store)
        XCTAssertEqual(stored, original)

        // relative: every time shifted by one constant amount, to about now.
        running = try await startCapture(store, session: "replay-relative")
        replay = OTLPReplayOptions(endpoint: running.base + "/v1/traces")
        replay.speed = nil
        replay.timestamps = .relative
        let before = Int64(Date().timeIntervalSince1970 * 1e9)
        totals = try await OTLPReplayer(options: replay).run(seed, from: store)
        XCTAssertEqual(totals.items, Self.spanCount(original))
        (_, stored) = try await running.stop(store)
        XCTAssertEqual(stored.count, original.count)
        let originalTimes = original.flatMap(\.allTimesNs)
        let shiftedTimes = stored.flatMap(\.allTimesNs)
        XCTAssertEqual(originalTimes.count, shiftedTimes.count)
        let delta = Int64(shiftedTimes[0]) - Int64(originalTimes[0])
        XCTAssertGreaterThanOrEqual(Int64(shiftedTimes.min() ?? 0), before)
        for (a, b) in zip(originalTimes, shiftedTimes) where Int64(b) - Int64(a) != delta {
            XCTFail("time \(a) became \(b), not shifted by \(delta)")
            break
        }

        // current: each request starts when it is sent; span durations are kept.
        running = try await startCapture(store, session: "replay-current")
        replay = OTLPReplayOptions(endpoint: running.base)
        replay.speed = nil
        replay.timestamps = .current
        replay.signals = [.traces]
        _ = try await OTLPReplayer(options: replay).run(seed, from: store)
        (_, stored) = try await running.stop(store)
        XCTAssertEqual(stored.flatMap(\.spans).map(\.durationNs).sorted(), original.flatMap(\.spans).map(\.durationNs).sorted())
        XCTAssertGreaterThanOrEqual(Int64(stored.flatMap(\.allTimesNs).min() ?? 0), before)
    }

    func testReplayRetriesAndCountsFailures() async throws {
        let store = try Store(path: temporaryDirectory() + "/store")
        let seed = try seeded(OTLPSeedOptions(durationSeconds: 2, tracesPerSecond: 2, seed: 5), into: store, session: "s")
        // Nothing listens on this port: the first request cannot connect, and the replay stops
        // there (without retries) rather than failing every request in turn.
        var replay = OTLPReplayOptions(endpoint: "http://127.0.0.1:9")
        replay.speed = nil
        replay.maxAttempts = 2
        replay.timeoutSeconds = 2
        do {
            let totals = try await OTLPReplayer(options: replay).run(seed, from: store)
            XCTFail("the replay went on: \(totals)")
        } catch let error as RRLogError {
            XCTAssertTrue(error.message.hasPrefix("cannot reach http://127.0.0.1:9/v1/traces: connection refused"), error.message)
        }
    }

    func testRetryAfterParsing() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        XCTAssertEqual(OTLPReplayer.retryAfterSeconds("7", now: now), 7)
        XCTAssertEqual(OTLPReplayer.retryAfterSeconds("Tue, 14 Nov 2023 22:13:30 GMT", now: now), 10)
        XCTAssertNil(OTLPReplayer.retryAfterSeconds("soon", now: now))
    }

    func testEndpointURLs() {
        XCTAssertEqual(OTLPReplayOptions(endpoint: "http://h:4318").url(for: .logs), "http://h:4318/v1/logs")
        XCTAssertEqual(OTLPReplayOptions(endpoint: "http://h:4318/").url(for: .traces), "http://h:4318/v1/traces")
        XCTAssertEqual(OTLPReplayOptions(endpoint: "http://h/otlp/v1/traces").url(for: .metrics), "http://h/otlp/v1/metrics")
    }

    func testTimeShiftCoversLogsAndMetrics() throws {
        let logs = try OTLPRequest(json: Array(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"100","observedTimeUnixNano":"200"},{"observedTimeUnixNano":"300"}]}]}]}"#.utf8))
        XCTAssertEqual(logs.shiftingTimes(byNs: 1000).allTimesNs, [1100, 1200, 1300])
        let metrics = try OTLPRequest(json: Array(#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"a","sum":{"dataPoints":[{"startTimeUnixNano":"10","timeUnixNano":"20","asDouble":1,"exemplars":[{"timeUnixNano":"15","asDouble":1}]}]}},{"name":"h","histogram":{"dataPoints":[{"startTimeUnixNano":"30","timeUnixNano":"40"}]}}]}]}]}"#.utf8))
        XCTAssertEqual(metrics.shiftingTimes(byNs: 5).allTimesNs, [15, 25, 20, 35, 45])
        XCTAssertEqual(Set(metrics.settingTimes(toNs: 99).allTimesNs), [99])
        let shifted = try OTLPRequest(protobuf: metrics.shiftingTimes(byNs: 5).protobufBytes(), signal: .metrics)
        XCTAssertEqual(shifted.allTimesNs, [15, 25, 20, 35, 45])
    }

    // MARK: Seed

    func testSeedIsDeterministic() throws {
        let options = OTLPSeedOptions(pattern: .paymentFailure, durationSeconds: 9, tracesPerSecond: 20, errorRate: 0.05, seed: 42)
        let store = try Store(path: temporaryDirectory() + "/store")
        let a = try seeded(options, into: store, session: "a")
        let b = try seeded(options, into: store, session: "b")
        let payloadsA = try OTLPExporter.requests(a, from: store).map { $0.protobufBytes() }
        let payloadsB = try OTLPExporter.requests(b, from: store).map { $0.protobufBytes() }
        XCTAssertEqual(payloadsA.count, 9)
        XCTAssertEqual(payloadsA, payloadsB)
        XCTAssertEqual(a.annotations["phase.1"], "baseline 0s-3s")
        XCTAssertEqual(a.annotations["phase.2"], "payment-failure 3s-6s")
        XCTAssertEqual(a.annotations["phase.3"], "recovery 6s-9s")
        var other = options
        other.seed = 43
        XCTAssertNotEqual(try OTLPSeedGenerator.requests(other).map { $0.protobufBytes() }, payloadsA)

        // The failure phase has far more failing payments than the others.
        let requests = try OTLPExporter.requests(a, from: store)
        func paymentErrors(_ range: Range<Int>) -> Int {
            requests[range].flatMap(\.spans).filter { $0.serviceName == "payment" && $0.kind == 2 && $0.statusCode == 2 }.count
        }
        XCTAssertGreaterThan(paymentErrors(3..<6), paymentErrors(0..<3) + paymentErrors(6..<9))
        // Parent links: every non-root span's parent is in its trace.
        let spans = requests.flatMap(\.spans)
        let ids = Set(spans.map { $0.traceID + $0.spanID })
        for span in spans where !span.parentSpanID.isEmpty { XCTAssertTrue(ids.contains(span.traceID + span.parentSpanID)) }
        XCTAssertEqual(spans.filter { $0.parentSpanID.isEmpty }.count, 180)
    }

    // MARK: The real OpenTelemetry SDK

    func testPythonOpenTelemetrySDKExporter() async throws {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import opentelemetry.sdk.trace, opentelemetry.exporter.otlp.proto.http.trace_exporter"]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        do { try check.run() } catch { throw TestPaths.missing("python3") }
        check.waitUntilExit()
        guard check.terminationStatus == 0 else {
            throw TestPaths.missing("python packages opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http (pip install them)")
        }
        let directory = temporaryDirectory()
        let store = try Store(path: directory + "/store")
        let running = try await startCapture(store, session: "python")
        let script = """
            import sys
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.exporter.otlp.proto.http import Compression
            provider = TracerProvider(resource=Resource.create({"service.name": "python-test"}))
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1], compression=Compression.Gzip, timeout=10)))
            tracer = provider.get_tracer("rrlog-test")
            for i in range(50):
                with tracer.start_as_current_span("parent-%d" % i):
                    for j in range(3):
                        with tracer.start_as_current_span("child-%d" % j):
                            pass
            provider.force_flush(10000)
            provider.shutdown()
            """
        try script.write(toFile: directory + "/send.py", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", directory + "/send.py", running.base + "/v1/traces"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Bounded wait: 60 s.
        for _ in 0..<600 where process.isRunning { try await Task.sleep(nanoseconds: 100_000_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let (totals, stored) = try await running.stop(store)
        XCTAssertEqual(totals.spans, 200)
        let spans = stored.flatMap(\.spans)
        XCTAssertEqual(spans.count, 200)
        XCTAssertEqual(Set(spans.map(\.serviceName)), ["python-test"])
        XCTAssertEqual(spans.filter { $0.name.hasPrefix("parent-") }.count, 50)
    }
}

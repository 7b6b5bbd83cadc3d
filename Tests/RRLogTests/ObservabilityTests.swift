import Foundation
import InMemoryLogging
import Logging
import MetricsTestKit
import RRLog
import RRLogCatalog
import RRLogTestSupport
import XCTest

/// The structured events and counters of README "Events and metrics", through swift-log's own
/// in-memory handler and swift-metrics' own test backend.
final class ObservabilityTests: XCTestCase {
    func makeStore() throws -> Store {
        try Store(path: TestPaths.temporaryDirectory(self, prefix: "rrlog-obs"))
    }

    /// The entries whose `rrlog.event` is `event`.
    func entries(_ handler: InMemoryLogHandler, _ event: String) -> [InMemoryLogHandler.Entry] {
        handler.entries.filter { $0.metadata["rrlog.event"] == .string(event) }
    }

    func testRecordingStartAndStopAreLoggedAndCounted() async throws {
        let store = try makeStore()
        let logs = InMemoryLogHandler()
        let metrics = TestMetrics()
        var options = RecordingOptions(name: "observed")
        options.type = "training"
        options.queueCapacity = 1
        options.whenQueueFull = .drop
        options.observability = Observability(logger: Logger(label: "test") { _ in logs }, metrics: metrics)
        let recorder = try RRLog.Recorder.start(store: store, options: options)
        let started = entries(logs, "recording.started")
        XCTAssertEqual(started.count, 1)
        XCTAssertEqual(started.first?.level, .info)
        XCTAssertEqual(started.first?.metadata["rrlog.session"], "observed")
        XCTAssertEqual(started.first?.metadata["rrlog.type"], "training")
        XCTAssertEqual(metrics.counterTotal(label: Observability.CounterName.recordingsStarted, dimensions: [("type", "training")]), 1)

        for i in 0..<5000 { recorder.record(ioType: "tool_call", tool: "t", inputs: ["i": .int(Int64(i))], outputs: [:]) }
        let summary = try await recorder.stop()
        _ = try await recorder.stop()
        let stopped = entries(logs, "recording.stopped")
        XCTAssertEqual(stopped.count, 1, "one event however often stop is called")
        XCTAssertEqual(stopped.first?.metadata["rrlog.status"], "completed")
        XCTAssertEqual(stopped.first?.metadata["rrlog.events"], .stringConvertible(summary.events))
        XCTAssertEqual(stopped.first?.level, summary.dropped > 0 ? .warning : .info, "a recording that lost records warns")
        XCTAssertEqual(metrics.counterTotal(label: Observability.CounterName.recordingsStopped, dimensions: [("status", "completed")]), 1)
        XCTAssertEqual(metrics.counterTotal(label: Observability.CounterName.recordedEvents), Int64(summary.events))
        XCTAssertEqual(summary.events + summary.dropped, 5000)
        XCTAssertEqual(metrics.counterTotal(label: Observability.CounterName.recordsDropped), Int64(summary.dropped))
    }

    func testReplayMissesDivergenceAndProvenanceAreLoggedAndCounted() async throws {
        let store = try makeStore()
        var options = RecordingOptions(name: "rec")
        options.provenance = SessionManifest.Provenance(gitSHA: "abc", configDigest: nil, modelIDs: [], seeds: [])
        _ = try await RRLog.Recorder.withRecording(store: store, options: options) { rec in
            rec.record(ioType: "tool_call", tool: "search", inputs: ["q": "swift", "page": 1], outputs: ["hits": 3])
        }
        let logs = InMemoryLogHandler()
        let metrics = TestMetrics()
        let player = try Player(
            store: store, session: "rec", mode: .warn, expectedProvenance: SessionManifest.Provenance(gitSHA: "def", configDigest: nil, modelIDs: [], seeds: []),
            logger: Logger(label: "test") { _ in logs }, metrics: metrics)
        let provenance = entries(logs, "replay.provenance_differs")
        XCTAssertEqual(provenance.count, 1)
        XCTAssertEqual(provenance.first?.metadata["rrlog.fields"], .array(["git_sha"]))
        XCTAssertEqual(metrics.counterTotal(label: Observability.CounterName.provenanceDifferences, dimensions: [("policy", "warn")]), 1)

        // A hit, then the same call once more than recorded, then a call with other inputs.
        _ = try player.lookup(ioType: "tool_call", tool: "search", inputs: ["q": "swift", "page": 1])
        XCTAssertThrowsError(try player.lookup(ioType: "tool_call", tool: "search", inputs: ["q": "swift", "page": 1]))
        let live = try await player.call(ioType: "tool_call", tool: "search", inputs: ["q": "swift", "page": 2]) { ["hits": 0] }
        XCTAssertEqual(live, ["hits": 0])

        let diverged = entries(logs, "replay.diverged")
        XCTAssertEqual(diverged.count, 1)
        XCTAssertEqual(diverged.first?.metadata["rrlog.call_index"], .stringConvertible(UInt32(1)))
        XCTAssertEqual(diverged.first?.metadata["rrlog.recorded"], .stringConvertible(UInt32(1)))
        let missed = entries(logs, "replay.miss")
        XCTAssertEqual(missed.count, 1)
        XCTAssertEqual(missed.first?.metadata["rrlog.differing_paths"], .array(["page"]), "the closest call differs in page")
        XCTAssertEqual(missed.first?.metadata["rrlog.session"], "rec")
        XCTAssertEqual(entries(logs, "replay.live_call").count, 1)
        XCTAssertEqual(metrics.counterTotal(label: Observability.CounterName.replayMisses, dimensions: [("io_type", "tool_call"), ("reason", "exhausted")]), 1)
        XCTAssertEqual(metrics.counterTotal(label: Observability.CounterName.replayMisses, dimensions: [("io_type", "tool_call"), ("reason", "no_match")]), 1)
        XCTAssertEqual(metrics.counterTotal(label: Observability.CounterName.replayLiveCalls, dimensions: [("mode", "warn")]), 1)
    }
}

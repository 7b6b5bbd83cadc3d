// record-replay-example: record a small agent session with a streamed LLM answer, replay it in
// strict mode with its timing at 10x, and show a mismatch report. Exits non-zero when an
// expectation fails. Run: swift run record-replay-example [STORE_DIR]
import Foundation
import RRLog

var failures = 0
@MainActor func expect(_ condition: Bool, _ what: String) {
    print((condition ? "ok    " : "FAIL  ") + what)
    if !condition { failures += 1 }
}

let storePath = CommandLine.arguments.dropFirst().first ?? FileManager.default.temporaryDirectory.path + "/rrlog-example-\(getpid())"
let store = try Store(path: storePath)
let name = "example-\(Int(Date().timeIntervalSince1970))"

// 1. Record: a tool call, an LLM call whose answer streams in, and a checkpoint.
var options = RecordingOptions(name: name)
options.provenance.gitSHA = "3f9c2e1"
options.provenance.modelIDs = ["gpt-4o"]
let summary = try await Recorder.withRecording(store: store, options: options) { recorder in
    recorder.record(
        ioType: "tool_call", agent: "planner", tool: "search",
        inputs: ["query": "swift record replay"], outputs: ["hits": ["rrlog", "vcr"]])
    let tokens = AsyncStream<String> { continuation in
        Task {
            for token in ["Record", " and", " replay", "!"] {
                try? await Task.sleep(for: .milliseconds(40))
                continuation.yield(token)
            }
            continuation.finish()
        }
    }
    var answer = ""
    for try await token in recorder.recordStream(
        ioType: "llm_call", agent: "planner", tool: "openai",
        inputs: ["model": "gpt-4o", "prompt": "What does rrlog do?", "api_key": "sk-live-0123456789abcdefghij"],
        chunks: tokens, text: { $0 })
    {
        answer += token
    }
    recorder.checkpoint("answered")
    return try await recorder.stop()
}
print("recorded \(summary.events) events, \(summary.streams) stream, \(summary.chunks) chunks into \(summary.manifest.name)")
expect(summary.chunks == 4, "the stream's four chunks were recorded")

// 2. Replay in strict mode: the same calls get the recorded answers, the stream keeps its timing.
let player = try Player(store: store, session: name, mode: .strict)
let search = try player.lookup(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["query": "swift record replay"])
expect(search.outputs == ["hits": ["rrlog", "vcr"]], "the tool call replays its recorded outputs")

let stream = try player.stream(
    ioType: "llm_call", agent: "planner", tool: "openai",
    inputs: ["model": "gpt-4o", "prompt": "What does rrlog do?", "api_key": "sk-live-a-different-key-0000"])
let started = ContinuousClock.now
var replayed = ""
for await chunk in stream.timed(speed: 10) { replayed += chunk.content }
let elapsed = ContinuousClock.now - started
let recordedSpan = Double(stream.chunks.last?.offsetNs ?? 0) / 1e9
print(String(format: "replayed the stream in %.3f s (recorded over %.3f s, at 10x)", Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds), recordedSpan))
expect(replayed == "Record and replay!", "the stream replays its recorded text")

// 3. A call that was never recorded: strict mode says why, with the closest recorded call.
let miss = Result { () throws(ReplayError) in
    try player.lookup(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["query": "swift record"])
}
if case .failure(.noMatch(let report)) = miss {
    print(report)
    expect(report.closest.first?.differences.first?.path == "query", "the mismatch report names the differing field")
} else {
    expect(false, "an unrecorded call must be a miss")
}
let stats = player.statistics.total
print("lookups \(stats.lookups), hits \(stats.hits), misses \(stats.misses)")
expect(stats.hits == 2 && stats.misses == 1, "statistics count hits and misses")

if CommandLine.arguments.count < 2 { try? FileManager.default.removeItem(atPath: storePath) }
exit(failures == 0 ? 0 : 1)

import Foundation
import RRLog
import RRLogProxy
import RRLogTestSupport
import XCTest

/// Real clients through the proxy: the official openai and anthropic Python SDKs (PyPI),
/// recording against the local upstream and replaying without it.
final class SDKTests: XCTestCase {
    static let script = TestPaths.packageRoot.appendingPathComponent("Tests/Fixtures/proxy/sdk_calls.py").path
    static let apiKey = "sk-proj-rrlogTESTKEY7f3a9c2e1b8d4f60aa"

    /// The SDKs' answers at both ends must agree on every byte; each replayed event must reach the
    /// Python client within this many seconds of its recorded offset (taken at the proxy when
    /// recording). Replay is compared with the recorded offsets, not with the times the client saw
    /// while recording: a client starved of CPU while recording sees events late, which the
    /// recording does not (and should not) reproduce.
    static let eventToleranceSeconds = 0.050

    func testOpenAIAndAnthropicSDKsRecordThenReplayByteForByteWithTheirTiming() async throws {
        guard try await Subprocess.run("/usr/bin/env", ["python3", "-c", "import openai, anthropic"]).status == 0 else {
            throw TestPaths.missing("the openai and anthropic Python SDKs (pip install openai anthropic)")
        }
        let upstream = try await MockUpstream.start()
        let directory = TestPaths.temporaryDirectory(self, prefix: "rrlog-proxy-sdk")
        let store = try Store(path: directory + "/store")
        let recording = try await RunningProxy.start(store, "sdk", RunningProxy.options(.record, upstream: upstream.base))
        let recorded = try await Self.calls(base: recording.base)
        let totals = try await recording.stop()
        await upstream.stop()
        XCTAssertEqual(totals.recorded, 8)
        XCTAssertEqual(totals.answered, 8)

        // The API key the SDKs sent is nowhere in the store.
        XCTAssertFalse(SessionContents.fileBytes(under: directory).contains(bytes: Self.apiKey))
        XCTAssertFalse(try SessionContents.lines(store, "sdk").contains { $0.serialized().contains(Self.apiKey) })

        let replaying = try await RunningProxy.start(store, "sdk", RunningProxy.options(.strict, upstream: nil, speed: 1))
        let replayed = try await Self.calls(base: replaying.base)
        let changed = try await Self.run(base: replaying.base, ["--changed"])
        let replayTotals = try await replaying.stop()
        XCTAssertEqual(replayTotals.replayed, 8)
        XCTAssertEqual(upstream.requests, 8)

        XCTAssertEqual(recorded.count, 8)
        XCTAssertEqual(replayed.count, recorded.count)
        // The session's streams in the order they were recorded, which is the calls' order.
        var streams = try Self.recordedEventOffsets(store, "sdk")
        XCTAssertEqual(streams.count, 4)
        for (r, p) in zip(recorded, replayed) {
            let name = r["name"]?.stringValue ?? "?"
            XCTAssertEqual(p["result"], r["result"], name)
            XCTAssertEqual(p["body_base64"], r["body_base64"], "\(name): the bodies differ")
            XCTAssertEqual(p["status"], 200, name)
            let seen = (r["events"]?.arrayValue ?? []).compactMap(\.doubleValue)
            let again = (p["events"]?.arrayValue ?? []).compactMap(\.doubleValue)
            XCTAssertEqual(again.count, seen.count, "\(name): events")
            guard !seen.isEmpty, !streams.isEmpty else { continue }
            let offsets = streams.removeFirst()
            XCTAssertEqual(offsets.count, again.count, "\(name): recorded events")
            for (n, (a, b)) in zip(offsets, again).enumerated() {
                XCTAssertEqual(b, a, accuracy: Self.eventToleranceSeconds, "\(name): event \(n) replayed at \(b) s, recorded at \(a) s")
            }
        }
        XCTAssertTrue(recorded.first?["result"]?.stringValue?.hasPrefix("echo 1: hello from python") == true)
        XCTAssertTrue(recorded.last?["result"]?.stringValue?.hasPrefix("echo 3: hello from python") == true, "the 2nd identical call's own answer")
        XCTAssertGreaterThan(recorded[1]["events"]?.arrayValue?.count ?? 0, 4)

        // A prompt never recorded: the SDK gets a 404 whose problem names the differing field.
        XCTAssertEqual(changed["status"], 404)
        XCTAssertEqual(changed["body"]?["reason"], "no_match")
        let differences = changed["body"]?["closest"]?[0]?["differences"]?.arrayValue ?? []
        XCTAssertTrue(differences.contains { $0["path"] == "body.messages[0].content" && $0["given"] == "a prompt never recorded" }, changed.serialized())
    }

    /// For each stream of `session`, in the order they started: the second after the stream's
    /// start at which each server-sent event was complete, by the recorded chunks' times.
    static func recordedEventOffsets(_ store: Store, _ session: String) throws -> [[Double]] {
        let reader = try store.openReader(try store.session(session))
        var order: [String] = []
        var starts: [String: Int64] = [:]
        var pending: [String: String] = [:]
        var offsets: [String: [Double]] = [:]
        reader.forEach { view in
            guard let line = try? JSONValue.parse(Array(view.payload)), let id = line["stream_id"]?.stringValue else { return true }
            switch line["type"]?.stringValue {
            case "stream_start":
                order.append(id)
                starts[id] = view.timestampNs
            case "chunk":
                var text = (pending[id] ?? "") + (line["content"]?.stringValue ?? "")
                while let end = text.range(of: "\n\n") {
                    text = String(text[end.upperBound...])
                    offsets[id, default: []].append(Double(view.timestampNs - (starts[id] ?? 0)) / 1e9)
                }
                pending[id] = text
            default:
                break
            }
            return true
        }
        return order.map { offsets[$0] ?? [] }
    }

    /// The script's calls through the proxy at `base`, one result each.
    static func calls(base: String) async throws -> [JSONValue] {
        try await run(base: base, []).arrayValue ?? []
    }

    static func run(base: String, _ extra: [String]) async throws -> JSONValue {
        let result = try await Subprocess.run("/usr/bin/env", ["python3", script, "--base", base, "--key", apiKey] + extra)
        guard result.status == 0 else {
            XCTFail("sdk_calls.py exited \(result.status): \(result.errorText)")
            return .null
        }
        return try JSONValue.parse(result.output)
    }
}

/// A process run to its end without blocking a thread: its exit status and output.
enum Subprocess {
    struct Result {
        var status: Int32
        var output: [UInt8]
        var errorText: String
    }

    static func run(_ executable: String, _ arguments: [String]) async throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        // Both pipes are read while the process runs, so that neither fills up and stalls it.
        async let out = readAll(output.fileHandleForReading)
        async let err = readAll(errors.fileHandleForReading)
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return Result(status: status, output: Array(await out), errorText: String(decoding: await err, as: UTF8.self))
    }

    /// Everything `handle` gives until its end, read on a thread of Dispatch's (never one of the
    /// threads tasks run on, which the proxy under test needs).
    static func readAll(_ handle: FileHandle) async -> Data {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: (try? handle.readToEnd()) ?? Data()) }
        }
    }

    /// The first line `handle` gives that matches `pattern`, and the text read up to it (nil
    /// when the stream ends first).
    static func firstLine(of handle: FileHandle, matching pattern: String) async -> (line: String?, seen: String) {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var seen = ""
                var pending: [UInt8] = []
                while let data = try? handle.read(upToCount: 1), let byte = data.first {
                    if byte != UInt8(ascii: "\n") {
                        pending.append(byte)
                        continue
                    }
                    let line = String(decoding: pending, as: UTF8.self)
                    pending.removeAll()
                    seen += line + "\n"
                    if line.range(of: pattern, options: .regularExpression) != nil { return continuation.resume(returning: (line, seen)) }
                }
                continuation.resume(returning: (nil, seen))
            }
        }
    }
}

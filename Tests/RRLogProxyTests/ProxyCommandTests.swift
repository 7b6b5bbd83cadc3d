import Foundation
import RRLog
import RRLogProxy
import RRLogTestSupport
import XCTest

/// The `rrlog proxy` binary: its flags, SIGTERM completing the session, SIGKILL losing no
/// answered exchange.
final class ProxyCommandTests: XCTestCase {
    /// Starts `rrlog proxy ARGUMENTS` and returns the process and the port it says it listens on.
    func startBinary(_ arguments: [String]) async throws -> (process: Process, port: Int, output: Pipe) {
        guard let binary = TestPaths.rrlogBinary() else { throw TestPaths.missing("the rrlog binary (swift build)") }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["proxy"] + arguments + ["--listen", "127.0.0.1:0"]
        let errors = Pipe()
        let output = Pipe()
        process.standardError = errors
        process.standardOutput = output
        try process.run()
        let pattern = #"http://127\.0\.0\.1:[0-9]+"#
        let (line, seen) = await Subprocess.firstLine(of: errors.fileHandleForReading, matching: pattern)
        var port = 0
        if let line, let range = line.range(of: pattern, options: .regularExpression) { port = Int(line[range].split(separator: ":").last ?? "") ?? 0 }
        guard port > 0 else {
            process.terminate()
            throw ProxyDidNotStart(output: seen)
        }
        return (process, port, output)
    }

    /// The binary ended, or never said where it listens.
    struct ProxyDidNotStart: Error, CustomStringConvertible {
        var output: String
        var description: String { "the proxy did not say where it listens: \(output)" }
    }

    func testBadFlagsAreUsageErrorsAndAMissingSessionIsNamed() async throws {
        guard let binary = TestPaths.rrlogBinary() else { throw TestPaths.missing("the rrlog binary (swift build)") }
        let store = TestPaths.temporaryDirectory(self, prefix: "rrlog-proxy-cli") + "/store"
        let mode = try await Subprocess.run(binary.path, ["proxy", "s", "--store", store, "--upstream", "http://127.0.0.1:9", "--mode", "live"])
        XCTAssertEqual(mode.status, 2)
        XCTAssertTrue(mode.errorText.contains("--mode must be record, strict (or replay), warn or hybrid"), mode.errorText)
        let upstream = try await Subprocess.run(binary.path, ["proxy", "s", "--store", store, "--upstream", "ftp://x"])
        XCTAssertEqual(upstream.status, 2)
        let secret = try await Subprocess.run(binary.path, ["proxy", "s", "--store", store, "--upstream", "http://127.0.0.1:9", "--header", "x-api-key"])
        XCTAssertEqual(secret.status, 2)
        XCTAssertTrue(secret.errorText.contains("never stored"), secret.errorText)
        let missing = try await Subprocess.run(binary.path, ["proxy", "nothing", "--store", store, "--mode", "replay"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.errorText.contains("no session named 'nothing'"), missing.errorText)
    }

    func testSIGTERMFinishesTheRecordingCleanly() async throws {
        let upstream = try await MockUpstream.start()
        let store = TestPaths.temporaryDirectory(self, prefix: "rrlog-proxy-term") + "/store"
        let (process, port, output) = try await startBinary(["term", "--store", store, "--upstream", upstream.base])
        let client = ProxyClient(port: port)
        let answer = try await client.post("/v1/chat/completions", ProxyTests.chatStream)
        XCTAssertEqual(answer.status, 200)
        await client.shutdown()
        kill(process.processIdentifier, SIGTERM)
        let printed = await Subprocess.readAll(output.fileHandleForReading)
        process.waitUntilExit()
        await upstream.stop()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertTrue(String(decoding: printed, as: UTF8.self).contains("1 recorded"), String(decoding: printed, as: UTF8.self))
        let manifest = try Store(path: store).session("term")
        XCTAssertEqual(manifest.status, "completed")
        XCTAssertEqual(manifest.tags, ["proxy"])
    }

    func testSIGKILLLosesNoAnsweredExchange() async throws {
        let upstream = try await MockUpstream.start()
        let directory = TestPaths.temporaryDirectory(self, prefix: "rrlog-proxy-kill")
        let (process, port, _) = try await startBinary(["killed", "--store", directory + "/store", "--upstream", upstream.base])
        let client = ProxyClient(port: port)
        let answered = 12
        for n in 0..<answered {
            let body: JSONValue = ["model": "gpt-test", "messages": [["role": "user", "content": .string("call \(n)")]], "stream": .bool(n % 2 == 0)]
            let answer = try await client.post("/v1/chat/completions", body)
            XCTAssertEqual(answer.status, 200)
        }
        // Then eight clients at once, killed in the middle of their exchanges: every exchange a
        // client saw end must be there too.
        let inFlight = try await withThrowingTaskGroup(of: [JSONValue].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var done: [JSONValue] = []
                    for n in 0..<1000 {
                        let body: JSONValue = [
                            "model": "gpt-test", "messages": [["role": "user", "content": .string("worker \(worker) call \(n)")]], "stream": .bool(n % 2 == 0),
                        ]
                        guard let answer = try? await client.post("/v1/chat/completions", body), answer.status == 200 else { break }
                        if n % 2 == 0 && !answer.text.hasSuffix("data: [DONE]\n\n") { break }
                        done.append(body)
                    }
                    return done
                }
            }
            try await Task.sleep(for: .milliseconds(700))
            kill(process.processIdentifier, SIGKILL)
            var all: [JSONValue] = []
            for try await done in group { all += done }
            return all
        }
        process.waitUntilExit()
        await client.shutdown()
        await upstream.stop()
        XCTAssertGreaterThan(inFlight.count, 0)

        let store = try Store(path: directory + "/store")
        let player = try Player(store: store, session: "killed")
        for n in 0..<answered {
            let body: JSONValue = ["model": "gpt-test", "messages": [["role": "user", "content": .string("call \(n)")]], "stream": .bool(n % 2 == 0)]
            let call = try player.lookup(ioType: "http", tool: "http", inputs: postInputs("/v1/chat/completions", body))
            if n % 2 == 0 {
                let stream = try XCTUnwrap(player.stream(of: call), "call \(n)")
                XCTAssertTrue(stream.text.hasSuffix("data: [DONE]\n\n"), "call \(n): the whole stream")
            } else {
                XCTAssertEqual(call.outputs["status"], 200, "call \(n)")
            }
        }
        for body in inFlight {
            let call = try player.lookup(ioType: "http", tool: "http", inputs: postInputs("/v1/chat/completions", body))
            if body["stream"] == true {
                XCTAssertTrue(player.stream(of: call)?.text.hasSuffix("data: [DONE]\n\n") == true, body.serialized())
            } else {
                XCTAssertEqual(call.outputs["status"], 200, body.serialized())
            }
        }
    }
}

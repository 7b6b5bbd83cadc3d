import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogStorage

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Record a realistic agent session at high volume, verify it, look calls up by IO key, and show it.",
        discussion: "Deterministic for a given --seed. Writes into the store (default ./rrlog-data).")

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "Agent steps to record (each: a streamed LLM answer, tool and HTTP calls).")
    var steps: Int = 5000

    @Option(help: "Chunk compression: none, lz4, zstd.")
    var codec: String = "lz4"

    @Option(help: "Seed of the generated session.")
    var seed: UInt64 = 42

    @Option(help: "Session name (default: demo-<time>).")
    var name: String?

    func validate() throws {
        guard (1...1_000_000).contains(steps) else { throw ValidationError("--steps must be 1...1000000") }
        guard Codec(name: codec) != nil else { throw ValidationError("--codec must be none, lz4 or zstd, not '\(codec)'") }
    }

    func run() throws {
        let store = try storeOptions.open(create: true)
        let sessionName = name ?? "demo-\(Int(Date().timeIntervalSince1970))"
        try reporting {
            Output.line("rrlog demo: recording an agent session '\(sessionName)' into \(store.path)")
            var generator = DemoSession(seed: seed)
            let lines = generator.generate(steps: steps)
            let provenance = SessionManifest.Provenance(
                gitSHA: "3f9c2e1", configDigest: "sha256:demo", modelIDs: ["gpt-4o", "claude-sonnet"], seeds: [Int64(seed)],
                createdBy: "rrlog demo", adapter: "rrlog-demo", adapterVersion: RRLogVersion.string)
            let manifest = try store.createSession(
                name: sessionName, type: "recording", description: "rrlog demo: \(steps) agent steps", tags: ["demo"],
                provenance: provenance, annotations: ["agents": DemoSession.agents.joined(separator: ",")])
            var options = LogOptions()
            options.codec = Codec(name: codec)!
            let writer = try store.openWriter(manifest, options: options)

            // Encode (IO keys, canonical JSON) and append, timed together: this is recording.
            let clock = ContinuousClock()
            var encoder = IOEventEncoder()
            let started = clock.now
            var batch: [RecordInput] = []
            batch.reserveCapacity(4096)
            for (i, line) in lines.enumerated() {
                batch.append(try encoder.record(for: line, location: "demo line \(i + 1)"))
                if batch.count == 4096 {
                    try writer.append(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            try writer.append(batch)
            let final = try writer.close()
            let seconds = (clock.now - started).seconds
            Output.line(String(
                format: "recorded %d records (%@) in %.2f s: %.0f records/s, %.1f MB/s of JSON", final.recordCount,
                Output.bytes(Int(final.bytesStored)), seconds, Double(final.recordCount) / seconds, Double(final.bytesStored) / seconds / 1e6))

            // Verify every CRC, index and manifest.
            let verifyStart = clock.now
            let report = try store.verify(final)
            Output.line(String(
                format: "verify: %@ (%d segments, %d records, %@ in %.2f s)", report.isClean ? "clean" : "DAMAGED", report.log.segments,
                report.log.records, Output.bytes(report.log.bytes), (clock.now - verifyStart).seconds))
            guard report.isClean else { throw RRLogError(.corrupt, "the demo session failed verification") }

            // Replay lookups: every recorded call by its IO key.
            let reader = try store.openReader(final)
            var counter = CallIndexCounter()
            var checked = 0
            var mismatches = 0
            let lookupStart = clock.now
            for line in lines where line["type"]?.stringValue == "event" {
                guard let identity = IOCallIdentity(event: line) else { continue }
                let index = counter.next(for: IOKey.callDigest(for: identity))
                let found = reader.lookup(identity, callIndex: index)
                if found?["outputs"] != line["outputs"] { mismatches += 1 }
                checked += 1
            }
            let lookupSeconds = (clock.now - lookupStart).seconds
            Output.line(String(
                format: "lookup by IO key: %d calls, %d mismatches, %.1f us per lookup (canonical JSON + SHA-256 + hash probe + read)",
                checked, mismatches, lookupSeconds / Double(max(checked, 1)) * 1e6))
            guard mismatches == 0 else { throw RRLogError(.corrupt, "\(mismatches) lookups returned the wrong outputs") }
            if let sample = lines.first(where: { $0["type"]?.stringValue == "event" && $0["tool_name"]?.stringValue == "read_file" }) {
                Output.line("example: rrlog get \(final.name) --io-type \(sample["io_type"]!.stringValue!) --tool read_file --agent \(sample["agent_id"]!.stringValue!) --inputs '\(sample["inputs"]!.serialized())'")
            }
            Output.line("")
            for line in InfoCommand.describe(final) { Output.line(line) }
            Output.line("")
            Output.line("Try next:")
            Output.line("  rrlog ls")
            Output.line("  rrlog cat \(final.name) --kind event --limit 5")
            Output.line("  rrlog get \(final.name) --io-type tool_call --tool search --agent planner --inputs '{\"query\":\"nothing like this\"}'   # a miss, with the closest calls")
            Output.line("  rrlog verify --all")
            Output.line("  rrlog compact \(final.name) --codec zstd --level 9")
        }
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

/// A deterministic agent session: streamed LLM answers, tool and HTTP calls, repeated identical
/// calls and checkpoints, shaped like the IO events rrlog records.
struct DemoSession {
    static let agents = ["planner", "coder", "reviewer"]
    static let words = [
        "the", "agent", "reads", "file", "service", "latency", "retry", "budget", "tool", "error", "payment", "refactor",
        "markdown", "p99", "cache", "index", "query", "answer", "plan", "review", "test", "build", "deploy", "trace",
    ]
    var rng: UInt64
    var ts: Int64 = 1_760_000_000_000_000_000

    init(seed: UInt64) { rng = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    mutating func next() -> UInt64 {
        rng ^= rng << 13
        rng ^= rng >> 7
        rng ^= rng << 17
        return rng
    }

    mutating func text(_ n: Int) -> String {
        (0..<n).map { _ in DemoSession.words[Int(next() % UInt64(DemoSession.words.count))] }.joined(separator: " ")
    }

    mutating func tick(_ maxMicros: UInt64) -> JSONValue {
        ts += Int64(next() % maxMicros + 1) * 1000
        return .int(ts)
    }

    mutating func generate(steps: Int) -> [JSONValue] {
        var out: [JSONValue] = []
        out.reserveCapacity(steps * 36)
        for step in 0..<steps {
            let agent = DemoSession.agents[step % 3]
            if step % 250 == 0 {
                out.append([
                    "type": "checkpoint", "label": .string("step-\(step)"),
                    "metadata": ["git_sha": "3f9c2e1", "config_digest": "sha256:demo", "model_ids": ["gpt-4o", "claude-sonnet"], "seeds": [42]],
                    "ts_ns": tick(50),
                ])
            }
            let stream = "stream-\(step)"
            let model: JSONValue = step % 2 == 0 ? "gpt-4o" : "claude-sonnet"
            out.append([
                "type": "stream_start", "stream_id": .string(stream), "io_type": "llm_call", "agent_id": .string(agent),
                "tool_name": step % 2 == 0 ? "openai" : "anthropic",
                "inputs": ["model": model, "temperature": 0, "messages": [["role": "system", "content": .string("You are \(agent)")], ["role": "user", "content": .string("step \(step): " + text(24))]]],
                "ts_ns": tick(200),
            ])
            let chunks = 20 + Int(next() % 20)
            for i in 0..<chunks {
                out.append(["type": "chunk", "stream_id": .string(stream), "index": .int(Int64(i)), "content": .string(" " + text(1)), "metadata": ["token": .int(Int64(i))], "ts_ns": tick(30_000)])
            }
            out.append(["type": "stream_finish", "stream_id": .string(stream), "total_chunks": .int(Int64(chunks)), "ts_ns": tick(100)])
            let query = text(3)
            out.append([
                "type": "event", "io_type": "tool_call", "agent_id": .string(agent), "tool_name": "search",
                "inputs": ["query": .string(query), "limit": 5],
                "outputs": ["results": .array((0..<3).map { _ in .string(text(6)) }), "total": .int(Int64(next() % 100))],
                "duration": .double(Double(next() % 500) / 1000), "ts_ns": tick(5_000),
            ])
            // Every tenth step rereads the same file: identical calls, replayed by call index.
            let path = step % 10 == 0 ? "README.md" : "Sources/\(text(1))/\(text(1)).swift"
            out.append([
                "type": "event", "io_type": "tool_call", "agent_id": .string(agent), "tool_name": "read_file",
                "inputs": ["path": .string(path)], "outputs": ["content": .string(text(40)), "bytes": .int(Int64(next() % 9000))],
                "duration": .double(Double(next() % 50) / 1000), "ts_ns": tick(2_000),
            ])
            out.append([
                "type": "event", "io_type": "io_network", "agent_id": .string(agent), "tool_name": "http",
                "inputs": ["method": "GET", "url": .string("https://api.example.com/v1/items/\(next() % 1000)"), "headers": ["Accept": "application/json"]],
                "outputs": ["status": 200, "body": ["id": .int(Int64(next() % 1000)), "name": .string(text(3))]],
                "duration": .double(Double(next() % 900) / 1000), "ts_ns": tick(10_000),
            ])
        }
        return out
    }
}

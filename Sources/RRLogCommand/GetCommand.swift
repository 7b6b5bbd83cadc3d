import ArgumentParser
import Foundation
import RRLog
import RRLogFormat

struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Look up a recorded call by its IO key and print its outputs.",
        discussion: """
            The IO key is derived from io type, tool, agent, the canonical JSON of the inputs (RFC 8785, \
            minus the session's volatile paths) and the call index (the n-th identical call). Exit 0 \
            and the recorded outputs as JSON when found; exit 1 with the closest recorded calls and a \
            field-by-field diff of their inputs when not.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice

    @Option(name: .customLong("io-type"), help: "The call's io type (llm_call, tool_call, io_network, ...).")
    var ioType: String

    @Option(help: "The tool name.")
    var tool: String

    @Option(help: "The agent id (default: every agent the session recorded).")
    var agent: String?

    @Option(help: "The call's inputs as JSON.")
    var inputs: String

    @Option(name: .customLong("call-index"), help: "Which of several identical calls (from 0).")
    var callIndex: UInt32 = 0

    @Flag(help: "Print the whole recorded line, not only its outputs.")
    var full = false

    func run() throws {
        let inputValue: JSONValue
        do { inputValue = try JSONValue.parse(inputs) } catch {
            throw CommandFailure(
                message: "--inputs is not valid JSON: \(error.reason) at column \(error.column) of '\(inputs.prefix(80))\(inputs.count > 80 ? "…" : "")'", exitCode: 2)
        }
        let store = try storeOptions.open()
        try reporting {
            let manifest = try choice.manifest(in: store)
            let reader = try store.openReader(manifest)
            let agents = agent.map { [$0] } ?? (manifest.annotations["agents"]?.split(separator: ",").map(String.init) ?? [""])
            for a in agents {
                let identity = IOCallIdentity(ioType: ioType, tool: tool, agent: a, inputs: inputValue)
                guard let line = reader.lookup(identity, callIndex: callIndex) else { continue }
                if full {
                    Output.line(line.serialized())
                } else if line["type"]?.stringValue == "stream_start", let stream = line["stream_id"]?.stringValue {
                    Output.line(GetCommand.assembleStream(reader, streamID: stream).serialized())
                } else {
                    Output.line((line["outputs"] ?? .null).serialized())
                }
                return
            }
            let recorded = agents.map { reader.recordedCallCount(IOCallIdentity(ioType: ioType, tool: tool, agent: $0, inputs: inputValue)) }.max() ?? 0
            if recorded > 0 {
                Output.error("rrlog: recorded calls exhausted: \(recorded) identical call(s) recorded (call indexes 0...\(recorded - 1)), --call-index \(callIndex) asked")
                throw ExitCode(1)
            }
            Output.error("rrlog: no recorded call matches these inputs in \(manifest.name)")
            let identity = IOCallIdentity(ioType: ioType, tool: tool, agent: agent ?? agents.first ?? "", inputs: inputValue)
            let near = reader.closestCalls(to: identity)
            if near.isEmpty { Output.error("(the session has no recorded calls)") }
            for (i, miss) in near.enumerated() {
                let who = "\(miss.recorded["io_type"]?.stringValue ?? "?")/\(miss.recorded["tool_name"]?.stringValue ?? "?")/\(miss.recorded["agent_id"]?.stringValue ?? "?")"
                Output.error("closest #\(i + 1): sequence \(miss.sequence), \(who), \(miss.differences.count) differing input field(s)")
                for d in miss.differences.prefix(10) {
                    Output.error("  \(d.path): recorded \(d.recorded.map { $0.serialized() } ?? "(absent)"), given \(d.given.map { $0.serialized() } ?? "(absent)")")
                }
            }
            throw ExitCode(1)
        }
    }

    /// The chunks of a recorded stream, joined.
    static func assembleStream(_ reader: SessionReader, streamID: String) -> JSONValue {
        var content = ""
        var chunks: Int64 = 0
        reader.forEach(kinds: [RecordKind.chunk.rawValue, RecordKind.streamFinish.rawValue]) { view in
            guard let line = try? JSONValue.parse(Array(view.payload)), line["stream_id"]?.stringValue == streamID else { return true }
            if line["type"]?.stringValue == "stream_finish" { return false }
            content += line["content"]?.stringValue ?? ""
            chunks += 1
            return true
        }
        return .object(["stream_id": .string(streamID), "chunks": .int(chunks), "content": .string(content)])
    }
}

import ArgumentParser
import Foundation
import RRLog
import RRLogFormat

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline", abstract: "Print a session's records as a timeline (offset from the first record).",
        discussion: """
            IO calls that carry a task, step and parent step (task_id, step, parent_step) show them; \
            --steps prints the calls as a tree instead: per task, each step under the step it was \
            taken for, in time order.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice

    @Option(help: "Print at most this many lines.")
    var limit: Int = 50

    @Flag(help: "Also list stream chunks (by default a stream is one line).")
    var chunks = false

    @Flag(help: "Print the IO calls as a tree of tasks and steps (task_id, step, parent_step).")
    var steps = false

    func validate() throws {
        if limit < 0 { throw ValidationError("--limit must be at least 0") }
        if steps && chunks { throw ValidationError("--steps lists IO calls only; it does not take --chunks") }
    }

    func run() throws {
        if EventFile.names(choice.selector) {
            if steps { throw CommandFailure(message: "--steps needs IO calls; an event-recorder file holds bus events", exitCode: 2) }
            let (_, events) = try EventFile.load(choice.selector)
            for event in events.prefix(limit) { Output.line(event.timelineLine()) }
            return
        }
        let store = try storeOptions.open()
        try reporting {
            let reader = try store.openReader(try choice.manifest(in: store))
            if steps {
                var tree = StepTree()
                reader.forEach(kinds: [RecordKind.event.rawValue, RecordKind.streamStart.rawValue]) { view in
                    let line = (try? JSONValue.parse(Array(view.payload))) ?? .null
                    tree.add(StepTree.Call(line: line, kind: view.kind, timestampNs: view.timestampNs, what: Self.describe(line, kind: view.kind)))
                    return true
                }
                let lines = tree.lines()
                for line in lines.prefix(limit) { Output.line(line) }
                if lines.count > limit { Output.line("… \(lines.count - limit) more lines (--limit)") }
                return
            }
            var first: Int64?
            var printed = 0
            reader.forEach { view in
                if printed >= limit { return false }
                let kind = RecordKind(rawValue: view.kind)
                if kind == .chunk && !chunks { return true }
                let start = first ?? view.timestampNs
                first = start
                let line = (try? JSONValue.parse(Array(view.payload))) ?? .null
                var what = kind == nil ? "\(view.payload.count) bytes" : Self.describe(line, kind: view.kind)
                if kind == .event || kind == .streamStart, let place = StepTree.place(of: line) { what += "  " + place }
                Output.line(String(format: "%+12.3f ms  %-13@ %@", Double(view.timestampNs - start) / 1e6, RecordKind.name(of: view.kind), what))
                printed += 1
                return true
            }
        }
    }

    /// What a record of a kind rrlog defines says, on one line.
    static func describe(_ line: JSONValue, kind: UInt16) -> String {
        switch RecordKind(rawValue: kind) {
        case .event?:
            return "\(line["io_type"]?.stringValue ?? "?") \(line["tool_name"]?.stringValue ?? "?") agent=\(line["agent_id"]?.stringValue ?? "")"
        case .streamStart?:
            return "\(line["stream_id"]?.stringValue ?? "?") \(line["io_type"]?.stringValue ?? "?") \(line["tool_name"]?.stringValue ?? "?") agent=\(line["agent_id"]?.stringValue ?? "")"
        case .streamFinish?:
            return "\(line["stream_id"]?.stringValue ?? "?") \(line["total_chunks"]?.int64Value.map { "\($0) chunks" } ?? "")"
        case .chunk?:
            return "\(line["stream_id"]?.stringValue ?? "?") #\(line["index"]?.int64Value ?? 0) \(line["content"]?.stringValue ?? "")"
        case .checkpoint?:
            return line["label"]?.stringValue ?? ""
        case .busEvent?:
            let data = (line["event_data"] ?? .null).serialized()
            let shown = data.count > 80 ? String(data.prefix(79)) + "…" : data
            return "\(line["event_name"]?.stringValue ?? "?") from \(line["source"]?.stringValue ?? "?")  \(shown)"
        default:
            return ""
        }
    }
}

/// The IO calls of a session as a tree: per task (`task_id`, in order of first appearance), each
/// step under its parent step (`parent_step`), calls of one step in time order. A step whose
/// parent was not recorded, or whose parents loop, is a root of its task, marked so. Calls
/// without a step come after the steps of their task; calls without a task under "(no task)".
struct StepTree {
    /// One IO call.
    struct Call {
        var taskID: String?
        var step: Int64?
        var parentStep: Int64?
        var timestampNs: Int64
        var kindName: String
        var what: String

        init(line: JSONValue, kind: UInt16, timestampNs: Int64, what: String) {
            taskID = line["task_id"]?.stringValue
            step = line["step"]?.int64Value
            parentStep = line["parent_step"]?.int64Value
            self.timestampNs = timestampNs
            kindName = RecordKind.name(of: kind)
            self.what = what
        }
    }

    static let indentMax = 16

    private var tasks: [String?] = []
    private var callsByTask: [String?: [Call]] = [:]
    private var first: Int64?

    mutating func add(_ call: Call) {
        first = min(first ?? call.timestampNs, call.timestampNs)
        if callsByTask[call.taskID] == nil { tasks.append(call.taskID) }
        callsByTask[call.taskID, default: []].append(call)
    }

    /// `task=T step=S parent=P` for a line that says any of them, else nil.
    static func place(of line: JSONValue) -> String? {
        var parts: [String] = []
        if let task = line["task_id"]?.stringValue { parts.append("task=\(task)") }
        if let step = line["step"]?.int64Value { parts.append("step=\(step)") }
        if let parent = line["parent_step"]?.int64Value { parts.append("parent=\(parent)") }
        return parts.isEmpty ? nil : parts.joined(separator: " ")
    }

    /// The tree, one line per task header and per call.
    func lines() -> [String] {
        var out: [String] = []
        let ordered = tasks.filter { $0 != nil } + tasks.filter { $0 == nil }
        for task in ordered {
            let calls = callsByTask[task] ?? []
            out.append(task.map { "task \($0)" } ?? "(no task)")
            var byStep: [Int64: [Call]] = [:]
            var stepOrder: [Int64] = []
            var parentOf: [Int64: Int64] = [:]
            for call in calls {
                guard let step = call.step else { continue }
                if byStep[step] == nil { stepOrder.append(step) }
                byStep[step, default: []].append(call)
                if parentOf[step] == nil, let parent = call.parentStep { parentOf[step] = parent }
            }
            var children: [Int64: [Int64]] = [:]
            var roots: [(step: Int64, note: String)] = []
            for step in stepOrder {
                if let parent = parentOf[step], parent != step, byStep[parent] != nil {
                    children[parent, default: []].append(step)
                } else if let parent = parentOf[step], parent != step {
                    roots.append((step, "  (parent step \(parent) not recorded)"))
                } else {
                    roots.append((step, parentOf[step] == nil ? "" : "  (its own parent)"))
                }
            }
            // Depth first with a stack of its own (a chain of steps may be as long as the session);
            // steps no root reaches have parents that loop: the first of them in time becomes a root.
            var printed: Set<Int64> = []
            func emit(_ root: Int64, note: String) {
                var stack = [(step: root, depth: 1, note: note)]
                while let (step, depth, note) = stack.popLast() {
                    guard printed.insert(step).inserted else { continue }
                    for (n, call) in (byStep[step] ?? []).enumerated() {
                        out.append(line(call, depth: depth, label: "step \(step)") + (n == 0 ? note : ""))
                    }
                    for child in (children[step] ?? []).reversed() { stack.append((child, depth + 1, "")) }
                }
            }
            for root in roots { emit(root.step, note: root.note) }
            for step in stepOrder where !printed.contains(step) {
                emit(step, note: "  (parent step \(parentOf[step] ?? step) loops)")
            }
            for call in calls where call.step == nil { out.append(line(call, depth: 1, label: "no step")) }
        }
        return out
    }

    private func line(_ call: Call, depth: Int, label: String) -> String {
        let offset = String(format: "%+.3f ms", Double(call.timestampNs - (first ?? call.timestampNs)) / 1e6)
        // Deep trees are indented only so far, their depth written out beyond it.
        let shown = min(depth, Self.indentMax)
        let deep = depth > Self.indentMax ? "[depth \(depth)] " : ""
        return String(repeating: "  ", count: shown) + deep + "\(label)  \(offset)  \(call.kindName) \(call.what)"
    }
}

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary", abstract: "Count a session's records by kind, by IO call and by event name; time its streams.")

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let store = try storeOptions.open()
        try reporting {
            let manifest = try choice.manifest(in: store)
            let reader = try store.openReader(manifest)
            var byKind: [String: Int] = [:]
            var byCall: [String: Int] = [:]
            var byEvent: [String: Int] = [:]
            var first: Int64?
            var last: Int64?
            var collector = RecordedStream.Collector()
            reader.forEach { view in
                byKind[RecordKind.name(of: view.kind), default: 0] += 1
                collector.add(kind: view.kind, timestampNs: view.timestampNs, payload: view.payload)
                first = min(first ?? view.timestampNs, view.timestampNs)
                last = max(last ?? view.timestampNs, view.timestampNs)
                let kind = RecordKind(rawValue: view.kind)
                if kind == .event || kind == .streamStart || kind == .busEvent, let line = try? JSONValue.parse(Array(view.payload)) {
                    if kind == .busEvent {
                        byEvent[line["event_name"]?.stringValue ?? "?", default: 0] += 1
                    } else {
                        byCall["\(line["io_type"]?.stringValue ?? "?")/\(line["tool_name"]?.stringValue ?? "?")", default: 0] += 1
                    }
                }
                return true
            }
            let span = Double((last ?? 0) - (first ?? 0)) / 1e9
            let streams = collector.streams
            if json {
                struct Stream: Encodable {
                    var stream_id, io_type, tool_name, agent_id: String
                    var chunks: Int
                    var time_to_first_chunk_ms, chunks_per_second, gap_p50_ms, gap_p99_ms: Double?
                }
                struct Summary: Encodable {
                    var session: String
                    var records: Int
                    var duration_seconds: Double
                    var by_kind, by_call, by_event: [String: Int]
                    var streams: [Stream]
                }
                let timed = streams.map { s in
                    Stream(
                        stream_id: s.id, io_type: s.ioType, tool_name: s.tool, agent_id: s.agent, chunks: s.chunks.count,
                        time_to_first_chunk_ms: s.timeToFirstChunkMs, chunks_per_second: s.chunksPerSecond,
                        gap_p50_ms: RecordedStream.quantile(s.gapsMs, 0.5), gap_p99_ms: RecordedStream.quantile(s.gapsMs, 0.99))
                }
                try Output.json(Summary(
                    session: manifest.name, records: reader.recordCount, duration_seconds: span, by_kind: byKind, by_call: byCall, by_event: byEvent,
                    streams: timed))
                return
            }
            Output.line("\(manifest.name): \(reader.recordCount) records over \(String(format: "%.3f", span)) s")
            for (title, counts) in [("by kind", byKind), ("by call (io type/tool)", byCall), ("by event name", byEvent)] where !counts.isEmpty {
                Output.line(title)
                for (name, n) in counts.sorted(by: { ($1.value, $0.key) < ($0.value, $1.key) }) {
                    Output.line("  " + name.padding(toLength: 32, withPad: " ", startingAt: 0) + String(n).leftPad(8))
                }
            }
            if !streams.isEmpty {
                Output.line("streams (time to first chunk, chunks per second, gaps between chunks)")
                for line in StreamCommand.table(Array(streams.prefix(20))) { Output.line("  " + line) }
                if streams.count > 20 { Output.line("  … \(streams.count - 20) more ('rrlog stream \(manifest.name)' lists them all)") }
            }
        }
    }
}

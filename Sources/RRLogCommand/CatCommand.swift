import ArgumentParser
import Foundation
import RRLog
import RRLogFormat
import RRLogInterop

struct CatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat", abstract: "Print a session's records in order.",
        discussion: """
            Without --json: one line per record (sequence, time, kind, payload; an OTLP request as its item \
            count and services). With --json: one JSON line per record: IO events as appended, bus events as \
            imported, OTLP requests as OTLP JSON (one request a line).
            """)

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice

    @Option(help: "Only records of this kind (event, stream_start, chunk, stream_finish, checkpoint, ...); repeatable.")
    var kind: [String] = []

    @Option(help: "Only records at or after this time (ns since the epoch, or ISO 8601).")
    var from: String?

    @Option(help: "Only records at or before this time.")
    var to: String?

    @Option(help: "Print at most this many records.")
    var limit: Int?

    @Flag(help: "Print each record's payload as one JSON line.")
    var json = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be at least 0") }
        for k in kind where RecordKind(name: k) == nil {
            throw ValidationError("unknown --kind '\(k)': one of \(RecordKind.allCases.map(\.name).joined(separator: ", "))")
        }
    }

    func run() throws {
        let store = try storeOptions.open()
        let fromNs = try from.map { try parseTime($0, option: "--from") }
        let toNs = try to.map { try parseTime($0, option: "--to") }
        let kinds: Set<UInt16>? = kind.isEmpty ? nil : Set(kind.compactMap { RecordKind(name: $0)?.rawValue })
        try reporting {
            let manifest = try choice.manifest(in: store)
            let reader = try store.openScanReader(manifest)
            var printed = 0
            let out = BufferedOutput.standardOutput()
            var failure: RRLogError?
            let lost = reader.forEach(kinds: kinds, fromNs: fromNs, toNs: toNs) { view in
                if let limit, printed >= limit { return false }
                printed += 1
                do throws(RRLogError) {
                    if json {
                        try out.write(try Self.json(view, location: "\(manifest.name): record \(view.sequence)"))
                    } else {
                        try out.write("\(view.sequence)\t\(view.timestampNs)\t\(RecordKind.name(of: view.kind))\t")
                        try out.write(try Self.text(view, location: "\(manifest.name): record \(view.sequence)"))
                    }
                    try out.write(CollectionOfOne(UInt8(0x0A)))
                } catch {
                    failure = error
                    return false
                }
                return true
            }
            try out.flush()
            if let failure { throw failure }
            for l in lost { Output.error("rrlog: skipped damaged data: \(l)") }
        }
    }

    /// A record as one line of JSON: an IO event as its JSON line, an OTLP request as OTLP JSON,
    /// a bus event (or any JSON payload) as stored, other payloads as an object with their kind
    /// and base64 bytes.
    static func json(_ view: RecordView, location: String) throws(RRLogError) -> [UInt8] {
        if RecordKind(rawValue: view.kind)?.isIOEvent == true {
            var line: [UInt8] = []
            IOLine.append(view.payload, timestampNs: view.timestampNs, to: &line)
            return line
        }
        let payload = Array(view.payload)
        if let otlp = try OTLPExporter.recordJSON(kind: view.kind, key: view.key.map { Array($0) }, payload: payload, location: location) { return otlp }
        if let value = try? JSONValue.parse(payload) { return value.serializedBytes() }
        return JSONValue.object(["kind": .string(RecordKind.name(of: view.kind)), "payload_base64": .string(Data(payload).base64EncodedString())]).serializedBytes()
    }

    /// A record's payload in a few readable words: text (JSON) payloads cut at 300 bytes, an OTLP
    /// request as its item count and services, other binary payloads as their size.
    static func text(_ view: RecordView, location: String) throws(RRLogError) -> [UInt8] {
        if let summary = try OTLPExporter.recordSummary(kind: view.kind, key: view.key.map { Array($0) }, payload: Array(view.payload), location: location) {
            return Array(summary.utf8)
        }
        let head = Array(view.payload.prefix(300))
        // JSON text holds no control characters; binary data (almost always) does.
        if head.contains(where: { $0 < 0x20 && $0 != 0x09 }) { return Array("\(view.payload.count) bytes of binary data".utf8) }
        return head + (view.payload.count > 300 ? Array("…".utf8) : [])
    }
}

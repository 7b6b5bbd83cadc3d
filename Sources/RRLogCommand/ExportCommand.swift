import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog
import RRLogInterop
import RRLogStorage

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export a session as event-recorder JSON, rrlog JSON lines or OTLP.",
        discussion: """
            OTLP sessions: --format otlp-proto writes one protobuf request body per request into the \
            directory -o DIR (traces-000000.otlp, ...); --format otlp-json writes OTLP JSON lines (one request \
            a line) to -o FILE or standard output. Without filters the requests are exactly those imported; \
            --signal, --service and --from/--to keep only the matching spans, data points and log records.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice

    @Option(help: "events-json, jsonl, otlp-proto or otlp-json (default: from what the session holds: OTLP data otlp-json, bus events events-json, IO events jsonl).")
    var format: String?

    @Option(name: .shortAndLong, help: "Output file (default: standard output); for otlp-proto, a directory.")
    var output: String?

    @Option(help: "OTLP only: export only this signal (traces, metrics or logs); repeatable.")
    var signal: [String] = []

    @Option(help: "OTLP only: export only resources with this service.name.")
    var service: String?

    @Option(help: "OTLP only: only items at or after this time (ns since the epoch, or ISO 8601).")
    var from: String?

    @Option(help: "OTLP only: only items at or before this time.")
    var to: String?

    static let formats = ["events-json", "jsonl", ImportFormat.otlpProto.rawValue, ImportFormat.otlpJSON.rawValue]

    func validate() throws {
        if let format, !Self.formats.contains(format) {
            throw ValidationError("--format must be one of \(Self.formats.joined(separator: ", ")), not '\(format)'")
        }
        for s in signal where OTLPSignal(rawValue: s) == nil {
            throw ValidationError("--signal must be traces, metrics or logs, not '\(s)'")
        }
    }

    func run() throws {
        let store = try storeOptions.open()
        let fromNs = try from.map { try parseTime($0, option: "--from") }
        let toNs = try to.map { try parseTime($0, option: "--to") }
        try reporting {
            let manifest = try choice.manifest(in: store)
            let chosen = try chooseFormat(manifest)
            let isOTLP = chosen == ImportFormat.otlpProto.rawValue || chosen == ImportFormat.otlpJSON.rawValue
            if !isOTLP, !signal.isEmpty || service != nil || fromNs != nil || toNs != nil {
                throw CommandFailure(message: "--signal, --service, --from and --to apply to OTLP formats only", exitCode: 2)
            }
            var filter = OTLPExportFilter(fromNs: fromNs, toNs: toNs, serviceName: service)
            if !signal.isEmpty { filter.signals = Set(signal.compactMap(OTLPSignal.init(rawValue:))) }
            if chosen == ImportFormat.otlpProto.rawValue {
                guard let output else {
                    throw CommandFailure(message: "otlp-proto writes one file per request: give the directory with -o DIR", exitCode: 2)
                }
                let written = try OTLPExporter.writeProtobufFiles(manifest, from: store, to: output, filter: filter)
                Output.error("exported \(written.count) OTLP requests of \(manifest.name) as otlp-proto to \(output)")
                return
            }
            // Streamed: pieces of about 64 KiB go to the file (a temporary one, renamed when
            // complete) or to standard output as they are made.
            let file = try output.map { path throws(RRLogError) in try OutputFile(path) }
            let sink = file?.output ?? BufferedOutput.standardOutput()
            let progress = Progress("export", total: Int(max(manifest.bytesStored, 1)))
            defer { progress.finish() }
            let write = { (bytes: [UInt8]) throws(RRLogError) in
                try sink.write(bytes)
                progress.update(sink.count)
            }
            let count: String
            switch chosen {
            case ImportFormat.otlpJSON.rawValue:
                let n = try OTLPExporter.writeJSONLines(manifest, from: store, filter: filter, to: write)
                count = "\(n) OTLP requests"
            case ImportFormat.eventsJSON.rawValue:
                let n = try EventRecorderFormat.write(manifest, from: store, to: write)
                count = "\(n) bus events"
            default:
                let n = try IOJSONLines.export(manifest, from: store, to: write)
                count = "\(n) IO-event lines"
            }
            if let file {
                try file.commit()
                Output.error("exported \(count) of \(manifest.name) as \(chosen) to \(file.path)")
            } else {
                try sink.flush()
            }
        }
    }

    /// The format to write: the one asked, when the session holds data of it, else the one its
    /// content calls for. A format the session holds nothing of is refused (exit 1), so that an
    /// export never writes an empty file and says "exported".
    func chooseFormat(_ manifest: SessionManifest) throws -> String {
        let content = ContentSummary(manifest)
        let fitting = content.exportFormats
        guard !fitting.isEmpty else {
            throw CommandFailure(message: "session \(manifest.name) holds \(content.description): there is nothing to export")
        }
        if !signal.isEmpty, Set(signal.compactMap(OTLPSignal.init(rawValue:))).isDisjoint(with: content.otlpSignals) {
            throw CommandFailure(
                message: "session \(manifest.name) holds \(content.description), no \(listed(signal)); export it without --signal"
                    + (content.otlpSignals.isEmpty ? "" : " or with --signal \(listed(content.otlpSignals.map(\.rawValue)))"))
        }
        guard let format else {
            // One kind of content: its format (an OTLP session imported from protobuf bodies and
            // given -o DIR gets them back as files, as they were imported).
            guard fitting.count == 1 || (fitting.count == 2 && !content.otlpSignals.isEmpty) else {
                throw CommandFailure(message: "session \(manifest.name) holds \(content.description): choose which with --format \(listed(fitting))")
            }
            if !content.otlpSignals.isEmpty, output != nil, manifest.annotations["imported_format"] == ImportFormat.otlpProto.rawValue {
                return ImportFormat.otlpProto.rawValue
            }
            return fitting[0]
        }
        guard fitting.contains(format) else {
            throw CommandFailure(message: "session \(manifest.name) holds \(content.description), no data of \(format); export it as \(listed(fitting))")
        }
        return format
    }
}

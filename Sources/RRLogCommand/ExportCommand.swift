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

    @Argument(help: "Session name, id or strategy.")
    var session: String

    @Option(help: "events-json, jsonl, otlp-proto or otlp-json (default: the format it was imported from, else jsonl).")
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
            let manifest = try store.session(session)
            var chosen = format ?? manifest.annotations["imported_format"] ?? ((manifest.countsByKind["bus_event"] ?? 0) > 0 ? "events-json" : "jsonl")
            // An OTLP session exported without a format or directory: JSON lines to standard output.
            if format == nil, chosen == ImportFormat.otlpProto.rawValue, output == nil { chosen = ImportFormat.otlpJSON.rawValue }
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
            var out = Data()
            let progress = Progress("export", total: Int(max(manifest.bytesStored, 1)))
            defer { progress.finish() }
            if chosen == ImportFormat.otlpJSON.rawValue {
                try OTLPExporter.writeJSONLines(manifest, from: store, filter: filter) {
                    out.append(contentsOf: $0)
                    progress.update(out.count)
                }
            } else if chosen == "events-json" {
                let value = try EventRecorderFormat.export(manifest, from: store)
                out.append(contentsOf: value.serializedBytes())
                out.append(0x0A)
            } else {
                try IOJSONLines.export(manifest, from: store) {
                    out.append(contentsOf: $0)
                    progress.update(out.count)
                }
            }
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: out, attributes: [.posixPermissions: 0o600]) else {
                    throw RRLogError(.storage, "cannot write the file", location: output)
                }
                Output.error("exported \(manifest.name) as \(chosen) to \(output)")
            } else {
                FileHandle.standardOutput.write(out)
            }
        }
    }
}

import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog
import RRLogInterop
import RRLogStorage

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import files into sessions: event-recorder JSON, rrlog JSON lines, OTLP.",
        discussion: """
            Each file is checked whole before anything is written: a malformed file is reported with its \
            position (line and column, the event's index, or a gzip byte offset) and nothing of it is kept. \
            The format is detected from the content with --format auto. OTLP files (protobuf request bodies \
            .otlp, gzip .otlp.gz, or OTLP JSON lines) of one invocation all go into one session (--session, \
            default the first file's base name), each request stored as it was, and nothing is written \
            unless all of them are valid.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "Files to import.")
    var files: [String]

    @Option(help: "auto, events-json, jsonl, otlp-proto, otlp-json.")
    var format: String = "auto"

    @Option(help: "Session name (default: the file's session_name, or its base name). With several files, only for jsonl: all go into this session.")
    var session: String?

    @Option(help: "Session type: recording, capture, seed, training.")
    var type: String = "recording"

    @Flag(name: .customLong("no-redact"), help: "Keep JSON lines as they are, secrets included (redaction is on by default).")
    var noRedact = false

    @Option(help: "OTLP only: traces, metrics or logs (default: from each file's name and content).")
    var signal: String?

    func validate() throws {
        if let signal, OTLPSignal(rawValue: signal) == nil {
            throw ValidationError("--signal must be traces, metrics or logs, not '\(signal)'")
        }
        guard ImportFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be one of \(ImportFormat.allCases.map(\.rawValue).joined(separator: ", ")), not '\(format)'")
        }
        guard !files.isEmpty else { throw ValidationError("give at least one file") }
    }

    func run() throws {
        let store = try storeOptions.open(create: true)
        let progress = Progress("import", total: files.count)
        defer { progress.finish() }
        try reporting {
            var otlpFiles: [String] = []
            for (n, file) in files.enumerated() {
                progress.update(n)
                if format == ImportFormat.otlpProto.rawValue || format == ImportFormat.otlpJSON.rawValue {
                    otlpFiles.append(file)
                    continue
                }
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw RRLogError(.invalidArgument, "cannot read the file (missing or not readable)", location: file)
                }
                let bytes = [UInt8](data)
                var chosen = ImportFormat(rawValue: format)!
                if chosen == .auto { chosen = ImportFormat.detect(bytes, file: file) }
                let base = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
                switch chosen {
                case .eventsJSON:
                    let m = try EventRecorderFormat.importFile(bytes, file: file, into: store, name: session, type: type)
                    Output.line("imported \(m.recordCount) events from \(file) into \(m.name)")
                case .jsonl:
                    let name = session ?? base
                    let existing = try? store.session(name)
                    var encoder = try existing.map { IOEventEncoder(for: try store.openReader($0)) }
                        ?? IOEventEncoder(redaction: noRedact ? .disabled : .default)
                    let records = try IOJSONLines.records(from: bytes, file: file, encoder: &encoder)
                    let manifest = try existing ?? store.createSession(
                        name: name, type: type, description: "imported from \(file)",
                        annotations: encoder.sessionAnnotations.merging(["imported_format": "jsonl"]) { a, _ in a })
                    let writer = try store.openWriter(manifest, options: { var o = LogOptions(); o.codec = .lz4; return o }())
                    try writer.append(records)
                    let final = try writer.close()
                    Output.line("imported \(records.count) records from \(file) into \(final.name)")
                case .otlpProto, .otlpJSON:
                    otlpFiles.append(file)
                case .auto:
                    break
                }
            }
            if !otlpFiles.isEmpty { try importOTLP(otlpFiles, into: store) }
        }
    }

    /// Imports OTLP files together into one session (all checked before anything is written).
    func importOTLP(_ paths: [String], into store: Store) throws {
        var importer = OTLPImporter(
            format: format == ImportFormat.otlpProto.rawValue ? .protobuf : format == ImportFormat.otlpJSON.rawValue ? .json : nil,
            signal: signal.flatMap(OTLPSignal.init(rawValue:)))
        importer.sessionType = type
        var base = (paths[0] as NSString).lastPathComponent
        for suffix in [".gz", ".otlp", ".jsonl", ".json", ".pb"] where base.hasSuffix(suffix) { base = String(base.dropLast(suffix.count)) }
        let m = try importer.importFiles(paths, into: store, session: session ?? base)
        let counts = OTLPSignal.allCases.compactMap { s in m.countsByKind[s.recordKind.name].map { "\($0) \(s)" } }
        Output.line(
            "imported OTLP requests (\(counts.joined(separator: ", "))) from \(paths.count) file\(paths.count == 1 ? "" : "s") into \(m.name)")
    }
}

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

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

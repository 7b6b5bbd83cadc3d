import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog
import RRLogInterop
import RRLogStorage

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Import files into sessions: event-recorder JSON or rrlog JSON lines.",
        discussion: """
            Each file is checked whole before anything is written: a malformed file is reported with its \
            position (line and column, or the event's index) and nothing of it is kept. The format is \
            detected from the content with --format auto. OTLP formats are recognised but not yet supported.
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

    func validate() throws {
        guard ImportFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be one of \(ImportFormat.allCases.map(\.rawValue).joined(separator: ", ")), not '\(format)'")
        }
        guard !files.isEmpty else { throw ValidationError("give at least one file") }
    }

    func run() throws {
        let store = try storeOptions.open(create: true)
        try reporting {
            for file in files {
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
                    var encoder: IOEventEncoder
                    if let existing {
                        let reader = try store.openReader(existing)
                        encoder = IOEventEncoder(volatile: reader.volatilePaths, redaction: reader.redaction)
                    } else {
                        encoder = IOEventEncoder(redaction: noRedact ? .disabled : .default)
                    }
                    let records = try IOJSONLines.records(from: bytes, file: file, encoder: &encoder)
                    let manifest = try existing ?? store.createSession(
                        name: name, type: type, description: "imported from \(file)",
                        annotations: ["redaction": noRedact ? "off" : "on", "imported_format": "jsonl"])
                    let writer = try store.openWriter(manifest, options: { var o = LogOptions(); o.codec = .lz4; return o }())
                    try writer.append(records)
                    let final = try writer.close()
                    Output.line("imported \(records.count) records from \(file) into \(final.name)")
                case .otlpProto, .otlpJSON:
                    throw RRLogError(.invalidArgument, "\(chosen.rawValue) import is not supported yet (see the OTLP issue)", location: file)
                case .auto:
                    break
                }
            }
        }
    }
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Export a session as event-recorder JSON or rrlog JSON lines.")

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "Session name, id or strategy.")
    var session: String

    @Option(help: "events-json or jsonl (default: the format it was imported from, else jsonl).")
    var format: String?

    @Option(name: .shortAndLong, help: "Output file (default: standard output).")
    var output: String?

    func validate() throws {
        if let format, !["events-json", "jsonl"].contains(format) {
            throw ValidationError("--format must be events-json or jsonl, not '\(format)' (OTLP export is not supported yet)")
        }
    }

    func run() throws {
        let store = try storeOptions.open()
        try reporting {
            let manifest = try store.session(session)
            let chosen = format ?? manifest.annotations["imported_format"] ?? ((manifest.countsByKind["bus_event"] ?? 0) > 0 ? "events-json" : "jsonl")
            var out = Data()
            if chosen == "events-json" {
                let value = try EventRecorderFormat.export(manifest, from: store)
                out.append(contentsOf: value.serializedBytes())
                out.append(0x0A)
            } else {
                try IOJSONLines.export(manifest, from: store) { out.append(contentsOf: $0) }
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

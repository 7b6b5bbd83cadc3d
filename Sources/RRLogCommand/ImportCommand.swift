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
            What an import does with sessions: each file goes into a NEW session (--session, default the \
            file's session_name or base name); an existing session is never touched unless --append is \
            given, and then it must hold the same kind of records (IO events, OTLP data). Bytes already \
            imported into the target session are refused (--allow-duplicate to import them again). \
            All or nothing: a malformed file is reported with its position (file:line and column, the \
            event's index, or a gzip byte offset) and nothing of the invocation's JSON lines or OTLP files \
            is kept; an existing session keeps exactly what it had. JSON lines are streamed in bounded \
            memory, redacted unless --no-redact, and every event's call index counts per session. The \
            format is detected from the content with --format auto. OTLP files (protobuf request bodies \
            .otlp, gzip .otlp.gz, or OTLP JSON lines) of one invocation all go into one session, each \
            request stored as it was.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "Files to import.")
    var files: [String]

    @Option(help: "auto, events-json, jsonl, otlp-proto, otlp-json.")
    var format: String = "auto"

    @Option(help: "Session name (default: the file's session_name, or its base name). With several jsonl or OTLP files, all go into this session.")
    var session: String?

    @Flag(help: "Add to the session named by --session when it exists (it must hold the same kind of records); without it, an import never touches an existing session.")
    var append = false

    @Flag(name: .customLong("allow-duplicate"), help: "Import a file although the same bytes were imported into the session before.")
    var allowDuplicate = false

    @Option(help: "Session type: recording, capture, seed, training.")
    var type: String = "recording"

    @Flag(name: .customLong("no-redact"), help: "Keep JSON lines as they are, secrets included (redaction is on by default).")
    var noRedact = false

    @Option(help: "OTLP only: traces, metrics or logs (default: from each file's name and content).")
    var signal: String?

    @OptionGroup var segmentSize: SegmentSizeOption

    func validate() throws {
        if let signal, OTLPSignal(rawValue: signal) == nil {
            throw ValidationError("--signal must be traces, metrics or logs, not '\(signal)'")
        }
        guard ImportFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be one of \(ImportFormat.allCases.map(\.rawValue).joined(separator: ", ")), not '\(format)'")
        }
        guard !files.isEmpty else { throw ValidationError("give at least one file") }
        if let session, Self.strategies.contains(session) {
            throw ValidationError("--session takes a session name, not the strategy '\(session)': an import never picks a session for you")
        }
        if append && session == nil { throw ValidationError("--append needs --session NAME: the session to add to") }
        guard Store.sessionTypes.contains(type) else {
            throw ValidationError("--type must be one of \(Store.sessionTypes.joined(separator: ", ")), not '\(type)'")
        }
    }

    static let strategies = ["latest", "largest", "smallest", "random"]

    /// The session `name` names when the import may write into it: nil when there is none
    /// (the import creates it). Refused when it exists without --append, or holds other records.
    func target(_ name: String, in store: Store, adding content: SessionContent) throws -> SessionManifest? {
        guard let existing = try? store.session(name) else { return nil }
        guard append else {
            throw RRLogError(
                .sessionExists, "a session named '\(name)' exists; give --append to add to it, or another --session to import into a new one")
        }
        try SessionContent(existing).checkAccepts(content, session: name)
        return existing
    }

    func run() throws {
        let store = try storeOptions.open(create: true)
        try reporting {
            // Formats first: nothing is written until every file is known to be readable.
            var otlpFiles: [String] = []
            var jsonlFiles: [String] = []
            var eventFiles: [(String, [UInt8])] = []
            for file in files {
                let chosen: ImportFormat
                if let given = ImportFormat(rawValue: format), given != .auto {
                    chosen = given
                } else {
                    chosen = try ImportFormat.detect(path: file)
                }
                switch chosen {
                case .otlpProto, .otlpJSON: otlpFiles.append(file)
                case .jsonl: jsonlFiles.append(file)
                case .eventsJSON:
                    guard let data = FileManager.default.contents(atPath: file) else {
                        throw RRLogError(.invalidArgument, "cannot read the file (missing or not readable)", location: file)
                    }
                    guard !data.isEmpty else { throw RRLogError(.malformedInput, "the file is empty", location: file) }
                    eventFiles.append((file, [UInt8](data)))
                case .auto: break
                }
            }
            if append && !eventFiles.isEmpty {
                throw RRLogError(.invalidArgument, "event-recorder files import into a new session each; --append applies to jsonl and OTLP")
            }
            // JSON lines: streamed in, committed together only when every file went in whole.
            var ingests: [IOEventIngest] = []
            do {
                try importJSONLines(jsonlFiles, into: store, ingests: &ingests)
                for ingest in ingests {
                    let final = try ingest.commit()
                    Output.line("imported \(ingest.recordCount) records into \(final.name)")
                }
            } catch {
                for ingest in ingests { ingest.discard() }
                throw error
            }
            var eventOptions = LogOptions()
            segmentSize.apply(to: &eventOptions)
            for (file, bytes) in eventFiles {
                let m = try EventRecorderFormat.importFile(bytes, file: file, into: store, name: session, type: type, options: eventOptions)
                Output.line("imported \(m.recordCount) events from \(file) into \(m.name)")
            }
            if !otlpFiles.isEmpty { try importOTLP(otlpFiles, into: store) }
        }
    }

    /// Streams jsonl files into ingests: one session for all with --session, else one per file
    /// (named after it). A file whose bytes were imported into the target before is refused.
    func importJSONLines(_ paths: [String], into store: Store, ingests: inout [IOEventIngest]) throws {
        var shared: IOEventIngest?
        for path in paths {
            let name = session ?? Self.baseName(path)
            let ingest: IOEventIngest
            if let shared {
                ingest = shared
            } else {
                var settings = IOEventIngest.NewSession(name: name)
                settings.type = type
                settings.description = "imported from \((path as NSString).lastPathComponent)"
                settings.redaction = noRedact ? .disabled : .default
                settings.annotations = ["imported_format": ImportFormat.jsonl.rawValue]
                var options = LogOptions()
                options.codec = .lz4
                segmentSize.apply(to: &options)
                if let existing = try target(name, in: store, adding: .ioEvents) {
                    ingest = try IOEventIngest.append(store: store, to: existing, options: options)
                } else {
                    ingest = try IOEventIngest.create(store: store, session: settings, options: options)
                }
                ingests.append(ingest)
                if session != nil { shared = ingest }
            }
            let (sha, _) = try ingestJSONLines(path, into: ingest, label: "import \((path as NSString).lastPathComponent)")
            try checkDuplicate(sha, file: path, ingest: ingest, store: store)
        }
    }

    /// Refuses bytes already imported into the ingest's session (unless --allow-duplicate) and
    /// notes them in its annotations (`imported.sha256.<digest>`: the file's name); a note when
    /// another session holds the same file.
    func checkDuplicate(_ sha: String, file: String, ingest: IOEventIngest, store: Store) throws {
        let key = "imported.sha256." + sha
        if let earlier = ingest.manifest.annotations[key], !allowDuplicate {
            throw RRLogError(
                .invalidArgument,
                "the same bytes were imported into '\(ingest.manifest.name)' before (from \(earlier)); importing them again would double its records. Give --allow-duplicate to do it anyway",
                location: file)
        }
        if let other = ((try? store.sessions()) ?? []).first(where: { $0.annotations[key] != nil && $0.id != ingest.manifest.id }) {
            Output.error("rrlog: note: \(file) was imported into session '\(other.name)' before")
        }
        ingest.annotate([key: (file as NSString).lastPathComponent])
    }

    static func baseName(_ path: String) -> String {
        ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    /// Imports OTLP files together into one session (all checked before anything is written).
    func importOTLP(_ paths: [String], into store: Store) throws {
        var importer = OTLPImporter(
            format: format == ImportFormat.otlpProto.rawValue ? .protobuf : format == ImportFormat.otlpJSON.rawValue ? .json : nil,
            signal: signal.flatMap(OTLPSignal.init(rawValue:)))
        importer.sessionType = type
        importer.segmentSizeBytesMax = segmentSize.bytes
        var base = (paths[0] as NSString).lastPathComponent
        for suffix in [".gz", ".otlp", ".jsonl", ".json", ".pb"] where base.hasSuffix(suffix) { base = String(base.dropLast(suffix.count)) }
        let name = session ?? base
        _ = try target(name, in: store, adding: .otlp)
        let m = try importer.importFiles(paths, into: store, session: name)
        let counts = OTLPSignal.allCases.compactMap { s in m.countsByKind[s.recordKind.name].map { "\($0) \(s)" } }
        Output.line(
            "imported OTLP requests (\(counts.joined(separator: ", "))) from \(paths.count) file\(paths.count == 1 ? "" : "s") into \(m.name)")
    }
}

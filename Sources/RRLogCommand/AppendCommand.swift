import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogInterop
import RRLogStorage

struct AppendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append JSON lines of IO events to a session.",
        discussion: """
            Input: one JSON object per line, as rrlog's IO events (type event, stream_start, chunk, \
            stream_finish, checkpoint; each with ts_ns). Every line is checked before anything is \
            written: a malformed line is reported with its line number and nothing from this \
            invocation is kept (a new session is not created; an existing one keeps what it had). \
            Input is streamed in bounded memory. Events get their call index in the session, \
            continued from the calls already stored, and the stored line carries it.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "The session name.")
    var session: String

    @Argument(help: "Input file, or - for standard input (the default).")
    var file: String = "-"

    @Flag(help: "Create the session when it does not exist.")
    var create = false

    @Option(help: "Session type when creating: recording, capture, seed, training.")
    var type: String = "recording"

    @Option(help: "Description when creating.")
    var description: String = ""

    @Option(help: "Tag when creating (repeatable).")
    var tag: [String] = []

    @Option(help: "Input path left out of IO keys, e.g. headers.X-Request-Id or messages[*].id (repeatable; when creating).")
    var volatile: [String] = []

    @Flag(name: .customLong("no-redact"), help: "When creating: store lines as they are, secrets included (redaction is on by default).")
    var noRedact = false

    @Option(help: "Chunk compression: none, lz4, zstd.")
    var codec: String = "lz4"

    @Option(help: "Durability: none, interval, every-batch.")
    var durability: String = "none"

    @OptionGroup var segmentSize: SegmentSizeOption

    func validate() throws {
        guard Codec(name: codec) != nil else { throw ValidationError("--codec must be none, lz4 or zstd, not '\(codec)'") }
        guard ["none", "interval", "every-batch"].contains(durability) else {
            throw ValidationError("--durability must be none, interval or every-batch, not '\(durability)'")
        }
        do { _ = try VolatilePaths(volatile) } catch { throw ValidationError("--volatile: \(error)") }
    }

    func run() throws {
        let store = try storeOptions.open(create: create)
        try reporting {
            if ["latest", "largest", "smallest", "random"].contains(session) {
                throw RRLogError(.invalidArgument, "append needs a session's name, not the strategy '\(session)'")
            }
            let existing = try? store.session(session)
            if existing == nil && !create {
                throw RRLogError(.noSuchSession, "no session named '\(session)' in \(store.path); add --create to make it")
            }
            var options = LogOptions()
            options.codec = Codec(name: codec)!
            options.durability = durability == "every-batch" ? .everyBatch : (durability == "interval" ? .interval(milliseconds: 200) : .none)
            segmentSize.apply(to: &options)
            let ingest: IOEventIngest
            if let existing {
                if noRedact || !volatile.isEmpty {
                    Output.error("rrlog: --no-redact and --volatile apply when creating; '\(existing.name)' keeps its own rules")
                }
                ingest = try IOEventIngest.append(store: store, to: existing, options: options)
            } else {
                var settings = IOEventIngest.NewSession(name: session)
                settings.type = type
                settings.description = description
                settings.tags = tag
                settings.volatile = try VolatilePaths(volatile)
                settings.redaction = noRedact ? .disabled : .default
                ingest = try IOEventIngest.create(store: store, session: settings, options: options)
            }
            // All or nothing: a bad line (or a full disk) discards what this invocation wrote.
            do {
                _ = try ingestJSONLines(file, into: ingest, label: "append")
                let final = try ingest.commit()
                Output.line("appended \(ingest.recordCount) records to \(final.name) (\(final.recordCount) in the session)")
            } catch {
                ingest.discard()
                throw error
            }
        }
    }
}

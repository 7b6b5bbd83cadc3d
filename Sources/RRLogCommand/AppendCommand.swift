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
            invocation is kept.
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

    func validate() throws {
        guard Codec(name: codec) != nil else { throw ValidationError("--codec must be none, lz4 or zstd, not '\(codec)'") }
        guard ["none", "interval", "every-batch"].contains(durability) else {
            throw ValidationError("--durability must be none, interval or every-batch, not '\(durability)'")
        }
        do { _ = try VolatilePaths(volatile) } catch { throw ValidationError("--volatile: \(error)") }
    }

    func run() throws {
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: file) else {
                throw CommandFailure(message: "\(file): cannot read the file (missing or not readable)")
            }
            data = d
        }
        let name = file == "-" ? "<stdin>" : file
        let store = try storeOptions.open(create: create)
        try reporting {
            let existing = try? store.session(session)
            if existing == nil && !create {
                throw RRLogError(.noSuchSession, "no session named '\(session)' in \(store.path); add --create to make it")
            }
            if existing == nil { try Store.validateName(session) }
            var encoder = try existing.map { IOEventEncoder(for: try store.openReader($0)) }
                ?? IOEventEncoder(volatile: try VolatilePaths(volatile), redaction: noRedact ? .disabled : .default)
            // Pass 1: parse and check every line; nothing is written (not even a new session) if
            // one is bad.
            let progress = Progress("check", total: data.count)
            let records: [RecordInput]
            do {
                records = try IOJSONLines.records(from: [UInt8](data), file: name, encoder: &encoder) { progress.update($0) }
                progress.finish()
            } catch {
                progress.finish()
                throw error
            }
            let manifest: SessionManifest
            if let existing {
                manifest = existing
            } else {
                manifest = try store.createSession(
                    name: session, type: type, description: description, tags: tag, annotations: encoder.sessionAnnotations)
            }
            // Pass 2: append.
            var options = LogOptions()
            options.codec = Codec(name: codec)!
            options.durability = durability == "every-batch" ? .everyBatch : (durability == "interval" ? .interval(milliseconds: 200) : .none)
            let writer = try store.openWriter(manifest, options: options)
            let batch = 4096
            var i = 0
            let appendProgress = Progress("append", total: records.count)
            while i < records.count {
                let slice = Array(records[i..<min(i + batch, records.count)])
                try writer.append(slice)
                i += slice.count
                appendProgress.update(i)
            }
            appendProgress.finish()
            let final = try writer.close(status: manifest.status == "active" ? "completed" : manifest.status == "failed" ? "completed" : manifest.status)
            Output.line("appended \(records.count) records to \(final.name) (\(final.recordCount) in the session)")
        }
    }
}

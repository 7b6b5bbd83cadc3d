import ArgumentParser
import Foundation
import RRLogFormat
import RRLogStorage

/// A hidden command for crash tests: appends numbered records and prints `ack N` for each record
/// once the durability policy says it is safe, until killed.
struct CrashWriterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "_crash-writer", abstract: "Append until killed, acknowledging durable records (for crash tests).",
        shouldDisplay: false)

    @Argument(help: "Log directory.")
    var directory: String

    @Option(help: "none, interval, or every-batch.")
    var durability: String = "every-batch"

    @Option(help: "Records per batch.")
    var batch: Int = 10

    @Option(help: "Codec: none, lz4, zstd.")
    var codec: String = "none"

    @Option(help: "Stop after this many records.")
    var count: Int = 1_000_000

    func validate() throws {
        guard ["none", "interval", "every-batch"].contains(durability) else {
            throw ValidationError("--durability must be none, interval or every-batch, not '\(durability)'")
        }
        guard Codec(name: codec) != nil else { throw ValidationError("--codec must be none, lz4 or zstd, not '\(codec)'") }
        guard batch > 0, count >= 0 else { throw ValidationError("--batch must be positive and --count not negative") }
    }

    func run() throws {
        var options = LogOptions()
        options.codec = Codec(name: codec) ?? .none
        options.chunkSizeBytes = 4096
        options.segmentSizeBytesMax = 256 << 10
        switch durability {
        case "none": options.durability = .none
        case "interval": options.durability = .interval(milliseconds: 5)
        default: options.durability = .everyBatch
        }
        let writer = try LogWriter(directory: directory, options: options)
        var written = 0
        while written < count {
            var records: [RecordInput] = []
            for _ in 0..<batch {
                let body = "record \(writer.nextSequenceNumber + UInt64(records.count)) " + String(repeating: "x", count: written % 300)
                records.append(RecordInput(timestampNs: Int64(written), kind: 1, key: Array("k\(written)".utf8), payload: Array(body.utf8)))
                written += 1
            }
            let range = try writer.appendBatch(records)
            // Under none and interval, records are safe from the death of this process once
            // their chunk is written to the file; under every-batch appendBatch returned after fsync.
            if options.durability != .everyBatch { try writer.flush() }
            Output.line("ack \(range.upperBound)")
        }
        try writer.close()
    }
}

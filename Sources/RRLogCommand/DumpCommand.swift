import ArgumentParser
import Foundation
import RRLogFormat
import RRLogStorage

struct DumpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Print the records of a segment file or log directory.",
        discussion: "One line per record: sequence, time (ns), kind, key (hex), size, and the payload as text when it is UTF-8, hex otherwise.")

    @Argument(help: "A segment file (.rrseg) or a log directory.")
    var path: String

    @Option(help: "Print at most this many records.")
    var limit: Int?

    @Option(help: "Start at this sequence number.")
    var from: UInt64 = 0

    @Flag(help: "Print the payload as hex even when it is text.")
    var hex = false

    @Option(help: "Truncate printed payloads to this many bytes (0: no limit).")
    var width: Int = 200

    func run() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be at least 0") }
        let reader: LogReader
        do { reader = try LogReader(path: path) } catch { throw CommandFailure(message: error.description) }
        var printed = 0
        let lost = reader.forEachRecord(fromSequence: from) { view in
            if let limit, printed >= limit { return false }
            printed += 1
            let key = view.key.map { Hex.lowercase($0) } ?? "-"
            let text = render(view.payload)
            Output.line("\(view.sequence)\t\(view.timestampNs)\tkind=\(view.kind)\tkey=\(key)\t\(view.payload.count)B\t\(text)")
            return true
        }
        for l in lost { Output.error("rrlog: skipped damaged data: \(l)") }
    }

    func render(_ bytes: UnsafeRawBufferPointer) -> String {
        let shown = width > 0 ? UnsafeRawBufferPointer(rebasing: bytes.prefix(width)) : bytes
        let suffix = shown.count < bytes.count ? "…" : ""
        if !hex, let s = String(validating: shown, as: UTF8.self), !s.contains(where: { $0.isNewline && $0 != "\n" }) {
            return s.replacingOccurrences(of: "\n", with: "\\n") + suffix
        }
        return "0x" + Hex.lowercase(shown) + suffix
    }
}


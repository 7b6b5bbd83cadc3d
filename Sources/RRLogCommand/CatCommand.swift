import ArgumentParser
import Foundation
import RRLog
import RRLogFormat

struct CatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat", abstract: "Print a session's records in order.",
        discussion: "Without --json: one line per record (sequence, time, kind, payload). With --json: the stored JSON lines, as appended.")

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "Session name, id, or latest / largest / smallest / random.")
    var session: String

    @Option(help: "Only records of this kind (event, stream_start, chunk, stream_finish, checkpoint, ...); repeatable.")
    var kind: [String] = []

    @Option(help: "Only records at or after this time (ns since the epoch, or ISO 8601).")
    var from: String?

    @Option(help: "Only records at or before this time.")
    var to: String?

    @Option(help: "Print at most this many records.")
    var limit: Int?

    @Flag(help: "Print each record's payload as one JSON line.")
    var json = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be at least 0") }
        for k in kind where RecordKind(name: k) == nil {
            throw ValidationError("unknown --kind '\(k)': one of \(RecordKind.allCases.map(\.name).joined(separator: ", "))")
        }
    }

    func run() throws {
        let store = try storeOptions.open()
        let fromNs = try from.map { try parseTime($0, option: "--from") }
        let toNs = try to.map { try parseTime($0, option: "--to") }
        let kinds: Set<UInt16>? = kind.isEmpty ? nil : Set(kind.compactMap { RecordKind(name: $0)?.rawValue })
        try reporting {
            let reader = try store.openReader(try store.session(session))
            var printed = 0
            var out = [UInt8]()
            let lost = reader.forEach(kinds: kinds, fromNs: fromNs, toNs: toNs) { view in
                if let limit, printed >= limit { return false }
                printed += 1
                if json {
                    if RecordKind(rawValue: view.kind)?.isIOEvent == true {
                        IOLine.append(view.payload, timestampNs: view.timestampNs, to: &out)
                    } else {
                        out.append(contentsOf: view.payload)
                    }
                } else {
                    out.append(contentsOf: "\(view.sequence)\t\(view.timestampNs)\t\(RecordKind.name(of: view.kind))\t".utf8)
                    out.append(contentsOf: view.payload.prefix(300))
                    if view.payload.count > 300 { out.append(contentsOf: "…".utf8) }
                }
                out.append(0x0A)
                if out.count > 1 << 16 {
                    FileHandle.standardOutput.write(Data(out))
                    out.removeAll(keepingCapacity: true)
                }
                return true
            }
            FileHandle.standardOutput.write(Data(out))
            for l in lost { Output.error("rrlog: skipped damaged data: \(l)") }
        }
    }
}

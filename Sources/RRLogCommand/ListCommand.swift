import ArgumentParser
import Foundation
import RRLog

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the sessions of the store.")

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "Only sessions of this type: recording, capture, seed or training.")
    var type: String?

    @Flag(help: "Print JSON.")
    var json = false

    @OptionGroup var remote: RemoteListingOptions

    func validate() throws {
        if let type, !Store.sessionTypes.contains(type) {
            throw ValidationError("--type must be one of \(Store.sessionTypes.joined(separator: ", ")), not '\(type)'")
        }
    }

    func run() async throws {
        let store = try storeOptions.open()
        if remote.enabled {
            try await printRemoteSessions(store: store, options: remote.remoteOptions, type: type, json: json, hint: false)
            return
        }
        let sessions = try reporting { try store.sessions(type: type) }
        if json {
            try Output.json(sessions.map(SessionJSON.init))
            return
        }
        if sessions.isEmpty {
            Output.line("no sessions in \(store.path)")
            return
        }
        // Columns as wide as their widest value: a long name never runs into the next column.
        let rows = sessions.map { m in
            // A session tiered to a bucket or attached from one is read in place: say so.
            [m.name, m.type, store.isReadInPlace(m) ? m.status + " (in bucket)" : m.status, String(m.recordCount), Output.bytes(Int(m.bytesOnDisk)), formatTime(m.createdNs)]
        }
        let header = ["NAME", "TYPE", "STATUS", "RECORDS", "ON DISK", "CREATED"]
        let rightAligned: Set<Int> = [3, 4]
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        for row in [header] + rows {
            let cells = row.indices.map { column in
                let cell = row[column]
                if column == row.count - 1 { return cell }
                return rightAligned.contains(column) ? cell.leftPad(widths[column]) : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }
            Output.line(cells.joined(separator: "  "))
        }
    }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

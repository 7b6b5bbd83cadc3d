import ArgumentParser
import Foundation
import RRLog

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the sessions of the store.")

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "Only sessions of this type.")
    var type: String?

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        let store = try storeOptions.open()
        let sessions = try reporting { try store.sessions(type: type) }
        if json {
            try Output.json(sessions.map(SessionJSON.init))
            return
        }
        if sessions.isEmpty {
            Output.line("no sessions in \(store.path)")
            return
        }
        Output.line("NAME".padding(toLength: 28, withPad: " ", startingAt: 0) + "TYPE       STATUS     RECORDS     ON DISK   CREATED")
        for m in sessions {
            Output.line(
                m.name.padding(toLength: 28, withPad: " ", startingAt: 0) + m.type.padding(toLength: 11, withPad: " ", startingAt: 0)
                    + m.status.padding(toLength: 11, withPad: " ", startingAt: 0) + String(m.recordCount).leftPad(7)
                    + Output.bytes(Int(m.bytesOnDisk)).leftPad(12) + "   " + formatTime(m.createdNs))
        }
    }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

import ArgumentParser
import RRLog

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a session and its segments.")

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "Session name or id.")
    var session: String

    func run() throws {
        let store = try storeOptions.open()
        try reporting {
            let m = try store.session(session)
            try store.remove(m)
            Output.line("removed \(m.name) (\(m.recordCount) records, \(Output.bytes(Int(m.bytesOnDisk))))")
        }
    }
}

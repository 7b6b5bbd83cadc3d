import ArgumentParser
import RRLog

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Delete a session and its segments.",
        discussion: "A strategy (latest, largest, smallest, random) picks a session you have not named: rm takes one only with --yes.")

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice

    @Flag(help: "Delete the session a strategy (latest, largest, smallest, random) picks.")
    var yes = false

    static let strategies = ["latest", "largest", "smallest", "random"]

    func validate() throws {
        if Self.strategies.contains(choice.selector), !yes {
            throw ValidationError("rm needs a session's name or id, or --yes with a strategy ('\(choice.selector)' picks a session you have not named)")
        }
    }

    func run() throws {
        let store = try storeOptions.open()
        try reporting {
            let m = try choice.manifest(in: store)
            try store.remove(m)
            Output.line("removed \(m.name) (\(m.recordCount) records, \(Output.bytes(Int(m.bytesOnDisk))))")
        }
    }
}

import ArgumentParser
import Foundation
import RRLog

/// `rrlog copy`: saves the events of an event session that a selection passes as a new session.
struct CopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy", abstract: "Save an event session's selected events (--filter-name, --filter-source, --from, --to) as a new session.",
        discussion: """
            The selection is the one 'rrlog replay' delivers. The new session keeps the source's type, \\
            tags, provenance and annotations, and notes where it came from (annotation filtered_from).
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "The event session to copy from (name, id or strategy), then the new session's name; with --session, only the new name.")
    var arguments: [String] = []

    @OptionGroup var sessionFlags: SessionFlags

    var session: String { sessionFlags.split(arguments).session }
    var name: String { sessionFlags.split(arguments).second ?? "" }

    func validate() throws {
        try sessionFlags.check(arguments, then: "the new session's name")
    }

    @OptionGroup var eventSelection: EventSelectionOptions

    func run() throws {
        let store = try storeOptions.open()
        let manifest = try reporting { try store.session(session, type: sessionFlags.type) }
        let content = ContentSummary(manifest)
        guard content.busEvents > 0 else {
            throw CommandFailure(message: "session \(manifest.name) holds \(content.description) (\(manifest.type)); copy saves bus events only")
        }
        let copy = try reporting {
            let replayer = try eventSelection.replayer(store: store, session: manifest.id)
            return try replayer.saveFilteredCopy(as: name)
        }
        print("copied \(copy.recordCount) of \(content.busEvents) events from \(manifest.name) into \(copy.name)")
    }
}

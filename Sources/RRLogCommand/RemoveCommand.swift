import ArgumentParser
import Foundation
import RRLog
import RRLogRemote

struct RemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Delete a session and its segments (with --remote, from the bucket).",
        discussion: """
            A strategy (latest, largest, smallest, random) picks a session you have not named: rm takes one only with --yes. \
            With --remote the session is deleted from the bucket: its manifest first (from then on no host sees it), \
            then its objects, then its name claim; the local store is not touched (an entry that reads it in place \
            stops working: remove it too).
            """)

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var choice: SessionChoice

    @Flag(help: "Delete the session a strategy (latest, largest, smallest, random) picks.")
    var yes = false

    @OptionGroup var remote: RemoteListingOptions

    static let strategies = ["latest", "largest", "smallest", "random"]

    func validate() throws {
        if Self.strategies.contains(choice.selector), !yes {
            throw ValidationError("rm needs a session's name or id, or --yes with a strategy ('\(choice.selector)' picks a session you have not named)")
        }
    }

    func run() async throws {
        let store = try storeOptions.open(create: remote.enabled)
        if remote.enabled {
            let sessions = try remote.remoteOptions.open(store: store)
            do {
                let found = try await reportingRemote { try await sessions.find(choice.selector) }
                let deleted = try await reportingRemote { try await sessions.remove(found) }
                Output.line("removed \(found.session.name) from \(sessions.url("")) (\(deleted) objects)")
                if let local = store.session(id: found.session.id), store.isReadInPlace(local) {
                    Output.error("warning: the local entry \(local.name) read it in place; 'rrlog rm \(local.name)' removes it")
                }
            } catch {
                await sessions.close()
                throw error
            }
            await sessions.close()
            return
        }
        try reporting {
            let m = try choice.manifest(in: store)
            try store.remove(m)
            Output.line("removed \(m.name) (\(m.recordCount) records, \(Output.bytes(Int(m.bytesOnDisk))))")
        }
    }
}

struct GCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Delete what no session of the bucket names: orphaned objects, stale name claims and uploads.",
        discussion: """
            Reads every committed manifest of the remote, then deletes the objects under sessions/ that none \
            names (older versions of a session's indexes, segments of pushes that never committed), name claims \
            of sessions that never committed, and multipart uploads never completed, each only when older than \
            --min-age (a push under way uploads its objects before its manifest). A session whose manifest cannot \
            be read is left whole. --dry-run lists and deletes nothing.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var remoteOptions: RemoteOptions

    @Option(name: .customLong("min-age"), help: "Only what is older than this: a number with s, m, h, d or w (default 1d).")
    var minAge: String = "1d"

    @Flag(name: .customLong("dry-run"), help: "List what would be deleted, and delete nothing.")
    var dryRun = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        if TierCommand.seconds(minAge) == nil { throw ValidationError("--min-age must be a number with s, m, h, d or w (1d), not '\(minAge)'") }
    }

    func run() async throws {
        let store = try storeOptions.open(create: true)
        let remote = try remoteOptions.open(store: store)
        let report: RemoteGCReport
        do {
            report = try await reportingRemote { try await remote.gc(minimumAge: TierCommand.seconds(minAge) ?? 86400, dryRun: dryRun) }
        } catch {
            await remote.close()
            throw error
        }
        let place = remote.url("")
        await remote.close()
        if json {
            try Output.json(report)
            return
        }
        let verb = dryRun ? "would delete" : "deleted"
        for key in report.orphans + report.names { Output.line("\(verb) \(key)") }
        for upload in report.uploads { Output.line("\(dryRun ? "would abort" : "aborted") \(upload)") }
        for problem in report.unreadable { Output.error("kept the session \(problem)") }
        Output.line("\(place): \(verb) \(report.orphans.count) orphaned objects (\(Output.bytes(Int(report.orphanBytes)))), \(report.names.count) name claims, \(report.uploads.count) unfinished uploads; \(report.young) younger than \(minAge) kept")
    }
}

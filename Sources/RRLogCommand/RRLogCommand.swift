import ArgumentParser
import Foundation
import RRLogRemote

/// The `rrlog` command. Exit codes (README "Exit codes"): 0 success, 1 failure or damage found,
/// 2 usage error, 3 recovered with data lost.
struct RRLogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rrlog",
        abstract: "Record and replay storage: segments, sessions, keyed lookups.",
        version: RRLogVersion.string,
        subcommands: [
            DemoCommand.self, AppendCommand.self, ListCommand.self, InfoCommand.self, CatCommand.self, GetCommand.self,
            RemoveCommand.self, ImportCommand.self, ExportCommand.self, TimelineCommand.self, SummaryCommand.self, VerifyCommand.self, CompactCommand.self, ReindexCommand.self, RecoverCommand.self,
            DumpCommand.self, CrashWriterCommand.self,
            TraceCommand.self,
            CaptureCommand.self, ReplayCommand.self, CopyCommand.self, StreamCommand.self, SeedCommand.self, ServeCommand.self, ProxyCommand.self,
            PushCommand.self, PullCommand.self, TierCommand.self, GCCommand.self,
        ])
}

enum RRLogVersion {
    static let string = "0.1.0"
}

/// Runs the command with rrlog's exit codes: argument errors exit 2, not ArgumentParser's 64.
@main
enum Entry {
    static func main() async {
        // Sessions whose segments are in a bucket are read in place by every command.
        RemoteReads.install()
        do {
            var command = try RRLogCommand.parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data(("rrlog: " + failure.message + "\n").utf8))
            Foundation.exit(failure.exitCode)
        } catch {
            let code = RRLogCommand.exitCode(for: error)
            if code == .success {
                RRLogCommand.exit(withError: error)
            }
            let message = RRLogCommand.fullMessage(for: error)
            FileHandle.standardError.write(Data((message + "\n").utf8))
            if code.rawValue == 64 {
                FileHandle.standardError.write(Data("Run 'rrlog help' for usage.\n".utf8))
                Foundation.exit(2)
            }
            Foundation.exit(1)
        }
    }
}

/// An error a command reports with its own message and exit code.
struct CommandFailure: Error {
    var message: String
    var exitCode: Int32 = 1
}

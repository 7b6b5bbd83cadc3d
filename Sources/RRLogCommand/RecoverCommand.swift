import ArgumentParser
import Foundation
import RRLogStorage

struct RecoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Keep every intact record of a damaged segment or log, resyncing past damage.",
        discussion: """
            Each segment that is damaged or unsealed is rewritten with its intact chunks and a new index; \
            damaged bytes are reported as ranges of bytes and sequences. With -o the repaired copy is \
            written to OUT and PATH is left untouched. Exit 0 when nothing was lost, 3 when some data was \
            lost, 1 when nothing could be recovered.
            """)

    @Argument(help: "A segment file (.rrseg) or a log directory.")
    var path: String

    @Option(name: .shortAndLong, help: "Write the recovered log here instead of repairing in place.")
    var output: String?

    @Option(help: "What to keep: salvage (every intact chunk), point-in-time (everything before the first damage).")
    var mode: String = "salvage"

    @Flag(help: "Print the report as JSON.")
    var json = false

    struct Report: Encodable {
        var segments: [String] = []
        var keptRecords = 0
        var lost: [LostRange] = []
        var outcome = ""
    }

    func run() throws {
        guard let recovery = RecoveryMode(rawValue: mode), recovery == .salvage || recovery == .pointInTime else {
            throw ValidationError("--mode must be salvage or point-in-time, not '\(mode)'")
        }
        let fm = FileManager.default
        var targets: [String]
        do {
            let sources: [String]
            let isDirectory = SegmentFiles.isDirectory(path)
            if isDirectory {
                sources = try SegmentFiles.list(path).map(\.path)
            } else if SegmentFiles.exists(path) {
                sources = [path]
            } else {
                throw CommandFailure(message: "\(path): no such segment file or log directory")
            }
            if let output {
                if isDirectory {
                    try fm.createDirectory(atPath: output, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                    targets = []
                    for s in sources {
                        let dest = output + "/" + (s.split(separator: "/").last.map(String.init) ?? s)
                        if fm.fileExists(atPath: dest) { throw CommandFailure(message: "\(dest) exists; choose an empty output directory") }
                        try fm.copyItem(atPath: s, toPath: dest)
                        targets.append(dest)
                    }
                } else {
                    if fm.fileExists(atPath: output) { throw CommandFailure(message: "\(output) exists; refusing to overwrite it") }
                    try fm.copyItem(atPath: path, toPath: output)
                    targets = [output]
                }
            } else {
                targets = sources
            }
        } catch let e as CommandFailure {
            throw e
        } catch let e as StorageError {
            throw CommandFailure(message: e.description)
        }
        var report = Report()
        for target in targets {
            do {
                let check = try Verifier.verify(path: target)
                let sealedAndClean = check.isClean && check.notes.isEmpty
                if sealedAndClean {
                    report.keptRecords += check.records
                    continue
                }
                let outcome = try Recovery.repair(path: target, mode: recovery, write: true)
                report.segments.append(target)
                report.keptRecords += outcome.keptRecords
                report.lost += outcome.lost
            } catch {
                report.lost.append(LostRange(file: target, startOffset: 0, endOffset: 0, reason: error.description))
            }
        }
        let code: Int32 = report.lost.isEmpty ? 0 : (report.keptRecords == 0 ? 1 : 3)
        report.outcome = code == 0 ? "intact" : (code == 3 ? "recovered with loss" : "nothing recovered")
        if json {
            try Output.json(report)
        } else {
            for l in report.lost { Output.line("LOST \(l)") }
            Output.line("\(report.outcome): \(report.keptRecords) records kept, \(report.segments.count) segments repaired, \(report.lost.count) ranges lost")
        }
        if code != 0 { throw ExitCode(code) }
    }
}

import ArgumentParser
import Foundation
import RRLogStorage

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every invariant of a segment file or log directory.",
        discussion: """
            Checks magic, framing, every CRC, decompression, record fields, sequence order, chunk time \
            bounds, the chunk index and key table against the data, and the footer. Prints each problem \
            with file, offset and reason. Exit 0 when clean, 1 when damage was found, 2 on a usage error.
            """)

    @Argument(help: "A segment file (.rrseg) or a log directory.")
    var path: String

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let total = totalBytes(path)
        let progress = Progress("verify", total: total)
        let report: VerifyReport
        do {
            report = try Verifier.verify(path: path) { progress.update($0) }
        } catch {
            progress.finish()
            throw CommandFailure(message: error.description)
        }
        progress.finish()
        if json {
            try Output.json(report)
        } else {
            for p in report.problems { Output.line("DAMAGE \(p)") }
            for n in report.notes { Output.line("note   \(n)") }
            Output.line(
                "\(report.isClean ? "ok" : "damaged"): \(report.segments) segments, \(report.records) records, "
                    + "\(Output.bytes(report.bytes)), \(report.problems.count) problems")
        }
        if !report.isClean { throw ExitCode(1) }
    }
}

func totalBytes(_ path: String) -> Int {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return 0 }
    if !isDir.boolValue { return ((try? fm.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
    let names = (try? fm.contentsOfDirectory(atPath: path)) ?? []
    return names.reduce(0) { sum, n in sum + (((try? fm.attributesOfItem(atPath: path + "/" + n))?[.size] as? Int) ?? 0) }
}

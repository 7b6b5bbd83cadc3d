import ArgumentParser
import Foundation
import RRLog
import RRLogStorage

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every invariant of a session, a segment file or a log directory.",
        discussion: """
            Checks magic, framing, every CRC, decompression, record fields, sequence order, chunk time \
            bounds, the chunk index and key table against the data, and the footer; for sessions also \
            that manifests point at existing segments and ranges and that the catalog agrees with them. \
            Prints each problem with file, offset and reason. A chunk whose codec or layout this \
            version does not know (a later version wrote it) is printed as UNREADABLE, not as damage. \
            Exit 0 when clean, 1 when damage was found, 2 on a usage error, 3 when nothing is damaged \
            but some chunks are unreadable by this version (their records were not checked).
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "A session (name, id or strategy), a segment file (.rrseg) or a log directory.")
    var target: String?

    @OptionGroup var sessionFlags: SessionFlags

    @Flag(help: "Verify every session of the store.")
    var all = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    @Flag(help: "Instead of the format checks, scan the session's records for secrets that were not redacted.")
    var secrets = false

    func validate() throws {
        let given = [target != nil, sessionFlags.session != nil, all].filter { $0 }.count
        if given != 1 { throw ValidationError("give one of: a session or path, --session S, --all") }
    }

    func run() throws {
        if secrets {
            try scanSecrets()
            return
        }
        if let target, FileManager.default.fileExists(atPath: target), !isSessionName(target) {
            try verifyPath(target)
            return
        }
        let store = try storeOptions.open()
        var reports: [SessionVerifyReport] = []
        try reporting {
            let sessions = all ? try store.sessions() : [try store.session(sessionFlags.selector ?? target!, type: sessionFlags.type)]
            let total = sessions.reduce(0) { $0 + Int($1.bytesOnDisk) }
            let progress = Progress("verify", total: total)
            var done = 0
            for m in sessions {
                reports.append(try store.verify(m) { progress.update(done + $0) })
                done += Int(m.bytesOnDisk)
            }
            progress.finish()
        }
        if json {
            try Output.json(reports)
        } else {
            for r in reports {
                for p in r.log.problems { Output.line("DAMAGE \(r.session): \(p)") }
                for p in r.manifestProblems { Output.line("DAMAGE \(r.session): \(p)") }
                for p in r.log.unreadable { Output.line("UNREADABLE \(r.session): \(p)") }
                Output.line("\(Self.verdict(clean: r.isClean, fullyChecked: r.log.isFullyChecked)): \(r.session): \(r.log.segments) segments, \(r.log.records) records, \(Output.bytes(r.log.bytes))")
            }
        }
        if reports.contains(where: { !$0.isClean }) { throw ExitCode(1) }
        if reports.contains(where: { !$0.log.isFullyChecked }) { throw ExitCode(Self.unreadableExitCode) }
    }

    func scanSecrets() throws {
        let store = try storeOptions.open()
        var total = 0
        var output: [String: [SecretFinding]] = [:]
        try reporting {
            let sessions = all ? try store.sessions() : [try store.session(sessionFlags.selector ?? target!, type: sessionFlags.type)]
            for m in sessions {
                let found = try store.scanSecrets(m)
                output[m.name] = found
                total += found.count
                if !json {
                    for f in found.prefix(50) { Output.line("SECRET \(m.name): \(f)") }
                    if found.count > 50 { Output.line("SECRET \(m.name): … \(found.count - 50) more") }
                    Output.line("\(found.isEmpty ? "ok" : "secrets found"): \(m.name): \(found.count) unredacted value(s) that look like secrets")
                }
            }
        }
        if json { try Output.json(output) }
        if total > 0 { throw ExitCode(1) }
    }

    /// A bare word that names a session in the store wins over a file of the same name in the
    /// current directory only when it has no slash and no segment extension.
    func isSessionName(_ s: String) -> Bool {
        !s.contains("/") && !s.hasSuffix(".rrseg") && (try? storeOptions.open().session(s)) != nil
    }

    func verifyPath(_ path: String) throws {
        let progress = Progress("verify", total: totalBytes(path))
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
            for p in report.unreadable { Output.line("UNREADABLE \(p)") }
            for n in report.notes { Output.line("note   \(n)") }
            let unreadable = report.unreadable.isEmpty ? "" : ", \(report.unreadable.count) chunks unreadable by this version"
            Output.line(
                "\(Self.verdict(clean: report.isClean, fullyChecked: report.isFullyChecked)): \(report.segments) segments, "
                    + "\(report.records) records, \(Output.bytes(report.bytes)), \(report.problems.count) problems\(unreadable)")
        }
        if !report.isClean { throw ExitCode(1) }
        if !report.isFullyChecked { throw ExitCode(Self.unreadableExitCode) }
    }

    /// Exit status when nothing is damaged but some chunks use a codec or layout of a later
    /// version: not 0, since their records went unchecked, and not 1, since nothing is damaged.
    static let unreadableExitCode: Int32 = 3

    /// The summary's first word: damage wins over unreadable chunks.
    static func verdict(clean: Bool, fullyChecked: Bool) -> String {
        clean ? (fullyChecked ? "ok" : "unreadable by this version") : "damaged"
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

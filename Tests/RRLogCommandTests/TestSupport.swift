import Foundation
import RRLog
import RRLogTestSupport
import XCTest

/// What one run of the `rrlog` binary did.
struct CommandResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }

    /// Standard output split into lines, without the empty one after the last newline.
    var lines: [Substring] { stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast(stdout.hasSuffix("\n") ? 1 : 0) }
}

enum CommandTestSupport {
    /// `Tests/Fixtures/io/llm-session.jsonl`.
    static let fixturePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/io/llm-session.jsonl").path

    /// The fixture's lines, parsed.
    /// The fixture lines as the store keeps them: secrets redacted (on by default).
    static var redactedFixtureLines: [JSONValue] { SharedTestSupport.storedLines(fixtureLines.map { IOEventEncoder().redact($0) }) }



    static let fixtureLines: [JSONValue] = {
        guard let data = FileManager.default.contents(atPath: fixturePath) else { fatalError("missing fixture \(fixturePath)") }
        return data.split(separator: UInt8(ascii: "\n")).map { line in
            do { return try JSONValue.parse(Array(line)) } catch { fatalError("fixture line does not parse: \(error)") }
        }
    }()

    /// A fresh directory, removed when the test ends.
    static func temporaryDirectory(_ test: XCTestCase) -> String {
        TestPaths.temporaryDirectory(test, prefix: "rrlog-command-tests")
    }

    /// The built `rrlog` binary (`TestPaths.rrlogBinary`).
    static func executable() throws -> URL {
        guard let found = TestPaths.rrlogBinary() else { throw TestPaths.missing("no built rrlog binary; run 'swift build' first") }
        return found
    }

    /// Runs `rrlog` with `arguments` and `stdin` (empty when nil); output goes through files, so a
    /// chatty child can never block on a full pipe. `$RRLOG_STORE` is removed from its environment.
    static func run(_ arguments: [String], stdin: Data? = nil, in directory: String, launcher: [String] = []) throws -> CommandResult {
        let outPath = directory + "/.stdout-\(UUID().uuidString)"
        let errPath = directory + "/.stderr-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: outPath, contents: nil), FileManager.default.createFile(atPath: errPath, contents: nil) else {
            throw CocoaError(.fileWriteUnknown)
        }
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let process = Process()
        if let first = launcher.first {
            // e.g. setpriv, to run rrlog as another user.
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = launcher.dropFirst() + [try executable().path] + arguments
        } else {
            process.executableURL = try executable()
            process.arguments = arguments
        }
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        environment["RRLOG_STORE"] = nil
        environment["RRLOG_NO_PROGRESS"] = "1"
        process.environment = environment
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        }
        process.waitUntilExit()
        try out.close()
        try err.close()
        return CommandResult(
            status: process.terminationStatus,
            stdout: String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self),
            stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self))
    }

    /// Inverts the low bit of the byte at `offset` of `path`, in place.
    static func flipByte(_ path: String, at offset: Int) throws {
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw CocoaError(.fileNoSuchFile) }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        guard let byte = try handle.read(upToCount: 1)?.first else { throw CocoaError(.fileReadUnknown) }
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data([byte ^ 0x01]))
    }

    /// Every file under `directory` with its bytes, by relative path (to show nothing changed).
    static func snapshot(_ directory: String) -> [String: Data] {
        var out: [String: Data] = [:]
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return out }
        while let relative = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = directory + "/" + relative
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                out[relative] = FileManager.default.contents(atPath: path) ?? Data()
            }
        }
        return out
    }
}

/// A command test with a fresh working directory holding the store `store/`.
class StoreCommandTestCase: XCTestCase {
    typealias T = CommandTestSupport

    /// The working directory of the test (removed when it ends).
    var work = ""
    /// The store the commands use.
    var store: String { work + "/store" }

    override func setUp() {
        super.setUp()
        work = T.temporaryDirectory(self)
    }

    /// Runs `rrlog ARGUMENTS --store STORE`.
    func rrlog(_ arguments: [String], stdin: Data? = nil) throws -> CommandResult {
        try T.run(arguments + ["--store", store], stdin: stdin, in: work)
    }
}

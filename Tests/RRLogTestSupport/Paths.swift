public import Foundation
public import XCTest

/// Directories and binaries the test targets share.
public enum TestPaths {
    /// The package's root directory.
    public static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A fresh directory under the system's temporary directory, removed when `test` ends.
    public static func temporaryDirectory(_ test: XCTestCase, prefix: String = "rrlog-tests") -> String {
        let path = FileManager.default.temporaryDirectory.path + "/\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    /// The built `rrlog` binary: beside the running test bundle, or in the package's
    /// `.build/debug`; nil when neither exists.
    public static func rrlogBinary() -> URL? {
        var candidates: [URL] = []
        if let bundle = CommandLine.arguments.first {
            candidates.append(URL(fileURLWithPath: bundle).deletingLastPathComponent().appendingPathComponent("rrlog"))
        }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("rrlog"))
        candidates.append(packageRoot.appendingPathComponent(".build/debug/rrlog"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    /// The error for a test whose real component (a built binary, a Python SDK) is missing: a
    /// skip on a developer's machine, a failure under CI (`CI` set), where `.ci/run` installs
    /// every component and a skip would hide a missing install step.
    public static func missing(_ what: String) -> any Error {
        if let ci = ProcessInfo.processInfo.environment["CI"], !ci.isEmpty, ci != "false" { return MissingComponent(what: what) }
        return XCTSkip(what)
    }

    /// A component a test needs is missing under CI.
    public struct MissingComponent: Error, CustomStringConvertible {
        /// What is missing.
        public var what: String
        public var description: String { "missing under CI: \(what)" }
    }
}

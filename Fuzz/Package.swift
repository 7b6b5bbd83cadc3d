// swift-tools-version:6.0
// libFuzzer harnesses for every reader of outside bytes. Separate from the main package so its
// build and tests never see them. Build: `bash Tools/fuzz --build`; run one: `bash Tools/fuzz NAME SECONDS`.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which differs between clones.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let main = root.lastPathComponent

func harness(_ name: String, _ products: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: products.map { .product(name: $0, package: main) },
        path: "Sources/\(name)")
}

let package = Package(
    name: "rrlog-fuzz",
    dependencies: [.package(path: "..")],
    targets: [
        harness("FuzzSegment", ["RRLogFormat"]),
        harness("FuzzRecord", ["RRLogFormat"]),
        harness("FuzzJSON", ["RRLog"]),
        harness("FuzzManifest", ["RRLogCatalog"]),
        harness("FuzzIOEvents", ["RRLog"]),
        harness("FuzzEventRecorder", ["RRLog", "RRLogInterop"]),
        harness("FuzzOTLPProto", ["RRLogInterop"]),
        harness("FuzzOTLPJSON", ["RRLogInterop"]),
        harness("FuzzS3XML", ["RRLogS3"]),
        harness("FuzzRemoteManifest", ["RRLogRemote"]),
        harness("FuzzRemoteIndex", ["RRLogFormat"]),
    ]
)

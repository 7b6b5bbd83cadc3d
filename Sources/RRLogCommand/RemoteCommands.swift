import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog
import RRLogRemote
import RRLogS3

/// Where the bucket is: `--remote s3://bucket/prefix` and friends, else the store's
/// `config.json`, else the environment (README "Sharing sessions through a bucket").
struct RemoteOptions: ParsableArguments {
    @Option(help: "The remote, s3://bucket/prefix (default: \"remote\" in the store's config.json, else MINIO_BUCKET).")
    var remote: String?

    @OptionGroup var connection: S3ConnectionOptions

    /// Opens the remote for a store whose config may name it.
    func open(store: Store) throws -> RemoteSessions {
        do throws(RemoteError) {
            let given = RemoteConfig(remote: remote, endpoint: connection.endpoint, region: connection.region, pathStyle: connection.pathStyle ? true : nil)
            let config = given.overriding(try RemoteConfig.load(store: store.path))
            return try RemoteSessions(remote: try config.resolve())
        } catch {
            throw CommandFailure(message: error.description)
        }
    }
}

/// `ls --remote` and `reindex --remote`: a flag (so the bucket comes from `--remote-url`, the
/// store's config.json or the environment) and the connection options.
struct RemoteListingOptions: ParsableArguments {
    @Flag(name: .customLong("remote"), help: "The sessions in the bucket (from their manifests) instead of the store's.")
    var enabled = false

    @Option(name: .customLong("remote-url"), help: "With --remote: the bucket, s3://bucket/prefix (default: config.json, MINIO_BUCKET).")
    var url: String?

    @OptionGroup var connection: S3ConnectionOptions

    /// The same settings as `push` and `pull` take them.
    var remoteOptions: RemoteOptions {
        var options = RemoteOptions()
        options.remote = url
        options.connection = connection
        return options
    }
}

/// How to reach the S3 server, beside the remote's URL.
struct S3ConnectionOptions: ParsableArguments {
    @Option(help: "The S3 endpoint URL (default: config.json, AWS_ENDPOINT_URL, MINIO_ENDPOINT, the profile, else AWS).")
    var endpoint: String?

    @Option(help: "The signing region (default: config.json, AWS_REGION, the profile, else us-east-1).")
    var region: String?

    @Flag(name: .customLong("path-style"), help: "Path-style addressing (host/bucket/key); the default with --endpoint.")
    var pathStyle = false
}

/// Runs a remote operation, turning its errors into a message and exit code 1.
func reportingRemote<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let e as RemoteError {
        throw CommandFailure(message: e.description)
    } catch let e as RRLogError {
        throw CommandFailure(message: e.description)
    }
}

/// A byte progress line for pushes and pulls.
func byteProgress(_ label: String) -> (Progress, (Int64, Int64) -> Void) {
    let progress = Progress(label, total: 1)
    return (progress, { done, total in progress.update(Int(done), of: Int(total)) })
}

struct PushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push", abstract: "Upload sessions to an S3 bucket (sealed segments, then the manifest that commits them).",
        discussion: """
            Segments go up first (with their CRC32C; large ones in multipart uploads, aborted on failure; \
            objects already in the bucket with the same size and checksum are skipped, so a rerun after a \
            crash completes the push), then the session's name claim and its manifest, written with \
            If-None-Match / If-Match: a second store pushing other content under the same session or name \
            gets a conflict and overwrites nothing. A session being written pushes its sealed segments and \
            leaves the open one out, with a warning. --delete-local removes the local session once every \
            object is checked with HEAD and the manifest is committed ('rrlog pull' brings it back).
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var remoteOptions: RemoteOptions

    @Argument(help: "Session name, id or strategy (latest, largest, smallest, random).")
    var session: String?

    @Flag(help: "Push every session of the store (with --type, of that type).")
    var all = false

    @Option(help: "With --all or a strategy: only sessions of this type.")
    var type: String?

    @Flag(name: .customLong("delete-local"), help: "Remove the local copy once the remote one is verified and committed.")
    var deleteLocal = false

    func validate() throws {
        if all == (session != nil) { throw ValidationError("give a session or --all (not both)") }
        if let type, !Store.sessionTypes.contains(type) {
            throw ValidationError("--type must be one of \(Store.sessionTypes.joined(separator: ", ")), not '\(type)'")
        }
    }

    func run() async throws {
        let store = try storeOptions.open()
        let manifests = try reporting { all ? try store.sessions(type: type) : [try store.session(session ?? "", type: type)] }
        if manifests.isEmpty {
            Output.line("no sessions to push in \(store.path)")
            return
        }
        try await forEachOnRemote(manifests, store: store, options: remoteOptions, verb: "push") { remote, manifest throws(RemoteError) in
            if all && manifest.recordCount == 0 {
                Output.error("skipped \(manifest.name): no records")
                return
            }
            let (progress, update) = byteProgress("push \(manifest.name)")
            defer { progress.finish() }
            let report = try await remote.push(manifest, from: store, deleteLocal: deleteLocal, progress: update)
            progress.finish()
            for warning in report.warnings { Output.error("warning: \(warning)") }
            let what = report.committed ? "committed" : "already in the bucket"
            Output.line(
                "pushed \(manifest.name): \(report.uploaded) segments uploaded (\(Output.bytes(Int(report.bytesUploaded)))), \(report.skipped) already there, manifest \(what)"
                    + (report.deletedLocal ? "; local copy removed" : "") + " -> \(remote.url(RemoteLayout.sessionDirectory(id: manifest.id)))")
        }
    }
}

/// Runs `body` for each of `manifests` with the remote open (its conditional writes probed
/// first): a session's failure is reported and the next goes on; a store-wide one (a request
/// failing, a store that ignores conditional writes) stops the run. Exit 1 when any failed.
func forEachOnRemote(
    _ manifests: [SessionManifest], store: Store, options: RemoteOptions, verb: String,
    _ body: (RemoteSessions, SessionManifest) async throws(RemoteError) -> Void
) async throws {
    let remote = try options.open(store: store)
    var failures = 0
    do {
        try await reportingRemote { try await remote.checkConditionalWrites() }
        for manifest in manifests {
            do throws(RemoteError) { try await body(remote, manifest) } catch {
                Output.error("rrlog: \(verb) \(manifest.name): \(error)")
                failures += 1
                if error.code == .request || error.code == .unsupportedStore { break }
            }
        }
    } catch {
        await remote.close()
        throw error
    }
    await remote.close()
    if failures > 0 { throw ExitCode(1) }
}

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull", abstract: "Download a session from an S3 bucket into the store.",
        discussion: """
            The manifest names the objects; each is downloaded in pieces into a staged session directory, \
            its size and CRC32C checked, then the segments are verified (rrlog's own CRCs) and the session \
            is added to the catalog in one step. On any failure nothing is added. The session is chosen \
            by name, id or strategy (latest, largest, smallest by bytes, random; --type to filter).
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var remoteOptions: RemoteOptions

    @Argument(help: "Session name, id, or a strategy: latest, largest, smallest, random.")
    var session: String

    @Option(help: "With a strategy: only sessions of this type.")
    var type: String?

    @Option(name: .customLong("as"), help: "The local name (default: the remote session's).")
    var localName: String?

    @Option(help: "The bucket's layout: rrlog (FORMAT-REMOTE.md), or otlp-service (sessions/{id}/metadata.json and raw/…/{traces|metrics|logs}-….otlp.gz of the OTLP record-replay service rrlog replaces: its OTLP files are imported into a capture session).")
    var layout: String = "rrlog"

    func validate() throws {
        if let localName { do { try Store.validateName(localName) } catch { throw ValidationError(error.description) } }
        guard ["rrlog", "otlp-service"].contains(layout) else { throw ValidationError("--layout must be rrlog or otlp-service, not '\(layout)'") }
    }

    func run() async throws {
        let store = try storeOptions.open(create: true)
        let remote = try remoteOptions.open(store: store)
        if layout == "otlp-service" {
            defer { Task { await remote.close() } }
            try await importServiceSession(from: remote, into: store)
            return
        }
        do {
            let found = try await reportingRemote { try await remote.find(session, type: type) }
            let (progress, update) = byteProgress("pull \(found.session.name)")
            let pulled = try await reportingRemote { try await remote.pull(found, into: store, as: localName, progress: update) }
            progress.finish()
            Output.line("pulled \(found.session.name) as \(pulled.name): \(pulled.recordCount) records, \(pulled.segments.count) segments, \(Output.bytes(Int(pulled.bytesOnDisk)))")
        } catch {
            await remote.close()
            throw error
        }
        await remote.close()
    }
}

struct TierCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tier", abstract: "Move closed sessions older than an age to the bucket, keeping their entries (read in place).",
        discussion: """
            Each session older than --older-than (by its end, else its creation) is pushed as 'rrlog push' \
            does, every object is checked with HEAD and the committed manifest read back; only then are its \
            local segments replaced, in one atomic step, by the remote index. Every read command keeps working \
            on it: the chunks and key slots a read touches are fetched with ranged GETs into a bounded cache \
            (RRLOG_REMOTE_CACHE_BYTES, default 256 MiB). Sessions still being written are left alone.
            """)

    @OptionGroup var storeOptions: StoreOptions
    @OptionGroup var remoteOptions: RemoteOptions

    @Option(name: .customLong("older-than"), help: "The age: a number with s, m, h, d or w (7d, 36h).")
    var olderThan: String

    @Option(help: "Only sessions of this type.")
    var type: String?

    @Flag(name: .customLong("dry-run"), help: "List what would move, and move nothing.")
    var dryRun = false

    /// Seconds of an age such as 7d, 36h, 90m, 2w or 3600s.
    static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        guard let unit = text.last, let scale = units[unit], let value = Double(text.dropLast()), value >= 0, value.isFinite else { return nil }
        return value * scale
    }

    func validate() throws {
        if Self.seconds(olderThan) == nil { throw ValidationError("--older-than must be a number with s, m, h, d or w (7d), not '\(olderThan)'") }
        if let type, !Store.sessionTypes.contains(type) {
            throw ValidationError("--type must be one of \(Store.sessionTypes.joined(separator: ", ")), not '\(type)'")
        }
    }

    func run() async throws {
        let store = try storeOptions.open()
        let cutoff = Int64((Date().timeIntervalSince1970 - (Self.seconds(olderThan) ?? 0)) * 1e9)
        let candidates = try reporting { try store.sessions(type: type) }.filter { m in
            m.recordCount > 0 && m.status != "active" && !store.isReadInPlace(m) && (m.endNs ?? m.createdNs) < cutoff
        }
        if candidates.isEmpty {
            Output.line("no session older than \(olderThan) to tier in \(store.path)")
            return
        }
        if dryRun {
            for m in candidates { Output.line("would tier \(m.name) (\(m.recordCount) records, \(Output.bytes(Int(m.bytesOnDisk))))") }
            return
        }
        try await forEachOnRemote(candidates, store: store, options: remoteOptions, verb: "tier") { remote, manifest throws(RemoteError) in
            let report = try await remote.tier(manifest, from: store)
            Output.line("tiered \(manifest.name): \(report.uploaded) segments uploaded, \(report.skipped) already there; local segments replaced by reads in place -> \(remote.url(RemoteLayout.sessionDirectory(id: manifest.id)))")
        }
    }
}

/// `reindex --remote`: every committed session of the bucket this store lacks becomes an entry
/// read in place (its remote index fetched; no segment downloaded).
func attachRemoteSessions(store: Store, options: RemoteOptions) async throws {
    let remote = try options.open(store: store)
    do {
        let listing = try await reportingRemote { try await remote.list() }
        for skipped in listing.skipped { Output.error("skipped \(skipped)") }
        var attached = 0
        var failures = listing.skipped.count
        for session in listing.sessions where store.session(id: session.session.id) == nil {
            do throws(RemoteError) {
                _ = try await remote.attach(session, into: store)
                attached += 1
            } catch {
                Output.error("rrlog: \(session.session.name): \(error)")
                failures += 1
            }
        }
        Output.line("\(listing.sessions.count) sessions in \(remote.url("")); \(attached) added to this store, read in place ('rrlog pull NAME' downloads one)")
        await remote.close()
        if failures > 0 { throw ExitCode(1) }
    } catch {
        await remote.close()
        throw error
    }
}

extension PullCommand {
    /// `--layout otlp-service`: picks the session, downloads its OTLP files into a temporary
    /// directory and imports them as `rrlog import` does (one capture session, every file checked
    /// before anything is written), with the metadata's scalar members as annotations.
    func importServiceSession(from remote: RemoteSessions, into store: Store) async throws {
        let found = try await reportingRemote { try await remote.findServiceSession(session, type: type) }
        let directory = FileManager.default.temporaryDirectory.path + "/rrlog-service-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try await reportingRemote { try await remote.download(found, to: directory) }
        let name = localName ?? found.name
        let importer = try ImportCommand.parse(files + ["--store", store.path, "--session", name, "--type", "capture"])
        try importer.run()
        if !found.metadata.isEmpty {
            try reporting {
                let manifest = try store.session(name)
                try store.annotate(manifest, found.metadata.reduce(into: [String: String]()) { $0["otlp_service." + $1.key] = $1.value })
            }
        }
        Output.line("imported \(found.id) (\(files.count) OTLP files, \(Output.bytes(Int(found.sizeBytes)))) from \(remote.url(RemoteLayout.sessionDirectory(id: found.id))) as \(name)")
    }
}

/// A remote session in `ls --remote --json`.
struct RemoteSessionJSON: Encodable {
    var name: String
    var id: String
    var type: String
    var status: String
    var records: Int
    var bytes: Int64
    var segments: Int
    var createdNs: Int64
    var created: String
    var pushedBy: String
    var pushedNs: Int64
    var local: Bool

    enum CodingKeys: String, CodingKey {
        case name, id, type, status, records, bytes, segments, created, local
        case createdNs = "created_ns"
        case pushedBy = "pushed_by"
        case pushedNs = "pushed_ns"
    }

    init(_ s: RemoteSession, local: Bool) {
        name = s.session.name
        id = s.session.id
        type = s.session.type
        status = s.session.status
        records = s.session.recordCount
        bytes = s.session.bytesOnDisk
        segments = s.manifest.objects.count
        createdNs = s.session.createdNs
        created = formatTime(s.session.createdNs)
        pushedBy = s.manifest.pushedBy
        pushedNs = s.manifest.pushedNs
        self.local = local
    }
}

/// `ls --remote` and `reindex --remote`: the sessions of the bucket, with whether the store has each.
func printRemoteSessions(store: Store, options: RemoteOptions, type: String?, json: Bool, hint: Bool) async throws {
    let remote = try options.open(store: store)
    let listing: (sessions: [RemoteSession], skipped: [String])
    do { listing = try await reportingRemote { try await remote.list() } } catch {
        await remote.close()
        throw error
    }
    let where_ = remote.url("")
    await remote.close()
    let localIDs = Set(((try? store.sessions()) ?? []).map(\.id))
    let sessions = listing.sessions.filter { type == nil || $0.session.type == type }
    for skipped in listing.skipped { Output.error("skipped \(skipped)") }
    if json {
        try Output.json(sessions.map { RemoteSessionJSON($0, local: localIDs.contains($0.session.id)) })
        return
    }
    if sessions.isEmpty {
        Output.line("no sessions in \(where_)")
        return
    }
    let rows = sessions.map { s in
        [s.session.name, s.session.id, s.session.type, String(s.session.recordCount), Output.bytes(Int(s.session.bytesOnDisk)),
         localIDs.contains(s.session.id) ? "local" : "remote only", formatTime(s.session.createdNs)]
    }
    let header = ["NAME", "ID", "TYPE", "RECORDS", "BYTES", "HERE", "CREATED"]
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    for row in [header] + rows {
        let cells = row.indices.map { column in
            column == row.count - 1 ? row[column]
                : (column == 3 || column == 4) ? row[column].leftPad(widths[column]) : row[column].padding(toLength: widths[column], withPad: " ", startingAt: 0)
        }
        Output.line(cells.joined(separator: "  "))
    }
    if hint {
        let missing = sessions.filter { !localIDs.contains($0.session.id) }
        Output.line("\(sessions.count) sessions in \(where_), \(missing.count) not in this store" + (missing.isEmpty ? "" : "; 'rrlog pull NAME' brings one"))
    }
    if !listing.skipped.isEmpty { throw ExitCode(1) }
}

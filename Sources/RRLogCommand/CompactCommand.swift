import ArgumentParser
import Foundation
import RRLog
import RRLogFormat
import RRLogRemote
import RRLogStorage

struct CompactCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Merge small segments, recompress, rebuild indexes, apply retention; report the space reclaimed.",
        discussion: """
            Crash-safe: killed at any moment, a session keeps either its old or its new segments. Readers keep working. \
            With --remote, a session in the bucket is compacted: pulled into a temporary store, compacted there, and pushed \
            back as its new content, committed only if the bucket's manifest is still the one read (If-Match); the old \
            objects stay for hosts reading them in place until 'rrlog gc' collects them.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "Session name, id or strategy.")
    var session: String?

    @OptionGroup var sessionFlags: SessionFlags

    @Flag(help: "Compact every session.")
    var all = false

    @Option(help: "Recompress with this codec: none, lz4, zstd (default: keep).")
    var codec: String?

    @Option(help: "zstd level (1-19).")
    var level: Int = 3

    @Option(
        name: .customLong("chunk-size"),
        help: "Chunk size: bytes, or with a K or M suffix (KiB, MiB), 256 to 64M (default: the codec's: 256K none, 64K lz4, 32K zstd). Larger chunks compress better; a lookup decompresses up to one.")
    var chunkSize: String?

    @Option(name: .customLong("max-age-days"), help: "Retention: remove completed sessions older than this (with --all).")
    var maxAgeDays: Double?

    @Option(name: .customLong("max-total-bytes"), help: "Retention: remove the oldest completed sessions until the store is this small (with --all).")
    var maxTotalBytes: Int64?

    @Flag(name: .customLong("dry-run"), help: "Report what would be done; change nothing.")
    var dryRun = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    /// For the crash tool (`Tools/crash`): the process kills itself with SIGKILL when the
    /// compaction reaches this phase, so every phase of the switch is crashed at on purpose.
    @Option(name: .customLong("crash-at"), help: .hidden)
    var crashAt: String?

    @OptionGroup var remote: RemoteListingOptions

    func validate() throws {
        let given = [session != nil, sessionFlags.session != nil, all].filter { $0 }.count
        if given != 1 { throw ValidationError("give one of: a session, --session S, --all") }
        if let codec, Codec(name: codec) == nil { throw ValidationError("--codec must be none, lz4 or zstd, not '\(codec)'") }
        if !(1...19).contains(level) { throw ValidationError("--level must be 1-19") }
        if let chunkSize {
            guard let bytes = Self.byteCount(chunkSize), LogOptions.chunkSizeBytesRange.contains(bytes) else {
                throw ValidationError("--chunk-size must be 256 to 64M (bytes, or with a K or M suffix), not '\(chunkSize)'")
            }
        }
        if (maxAgeDays != nil || maxTotalBytes != nil) && !all { throw ValidationError("retention options go with --all") }
        if remote.enabled && (all || dryRun) { throw ValidationError("--remote compacts one session (no --all, no --dry-run)") }
        if let crashAt, CompactionPhase(rawValue: crashAt) == nil {
            throw ValidationError("--crash-at must be one of \(CompactionPhase.allCases.map(\.rawValue).joined(separator: ", ")), not '\(crashAt)'")
        }
    }

    func run() async throws {
        if remote.enabled {
            try await compactRemote()
            return
        }
        let store = try storeOptions.open()
        var total = CompactionReport()
        total.dryRun = dryRun
        try reporting {
            if all {
                total.removedSessions = try store.applyRetention(
                    maxAgeSeconds: maxAgeDays.map { $0 * 86400 }, maxTotalBytes: maxTotalBytes, dryRun: dryRun)
            }
            // --all leaves alone the entries read in place from a bucket (`compact NAME --remote`).
            let sessions = all
                ? try store.sessions().filter { !total.removedSessions.contains($0.name) && !store.isReadInPlace($0) }
                : [try store.session(sessionFlags.selector ?? session!, type: sessionFlags.type)]
            for m in sessions {
                let progress = Progress("compact \(m.name)", total: m.recordCount)
                let crashPhase = crashAt.flatMap(CompactionPhase.init(rawValue:))
                let r = try store.compact(
                    m, codec: codec.flatMap { Codec(name: $0) }, level: level, chunkSizeBytes: chunkSize.flatMap(Self.byteCount), dryRun: dryRun,
                    progress: { progress.update($0) },
                    phases: { (phase) throws(StorageError) in if phase == crashPhase { ProcessCrash.now() } })
                progress.finish()
                total.sessions += r.sessions
                total.segmentsBefore += r.segmentsBefore
                total.segmentsAfter += r.segmentsAfter
                total.bytesBefore += r.bytesBefore
                total.bytesAfter += r.bytesAfter
            }
        }
        if json {
            try Output.json(total)
            return
        }
        for name in total.removedSessions { Output.line("\(dryRun ? "would remove" : "removed") \(name) (retention)") }
        Output.line(
            "\(dryRun ? "dry run: " : "")\(total.sessions.count) sessions, segments \(total.segmentsBefore) -> \(total.segmentsAfter), "
                + "\(Output.bytes(Int(total.bytesBefore))) -> \(Output.bytes(Int(total.bytesAfter))), reclaimed \(Output.bytes(Int(max(0, total.reclaimedBytes))))\(dryRun ? " (estimated; nothing changed)" : "")")
    }
}

extension CompactCommand {
    /// `--remote`: pull into a temporary store, compact there, push back replacing the manifest read.
    func compactRemote() async throws {
        let store = try storeOptions.open(create: true)
        let sessions = try remote.remoteOptions.open(store: store)
        let scratchPath = FileManager.default.temporaryDirectory.path + "/rrlog-compact-\(getpid())-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratchPath) }
        do {
            try await reportingRemote { try await sessions.checkConditionalWrites() }
            let found = try await reportingRemote { try await sessions.find(sessionFlags.selector ?? session ?? "", type: sessionFlags.type) }
            let scratch = try reporting { try Store(path: scratchPath) }
            let local = try await reportingRemote { try await sessions.pull(found, into: scratch) }
            let report = try reporting {
                try scratch.compact(local, codec: codec.flatMap { Codec(name: $0) }, level: level, chunkSizeBytes: chunkSize.flatMap(Self.byteCount))
            }
            let compacted = scratch.session(id: local.id) ?? local
            let pushed = try await reportingRemote { try await sessions.push(compacted, from: scratch, replacing: found) }
            Output.line(
                "compacted \(found.session.name) in \(sessions.url("")): segments \(report.segmentsBefore) -> \(report.segmentsAfter), "
                    + "\(Output.bytes(Int(report.bytesBefore))) -> \(Output.bytes(Int(report.bytesAfter))); \(pushed.uploaded) objects uploaded; "
                    + "the old ones stay for readers until 'rrlog gc'")
        } catch {
            await sessions.close()
            throw error
        }
        await sessions.close()
    }

    /// "4096", "256K", "1M" (also "256KiB", "1MiB"): bytes; nil when it is not such a size.
    static func byteCount(_ text: String) -> Int? {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        var scale = 1
        for (suffix, factor) in [("KiB", 1 << 10), ("MiB", 1 << 20), ("K", 1 << 10), ("k", 1 << 10), ("M", 1 << 20), ("m", 1 << 20)] where digits.hasSuffix(suffix) {
            digits = digits.dropLast(suffix.count)
            scale = factor
            break
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let n = Int(digits), n >= 0, n <= Int.max / scale else { return nil }
        return n * scale
    }
}

struct ReindexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex", abstract: "Rebuild the catalog from the session manifests and segments alone.",
        discussion: """
            With --remote: every committed session in the bucket that this store lacks is added as an entry \
            read in place: its remote index is fetched (one GET), nothing else; every read command then works \
            on it, fetching the chunks and key slots it touches. 'rrlog pull NAME' downloads one instead.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @OptionGroup var remote: RemoteListingOptions

    func run() async throws {
        if remote.enabled {
            try await attachRemoteSessions(store: try storeOptions.open(create: true), options: remote.remoteOptions)
            return
        }
        let progress = Progress("reindex", total: 1)
        let report = try reporting { try Store.reindex(path: storeOptions.store) { done, total in progress.update(done, of: total) } }
        progress.finish()
        for s in report.skipped { Output.error("skipped \(s)") }
        Output.line("reindexed \(report.sessions) sessions")
        if !report.skipped.isEmpty { throw ExitCode(1) }
    }
}

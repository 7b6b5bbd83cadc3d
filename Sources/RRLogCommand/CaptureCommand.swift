import ArgumentParser
import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogInterop
import RRLogOTLPHTTP
import RRLogRemote
import RRLogStorage
import Synchronization

/// `rrlog capture`: an OTLP/HTTP receiver storing what it receives into a capture session.
struct CaptureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture", abstract: "Receive OTLP/HTTP (traces, metrics, logs) into a capture session.",
        discussion: """
            Listens for POST /v1/traces, /v1/metrics and /v1/logs with application/x-protobuf or \
            application/json bodies, optionally gzip, and stores every request as it was (session type \
            capture, created when missing). A 200 is sent only once the request is written (--durability). \
            Answers as OTLP/HTTP says: 200 with an empty response, 400 \
            for a malformed body, 413 above --max-body-bytes, 415 for another content type. SIGINT or \
            SIGTERM stops it: it stops accepting, writes what was received, closes the session and \
            prints the totals. With --push-to s3://bucket/prefix, each segment is uploaded as it seals and the \
            bucket's manifest follows (FORMAT-REMOTE.md's commit rule); the last one goes up at the end. After a \
            crash, the next capture into the session (or 'rrlog push') uploads what is missing.
            """)

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "The capture session (created when missing).")
    var session: String

    @Option(help: "HOST:PORT to listen on (loopback by default; port 0 picks a free one).")
    var listen: String = "127.0.0.1:4318"

    @Option(name: .customLong("max-body-bytes"), help: "The largest request body, before and after gzip decompression.")
    var maxBodyBytes: Int = GzipDecoder.decompressedSizeBytesMax

    @Option(help: "Comma-separated signals to accept: traces,metrics,logs (a POST to another gets 404).")
    var signals: String = "traces,metrics,logs"

    @Option(help: "The session's description (when this run creates it).")
    var description: String?

    @Option(name: .customLong("max-size-mb"), help: "Complete the session once it holds this many MB of record data.")
    var maxSizeMB: Double?

    @Option(name: .customLong("max-duration-minutes"), help: "Complete the session after capturing for this many minutes.")
    var maxDurationMinutes: Double?

    @Option(help: "How records are compressed as they are written: lz4 (the default), zstd or none.")
    var codec: String = "lz4"

    @Option(help: "When a 200 is sent: none (written to the OS: a crash of rrlog loses nothing), every-batch (also fsynced: a machine crash loses nothing; concurrent requests share fsyncs), interval (fsync every 200 ms).")
    var durability: String = "none"

    @OptionGroup var segmentSize: SegmentSizeOption

    @Option(name: .customLong("push-to"), help: "Upload each segment as it seals to this remote, s3://bucket/prefix (credentials from the environment or a profile).")
    var pushTo: String?

    @OptionGroup var connection: S3ConnectionOptions

    func validate() throws {
        _ = try Self.parseListen(listen)
        if let pushTo, !pushTo.hasPrefix("s3://") { throw ValidationError("--push-to must be s3://bucket/prefix, not '\(pushTo)'") }
        guard ["none", "interval", "every-batch"].contains(durability) else {
            throw ValidationError("--durability must be none, interval or every-batch, not '\(durability)'")
        }
        guard maxBodyBytes > 0 else { throw ValidationError("--max-body-bytes must be positive") }
        _ = try parsedSignals()
        guard Codec(name: codec) != nil else { throw ValidationError("--codec must be lz4, zstd or none, not '\(codec)'") }
        if let maxSizeMB, !(maxSizeMB > 0 && maxSizeMB <= 1e9) { throw ValidationError("--max-size-mb must be more than 0") }
        if let maxDurationMinutes, !(maxDurationMinutes > 0 && maxDurationMinutes <= 1e7) { throw ValidationError("--max-duration-minutes must be more than 0") }
    }

    func parsedSignals() throws -> Set<OTLPSignal> {
        try parseSignals(signals)
    }

    /// HOST:PORT, [IPv6]:PORT, :PORT or PORT.
    static func parseListen(_ text: String) throws -> (host: String, port: Int) {
        var host = "127.0.0.1"
        var portText = text
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ValidationError("--listen: '\(text)' is not HOST:PORT") }
            host = String(text[text.index(after: text.startIndex)..<close])
            portText = String(text[text.index(after: close)...])
            guard portText.hasPrefix(":") else { throw ValidationError("--listen: '\(text)' is not [HOST]:PORT") }
            portText.removeFirst()
        } else if let colon = text.lastIndex(of: ":") {
            let h = String(text[..<colon])
            if !h.isEmpty { host = h }
            portText = String(text[text.index(after: colon)...])
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ValidationError("--listen: '\(text)' has no valid port (0-65535)")
        }
        return (host, port)
    }

    /// A listening failure in plain words (never a raw NIO error text).
    static func describe(_ error: any Error, host: String, port: Int) -> String {
        let text = "\(error)"
        if text.contains("Address already in use") || text.contains("EADDRINUSE") {
            return "cannot listen on \(host):\(port): the address is already in use (another capture or program listens there; pick another --listen port)"
        }
        if text.contains("Cannot assign requested address") || text.contains("EADDRNOTAVAIL") {
            return "cannot listen on \(host):\(port): no interface of this machine has that address"
        }
        if text.contains("Permission denied") || text.contains("EACCES") {
            return "cannot listen on \(host):\(port): permission denied (ports below 1024 need privileges)"
        }
        if text.contains("bind") || text.contains("NIO") {
            return "cannot listen on \(host):\(port): \(text.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? text)"
        }
        return text
    }

    /// A writer for the capture session `session`: an existing capture session (which must hold
    /// OTLP data or nothing) continues, else a new one is made; `created` says which.
    static func openWriter(
        _ store: Store, session: String, description: String, listen: String, options: LogOptions
    ) throws -> (writer: SessionWriter, created: Bool) {
        try reporting {
            let manifest: SessionManifest
            var created = false
            if let existing = try? store.session(session) {
                guard existing.type == "capture" else {
                    throw CommandFailure(message: "session '\(session)' exists and is of type \(existing.type), not capture")
                }
                try SessionContent(existing).checkAccepts(.otlp, session: existing.name)
                manifest = existing
            } else {
                manifest = try store.createSession(
                    name: session, type: "capture", description: description, annotations: ["redaction": "off", "capture.listen": listen])
                created = true
            }
            return (try store.openWriter(manifest, options: options), created)
        }
    }

    func run() async throws {
        let (host, port) = try Self.parseListen(listen)
        let store = try storeOptions.open(create: true)
        var logOptions = LogOptions()
        logOptions.durability = durability == "every-batch" ? .everyBatch : (durability == "interval" ? .interval(milliseconds: 200) : .none)
        logOptions.codec = Codec(name: codec) ?? .lz4
        segmentSize.apply(to: &logOptions)
        // --push-to: the bucket is checked before anything is captured.
        var remote: RemoteSessions?
        if let pushTo {
            var options = RemoteOptions()
            options.remote = pushTo
            options.connection = connection
            let opened = try options.open(store: store)
            do { try await reportingRemote { try await opened.checkConditionalWrites() } } catch {
                await opened.close()
                throw error
            }
            remote = opened
        }
        let (writer, created) = try Self.openWriter(
            store, session: session, description: description ?? "OTLP/HTTP capture on \(host):\(port)", listen: "\(host):\(port)", options: logOptions)
        var serverOptions = OTLPCaptureOptions(host: host, port: port, maxBodyBytes: maxBodyBytes, handleSignals: true)
        serverOptions.signals = try parsedSignals()
        let server = OTLPCaptureServer(writer: writer, options: serverOptions)
        let name = session
        // The limits complete the session by themselves: the server is asked to stop as on Ctrl-C.
        let reason = LockedText()
        let limits: Task<Void, Never>? = maxSizeMB == nil && maxDurationMinutes == nil ? nil : Task { [maxSizeMB, maxDurationMinutes] in
            let started = ContinuousClock.now
            while !Task.isCancelled {
                if let maxDurationMinutes, ContinuousClock.now - started >= .nanoseconds(Int64(maxDurationMinutes * 60e9)) {
                    reason.set("--max-duration-minutes \(maxDurationMinutes) reached")
                    break
                }
                if let maxSizeMB, Double(writer.currentManifest.bytesStored) >= maxSizeMB * 1e6 {
                    reason.set("--max-size-mb \(maxSizeMB) reached")
                    break
                }
                try? await Task.sleep(for: .milliseconds(50))
            }
            if !Task.isCancelled { await server.stop() }
        }
        let uploader = remote.map { SegmentUploader(remote: $0, store: store, writer: writer) }
        let totals: OTLPCaptureTotals
        do {
            totals = try await server.run { boundHost, boundPort in
                let shown = boundHost.contains(":") ? "[\(boundHost)]" : boundHost
                FileHandle.standardError.write(Data("rrlog: capturing OTLP/HTTP into '\(name)' on http://\(shown):\(boundPort) (Ctrl-C to stop)\n".utf8))
            }
        } catch {
            await uploader?.stop()
            let manifest = try? writer.close(status: "failed")
            // Nothing was received (the port was taken, say): a session this run created goes.
            if created, let manifest, manifest.recordCount == 0 { try? store.remove(manifest) }
            throw CommandFailure(message: "capture failed: \(Self.describe(error, host: host, port: port))")
        }
        limits?.cancel()
        if let text = reason.get() { FileHandle.standardError.write(Data("rrlog: \(text): the capture completes\n".utf8)) }
        await uploader?.stop()
        let manifest = try reporting { try writer.close() }
        print("captured into \(manifest.name): \(totals.requests) requests, \(totals.spans) spans, \(totals.logRecords) log records, \(totals.dataPoints) data points (\(totals.refused) refused); \(manifest.recordCount) records stored")
        if let uploader {
            // The last segment sealed at close: the final push commits the whole session.
            do throws(RemoteError) {
                let report = try await uploader.remote.push(manifest, from: store)
                print("pushed \(manifest.name): \(uploader.uploaded + report.uploaded) segments uploaded -> \(uploader.remote.url(RemoteLayout.sessionDirectory(id: manifest.id)))")
                await uploader.remote.close()
            } catch {
                await uploader.remote.close()
                throw CommandFailure(message: "the capture is stored, but its last push failed: \(error); 'rrlog push \(manifest.name)' uploads what is missing")
            }
        }
    }
}

/// `capture --push-to`: pushes the session whenever a segment has sealed since the last push
/// (every second at most), so the bucket follows the capture a segment behind; a failed push is
/// reported and tried again at the next seal.
final class SegmentUploader: Sendable {
    let remote: RemoteSessions
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)
    private let counts = Mutex<(uploaded: Int, sealed: Int)>((0, 0))

    var uploaded: Int { counts.withLock { $0.uploaded } }

    init(remote: RemoteSessions, store: Store, writer: SessionWriter) {
        self.remote = remote
        let loop = Task { [self] in
            while !Task.isCancelled {
                await pushIfSealed(store: store, writer: writer)
                try? await Task.sleep(for: .seconds(1))
            }
        }
        task.withLock { $0 = loop }
    }

    /// Pushes the session when a segment sealed since the last push.
    private func pushIfSealed(store: Store, writer: SessionWriter) async {
        let manifest = writer.currentManifest
        let sealed = ((try? store.segmentFiles(manifest))?.files ?? []).filter(\.isSealed).count
        guard sealed > counts.withLock({ $0.sealed }) else { return }
        do throws(RemoteError) {
            let report = try await remote.push(manifest, from: store)
            counts.withLock { $0 = ($0.uploaded + report.uploaded, sealed) }
        } catch {
            FileHandle.standardError.write(Data("rrlog: pushing the sealed segments of \(manifest.name) failed (tried again at the next seal): \(error)\n".utf8))
            counts.withLock { $0.sealed = sealed }
        }
    }

    /// Stops pushing (waits for a push under way to end).
    func stop() async {
        guard let loop = task.withLock({ $0 }) else { return }
        loop.cancel()
        await loop.value
    }
}

/// A line of text set by one task and read by another.
final class LockedText: Sendable {
    private let text = Mutex<String?>(nil)

    func set(_ value: String) { text.withLock { $0 = value } }
    func get() -> String? { text.withLock { $0 } }
}

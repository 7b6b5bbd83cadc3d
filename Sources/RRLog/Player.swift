import Foundation
public import Logging
public import RRLogCatalog
import RRLogFormat
public import RRLogStorage

/// What a player does when a call was not recorded.
public enum ReplayMode: String, Sendable, CaseIterable {
    /// A miss is an error.
    case strict
    /// A miss is logged and reported in the statistics; the caller goes live.
    case warn
    /// Replay what matches; call live for the rest and record those calls into a new session.
    case hybrid
}

/// What a player does when the recording's provenance differs from the one expected.
public enum ProvenancePolicy: String, Sendable {
    /// Log the differences and replay anyway.
    case warn
    /// Refuse to open the recording.
    case refuse
}

/// One provenance field that differs between the recording and the replay.
public struct ProvenanceDifference: Sendable, Equatable, CustomStringConvertible {
    /// `git_sha`, `config_digest`, `model_ids` or `seeds`.
    public var field: String
    /// What the recording says.
    public var recorded: String
    /// What the replay expected.
    public var expected: String

    public var description: String { "\(field): recorded \(recorded), expected \(expected)" }
}

/// Why a call was not replayed; each case is a different situation for the user to fix.
public enum ReplayError: Error, Sendable, CustomStringConvertible {
    /// No recording by that name (or strategy) exists.
    case noSuchRecording(String)
    /// The recording has no call with these inputs; the report says what is closest.
    case noMatch(MismatchReport)
    /// Identical calls were recorded, but fewer than this one's call index.
    case exhausted(ioType: String, tool: String, agent: String, recorded: UInt32, callIndex: UInt32)
    /// The recording was made from other code, config, models or seeds (policy refuse).
    case provenanceMismatch([ProvenanceDifference])
    /// Reading the recording failed.
    case storage(RRLogError)
    /// A live call in warn or hybrid mode failed.
    case live(String)

    public var description: String {
        switch self {
        case .noSuchRecording(let name): return "no such recording: \(name)"
        case .noMatch(let report): return report.description
        case .exhausted(let io, let tool, let agent, let recorded, let index):
            return "recorded calls exhausted for \(io)/\(tool)/\(agent): \(recorded) identical call(s) recorded, this is call #\(index) (from 0)"
        case .provenanceMismatch(let diffs):
            return "the recording's provenance differs: " + diffs.map(\.description).joined(separator: "; ")
        case .storage(let e): return e.description
        case .live(let message): return "live call failed: \(message)"
        }
    }
}

/// A miss, as data: the call that was asked for and the closest recorded calls with field-level
/// differences of their inputs.
public struct MismatchReport: Sendable, CustomStringConvertible {
    /// The call asked for.
    public var identity: IOCallIdentity
    /// Its call index.
    public var callIndex: UInt32
    /// The closest recorded calls, best first.
    public var closest: [SessionReader.NearMiss]

    public var description: String {
        var lines = ["no recorded call matches \(identity.ioType)/\(identity.tool)/\(identity.agent) with these inputs (call #\(callIndex))"]
        if closest.isEmpty { lines.append("  the recording has no calls") }
        for (i, miss) in closest.enumerated() {
            let who = ["io_type", "tool_name", "agent_id"].map { miss.recorded[$0]?.stringValue ?? "?" }.joined(separator: "/")
            lines.append("  closest #\(i + 1): sequence \(miss.sequence) \(who), \(miss.differences.count) differing field(s)")
            for d in miss.differences.prefix(8) {
                lines.append("    \(d.path): recorded \(d.recorded?.serialized() ?? "(absent)"), given \(d.given?.serialized() ?? "(absent)")")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Counts of a replay.
public struct ReplayStatistics: Sendable, Equatable {
    /// Per io type, or in total.
    public struct Counts: Sendable, Equatable {
        /// Lookups made.
        public var lookups = 0
        /// Lookups answered from the recording.
        public var hits = 0
        /// Lookups with no recorded call for the inputs.
        public var misses = 0
        /// Lookups past the recorded identical calls.
        public var exhausted = 0
        /// Share of lookups that hit, 0...1 (1 when none were made).
        public var successRate: Double { lookups == 0 ? 1 : Double(hits) / Double(lookups) }
    }
    /// All lookups.
    public var total = Counts()
    /// Lookups by io type.
    public var byIOType: [String: Counts] = [:]
    /// Mismatch reports of the misses, in order (at most 100 kept).
    public var mismatches: [String] = []
}

/// A recorded call, found.
public struct ReplayedCall: Sendable {
    /// The whole recorded line.
    public var line: JSONValue
    /// Its `outputs` (null for a stream start).
    public var outputs: JSONValue
    /// Its IO key.
    public var key: IOKey
    /// Its sequence number in the session.
    public var sequence: UInt64
}

/// Replays a recorded session: recorded outputs by IO key in O(1), streams with their timing,
/// checkpoints. Thread-safe.
public final class Player: @unchecked Sendable {
    /// The recording's manifest.
    public let manifest: SessionManifest
    /// The mode.
    public let mode: ReplayMode
    /// Provenance differences found when opening (empty when equal or not checked).
    public let provenanceDifferences: [ProvenanceDifference]
    let reader: SessionReader
    let store: Store
    let redaction: Redaction
    let volatile: VolatilePaths
    private let logger: Logger
    private let lock = NSLock()
    /// Serialises the use of `reader`: a `LogReader` keeps a cache of decompressed chunks and one
    /// decompressor, so it serves one thread at a time, and `Player` is used from many.
    private let readerLock = NSLock()
    private var counter = CallIndexCounter()
    private var stats = ReplayStatistics()
    private var hybridRecorder: Recorder?

    /// Opens the recording `session` (a name, id or strategy such as `latest`) for replay.
    /// `redaction` must match the recording's (the default does), since IO keys are derived
    /// from redacted inputs. With `expectedProvenance`, differences are logged or refused.
    public init(
        store: Store, session: String, type: String? = nil, mode: ReplayMode = .strict, redaction: Redaction = .default,
        expectedProvenance: SessionManifest.Provenance? = nil, provenancePolicy: ProvenancePolicy = .warn,
        fromCheckpoint: String? = nil, logger: Logger = Logger(label: "rrlog.player")
    ) throws(ReplayError) {
        let manifest: SessionManifest
        do { manifest = try store.session(session, type: type) } catch {
            if error.code == .noSuchSession { throw .noSuchRecording(session) }
            throw .storage(error)
        }
        do { reader = try store.openReader(manifest) } catch { throw .storage(error) }
        self.manifest = manifest
        self.store = store
        self.mode = mode
        self.redaction = SessionRedaction.isOff(manifest) ? .disabled : redaction
        self.volatile = reader.volatilePaths
        self.logger = logger
        var diffs: [ProvenanceDifference] = []
        if let expected = expectedProvenance {
            let recorded = manifest.provenance
            func check(_ field: String, _ a: String?, _ b: String?) {
                if let b, a != b { diffs.append(ProvenanceDifference(field: field, recorded: a ?? "(none)", expected: b)) }
            }
            check("git_sha", recorded.gitSHA, expected.gitSHA)
            check("config_digest", recorded.configDigest, expected.configDigest)
            if !expected.modelIDs.isEmpty, recorded.modelIDs != expected.modelIDs {
                diffs.append(ProvenanceDifference(field: "model_ids", recorded: recorded.modelIDs.joined(separator: ","), expected: expected.modelIDs.joined(separator: ",")))
            }
            if !expected.seeds.isEmpty, recorded.seeds != expected.seeds {
                diffs.append(ProvenanceDifference(field: "seeds", recorded: recorded.seeds.map(String.init).joined(separator: ","), expected: expected.seeds.map(String.init).joined(separator: ",")))
            }
        }
        provenanceDifferences = diffs
        if !diffs.isEmpty {
            if provenancePolicy == .refuse { throw .provenanceMismatch(diffs) }
            logger.warning("replaying \(manifest.name) recorded with other provenance: \(diffs.map(\.description).joined(separator: "; "))")
        }
        if let label = fromCheckpoint { try skip(toCheckpoint: label) }
    }

    /// The checkpoints of the recording, in order.
    public func checkpoints() -> [(label: String, sequence: UInt64, timestampNs: Int64)] {
        var out: [(String, UInt64, Int64)] = []
        readerLock.lock()
        defer { readerLock.unlock() }
        reader.forEach(kinds: [RecordKind.checkpoint.rawValue]) { view in
            if let line = try? JSONValue.parse(Array(view.payload)) { out.append((line["label"]?.stringValue ?? "", view.sequence, view.timestampNs)) }
            return true
        }
        return out
    }

    /// Makes the player start after the checkpoint `label`: the calls recorded before it count as
    /// already replayed, so call indexes continue where the recording was.
    private func skip(toCheckpoint label: String) throws(ReplayError) {
        guard let mark = checkpoints().first(where: { $0.label == label }) else {
            throw .noMatch(MismatchReport(identity: IOCallIdentity(ioType: "checkpoint", tool: label, agent: "", inputs: .null), callIndex: 0, closest: []))
        }
        var counter = CallIndexCounter()
        _ = readerLock.withLock {
            reader.forEach(kinds: [RecordKind.event.rawValue, RecordKind.streamStart.rawValue]) { view in
                if view.sequence > mark.sequence { return false }
                if let line = try? JSONValue.parse(Array(view.payload)), let identity = IOCallIdentity(event: line) {
                    _ = counter.next(for: IOKey.callDigest(for: identity, volatile: volatile))
                }
                return true
            }
        }
        lock.lock()
        self.counter = counter
        lock.unlock()
    }

    // MARK: Lookups

    /// The recorded answer to the next call with these inputs (call indexes advance per
    /// identical call, as when recording). In strict mode, and for lookups, a miss throws.
    public func lookup(ioType: String, agent: String = "", tool: String, inputs: JSONValue) throws(ReplayError) -> ReplayedCall {
        let identity = clean(ioType: ioType, agent: agent, tool: tool, inputs: inputs)
        let digest = IOKey.callDigest(for: identity, volatile: volatile)
        lock.lock()
        let index = counter.next(for: digest)
        lock.unlock()
        return try find(identity, digest: digest, callIndex: index)
    }

    /// The recorded answer for an explicit call index (does not advance the counter).
    public func lookup(ioType: String, agent: String = "", tool: String, inputs: JSONValue, callIndex: UInt32) throws(ReplayError) -> ReplayedCall {
        let identity = clean(ioType: ioType, agent: agent, tool: tool, inputs: inputs)
        return try find(identity, digest: IOKey.callDigest(for: identity, volatile: volatile), callIndex: callIndex)
    }

    private func clean(ioType: String, agent: String, tool: String, inputs: JSONValue) -> IOCallIdentity {
        var ignored: [String] = []
        return IOCallIdentity(ioType: ioType, tool: tool, agent: agent, inputs: redaction.apply(inputs, prefix: "inputs", redacted: &ignored))
    }

    private func find(_ identity: IOCallIdentity, digest: [UInt8], callIndex: UInt32) throws(ReplayError) -> ReplayedCall {
        let key = IOKey(callDigest: digest, callIndex: callIndex)!
        if let record = readerLock.withLock({ reader.record(for: key) }), let line = IOLine.parse(record.payload, timestampNs: record.timestampNs) {
            count(identity.ioType) { $0.hits += 1 }
            return ReplayedCall(line: line, outputs: line["outputs"] ?? .null, key: key, sequence: record.sequence)
        }
        if callIndex > 0, readerLock.withLock({ reader.record(for: IOKey(callDigest: digest, callIndex: 0)!) }) != nil {
            let recorded: UInt32 = readerLock.withLock {
                var n: UInt32 = 1
                while reader.record(for: IOKey(callDigest: digest, callIndex: n)!) != nil { n += 1 }
                return n
            }
            count(identity.ioType) { $0.exhausted += 1 }
            throw .exhausted(ioType: identity.ioType, tool: identity.tool, agent: identity.agent, recorded: recorded, callIndex: callIndex)
        }
        let report = MismatchReport(identity: identity, callIndex: callIndex, closest: readerLock.withLock { reader.closestCalls(to: identity) })
        count(identity.ioType) { $0.misses += 1 }
        lock.lock()
        if stats.mismatches.count < 100 { stats.mismatches.append(report.description) }
        lock.unlock()
        throw .noMatch(report)
    }

    private func count(_ ioType: String, _ update: (inout ReplayStatistics.Counts) -> Void) {
        lock.lock()
        stats.total.lookups += 1
        update(&stats.total)
        var c = stats.byIOType[ioType, default: .init()]
        c.lookups += 1
        update(&c)
        stats.byIOType[ioType] = c
        lock.unlock()
    }

    /// Starts faulting the recording's files in on a background thread (`SessionReader.prefault()`),
    /// so that the lookups of a replay of a large session take no page faults. Returns at once.
    @discardableResult
    public func prefault() -> Prefault { readerLock.withLock { reader.prefault() } }

    /// Lookups, hits, misses and exhausted calls so far, in total and per io type.
    public var statistics: ReplayStatistics {
        lock.lock()
        defer { lock.unlock() }
        return stats
    }

    /// Replays a call: the recorded outputs when there are some; otherwise, by mode, an error
    /// (strict), or `live()` (warn: logged; hybrid: also recorded into a new session).
    public func call(
        ioType: String, agent: String = "", tool: String, inputs: JSONValue, live: () async throws -> JSONValue
    ) async throws(ReplayError) -> JSONValue {
        do {
            return try lookup(ioType: ioType, agent: agent, tool: tool, inputs: inputs).outputs
        } catch {
            switch error {
            case .noMatch, .exhausted:
                if mode == .strict { throw error }
                logger.warning("replay miss, calling live: \(error.description)")
                let outputs: JSONValue
                do { outputs = try await live() } catch { throw .live("\(error)") }
                if mode == .hybrid { try hybrid().record(ioType: ioType, agent: agent, tool: tool, inputs: inputs, outputs: outputs) }
                return outputs
            default:
                throw error
            }
        }
    }

    private func hybrid() throws(ReplayError) -> Recorder {
        lock.lock()
        defer { lock.unlock() }
        if let hybridRecorder { return hybridRecorder }
        var options = RecordingOptions(name: "\(manifest.name)-hybrid-\(Int(Date().timeIntervalSince1970 * 1000))")
        options.description = "calls made live while replaying \(manifest.name) in hybrid mode"
        options.provenance = manifest.provenance
        options.redaction = redaction
        options.volatilePaths = volatile.paths
        options.tags = ["hybrid"]
        do { hybridRecorder = try Recorder.start(store: store, options: options) } catch { throw .storage(error) }
        return hybridRecorder!
    }

    /// Ends the replay; in hybrid mode stops the recorder of live calls and returns its summary.
    @discardableResult
    public func finish() async throws(ReplayError) -> RecordingSummary? {
        let recorder: Recorder? = takeHybrid()
        guard let recorder else { return nil }
        do { return try await recorder.stop() } catch { throw .storage(error) }
    }

    private func takeHybrid() -> Recorder? {
        lock.lock()
        defer { lock.unlock() }
        let r = hybridRecorder
        hybridRecorder = nil
        return r
    }

    // MARK: Streams

    /// The recorded stream answering this call (call indexes advance as for `lookup`).
    public func stream(ioType: String, agent: String = "", tool: String, inputs: JSONValue) throws(ReplayError) -> ReplayedStream {
        let call = try lookup(ioType: ioType, agent: agent, tool: tool, inputs: inputs)
        guard let streamID = call.line["stream_id"]?.stringValue else {
            throw .noMatch(MismatchReport(identity: IOCallIdentity(ioType: ioType, tool: tool, agent: agent, inputs: inputs), callIndex: 0, closest: []))
        }
        let startNs = call.line["ts_ns"]?.int64Value ?? 0
        var chunks: [StreamChunk] = []
        readerLock.lock()
        defer { readerLock.unlock() }
        reader.forEach(kinds: [RecordKind.chunk.rawValue, RecordKind.streamFinish.rawValue], fromSequence: call.sequence) { view in
            guard let line = try? JSONValue.parse(Array(view.payload)), line["stream_id"]?.stringValue == streamID else { return true }
            if line["type"]?.stringValue == "stream_finish" { return false }
            chunks.append(StreamChunk(
                index: Int(line["index"]?.int64Value ?? Int64(chunks.count)), content: line["content"]?.stringValue ?? "",
                metadata: line["metadata"], offsetNs: max(0, view.timestampNs - startNs), isFinal: line["is_final"]?.boolValue ?? false))
            return true
        }
        return ReplayedStream(id: streamID, call: call, chunks: chunks)
    }
}

/// One chunk of a replayed stream.
public struct StreamChunk: Sendable, Equatable {
    /// Its index in the stream.
    public var index: Int
    /// Its text.
    public var content: String
    /// Its metadata, if recorded.
    public var metadata: JSONValue?
    /// Nanoseconds after the stream started that it was recorded.
    public var offsetNs: Int64
    /// True for a chunk recorded as final.
    public var isFinal: Bool
}

/// A recorded stream, ready to be replayed with its timing.
public struct ReplayedStream: Sendable, Sequence {
    /// The stream's id.
    public var id: String
    /// The call that started it.
    public var call: ReplayedCall
    /// Its chunks, in order.
    public var chunks: [StreamChunk]

    /// A plain iterator over the chunks (no waiting).
    public func makeIterator() -> IndexingIterator<[StreamChunk]> { chunks.makeIterator() }

    /// The chunks with the recorded gaps between them, divided by `speed` (2 = twice as fast;
    /// nil = no waiting). Each chunk is due at an absolute instant computed from the stream's
    /// start, so sleeps never add up to drift. `clock` lets tests use a virtual clock.
    public func timed<C: Clock>(speed: Double?, clock: C) -> AsyncStream<StreamChunk> where C.Duration == Duration {
        let chunks = self.chunks
        return AsyncStream { continuation in
            let task = Task {
                let start = clock.now
                for chunk in chunks {
                    if let speed, speed > 0 {
                        let due = start.advanced(by: .nanoseconds(Int64((Double(chunk.offsetNs) / speed).rounded())))
                        do { try await clock.sleep(until: due, tolerance: nil) } catch { break }
                    }
                    continuation.yield(chunk)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// `timed(speed:clock:)` on the continuous clock.
    public func timed(speed: Double?) -> AsyncStream<StreamChunk> { timed(speed: speed, clock: ContinuousClock()) }

    /// The whole text.
    public var text: String { chunks.map(\.content).joined() }
}

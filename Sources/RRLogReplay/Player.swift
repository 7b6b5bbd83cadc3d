import Foundation
public import CoreMetrics
public import Logging
public import RRLogCatalog
import RRLogFormat
public import RRLogIOProfile
public import RRLogJSON
public import RRLogRecording
public import RRLogSessions
public import RRLogStorage
import Synchronization

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

extension ReplayError {
    /// A miss as JSON members for an answer to a program (`rrlog serve`'s lookup, `rrlog
    /// proxy`): `reason` (`no_match` or `exhausted`) and `call_index`, then `closest` (each
    /// with `sequence`, `io_type`, `tool_name`, `agent_id` and its field-by-field `differences`)
    /// or the number of identical calls `recorded`. Nil for errors that are not misses.
    public var missMembers: [String: JSONValue]? {
        switch self {
        case .noMatch(let report):
            let closest: [JSONValue] = report.closest.map { miss in
                [
                    "sequence": .int(Int64(miss.sequence)), "io_type": miss.recorded["io_type"] ?? .null, "tool_name": miss.recorded["tool_name"] ?? .null,
                    "agent_id": miss.recorded["agent_id"] ?? .null,
                    "differences": .array(miss.differences.map { d in
                        ["path": .string(d.path), "recorded": d.recorded ?? .null, "given": d.given ?? .null, "recorded_absent": .bool(d.recorded == nil), "given_absent": .bool(d.given == nil)]
                    }),
                ]
            }
            return ["reason": "no_match", "call_index": .int(Int64(report.callIndex)), "closest": .array(closest)]
        case .exhausted(_, _, _, let recorded, let callIndex):
            return ["reason": "exhausted", "call_index": .int(Int64(callIndex)), "recorded": .int(Int64(recorded))]
        default:
            return nil
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
/// checkpoints.
///
/// Any number of threads and tasks may replay through one player at once, and their lookups run
/// in parallel: the session's mapped segments are shared without a lock (`LogSnapshot`), call
/// indexes and statistics are kept in shards chosen by the call's digest (so lookups of
/// different calls rarely meet on a lock, and a lock is held only to bump a count), and a miss
/// builds its mismatch report by scanning the session with a reader of its own, holding nothing
/// that other lookups wait for.
///
/// Identical calls (same io type, tool, agent and inputs) replay in order: each lookup of a call
/// takes the next call index for it, atomically, so N identical lookups get the indexes 0..<N,
/// each exactly once. When identical calls are made concurrently, "in order" means the order in
/// which their lookups take an index: the first to get there gets the first recorded answer.
/// Their callers should therefore make identical calls that need distinct answers one after the
/// other, as they did when recording, or accept any assignment of those answers among them.
public final class Player: Sendable {
    /// The recording's manifest.
    public let manifest: SessionManifest
    /// The mode.
    public let mode: ReplayMode
    /// Provenance differences found when opening (empty when equal or not checked).
    public let provenanceDifferences: [ProvenanceDifference]
    /// The session's segments, shared by all lookups and scans.
    let log: LogSnapshot
    let store: Store
    let redaction: Redaction
    let volatile: VolatilePaths
    private let observed: Observability
    /// Call-index counters and statistics, sharded by the call's digest.
    private let shards: [PlayerShard]
    /// Mismatch reports of the misses, in order (at most `mismatchesKept`).
    private let mismatches = Mutex<[String]>([])
    // Qualified: CoreMetrics, imported for `MetricsFactory`, has a `Recorder` too.
    private let hybridRecorder = Mutex<RRLogRecording.Recorder?>(nil)

    /// Shards of call-index counting: a power of two, well above the threads that replay at once.
    static let shardCount = 16
    /// Mismatch reports kept for `ReplayStatistics.mismatches`.
    static let mismatchesKept = 100

    /// Opens the recording `session` (a name, id or strategy such as `latest`) for replay.
    /// `redaction` must match the recording's (the default does), since IO keys are derived
    /// from redacted inputs. With `expectedProvenance`, differences are logged or refused.
    public init(
        store: Store, session: String, type: String? = nil, mode: ReplayMode = .strict, redaction: Redaction = .default,
        expectedProvenance: SessionManifest.Provenance? = nil, provenancePolicy: ProvenancePolicy = .warn,
        fromCheckpoint: String? = nil, logger: Logger = Logger(label: "rrlog.player"), metrics: (any MetricsFactory)? = nil
    ) throws(ReplayError) {
        let manifest: SessionManifest
        do { manifest = try store.session(session, type: type) } catch {
            if error.code == .noSuchSession { throw .noSuchRecording(session) }
            throw .storage(error)
        }
        let reader: SessionReader
        do { reader = try store.openReader(manifest) } catch { throw .storage(error) }
        self.log = reader.log.snapshot
        self.manifest = manifest
        self.store = store
        self.mode = mode
        self.redaction = SessionRedaction.isOff(manifest) ? .disabled : redaction
        self.volatile = reader.volatilePaths
        self.observed = Observability(logger: logger, metrics: metrics)
        self.shards = (0..<Self.shardCount).map { _ in PlayerShard() }
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
            observed.count(Observability.CounterName.provenanceDifferences, [("policy", provenancePolicy.rawValue)])
            observed.log(
                provenancePolicy == .refuse ? .error : .warning, "replay.provenance_differs", session: manifest.name,
                "the recording's provenance differs: \(diffs.map(\.description).joined(separator: "; "))",
                ["rrlog.fields": .array(diffs.map { .string($0.field) }), "rrlog.policy": .string(provenancePolicy.rawValue)])
            if provenancePolicy == .refuse { throw .provenanceMismatch(diffs) }
        }
        if let label = fromCheckpoint { try skip(toCheckpoint: label) }
    }

    /// A reader of the shared segments for one scan: its own decompressor and chunk cache, no
    /// mapping of its own, nothing another lookup waits for.
    private func scanner() -> SessionReader {
        SessionReader(manifest: manifest, log: LogReader(sharing: log))
    }

    /// The shard that counts the calls with `digest`.
    private func shard(_ digest: [UInt8]) -> PlayerShard {
        shards[Int(digest.first ?? 0) & (Self.shardCount - 1)]
    }

    /// The checkpoints of the recording, in order.
    public func checkpoints() -> [(label: String, sequence: UInt64, timestampNs: Int64)] {
        var out: [(String, UInt64, Int64)] = []
        scanner().forEach(kinds: [RecordKind.checkpoint.rawValue]) { view in
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
        scanner().forEach(kinds: [RecordKind.event.rawValue, RecordKind.streamStart.rawValue]) { view in
            if view.sequence > mark.sequence { return false }
            if let line = try? JSONValue.parse(Array(view.payload)), let identity = IOCallIdentity(event: line) {
                let digest = IOKey.callDigest(for: identity, volatile: volatile)
                _ = shard(digest).state.withLock { $0.counter.next(for: digest) }
            }
            return true
        }
    }

    // MARK: Lookups

    /// The recorded answer to the next call with these inputs (call indexes advance per
    /// identical call, as when recording). In strict mode, and for lookups, a miss throws.
    public func lookup(ioType: String, agent: String = "", tool: String, inputs: JSONValue) throws(ReplayError) -> ReplayedCall {
        let identity = clean(ioType: ioType, agent: agent, tool: tool, inputs: inputs)
        let digest = IOKey.callDigest(for: identity, volatile: volatile)
        let index = shard(digest).state.withLock { $0.counter.next(for: digest) }
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

    /// The stored record for `key`, from the shared segments.
    private func record(for key: IOKey) -> Record? {
        key.withUnsafeBytes { log.lookupFirst(key: $0) }
    }

    private func find(_ identity: IOCallIdentity, digest: [UInt8], callIndex: UInt32) throws(ReplayError) -> ReplayedCall {
        let key = IOKey(callDigest: digest, callIndex: callIndex)!
        if let record = record(for: key), let line = IOLine.parse(record.payload, timestampNs: record.timestampNs) {
            count(identity.ioType, digest) { $0.hits += 1 }
            return ReplayedCall(line: line, outputs: line["outputs"] ?? .null, key: key, sequence: record.sequence)
        }
        if callIndex > 0, record(for: IOKey(callDigest: digest, callIndex: 0)!) != nil {
            var recorded: UInt32 = 1
            while record(for: IOKey(callDigest: digest, callIndex: recorded)!) != nil { recorded += 1 }
            count(identity.ioType, digest) { $0.exhausted += 1 }
            observed.count(Observability.CounterName.replayMisses, [("io_type", identity.ioType), ("reason", "exhausted")])
            observed.log(.warning, "replay.diverged", session: manifest.name, "more identical calls than were recorded", [
                "rrlog.io_type": .string(identity.ioType), "rrlog.tool": .string(identity.tool), "rrlog.agent": .string(identity.agent),
                "rrlog.call_index": .stringConvertible(callIndex), "rrlog.recorded": .stringConvertible(recorded),
            ])
            throw .exhausted(ioType: identity.ioType, tool: identity.tool, agent: identity.agent, recorded: recorded, callIndex: callIndex)
        }
        // The scan for the closest calls reads the shared segments with a reader of its own.
        let report = MismatchReport(identity: identity, callIndex: callIndex, closest: scanner().closestCalls(to: identity))
        count(identity.ioType, digest) { $0.misses += 1 }
        var metadata: Logger.Metadata = [
            "rrlog.io_type": .string(identity.ioType), "rrlog.tool": .string(identity.tool), "rrlog.agent": .string(identity.agent),
            "rrlog.call_index": .stringConvertible(callIndex), "rrlog.closest": .stringConvertible(report.closest.count),
        ]
        if let nearest = report.closest.first {
            metadata["rrlog.differing_paths"] = .array(nearest.differences.prefix(8).map { .string($0.path) })
        }
        observed.count(Observability.CounterName.replayMisses, [("io_type", identity.ioType), ("reason", "no_match")])
        observed.log(.warning, "replay.miss", session: manifest.name, "no recorded call matches", metadata)
        let text = report.description
        mismatches.withLock { if $0.count < Self.mismatchesKept { $0.append(text) } }
        throw .noMatch(report)
    }

    private func count(_ ioType: String, _ digest: [UInt8], _ update: (inout ReplayStatistics.Counts) -> Void) {
        shard(digest).state.withLock { state in
            state.stats.total.lookups += 1
            update(&state.stats.total)
            var c = state.stats.byIOType[ioType, default: .init()]
            c.lookups += 1
            update(&c)
            state.stats.byIOType[ioType] = c
        }
    }

    /// Starts faulting the recording's files in on a background thread (`LogSnapshot.prefault()`),
    /// so that the lookups of a replay of a large session take no page faults. Returns at once.
    @discardableResult
    public func prefault() -> Prefault { log.prefault() }

    /// Lookups, hits, misses and exhausted calls so far, in total and per io type.
    public var statistics: ReplayStatistics {
        var all = ReplayStatistics()
        for shard in shards {
            let part = shard.state.withLock { $0.stats }
            all.total.add(part.total)
            for (ioType, counts) in part.byIOType { all.byIOType[ioType, default: .init()].add(counts) }
        }
        all.mismatches = mismatches.withLock { $0 }
        return all
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
                observed.count(Observability.CounterName.replayLiveCalls, [("mode", mode.rawValue)])
                observed.log(.notice, "replay.live_call", session: manifest.name, "calling live after a miss", [
                    "rrlog.io_type": .string(ioType), "rrlog.tool": .string(tool), "rrlog.mode": .string(mode.rawValue),
                ])
                let outputs: JSONValue
                do { outputs = try await live() } catch { throw .live("\(error)") }
                if mode == .hybrid {
                    let recorder = try hybrid()
                    await recorder.recordSuspending(ioType: ioType, agent: agent, tool: tool, inputs: inputs, outputs: outputs)
                }
                return outputs
            default:
                throw error
            }
        }
    }

    /// The recorder that hybrid mode records live calls into (a new session named after this
    /// one, made at the first call), for callers that answer a miss themselves, such as a stream
    /// that `call` cannot take. Nil in strict and warn modes, which record nothing.
    public func liveCallRecorder() throws(ReplayError) -> RRLogRecording.Recorder? {
        mode == .hybrid ? try hybrid() : nil
    }

    private func hybrid() throws(ReplayError) -> RRLogRecording.Recorder {
        let result: Result<RRLogRecording.Recorder, RRLogError> = hybridRecorder.withLock { recorder in
            if let recorder { return .success(recorder) }
            var options = RecordingOptions(name: "\(manifest.name)-hybrid-\(Int(Date().timeIntervalSince1970 * 1000))")
            options.description = "calls made live while replaying \(manifest.name) in hybrid mode"
            options.provenance = manifest.provenance
            options.redaction = redaction
            options.volatilePaths = volatile.paths
            options.tags = ["hybrid"]
            options.observability = observed
            do throws(RRLogError) {
                let started = try RRLogRecording.Recorder.start(store: store, options: options)
                recorder = started
                return .success(started)
            } catch {
                return .failure(error)
            }
        }
        do { return try result.get() } catch { throw .storage(error) }
    }

    /// Ends the replay; in hybrid mode stops the recorder of live calls and returns its summary.
    @discardableResult
    public func finish() async throws(ReplayError) -> RecordingSummary? {
        guard let recorder = hybridRecorder.withLock({ recorder in
            defer { recorder = nil }
            return recorder
        }) else { return nil }
        do { return try await recorder.stop() } catch { throw .storage(error) }
    }

    // MARK: Streams

    /// The recorded stream answering this call (call indexes advance as for `lookup`).
    public func stream(ioType: String, agent: String = "", tool: String, inputs: JSONValue) throws(ReplayError) -> ReplayedStream {
        let call = try lookup(ioType: ioType, agent: agent, tool: tool, inputs: inputs)
        guard let stream = stream(of: call) else {
            throw .noMatch(MismatchReport(identity: IOCallIdentity(ioType: ioType, tool: tool, agent: agent, inputs: inputs), callIndex: 0, closest: []))
        }
        return stream
    }

    /// The recorded stream a call found by `lookup` started, with its chunks; nil when the call
    /// was answered whole (its line has no `stream_id`). For callers that take whichever form
    /// the recording holds, without a second lookup (which would take another call index).
    public func stream(of call: ReplayedCall) -> ReplayedStream? {
        guard let streamID = call.line["stream_id"]?.stringValue else { return nil }
        let startNs = call.line["ts_ns"]?.int64Value ?? 0
        var finish: JSONValue?
        var chunks: [StreamChunk] = []
        scanner().forEach(kinds: [RecordKind.chunk.rawValue, RecordKind.streamFinish.rawValue], fromSequence: call.sequence) { view in
            guard let line = try? JSONValue.parse(Array(view.payload)), line["stream_id"]?.stringValue == streamID else { return true }
            if line["type"]?.stringValue == "stream_finish" {
                finish = line["metadata"]
                return false
            }
            chunks.append(StreamChunk(
                index: Int(line["index"]?.int64Value ?? Int64(chunks.count)), content: line["content"]?.stringValue ?? "",
                metadata: line["metadata"], offsetNs: max(0, view.timestampNs - startNs), isFinal: line["is_final"]?.boolValue ?? false))
            return true
        }
        return ReplayedStream(id: streamID, call: call, chunks: chunks, finishMetadata: finish)
    }
}

/// One shard of a player's call counting: the call indexes taken and the statistics of the calls
/// whose digest maps to it.
final class PlayerShard: Sendable {
    struct State {
        var counter = CallIndexCounter()
        var stats = ReplayStatistics()
    }

    let state = Mutex(State())
}

extension ReplayStatistics.Counts {
    /// Adds `other`'s counts to these.
    mutating func add(_ other: Self) {
        lookups += other.lookups
        hits += other.hits
        misses += other.misses
        exhausted += other.exhausted
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
    /// The metadata its end was recorded with (`Recorder.finishStream`), such as the `error` that
    /// broke it off; nil when none was recorded, or the stream has no recorded end.
    public var finishMetadata: JSONValue? = nil

    /// A plain iterator over the chunks (no waiting).
    public func makeIterator() -> IndexingIterator<[StreamChunk]> { chunks.makeIterator() }

    /// When each chunk is due, counted from the start of the stream's replay: its recorded offset
    /// divided by `speed` (2 = twice as fast); every one at once (zero) when `speed` is nil or not
    /// above 0. The one timing rule of every paced replay (`play`, `timed`, `rrlog proxy`).
    public func dueOffsets(speed: Double?) -> [Duration] {
        guard let speed, speed > 0 else { return Array(repeating: .zero, count: chunks.count) }
        return chunks.map { .nanoseconds(Int64((Double($0.offsetNs) / speed).rounded())) }
    }

    /// Hands each chunk to `deliver` at its time (`dueOffsets(speed:)`). Each chunk is due at an
    /// absolute instant counted from the call, so sleeps never add up to drift; `deliver` gets
    /// the chunk and the instant it was due. Waits in the caller's task; `clock` lets tests use a
    /// virtual clock. Stops at the first error, or when the task is cancelled.
    public func play<C: Clock, E: Error>(
        speed: Double?, clock: C, _ deliver: (StreamChunk, C.Instant) async throws(E) -> Void
    ) async throws(E) where C.Duration == Duration {
        let start = clock.now
        let paced = speed.map { $0 > 0 } ?? false
        for (chunk, offset) in zip(chunks, dueOffsets(speed: speed)) {
            let due = start.advanced(by: offset)
            if paced {
                do { try await clock.sleep(until: due, tolerance: nil) } catch { return }
            }
            try await deliver(chunk, due)
        }
    }

    /// The chunks as an async sequence at their recorded times (`play(speed:clock:_:)`, run in a
    /// task of its own).
    public func timed<C: Clock>(speed: Double?, clock: C) -> AsyncStream<StreamChunk> where C.Duration == Duration {
        let stream = self
        return AsyncStream { continuation in
            let task = Task {
                await stream.play(speed: speed, clock: clock) { (chunk, _) throws(Never) in continuation.yield(chunk) }
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

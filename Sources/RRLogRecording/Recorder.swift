import Foundation
import Logging
public import RRLogCatalog
public import RRLogFormat
public import RRLogIOProfile
public import RRLogJSON
public import RRLogSessions
public import RRLogStorage

/// What a recorder does when its queue to the writer is full.
public enum QueueFullPolicy: Sendable, Equatable {
    /// The caller waits until the writer has made room (no record is lost): `record` blocks its
    /// thread, `recordSuspending` suspends its task.
    case block
    /// The record is dropped and counted in `RecordingSummary.dropped` (the caller never waits).
    case drop
}

/// How a recording is made.
public struct RecordingOptions: Sendable {
    /// The session's name (FORMAT of names: `Store.validateName`).
    public var name: String
    /// The session's type: recording, capture, seed or training.
    public var type: String = "recording"
    /// The task the recording belongs to, if any (kept as annotation `task_id`).
    public var taskID: String?
    /// Free text.
    public var description: String = ""
    /// Tags.
    public var tags: [String] = []
    /// Where the recording came from: git SHA, config digest, model ids, seeds, adapter.
    public var provenance = SessionManifest.Provenance()
    /// Chunk compression.
    public var codec: Codec = .lz4
    /// When records are fsynced (README "Durability").
    public var durability: Durability = .none
    /// Records the queue to the writer holds.
    public var queueCapacity: Int = 65_536
    /// What `record` does when the queue is full.
    public var whenQueueFull: QueueFullPolicy = .block
    /// Secrets removed before anything reaches disk; on by default.
    public var redaction: Redaction = .default
    /// Input paths left out of IO keys (FORMAT-IO-PROFILE.md §4), e.g. `headers.X-Request-Id`.
    public var volatilePaths: [String] = []
    /// Bytes at which a segment file is sealed and the next one begun: a recording rotates its
    /// files at this size (`segmentSizeBytesRange`; nil: 128 MiB, `LogOptions.segmentSizeBytesMax`).
    /// A file is sealed when the chunk that crosses the size closes, so files end up to one chunk
    /// larger.
    public var segmentSizeBytesMax: Int?

    /// Where the recording reports its start and stop (README "Events and metrics").
    public var observability = Observability(logger: Logger(label: "rrlog.recorder"))

    /// The segment sizes a recording accepts: 64 KiB to 1 TiB.
    public static let segmentSizeBytesRange = (64 << 10)...(1 << 40)

    /// Options for a session called `name`.
    public init(name: String) { self.name = name }
}

/// Totals of a finished recording.
public struct RecordingSummary: Sendable {
    /// The session's final manifest.
    public var manifest: SessionManifest
    /// IO events recorded.
    public var events: Int
    /// Streams started.
    public var streams: Int
    /// Stream chunks.
    public var chunks: Int
    /// Checkpoints.
    public var checkpoints: Int
    /// Records dropped because the queue was full (`QueueFullPolicy.drop`).
    public var dropped: Int
    /// Calls and streams refused, not stored: their io type, tool or agent held U+0000, which
    /// FORMAT-IO-PROFILE.md §2 forbids (`IOCallIdentity.validateNames`). Their chunks are refused too.
    public var rejected: Int
    /// Bytes of record data written.
    public var bytes: Int64
    /// Wall time from start to stop, seconds.
    public var durationSeconds: Double
    /// Time the writer thread spent encoding and appending, seconds: `events / writerBusySeconds`
    /// is the rate the writer could sustain, the headroom left to the recorded program.
    public var writerBusySeconds: Double
}

/// A recorded stream in progress; pass it to `chunk` and `finishStream`.
public struct StreamHandle: Sendable, Hashable {
    /// The stream's id in the session.
    public let id: String
    /// The IO key of the call that produced the stream.
    public let key: IOKey
}

/// Where an IO call sits in an agent's work: the task it serves, its step in that task and the
/// step that led to it. Stored in the event's line as `task_id`, `step` and `parent_step`
/// (FORMAT-IO-PROFILE.md §10), never part of the IO key: a replayed call is found by what it asks,
/// not by where it was asked. `rrlog timeline --steps` draws a session's steps as a tree.
public struct TaskStep: Sendable, Hashable {
    /// The task (`task_id`), if any.
    public var taskID: String?
    /// The step's number in its task (`step`), if any.
    public var step: Int?
    /// The step this one was taken for (`parent_step`), if any.
    public var parentStep: Int?

    /// A step `step` of task `taskID`, taken for step `parentStep`.
    public init(taskID: String? = nil, step: Int? = nil, parentStep: Int? = nil) {
        self.taskID = taskID
        self.step = step
        self.parentStep = parentStep
    }
}

/// Records an application's IO into a session: events, streams, checkpoints. `record` does not
/// wait for the disk: records go through a bounded queue to a writer thread. Thread-safe.
/// Async callers use `recordSuspending`, which suspends instead of blocking when the queue is
/// full; `flush()` and `stop()` suspend until the writer thread resumes them, never holding a
/// thread while they wait.
///
/// ```swift
/// let summary = try await Recorder.withRecording(store: store, options: .init(name: "run-1")) { rec in
///     rec.record(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"], outputs: ["hits": 3])
/// }
/// ```
///
/// `@unchecked Sendable`: every variable is guarded by `state`, a condition variable (a full queue
/// makes `record` wait on it and the writer thread sleeps on it), which a `Mutex` cannot replace.
public final class Recorder: @unchecked Sendable {
    /// The options the recording was started with.
    public let options: RecordingOptions
    let writer: SessionWriter
    let volatile: VolatilePaths
    private let secretCheck: SecretCheck
    private let started = ContinuousClock.now

    // Guarded by `state`; the runtime's exclusivity checks are redundant with the lock.
    private let state = NSCondition()
    @exclusivity(unchecked) private var queue: [PendingRecord] = []
    /// Parts buffers for callers to reuse: `spareBuffers` is taken from, and the lists the
    /// writer gives back wait whole in `spareLists` until it runs dry (O(1) under the lock).
    @exclusivity(unchecked) private var spareBuffers: [[UInt8]] = []
    @exclusivity(unchecked) private var spareLists: [(buffers: [[UInt8]], bytes: Int)] = []
    /// Capacity held in `spareLists`, at most `spareBytesMax`.
    @exclusivity(unchecked) private var spareListBytes = 0
    @exclusivity(unchecked) private var writerSleeping = false
    private var writerBusy = Duration.zero
    @exclusivity(unchecked) private var counter = CallIndexCounter()
    @exclusivity(unchecked) private var enqueued: UInt64 = 0
    private var written: UInt64 = 0
    private var dropped = 0
    @exclusivity(unchecked) private var rejected = 0
    @exclusivity(unchecked) private var events = 0
    @exclusivity(unchecked) private var streams = 0
    @exclusivity(unchecked) private var chunks = 0
    @exclusivity(unchecked) private var checkpoints = 0
    private var bytes: Int64 = 0
    private var stopping = false
    /// The status the first `stop` asked for.
    private var stopStatus = "completed"
    private var failure: RRLogError?
    private var streamCount = 0
    private var writerThread: Thread?
    /// Tasks in `recordSuspending` waiting for room in the queue: resumed when the writer takes
    /// a batch, or when the recording stops or fails.
    private var roomWaiters: [CheckedContinuation<Void, Never>] = []
    /// `flush()` calls waiting for the writer: the records written before each may resume.
    private var flushWaiters: [(target: UInt64, continuation: CheckedContinuation<Result<Void, RRLogError>, Never>)] = []
    /// `stop()` calls waiting for the writer thread to drain the queue and close the log.
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []
    /// How closing the log went; set once, by the writer thread as it ends.
    private var closeResult: Result<SessionManifest, RRLogError>?

    /// Starts a recording: creates the session and the writer thread.
    public static func start(store: Store, options: RecordingOptions) throws(RRLogError) -> Recorder {
        let volatile: VolatilePaths
        do { volatile = try VolatilePaths(options.volatilePaths) } catch {
            throw RRLogError(.invalidArgument, "invalid volatile path: \(error)")
        }
        let problems = options.redaction.validate()
        guard problems.isEmpty else { throw RRLogError(.invalidArgument, problems.joined(separator: "; ")) }
        guard options.queueCapacity > 0 else { throw RRLogError(.invalidArgument, "queueCapacity must be at least 1") }
        if let size = options.segmentSizeBytesMax, !RecordingOptions.segmentSizeBytesRange.contains(size) {
            throw RRLogError(.invalidArgument, "segmentSizeBytesMax must be 64 KiB to 1 TiB, not \(size) bytes")
        }
        var annotations = IOEventEncoder(volatile: volatile, redaction: options.redaction).sessionAnnotations
        if let task = options.taskID { annotations["task_id"] = task }
        let manifest = try store.createSession(
            name: options.name, type: options.type, description: options.description, tags: options.tags,
            provenance: options.provenance, annotations: annotations)
        var log = LogOptions()
        log.codec = options.codec
        log.durability = options.durability
        if let size = options.segmentSizeBytesMax { log.segmentSizeBytesMax = size }
        let writer = try store.openWriter(manifest, options: log)
        let recorder = Recorder(options: options, writer: writer, volatile: volatile)
        recorder.startWriterThread()
        let observed = options.observability
        observed.count(Observability.CounterName.recordingsStarted, [("type", options.type)])
        observed.log(.info, "recording.started", session: manifest.name, "recording started", [
            "rrlog.session_id": .string(manifest.id), "rrlog.type": .string(options.type), "rrlog.codec": .string("\(options.codec)"),
            "rrlog.durability": .string("\(options.durability)"),
        ])
        return recorder
    }

    init(options: RecordingOptions, writer: SessionWriter, volatile: VolatilePaths) {
        self.options = options
        self.writer = writer
        self.volatile = volatile
        self.secretCheck = SecretCheck(options.redaction)
    }

    /// Runs `body` with a recorder and stops it afterwards, also when `body` throws (the session
    /// is then marked failed). Returns `body`'s result.
    public static func withRecording<T>(
        store: Store, options: RecordingOptions, _ body: (Recorder) async throws -> T
    ) async throws -> T {
        let recorder = try start(store: store, options: options)
        do {
            let result = try await body(recorder)
            _ = try await recorder.stop()
            return result
        } catch {
            _ = try? await recorder.stop(status: "failed")
            throw error
        }
    }

    // MARK: Recording

    /// Records one IO call and returns its IO key. The call index is the number of identical
    /// calls (same io type, tool, agent and inputs, after redaction and volatile paths) recorded
    /// before, so identical calls replay in order.
    ///
    /// The caller writes the record's JSON parts (inputs, outputs, metadata; one pass each that
    /// also proves nothing needs redaction), hashes the inputs and queues the bytes. The writer
    /// thread frames and appends them. The bytes travel in buffers the recorder reuses, so no
    /// memory the caller allocated is freed on the writer thread (the allocator's cross-thread
    /// frees were the caller's worst latencies).
    @discardableResult
    public func record(
        ioType: String, agent: String = "", tool: String, inputs: JSONValue, outputs: JSONValue,
        durationSeconds: Double? = nil, metadata: JSONValue? = nil, task: TaskStep? = nil, timestampNs: Int64? = nil
    ) -> IOKey {
        let ts = timestampNs ?? nowNs()
        let event = pendingEvent(ioType: ioType, agent: agent, tool: tool, inputs: inputs, outputs: outputs, metadata: metadata, durationSeconds: durationSeconds, task: task)
        return enqueueKeyed(event, counting: .events, waits: true) { index, _ in
            .event(event, callIndex: index, timestampNs: ts)
        }!.key
    }

    /// `record` for async callers: when the queue is full under `QueueFullPolicy.block`, the
    /// calling task suspends until the writer has made room, instead of blocking its thread, so
    /// a full queue never ties up the threads that other tasks run on. Everything else is as
    /// `record`: the same call indexes (taken when the record is queued, so identical calls keep
    /// the order in which they were queued), the same stored line and timestamp (taken when
    /// called), and under `.drop` a full queue drops the record and counts it.
    @discardableResult
    public func recordSuspending(
        ioType: String, agent: String = "", tool: String, inputs: JSONValue, outputs: JSONValue,
        durationSeconds: Double? = nil, metadata: JSONValue? = nil, task: TaskStep? = nil, timestampNs: Int64? = nil
    ) async -> IOKey {
        let ts = timestampNs ?? nowNs()
        let event = pendingEvent(ioType: ioType, agent: agent, tool: tool, inputs: inputs, outputs: outputs, metadata: metadata, durationSeconds: durationSeconds, task: task)
        while true {
            let queued = enqueueKeyed(event, counting: .events, waits: false) { index, _ in
                .event(event, callIndex: index, timestampNs: ts)
            }
            if let queued { return queued.key }
            await waitForRoom()
        }
    }

    /// Suspends until the queue has room, or the recording stops or fails (the next attempt to
    /// queue then drops the record). The writer resumes the waiters when it takes a batch.
    private func waitForRoom() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            state.lock()
            guard queue.count >= options.queueCapacity, !stopping, failure == nil else {
                state.unlock()
                continuation.resume()
                return
            }
            roomWaiters.append(continuation)
            writerSleeping = false
            state.broadcast()
            state.unlock()
        }
    }

    /// A call as queued: its parts written (and redacted where needed) by the calling thread.
    @inline(__always)
    private func pendingEvent(
        ioType: String, agent: String, tool: String, inputs: JSONValue, outputs: JSONValue?, metadata: JSONValue?, durationSeconds: Double?,
        task: TaskStep?
    ) -> PendingEvent {
        var redacted: [String] = []
        let parts = encodeParts(ioType: ioType, tool: tool, agent: agent, inputs: inputs, outputs: outputs, metadata: metadata, redacted: &redacted)
        return PendingEvent(ioType: ioType, agent: agent, tool: tool, durationSeconds: durationSeconds, task: task, redacted: redacted, parts: parts)
    }

    /// Writes an event's parts into a reused buffer: the call digest, the inputs as stored, then
    /// outputs and metadata when given. Usually one pass per part: writing the canonical inputs
    /// also proves that nothing needs redaction, and they are stored as written unless they hold
    /// numbers of 2^53 or more (whose canonical form rounds).
    private func encodeParts(
        ioType: String, tool: String, agent: String, inputs: JSONValue, outputs: JSONValue?, metadata: JSONValue?,
        redacted: inout [String]
    ) -> EventParts {
        let redaction = options.redaction
        var writer = JSONWriter(canonical: true)
        writer.output = takeBuffer()
        writer.output.append(contentsOf: repeatElement(0, count: IOKey.digestByteCount))
        // The digest hashes the identity prefix and the canonical inputs: written side by side,
        // they take one SHA-256 pass.
        IOKey.appendIdentityPrefix(ioType: ioType, tool: tool, agent: agent, to: &writer.output)
        let inputsStart = writer.output.count
        var keyed = false
        if volatile.isEmpty && (redaction.supportsWriterCheck || !redaction.isEnabled) {
            if redaction.isEnabled { writer.secretCheck = secretCheck }
            writer.write(inputs)
            if !writer.foundSecret {
                writer.output.withUnsafeMutableBytes { bytes in
                    let prefixed = UnsafeRawBufferPointer(rebasing: bytes[IOKey.digestByteCount...])
                    IOKey.writeCallDigest(ofPrefixedInputs: prefixed, to: bytes.baseAddress!)
                }
                keyed = true
                if writer.wroteLargeNumber {
                    writer.output.removeSubrange(inputsStart...)
                    writer.canonical = false
                    writer.secretCheck = nil
                    writer.write(inputs)
                }
            }
        }
        if !keyed {
            writer.output.removeSubrange(inputsStart...)
            let clean = redaction.apply(inputs, prefix: "inputs", redacted: &redacted)
            let digest = IOKey.callDigest(for: IOCallIdentity(ioType: ioType, tool: tool, agent: agent, inputs: clean), volatile: volatile)
            writer.output.replaceSubrange(0..<IOKey.digestByteCount, with: digest)
            writer.canonical = false
            writer.secretCheck = nil
            writer.write(clean)
        }
        writer.canonical = false
        let inputsEnd = writer.output.count
        var outputsEnd: Int?
        if let outputs {
            writeRedacted(outputs, prefix: "outputs", with: &writer, redacted: &redacted)
            outputsEnd = writer.output.count
        }
        var metadataEnd: Int?
        if let metadata {
            writeRedacted(metadata, prefix: "metadata", with: &writer, redacted: &redacted)
            metadataEnd = writer.output.count
        }
        return EventParts(bytes: writer.output, inputsStart: inputsStart, inputsEnd: inputsEnd, outputsEnd: outputsEnd, metadataEnd: metadataEnd)
    }

    /// Writes `value` as stored: checked for secrets while written, and written again redacted
    /// when the check finds one (or first redacted, for rules the check cannot decide).
    private func writeRedacted(_ value: JSONValue, prefix: String, with writer: inout JSONWriter, redacted: inout [String]) {
        let redaction = options.redaction
        guard redaction.isEnabled else {
            writer.secretCheck = nil
            writer.write(value)
            return
        }
        let start = writer.output.count
        if redaction.supportsWriterCheck {
            writer.secretCheck = secretCheck
            writer.foundSecret = false
            writer.write(value)
            if !writer.foundSecret { return }
            writer.output.removeSubrange(start...)
        }
        writer.secretCheck = nil
        writer.write(redaction.apply(value, prefix: prefix, redacted: &redacted))
    }

    /// A buffer for an event's parts: one the writer thread gave back, or a new one.
    private func takeBuffer() -> [UInt8] {
        state.lock()
        if spareBuffers.isEmpty, let list = spareLists.popLast() {
            spareBuffers = list.buffers
            spareListBytes -= list.bytes
        }
        let spare = spareBuffers.popLast()
        state.unlock()
        if var buffer = spare {
            buffer.removeAll(keepingCapacity: true)
            return buffer
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1024)
        return buffer
    }

    /// Buffers given back per writer batch, the capacity kept in all (a burst's buffers are let
    /// go once the queue drains), and the largest buffer kept (a rare huge event's is let go).
    static let spareBufferCountMax = 4096
    static let spareBytesMax = 16 << 20
    static let spareBufferBytesMax = 16 << 10

    /// Starts recording a streamed answer to a call; chunks follow with `chunk`.
    public func startStream(
        ioType: String, agent: String = "", tool: String, inputs: JSONValue, metadata: JSONValue? = nil, task: TaskStep? = nil,
        timestampNs: Int64? = nil
    ) -> StreamHandle {
        let ts = timestampNs ?? nowNs()
        let event = pendingEvent(ioType: ioType, agent: agent, tool: tool, inputs: inputs, outputs: nil, metadata: metadata, durationSeconds: nil, task: task)
        let (key, streamID) = enqueueKeyed(event, counting: .streams, startsStream: true, waits: true) { index, streamID in
            .streamStart(event, callIndex: index, streamID: streamID, timestampNs: ts)
        }!
        return StreamHandle(id: streamID, key: key)
    }

    /// `startStream` for async callers: when the queue is full under `QueueFullPolicy.block`, the
    /// calling task suspends until the writer has made room instead of blocking its thread (as
    /// `recordSuspending` does for events). The stream id and call index are taken when queued.
    public func startStreamSuspending(
        ioType: String, agent: String = "", tool: String, inputs: JSONValue, metadata: JSONValue? = nil, task: TaskStep? = nil,
        timestampNs: Int64? = nil
    ) async -> StreamHandle {
        let ts = timestampNs ?? nowNs()
        let event = pendingEvent(ioType: ioType, agent: agent, tool: tool, inputs: inputs, outputs: nil, metadata: metadata, durationSeconds: nil, task: task)
        while true {
            let queued = enqueueKeyed(event, counting: .streams, startsStream: true, waits: false) { index, streamID in
                .streamStart(event, callIndex: index, streamID: streamID, timestampNs: ts)
            }
            if let (key, streamID) = queued { return StreamHandle(id: streamID, key: key) }
            await waitForRoom()
        }
    }

    /// `chunk` for async callers: suspends instead of blocking while the queue is full.
    public func chunkSuspending(
        _ stream: StreamHandle, index: Int, content: String, metadata: JSONValue? = nil, isFinal: Bool = false, timestampNs: Int64? = nil
    ) async {
        let ts = timestampNs ?? nowNs()
        await enqueueStreamRecord(stream, counting: .chunks) { _ in
            .chunk(streamID: stream.id, index: index, content: content, metadata: metadata, isFinal: isFinal, timestampNs: ts)
        }
    }

    /// `finishStream` for async callers: suspends instead of blocking while the queue is full.
    public func finishStreamSuspending(_ stream: StreamHandle, totalChunks: Int, metadata: JSONValue? = nil, timestampNs: Int64? = nil) async {
        let ts = timestampNs ?? nowNs()
        await enqueueStreamRecord(stream, counting: nil) { _ in
            .streamFinish(streamID: stream.id, totalChunks: totalChunks, metadata: metadata, timestampNs: ts)
        }
    }

    /// Records one chunk of a stream, with its own timestamp.
    public func chunk(
        _ stream: StreamHandle, index: Int, content: String, metadata: JSONValue? = nil, isFinal: Bool = false, timestampNs: Int64? = nil
    ) {
        guard !stream.id.isEmpty else { return }  // a refused stream (see `RecordingSummary.rejected`)
        let ts = timestampNs ?? nowNs()
        enqueue(.chunk(streamID: stream.id, index: index, content: content, metadata: metadata, isFinal: isFinal, timestampNs: ts), counting: .chunks)
    }

    /// Ends a stream.
    public func finishStream(_ stream: StreamHandle, totalChunks: Int, metadata: JSONValue? = nil, timestampNs: Int64? = nil) {
        guard !stream.id.isEmpty else { return }
        let ts = timestampNs ?? nowNs()
        enqueue(.streamFinish(streamID: stream.id, totalChunks: totalChunks, metadata: metadata, timestampNs: ts), counting: nil)
    }

    /// Records `chunks` while passing them through: iterate the result as you would the original.
    /// Each element's text is recorded as a chunk with its own timestamp; the stream is finished
    /// when the sequence ends (also when it throws).
    public func recordStream<S: AsyncSequence & Sendable>(
        ioType: String, agent: String = "", tool: String, inputs: JSONValue, task: TaskStep? = nil, chunks: S,
        text: @escaping @Sendable (S.Element) -> String
    ) -> AsyncThrowingStream<S.Element, any Error> where S.Element: Sendable {
        let handle = startStream(ioType: ioType, agent: agent, tool: tool, inputs: inputs, task: task)
        return AsyncThrowingStream { continuation in
            let task = Task {
                var index = 0
                do {
                    for try await element in chunks {
                        await self.enqueueStreamRecord(handle, counting: .chunks) {
                            .chunk(streamID: handle.id, index: index, content: text(element), metadata: nil, isFinal: false, timestampNs: $0)
                        }
                        index += 1
                        continuation.yield(element)
                    }
                    await self.enqueueStreamRecord(handle, counting: nil) {
                        .streamFinish(streamID: handle.id, totalChunks: index, metadata: nil, timestampNs: $0)
                    }
                    continuation.finish()
                } catch {
                    let metadata: JSONValue = ["error": .string("\(error)")]
                    await self.enqueueStreamRecord(handle, counting: nil) {
                        .streamFinish(streamID: handle.id, totalChunks: index, metadata: metadata, timestampNs: $0)
                    }
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Queues a chunk or the finish of `stream` (nothing for a refused stream) from async code,
    /// timestamped now: suspends while the queue is full under `QueueFullPolicy.block` instead of
    /// blocking the thread.
    private func enqueueStreamRecord(_ stream: StreamHandle, counting field: Counted?, _ make: (Int64) -> PendingRecord) async {
        guard !stream.id.isEmpty else { return }
        let record = make(nowNs())
        while !enqueueUnlessFull(record, counting: field) { await waitForRoom() }
    }

    /// Queues `record` (or drops it, as `enqueueLocked` does) unless the queue is full under
    /// `QueueFullPolicy.block`; false when it is.
    private func enqueueUnlessFull(_ record: PendingRecord, counting field: Counted?) -> Bool {
        state.lock()
        defer { state.unlock() }
        if queue.count >= options.queueCapacity && options.whenQueueFull == .block && !stopping && failure == nil { return false }
        enqueueLocked(record, counting: field)
        return true
    }

    /// Marks a point replay can start from.
    public func checkpoint(_ label: String, metadata: JSONValue? = nil, timestampNs: Int64? = nil) {
        enqueue(.checkpoint(label: label, metadata: metadata, timestampNs: timestampNs ?? nowNs()), counting: .checkpoints)
    }

    /// Takes the next call index for the event's digest (and, with `startsStream`, the next
    /// stream id) and queues the record `make` builds from them, in one critical section, so that
    /// queue order and call-index order agree. Without `waits`, a full queue under
    /// `QueueFullPolicy.block` returns nil and takes no index (the caller waits and tries again).
    private func enqueueKeyed(
        _ event: PendingEvent, counting field: Counted, startsStream: Bool = false, waits: Bool,
        _ make: (UInt32, String) -> PendingRecord
    ) -> (key: IOKey, streamID: String)? {
        let words = event.parts.digestWords
        let refused = Self.holdsNUL(event.ioType) || Self.holdsNUL(event.tool) || Self.holdsNUL(event.agent)
        state.lock()
        if refused {
            rejected += 1
            state.unlock()
            return (IOKey(uncheckedDigest: event.parts.digest, callIndex: 0), "")
        }
        if !waits && queue.count >= options.queueCapacity && options.whenQueueFull == .block && !stopping && failure == nil {
            state.unlock()
            return nil
        }
        let index = counter.next(for: words)
        var streamID = ""
        if startsStream {
            streamCount += 1
            streamID = "stream-\(streamCount)"
        }
        enqueueLocked(make(index, streamID), counting: field)
        state.unlock()
        return (IOKey(uncheckedDigest: event.parts.digest, callIndex: index), streamID)
    }

    /// True when `s` holds U+0000 (FORMAT-IO-PROFILE.md §2 forbids it in identity names).
    private static func holdsNUL(_ s: String) -> Bool {
        s.utf8.withContiguousStorageIfAvailable { $0.contains(0) } ?? s.utf8.contains(0)
    }

    private func enqueue(_ record: PendingRecord, counting field: Counted?) {
        state.lock()
        defer { state.unlock() }
        enqueueLocked(record, counting: field)
    }

    private func enqueueLocked(_ record: PendingRecord, counting field: Counted?) {
        if stopping || failure != nil {
            dropped += 1
            return
        }
        while queue.count >= options.queueCapacity {
            if options.whenQueueFull == .drop {
                dropped += 1
                return
            }
            // Make sure the writer is draining, then wait for room.
            state.broadcast()
            state.wait()
            if stopping || failure != nil {
                dropped += 1
                return
            }
        }
        queue.append(record)
        enqueued += 1
        switch field {
        case .events: events += 1
        case .streams: streams += 1
        case .chunks: chunks += 1
        case .checkpoints: checkpoints += 1
        case nil: break
        }
        // The writer polls while busy; only a sleeping writer needs the (system call) wake-up, and
        // a queue filling up wakes it early.
        if writerSleeping || queue.count == Recorder.wakeThreshold {
            writerSleeping = false
            state.broadcast()
        }
    }

    /// The totals a queued record counts towards.
    enum Counted { case events, streams, chunks, checkpoints }

    /// Queue length at which a polling writer is woken before its poll interval ends.
    static let wakeThreshold = 4096

    // MARK: The writer thread

    private func startWriterThread() {
        let thread = Thread { [self] in self.writeLoop() }
        thread.name = "rrlog-recorder"
        writerThread = thread
        thread.start()
    }

    /// Takes the queue in batches, encodes the records (redacting outputs and metadata) and
    /// appends them. While records keep coming it polls every millisecond, so callers need not
    /// wake it; after a few empty polls it sleeps until the next record. It resumes the tasks
    /// waiting for room when it takes a batch, answers `flush()` calls once the records before
    /// them are written, and when stopped, closes the log and resumes the `stop()` calls.
    private func writeLoop() {
        var batch: [PendingRecord] = []
        var encoded: [RecordInput] = []
        var returned: [[UInt8]] = []
        var roomMade: [CheckedContinuation<Void, Never>] = []
        var flushed: [(target: UInt64, continuation: CheckedContinuation<Result<Void, RRLogError>, Never>)] = []
        var encoder = PendingRecordEncoder(redaction: options.redaction)
        var emptyPolls = 0
        while true {
            state.lock()
            while queue.isEmpty && !stopping && flushWaiters.isEmpty {
                if emptyPolls < 20 {
                    emptyPolls += 1
                    _ = state.wait(until: Date(timeIntervalSinceNow: 0.001))
                } else {
                    writerSleeping = true
                    state.wait()
                }
            }
            writerSleeping = false
            if queue.isEmpty && stopping {
                state.unlock()
                finishWriting()
                return
            }
            if !queue.isEmpty { emptyPolls = 0 }
            swap(&batch, &queue)
            if !roomWaiters.isEmpty { swap(&roomMade, &roomWaiters) }
            state.broadcast()
            state.unlock()
            for waiter in roomMade { waiter.resume() }
            roomMade.removeAll(keepingCapacity: true)
            var error: RRLogError?
            var batchBytes: Int64 = 0
            let busySince = ContinuousClock.now
            if !batch.isEmpty {
                encoded.removeAll(keepingCapacity: true)
                for record in batch {
                    let input = encoder.encode(record)
                    batchBytes += Int64(input.payload.count)
                    encoded.append(input)
                }
                do { try writer.append(encoded) } catch let e { error = e }
            }
            let busy = ContinuousClock.now - busySince
            // The parts buffers go back to the callers, released by the batch first so that a
            // caller taking one holds the only reference and reuses its memory.
            var returnedBytes = 0
            for record in batch where returned.count < Recorder.spareBufferCountMax {
                if let buffer = record.buffer, buffer.capacity <= Recorder.spareBufferBytesMax {
                    returned.append(buffer)
                    returnedBytes += buffer.capacity
                }
            }
            let count = batch.count
            batch.removeAll(keepingCapacity: true)
            state.lock()
            if !returned.isEmpty && spareListBytes + returnedBytes <= Recorder.spareBytesMax {
                spareLists.append((returned, returnedBytes))
                spareListBytes += returnedBytes
                returned = []
            }
            if let error, failure == nil { failure = error }
            written += UInt64(count)
            bytes += batchBytes
            writerBusy += busy
            if !flushWaiters.isEmpty {
                flushed = flushWaiters.filter { $0.target <= written }
                flushWaiters.removeAll { $0.target <= written }
            }
            let failed = failure
            state.broadcast()
            state.unlock()
            returned.removeAll(keepingCapacity: true)
            if !flushed.isEmpty {
                let result = failed.map { Result<Void, RRLogError>.failure($0) } ?? flushLog()
                for waiter in flushed { waiter.continuation.resume(returning: result) }
                flushed.removeAll()
            }
        }
    }

    /// Writes the open chunk to the file and, under a durable policy, syncs it: for `flush()`.
    private func flushLog() -> Result<Void, RRLogError> {
        do {
            try writer.flush()
            if options.durability != .none { try writer.sync() }
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    /// The writer thread's last work, once stopped and drained: closes the log (status "failed"
    /// when writing failed) and resumes everyone still waiting.
    private func finishWriting() {
        state.lock()
        let status = failure == nil ? stopStatus : "failed"
        state.unlock()
        let closed: Result<SessionManifest, RRLogError>
        do { closed = .success(try writer.close(status: status)) } catch { closed = .failure(error) }
        state.lock()
        closeResult = closed
        let totals = (events: events, streams: streams, chunks: chunks, dropped: dropped, rejected: rejected, bytes: bytes)
        let stops = stopWaiters
        let rooms = roomWaiters
        let flushes = flushWaiters
        stopWaiters = []
        roomWaiters = []
        flushWaiters = []
        let failed = failure
        state.unlock()
        reportStop(status: (try? closed.get())?.status ?? "failed", totals: totals, error: failed ?? closed.failureValue)
        for waiter in rooms { waiter.resume() }
        for waiter in flushes { waiter.continuation.resume(returning: failed.map { .failure($0) } ?? .success(())) }
        for waiter in stops { waiter.resume() }
    }

    /// The `recording.stopped` event and the counters of a finished recording: a warning when it
    /// did not complete or lost records.
    private func reportStop(
        status: String, totals: (events: Int, streams: Int, chunks: Int, dropped: Int, rejected: Int, bytes: Int64), error: RRLogError?
    ) {
        let observed = options.observability
        observed.count(Observability.CounterName.recordingsStopped, [("status", status)])
        observed.count(Observability.CounterName.recordedEvents, by: totals.events)
        observed.count(Observability.CounterName.recordsDropped, by: totals.dropped)
        let manifest = writer.currentManifest
        var metadata: Logger.Metadata = [
            "rrlog.session_id": .string(manifest.id), "rrlog.status": .string(status), "rrlog.events": .stringConvertible(totals.events),
            "rrlog.streams": .stringConvertible(totals.streams), "rrlog.chunks": .stringConvertible(totals.chunks),
            "rrlog.dropped": .stringConvertible(totals.dropped), "rrlog.rejected": .stringConvertible(totals.rejected),
            "rrlog.bytes": .stringConvertible(totals.bytes),
            "rrlog.duration_s": .string(String(format: "%.3f", (ContinuousClock.now - started).seconds)),
        ]
        if let error { metadata["rrlog.error"] = .string(error.description) }
        let clean = status == "completed" && totals.dropped == 0 && totals.rejected == 0 && error == nil
        observed.log(clean ? .info : .warning, "recording.stopped", session: manifest.name, "recording stopped", metadata)
    }

    /// Waits until everything recorded so far is written to the log (and, under a durable policy,
    /// on stable storage). Throws the writer's error if writing failed. Suspends: the writer
    /// thread flushes once it has written the records queued before this call, then resumes it.
    public func flush() async throws(RRLogError) {
        let result: Result<Void, RRLogError> = await withCheckedContinuation { continuation in
            state.lock()
            if closeResult != nil {
                // Stopped: everything was written and the log is closed.
                let failed = failure
                state.unlock()
                continuation.resume(returning: failed.map { .failure($0) } ?? .success(()))
                return
            }
            flushWaiters.append((target: enqueued, continuation: continuation))
            writerSleeping = false
            state.broadcast()
            state.unlock()
        }
        try result.get()
    }

    /// Records dropped so far because the queue was full.
    public var droppedCount: Int {
        state.lock()
        defer { state.unlock() }
        return dropped
    }

    /// Stops the recording: drains the queue, seals the log, writes the manifest with `status`
    /// and returns the totals. Records made after `stop` are dropped. Suspends until the writer
    /// thread has written everything and closed the log; a later call returns the same manifest
    /// (the first call's status stands).
    public func stop(status: String = "completed") async throws(RRLogError) -> RecordingSummary {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            state.lock()
            if !stopping {
                stopping = true
                stopStatus = status
            }
            if closeResult != nil {
                state.unlock()
                continuation.resume()
                return
            }
            stopWaiters.append(continuation)
            state.broadcast()
            state.unlock()
        }
        return try summary()
    }

    /// The totals once the writer thread has closed the log, or the error that stopped it.
    private func summary() throws(RRLogError) -> RecordingSummary {
        state.lock()
        let failure = self.failure
        let closed = closeResult
        let totals = (events, streams, chunks, checkpoints, dropped, bytes, writerBusy.seconds, rejected)
        state.unlock()
        if let failure { throw failure }
        guard let closed else { throw RRLogError(.storage, "the recorder's writer ended without closing the log") }
        let manifest = try closed.get()
        return RecordingSummary(
            manifest: manifest, events: totals.0, streams: totals.1, chunks: totals.2, checkpoints: totals.3,
            dropped: totals.4, rejected: totals.7, bytes: totals.5, durationSeconds: (ContinuousClock.now - started).seconds,
            writerBusySeconds: totals.6)
    }
}

/// An event's JSON parts as the caller wrote them, in a buffer the recorder reuses: the 32-byte
/// call digest, the identity prefix the digest hashed, the inputs, then outputs and metadata when
/// present.
struct EventParts {
    var bytes: [UInt8]
    var inputsStart: Int
    var inputsEnd: Int
    var outputsEnd: Int?
    var metadataEnd: Int?

    var digest: [UInt8] { Array(bytes[0..<IOKey.digestByteCount]) }
    var digestWords: CallIndexCounter.DigestWords { CallIndexCounter.DigestWords(digestOf: bytes) }

    var inputs: Range<Int> { inputsStart..<inputsEnd }
    var outputs: Range<Int>? { outputsEnd.map { inputsEnd..<$0 } }
    var metadata: Range<Int>? { metadataEnd.map { (outputsEnd ?? inputsEnd)..<$0 } }
}

/// An IO call as `record` or `startStream` took it, its parts written and redacted.
struct PendingEvent {
    var ioType: String
    var agent: String
    var tool: String
    var durationSeconds: Double?
    /// Where the call sits in its task.
    var task: TaskStep?
    /// Paths redacted in inputs, outputs and metadata.
    var redacted: [String]
    var parts: EventParts
}

/// A record on its way to the writer thread, which encodes it.
enum PendingRecord {
    case event(PendingEvent, callIndex: UInt32, timestampNs: Int64)
    case streamStart(PendingEvent, callIndex: UInt32, streamID: String, timestampNs: Int64)
    case chunk(streamID: String, index: Int, content: String, metadata: JSONValue?, isFinal: Bool, timestampNs: Int64)
    case streamFinish(streamID: String, totalChunks: Int, metadata: JSONValue?, timestampNs: Int64)
    case checkpoint(label: String, metadata: JSONValue?, timestampNs: Int64)

    /// The reusable buffer the record carries, if any.
    var buffer: [UInt8]? {
        switch self {
        case .event(let e, _, _), .streamStart(let e, _, _, _): return e.parts.bytes
        default: return nil
        }
    }
}

/// Turns pending records into log records: redacts what the caller did not, and writes the JSON
/// line (members in sorted order, as `JSONValue.serialized()` writes them) into a reused buffer.
struct PendingRecordEncoder {
    let redaction: Redaction
    private var writer = JSONWriter(canonical: false)
    private var members = 0
    /// An event's duration as written.
    private var number: [UInt8] = []

    init(redaction: Redaction) { self.redaction = redaction }

    mutating func encode(_ record: PendingRecord) -> RecordInput {
        writer.output.removeAll(keepingCapacity: true)
        members = 0
        writer.output.append(UInt8(ascii: "{"))
        let kind: RecordKind
        let key: [UInt8]?
        let ts: Int64
        switch record {
        case .event(let e, let index, let t):
            return RecordInput(timestampNs: t, kind: RecordKind.event.rawValue, key: Self.key(e.parts, index), payload: eventLine(e, index, streamID: nil))
        case .streamStart(let e, let index, let id, let t):
            return RecordInput(
                timestampNs: t, kind: RecordKind.streamStart.rawValue, key: Self.key(e.parts, index), payload: eventLine(e, index, streamID: id))
        case .chunk(let id, let index, let content, let metadata, let isFinal, let t):
            (kind, key, ts) = (.chunk, nil, t)
            var redacted: [String] = []
            let clean = redaction.apply(.string(content), prefix: "content", redacted: &redacted)
            let metadata = metadata.map { redaction.apply($0, prefix: "metadata", redacted: &redacted) }
            value("content", clean)
            int("index", Int64(index))
            if isFinal { value("is_final", true) }
            if let metadata { value("metadata", metadata) }
            strings("redacted", redacted)
            string("stream_id", id)
            literal("type", "chunk")
        case .streamFinish(let id, let total, let metadata, let t):
            (kind, key, ts) = (.streamFinish, nil, t)
            var redacted: [String] = []
            let metadata = metadata.map { redaction.apply($0, prefix: "metadata", redacted: &redacted) }
            if let metadata { value("metadata", metadata) }
            strings("redacted", redacted)
            string("stream_id", id)
            int("total_chunks", Int64(total))
            literal("type", "stream_finish")
        case .checkpoint(let label, let metadata, let t):
            (kind, key, ts) = (.checkpoint, nil, t)
            var redacted: [String] = []
            let metadata = metadata.map { redaction.apply($0, prefix: "metadata", redacted: &redacted) }
            string("label", label)
            if let metadata { value("metadata", metadata) }
            strings("redacted", redacted)
            literal("type", "checkpoint")
        }
        writer.output.append(UInt8(ascii: "}"))
        return RecordInput(timestampNs: ts, kind: kind.rawValue, key: key, payload: writer.output)
    }

    /// The stored line of an event (`streamID` nil) or a stream start, members in order, written
    /// in one pass into memory sized for it beforehand: the writer thread's per-event cost is
    /// mostly this line, and appending member by member to a growing array doubled it.
    private mutating func eventLine(_ e: PendingEvent, _ index: UInt32, streamID: String?) -> [UInt8] {
        number.removeAll(keepingCapacity: true)
        if streamID == nil, let d = e.durationSeconds { ECMAScriptNumber.append(d, to: &number, keepLargeIntegersDouble: true) }
        // Escaping writes at most 6 bytes per byte (`\u00xx`); names, quotes, commas and the
        // call index take less than 200 bytes.
        // The task's members take at most 60 bytes besides its id: names and two 20-digit numbers.
        var strings = e.agent.utf8.count + e.ioType.utf8.count + e.tool.utf8.count + (streamID?.utf8.count ?? 0)
        strings += e.task?.taskID?.utf8.count ?? 0
        for path in e.redacted { strings += path.utf8.count + 1 }
        let capacity = 260 + 6 * strings + number.count + e.parts.bytes.count
        let task = e.task
        let parts = e.parts
        return [UInt8](unsafeUninitializedCapacity: capacity) { buffer, written in
            var out = ByteCursor(at: buffer.baseAddress!)
            func name(_ name: StaticString, first: Bool = false) {
                if !first { out.put(UInt8(ascii: ",")) }
                out.put(UInt8(ascii: "\""))
                out.put(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
                out.put(UInt8(ascii: "\""))
                out.put(UInt8(ascii: ":"))
            }
            func part(_ range: Range<Int>) {
                parts.bytes.withUnsafeBufferPointer { out.put(UnsafeBufferPointer(rebasing: $0[range])) }
            }
            out.put(UInt8(ascii: "{"))
            name("agent_id", first: true)
            out.putJSONString(e.agent)
            out.put(UInt8(ascii: ","))
            out.putCallIndex(index)
            if !number.isEmpty {
                name("duration")
                number.withUnsafeBufferPointer { out.put($0) }
            }
            name("inputs")
            part(parts.inputs)
            name("io_type")
            out.putJSONString(e.ioType)
            if let m = parts.metadata {
                name("metadata")
                part(m)
            }
            if streamID == nil {
                name("outputs")
                if let o = parts.outputs { part(o) } else { for byte in "null".utf8 { out.put(byte) } }
            }
            if let parent = task?.parentStep {
                name("parent_step")
                out.putInt(parent)
            }
            if !e.redacted.isEmpty {
                name("redacted")
                out.put(UInt8(ascii: "["))
                for (n, path) in e.redacted.enumerated() {
                    if n > 0 { out.put(UInt8(ascii: ",")) }
                    out.putJSONString(path)
                }
                out.put(UInt8(ascii: "]"))
            }
            if let step = task?.step {
                name("step")
                out.putInt(step)
            }
            if let streamID {
                name("stream_id")
                out.putJSONString(streamID)
            }
            if let taskID = task?.taskID {
                name("task_id")
                out.putJSONString(taskID)
            }
            name("tool_name")
            out.putJSONString(e.tool)
            name("type")
            for byte in (streamID == nil ? #""event"}"# : #""stream_start"}"#).utf8 { out.put(byte) }
            written = out.at - buffer.baseAddress!
            precondition(written <= capacity, "stored line overran its estimate")
        }
    }

    /// Starts a member: a comma unless it is the first, then `"name":`. Member names are
    /// literals made of ASCII letters and underscores, which JSON does not escape, so their bytes
    /// are copied as they are (one copy instead of a scan for characters to escape).
    private mutating func name(_ name: StaticString) {
        if members > 0 { writer.output.append(UInt8(ascii: ",")) }
        members += 1
        quoted(name)
        writer.output.append(UInt8(ascii: ":"))
    }

    /// A member whose value is a literal string that needs no escaping (the record's type).
    private mutating func literal(_ key: StaticString, _ v: StaticString) {
        name(key)
        quoted(v)
    }

    /// `text` in quotes, its bytes copied as they are: only for literals JSON does not escape.
    private mutating func quoted(_ text: StaticString) {
        writer.output.append(UInt8(ascii: "\""))
        writer.output.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        writer.output.append(UInt8(ascii: "\""))
    }

    /// The stored key: the digest and the call index (`IOKey.bytes`).
    private static func key(_ parts: EventParts, _ index: UInt32) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: IOKey.byteCount) { key, written in
            parts.bytes.withUnsafeBufferPointer { key.baseAddress!.initialize(from: $0.baseAddress!, count: IOKey.digestByteCount) }
            for shift in 0..<4 { key[IOKey.digestByteCount + shift] = UInt8(truncatingIfNeeded: index >> (8 * shift)) }
            written = IOKey.byteCount
        }
    }

    private mutating func value(_ key: StaticString, _ v: JSONValue) {
        name(key)
        writer.write(v)
    }

    private mutating func string(_ key: StaticString, _ v: String) {
        name(key)
        JSONWriter.appendString(v, to: &writer.output)
    }

    private mutating func int(_ key: StaticString, _ v: Int64) {
        name(key)
        writer.write(.int(v))
    }

    /// A list of strings, left out when empty.
    private mutating func strings(_ key: StaticString, _ list: [String]) {
        guard !list.isEmpty else { return }
        name(key)
        writer.output.append(UInt8(ascii: "["))
        for (n, item) in list.enumerated() {
            if n > 0 { writer.output.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(item, to: &writer.output)
        }
        writer.output.append(UInt8(ascii: "]"))
    }
}

extension Result {
    /// The error, when it failed.
    var failureValue: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

import Foundation
public import RRLogCatalog
public import RRLogFormat
public import RRLogStorage

/// What a recorder does when its queue to the writer is full.
public enum QueueFullPolicy: Sendable, Equatable {
    /// The caller waits until the writer has made room (no record is lost).
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
    /// Input paths left out of IO keys (FORMAT.md §10.4), e.g. `headers.X-Request-Id`.
    public var volatilePaths: [String] = []

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
    /// Bytes of record data written.
    public var bytes: Int64
    /// Wall time from start to stop, seconds.
    public var durationSeconds: Double
}

/// A recorded stream in progress; pass it to `chunk` and `finishStream`.
public struct StreamHandle: Sendable, Hashable {
    /// The stream's id in the session.
    public let id: String
    /// The IO key of the call that produced the stream.
    public let key: IOKey
}

/// Records an application's IO into a session: events, streams, checkpoints. `record` does not
/// wait for the disk: records go through a bounded queue to a writer thread. Thread-safe.
///
/// ```swift
/// let summary = try await Recorder.withRecording(store: store, options: .init(name: "run-1")) { rec in
///     rec.record(ioType: "tool_call", agent: "planner", tool: "search", inputs: ["q": "swift"], outputs: ["hits": 3])
/// }
/// ```
public final class Recorder: @unchecked Sendable {
    /// The options the recording was started with.
    public let options: RecordingOptions
    let writer: SessionWriter
    let volatile: VolatilePaths
    private let started = ContinuousClock.now

    // Guarded by `state`.
    private let state = NSCondition()
    private var queue: [RecordInput] = []
    private var counter = CallIndexCounter()
    private var enqueued: UInt64 = 0
    private var written: UInt64 = 0
    private var dropped = 0
    private var events = 0
    private var streams = 0
    private var chunks = 0
    private var checkpoints = 0
    private var bytes: Int64 = 0
    private var stopping = false
    private var failure: RRLogError?
    private var streamCount = 0
    private var writerThread: Thread?

    /// Starts a recording: creates the session and the writer thread.
    public static func start(store: Store, options: RecordingOptions) throws(RRLogError) -> Recorder {
        let volatile: VolatilePaths
        do { volatile = try VolatilePaths(options.volatilePaths) } catch {
            throw RRLogError(.invalidArgument, "invalid volatile path: \(error)")
        }
        let problems = options.redaction.validate()
        guard problems.isEmpty else { throw RRLogError(.invalidArgument, problems.joined(separator: "; ")) }
        guard options.queueCapacity > 0 else { throw RRLogError(.invalidArgument, "queueCapacity must be at least 1") }
        var annotations = IOEventEncoder(volatile: volatile, redaction: options.redaction).sessionAnnotations
        if let task = options.taskID { annotations["task_id"] = task }
        let manifest = try store.createSession(
            name: options.name, type: options.type, description: options.description, tags: options.tags,
            provenance: options.provenance, annotations: annotations)
        var log = LogOptions()
        log.codec = options.codec
        log.durability = options.durability
        let writer = try store.openWriter(manifest, options: log)
        let recorder = Recorder(options: options, writer: writer, volatile: volatile)
        recorder.startWriterThread()
        return recorder
    }

    init(options: RecordingOptions, writer: SessionWriter, volatile: VolatilePaths) {
        self.options = options
        self.writer = writer
        self.volatile = volatile
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
    @discardableResult
    public func record(
        ioType: String, agent: String = "", tool: String, inputs: JSONValue, outputs: JSONValue,
        durationSeconds: Double? = nil, metadata: JSONValue? = nil, timestampNs: Int64? = nil
    ) -> IOKey {
        var redacted: [String] = []
        let cleanInputs = options.redaction.apply(inputs, prefix: "inputs", redacted: &redacted)
        let cleanOutputs = options.redaction.apply(outputs, prefix: "outputs", redacted: &redacted)
        let cleanMetadata = metadata.map { options.redaction.apply($0, prefix: "metadata", redacted: &redacted) }
        let identity = IOCallIdentity(ioType: ioType, tool: tool, agent: agent, inputs: cleanInputs)
        let digest = IOKey.callDigest(for: identity, volatile: volatile)
        let ts = timestampNs ?? nowNs()
        state.lock()
        let index = counter.next(for: digest)
        state.unlock()
        let key = IOKey(callDigest: digest, callIndex: index)!
        var line: [String: JSONValue] = [
            "type": "event", "io_type": .string(ioType), "agent_id": .string(agent), "tool_name": .string(tool),
            "call_index": .int(Int64(index)), "inputs": cleanInputs, "outputs": cleanOutputs, "ts_ns": .int(ts),
        ]
        if let durationSeconds { line["duration"] = .double(durationSeconds) }
        if let cleanMetadata { line["metadata"] = cleanMetadata }
        if !redacted.isEmpty { line["redacted"] = .array(redacted.map { .string($0) }) }
        enqueue(RecordInput(timestampNs: ts, kind: RecordKind.event.rawValue, key: key.bytes, payload: JSONValue.object(line).serializedBytes()), counting: \.events)
        return key
    }

    /// Starts recording a streamed answer to a call; chunks follow with `chunk`.
    public func startStream(
        ioType: String, agent: String = "", tool: String, inputs: JSONValue, metadata: JSONValue? = nil, timestampNs: Int64? = nil
    ) -> StreamHandle {
        var redacted: [String] = []
        let cleanInputs = options.redaction.apply(inputs, prefix: "inputs", redacted: &redacted)
        let identity = IOCallIdentity(ioType: ioType, tool: tool, agent: agent, inputs: cleanInputs)
        let digest = IOKey.callDigest(for: identity, volatile: volatile)
        state.lock()
        let index = counter.next(for: digest)
        streamCount += 1
        let id = "stream-\(streamCount)"
        state.unlock()
        let key = IOKey(callDigest: digest, callIndex: index)!
        let ts = timestampNs ?? nowNs()
        var line: [String: JSONValue] = [
            "type": "stream_start", "stream_id": .string(id), "io_type": .string(ioType), "agent_id": .string(agent),
            "tool_name": .string(tool), "call_index": .int(Int64(index)), "inputs": cleanInputs, "ts_ns": .int(ts),
        ]
        if let metadata { line["metadata"] = options.redaction.apply(metadata, prefix: "metadata", redacted: &redacted) }
        if !redacted.isEmpty { line["redacted"] = .array(redacted.map { .string($0) }) }
        enqueue(RecordInput(timestampNs: ts, kind: RecordKind.streamStart.rawValue, key: key.bytes, payload: JSONValue.object(line).serializedBytes()), counting: \.streams)
        return StreamHandle(id: id, key: key)
    }

    /// Records one chunk of a stream, with its own timestamp.
    public func chunk(
        _ stream: StreamHandle, index: Int, content: String, metadata: JSONValue? = nil, isFinal: Bool = false, timestampNs: Int64? = nil
    ) {
        var redacted: [String] = []
        let clean = options.redaction.apply(.string(content), prefix: "content", redacted: &redacted)
        let ts = timestampNs ?? nowNs()
        var line: [String: JSONValue] = [
            "type": "chunk", "stream_id": .string(stream.id), "index": .int(Int64(index)), "content": clean, "ts_ns": .int(ts),
        ]
        if let metadata { line["metadata"] = options.redaction.apply(metadata, prefix: "metadata", redacted: &redacted) }
        if isFinal { line["is_final"] = true }
        if !redacted.isEmpty { line["redacted"] = .array(redacted.map { .string($0) }) }
        enqueue(RecordInput(timestampNs: ts, kind: RecordKind.chunk.rawValue, key: nil, payload: JSONValue.object(line).serializedBytes()), counting: \.chunks)
    }

    /// Ends a stream.
    public func finishStream(_ stream: StreamHandle, totalChunks: Int, metadata: JSONValue? = nil, timestampNs: Int64? = nil) {
        var line: [String: JSONValue] = [
            "type": "stream_finish", "stream_id": .string(stream.id), "total_chunks": .int(Int64(totalChunks)),
            "ts_ns": .int(timestampNs ?? nowNs()),
        ]
        var redacted: [String] = []
        if let metadata { line["metadata"] = options.redaction.apply(metadata, prefix: "metadata", redacted: &redacted) }
        enqueue(RecordInput(timestampNs: line["ts_ns"]!.int64Value!, kind: RecordKind.streamFinish.rawValue, key: nil, payload: JSONValue.object(line).serializedBytes()), counting: nil)
    }

    /// Records `chunks` while passing them through: iterate the result as you would the original.
    /// Each element's text is recorded as a chunk with its own timestamp; the stream is finished
    /// when the sequence ends (also when it throws).
    public func recordStream<S: AsyncSequence & Sendable>(
        ioType: String, agent: String = "", tool: String, inputs: JSONValue, chunks: S, text: @escaping @Sendable (S.Element) -> String
    ) -> AsyncThrowingStream<S.Element, any Error> where S.Element: Sendable {
        let handle = startStream(ioType: ioType, agent: agent, tool: tool, inputs: inputs)
        return AsyncThrowingStream { continuation in
            let task = Task {
                var index = 0
                do {
                    for try await element in chunks {
                        self.chunk(handle, index: index, content: text(element))
                        index += 1
                        continuation.yield(element)
                    }
                    self.finishStream(handle, totalChunks: index)
                    continuation.finish()
                } catch {
                    self.finishStream(handle, totalChunks: index, metadata: ["error": .string("\(error)")])
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Marks a point replay can start from.
    public func checkpoint(_ label: String, metadata: JSONValue? = nil, timestampNs: Int64? = nil) {
        var redacted: [String] = []
        var line: [String: JSONValue] = ["type": "checkpoint", "label": .string(label), "ts_ns": .int(timestampNs ?? nowNs())]
        if let metadata { line["metadata"] = options.redaction.apply(metadata, prefix: "metadata", redacted: &redacted) }
        enqueue(RecordInput(timestampNs: line["ts_ns"]!.int64Value!, kind: RecordKind.checkpoint.rawValue, key: nil, payload: JSONValue.object(line).serializedBytes()), counting: \.checkpoints)
    }

    private func enqueue(_ record: RecordInput, counting field: ReferenceWritableKeyPath<Recorder, Int>?) {
        state.lock()
        defer { state.unlock() }
        if stopping || failure != nil {
            dropped += 1
            return
        }
        while queue.count >= options.queueCapacity {
            if options.whenQueueFull == .drop {
                dropped += 1
                return
            }
            state.wait()
            if stopping || failure != nil {
                dropped += 1
                return
            }
        }
        queue.append(record)
        enqueued += 1
        bytes += Int64(record.payload.count)
        if let field { self[keyPath: field] += 1 }
        if queue.count == 1 { state.broadcast() }
    }

    // MARK: The writer thread

    private func startWriterThread() {
        let thread = Thread { [self] in self.writeLoop() }
        thread.name = "rrlog-recorder"
        writerThread = thread
        thread.start()
    }

    private func writeLoop() {
        var batch: [RecordInput] = []
        while true {
            state.lock()
            while queue.isEmpty && !stopping { state.wait() }
            if queue.isEmpty && stopping {
                state.unlock()
                return
            }
            swap(&batch, &queue)
            state.broadcast()
            state.unlock()
            var error: RRLogError?
            do { try writer.append(batch) } catch let e { error = e }
            state.lock()
            if let error, failure == nil { failure = error }
            written += UInt64(batch.count)
            state.broadcast()
            state.unlock()
            batch.removeAll(keepingCapacity: true)
        }
    }

    /// Waits until everything recorded so far is written to the log (and, under a durable policy,
    /// on stable storage). Throws the writer's error if writing failed.
    public func flush() async throws(RRLogError) {
        let target: UInt64 = {
            state.lock()
            defer { state.unlock() }
            return enqueued
        }()
        let result: Result<Void, RRLogError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                self.state.lock()
                while self.written < target && self.failure == nil { self.state.wait() }
                let failure = self.failure
                self.state.unlock()
                if let failure { return continuation.resume(returning: .failure(failure)) }
                do {
                    try self.writer.flush()
                    if self.options.durability != .none { try self.writer.sync() }
                    continuation.resume(returning: .success(()))
                } catch {
                    continuation.resume(returning: .failure(error as! RRLogError))
                }
            }
        }
        try result.get()
    }

    private func beginStop() {
        state.lock()
        stopping = true
        state.broadcast()
        state.unlock()
    }

    /// Records dropped so far because the queue was full.
    public var droppedCount: Int {
        state.lock()
        defer { state.unlock() }
        return dropped
    }

    /// Stops the recording: drains the queue, seals the log, writes the manifest with `status`
    /// and returns the totals. Records made after `stop` are dropped.
    public func stop(status: String = "completed") async throws(RRLogError) -> RecordingSummary {
        beginStop()
        let result: Result<RecordingSummary, RRLogError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                while self.writerThread?.isFinished == false { usleep(1000) }
                self.state.lock()
                let failure = self.failure
                let summary = (self.events, self.streams, self.chunks, self.checkpoints, self.dropped, self.bytes)
                self.state.unlock()
                do {
                    let manifest = try self.writer.close(status: failure == nil ? status : "failed")
                    if let failure { return continuation.resume(returning: .failure(failure)) }
                    continuation.resume(returning: .success(RecordingSummary(
                        manifest: manifest, events: summary.0, streams: summary.1, chunks: summary.2, checkpoints: summary.3,
                        dropped: summary.4, bytes: summary.5, durationSeconds: (ContinuousClock.now - self.started).seconds)))
                } catch {
                    continuation.resume(returning: .failure(error as! RRLogError))
                }
            }
        }
        return try result.get()
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

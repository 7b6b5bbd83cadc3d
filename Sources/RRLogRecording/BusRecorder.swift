import Foundation
public import RRLogCatalog
import RRLogIOProfile
public import RRLogJSON
public import RRLogSessions
import RRLogStorage
import Synchronization

/// Records the events an application publishes on its event bus into an event session, as they
/// are published: wrap the bus's publish function with `record(name:data:source:)` (or call it
/// beside it). Each event is stored as the event-recorder format stores it (`timestamp_offset_ms`
/// from the start, `event_name`, `event_data`, `source`; record kind `bus_event`), so `rrlog
/// replay`, `rrlog copy`, `EventReplayer` and the event-recorder export read it like an imported
/// recording. Thread-safe: publish from any thread or task.
///
/// ```swift
/// let recorder = try BusRecorder.start(store: store, name: "checkout-run")
/// bus.onPublish { name, data, source in recorder.record(name: name, data: data, source: source) }
/// ...
/// let manifest = try recorder.stop()
/// ```
public final class BusRecorder: Sendable {
    /// The session being written.
    public let sessionName: String
    /// The store the session is in.
    public let store: Store
    private let writer: SessionWriter
    private let startNs: Int64
    private let state = Mutex<(events: Int, unflushed: Int, stopped: Bool, failure: RRLogError?)>((0, 0, false, nil))

    /// Creates the session (type `recording` unless given) and starts recording.
    public static func start(
        store: Store, name: String, type: String = "recording", description: String = "", tags: [String] = []
    ) throws(RRLogError) -> BusRecorder {
        let manifest = try store.createSession(
            name: name, type: type, description: description.isEmpty ? "bus events recorded live" : description, tags: tags,
            annotations: ["recorded_format": "events-json"])
        return BusRecorder(name: name, store: store, writer: try store.openWriter(manifest))
    }

    init(name: String, store: Store, writer: SessionWriter) {
        sessionName = name
        self.store = store
        self.writer = writer
        startNs = Int64(Date().timeIntervalSince1970 * 1e9)
    }

    /// Records one published event; `timestampNs` defaults to now. Returns false (and records
    /// nothing) once stopped, or after writing failed (`stop()` then throws the failure).
    @discardableResult
    public func record(name: String, data: JSONValue, source: String = "", timestampNs: Int64? = nil) -> Bool {
        let ts = timestampNs ?? Int64(Date().timeIntervalSince1970 * 1e9)
        let offsetMs = Double(ts - startNs) / 1e6
        var event: [String: JSONValue] = ["timestamp_offset_ms": .double(offsetMs), "event_name": .string(name), "event_data": data]
        if !source.isEmpty { event["source"] = .string(source) }
        let payload = JSONValue.object(event).serializedBytes()
        return state.withLock { s -> Bool in
            guard !s.stopped, s.failure == nil else { return false }
            do throws(RRLogError) {
                try writer.append(RecordInput(timestampNs: ts, kind: RecordKind.busEvent.rawValue, key: nil, payload: payload))
                s.events += 1
                s.unflushed += 1
                return true
            } catch {
                s.failure = error
                return false
            }
        }
    }

    /// Makes the events recorded since the last flush readable by readers of the session (a
    /// live tail); they are not made durable. Does nothing when there are none, or once stopped.
    /// Appends group events into chunks until a chunk fills; a caller that shows a session live
    /// flushes on a timer (`rrlog serve` every 200 ms), not after every event.
    public func flush() throws(RRLogError) {
        try state.withLock { s throws(RRLogError) in
            guard !s.stopped, s.failure == nil, s.unflushed > 0 else { return }
            try writer.flush()
            s.unflushed = 0
        }
    }

    /// Events recorded so far.
    public var eventCount: Int { state.withLock { $0.events } }

    /// Stops recording and completes the session (marked failed when a write failed, whose
    /// error is then thrown). Calling it again gives the session as it was closed.
    @discardableResult
    public func stop() throws(RRLogError) -> SessionManifest {
        let failure = state.withLock { s -> RRLogError? in
            s.stopped = true
            return s.failure
        }
        if let failure {
            _ = try? writer.close(status: "failed")
            throw failure
        }
        return try writer.close()
    }
}

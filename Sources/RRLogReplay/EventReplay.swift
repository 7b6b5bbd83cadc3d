import Foundation
import Synchronization
public import RRLogCatalog
import RRLogFormat
import RRLogIOProfile
public import RRLogJSON
public import RRLogSessions
import RRLogStorage

/// One event of an event-bus recording (record kind `bus_event`), as replay delivers it.
public struct BusEvent: Sendable, Equatable {
    /// Sequence number in the session.
    public var sequence: UInt64
    /// Absolute time, ns since the epoch.
    public var timestampNs: Int64
    /// Time since the session's first event, ns.
    public var offsetNs: Int64
    /// `event_name`.
    public var name: String
    /// `source`.
    public var source: String
    /// `event_data`.
    public var data: JSONValue
    /// The whole stored event.
    public var raw: JSONValue

    /// An event as stored: `raw` is its event-recorder object (`event_name`, `event_data`,
    /// `source`, ...), from which name, source and data are read.
    public init(sequence: UInt64, timestampNs: Int64, offsetNs: Int64, raw: JSONValue) {
        self.sequence = sequence
        self.timestampNs = timestampNs
        self.offsetNs = offsetNs
        self.name = raw["event_name"]?.stringValue ?? ""
        self.source = raw["source"]?.stringValue ?? ""
        self.data = raw["event_data"] ?? .null
        self.raw = raw
    }

    /// One line of a timeline: offset from the first event, name, source and the data,
    /// shortened to `width` characters.
    public func timelineLine(width: Int = 80) -> String {
        let text = data.serialized()
        let shown = text.count > width ? String(text.prefix(width - 1)) + "…" : text
        return String(format: "%+10.3fs  %@  %@  %@", Double(offsetNs) / 1e9, name, source, shown)
    }
}

/// Which events an event replay delivers.
public struct EventFilter: Sendable {
    /// Only these event names (nil: all).
    public var names: Set<String>?
    /// Only these sources (nil: all).
    public var sources: Set<String>?
    /// Only events for which this is true.
    public var predicate: (@Sendable (BusEvent) -> Bool)?

    /// Makes a filter; the default passes everything.
    public init(names: Set<String>? = nil, sources: Set<String>? = nil, predicate: (@Sendable (BusEvent) -> Bool)? = nil) {
        self.names = names
        self.sources = sources
        self.predicate = predicate
    }

    /// True when `event` passes.
    public func accepts(_ event: BusEvent) -> Bool {
        if let names, !names.contains(event.name) { return false }
        if let sources, !sources.contains(event.source) { return false }
        if let predicate, !predicate(event) { return false }
        return true
    }
}

/// Progress of an event replay.
public struct EventReplayProgress: Sendable, Equatable {
    /// Events delivered in this pass.
    public var delivered: Int
    /// Events this pass will deliver.
    public var total: Int
    /// Passes completed (loops).
    public var loopsCompleted: Int
}

/// Replays an event-bus recording in time order to a handler: at recorded speed times a factor
/// (0.1x to 10x) or as fast as possible, filtered, within a time window, looping, with pause,
/// resume, step and seek (the controls rosbag2 users know). Thread-safe: control it from any task.
public final class EventReplayer: Sendable {
    /// The events that pass the filter and window, in time order.
    public let events: [BusEvent]
    /// The session replayed.
    public let manifest: SessionManifest
    private let store: Store
    /// What the controls asked for, read by `run` before each event.
    private struct Controls {
        var paused = false
        var steps = 0
        var seekTargetNs: Int64?
        var stopped = false
        var newSpeed: Double??
    }
    private let controls = Mutex(Controls())

    /// Loads the events of `session` that pass `filter`, within `[startOffset, until)` of the
    /// session's time (offsets from its first event).
    public init(
        store: Store, session: String, filter: EventFilter = EventFilter(), startOffset: Duration = .zero, until: Duration? = nil
    ) throws(RRLogError) {
        let manifest = try store.session(session)
        let reader = try store.openReader(manifest)
        var all: [BusEvent] = []
        var firstNs: Int64?
        reader.forEach(kinds: [RecordKind.busEvent.rawValue]) { view in
            guard let raw = try? JSONValue.parse(Array(view.payload)) else { return true }
            let first = firstNs ?? view.timestampNs
            firstNs = first
            all.append(BusEvent(sequence: view.sequence, timestampNs: view.timestampNs, offsetNs: view.timestampNs - first, raw: raw))
            return true
        }
        // Stable sort: events recorded out of time order are delivered in time order.
        let ordered = all.enumerated().sorted { ($0.element.timestampNs, $0.offset) < ($1.element.timestampNs, $1.offset) }.map(\.element)
        let from = startOffset.nanoseconds
        let to = until?.nanoseconds
        self.events = ordered.filter { e in e.offsetNs >= from && (to.map { e.offsetNs < $0 } ?? true) && filter.accepts(e) }
        self.manifest = manifest
        self.store = store
    }

    /// Counts by event name.
    public func summary() -> [String: Int] {
        events.reduce(into: [:]) { $0[$1.name, default: 0] += 1 }
    }

    /// One line per event: offset, name, source and a short data summary.
    public func timeline(limit: Int? = nil) -> [String] {
        events.prefix(limit ?? events.count).map { $0.timelineLine() }
    }

    /// Writes the selected events as a new session named `name` (type `recording`).
    public func saveFilteredCopy(as name: String) throws(RRLogError) -> SessionManifest {
        try saveCopy(of: events, as: name)
    }

    /// Writes `chosen` (events of this replayer, e.g. picked by their index in `events`) as a new
    /// session named `name`, annotated as a filtered copy like `saveFilteredCopy(as:)`.
    public func saveCopy(of chosen: [BusEvent], as name: String) throws(RRLogError) -> SessionManifest {
        var annotations = manifest.annotations
        annotations["filtered_from"] = manifest.name
        let copy = try store.createSession(
            name: name, type: manifest.type, description: "filtered copy of \(manifest.name)", tags: manifest.tags,
            provenance: manifest.provenance, annotations: annotations)
        let writer = try store.openWriter(copy)
        try writer.append(chosen.map { RecordInput(timestampNs: $0.timestampNs, kind: RecordKind.busEvent.rawValue, key: nil, payload: $0.raw.serializedBytes()) })
        return try writer.close()
    }

    // MARK: Controls

    /// Holds delivery before the next event.
    public func pause() { controls.withLock { $0.paused = true } }
    /// Goes on after `pause`; the remaining events keep their spacing from now on.
    public func resume() { controls.withLock { $0.paused = false } }
    /// While paused, delivers exactly one more event.
    public func step() { controls.withLock { $0.steps += 1 } }
    /// Jumps to the first event at or after `offset` of the session's time.
    public func seek(to offset: Duration) { controls.withLock { $0.seekTargetNs = offset.nanoseconds } }
    /// Changes the pace of a running replay from the next event on (nil: as fast as possible); the
    /// events already delivered keep their times. Speeds at or below 0 are ignored.
    public func setSpeed(_ speed: Double?) {
        if let speed, !(speed > 0) { return }
        controls.withLock { $0.newSpeed = .some(speed) }
    }
    /// Ends the replay after the event being delivered.
    public func stop() { controls.withLock { $0.stopped = true } }
    /// True while paused.
    public var isPaused: Bool { controls.withLock { $0.paused } }

    private enum Gate { case go, wait, stop, stepOnce }

    /// The speed `setSpeed` asked for since the last call, if any.
    private func takeSpeedChange() -> Double?? {
        controls.withLock { c in
            defer { c.newSpeed = nil }
            return c.newSpeed
        }
    }

    /// True when a pause, a seek or a stop is waiting for the gate (nothing is consumed).
    private func interrupted() -> Bool {
        controls.withLock { $0.paused || $0.stopped || $0.seekTargetNs != nil }
    }

    private func gate() -> (Gate, Int64?) {
        controls.withLock { c in
            let seek = c.seekTargetNs
            c.seekTargetNs = nil
            if c.stopped { return (.stop, seek) }
            if c.paused {
                if c.steps > 0 {
                    c.steps -= 1
                    return (.stepOnce, seek)
                }
                return (.wait, seek)
            }
            return (.go, seek)
        }
    }

    /// Delivers the events to `handler` in time order. `speed` multiplies the recorded pace
    /// (nil: as fast as possible); `loops` passes (nil: until `stop()`). Deadlines are absolute
    /// from a base instant, so handler time and sleeps never accumulate drift; after a pause,
    /// a seek or a new loop the base moves. `clock` lets tests run on virtual time.
    public func run<C: Clock>(
        speed: Double? = 1, loops: Int? = 1, clock: C, progress: (@Sendable (EventReplayProgress) -> Void)? = nil,
        handler: (BusEvent) async throws -> Void
    ) async throws where C.Duration == Duration {
        if let speed { guard speed > 0 else { throw RRLogError(.invalidArgument, "speed must be above 0") } }
        var speed = speed
        var loop = 0
        while loops.map({ loop < $0 }) ?? true {
            guard !events.isEmpty else { return }
            var i = 0
            var base = clock.now
            var baseOffset = events[0].offsetNs
            while i < events.count {
                var (g, seek) = gate()
                if let seek {
                    i = events.firstIndex { $0.offsetNs >= seek } ?? events.count
                    if i == events.count { break }
                    base = clock.now
                    baseOffset = events[i].offsetNs
                }
                if g == .stop { return }
                if g == .wait {
                    var waited = false
                    while g == .wait {
                        try await Task.sleep(for: .milliseconds(2))
                        (g, seek) = gate()
                        if let seek {
                            i = events.firstIndex { $0.offsetNs >= seek } ?? events.count
                        }
                        waited = true
                    }
                    if g == .stop || i == events.count { break }
                    if waited {
                        base = clock.now
                        baseOffset = events[i].offsetNs
                    }
                }
                let event = events[i]
                if let change = takeSpeedChange() {
                    // The new pace counts from now and from this event.
                    speed = change
                    base = clock.now
                    baseOffset = event.offsetNs
                }
                if let speed, g != .stepOnce {
                    let due = base.advanced(by: .nanoseconds(Int64((Double(event.offsetNs - baseOffset) / speed).rounded())))
                    try await clock.sleep(until: due, tolerance: nil)
                    // A pause, seek or stop asked for while waiting holds this event back: the
                    // gate decides again (a paused replay delivers nothing more until resumed or
                    // stepped).
                    if interrupted() { continue }
                }
                if g == .stepOnce {
                    base = clock.now
                    baseOffset = event.offsetNs
                }
                try await handler(event)
                i += 1
                progress?(EventReplayProgress(delivered: i, total: events.count, loopsCompleted: loop))
            }
            if controls.withLock({ $0.stopped }) { return }
            loop += 1
        }
    }

    /// `run` on the continuous clock.
    public func run(
        speed: Double? = 1, loops: Int? = 1, progress: (@Sendable (EventReplayProgress) -> Void)? = nil,
        handler: (BusEvent) async throws -> Void
    ) async throws {
        try await run(speed: speed, loops: loops, clock: ContinuousClock(), progress: progress, handler: handler)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let c = components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }
}

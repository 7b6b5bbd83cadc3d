public import CoreMetrics
public import Logging

/// Where a recorder or a player reports what happens to it: structured log events through
/// swift-log and counters through swift-metrics (README "Events and metrics" lists them). Each
/// log event carries `rrlog.event` (its name) and `rrlog.session` in its metadata; counters go to
/// `metrics`, or to the factory the application bootstrapped (`MetricsSystem.factory`) when nil.
public struct Observability: Sendable {
    /// The logger events go to.
    public var logger: Logger
    /// The metrics backend counters go to; nil: `MetricsSystem.factory`.
    public var metrics: (any MetricsFactory)?

    /// Events to `logger`, counters to `metrics` (default: the bootstrapped backend).
    public init(logger: Logger = Logger(label: "rrlog"), metrics: (any MetricsFactory)? = nil) {
        self.logger = logger
        self.metrics = metrics
    }

    /// The names of the counters, `rrlog_…_total`.
    public enum CounterName {
        /// Recordings started; dimension `type`.
        public static let recordingsStarted = "rrlog_recordings_started_total"
        /// Recordings stopped; dimension `status` (completed, failed, …).
        public static let recordingsStopped = "rrlog_recordings_stopped_total"
        /// IO events written by recorders.
        public static let recordedEvents = "rrlog_recorded_events_total"
        /// Records a recorder dropped (queue full under `.drop`, or recorded after `stop`).
        public static let recordsDropped = "rrlog_recorder_dropped_total"
        /// Replay lookups that found no answer; dimensions `io_type` and `reason` (`no_match`:
        /// no recorded call asks this; `exhausted`: more identical calls than were recorded).
        public static let replayMisses = "rrlog_replay_misses_total"
        /// Calls made live after a miss, in warn and hybrid modes; dimension `mode`.
        public static let replayLiveCalls = "rrlog_replay_live_calls_total"
        /// Players opened on a recording whose provenance differs from the expected; dimension `policy`.
        public static let provenanceDifferences = "rrlog_replay_provenance_differences_total"
    }

    package func count(_ label: String, _ dimensions: [(String, String)] = [], by amount: Int = 1) {
        guard amount > 0 else { return }
        let counter: Counter
        if let metrics {
            counter = Counter(label: label, dimensions: dimensions, factory: metrics)
        } else {
            counter = Counter(label: label, dimensions: dimensions)
        }
        counter.increment(by: amount)
    }

    package func log(_ level: Logger.Level, _ event: String, session: String, _ message: String, _ metadata: Logger.Metadata = [:]) {
        var all = metadata
        all["rrlog.event"] = .string(event)
        all["rrlog.session"] = .string(session)
        // The source swift-log would derive is this file's module; events keep naming the module
        // users import, as before the facade was split.
        logger.log(level: level, Logger.Message(stringLiteral: message), metadata: all, source: "RRLog")
    }
}

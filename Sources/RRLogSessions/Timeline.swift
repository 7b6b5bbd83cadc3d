public import RRLogCatalog
import RRLogFormat
import RRLogIOProfile
import RRLogJSON
import RRLogStorage
import Foundation
import Synchronization

/// What a timeline's lanes are: records counted by one of their fields.
public enum TimelineGrouping: String, Sendable, CaseIterable {
    /// The record kind (`event`, `chunk`, `bus_event`, `otlp_traces`, ...).
    case kind
    /// An IO event's `io_type`.
    case ioType = "io_type"
    /// An IO event's `agent_id`.
    case agent
    /// An IO event's `tool_name`.
    case tool
    /// A bus event's `event_name`.
    case eventName = "event_name"
    /// A bus event's `source`.
    case source

    /// The lane of records that have no value for the field (a bus event grouped by tool).
    public static let noValue = "(none)"
    /// The lane that sums the groups beyond the ones asked for.
    public static let otherValues = "(other)"
}

/// A timeline to compute: `buckets` equal slices of `[fromNs, toNs)`, optionally one lane per
/// value of `group`.
public struct TimelineQuery: Sendable, Equatable {
    /// How many slices; 1 to ``maxBuckets``.
    public var buckets: Int
    /// The window's start; nil: the session's first record.
    public var fromNs: Int64?
    /// The window's end (excluded); nil: just after the session's last record.
    public var toNs: Int64?
    /// The lanes; nil: one total only.
    public var group: TimelineGrouping?
    /// The most lanes kept (the largest by count); the rest are summed into ``TimelineGrouping/otherValues``.
    public var topGroups: Int
    /// The most chunks a window may overlap for the answer to be counted record by record; above
    /// it each chunk's counts are spread over its time range (``Timeline/exact`` false).
    public var exactChunkLimit: Int

    /// The most buckets a query may ask for.
    public static let maxBuckets = 5000

    /// A query of `buckets` slices over the whole session, without lanes.
    public init(buckets: Int = 500, fromNs: Int64? = nil, toNs: Int64? = nil, group: TimelineGrouping? = nil, topGroups: Int = 12, exactChunkLimit: Int = 64) {
        self.buckets = buckets
        self.fromNs = fromNs
        self.toNs = toNs
        self.group = group
        self.topGroups = topGroups
        self.exactChunkLimit = exactChunkLimit
    }
}

/// Record counts of a session in equal time slices (`SessionTimelines.timeline`).
public struct Timeline: Sendable, Equatable {
    /// One lane: a group's name and its count per bucket.
    public struct Lane: Sendable, Equatable {
        /// The group's value (``TimelineGrouping/noValue`` and ``TimelineGrouping/otherValues`` included).
        public var name: String
        /// Its records per bucket.
        public var counts: [Int]
        /// Their sum.
        public var total: Int
    }

    /// The window's start.
    public var fromNs: Int64
    /// The window's end (excluded).
    public var toNs: Int64
    /// The width of a bucket in nanoseconds (the last one may be narrower).
    public var bucketNs: Int64
    /// Records per bucket, all lanes together.
    public var counts: [Int]
    /// The lanes, largest first; empty without a grouping.
    public var lanes: [Lane]
    /// True when every record was counted in its bucket; false when the window spans more chunks
    /// than ``TimelineQuery/exactChunkLimit`` and a chunk whose time range crosses a bucket border
    /// had its counts spread over that range in proportion.
    public var exact: Bool
    /// Chunks that overlap the window.
    public var chunks: Int
}

/// Computes timelines of sessions from per-chunk summaries kept beside the segments
/// (`sessions/<id>/summaries/`, FORMAT-IO-PROFILE.md §13): each chunk's time range and record
/// count come from the segment's chunk index, its counts by kind, io type, agent, tool, event
/// name and source from the summary, made once per sealed segment by decoding it and rebuilt
/// whenever it is missing, unreadable or does not match the chunk index. No byte of the segment
/// format is involved. Summaries are cached in memory (bounded by ``maxCachedChunks``); one
/// instance serves any number of threads.
public final class SessionTimelines: Sendable {
    /// The store whose sessions are summarised.
    public let store: Store
    /// The most chunk summaries kept in memory; the least recently used sessions go first.
    public let maxCachedChunks: Int
    private let cache = Mutex<SummaryCache>(SummaryCache())

    /// Timelines of `store`'s sessions.
    public init(store: Store, maxCachedChunks: Int = 1 << 20) {
        self.store = store
        self.maxCachedChunks = max(1, maxCachedChunks)
    }

    /// The timeline `query` asks for over the session `manifest` names, as of now (records of a
    /// session being written included).
    public func timeline(of manifest: SessionManifest, _ query: TimelineQuery) throws(RRLogError) -> Timeline {
        guard query.buckets >= 1, query.buckets <= TimelineQuery.maxBuckets else {
            throw RRLogError(.invalidArgument, "buckets must be 1-\(TimelineQuery.maxBuckets), not \(query.buckets)")
        }
        guard query.topGroups >= 1 else { throw RRLogError(.invalidArgument, "the number of lanes must be at least 1") }
        let reader = try store.openReader(manifest)
        let segments = reader.segments
        var minNs = Int64.max, maxNs = Int64.min
        for segment in segments {
            for c in segment.view.chunks where c.recordCount > 0 {
                minNs = min(minNs, c.minTimestampNs)
                maxNs = max(maxNs, c.maxTimestampNs)
            }
        }
        let from = query.fromNs ?? (minNs == .max ? 0 : minNs)
        let to = query.toNs ?? (maxNs == .min ? from + 1 : (maxNs == .max ? maxNs : maxNs + 1))
        guard to > from else { throw RRLogError(.invalidArgument, "the window's end must be after its start") }
        let grid = BucketGrid(from: from, to: to, buckets: query.buckets)
        var overlapping: [(SegmentHandle, Int)] = []
        for segment in segments {
            for (ordinal, c) in segment.view.chunks.enumerated()
            where c.recordCount > 0 && c.maxTimestampNs >= from && c.minTimestampNs < to {
                overlapping.append((segment, ordinal))
            }
        }
        var tally = Tally(buckets: query.buckets, grouped: query.group != nil)
        var exact = true
        // Summaries give the lanes (and a stream chunk's agent and tool); a total needs neither.
        let summaries = query.group == nil ? nil : try self.summaries(manifest, segments)
        if overlapping.count <= query.exactChunkLimit {
            // Few chunks: every record in its bucket.
            let decompressor = Decompressor()
            for (segment, ordinal) in overlapping {
                let shape = ChunkShape(segment.view.chunks[ordinal])
                _ = segment.withChunkData(ordinal, decompressor: decompressor) { data in
                    _ = ChunkReader.forEachRecord(data, shape: shape) { view in
                        if view.timestampNs >= from, view.timestampNs < to {
                            let lane = query.group.map { RecordFields(view, streams: summaries?.streams ?? [:]).value($0) }
                            tally.add(bucket: grid.bucket(view.timestampNs), lane: lane, count: 1)
                        }
                        return true
                    }
                }
            }
        } else {
            for (segment, ordinal) in overlapping {
                let c = segment.view.chunks[ordinal]
                var parts: [(String?, Int)] = [(nil, Int(c.recordCount))]
                if let group = query.group, let summary = summaries?.chunk(segment.id, ordinal) {
                    parts = (summary.counts[group] ?? [:]).map { ($0.key, $0.value) }
                }
                let (first, last) = (grid.bucket(max(from, c.minTimestampNs)), grid.bucket(min(to - 1, c.maxTimestampNs)))
                let inside = c.minTimestampNs >= from && c.maxTimestampNs < to
                if first == last && inside {
                    for (lane, n) in parts { tally.add(bucket: first, lane: lane, count: Double(n)) }
                    continue
                }
                exact = false
                // Spread over the chunk's time range, in proportion to each bucket's share of it.
                let span = Double(c.maxTimestampNs) - Double(c.minTimestampNs) + 1
                for b in first...last {
                    let lo = max(Double(grid.start(of: b)), Double(c.minTimestampNs))
                    let hi = min(Double(grid.start(of: b + 1)), Double(c.maxTimestampNs) + 1)
                    guard hi > lo else { continue }
                    let share = (hi - lo) / span
                    for (lane, n) in parts { tally.add(bucket: b, lane: lane, count: Double(n) * share) }
                }
            }
        }
        return tally.timeline(grid: grid, topGroups: query.topGroups, exact: exact, chunks: overlapping.count)
    }

    /// Builds the summaries of every sealed segment of the session that lacks a valid one, so
    /// that the first grouped timeline is fast. Returns how many segments were summarised.
    @discardableResult
    public func prepare(_ manifest: SessionManifest) throws(RRLogError) -> Int {
        let reader = try store.openReader(manifest)
        return try summaries(manifest, reader.segments).built
    }

    /// Forgets the cached summaries of a session (after it was removed or compacted).
    public func forget(_ manifest: SessionManifest) {
        cache.withLock { $0.remove(manifest.id) }
    }

    // MARK: Summaries

    /// The session's chunk summaries for `segments`, from memory, from the summary files, or
    /// made by decoding the chunks (written to a file for sealed segments).
    private func summaries(_ manifest: SessionManifest, _ segments: [SegmentHandle]) throws(RRLogError) -> SessionSummaries {
        var result = SessionSummaries()
        let known = cache.withLock { $0.session(manifest.id) }
        let directory = store.sessionDirectory(manifest.id) + "/summaries"
        for segment in segments {
            let entries = segment.view.chunks
            if let have = known[segment.id], have.matches(entries, sealed: segment.isSealed) {
                result.add(segment.id, have)
                continue
            }
            var summary: SegmentSummary
            if segment.isSealed, let stored = SegmentSummary.load(directory, segment.id), stored.matches(entries, sealed: true) {
                summary = stored
            } else {
                // Continue a summary of the active segment from its last summarised chunk.
                if let partial = known[segment.id], partial.isPrefix(of: entries) {
                    summary = partial
                } else {
                    summary = SegmentSummary(sealed: segment.isSealed)
                }
                summary.extend(segment, streams: result.streams)
                summary.sealed = segment.isSealed
                result.built += 1
                if segment.isSealed { summary.save(directory, segment.id) }
            }
            result.add(segment.id, summary)
        }
        let kept = result.bySegment
        let limit = maxCachedChunks
        cache.withLock { $0.put(manifest.id, kept, limit: limit) }
        return result
    }
}

/// A chunk's record counts by the values of each grouping field.
struct ChunkSummary: Sendable, Equatable {
    var firstSequence: UInt64
    var recordCount: Int
    var minNs: Int64
    var maxNs: Int64
    var counts: [TimelineGrouping: [String: Int]] = [:]

    /// Distinct values kept per field and chunk; more are counted as ``TimelineGrouping/otherValues``.
    static let valuesMax = 256

    mutating func count(_ field: TimelineGrouping, _ value: String) {
        var values = counts[field, default: [:]]
        if values[value] == nil && values.count >= Self.valuesMax {
            values[TimelineGrouping.otherValues, default: 0] += 1
        } else {
            values[value, default: 0] += 1
        }
        counts[field] = values
    }

    func matches(_ entry: ChunkIndexEntry) -> Bool {
        firstSequence == entry.firstSequence && recordCount == Int(entry.recordCount) && minNs == entry.minTimestampNs && maxNs == entry.maxTimestampNs
    }
}

/// What a stream's chunk and finish records are counted under: the fields of its start.
struct StreamFields: Sendable, Equatable {
    var ioType: String
    var agent: String
    var tool: String
}

/// The summaries of one segment's chunks, and the streams started in them.
struct SegmentSummary: Sendable {
    var sealed: Bool
    var chunks: [ChunkSummary] = []
    var streams: [String: StreamFields] = [:]

    /// The most streams remembered per segment (attributing later chunks to their calls).
    static let streamsMax = 1 << 18
    static let fileVersion: Int64 = 1

    init(sealed: Bool) { self.sealed = sealed }

    func matches(_ entries: [ChunkIndexEntry], sealed: Bool) -> Bool {
        self.sealed == sealed && chunks.count == entries.count && zip(chunks, entries).allSatisfy { $0.matches($1) }
    }

    func isPrefix(of entries: [ChunkIndexEntry]) -> Bool {
        chunks.count <= entries.count && zip(chunks, entries).allSatisfy { $0.matches($1) }
    }

    /// Summarises the chunks of `segment` after the ones already here. A chunk that cannot be
    /// decoded is summarised by its index entry alone (its records under no value).
    mutating func extend(_ segment: SegmentHandle, streams earlier: [String: StreamFields]) {
        let decompressor = Decompressor()
        let entries = segment.view.chunks
        for ordinal in chunks.count..<entries.count {
            let entry = entries[ordinal]
            var summary = ChunkSummary(firstSequence: entry.firstSequence, recordCount: Int(entry.recordCount), minNs: entry.minTimestampNs, maxNs: entry.maxTimestampNs)
            var counted = 0
            _ = segment.withChunkData(ordinal, decompressor: decompressor) { data in
                _ = ChunkReader.forEachRecord(data, shape: ChunkShape(entry)) { view in
                    let fields = RecordFields(view, streams: streams, earlier: earlier)
                    if fields.kind == .streamStart, let id = fields.streamID, streams.count < Self.streamsMax {
                        streams[id] = StreamFields(ioType: fields.ioType ?? "", agent: fields.agent ?? "", tool: fields.tool ?? "")
                    }
                    for field in TimelineGrouping.allCases { summary.count(field, fields.value(field)) }
                    counted += 1
                    return true
                }
            }
            if counted < summary.recordCount {
                for field in TimelineGrouping.allCases {
                    let missing = summary.recordCount - counted
                    summary.counts[field, default: [:]][field == .kind ? "unreadable" : TimelineGrouping.noValue, default: 0] += missing
                }
            }
            chunks.append(summary)
        }
    }

    // MARK: The summary file

    static func path(_ directory: String, _ segment: UInt64) -> String {
        directory + "/" + String(segment, radix: 16) + ".json"
    }

    /// The summary file's JSON: `version`, `segment`, `chunks` (each `first_sequence`,
    /// `records`, `min_ns`, `max_ns`, `counts` by field then value) and `streams`.
    func json(_ segment: UInt64) -> JSONValue {
        let chunkValues: [JSONValue] = chunks.map { c in
            var counts: [String: JSONValue] = [:]
            for (field, values) in c.counts { counts[field.rawValue] = .object(values.mapValues { .int(Int64($0)) }) }
            return [
                "first_sequence": .int(Int64(bitPattern: c.firstSequence)), "records": .int(Int64(c.recordCount)),
                "min_ns": .int(c.minNs), "max_ns": .int(c.maxNs), "counts": .object(counts),
            ]
        }
        let streamValues = streams.mapValues { s -> JSONValue in [.string(s.ioType), .string(s.agent), .string(s.tool)] }
        return ["version": .int(Self.fileVersion), "segment": .int(Int64(bitPattern: segment)), "chunks": .array(chunkValues), "streams": .object(streamValues)]
    }

    /// The summary in `directory` for `segment`; nil when there is none or it does not parse
    /// as one (a summary is derived data: the caller makes it again).
    static func load(_ directory: String, _ segment: UInt64) -> SegmentSummary? {
        guard let data = try? AtomicFile.read(path(directory, segment), limitBytes: 1 << 30),
            let value = try? JSONValue.parse(data), value["version"]?.int64Value == fileVersion,
            value["segment"]?.int64Value == Int64(bitPattern: segment), let chunkValues = value["chunks"]?.arrayValue
        else { return nil }
        var summary = SegmentSummary(sealed: true)
        summary.chunks.reserveCapacity(chunkValues.count)
        for c in chunkValues {
            guard let first = c["first_sequence"]?.int64Value, let records = c["records"]?.int64Value, records >= 0, records <= Int64(UInt32.max),
                let minNs = c["min_ns"]?.int64Value, let maxNs = c["max_ns"]?.int64Value, case .object(let counts)? = c["counts"]
            else { return nil }
            var chunk = ChunkSummary(firstSequence: UInt64(bitPattern: first), recordCount: Int(records), minNs: minNs, maxNs: maxNs)
            for (name, values) in counts {
                guard let field = TimelineGrouping(rawValue: name), case .object(let members) = values else { return nil }
                var parsed: [String: Int] = [:]
                for (v, n) in members {
                    guard let n = n.int64Value, n >= 0, n <= records else { return nil }
                    parsed[v] = Int(n)
                }
                chunk.counts[field] = parsed
            }
            summary.chunks.append(chunk)
        }
        if case .object(let members)? = value["streams"] {
            for (id, s) in members {
                guard let parts = s.arrayValue, parts.count == 3, let io = parts[0].stringValue, let agent = parts[1].stringValue, let tool = parts[2].stringValue
                else { return nil }
                summary.streams[id] = StreamFields(ioType: io, agent: agent, tool: tool)
            }
        }
        return summary
    }

    /// Writes the summary file (a temporary file renamed over the old one). A failure is
    /// ignored: the summary is made again next time.
    func save(_ directory: String, _ segment: UInt64) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try? AtomicFile.save(json(segment).serializedBytes(), to: Self.path(directory, segment))
    }
}

/// The grouping fields of one record: its kind; an IO line's io type, agent and tool (a stream's
/// chunk and finish take those of the stream's start); a bus event's name and source.
struct RecordFields {
    var kind: RecordKind?
    var kindName: String
    var ioType, agent, tool, eventName, source, streamID: String?

    init(_ view: RecordView, streams: [String: StreamFields], earlier: [String: StreamFields] = [:]) {
        kind = RecordKind(rawValue: view.kind)
        kindName = RecordKind.name(of: view.kind)
        guard let kind else { return }
        if kind.isIOEvent {
            guard let line = try? JSONValue.parse(view.payload) else { return }
            streamID = line["stream_id"]?.stringValue
            if kind == .chunk || kind == .streamFinish, let id = streamID, let s = streams[id] ?? earlier[id] {
                (ioType, agent, tool) = (s.ioType, s.agent, s.tool)
            } else {
                ioType = line["io_type"]?.stringValue
                agent = line["agent_id"]?.stringValue
                tool = line["tool_name"]?.stringValue
            }
        } else if kind == .busEvent, let line = try? JSONValue.parse(view.payload) {
            eventName = line["event_name"]?.stringValue
            source = line["source"]?.stringValue
        }
    }

    func value(_ field: TimelineGrouping) -> String {
        let v: String?
        switch field {
        case .kind: v = kindName
        case .ioType: v = ioType
        case .agent: v = agent
        case .tool: v = tool
        case .eventName: v = eventName
        case .source: v = source
        }
        guard let v, !v.isEmpty else { return TimelineGrouping.noValue }
        return v
    }
}

/// A session's summaries gathered for one timeline.
struct SessionSummaries {
    var bySegment: [UInt64: SegmentSummary] = [:]
    var streams: [String: StreamFields] = [:]
    var built = 0

    mutating func add(_ segment: UInt64, _ summary: SegmentSummary) {
        bySegment[segment] = summary
        if streams.count < SegmentSummary.streamsMax { streams.merge(summary.streams) { a, _ in a } }
    }

    func chunk(_ segment: UInt64, _ ordinal: Int) -> ChunkSummary? {
        guard let s = bySegment[segment], ordinal < s.chunks.count else { return nil }
        return s.chunks[ordinal]
    }
}

/// Summaries in memory, least recently used sessions dropped first past a chunk count.
struct SummaryCache {
    var sessions: [String: (summaries: [UInt64: SegmentSummary], used: UInt64, chunks: Int)] = [:]
    var clock: UInt64 = 0

    mutating func session(_ id: String) -> [UInt64: SegmentSummary] {
        clock += 1
        sessions[id]?.used = clock
        return sessions[id]?.summaries ?? [:]
    }

    mutating func put(_ id: String, _ summaries: [UInt64: SegmentSummary], limit: Int) {
        clock += 1
        sessions[id] = (summaries, clock, summaries.values.reduce(0) { $0 + $1.chunks.count })
        var total = sessions.values.reduce(0) { $0 + $1.chunks }
        while total > limit, sessions.count > 1, let oldest = sessions.filter({ $0.key != id }).min(by: { $0.value.used < $1.value.used }) {
            total -= oldest.value.chunks
            sessions[oldest.key] = nil
        }
    }

    mutating func remove(_ id: String) { sessions[id] = nil }
}

/// `buckets` equal slices of `[from, to)`.
struct BucketGrid {
    let from: Int64
    let to: Int64
    let buckets: Int
    let width: Int64

    init(from: Int64, to: Int64, buckets: Int) {
        self.from = from
        self.to = to
        self.buckets = buckets
        let span = UInt64(bitPattern: to &- from)
        width = Int64(clamping: (span + UInt64(buckets) - 1) / UInt64(buckets))
    }

    /// The bucket of a time in the window.
    func bucket(_ ns: Int64) -> Int {
        let offset = UInt64(bitPattern: ns &- from)
        return min(buckets - 1, Int(offset / UInt64(max(1, width))))
    }

    /// Where bucket `b` starts (`to` for `b == buckets`).
    func start(of b: Int) -> Int64 {
        if b >= buckets { return to }
        let (product, overflow) = Int64(b).multipliedReportingOverflow(by: width)
        let (s, overflow2) = from.addingReportingOverflow(product)
        return overflow || overflow2 ? to : min(to, s)
    }
}

/// Counts per bucket and lane, as fractions while chunks are spread.
struct Tally {
    var total: [Double]
    var lanes: [String: [Double]] = [:]
    let buckets: Int
    let grouped: Bool

    init(buckets: Int, grouped: Bool) {
        self.buckets = buckets
        self.grouped = grouped
        total = Array(repeating: 0, count: buckets)
    }

    mutating func add(bucket: Int, lane: String?, count: Double) {
        total[bucket] += count
        if grouped, let lane {
            lanes[lane, default: Array(repeating: 0, count: buckets)][bucket] += count
        }
    }

    func timeline(grid: BucketGrid, topGroups: Int, exact: Bool, chunks: Int) -> Timeline {
        // Whole counts that add up to the rounded total (largest remainders get the rest), so
        // that spreading chunks over buckets never loses or adds a record to the sum.
        let round = { (values: [Double]) -> [Int] in
            var whole = values.map { Int($0.rounded(.down)) }
            let missing = Int(values.reduce(0, +).rounded()) - whole.reduce(0, +)
            if missing > 0 {
                let order = values.indices.sorted { (values[$0] - Double(whole[$0]), $1) > (values[$1] - Double(whole[$1]), $0) }
                for i in order.prefix(missing) { whole[i] += 1 }
            }
            return whole
        }
        let lane = { (name: String, values: [Double]) in Timeline.Lane(name: name, counts: round(values), total: Int(values.reduce(0, +).rounded())) }
        let all = lanes.sorted { (($0.value.reduce(0, +)), $1.key) > (($1.value.reduce(0, +)), $0.key) }
        var kept = all.prefix(topGroups).map { lane($0.key, $0.value) }
        if all.count > topGroups {
            var other = Array(repeating: 0.0, count: buckets)
            for (_, values) in all.dropFirst(topGroups) { for (i, n) in values.enumerated() { other[i] += n } }
            kept.append(lane(TimelineGrouping.otherValues, other))
        }
        return Timeline(fromNs: grid.from, toNs: grid.to, bucketNs: grid.width, counts: round(total), lanes: kept, exact: exact, chunks: chunks)
    }
}

public import RRLogCatalog
public import RRLogFormat
public import RRLogIOProfile
public import RRLogJSON
public import RRLogStorage

/// Reads one session: records in order, and recorded calls by IO key in O(1). One reader per
/// thread; `snapshot` is shared by many.
public final class SessionReader {
    /// The session's manifest when it was opened.
    public let manifest: SessionManifest
    package let log: LogReader
    private let decompressor = Decompressor()
    /// The chunk `record(atSequence:)` decoded last: reading records in order decodes each chunk
    /// once.
    private var lastChunk: (segment: UInt64, ordinal: Int, data: [UInt8])?

    package init(manifest: SessionManifest, log: LogReader) {
        self.manifest = manifest
        self.log = log
    }

    /// The volatile paths the session was recorded with (its `volatile_paths` annotation).
    public var volatilePaths: VolatilePaths {
        guard let text = manifest.annotations["volatile_paths"], let value = try? JSONValue.parse(text),
            let list = value.arrayValue?.compactMap(\.stringValue), let paths = try? VolatilePaths(list)
        else { return VolatilePaths() }
        return paths
    }

    /// The redaction the session's IO events were recorded with (`SessionRedaction`: the default
    /// rules unless a writer was asked for none). Lookups apply it to the inputs they are given,
    /// since keys were derived from redacted inputs.
    public var redaction: Redaction { SessionRedaction.rules(manifest) }

    /// A call-index counter that continues the session: every stored key is observed, so the
    /// next identical call gets the index after the last one stored (FORMAT-IO-PROFILE.md §6: indexes
    /// count per session, across the processes that append to it).
    public func restoredCallIndexCounter() -> CallIndexCounter {
        var counter = CallIndexCounter()
        forEach(kinds: [RecordKind.event.rawValue, RecordKind.streamStart.rawValue]) { view in
            if let raw = view.key, let key = IOKey(bytes: raw) { counter.observe(key) }
            return true
        }
        return counter
    }

    /// `identity` with the session's redaction applied to its inputs.
    public func redacted(_ identity: IOCallIdentity) -> IOCallIdentity {
        var ignored: [String] = []
        var copy = identity
        copy.inputs = redaction.apply(identity.inputs, prefix: "inputs", redacted: &ignored)
        return copy
    }

    /// The session's segments as of opening or the last `refresh()`, for lookups and scans from
    /// many threads at once (`LogSnapshot`); a `SessionReader` itself serves one thread.
    public var snapshot: LogSnapshot { log.snapshot }

    /// Picks up records appended since opening.
    public func refresh() throws(RRLogError) {
        lastChunk = nil
        do { try log.refresh() } catch { throw RRLogError(error) }
    }

    /// For one-pass readers (export, `cat`): each segment's pages are let go once a scan has
    /// read it, so the resident set stays one segment large (`LogReader.dropsPagesBehindScans`).
    public var dropsPagesBehindScans: Bool {
        get { log.dropsPagesBehindScans }
        set { log.dropsPagesBehindScans = newValue }
    }

    /// Records readable now.
    public var recordCount: Int { log.recordCount }

    /// The underlying segments (for `info`).
    public var segments: [SegmentHandle] { log.segments }

    /// Calls `body` with each record in sequence order that passes the filters, until it returns
    /// false. Returns damaged ranges that were skipped.
    @discardableResult
    public func forEach(
        kinds: Set<UInt16>? = nil, fromNs: Int64? = nil, toNs: Int64? = nil, fromSequence: UInt64 = 0,
        _ body: (RecordView) throws -> Bool
    ) rethrows -> [LostRange] {
        try log.forEachRecord(fromSequence: fromSequence) { view in
            if let kinds, !kinds.contains(view.kind) { return true }
            if let fromNs, view.timestampNs < fromNs { return true }
            if let toNs, view.timestampNs > toNs { return true }
            return try body(view)
        }
    }

    /// Starts faulting the session's mapped files in on a background thread, so that the lookups
    /// of a replay take no page faults (`LogReader.prefault()`: for sessions in the page cache).
    @discardableResult
    public func prefault() -> Prefault { log.prefault() }

    /// The recorded record for `key`, if any: one hash probe per segment, then one record read.
    public func record(for key: IOKey) -> Record? {
        key.withUnsafeBytes { log.lookupFirst(key: $0) }
    }

    /// The record with sequence number `sequence`, if it is readable: the segment whose chunks hold
    /// it, a binary search of that segment's chunk index, then one chunk decoded (its CRC
    /// checked) and kept for the next call. Nil when no record has that sequence or its chunk is
    /// damaged.
    public func record(atSequence sequence: UInt64) -> Record? {
        for segment in log.segments {
            guard let first = segment.view.chunks.first, let last = segment.view.chunks.last,
                sequence >= first.firstSequence, sequence <= last.lastSequence
            else { continue }
            guard let ordinal = segment.view.chunkOrdinal(containing: sequence) else { return nil }
            if lastChunk == nil || lastChunk!.segment != segment.id || lastChunk!.ordinal != ordinal {
                lastChunk = nil
                _ = segment.withChunkData(ordinal, decompressor: decompressor) { lastChunk = (segment.id, ordinal, Array($0)) }
            }
            guard let data = lastChunk?.data else { return nil }
            var found: Record?
            data.withUnsafeBytes { bytes in
                _ = ChunkReader.forEachRecord(bytes, shape: ChunkShape(segment.view.chunks[ordinal]), checkCRC: false) { view in
                    if view.sequence == sequence { found = view.makeRecord() }
                    return view.sequence < sequence
                }
            }
            return found
        }
        return nil
    }

    /// The recorded call with this identity and call index, parsed; nil when none matches.
    public func lookup(_ identity: IOCallIdentity, callIndex: UInt32 = 0) -> JSONValue? {
        let key = IOKey.derive(redacted(identity), callIndex: callIndex, volatile: volatilePaths)
        guard let record = record(for: key) else { return nil }
        return IOLine.parse(record.payload, timestampNs: record.timestampNs)
    }

    /// How many identical calls were recorded for `identity` (call indexes 0..<n).
    public func recordedCallCount(_ given: IOCallIdentity) -> UInt32 {
        let identity = redacted(given)
        var n: UInt32 = 0
        while record(for: IOKey.derive(identity, callIndex: n, volatile: volatilePaths)) != nil { n += 1 }
        return n
    }

    /// A recorded call close to one that was not found, with how its inputs differ.
    public struct NearMiss: Sendable {
        /// The recorded line.
        public var recorded: JSONValue
        /// Its sequence number.
        public var sequence: UInt64
        /// Field-level differences, recorded versus given.
        public var differences: [InputDifference]
    }

    /// The recorded calls closest to `identity` (same io type and tool first, then fewest
    /// differing input fields), for mismatch reports. Scans the session's events.
    public func closestCalls(to given: IOCallIdentity, limit: Int = 3) -> [NearMiss] {
        let identity = redacted(given)
        var candidates: [(score: Int, miss: NearMiss)] = []
        let volatile = volatilePaths
        forEach(kinds: [RecordKind.event.rawValue, RecordKind.streamStart.rawValue]) { view in
            guard let line = IOLine.parse(view), let other = IOCallIdentity(event: line) else { return true }
            var score = 0
            if other.ioType != identity.ioType { score += 1000 }
            if other.tool != identity.tool { score += 100 }
            if other.agent != identity.agent { score += 10 }
            let diffs = InputDifference.diff(recorded: other.inputs, given: identity.inputs, volatile: volatile)
            score += diffs.count
            candidates.append((score, NearMiss(recorded: line, sequence: view.sequence, differences: diffs)))
            return true
        }
        return candidates.sorted { $0.score < $1.score || ($0.score == $1.score && $0.miss.sequence < $1.miss.sequence) }.prefix(limit).map(\.miss)
    }
}

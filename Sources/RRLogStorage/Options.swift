public import RRLogFormat

/// When appended records reach stable storage, and so what a crash can lose
/// (FORMAT-IO-PROFILE.md §11, README "Durability and recovery"). Under every policy a record is
/// written to the file (the page cache) by the time its chunk closes, `flush()` or `close()`, and
/// from then on survives a crash of the process; what survives a crash of the machine is what
/// the policy has fsynced.
public enum Durability: Sendable, Equatable, CustomStringConvertible {
    /// No fsync while appending: a machine crash can lose whatever the kernel had not yet
    /// written back.
    case none
    /// A background thread fsyncs every `milliseconds`: a machine crash loses at most about that
    /// much of what was appended.
    case interval(milliseconds: Int)
    /// `append` and `appendBatch` return only once their records are on stable storage: a
    /// machine crash loses no record whose append returned. Concurrent appenders (threads, or
    /// tasks awaiting `LogWriter.appendDurably`) share fsyncs (group commit), so many appenders
    /// cost little more than one; tasks never block a thread while they wait.
    case everyBatch

    public var description: String {
        switch self {
        case .none: return "none"
        case .interval(let ms): return "interval(\(ms)ms)"
        case .everyBatch: return "every-batch"
        }
    }
}

/// How a thread that appends under `Durability.everyBatch` waited for another caller's fsync.
///
/// Deprecated: how waiters wait is the writer's own tuning, not a promise. A value set through
/// `LogOptions.durableWait` is still honoured for now (`.automatic`, the default, is what the
/// writer does by itself); it changes speed and CPU use, never what survives a crash.
@available(*, deprecated, message: "group commit picks how waiters wait by itself; Durability says what is promised")
public enum DurableWait: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Sleep at once, until the fsync that covers the record wakes the thread.
    case sleep
    /// Yield the CPU in a loop for a while before sleeping.
    case spin
    /// Spin while fsyncs are short, sleep while they are long (the default).
    case automatic

    /// The longest typical fsync, in nanoseconds, with which ``automatic`` still spins.
    public static var automaticSpinLimitNs: UInt64 { GroupCommitPolicy.automaticSpinLimitNs }
    /// The most a waiter spins, in nanoseconds, before it sleeps.
    public static var spinBudgetLimitNs: UInt64 { GroupCommitPolicy.spinBudgetLimitNs }

    /// How long a waiter spins before it sleeps, in nanoseconds, when fsyncs typically take
    /// `typicalSyncNs`; 0 means sleep at once.
    public func spinBudgetNs(typicalSyncNs: UInt64) -> UInt64 {
        GroupCommitPolicy(waiting: waiting).spinBudgetNs(typicalSyncNs: typicalSyncNs)
    }

    var waiting: GroupCommitPolicy.Waiting {
        switch self {
        case .sleep: return .sleep
        case .spin: return .spin
        case .automatic: return .automatic
        }
    }

    init(_ waiting: GroupCommitPolicy.Waiting) {
        switch waiting {
        case .sleep: self = .sleep
        case .spin: self = .spin
        case .automatic: self = .automatic
        }
    }

    public var description: String { rawValue }
}

/// What opening a log does with damage in its last segment (FORMAT.md §9).
public enum RecoveryMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Any damage, even a torn tail, is an error; nothing is changed.
    case strict
    /// A torn tail is truncated; damage followed by valid data is an error.
    case tolerateTail = "tolerate-tail"
    /// Truncate at the first damage and drop everything after it (the default: the log is exactly
    /// what was written up to a point in time).
    case pointInTime = "point-in-time"
    /// Keep every intact chunk, before and after damage; drop only the damaged bytes.
    case salvage

    public var description: String { rawValue }
}

/// How a log writes.
public struct LogOptions: Sendable {
    /// Chunk compression.
    public var codec: Codec = .none
    /// zstd level, 1-19.
    public var zstdLevel: Int = 3
    /// Record bytes at which a chunk closes; nil picks by codec (`defaultChunkSizeBytes(for:)`).
    public var chunkSizeBytes: Int? = nil
    /// Bytes at which a segment is sealed and a new one started.
    public var segmentSizeBytesMax: Int = 128 << 20
    /// Age at which a segment is sealed, if set (checked when a chunk closes).
    public var segmentAgeSecondsMax: Double? = nil
    /// Records at which a segment is sealed, if set.
    public var segmentRecordCountMax: Int? = nil
    /// When data is fsynced.
    public var durability: Durability = .none
    /// How group commit runs: the writer's own tuning, set only by this module's tests.
    var groupCommit = GroupCommitPolicy()
    /// How a thread waiting in a group commit for another caller's fsync waits. Still honoured;
    /// it changes speed and CPU use, never what `durability` promises.
    @available(*, deprecated, message: "group commit picks how waiters wait by itself; Durability says what is promised")
    public var durableWait: DurableWait {
        get { DurableWait(groupCommit.waiting) }
        set { groupCommit.waiting = newValue.waiting }
    }
    /// What opening does with a damaged last segment.
    public var recovery: RecoveryMode = .pointInTime
    /// The lowest id a new segment may get (compaction numbers its output after the segments it
    /// replaces, so a reader never mistakes a new segment for an old one of the same name).
    public var firstSegmentID: UInt64 = 1

    /// Defaults: uncompressed, chunks by codec, 128 MiB segments, no fsync, point-in-time recovery.
    public init() {}

    /// The chunk size used when `chunkSizeBytes` is nil: 256 KiB uncompressed, 64 KiB lz4, 32 KiB
    /// zstd. A lookup decompresses (part of) one chunk: lz4 stops at the record, zstd decodes
    /// whole blocks, so these sizes keep lookups in the tens of microseconds for a few percent of
    /// compression ratio (BENCHMARKS.md).
    public static func defaultChunkSizeBytes(for codec: Codec) -> Int {
        switch codec {
        case .none: return 256 << 10
        case .lz4: return 64 << 10
        case .zstd: return 32 << 10
        }
    }

    /// Chunk sizes a writer accepts: from the smallest a chunk builder uses to 64 MiB (well under
    /// the frame cap of FORMAT.md §8, and a lookup decompresses up to one chunk).
    public static let chunkSizeBytesRange = 256...(64 << 20)

    /// The chunk size in effect.
    public var effectiveChunkSizeBytes: Int { chunkSizeBytes ?? Self.defaultChunkSizeBytes(for: codec) }
}

/// A range of data that recovery or a reader could not keep.
public struct LostRange: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The segment file.
    public var file: String
    /// First byte offset lost.
    public var startOffset: Int
    /// One past the last byte offset lost.
    public var endOffset: Int
    /// First sequence lost, when the damaged frame's header still said it.
    public var firstSequence: UInt64?
    /// Last sequence lost, when known.
    public var lastSequence: UInt64?
    /// Why.
    public var reason: String

    /// Makes a range.
    public init(file: String, startOffset: Int, endOffset: Int, firstSequence: UInt64? = nil, lastSequence: UInt64? = nil, reason: String) {
        self.file = file
        self.startOffset = startOffset
        self.endOffset = endOffset
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.reason = reason
    }

    public var description: String {
        var s = "\(file) bytes \(startOffset)..<\(endOffset)"
        if let f = firstSequence, let l = lastSequence { s += " (sequences \(f)...\(l))" }
        return s + ": " + reason
    }
}

/// What opening a log found and did.
public struct RecoveryReport: Sendable, Equatable {
    /// Bytes cut from the end of segments.
    public var truncatedBytes = 0
    /// Data dropped, as ranges.
    public var lost: [LostRange] = []
    /// Segments that were given a new index and footer.
    public var resealed: [String] = []

    /// True when nothing was dropped.
    public var isLossless: Bool { lost.isEmpty }
}

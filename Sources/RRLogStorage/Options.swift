public import RRLogFormat

/// When appended records are forced to stable storage (FORMAT-IO-PROFILE.md §11, README "Durability").
public enum Durability: Sendable, Equatable, CustomStringConvertible {
    /// Never fsync while writing; data reaches the disk when the kernel writes it back, and on
    /// `close()`. Survives a crash of the process once flushed, not a crash of the machine.
    case none
    /// A background thread fsyncs every `milliseconds`; at most that much acknowledged data can be
    /// lost in a machine crash.
    case interval(milliseconds: Int)
    /// Every `append`/`appendBatch` returns only once its records are on stable storage. Concurrent
    /// appenders share one fsync (group commit).
    case everyBatch

    public var description: String {
        switch self {
        case .none: return "none"
        case .interval(let ms): return "interval(\(ms)ms)"
        case .everyBatch: return "every-batch"
        }
    }
}

/// How a thread that appends under `Durability.everyBatch` waits for another caller's fsync to
/// cover its record (group commit). Tasks awaiting `LogWriter.appendDurably` never block a thread,
/// whatever this says.
public enum DurableWait: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Sleep at once, until the fsync that covers the record wakes the thread.
    case sleep
    /// Yield the CPU in a loop for up to three times a typical fsync's duration (at most 2 ms),
    /// then sleep. Where waking a sleeping thread is slow (virtual machines whose idle vCPUs
    /// halt), the waiters are already running when their fsync ends and many appenders share each
    /// fsync sooner, at the price of the CPU they spend yielding.
    case spin
    /// `spin` while fsyncs typically take at most ``automaticSpinLimitNs``, `sleep` while they
    /// take longer. On a fast device a thread's wake-up is a large part of each group commit and a spin
    /// costs little; on a slow one the wake-up is small beside the fsync, and spinning through it
    /// would only burn CPU. The default.
    case automatic

    /// The longest typical fsync, in nanoseconds, with which ``automatic`` still spins: 500 µs.
    public static let automaticSpinLimitNs: UInt64 = 500_000
    /// The most a waiter spins, in nanoseconds, before it sleeps: 2 ms.
    public static let spinBudgetLimitNs: UInt64 = 2_000_000

    /// How long a waiter spins before it sleeps, in nanoseconds, when fsyncs typically take
    /// `typicalSyncNs` (the writer keeps a moving average; 0 before the first fsync): three times
    /// that, which covers the rest of a round under way and the next one, at most
    /// ``spinBudgetLimitNs``; 0 means sleep at once.
    public func spinBudgetNs(typicalSyncNs: UInt64) -> UInt64 {
        guard typicalSyncNs > 0 else { return 0 }
        switch self {
        case .sleep: return 0
        case .automatic where typicalSyncNs > Self.automaticSpinLimitNs: return 0
        case .spin, .automatic: return min(typicalSyncNs &* 3, Self.spinBudgetLimitNs)
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
    /// With `Durability.everyBatch`: how a thread waiting in a group commit for another caller's
    /// fsync waits (`DurableWait`); by default it spins while fsyncs are short.
    public var durableWait: DurableWait = .automatic
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

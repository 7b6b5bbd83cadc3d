import NIOCore
import NIOHTTPTypes
import Synchronization

/// How far from their recorded timing replayed stream chunks reached the proxy's sockets: for
/// each chunk, the time between the instant it was due (its recorded offset divided by the speed,
/// counted from the start of the answer's body) and the instant the write of its bytes to the
/// connection's socket had completed, early or late. Kept in 10 µs buckets up to 10 ms (later
/// ones in one overflow bucket), so its size is fixed however many chunks are replayed.
public struct ChunkTiming: Sendable, Equatable {
    /// Width of a bucket, in nanoseconds.
    static let bucketNs: Int64 = 10_000
    /// Buckets before the overflow one (10 ms).
    static let bucketCount = 1_000

    /// Chunks measured.
    public private(set) var count = 0
    /// The farthest a chunk was from its instant, in nanoseconds (0 when none).
    public private(set) var maxNs: Int64 = 0
    private var buckets: [Int] = []

    /// Nothing measured yet.
    public init() {}

    /// Counts one chunk that reached the socket `ns` nanoseconds after it was due (negative:
    /// before; an early chunk counts by how early it was).
    public mutating func add(_ ns: Int64) {
        let late = ns == .min ? .max : abs(ns)
        if buckets.isEmpty { buckets = Array(repeating: 0, count: Self.bucketCount + 1) }
        buckets[Int(min(late / Self.bucketNs, Int64(Self.bucketCount)))] += 1
        count += 1
        maxNs = max(maxNs, late)
    }

    /// The distance from its instant at or under which a `fraction` of the chunks got out (0.99 for the 99th
    /// percentile), in nanoseconds: the upper edge of its 10 µs bucket, at most `maxNs` (which past
    /// 10 ms it is); nil when nothing was measured.
    public func percentileNs(_ fraction: Double) -> Int64? {
        guard count > 0, !fraction.isNaN else { return nil }
        // The rank in whole chunks, from per-million parts (no float rounding past an integer).
        let perMillion = Int((min(max(fraction, 0), 1) * 1_000_000).rounded())
        let (whole, part) = count.quotientAndRemainder(dividingBy: 1_000_000)
        let rank = max(1, whole * perMillion + (part * perMillion + 999_999) / 1_000_000)
        var seen = 0
        for (index, n) in buckets.enumerated() {
            seen += n
            if seen >= rank { return index == Self.bucketCount ? maxNs : min(maxNs, Int64(index + 1) * Self.bucketNs) }
        }
        return maxNs
    }
}

/// Writes a replayed stream's chunks to a connection at their recorded times, from the
/// connection's own event loop: each chunk's timer (a timerfd on Linux) fires on the thread that
/// owns the socket, and the chunk is written and flushed right there, with no task to wake and no
/// hop between threads on the way. The instant the write to the socket completed is measured
/// against the instant the chunk was due, on the same thread.
///
/// A sleeping thread still wakes late: on this project's virtual machines a 10 ms sleep ends
/// 130-160 µs late at the median, in C as in Swift (an idle virtual CPU is woken by the host).
/// So each timer is set `lead` early, the least wake-up delay seen lately (`PacingLead`), and the
/// chunk goes out when it fires.
///
/// The answer's head goes first through Hummingbird's writer; the chunks go in as body parts at
/// the pipeline's tail (the type Hummingbird's HTTP/1 channel writes, so the same handlers frame
/// them), and the caller writes the end through its writer once `run` returns.
final class ChunkPacer: @unchecked Sendable {
    // `@unchecked Sendable`: `next`, `timer` and `done` are touched only on `channel.eventLoop`.
    private let channel: any Channel
    private let parts: [ByteBuffer]
    private let offsets: [TimeAmount]
    private let measured: @Sendable (Int64) -> Void
    private let lead: PacingLead
    private let finished: EventLoopPromise<Void>
    private var start = NIODeadline.now()
    private var next = 0
    private var timer: Scheduled<Void>?
    private var done = false

    /// A pacer for `chunks` (the bytes of each) due at `offsets` from its start; `measured` gets
    /// each chunk's distance from its instant at the socket, in nanoseconds (negative: early).
    init(channel: any Channel, chunks: [[UInt8]], offsets: [Duration], lead: PacingLead, measured: @escaping @Sendable (Int64) -> Void) {
        self.lead = lead
        self.channel = channel
        self.parts = chunks.map { ByteBuffer(bytes: $0) }
        self.offsets = offsets.map { d in
            let (seconds, attoseconds) = d.components
            return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
        self.measured = measured
        self.finished = channel.eventLoop.makePromise()
    }

    /// Writes every chunk at its time; returns once the last one was written to the socket.
    /// Throws when the connection fails (the client went away), and stops the remaining timers
    /// when the calling task is cancelled.
    func run() async throws {
        let loop = channel.eventLoop
        loop.execute {
            self.start = .now()
            if self.parts.isEmpty { self.finish(.success(())) } else { self.scheduleNext() }
        }
        try await withTaskCancellationHandler {
            try await finished.futureResult.get()
        } onCancel: {
            loop.execute { self.finish(.failure(CancellationError())) }
        }
    }

    private func scheduleNext() {
        guard !done, next < parts.count else { return }
        let due = start + offsets[next]
        let early = lead.lead
        let target = due - early
        // Only a timer set in the future measures how late the thread wakes.
        let sleeps = target > .now()
        timer = channel.eventLoop.scheduleTask(deadline: target) { self.write(due: due, target: sleeps ? target : nil) }
    }

    private func write(due: NIODeadline, target: NIODeadline?) {
        guard !done else { return }
        let index = next
        next += 1
        channel.writeAndFlush(HTTPResponsePart.body(parts[index])).whenComplete { result in
            switch result {
            case .success:
                let now = NIODeadline.now()
                self.measured(Int64(now.uptimeNanoseconds) - Int64(due.uptimeNanoseconds))
                if let target { self.lead.observe(Int64(now.uptimeNanoseconds) - Int64(target.uptimeNanoseconds)) }
                if index == self.parts.count - 1 { self.finish(.success(())) }
            case .failure(let error):
                self.finish(.failure(error))
            }
        }
        scheduleNext()
    }

    private func finish(_ result: Result<Void, any Error>) {
        guard !done else { return }
        done = true
        timer?.cancel()
        finished.completeWith(result)
    }
}

/// How early to set a paced chunk's timer: the least time recent chunks took from their timer to
/// the socket (the smallest of the last 64, at most 500 µs). The least, not a typical one, so a
/// chunk goes out early only when a wake-up is quicker than any lately, and by little. Shared by
/// the streams of one proxy.
final class PacingLead: Sendable {
    /// How many recent wake-ups are remembered.
    static let window = 64
    /// The most a timer is set early, in nanoseconds.
    static let maxNs: Int64 = 500_000

    private struct Recent {
        var delays: [Int64] = []
        var next = 0
    }
    private let recent = Mutex(Recent())

    /// The lead to set a timer with now (zero before any chunk was timed).
    var lead: TimeAmount { .nanoseconds(recent.withLock { min($0.delays.min() ?? 0, Self.maxNs) }) }

    /// Notes that a chunk reached the socket `ns` nanoseconds after its timer's instant (a
    /// negative time, from clock noise, counts as 0).
    func observe(_ ns: Int64) {
        recent.withLock { r in
            let delay = max(0, ns)
            if r.delays.count < Self.window { r.delays.append(delay) } else { r.delays[r.next] = delay }
            r.next = (r.next + 1) % Self.window
        }
    }
}

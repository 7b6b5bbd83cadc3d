import Foundation
import Synchronization
import SystemPackage

/// How the threads of a group commit wait for the fsync that covers them, and how long a leader
/// gathers appenders before it fsyncs. The writer's own tuning, not API: `Durability` says what
/// is promised, this only how fast it is kept.
struct GroupCommitPolicy: Sendable, Equatable {
    /// How a thread waits for another caller's fsync.
    enum Waiting: Sendable, Equatable, CaseIterable {
        /// Sleep at once, until the fsync that covers the record wakes the thread.
        case sleep
        /// Yield the CPU in a loop for a while (`spinBudgetNs`), then sleep. Where waking a
        /// sleeping thread is slow (virtual machines whose idle vCPUs halt), the waiters are
        /// already running when their fsync ends and many appenders share each fsync sooner, at
        /// the price of the CPU they spend yielding.
        case spin
        /// `spin` while fsyncs are short (`automaticSpinLimitNs`), `sleep` while they are long: on
        /// a fast device a wake-up is a large part of each round and a spin costs little; on a
        /// slow one the wake-up is small beside the fsync and spinning through it only burns CPU.
        case automatic
    }

    var waiting: Waiting = .automatic

    /// The longest typical fsync with which `.automatic` still spins: 500 µs.
    static let automaticSpinLimitNs: UInt64 = 500_000
    /// The most a waiter spins before it sleeps: 2 ms.
    static let spinBudgetLimitNs: UInt64 = 2_000_000
    /// The most a leader waits for the previous round's appenders to come back: 1 ms.
    static let gatherLimitNs: UInt64 = 1_000_000

    /// How long a waiter spins before it sleeps when fsyncs typically take `typicalSyncNs` (0
    /// before the first fsync): three times that, which covers the rest of a round under way and
    /// the next one, at most `spinBudgetLimitNs`; 0 means sleep at once.
    ///
    /// The spin is a loop of yields, not a timed sleep: a timer's wake-up is as slow as the
    /// semaphore's, which is what spinning avoids.
    func spinBudgetNs(typicalSyncNs: UInt64) -> UInt64 {
        guard typicalSyncNs > 0 else { return 0 }
        switch waiting {
        case .sleep: return 0
        case .automatic where typicalSyncNs > Self.automaticSpinLimitNs: return 0
        case .spin, .automatic: return min(typicalSyncNs &* 3, Self.spinBudgetLimitNs)
        }
    }

    /// How long a leader waits for the callers the previous fsync released to append again,
    /// when that fsync took `lastSyncNs`: half of it, or all of it when the waiters spin (they
    /// come back sooner), at most `gatherLimitNs`.
    func gatherNs(lastSyncNs: UInt64, waitersSpin: Bool) -> UInt64 {
        min(waitersSpin ? lastSyncNs : lastSyncNs / 2, Self.gatherLimitNs)
    }
}

/// What an fsync of a group commit covers: the open segment (its descriptor, nil when every
/// segment is sealed) and the last sequence written to it.
struct GroupCommitTarget {
    var fd: CInt?
    var path: String
    var writtenUpTo: UInt64
}

/// The log a group commit makes durable: its writer. Called with the writer's lock held.
protocol GroupCommitLog: AnyObject, Sendable {
    /// The sequence of the last record appended.
    var lastAppendedLocked: UInt64 { get }
    /// The sequence of the last record written to the file (the open chunk's are not).
    var lastWrittenLocked: UInt64 { get }
    /// True once the writer closed.
    var isClosedLocked: Bool { get }
    /// Writes the open chunk to the file and says what an fsync must cover. With no segment
    /// open, everything written is sealed (and fsynced when durability asks for it).
    func writeForSyncLocked() throws(StorageError) -> GroupCommitTarget
}

/// One thread waiting in a group commit for an fsync under way. The leader fills in `outcome`
/// before it releases the waiter, which reads it only after that.
private final class DurabilityWaiter: Sendable {
    struct Outcome {
        var failure: StorageError?
        /// Woken to lead the next fsync, not because the record is durable.
        var lead = false
    }

    let sequence: UInt64
    let wake = DispatchSemaphore(value: 0)
    /// Set (releasing) after `outcome`, just before `wake` is signalled: a waiter that sees it
    /// while spinning needs no wake-up.
    let released = Atomic<Bool>(false)
    let outcome = Mutex(Outcome())

    init(sequence: UInt64) { self.sequence = sequence }

    /// Waits until released: first yielding the CPU in a loop for `spinNs` (none when 0), then
    /// asleep on `wake`. A release seen while spinning leaves `wake` signalled once; nobody waits
    /// on it again. One that comes after the loop has signalled (or will signal) `wake`.
    func wait(spinNs: UInt64) -> Outcome {
        waitUntilReleased(spinNs: spinNs)
        return outcome.withLock { $0 }
    }

    private func waitUntilReleased(spinNs: UInt64) {
        if spinNs > 0 {
            let deadline = Sys.monotonicNs() &+ spinNs
            while Sys.monotonicNs() < deadline {
                if released.load(ordering: .acquiring) { return }
                Sys.yield()
            }
        }
        wake.wait()
    }

    func release() {
        released.store(true, ordering: .releasing)
        wake.signal()
    }
}

/// A task waiting in `GroupCommit.waitUntilDurable`.
private struct AsyncDurabilityWaiter {
    let sequence: UInt64
    let continuation: CheckedContinuation<Result<Void, StorageError>, Never>
}

/// Group commit for one `LogWriter`: callers that need their records durable share fsyncs.
///
/// A caller that finds no fsync under way leads one: it gathers the callers the previous fsync
/// released (`gatherLocked`), writes the open chunk and fsyncs for everyone who appended before
/// it. The others each wait on their own semaphore, which the leader signals once their record
/// is durable, so a finished fsync wakes exactly the callers it covers and none of them needs
/// the lock to return. When callers remain that the fsync did not cover, the first of them is
/// woken to lead the next one. Tasks (`waitUntilDurable`) never block a thread: one sync thread
/// leads the group commits for all of them.
///
/// `@unchecked Sendable`: every variable is guarded by `lock`, the writer's own lock, which a
/// `Mutex` cannot be because rounds wait on it as a condition variable.
final class GroupCommit: @unchecked Sendable {
    /// The writer's lock.
    let lock: NSCondition
    let policy: GroupCommitPolicy
    /// The log directory, for errors.
    let directory: String

    /// The highest sequence known to be on stable storage.
    private(set) var durableSequence: UInt64
    /// True while a leader's round runs (from its gathering to the end of its fsync).
    private(set) var syncing = false
    private var waiters: [DurabilityWaiter] = []
    /// Waiters to signal once `lock` is released (`unlockAndWake`).
    private var wakes: [DurabilityWaiter] = []
    private var asyncWaiters: [AsyncDurabilityWaiter] = []
    private var syncThreadRunning = false
    private var lastAsyncGroup = 0
    private var lastGroupSize = 0
    private var returnedSinceRelease = 0
    private var gathering = false
    private var lastSyncNs: UInt64 = 0
    /// A moving average of fsync durations (each new one weighs 1/16; 0 before the first), which
    /// decides whether waiters spin: one slow fsync among fast ones does not change the policy.
    private var typicalSyncNs: UInt64 = 0

    init(lock: NSCondition, policy: GroupCommitPolicy, directory: String, durableUpTo: UInt64) {
        self.lock = lock
        self.policy = policy
        self.directory = directory
        self.durableSequence = durableUpTo
    }

    // MARK: Threads

    /// Returns once `sequence` (and everything before it) of `log` is on stable storage, leading
    /// an fsync or waiting for one. Entered with `lock` held; returns (or throws) with it
    /// released.
    func syncLocked(upTo sequence: UInt64, log: some GroupCommitLog) throws(StorageError) {
        if durableSequence >= min(sequence, log.lastAppendedLocked) {
            lock.unlock()
            return
        }
        returnedSinceRelease &+= 1
        if gathering && returnedSinceRelease >= lastGroupSize { lock.broadcast() }
        while syncing {
            let waiter = DurabilityWaiter(sequence: min(sequence, log.lastAppendedLocked))
            waiters.append(waiter)
            let spin = policy.spinBudgetNs(typicalSyncNs: typicalSyncNs)
            lock.unlock()
            let outcome = waiter.wait(spinNs: spin)
            if let failure = outcome.failure { throw failure }
            if !outcome.lead { return }
            lock.lock()
            if durableSequence >= min(sequence, log.lastAppendedLocked) {
                lock.unlock()
                return
            }
        }
        syncing = true
        gatherLocked(log)
        let target: GroupCommitTarget
        do {
            target = try log.writeForSyncLocked()
        } catch {
            endRoundLocked(failure: error, coveredUpTo: log.lastWrittenLocked)
            unlockAndWake()
            throw error
        }
        guard let fd = target.fd else {
            durableSequence = max(durableSequence, target.writtenUpTo)
            endRoundLocked(failure: nil, coveredUpTo: target.writtenUpTo)
            unlockAndWake()
            return
        }
        let groupSize = 1 + waiters.count
        lock.unlock()
        let started = Sys.monotonicNs()
        var failure: Errno?
        do { try Sys.fdatasync(fd) } catch { failure = error }
        let took = Sys.monotonicNs() &- started
        lock.lock()
        lastSyncNs = took
        typicalSyncNs = typicalSyncNs == 0 ? max(took, 1) : (typicalSyncNs &* 15 &+ took) / 16
        lastGroupSize = groupSize
        returnedSinceRelease = 0
        if failure == nil { durableSequence = max(durableSequence, target.writtenUpTo) }
        let error = failure.map { StorageError.system($0, "fsync", path: target.path) }
        endRoundLocked(failure: error, coveredUpTo: target.writtenUpTo)
        unlockAndWake()
        if let error { throw error }
    }

    /// Before a leader fsyncs, waits briefly for the appenders the previous fsync released to
    /// append again, so that they share this fsync. Without it, appenders that each wait for
    /// their own record settle into two groups that take turns (one appends while the other's
    /// fsync runs), and every fsync carries half of them. The wait ends when as many callers
    /// have come back as the previous fsync released, or after `GroupCommitPolicy.gatherNs`. A
    /// lone appender never waits: it is the one that came back.
    private func gatherLocked(_ log: some GroupCommitLog) {
        guard lastGroupSize > 1, returnedSinceRelease < lastGroupSize, lastSyncNs > 0 else { return }
        let spins = policy.spinBudgetNs(typicalSyncNs: typicalSyncNs) > 0
        let waitNs = policy.gatherNs(lastSyncNs: lastSyncNs, waitersSpin: spins)
        if spins {
            // The waiters spin, so the leader does too: one that slept here would need a
            // wake-up of its own from the last appender to come back.
            let deadline = Sys.monotonicNs() &+ waitNs
            while returnedSinceRelease < lastGroupSize, !log.isClosedLocked, Sys.monotonicNs() < deadline {
                lock.unlock()
                Sys.yield()
                lock.lock()
            }
            return
        }
        let deadline = Date(timeIntervalSinceNow: Double(waitNs) / 1e9)
        gathering = true
        while returnedSinceRelease < lastGroupSize, !log.isClosedLocked {
            if !lock.wait(until: deadline) { break }
        }
        gathering = false
    }

    /// Ends a leader's round: wakes the waiters it made durable (or, when it failed, the ones
    /// its fsync was for, with the error) and hands the lead to the first waiter left.
    private func endRoundLocked(failure: StorageError?, coveredUpTo covered: UInt64) {
        syncing = false
        releaseWaitersLocked(failure: failure, coveredUpTo: covered)
        if !waiters.isEmpty {
            let next = waiters.removeFirst()
            next.outcome.withLock { $0.lead = true }
            wakes.append(next)
        }
        lock.broadcast()
    }

    /// Releases `lock`, then signals the waiters collected in `wakes`: a waiter signalled while
    /// the lock is held would run only to block on it. Signalling them one after another costs
    /// no more than a tree of wake-ups would: the wake-ups cost CPU, not a serial chain.
    ///
    /// The list moves into a local while the lock is held: once it is released another round
    /// may end and collect waiters of its own.
    private func unlockAndWake() {
        var woken: [DurabilityWaiter] = []
        swap(&woken, &wakes)
        lock.unlock()
        for waiter in woken { waiter.release() }
    }

    /// Wakes the waiters whose records are durable, and with a failure those up to `covered`.
    private func releaseWaitersLocked(failure: StorageError?, coveredUpTo covered: UInt64) {
        guard !waiters.isEmpty else { return }
        var kept = 0
        for waiter in waiters {
            if waiter.sequence <= durableSequence {
                wakes.append(waiter)
            } else if let failure, waiter.sequence <= covered {
                waiter.outcome.withLock { $0.failure = failure }
                wakes.append(waiter)
            } else {
                waiters[kept] = waiter
                kept += 1
            }
        }
        waiters.removeLast(waiters.count - kept)
    }

    /// Signals the collected waiters at once, with `lock` held (sealing and closing, which are rare).
    private func wakeNowLocked() {
        for waiter in wakes { waiter.release() }
        wakes.removeAll(keepingCapacity: true)
    }

    // MARK: The writer's own steps

    /// Waits until no round is under way: while a leader fsyncs (or gathers its group), other
    /// appenders may add to the open chunk, which must be written before a segment's tail.
    func waitForRoundLocked() {
        while syncing { lock.wait() }
    }

    /// After the writer sealed its segment (fsynced up to `durableUpTo` when given): releases
    /// the waiters that made durable.
    func sealedLocked(durableUpTo: UInt64?) {
        if let durableUpTo { durableSequence = max(durableSequence, durableUpTo) }
        releaseWaitersLocked(failure: nil, coveredUpTo: 0)
        wakeNowLocked()
        lock.broadcast()
    }

    /// After the writer closed: every waiter left gets `failure` (nobody leads another fsync).
    func closedLocked(failure: StorageError) {
        releaseWaitersLocked(failure: failure, coveredUpTo: .max)
        wakeNowLocked()
        lock.broadcast()
    }

    // MARK: Tasks

    /// Waits, without blocking a thread, until `sequence` of `log` is durable. Waiting tasks are
    /// served by one sync thread that leads group commits for all of them, and resumed when the
    /// fsync that covers them returns, so many tasks share each fsync and waking them costs no
    /// thread switch.
    func waitUntilDurable(_ sequence: UInt64, log: some GroupCommitLog) async throws(StorageError) {
        let result: Result<Void, StorageError> = await withCheckedContinuation { continuation in
            lock.lock()
            let wanted = min(sequence, log.lastAppendedLocked)
            if durableSequence >= wanted {
                lock.unlock()
                continuation.resume(returning: .success(()))
                return
            }
            if log.isClosedLocked {
                lock.unlock()
                continuation.resume(returning: .failure(StorageError(.closed, "the writer is closed", path: directory)))
                return
            }
            asyncWaiters.append(AsyncDurabilityWaiter(sequence: wanted, continuation: continuation))
            if syncThreadRunning {
                lock.broadcast()
                lock.unlock()
            } else {
                syncThreadRunning = true
                lock.unlock()
                startSyncThread(log)
            }
        }
        try result.get()
    }

    /// The thread that fsyncs for waiting tasks. It leads (or joins) a group commit up to the
    /// highest sequence awaited, resumes every task it made durable, and ends after 50 ms without
    /// waiters (it holds the writer only while it runs).
    private func startSyncThread(_ log: some GroupCommitLog) {
        let thread = Thread { [self] in
            lock.lock()
            while true {
                if asyncWaiters.isEmpty {
                    let idleUntil = Date(timeIntervalSinceNow: 0.05)
                    while asyncWaiters.isEmpty && !log.isClosedLocked {
                        if !lock.wait(until: idleUntil) { break }
                    }
                    if asyncWaiters.isEmpty {
                        syncThreadRunning = false
                        lock.unlock()
                        return
                    }
                }
                // As in `gatherLocked`: let the tasks the last fsync resumed append again first, so
                // that they share the next fsync instead of taking turns in two groups.
                if lastAsyncGroup > 1 && asyncWaiters.count < lastAsyncGroup && lastSyncNs > 0 {
                    let waitNs = policy.gatherNs(lastSyncNs: lastSyncNs, waitersSpin: false)
                    let deadline = Date(timeIntervalSinceNow: Double(waitNs) / 1e9)
                    while asyncWaiters.count < lastAsyncGroup && !log.isClosedLocked {
                        if !lock.wait(until: deadline) { break }
                    }
                }
                let target = asyncWaiters.reduce(0) { max($0, $1.sequence) }
                var failure: StorageError?
                if case .failure(let error) = Result(catching: { () throws(StorageError) in try syncLocked(upTo: target, log: log) }) { failure = error }
                lock.lock()
                if log.isClosedLocked && failure == nil && durableSequence < target {
                    failure = StorageError(.closed, "the writer closed before the record was made durable", path: directory)
                }
                var ready: [AsyncDurabilityWaiter] = []
                var kept = 0
                for waiter in asyncWaiters {
                    if waiter.sequence <= durableSequence || (failure != nil && waiter.sequence <= target) {
                        ready.append(waiter)
                    } else {
                        asyncWaiters[kept] = waiter
                        kept += 1
                    }
                }
                asyncWaiters.removeLast(asyncWaiters.count - kept)
                lastAsyncGroup = ready.count
                lock.unlock()
                for waiter in ready { waiter.continuation.resume(returning: failure.map { .failure($0) } ?? .success(())) }
                lock.lock()
            }
        }
        thread.name = "rrlog-sync"
        thread.start()
    }
}

import Foundation
import RRLog
import RRLogCatalog
import RRLogStorage
import Synchronization

/// The sessions the server is appending IO events to: per session an `IOEventAppender` kept
/// open between POSTs, so a stream of small batches costs one open log and shares segments,
/// instead of opening, sealing and re-indexing the log per POST. POSTs to one session take
/// turns (a FIFO gate); different sessions append in parallel. An appender idle for
/// `idleSeconds` is closed (its session completed, its log free for `rrlog append` or
/// `compact`), and so is every one when the server stops or its session is deleted.
final class IOEventAppenders: Sendable {
    /// One session's appender and the gate its POSTs pass one at a time.
    final class Entry: @unchecked Sendable {
        // `@unchecked Sendable`: `appender`, `lastUsedNs` and `retired` are touched only by the
        // holder of `gate`.
        let gate = AsyncGate()
        var appender: IOEventAppender?
        var lastUsedNs: UInt64 = 0
        /// Set when the entry left the map: a POST that waited for it looks the session up again.
        var retired = false
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// How long an appender stays open without a POST.
    let idleSeconds: Double

    init(idleSeconds: Double = 1) {
        self.idleSeconds = idleSeconds
    }

    /// Runs `body` with the open appender of `manifest`'s session (opening one when none is),
    /// alone among the POSTs to that session. An appender that `body` leaves closed (a batch
    /// that could not be stored) is dropped; the next POST opens a new one.
    func withAppender<T: Sendable>(
        store: Store, _ manifest: SessionManifest, options: LogOptions, _ body: (IOEventAppender) async throws -> T
    ) async throws -> T {
        while true {
            let entry = entries.withLock { map in
                if let e = map[manifest.id] { return e }
                let e = Entry()
                map[manifest.id] = e
                return e
            }
            await entry.gate.acquire()
            if entry.retired {
                entry.gate.release()
                continue
            }
            defer {
                entry.lastUsedNs = DispatchTime.now().uptimeNanoseconds
                entry.gate.release()
            }
            let appender: IOEventAppender
            if let open = entry.appender, open.isOpen {
                appender = open
            } else {
                do throws(RRLogError) {
                    appender = try IOEventAppender(store: store, session: manifest, options: options)
                } catch {
                    retire(manifest.id, entry)
                    throw error
                }
                entry.appender = appender
                closeLeastRecentlyUsed()
            }
            do {
                let result = try await body(appender)
                if !appender.isOpen { retire(manifest.id, entry) }
                return result
            } catch {
                if !appender.isOpen { retire(manifest.id, entry) }
                throw error
            }
        }
    }

    /// Closes the appenders idle for `idleSeconds` or more (those in use are left alone).
    func closeIdle() {
        let now = DispatchTime.now().uptimeNanoseconds
        let limit = UInt64(idleSeconds * 1e9)
        let candidates = entries.withLock { Array($0) }
        for (id, entry) in candidates where entry.gate.tryAcquire() {
            defer { entry.gate.release() }
            guard !entry.retired, now &- entry.lastUsedNs >= limit else { continue }
            closeAndRetire(id, entry)
        }
    }

    /// The most appenders kept open (each holds a log's lock and its open segment's file).
    static let capacity = 64

    /// Closes the least recently used appenders not in use beyond `capacity`.
    private func closeLeastRecentlyUsed() {
        let all = entries.withLock { Array($0) }
        guard all.count > Self.capacity else { return }
        var excess = all.count - Self.capacity
        for (id, entry) in all.sorted(by: { $0.value.lastUsedNs < $1.value.lastUsedNs }) where excess > 0 && entry.gate.tryAcquire() {
            defer { entry.gate.release() }
            guard !entry.retired, entry.appender != nil else { continue }
            closeAndRetire(id, entry)
            excess -= 1
        }
    }

    /// Closes the session `id`'s appender, waiting for a POST using it to finish (before the
    /// session is deleted).
    func close(_ id: String) async {
        guard let entry = entries.withLock({ $0[id] }) else { return }
        await entry.gate.acquire()
        defer { entry.gate.release() }
        guard !entry.retired else { return }
        closeAndRetire(id, entry)
    }

    /// Closes every appender (the server stops).
    func closeAll() async {
        for id in entries.withLock({ Array($0.keys) }) { await close(id) }
    }

    /// Closes `entry`'s appender (its session completes) and takes it out of the map; its gate
    /// is held by the caller.
    private func closeAndRetire(_ id: String, _ entry: Entry) {
        _ = try? entry.appender?.close()
        retire(id, entry)
    }

    /// Takes `entry` out of the map; its gate is held by the caller.
    private func retire(_ id: String, _ entry: Entry) {
        entry.retired = true
        entry.appender = nil
        entries.withLock { map in
            if map[id] === entry { map[id] = nil }
        }
    }
}

/// A lock for async code: `acquire()` suspends (without blocking a thread) until the holder
/// calls `release()`; waiters get it in the order they came.
final class AsyncGate: Sendable {
    private let state = Mutex<(held: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func acquire() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if !s.held {
                    s.held = true
                    return true
                }
                s.waiters.append(waiter)
                return false
            }
            if now { waiter.resume() }
        }
    }

    /// Takes the gate if nobody holds it.
    func tryAcquire() -> Bool {
        state.withLock { s in
            if s.held { return false }
            s.held = true
            return true
        }
    }

    func release() {
        let next = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.waiters.isEmpty {
                s.held = false
                return nil
            }
            return s.waiters.removeFirst()
        }
        next?.resume()
    }
}

/// Counts by SHA-256 digest, for `CallIndexCounter`: open-addressing tables keyed by the
/// digest's four words, split into `shardCount` shards by the digest's top bits.
///
/// A single hash table that rehashes in one go makes one unlucky call pay for every entry: at a
/// million distinct calls that is tens of milliseconds inside `Recorder.record`, whose budget is
/// a few microseconds. Here each shard grows on its own, so a growth moves about 1/1024 of the
/// entries (about 1,000 at a million distinct calls: some microseconds). Swift's `Dictionary`
/// would also hash every lookup with SipHash; the words of a SHA-256 digest are uniform, so its
/// bits serve as the hash directly: the top 10 bits of the first word pick the shard, the low
/// bits the home slot.
///
/// A value type: copies share storage until one of them counts (the arrays' copy on write).
struct DigestCountTable: Sendable {
    struct Slot: Sendable {
        var a: UInt64, b: UInt64, c: UInt64, d: UInt64
        var count: UInt32
        var isFull: Bool
    }

    struct Shard: Sendable {
        /// Empty until the shard's first entry; then a power of two, at most 3/4 full.
        var slots: [Slot] = []
        var used = 0
    }

    static let shardBits = 10
    static let shardCount = 1 << shardBits
    static let shardCapacityMin = 8

    private var shards = [Shard](repeating: Shard(), count: DigestCountTable.shardCount)

    /// Digests counted (each distinct digest once).
    private(set) var entryCount = 0

    /// The count of `words`, 0 when never counted.
    func count(of w: CallIndexCounter.DigestWords) -> UInt32 {
        let shard = Int(truncatingIfNeeded: w.a >> UInt64(64 - Self.shardBits))
        return shards[shard].slots.withUnsafeBufferPointer { slots in
            guard let i = Self.find(w, in: slots) else { return 0 }
            return slots[i].count
        }
    }

    /// Returns the count of `words` and adds one to it (it stays at `UInt32.max` once there).
    mutating func bump(_ w: CallIndexCounter.DigestWords) -> UInt32 {
        let shard = Int(truncatingIfNeeded: w.a >> UInt64(64 - Self.shardBits))
        let (previous, added) = shards[shard].bump(w)
        if added { entryCount += 1 }
        return previous
    }

    /// Raises the count of `words` to at least `count` (a count restored from stored keys).
    mutating func raise(_ w: CallIndexCounter.DigestWords, to count: UInt32) {
        let shard = Int(truncatingIfNeeded: w.a >> UInt64(64 - Self.shardBits))
        if shards[shard].raise(w, to: count) { entryCount += 1 }
    }

    /// The slot holding `w`, probing from its home slot to the first empty one (at most
    /// `slots.count` probes; a shard is never full, but the bound costs nothing).
    fileprivate static func find(_ w: CallIndexCounter.DigestWords, in slots: UnsafeBufferPointer<Slot>) -> Int? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: w.a) & mask
        for _ in 0..<slots.count {
            let s = slots[i]
            if !s.isFull { return nil }
            if s.a == w.a && s.b == w.b && s.c == w.c && s.d == w.d { return i }
            i = (i + 1) & mask
        }
        return nil
    }
}

extension DigestCountTable.Shard {
    /// The count before the bump, and whether `w` was new.
    @inline(__always)
    mutating func bump(_ w: CallIndexCounter.DigestWords) -> (UInt32, Bool) {
        update(w) { $0 < UInt32.max ? $0 + 1 : $0 }
    }

    /// Sets the count of `w` to at least `count`; true when `w` was new.
    mutating func raise(_ w: CallIndexCounter.DigestWords, to count: UInt32) -> Bool {
        update(w) { Swift.max($0, count) }.1
    }

    /// Finds `w` (adding it with count 0 when missing), sets its count to `next(count)`, and
    /// returns the count before and whether `w` was new.
    @inline(__always)
    private mutating func update(_ w: CallIndexCounter.DigestWords, _ next: (UInt32) -> UInt32) -> (UInt32, Bool) {
        if (used + 1) * 4 > slots.count * 3 { grow() }
        return slots.withUnsafeMutableBufferPointer { slots in
            let mask = slots.count - 1
            var i = Int(truncatingIfNeeded: w.a) & mask
            while slots[i].isFull {
                let s = slots[i]
                if s.a == w.a && s.b == w.b && s.c == w.c && s.d == w.d {
                    slots[i].count = next(s.count)
                    return (s.count, false)
                }
                i = (i + 1) & mask
            }
            slots[i] = DigestCountTable.Slot(a: w.a, b: w.b, c: w.c, d: w.d, count: next(0), isFull: true)
            used += 1
            return (0, true)
        }
    }

    /// Doubles the shard (or gives it its first slots) and re-places its entries.
    private mutating func grow() {
        let capacity = Swift.max(DigestCountTable.shardCapacityMin, slots.count * 2)
        let empty = DigestCountTable.Slot(a: 0, b: 0, c: 0, d: 0, count: 0, isFull: false)
        var next = [DigestCountTable.Slot](repeating: empty, count: capacity)
        next.withUnsafeMutableBufferPointer { next in
            let mask = capacity - 1
            for s in slots where s.isFull {
                var i = Int(truncatingIfNeeded: s.a) & mask
                while next[i].isFull { i = (i + 1) & mask }
                next[i] = s
            }
        }
        slots = next
    }
}

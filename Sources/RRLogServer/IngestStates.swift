import RRLog
import RRLogCatalog
import Synchronization

/// Per session, the IO event encoder left by the last committed POST of IO events, so that the
/// next POST continues the call indexes without reading every key of the session again (which
/// made each batch cost O(session)). An entry is taken out while a POST uses it and put back
/// only after its batch committed: a failed batch leaves none, and the next POST restores the
/// counters from the session. It is valid only for the record count it was kept with; another
/// writer (`rrlog append`, a copy) changes the count, and removing the session forgets it.
final class IngestStates: Sendable {
    private struct Entry {
        var recordCount: Int
        var encoder: IOEventEncoder
    }
    private let entries = Mutex<[String: Entry]>([:])
    /// The most sessions kept; beyond it the map starts over (a server ingests into few at once).
    static let capacity = 256

    /// The kept encoder of `manifest`'s session, removed from the map; nil when none is kept or
    /// the session changed since.
    func take(_ manifest: SessionManifest) -> IOEventEncoder? {
        entries.withLock { map in
            guard let entry = map.removeValue(forKey: manifest.id), entry.recordCount == manifest.recordCount else { return nil }
            return entry.encoder
        }
    }

    /// Keeps `encoder` for the session `manifest` describes after a commit.
    func keep(_ manifest: SessionManifest, _ encoder: IOEventEncoder) {
        entries.withLock { map in
            if map.count >= Self.capacity && map[manifest.id] == nil { map.removeAll() }
            map[manifest.id] = Entry(recordCount: manifest.recordCount, encoder: encoder)
        }
    }

    /// Forgets the session `id` (removed).
    func forget(_ id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }
}

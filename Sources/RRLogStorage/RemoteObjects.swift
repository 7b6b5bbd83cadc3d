import Foundation
public import RRLogFormat
import Synchronization
import SystemPackage

/// Reads byte ranges of one remote object (a segment or log key index kept in a bucket). The
/// layer that knows the remote (RRLogRemote) makes these; the storage engine only asks for
/// ranges. Called from any thread, blocking until the bytes are there.
public protocol RemoteByteSource: Sendable {
    /// Writes exactly the bytes in `range` of the object into `buffer` (`range.count` bytes), or
    /// throws an error that says what failed (then `buffer` holds nothing meaningful).
    func read(_ range: Range<Int>, into buffer: UnsafeMutableRawBufferPointer) throws(StorageError)
}

/// Logs whose segments live in a bucket (FORMAT-REMOTE.md "Reading in place"): a log directory
/// holding `remote.rrix` (a `RemoteIndex`) and no segment files is read through byte sources
/// made by the installed opener, with the ranges a read touches fetched on demand into a
/// bounded cache.
public enum RemoteLogs {
    /// The file that marks a log directory whose segments are remote.
    public static let indexFileName = "remote.rrix"

    /// Makes the byte source of one object of the remote log in `directory`.
    public typealias Opener = @Sendable (_ directory: String, _ object: RemoteIndex.Object) throws(StorageError) -> any RemoteByteSource

    static let installed = Mutex<Opener?>(nil)

    /// Installs how remote objects are read (once, at start; a later call replaces it).
    public static func install(_ opener: @escaping Opener) {
        installed.withLock { $0 = opener }
    }

    /// The most bytes of remote objects the process keeps, over all open remote logs (default
    /// 256 MiB, or `RRLOG_REMOTE_CACHE_BYTES`). Older fetched ranges are dropped past it.
    public static var cacheCapacityBytes: Int {
        get { RemoteCache.shared.capacity.load(ordering: .relaxed) }
        set { RemoteCache.shared.capacity.store(max(1 << 20, newValue), ordering: .relaxed) }
    }

    /// Bytes of remote objects the process holds now.
    public static var cachedBytes: Int { RemoteCache.shared.total.load(ordering: .relaxed) }

    static let failure = Mutex<StorageError?>(nil)

    /// The last failed fetch of a lookup (a lookup answers "not found" when the bytes it needs
    /// cannot be fetched; a caller that gets nothing from a remote log asks this why), cleared
    /// by reading it.
    public static func takeLastFailure() -> StorageError? { failure.withLock { f in defer { f = nil }; return f } }

    static func noteFailure(_ error: StorageError) { failure.withLock { $0 = error } }

    /// Bytes a scan fetches per request, and how many such requests run ahead of it at once.
    static let scanWindowBytes = 8 << 20
    static let scanWindowsAhead = 3

    /// Opens the log directory `path` when its segments are remote; nil for a local log.
    static func openIfRemote(
        _ path: String
    ) throws(StorageError) -> (segments: [SegmentHandle], keyIndex: (file: MappedFile, index: LogKeyIndex, handles: [SegmentHandle])?)? {
        let pinned = try PinnedDirectory(path: path)
        return try pinned.withLock(exclusive: false) { () throws(StorageError) in
            guard try pinned.segments().isEmpty, pinned.contains(indexFileName) else { return nil }
            return try open(pinned)
        }
    }

    /// Opens the remote log of the directory held open: its segments, in id order, and its log
    /// key index with the segments it covers.
    static func open(
        _ pinned: PinnedDirectory
    ) throws(StorageError) -> (segments: [SegmentHandle], keyIndex: (file: MappedFile, index: LogKeyIndex, handles: [SegmentHandle])?) {
        let path = pinned.path + "/" + indexFileName
        guard let opener = installed.withLock({ $0 }) else {
            throw StorageError(.io, "the log's segments are in a bucket, and this program cannot read remote objects", path: path)
        }
        let fd: CInt
        do { fd = try pinned.openForReading(indexFileName) } catch { throw .system(error, "open the remote index", path: path) }
        defer { Sys.close(fd) }
        let size: Int
        do { size = try Sys.fileSize(fd) } catch { throw .system(error, "stat the remote index", path: path) }
        guard size <= RemoteIndex.sizeBytesMax else { throw StorageError(.corrupt, "the remote index is larger than \(RemoteIndex.sizeBytesMax) bytes", path: path) }
        let bytes: [UInt8]
        do { bytes = try Sys.pread(fd, count: size, at: 0) } catch { throw .system(error, "read the remote index", path: path) }
        let decoded: Result<RemoteIndex, FormatError> = bytes.withUnsafeBytes { b in
            Result { () throws(FormatError) -> RemoteIndex in try RemoteIndex(decoding: b) }
        }
        let index: RemoteIndex
        switch decoded {
        case .success(let i): index = i
        case .failure(let e): throw .corrupt(e, path: path, what: "unreadable remote index")
        }
        var files: [MappedFile] = []
        for object in index.objects {
            let file = pinned.path + "/" + object.file
            let source = try opener(pinned.path, object)
            let backing = try RemoteBacking(size: Int(clamping: object.sizeBytes), source: source, location: file)
            files.append(MappedFile(remote: backing, path: file))
        }
        for piece in index.pieces { files[piece.object].remote!.fill(at: Int(piece.offset), piece.bytes) }
        var segments: [SegmentHandle] = []
        var keyFile: MappedFile?
        for (object, file) in zip(index.objects, files) {
            if object.file == LogKeyIndex.fileName {
                keyFile = file
            } else {
                segments.append(try SegmentHandle(remote: file))
            }
        }
        segments.sort { $0.id < $1.id }
        var keyIndex: (file: MappedFile, index: LogKeyIndex, handles: [SegmentHandle])?
        if let keyFile, let decoded = keyFile.withBytes({ try? LogKeyIndex($0) }), decoded.segments.count <= segments.count,
            zip(decoded.segments, segments).allSatisfy({ $0.segmentID == $1.id && Int($0.chunkCount) == $1.view.chunks.count })
        {
            keyIndex = (keyFile, decoded, Array(segments.prefix(decoded.segments.count)))
        }
        return (segments, keyIndex)
    }
}

/// The process's budget of remote bytes: every open remote object registers; when their
/// fetched bytes pass the capacity, the oldest ranges no read holds are dropped.
final class RemoteCache: Sendable {
    static let shared = RemoteCache()

    let capacity = Atomic<Int>(RemoteCache.defaultCapacity())
    let total = Atomic<Int>(0)
    private let backings = Mutex<[ObjectIdentifier: WeakBacking]>([:])

    final class WeakBacking: @unchecked Sendable {
        weak var backing: RemoteBacking?
        let order: Int
        init(_ backing: RemoteBacking, order: Int) {
            self.backing = backing
            self.order = order
        }
    }

    private let registrations = Atomic<Int>(0)

    static func defaultCapacity() -> Int {
        if let text = getenvString("RRLOG_REMOTE_CACHE_BYTES"), let value = Int(text), value >= 1 << 20 { return value }
        return 256 << 20
    }

    func register(_ backing: RemoteBacking) {
        let order = registrations.add(1, ordering: .relaxed).newValue
        backings.withLock { $0[ObjectIdentifier(backing)] = WeakBacking(backing, order: order) }
    }

    func unregister(_ backing: RemoteBacking, residentBytes: Int) {
        backings.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(backing)) }
        total.subtract(residentBytes, ordering: .relaxed)
    }

    /// Drops fetched ranges, oldest registered objects first, until the total is back under
    /// three quarters of the capacity (or nothing more can go: every range is held by a read).
    func shrink() {
        let limit = capacity.load(ordering: .relaxed)
        guard total.load(ordering: .relaxed) > limit else { return }
        let live = backings.withLock { Array($0.values) }.sorted { $0.order < $1.order }.compactMap(\.backing)
        let target = limit / 4 * 3
        for backing in live {
            let excess = total.load(ordering: .relaxed) - target
            if excess <= 0 { return }
            _ = backing.evict(bytes: excess)
        }
    }
}

func getenvString(_ name: String) -> String? { ProcessInfo.processInfo.environment[name] }

/// A remote object's bytes in a private anonymous mapping as large as the object, filled page by
/// page as reads need them: `pin` fetches what is missing of a range (one request for the span)
/// and keeps it from being dropped until `unpin`. Pages never written read as zeros, so every
/// read of the mapping goes through `pin` first; the few ranges `fill` writes at opening (the
/// index frames) stay for the object's life.
///
/// `@unchecked Sendable`: the mapping is written only on pages no read holds (missing ones, under
/// the lock), and every other property is a constant or behind the `Mutex`.
final class RemoteBacking: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let size: Int
    let source: any RemoteByteSource
    let location: String
    private let pageCount: Int
    private let state: Mutex<State>

    struct State {
        /// A bit per page: its bytes are the object's.
        var resident: [UInt64]
        /// A bit per page holding bytes written by `fill`: never dropped.
        var kept: [UInt64]
        /// Fetched page ranges, oldest first from `head`.
        var runs: [Range<Int>] = []
        var head = 0
        /// The page ranges reads hold now, by pin id.
        var pins: [(id: Int, pages: Range<Int>)] = []
        var nextPin = 1
        var residentPages = 0
    }

    init(size: Int, source: any RemoteByteSource, location: String) throws(StorageError) {
        self.size = size
        self.source = source
        self.location = location
        let mapped = max(size, 1)
        do { base = try Sys.mapAnonymous(size: mapped) } catch { throw .system(error, "reserve memory for a remote object", path: location) }
        pageCount = (mapped + Sys.pageSize - 1) / Sys.pageSize
        let words = (pageCount + 63) / 64
        state = Mutex(State(resident: [UInt64](repeating: 0, count: words), kept: [UInt64](repeating: 0, count: words)))
        RemoteCache.shared.register(self)
    }

    deinit {
        let resident = state.withLock { $0.residentPages }
        RemoteCache.shared.unregister(self, residentBytes: resident * Sys.pageSize)
        Sys.unmap(base, size: max(size, 1))
    }

    /// Writes `bytes` at `offset` (ranges of the remote index, at opening) and keeps their pages.
    func fill(at offset: Int, _ bytes: [UInt8]) {
        guard !bytes.isEmpty, offset >= 0, offset <= size, bytes.count <= size - offset else { return }
        bytes.withUnsafeBytes { (base + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        state.withLock { s in
            for page in (offset / Sys.pageSize)...((offset + bytes.count - 1) / Sys.pageSize) { s.kept[page >> 6] |= 1 << UInt64(page & 63) }
        }
    }

    /// Makes `range` (clamped to the object) resident and holds it until `unpin` with the id
    /// returned. `ahead` more bytes are fetched with it when a request is needed anyway.
    func pin(_ range: Range<Int>, ahead: Int = 0) throws(StorageError) -> Int {
        let low = max(0, min(range.lowerBound, size))
        let high = max(low, min(range.upperBound, size))
        guard low < high else { return 0 }
        let pages = (low / Sys.pageSize)..<((high - 1) / Sys.pageSize + 1)
        enum Step {
            case pinned(Int)
            case fetch(Range<Int>)
        }
        while true {
            let step: Step = state.withLock { s in
                var first = -1
                var last = -1
                for page in pages where s.resident[page >> 6] & (1 << UInt64(page & 63)) == 0 {
                    if first < 0 { first = page }
                    last = page
                }
                guard first >= 0 else {
                    let id = s.nextPin
                    s.nextPin += 1
                    s.pins.append((id, pages))
                    return .pinned(id)
                }
                return .fetch(first..<(last + 1))
            }
            switch step {
            case .pinned(let id): return id
            case .fetch(let missing):
                // Pinned as the fetched pages are written, so that trimming the cache for them
                // cannot drop them again before the read (nil when a page of the range was dropped
                // meanwhile: then the rest is fetched).
                if let id = try fetch(pages: missing, ahead: ahead, pinning: pages) { return id }
            }
        }
    }

    /// Lets go of a range `pin` held.
    func unpin(_ id: Int) {
        guard id != 0 else { return }
        state.withLock { s in
            if let i = s.pins.lastIndex(where: { $0.id == id }) { s.pins.remove(at: i) }
        }
    }

    /// Fetches `pages` (and up to `ahead` bytes more, stopping at the first resident page),
    /// writes the pages still missing, and pins `wanted` when all its pages are resident.
    private func fetch(pages: Range<Int>, ahead: Int, pinning wanted: Range<Int>) throws(StorageError) -> Int? {
        var upper = pages.upperBound
        if ahead > 0 {
            let limit = min(pageCount, upper + ahead / Sys.pageSize)
            state.withLock { s in
                while upper < limit, s.resident[upper >> 6] & (1 << UInt64(upper & 63)) == 0 { upper += 1 }
            }
        }
        let start = pages.lowerBound * Sys.pageSize
        let end = min(size, upper * Sys.pageSize)
        // The bytes go straight into the mapping: the pages were missing, so no read looks at
        // them, and a page that another fetch filled meanwhile gets the same bytes again (objects
        // never change).
        try source.read(start..<end, into: UnsafeMutableRawBufferPointer(start: base + start, count: end - start))
        var added = 0
        let pin: Int? = state.withLock { s in
            for page in pages.lowerBound..<upper where s.resident[page >> 6] & (1 << UInt64(page & 63)) == 0 {
                s.resident[page >> 6] |= 1 << UInt64(page & 63)
                added += 1
            }
            s.residentPages += added
            s.runs.append(pages.lowerBound..<upper)
            guard wanted.allSatisfy({ s.resident[$0 >> 6] & (1 << UInt64($0 & 63)) != 0 }) else { return nil }
            let id = s.nextPin
            s.nextPin += 1
            s.pins.append((id, wanted))
            return id
        }
        if added > 0, RemoteCache.shared.total.add(added * Sys.pageSize, ordering: .relaxed).newValue > RemoteCache.shared.capacity.load(ordering: .relaxed) {
            RemoteCache.shared.shrink()
        }
        return pin
    }

    /// Drops up to `bytes` of fetched ranges, oldest first, skipping those a read holds and the
    /// pages `fill` wrote. Returns the bytes dropped.
    func evict(bytes: Int) -> Int {
        var freedPages = 0
        state.withLock { s in
            let wanted = (bytes + Sys.pageSize - 1) / Sys.pageSize
            var kept: [Range<Int>] = []
            while s.head < s.runs.count, freedPages < wanted {
                let run = s.runs[s.head]
                s.head += 1
                if s.pins.contains(where: { $0.pages.overlaps(run) }) {
                    kept.append(run)
                    continue
                }
                var dropFrom = -1
                for page in run.lowerBound...run.upperBound {
                    let drops = page < run.upperBound && s.resident[page >> 6] & (1 << UInt64(page & 63)) != 0
                        && s.kept[page >> 6] & (1 << UInt64(page & 63)) == 0
                    if drops {
                        s.resident[page >> 6] &= ~(1 << UInt64(page & 63))
                        freedPages += 1
                        if dropFrom < 0 { dropFrom = page }
                    } else if dropFrom >= 0 {
                        Sys.dropResidentPages(base + dropFrom * Sys.pageSize, size: (page - dropFrom) * Sys.pageSize)
                        dropFrom = -1
                    }
                }
            }
            s.runs.removeFirst(s.head)
            s.head = 0
            s.runs.insert(contentsOf: kept, at: 0)
            s.residentPages -= freedPages
        }
        RemoteCache.shared.total.subtract(freedPages * Sys.pageSize, ordering: .relaxed)
        return freedPages * Sys.pageSize
    }

    /// Drops every fetched range no read holds (after a whole-object pass such as verify).
    func evictAll() { _ = evict(bytes: size) }
}

/// Fetches a remote segment ahead of a scan (`LogSnapshot.forEachRecord`): the bytes from a chunk
/// to the chunk index in windows of `RemoteLogs.scanWindowBytes`, up to
/// `RemoteLogs.scanWindowsAhead` at once on other threads, so that fetching overlaps decoding. The
/// scan waits for a window under way before it reads there (never fetching its bytes twice); a
/// window whose fetch failed is fetched again by the scan's own `pin`, which reports the error.
final class RemoteScanAhead {
    let segment: SegmentHandle
    private var windows: [Range<Int>] = []
    private var next = 0
    private var running: [(window: Range<Int>, done: DispatchGroup)] = []

    init(_ segment: SegmentHandle, fromChunk ordinal: Int) {
        self.segment = segment
        let chunks = segment.view.chunks
        guard ordinal < chunks.count else { return }
        var start = Int(clamping: chunks[ordinal].offset)
        let end = chunks.last.map { Int(clamping: $0.offset) + Int($0.frameLength) } ?? start
        while start < end {
            let upper = min(end, start + RemoteLogs.scanWindowBytes)
            windows.append(start..<upper)
            start = upper
        }
    }

    deinit {
        for job in running { job.done.wait() }
    }

    /// Before the scan reads at `offset`: waits for the windows under way up to there, and keeps
    /// the next ones under way.
    func advance(to offset: Int) {
        while let first = running.first, first.window.lowerBound <= offset {
            first.done.wait()
            running.removeFirst()
        }
        while next < windows.count, windows[next].upperBound <= offset { next += 1 }
        while next < windows.count, running.count < RemoteLogs.scanWindowsAhead {
            let window = windows[next]
            next += 1
            let done = DispatchGroup()
            done.enter()
            let file = segment.file
            DispatchQueue.global().async {
                if let pin = try? file.pin(window) { file.unpin(pin) }
                done.leave()
            }
            running.append((window, done))
        }
    }
}

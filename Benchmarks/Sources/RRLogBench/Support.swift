import Foundation

/// One measured figure, written as a JSON line to the results file that `Tools/bench_peers.py
/// report` turns into tables. `cmp` names the rrlog row a peer row is compared with.
struct Row: Codable {
    var id: String
    var workload: String
    var system = "rrlog"
    var caseName: String
    var codec: String?
    /// Records processed.
    var records: Int?
    /// Bytes processed (for MB/s), as the row's note says which.
    var bytes: Int?
    var seconds: Double?
    var p50us: Double?
    var p99us: Double?
    var ms: Double?
    var size: Int?
    var value: String?
    var note: String?
    var cmp: String?
    /// CPU seconds per second of the whole process during the case (CPUs busy), where measured.
    var cpus: Double?
    /// throughput | latency | size | info
    var kind = "throughput"

    enum CodingKeys: String, CodingKey {
        case id, workload, system, codec, records, bytes, seconds, ms, size, value, note, cmp, cpus, kind
        case caseName = "case"
        case p50us = "p50_us"
        case p99us = "p99_us"
    }

    init(_ workload: String, _ id: String, _ caseName: String, system: String = "rrlog", codec: String? = nil) {
        self.workload = workload
        self.id = id
        self.caseName = caseName
        self.system = system
        self.codec = codec
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Settings and collected output of one invocation.
final class Context {
    let quick: Bool
    let tmp: String
    let disk: String
    let fixtures: String
    let out: String
    let parts: Set<String>
    private(set) var failures = 0
    private var handle: FileHandle?

    init(quick: Bool, tmp: String, disk: String, fixtures: String, out: String, parts: Set<String>) {
        self.quick = quick
        self.tmp = tmp
        self.disk = disk
        self.fixtures = fixtures
        self.out = out
        self.parts = parts
    }

    /// Full size, or about 1/100 of it with --quick.
    func size(_ full: Int, quick q: Int? = nil) -> Int { quick ? (q ?? max(1, full / 100)) : full }

    func emit(_ row: Row) {
        if handle == nil {
            if !FileManager.default.fileExists(atPath: out) { _ = FileManager.default.createFile(atPath: out, contents: nil) }
            handle = FileHandle(forWritingAtPath: out)
            handle?.seekToEndOfFile()
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if var data = try? encoder.encode(row) {
            data.append(0x0A)
            handle?.write(data)
        }
        var line = "  [\(row.workload)] \(row.system) \(row.caseName)"
        if let c = row.codec { line += " (\(c))" }
        if let r = row.records, let s = row.seconds, s > 0 { line += String(format: ": %.3g rec/s", Double(r) / s) }
        if let b = row.bytes, let s = row.seconds, s > 0 { line += String(format: ", %.1f MB/s", Double(b) / s / 1e6) }
        if let p = row.p50us { line += String(format: ", p50 %.3g us", p) }
        if let p = row.p99us { line += String(format: ", p99 %.3g us", p) }
        if let m = row.ms { line += String(format: ", %.3g ms", m) }
        if let s = row.size { line += ", \(s) bytes" }
        if let v = row.value { line += ", \(v)" }
        if let n = row.note, row.workload == "lookup" { line += " [\(n)]" }
        print(line)
        fflush(nil)
    }

    /// A correctness check: a failure is printed and makes the invocation exit 1.
    func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition {
            failures += 1
            print("CHECK FAILED: \(message())")
            fflush(nil)
        }
    }

    func note(_ message: String) {
        print("  note: \(message)")
        fflush(nil)
    }
}

// MARK: Time

let clock = ContinuousClock()

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

func micros(_ d: Duration) -> Double { seconds(d) * 1e6 }

/// Seconds `body` takes.
func time(_ body: () throws -> Void) rethrows -> Double {
    let start = clock.now
    try body()
    return seconds(clock.now - start)
}

/// Nearest-rank percentile (q in 0...1) of `values`, which it sorts.
func percentile(_ sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

// MARK: Data

/// xorshift64 payloads of lowercase letters; Tools/bench_peers.py makes the same ones.
func smallPayloadPool(count: Int = 4096, size: Int = 100) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(count * size)
    for p in 0..<count {
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15 &* UInt64(p + 1)
        for _ in 0..<size {
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            out.append(97 + UInt8(x % 26))
        }
    }
    return out
}

/// A small, seeded random number generator (SplitMix64), so runs pick the same keys.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

// MARK: Files and the system

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func makeDirectory(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
}

/// Bytes of the regular files under `path`.
func treeSize(_ path: String) -> Int {
    if !SegmentFilesHelper.isDirectory(path) {
        return ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }
    guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
    var total = 0
    for case let name as String in e {
        if let attrs = try? FileManager.default.attributesOfItem(atPath: path + "/" + name),
            (attrs[.type] as? FileAttributeType) == .typeRegular
        {
            total += (attrs[.size] as? Int) ?? 0
        }
    }
    return total
}

enum SegmentFilesHelper {
    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}

/// A field of /proc/self/status in KiB (VmHWM, VmRSS).
func procStatusKiB(_ field: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }
    return nil
}

/// Minor page faults of this process so far (/proc/self/stat field 10).
func minorFaults() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
        let close = text.lastIndex(of: ")")
    else { return 0 }
    let fields = text[text.index(after: close)...].split(separator: " ")
    return fields.count > 7 ? Int(fields[7]) ?? 0 : 0
}

/// Free bytes of the file system holding `path`.
func freeBytes(_ path: String) -> Int {
    var s = statvfs()
    guard statvfs(path, &s) == 0 else { return 0 }
    return Int(s.f_bavail) * Int(s.f_frsize)
}

/// The file system type of the mount holding `path` (from /proc/mounts), such as "tmpfs".
func fileSystemType(_ path: String) -> String {
    guard let text = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return "?" }
    let target = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    var best = ("", "?")
    for line in text.split(separator: "\n") {
        let f = line.split(separator: " ")
        guard f.count > 2 else { continue }
        let mount = String(f[1])
        let under = mount == "/" || target == mount || target.hasPrefix(mount + "/")
        if under && mount.count >= best.0.count { best = (mount, String(f[2])) }
    }
    return best.1
}

/// True when `path` is on tmpfs (so not a disk).
func isTmpfs(_ path: String) -> Bool { fileSystemType(path) == "tmpfs" }

func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

/// KiB of this process's file mappings mapped with huge (PMD) pages, from /proc/self/smaps_rollup.
func filePmdMappedKiB() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/smaps_rollup", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("FilePmdMapped:") {
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
    return 0
}

/// CPU seconds (user + system) this process has used so far.
func cpuSeconds() -> Double {
    var u = rusage()
    guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u) == 0 else { return 0 }
    func s(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return s(u.ru_utime) + s(u.ru_stime)
}

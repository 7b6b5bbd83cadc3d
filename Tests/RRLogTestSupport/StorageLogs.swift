import Foundation
public import RRLogFormat
public import RRLogStorage
public import XCTest

/// A deterministic generator whose seed tests print, so a failure can be replayed.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Record `i` of a test log: keyed "key-i" unless `keyed` is false, its payload `size` bytes.
public func makeInput(_ i: Int, size: Int, keyed: Bool = true) -> RecordInput {
    var payload = Array("payload-\(i)-".utf8)
    while payload.count < size { payload.append(UInt8(truncatingIfNeeded: i &* 31 &+ payload.count)) }
    if payload.count > size { payload.removeLast(payload.count - size) }
    return RecordInput(timestampNs: 1_700_000_000_000_000_000 + Int64(i) * 1000, kind: UInt16(i % 7), key: keyed ? Array("key-\(i)".utf8) : nil, payload: payload)
}

/// The segment files of the log `directory`, in id order.
public func segmentFiles(_ directory: String) -> [String] {
    (try? SegmentFiles.list(directory).map(\.path)) ?? []
}

public func readFile(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }
public func writeFile(_ path: String, _ bytes: [UInt8]) { _ = FileManager.default.createFile(atPath: path, contents: Data(bytes)) }

/// Writes `records` records, flushes (so they are in the file) and copies the log as a crash
/// would leave it: the last segment unsealed. Returns the copy and the records.
public func crashedLog(_ test: XCTestCase, records: Int, codec: Codec = .none, chunk: Int = 512) throws -> (dir: String, inputs: [RecordInput]) {
    let live = TestPaths.temporaryDirectory(test) + "/live"
    var options = LogOptions()
    options.codec = codec
    options.chunkSizeBytes = chunk
    let w = try LogWriter(directory: live, options: options)
    var inputs: [RecordInput] = []
    for i in 0..<records {
        inputs.append(makeInput(i, size: 30 + i % 90))
        try w.append(inputs.last!)
    }
    try w.flush()
    let crashed = TestPaths.temporaryDirectory(test) + "/crashed"
    try FileManager.default.createDirectory(atPath: crashed, withIntermediateDirectories: true)
    for f in segmentFiles(live) {
        try FileManager.default.copyItem(atPath: f, toPath: crashed + "/" + (f as NSString).lastPathComponent)
    }
    try w.close()
    return (crashed, inputs)
}

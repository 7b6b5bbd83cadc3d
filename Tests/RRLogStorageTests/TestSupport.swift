import Foundation
import RRLogFormat
import RRLogStorage
import RRLogTestSupport
import XCTest

/// A temporary directory removed when the test ends.
func temporaryDirectory(_ test: XCTestCase, _ name: String = #function) -> String {
    TestPaths.temporaryDirectory(test)
}

/// A deterministic generator whose seed tests print, so a failure can be replayed.
struct SplitMix64: RandomNumberGenerator {
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

func makeInput(_ i: Int, size: Int, keyed: Bool = true) -> RecordInput {
    var payload = Array("payload-\(i)-".utf8)
    while payload.count < size { payload.append(UInt8(truncatingIfNeeded: i &* 31 &+ payload.count)) }
    if payload.count > size { payload.removeLast(payload.count - size) }
    return RecordInput(timestampNs: 1_700_000_000_000_000_000 + Int64(i) * 1000, kind: UInt16(i % 7), key: keyed ? Array("key-\(i)".utf8) : nil, payload: payload)
}

func segmentFiles(_ directory: String) -> [String] {
    (try? SegmentFiles.list(directory).map(\.path)) ?? []
}

func readFile(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }
func writeFile(_ path: String, _ bytes: [UInt8]) { _ = FileManager.default.createFile(atPath: path, contents: Data(bytes)) }

/// Path of the built `rrlog` executable (`TestPaths.rrlogBinary`, else where `swift build` puts it).
func rrlogExecutable() -> URL {
    TestPaths.rrlogBinary() ?? TestPaths.packageRoot.appendingPathComponent(".build/debug/rrlog")
}

/// Writes `inputs` as a log with `codec` (sealed), then lets `damage` change its first segment's bytes.
func writeLogThenDamage(_ directory: String, codec: Codec, _ inputs: [RecordInput], damage: (inout [UInt8]) -> Void) throws {
    var options = LogOptions()
    options.codec = codec
    let writer = try LogWriter(directory: directory, options: options)
    try writer.appendBatch(inputs)
    try writer.close()
    let file = segmentFiles(directory)[0]
    var bytes = readFile(file)
    damage(&bytes)
    writeFile(file, bytes)
}

/// Writes records `makeInput(0..<count, size:)` as a sealed log of segments of at most
/// `segmentRecords` records each.
func writeKeyedLog(_ directory: String, count: Int, size: Int, segmentRecords: Int) throws {
    var options = LogOptions()
    options.segmentRecordCountMax = segmentRecords
    let writer = try LogWriter(directory: directory, options: options)
    for i in 0..<count { try writer.append(makeInput(i, size: size)) }
    try writer.close()
}

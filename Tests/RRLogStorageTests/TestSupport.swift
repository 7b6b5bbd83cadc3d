import Foundation
import RRLogFormat
import RRLogStorage
import RRLogTestSupport
import XCTest

/// A temporary directory removed when the test ends.
func temporaryDirectory(_ test: XCTestCase, _ name: String = #function) -> String {
    TestPaths.temporaryDirectory(test)
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

import Foundation
import RRLog

/// Streams the JSON lines of `path` (or standard input for `-`) into `ingest`, with a progress
/// bar over the file's bytes. Memory stays bounded whatever the input's size: lines are read in
/// blocks and appended in batches. Returns the input's SHA-256 (hex) and how many lines it had.
func ingestJSONLines(_ path: String, into ingest: IOEventIngest, label: String) throws -> (sha256: String, lines: Int) {
    var reader = try JSONLinesReader(path: path)
    let size = path == "-" ? 0 : ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0)
    let progress = Progress(label, total: size)
    defer { progress.finish() }
    var lines = 0
    let name = reader.name
    try reader.forEachLine(progress: { progress.update($0) }) { (line, number) throws(RRLogError) in
        lines += 1
        try ingest.add(lineBytes: line, location: "\(name):\(number)")
    }
    guard lines > 0 else {
        throw RRLogError(.malformedInput, "no IO events: the input is empty", location: name)
    }
    return (reader.sha256Hex ?? "", lines)
}

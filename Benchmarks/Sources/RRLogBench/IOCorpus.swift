import Foundation
import RRLog
import RRLogStorage

/// The lines of `Tests/Fixtures/io/llm-session.jsonl`, encoded once by `IOEventEncoder`, and a
/// generator that repeats them as a long session would: the n-th repetition of a call gets the
/// next call index from a `CallIndexCounter`, exactly as the encoder assigns them, so keys stay
/// unique and equal to what `IOEventEncoder` gives for the repeated lines (checked in append-io).
final class IOCorpus: @unchecked Sendable {
    struct Template {
        var line: [UInt8]
        var payload: [UInt8]
        var kind: UInt16
        var timestampNs: Int64
        var digest: [UInt8]?
    }

    let path: String
    let templates: [Template]
    /// Timestamps of repetition r are shifted by r * span.
    let span: Int64
    let keyedCount: Int
    let lineBytes: Int

    init(path: String) throws {
        self.path = path
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var encoder = IOEventEncoder()
        var out: [Template] = []
        var lineBytes = 0
        for (n, line) in data.split(separator: 0x0A).enumerated() where !line.isEmpty {
            let bytes = Array(line)
            lineBytes += bytes.count
            let value = try JSONValue.parse(bytes)
            let record = try encoder.record(for: value, location: "\(path):\(n + 1)")
            out.append(Template(
                line: bytes, payload: record.payload, kind: record.kind, timestampNs: record.timestampNs,
                digest: record.key.map { Array($0.prefix(IOKey.digestByteCount)) }))
        }
        templates = out
        self.lineBytes = lineBytes
        keyedCount = out.filter { $0.digest != nil }.count
        let tss = out.map(\.timestampNs)
        span = (tss.max() ?? 0) - (tss.min() ?? 0) + 1_000
    }

    /// Mean encoded payload bytes.
    var meanPayloadBytes: Double { Double(templates.reduce(0) { $0 + $1.payload.count }) / Double(templates.count) }
}

/// Produces the corpus's records in order, endlessly.
struct IOGenerator {
    let corpus: IOCorpus
    var counter = CallIndexCounter()
    var index = 0

    init(_ corpus: IOCorpus) { self.corpus = corpus }

    /// The next record and the index of its template.
    mutating func next() -> (RecordInput, Int) {
        let t = index % corpus.templates.count
        let repetition = Int64(index / corpus.templates.count)
        index += 1
        let template = corpus.templates[t]
        var key: [UInt8]?
        if let digest = template.digest {
            key = IOKey(callDigest: digest, callIndex: counter.next(for: digest))!.bytes
        }
        return (RecordInput(
            timestampNs: template.timestampNs + repetition * corpus.span, kind: template.kind, key: key,
            payload: template.payload), t)
    }

    /// The next `count` records.
    mutating func batch(_ count: Int) -> [RecordInput] {
        var out: [RecordInput] = []
        out.reserveCapacity(count)
        for _ in 0..<count { out.append(next().0) }
        return out
    }
}

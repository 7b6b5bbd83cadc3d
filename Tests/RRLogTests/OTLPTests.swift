import Foundation
import RRLog
import RRLogCatalog
import RRLogFormat
import RRLogInterop
import RRLogTestSupport
import XCTest

/// OTLP import and export. Fixtures (Tests/Fixtures/otlp) are request bodies the OpenTelemetry
/// Python SDK's OTLP/HTTP exporter sent, and the same requests as OTLP JSON lines.
final class OTLPTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/otlp")
    static func path(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// Protobuf bodies; the two gzip traces bodies share one trace.
    static let protoFiles = [
        "traces-003.otlp", "logs-001.otlp", "metrics-001.otlp",
        "gzip/traces-000.otlp.gz", "gzip/traces-001.otlp.gz", "gzip/logs-000.otlp.gz", "gzip/metrics-000.otlp.gz",
    ]
    /// The same requests as JSON lines, where the fixtures have them.
    static let pairs = [
        ("traces-003.otlp", "traces-003.jsonl"), ("logs-001.otlp", "logs-001.jsonl"), ("metrics-001.otlp", "metrics-001.jsonl"),
        ("gzip/logs-000.otlp.gz", "gzip/logs-000.jsonl"), ("gzip/metrics-000.otlp.gz", "gzip/metrics-000.jsonl"),
    ]
    static let sharedTrace = "5d128cfc4ff89ed5dcf5d615c3831783"

    func makeStore() throws -> Store {
        try Store(path: TestPaths.temporaryDirectory(self, prefix: "rrlog-otlp"))
    }

    func temporaryFile(_ name: String, _ bytes: [UInt8]) -> String {
        let dir = FileManager.default.temporaryDirectory.path + "/rrlog-otlp-in-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/" + name
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        return path
    }

    func bytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path)!) }

    func requests(_ names: [String]) throws -> [OTLPRequest] {
        try names.flatMap { try OTLPImporter().requests(fromFile: Self.path($0)) }
    }

    func assertMalformed(_ body: @autoclosure () throws -> Any, location: String, message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) {
            guard let e = $0 as? RRLogError else { return XCTFail("\($0)", file: file, line: line) }
            XCTAssertEqual(e.code, .malformedInput, e.description, file: file, line: line)
            XCTAssertTrue(e.location?.contains(location) == true, "location \(e.location ?? "nil") lacks \(location)", file: file, line: line)
            XCTAssertTrue(e.message.contains(message), "message '\(e.message)' lacks '\(message)'", file: file, line: line)
        }
    }

    // MARK: Lossless round trips

    func testProtobufImportThenExportGivesTheSameRequests() throws {
        let store = try makeStore()
        let originals = try requests(Self.protoFiles)
        XCTAssertEqual(originals.map(\.signal), [.traces, .logs, .metrics, .traces, .traces, .logs, .metrics])
        let m = try OTLPImporter().importFiles(Self.protoFiles.map(Self.path), into: store, session: "otlp")
        XCTAssertEqual(m.countsByKind["otlp_traces"], 3)
        XCTAssertEqual(m.countsByKind["otlp_logs"], 2)
        XCTAssertEqual(m.countsByKind["otlp_metrics"], 2)
        XCTAssertEqual(m.annotations["imported_format"], "otlp-proto")

        let exported = try OTLPExporter.requests(m, from: store)
        XCTAssertEqual(exported, originals)
        // The stored payload is the body as received (decompressed): export gives the very bytes.
        XCTAssertEqual(exported[0].protobufBytes(), bytes(Self.path("traces-003.otlp")))

        // One file per request, read back.
        let dir = FileManager.default.temporaryDirectory.path + "/rrlog-otlp-out-\(UUID().uuidString.prefix(8))"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let files = try OTLPExporter.writeProtobufFiles(m, from: store, to: dir)
        XCTAssertEqual(files.map { ($0 as NSString).lastPathComponent }, [
            "traces-000000.otlp", "logs-000000.otlp", "metrics-000000.otlp", "traces-000001.otlp", "traces-000002.otlp",
            "logs-000001.otlp", "metrics-000001.otlp",
        ])
        XCTAssertEqual(try files.flatMap { try OTLPImporter().requests(fromFile: $0) }, originals)

        // Length-prefixed stream of one signal.
        var stream: [UInt8] = []
        try OTLPExporter.writeLengthPrefixedProtobuf(m, from: store, signal: .logs) { stream += $0 }
        var back: [OTLPRequest] = []
        var at = 0
        while at < stream.count {
            let n = stream[at..<at + 4].reduce(0) { $0 << 8 | Int($1) }
            back.append(try OTLPRequest(protobuf: Array(stream[at + 4..<at + 4 + n]), signal: .logs))
            at += 4 + n
        }
        XCTAssertEqual(back, originals.filter { $0.signal == .logs })

        // Each record's time is its earliest item.
        let reader = try store.openReader(m)
        var times: [Int64] = []
        reader.forEach(kinds: [RecordKind.otlpTraces.rawValue, RecordKind.otlpLogs.rawValue, RecordKind.otlpMetrics.rawValue]) {
            times.append($0.timestampNs)
            return true
        }
        XCTAssertEqual(times, originals.map { $0.earliestTimeNs! })
    }

    func testJSONImportThenExportGivesTheSameRequests() throws {
        let store = try makeStore()
        let jsonFiles = Self.pairs.map(\.1)
        let originals = try requests(jsonFiles)
        let m = try OTLPImporter().importFiles(jsonFiles.map(Self.path), into: store, session: "otlp-json")
        XCTAssertEqual(m.annotations["imported_format"], "otlp-json")
        var out: [UInt8] = []
        try OTLPExporter.writeJSONLines(m, from: store) { out += $0 }
        let back = try OTLPImporter(format: .json).requests(from: out, file: "export.jsonl")
        XCTAssertEqual(back, originals)
        XCTAssertEqual(try OTLPExporter.requests(m, from: store), originals)
        // Ids are written in hex, enums as integers.
        let firstLine = try JSONValue.parse(Array(out.prefix { $0 != 0x0A }))
        let span = firstLine["resourceSpans"]?[0]?["scopeSpans"]?[0]?["spans"]?[0]
        XCTAssertEqual(span?["traceId"]?.stringValue, originals[0].spans[0].traceID)
        XCTAssertEqual(span?["traceId"]?.stringValue?.count, 32)
        XCTAssertEqual(span?["spanId"]?.stringValue?.count, 16)
        XCTAssertNotNil(span?["kind"]?.int64Value)
    }

    func testProtobufAndJSONOfTheSameDataAreEqual() throws {
        for (proto, json) in Self.pairs {
            let a = try OTLPImporter().requests(fromFile: Self.path(proto))
            let b = try OTLPImporter().requests(fromFile: Self.path(json))
            XCTAssertEqual(a, b, "\(proto) and \(json)")
            XCTAssertEqual(a.first?.itemCount, b.first?.itemCount)
            XCTAssertGreaterThan(a.first?.itemCount ?? 0, 0)
            // And once stored.
            let store = try makeStore()
            let mp = try OTLPImporter().importFiles([Self.path(proto)], into: store, session: "p")
            let mj = try OTLPImporter().importFiles([Self.path(json)], into: store, session: "j")
            XCTAssertEqual(try OTLPExporter.requests(mp, from: store), try OTLPExporter.requests(mj, from: store))
        }
    }

    func testIdsInHexAndInBase64AreBothRead() throws {
        let line = bytes(Self.path("traces-003.jsonl"))
        let hex = try OTLPRequest(json: line)
        func toBase64(_ v: JSONValue) -> JSONValue {
            switch v {
            case .object(var o):
                for (k, x) in o {
                    if ["traceId", "spanId", "parentSpanId"].contains(k), let s = x.stringValue {
                        var data = Data()
                        var i = s.startIndex
                        while i < s.endIndex {
                            let j = s.index(i, offsetBy: 2)
                            data.append(UInt8(s[i..<j], radix: 16)!)
                            i = j
                        }
                        o[k] = .string(data.base64EncodedString())
                    } else {
                        o[k] = toBase64(x)
                    }
                }
                return .object(o)
            case .array(let a): return .array(a.map(toBase64))
            default: return v
            }
        }
        let base64Line = toBase64(try JSONValue.parse(line)).serializedBytes()
        XCTAssertFalse(base64Line == line)
        XCTAssertEqual(try OTLPRequest(json: base64Line), hex)
        XCTAssertEqual(try OTLPRequest(json: base64Line), try OTLPRequest(protobuf: bytes(Self.path("traces-003.otlp"))))
        // 64-bit integers as numbers rather than strings.
        let numbers = Array(String(decoding: line, as: UTF8.self)
            .replacingOccurrences(of: #""(startTimeUnixNano|endTimeUnixNano)":"(\d+)""#, with: "\"$1\":$2", options: .regularExpression).utf8)
        XCTAssertNotEqual(numbers, line)
        XCTAssertEqual(try OTLPRequest(json: numbers), hex)
        // Unknown fields are ignored.
        var object = try JSONValue.parse(line).objectValue!
        object["somethingNew"] = ["x": 1]
        XCTAssertEqual(try OTLPRequest(json: JSONValue.object(object).serializedBytes()), hex)
        // An id that is neither hex nor base64.
        let bad = Array(#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz!","name":"a"}]}]}]}"#.utf8)
        assertMalformed(try OTLPRequest(json: bad, source: "x.jsonl:1"), location: "x.jsonl:1", message: "traceId")
    }

    // MARK: Trace index

    func testTraceLookupReturnsExactlyTheSpansOfThatTrace() throws {
        let store = try makeStore()
        let files = ["gzip/traces-000.otlp.gz", "gzip/traces-001.otlp.gz", "traces-003.otlp", "logs-001.otlp"]
        let m = try OTLPImporter().importFiles(files.map(Self.path), into: store, session: "traces")
        let stored = try OTLPExporter.requests(m, from: store)
        // The scan: every span of every request.
        let all = stored.flatMap(\.spans)
        let byTrace = Dictionary(grouping: all, by: \.traceID)
        XCTAssertGreaterThan(byTrace.count, 100)
        // One index record per distinct trace per request.
        let perRequest = stored.map { Set($0.spans.map(\.traceID)).count }.reduce(0, +)
        XCTAssertEqual(m.countsByKind["otlp_trace_index"], perRequest)
        XCTAssertEqual(perRequest, byTrace.count + 1)  // the shared trace is in two requests

        let order = { (a: OTLPSpan, b: OTLPSpan) in (a.startTimeUnixNano, a.spanID) < (b.startTimeUnixNano, b.spanID) }
        // Every 5th trace (lookups decode whole requests, slow in debug builds), and the shared one.
        for (id, spans) in byTrace.sorted(by: { $0.key < $1.key }).enumerated().filter({ $0.offset % 5 == 0 }).map(\.element) {
            XCTAssertEqual(try OTLPExporter.spans(traceID: id, in: m, from: store), spans.sorted(by: order), id)
        }
        let shared = try OTLPExporter.spans(traceID: Self.sharedTrace, in: m, from: store)
        XCTAssertEqual(shared.count, byTrace[Self.sharedTrace]?.count)
        XCTAssertTrue(shared.contains { $0.parentSpanID.isEmpty }, "the root span is found")
        XCTAssertTrue(shared.allSatisfy { $0.traceID == Self.sharedTrace && $0.serviceName == "checkout" })
        XCTAssertEqual(Set(stored.indices.filter { stored[$0].spans.contains { $0.traceID == Self.sharedTrace } }).count, 2)

        XCTAssertEqual(try OTLPExporter.spans(traceID: String(repeating: "ab", count: 16), in: m, from: store), [])
        XCTAssertThrowsError(try OTLPExporter.spans(traceID: "not-hex", in: m, from: store)) {
            XCTAssertEqual(($0 as? RRLogError)?.code, .invalidArgument)
        }

        // Appending to the session keeps the index working across both imports.
        let m2 = try OTLPImporter().importFiles([Self.path("traces-003.jsonl")], into: store, session: "traces")
        let some = try XCTUnwrap(stored[2].spans.first?.traceID)
        XCTAssertEqual(try OTLPExporter.spans(traceID: some, in: m2, from: store).count, 2 * byTrace[some]!.count)
    }

    func testRecordAtSequenceReadsEachRecord() throws {
        let store = try makeStore()
        let m = try OTLPImporter().importFiles(Self.protoFiles.map(Self.path), into: store, session: "seq")
        let reader = try store.openReader(m)
        var count = 0
        reader.forEach { view in
            XCTAssertEqual(reader.record(atSequence: view.sequence), view.makeRecord())
            count += 1
            return true
        }
        XCTAssertEqual(count, m.recordCount)
        XCTAssertNil(reader.record(atSequence: UInt64(m.recordCount + 10)))
    }

    // MARK: Filters

    func testTimeWindowAndServiceFilters() throws {
        let store = try makeStore()
        // A second service: the traces request again, renamed.
        func renamed(_ v: JSONValue) -> JSONValue {
            switch v {
            case .object(var o):
                if o["key"]?.stringValue == "service.name" { o["value"] = ["stringValue": "billing"] } else { for (k, x) in o { o[k] = renamed(x) } }
                return .object(o)
            case .array(let a): return .array(a.map(renamed))
            default: return v
            }
        }
        let billing = temporaryFile("billing-traces.jsonl", renamed(try JSONValue.parse(bytes(Self.path("traces-003.jsonl")))).serializedBytes())
        let files = ["traces-003.otlp", "logs-001.otlp", "metrics-001.otlp"].map(Self.path) + [billing]
        let m = try OTLPImporter().importFiles(files, into: store, session: "filters")
        let all = try OTLPExporter.requests(m, from: store)
        XCTAssertEqual(all.map(\.serviceNames), [["checkout"], ["checkout"], ["checkout"], ["billing"]])

        let onlyBilling = try OTLPExporter.requests(m, from: store, filter: OTLPExportFilter(serviceName: "billing"))
        XCTAssertEqual(onlyBilling, [all[3]])
        XCTAssertEqual(try OTLPExporter.requests(m, from: store, filter: OTLPExportFilter(serviceName: "nobody")), [])
        let checkoutTraces = try OTLPExporter.requests(m, from: store, filter: OTLPExportFilter(signals: [.traces], serviceName: "checkout"))
        XCTAssertEqual(checkoutTraces, [all[0]])

        // A window holding the later half of the spans, logs and data points.
        for (i, signal) in [(0, OTLPSignal.traces), (1, .logs), (2, .metrics)] {
            let times = try itemTimes(all[i])
            let cut = times.sorted()[times.count / 2]
            let later = try OTLPExporter.requests(m, from: store, filter: OTLPExportFilter(signals: [signal], fromNs: cut, serviceName: "checkout"))
            XCTAssertEqual(try later.flatMap(itemTimes).sorted(), times.filter { $0 >= cut }.sorted(), "\(signal)")
            let earlier = try OTLPExporter.requests(m, from: store, filter: OTLPExportFilter(signals: [signal], toNs: cut - 1, serviceName: "checkout"))
            XCTAssertEqual(try earlier.flatMap(itemTimes).sorted(), times.filter { $0 < cut }.sorted(), "\(signal)")
            // Both halves together hold every item; a request left empty is not exported.
            XCTAssertEqual(later.map(\.itemCount).reduce(0, +) + earlier.map(\.itemCount).reduce(0, +), all[i].itemCount)
            XCTAssertEqual(later.count, 1, "\(signal)")
            XCTAssertEqual(earlier.count, times.contains { $0 < cut } ? 1 : 0, "\(signal)")
            if signal == .traces { XCTAssertTrue(times.contains { $0 < cut }, "the spans have different start times") }
        }
        let spans = all[0].spans.map(\.startTimeUnixNano)
        XCTAssertEqual(try OTLPExporter.requests(m, from: store, filter: OTLPExportFilter(fromNs: Int64(spans.max()!) + 1, toNs: Int64(spans.max()!) + 2)).filter { $0.signal == .traces }, [])
        // A window covering everything changes nothing.
        XCTAssertEqual(try OTLPExporter.requests(m, from: store, filter: OTLPExportFilter(fromNs: 0, toNs: Int64.max)), all)
    }

    /// The item times of a request, read from its OTLP JSON (start for spans, time for the rest).
    func itemTimes(_ request: OTLPRequest) throws -> [Int64] {
        var out: [Int64] = []
        func walk(_ v: JSONValue, _ inItem: Bool) {
            switch v {
            case .object(let o):
                let isSpan = o["spanId"] != nil && o["startTimeUnixNano"] != nil
                let isPoint = o["timeUnixNano"] != nil && (o["severityText"] != nil || o["severityNumber"] != nil || o["body"] != nil || o["asInt"] != nil || o["asDouble"] != nil || o["count"] != nil)
                if !inItem, isSpan, let t = o["startTimeUnixNano"]?.stringValue { out.append(Int64(t)!) }
                if !inItem, !isSpan, isPoint, let t = o["timeUnixNano"]?.stringValue { out.append(Int64(t)!) }
                for (_, x) in o { walk(x, inItem || isSpan || isPoint) }
            case .array(let a): for x in a { walk(x, inItem) }
            default: break
            }
        }
        walk(try JSONValue.parse(request.jsonBytes()), false)
        XCTAssertEqual(out.count, request.itemCount)
        return out
    }

    // MARK: Bad input

    func testMalformedProtobufBodyCommitsNothing() throws {
        let store = try makeStore()
        let good = bytes(Self.path("traces-003.otlp"))
        let cut = temporaryFile("traces-cut.otlp", Array(good.prefix(good.count / 2)))
        assertMalformed(
            try OTLPImporter().importFiles([Self.path("logs-001.otlp"), cut], into: store, session: "bad"),
            location: "traces-cut.otlp", message: "ExportTraceServiceRequest")
        let junk = temporaryFile("body.otlp", [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01])
        assertMalformed(try OTLPImporter().importFiles([junk], into: store, session: "bad"), location: "body.otlp", message: "not an OTLP request")
        XCTAssertEqual(try store.sessions().count, 0)
        // Without a signal in the name, the body's type is found strictly.
        let unnamed = temporaryFile("body.otlp", good)
        XCTAssertEqual(try OTLPImporter().requests(fromFile: unnamed).map(\.signal), [.traces])
        let unnamedLogs = temporaryFile("b.otlp", bytes(Self.path("logs-001.otlp")))
        XCTAssertEqual(try OTLPImporter().requests(fromFile: unnamedLogs).map(\.signal), [.logs])
        // An empty request says nothing of its signal.
        assertMalformed(try OTLPRequest(protobuf: [], source: "empty.otlp"), location: "empty.otlp", message: "cannot tell")
        XCTAssertEqual(try OTLPRequest(protobuf: [], signal: .logs).itemCount, 0)
    }

    func testBadJSONLineNamesTheLineAndCommitsNothing() throws {
        let store = try makeStore()
        let existing = try OTLPImporter().importFiles([Self.path("metrics-001.otlp")], into: store, session: "keep")
        let good = bytes(Self.path("logs-001.jsonl"))
        let broken = temporaryFile("logs.jsonl", good + good + Array("\n{\"resourceLogs\": [}\n".utf8) + good)
        assertMalformed(
            try OTLPImporter().importFiles([broken], into: store, session: "keep"), location: "logs.jsonl:4", message: "invalid JSON")
        let wrongType = temporaryFile("logs.jsonl", good + Array("{\"resourceLogs\": 5}\n".utf8))
        assertMalformed(try OTLPImporter().importFiles([wrongType], into: store, session: "new"), location: "logs.jsonl:2", message: "logs")
        let notOTLP = temporaryFile("x.jsonl", Array("{\"hello\": 1}\n".utf8))
        assertMalformed(try OTLPImporter().importFiles([notOTLP], into: store, session: "new"), location: "x.jsonl:1", message: "resourceSpans")
        // The existing session is as it was; no new session.
        XCTAssertEqual(try store.sessions().map(\.name), ["keep"])
        let after = try store.session("keep")
        XCTAssertEqual(after.recordCount, existing.recordCount)
        XCTAssertEqual(try OTLPExporter.requests(after, from: store).count, 1)
    }

    func testTruncatedOrCorruptGzipNamesTheFileAndOffset() throws {
        let store = try makeStore()
        let gz = bytes(Self.path("gzip/traces-000.otlp.gz"))
        let truncated = temporaryFile("traces-t.otlp.gz", Array(gz.prefix(gz.count - 100)))
        assertMalformed(
            try OTLPImporter().importFiles([Self.path("traces-003.otlp"), truncated], into: store, session: "gz"),
            location: "traces-t.otlp.gz: byte offset \(gz.count - 100)", message: "truncated")
        var flipped = gz
        for i in 200..<260 { flipped[i] ^= 0x5A }
        let corrupt = temporaryFile("traces-c.otlp.gz", flipped)
        assertMalformed(try OTLPImporter().importFiles([corrupt], into: store, session: "gz"), location: "traces-c.otlp.gz: byte offset", message: "corrupt gzip")
        let trailing = temporaryFile("traces-x.otlp.gz", gz + [1, 2, 3])
        assertMalformed(
            try OTLPImporter().importFiles([trailing], into: store, session: "gz"), location: "traces-x.otlp.gz: byte offset \(gz.count)",
            message: "trailing")
        // The decompressed size is bounded.
        var small = OTLPImporter()
        small.decompressedSizeBytesMax = 10_000
        assertMalformed(try small.importFiles([Self.path("gzip/traces-000.otlp.gz")], into: store, session: "gz"), location: "byte offset", message: "exceeds")
        XCTAssertEqual(try store.sessions().count, 0)
        // Two members in one file are read as one body.
        let raw = bytes(Self.path("gzip/metrics-000.otlp.gz"))
        XCTAssertEqual(try GzipDecoder.decompress(raw + raw, file: "m.gz").count, 2 * (try GzipDecoder.decompress(raw, file: "m.gz")).count)
    }

    func testSignalAndFormatDetection() throws {
        // The content decides over the name; the name decides when the content cannot.
        let misnamed = temporaryFile("traces-misnamed.otlp", bytes(Self.path("logs-001.otlp")))
        XCTAssertEqual(try OTLPImporter().requests(fromFile: misnamed).map(\.signal), [.logs])
        let mixed = temporaryFile("mixed.jsonl", bytes(Self.path("traces-003.jsonl")) + bytes(Self.path("logs-001.jsonl")))
        XCTAssertEqual(try OTLPImporter().requests(fromFile: mixed).map(\.signal), [.traces, .logs])
        let empty = temporaryFile("metrics-empty.jsonl", Array("{}\n".utf8))
        XCTAssertEqual(try OTLPImporter().requests(fromFile: empty).map(\.signal), [.metrics])
        let emptyBody = temporaryFile("logs-empty.otlp", [])
        XCTAssertEqual(try OTLPImporter().requests(fromFile: emptyBody).map(\.signal), [.logs])
        // A pretty-printed single request.
        let pretty = try JSONValue.parse(bytes(Self.path("metrics-001.jsonl")))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .prettyPrinted
        let prettyFile = temporaryFile("request.json", Array(try encoder.encode(pretty)))
        XCTAssertEqual(try OTLPImporter().requests(fromFile: prettyFile), try OTLPImporter().requests(fromFile: Self.path("metrics-001.otlp")))

        XCTAssertEqual(OTLPSignal(fileName: "/x/traces-000.otlp"), .traces)
        XCTAssertEqual(OTLPSignal(fileName: "metrics.jsonl"), .metrics)
        XCTAssertEqual(OTLPSignal(fileName: "logs-001.otlp.gz"), .logs)
        XCTAssertNil(OTLPSignal(fileName: "body.otlp"))
        XCTAssertNil(OTLPSignal(fileName: "trace-logs.otlp"))
        XCTAssertEqual(OTLPFormat.detect(Array(" {\"resourceSpans\":[]}".utf8), file: "x"), .json)
        XCTAssertEqual(OTLPFormat.detect([0x0A, 0x01], file: "x"), .protobuf)
        XCTAssertEqual(ImportFormat.detect(bytes(Self.path("traces-003.jsonl")), file: "t.jsonl"), .otlpJSON)
        XCTAssertEqual(ImportFormat.detect(bytes(Self.path("traces-003.otlp")), file: "t.otlp"), .otlpProto)
    }
}

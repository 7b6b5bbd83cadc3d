import RRLog
import RRLogInterop

/// The event-recorder JSON importer: a document either becomes records or a clear error; every
/// record's payload is the event it came from.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let (_, records) = try? EventRecorderFormat.records(from: bytes, file: "fuzz.json") else { return 0 }
    guard let document = try? JSONValue.parse(bytes), let events = document["events"]?.arrayValue, events.count == records.count else {
        fatalError("imported records do not match the document's events")
    }
    for (event, record) in zip(events, records) {
        guard let back = try? JSONValue.parse(record.payload), back == event else { fatalError("payload is not the event") }
    }
    return 0
}

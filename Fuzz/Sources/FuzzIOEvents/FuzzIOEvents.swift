import RRLog

/// The JSON-lines importer of IO events: every line either becomes a record or a clear error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var encoder = IOEventEncoder()
    var n = 0
    for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
        n += 1
        guard let value = try? JSONValue.parse(Array(line)) else { continue }
        if let record = try? encoder.record(for: value, location: "line \(n)") {
            // The stored payload is the line with its secrets redacted (on by default), its
            // ts_ns in the record timestamp (FORMAT.md §10.11), and, for a keyed call, the
            // call_index its key has.
            var expected = encoder.redact(value)
            if let key = record.key.flatMap({ IOKey(bytes: $0) }) { expected = IOEventEncoder.settingCallIndex(expected, to: key.callIndex) }
            guard let back = IOLine.parse(record.payload, timestampNs: record.timestampNs), back == expected else {
                fatalError("payload is not the redacted line with its key's call index")
            }
            // Export splices ts_ns into the stored bytes without parsing them: the same line.
            var spliced: [UInt8] = []
            record.payload.withUnsafeBytes { IOLine.append($0, timestampNs: record.timestampNs, to: &spliced) }
            guard (try? JSONValue.parse(spliced)) == back else { fatalError("spliced line differs from the parsed one") }
        }
    }
    return 0
}

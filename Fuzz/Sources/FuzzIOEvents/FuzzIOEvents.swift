import RRLog

/// The JSON-lines importer of IO events: every line either becomes a record or a clear error.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var encoder = IOEventEncoder()
    // The fast path of JSON lines against the tree path, each with its own encoder: the same
    // record (and call index) or the same error for every line.
    var tree = IOEventEncoder()
    var fast = IOEventEncoder()
    var n = 0
    for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: true) {
        n += 1
        let location = "line \(n)"
        let expected = outcome { () throws(RRLogError) in
            let parsed: JSONValue
            do throws(JSONParseError) { parsed = try JSONValue.parse(Array(line)) } catch {
                throw RRLogError(.malformedInput, "invalid JSON at column \(error.column): \(error.reason)", location: location)
            }
            return try tree.record(for: parsed, location: location)
        }
        let got = outcome { () throws(RRLogError) in
            try fast.record(forLine: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: line)), location: location)
        }
        switch (expected, got) {
        case (.success(let a), .success(let b))
        where a.timestampNs == b.timestampNs && a.kind == b.kind && a.key == b.key
            && a.payload == b.payload:
            break
        case (.failure(let a), .failure(let b)) where a.code == b.code && a.message == b.message && a.location == b.location:
            break
        default:
            fatalError("the fast path differs from the tree path: tree \(expected), fast \(got)")
        }

        guard let value = try? JSONValue.parse(Array(line)) else { continue }
        if let record = try? encoder.record(for: value, location: "line \(n)") {
            // The stored payload is the line with its secrets redacted (on by default), its
            // ts_ns in the record timestamp (FORMAT-IO-PROFILE.md §10), and, for a keyed call, the
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

/// The value `body` returns or the error it throws.
func outcome<T>(_ body: () throws(RRLogError) -> T) -> Result<T, RRLogError> {
    do throws(RRLogError) { return .success(try body()) } catch { return .failure(error) }
}


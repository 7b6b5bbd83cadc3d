import RRLogInterop

/// OTLP protobuf request bodies: what decodes must encode to bytes that decode to an equal request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let request = try? OTLPRequest(protobuf: bytes) else { return 0 }
    guard let again = try? OTLPRequest(protobuf: request.protobufBytes(), signal: request.signal), again == request else {
        fatalError("re-encoded OTLP request differs")
    }
    _ = request.jsonBytes()
    return 0
}

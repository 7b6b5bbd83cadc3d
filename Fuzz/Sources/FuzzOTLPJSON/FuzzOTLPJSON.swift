import RRLogInterop

/// OTLP JSON (hex ids, lowerCamelCase): what decodes must survive JSON and protobuf re-encoding.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let request = try? OTLPRequest(json: bytes) else { return 0 }
    guard let viaJSON = try? OTLPRequest(json: request.jsonBytes(), signal: request.signal), viaJSON == request else {
        fatalError("OTLP JSON does not survive re-encoding")
    }
    guard let viaProto = try? OTLPRequest(protobuf: request.protobufBytes(), signal: request.signal), viaProto == request else {
        fatalError("OTLP JSON does not survive protobuf re-encoding")
    }
    return 0
}

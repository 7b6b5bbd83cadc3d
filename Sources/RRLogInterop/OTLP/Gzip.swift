import CZlibRR
public import RRLog

/// gzip decompression (RFC 1952) through zlib, bounded: OTLP/HTTP bodies and the Collector's
/// files may be gzip-encoded, and a small file must not be able to expand without limit.
public enum GzipDecoder {
    /// The default bound on a decompressed body: OTLP/HTTP's 64 MiB body cap.
    public static let decompressedSizeBytesMax = 64 << 20

    /// True when `bytes` start with the gzip magic number.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// Decompresses every member of a gzip file. Fails with `.malformedInput` naming `file` and the
    /// byte offset (in the compressed input) of a truncated or corrupt stream, of trailing bytes
    /// that are not another member, or of the point where the output passed `limit` bytes.
    public static func decompress(_ input: [UInt8], file: String, limit: Int = decompressedSizeBytesMax) throws(RRLogError) -> [UInt8] {
        var stream = z_stream()
        // 15 window bits + 16: gzip framing only (no raw deflate, no zlib header).
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw RRLogError(.storage, "cannot initialise zlib", location: file)
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var consumed = 0  // input bytes consumed by finished members
        var failure: RRLogError?
        input.withUnsafeBufferPointer { inBuffer in
            guard let base = inBuffer.baseAddress else {
                failure = RRLogError(.malformedInput, "empty gzip file", location: "\(file): byte offset 0")
                return
            }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = UInt32(inBuffer.count)
            while failure == nil {
                let status = buffer.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    let produced = out.count - Int(stream.avail_out)
                    output.append(contentsOf: out[0..<produced])
                    return status
                }
                let offset = consumed + Int(stream.total_in)
                if output.count > limit {
                    failure = RRLogError(
                        .malformedInput, "decompressed size exceeds the limit of \(limit) bytes",
                        location: "\(file): byte offset \(offset)")
                    break
                }
                switch status {
                case Z_STREAM_END:
                    consumed = offset
                    if stream.avail_in == 0 { return }
                    // Another member may follow (RFC 1952 §2.2); anything else is an error.
                    guard stream.avail_in >= 2, stream.next_in[0] == 0x1F, stream.next_in[1] == 0x8B else {
                        failure = RRLogError(.malformedInput, "trailing bytes after the gzip stream", location: "\(file): byte offset \(offset)")
                        break
                    }
                    inflateReset(&stream)
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    // No progress possible: the input ended before the stream did.
                    failure = RRLogError(
                        .malformedInput, "truncated gzip stream (the file ends inside it)",
                        location: "\(file): byte offset \(offset)")
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    failure = RRLogError(.malformedInput, "corrupt gzip data: \(reason)", location: "\(file): byte offset \(offset)")
                }
            }
        }
        if let failure { throw failure }
        return output
    }
}

import CZlibRR
public import RRLog

/// gzip compression (RFC 1952) through zlib, for OTLP/HTTP request bodies sent with
/// `Content-Encoding: gzip`.
public enum GzipEncoder {
    /// One gzip member holding `input` (zlib's default level unless `level` is given, 1...9).
    public static func compress(_ input: [UInt8], level: Int32 = -1) throws(RRLogError) -> [UInt8] {
        var stream = z_stream()
        // 15 window bits + 16: write a gzip header and trailer.
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw RRLogError(.storage, "cannot initialise zlib")
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 64)
        var status: Int32 = Z_OK
        var produced = 0
        input.withUnsafeBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = UnsafeMutablePointer(mutating: inBuffer.baseAddress)
                stream.avail_in = UInt32(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = UInt32(outBuffer.count)
                status = deflate(&stream, Z_FINISH)
                produced = outBuffer.count - Int(stream.avail_out)
            }
        }
        guard status == Z_STREAM_END else { throw RRLogError(.storage, "gzip compression failed (zlib status \(status))") }
        output.removeSubrange(produced...)
        return output
    }
}

internal import CLZ4
internal import CZstd

/// Compresses frame data in one shot (FORMAT.md §5). Holds a reusable zstd context, so keep one
/// per writer thread; not for sharing between threads.
public final class Compressor {
    /// The codec asked for.
    public let codec: Codec
    /// The zstd level (ignored for other codecs).
    public let level: Int32
    private var zstdContext: OpaquePointer?
    private var output: [UInt8] = []

    /// Makes a compressor for `codec`; `level` is zstd's (1-19, default 3).
    public init(codec: Codec, level: Int = 3) {
        self.codec = codec
        self.level = Int32(max(1, min(level, 19)))
        if codec == .zstd { zstdContext = ZSTD_createCCtx() }
    }

    deinit { if let zstdContext { ZSTD_freeCCtx(zstdContext) } }

    /// Compresses `input` and calls `body` with the codec actually used and the stored bytes. The
    /// data is stored uncompressed (codec none) when compression would not make it smaller.
    public func compress<R>(_ input: UnsafeRawBufferPointer, _ body: (Codec, UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard codec != .none, input.count > 0, let base = input.baseAddress else {
            return try body(.none, input)
        }
        var produced = 0
        switch codec {
        case .none:
            break
        case .lz4:
            let bound = Int(LZ4_compressBound(Int32(input.count)))
            if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
            produced = output.withUnsafeMutableBytes { out in
                Int(LZ4_compress_default(
                    base.assumingMemoryBound(to: CChar.self), out.baseAddress!.assumingMemoryBound(to: CChar.self),
                    Int32(input.count), Int32(bound)))
            }
        case .zstd:
            let bound = ZSTD_compressBound(input.count)
            if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
            let result = output.withUnsafeMutableBytes { out in
                ZSTD_compressCCtx(zstdContext, out.baseAddress, bound, base, input.count, level)
            }
            produced = ZSTD_isError(result) != 0 ? 0 : result
        }
        if produced <= 0 || produced >= input.count { return try body(.none, input) }
        return try output.withUnsafeBytes { try body(codec, UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
    }
}

/// Decompresses frame data. Keeps a zstd context and an output buffer; one per reader thread.
public final class Decompressor {
    private var zstdContext: OpaquePointer?

    /// Makes a decompressor.
    public init() {}

    deinit { if let zstdContext { ZSTD_freeDCtx(zstdContext) } }

    /// Decompresses `stored` into a buffer of exactly `rawLength` bytes. `frameOffset` is used only
    /// to report where a failure happened. `rawLength` must already be bounded by the caller.
    public func decompress(
        _ stored: UnsafeRawBufferPointer, codec rawCodec: UInt8, rawLength: Int, frameOffset: Int
    ) -> Result<[UInt8], FormatError> {
        guard let codec = Codec(rawValue: rawCodec) else {
            return .failure(.unknownCodec(offset: frameOffset, codec: rawCodec))
        }
        guard rawLength <= FormatConstants.frameDataSizeBytesMax else {
            return .failure(.badLength(
                offset: frameOffset, what: "frame raw length", value: UInt64(rawLength),
                limit: UInt64(FormatConstants.frameDataSizeBytesMax)))
        }
        switch codec {
        case .none:
            guard stored.count == rawLength else {
                return .failure(.badField(offset: frameOffset, what: "stored length of uncompressed frame", value: UInt64(stored.count)))
            }
            return .success(Array(stored))
        case .lz4:
            guard stored.count > 0, rawLength > 0 else {
                return .failure(.decompressionFailed(offset: frameOffset, codec: rawCodec, reason: "empty lz4 frame"))
            }
            var out = [UInt8](repeating: 0, count: rawLength)
            let n = out.withUnsafeMutableBytes { o in
                LZ4_decompress_safe(
                    stored.baseAddress!.assumingMemoryBound(to: CChar.self),
                    o.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(stored.count), Int32(rawLength))
            }
            guard n == Int32(rawLength) else {
                return .failure(.decompressionFailed(
                    offset: frameOffset, codec: rawCodec, reason: n < 0 ? "malformed lz4 block" : "lz4 produced \(n) of \(rawLength) bytes"))
            }
            return .success(out)
        case .zstd:
            guard stored.count > 0, rawLength > 0 else {
                return .failure(.decompressionFailed(offset: frameOffset, codec: rawCodec, reason: "empty zstd frame"))
            }
            if zstdContext == nil { zstdContext = ZSTD_createDCtx() }
            var out = [UInt8](repeating: 0, count: rawLength)
            let n = out.withUnsafeMutableBytes { o in
                ZSTD_decompressDCtx(zstdContext, o.baseAddress, rawLength, stored.baseAddress, stored.count)
            }
            if ZSTD_isError(n) != 0 {
                let reason = String(cString: ZSTD_getErrorName(n))
                return .failure(.decompressionFailed(offset: frameOffset, codec: rawCodec, reason: reason))
            }
            guard n == rawLength else {
                return .failure(.decompressionFailed(offset: frameOffset, codec: rawCodec, reason: "zstd produced \(n) of \(rawLength) bytes"))
            }
            return .success(out)
        }
    }
}

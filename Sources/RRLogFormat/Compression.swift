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

    /// Decompresses at least the first `prefixLength` bytes of a frame's data (all `rawLength`
    /// bytes when `prefixLength` is larger). A lookup needs one record: lz4 stops decoding at the
    /// target, zstd after the block that reaches it. The result may be shorter than asked only
    /// when the data is damaged, which the record's own CRC then reports.
    public func decompressPrefix(
        _ stored: UnsafeRawBufferPointer, codec rawCodec: UInt8, rawLength: Int, prefixLength: Int, frameOffset: Int
    ) -> Result<[UInt8], FormatError> {
        let target = max(0, min(prefixLength, rawLength))
        guard target < rawLength, let codec = Codec(rawValue: rawCodec), codec != .none, stored.count > 0, target > 0 else {
            return decompress(stored, codec: rawCodec, rawLength: rawLength, frameOffset: frameOffset)
        }
        switch codec {
        case .none:
            return decompress(stored, codec: rawCodec, rawLength: rawLength, frameOffset: frameOffset)
        case .lz4:
            var n: Int32 = 0
            let out = [UInt8](unsafeUninitializedCapacity: target) { o, count in
                n = LZ4_decompress_safe_partial(
                    stored.baseAddress!.assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(o.baseAddress!).assumingMemoryBound(to: CChar.self),
                    Int32(stored.count), Int32(target), Int32(target))
                count = n > 0 ? Int(n) : 0
            }
            guard n >= 0 else {
                return .failure(.decompressionFailed(offset: frameOffset, codec: rawCodec, reason: "malformed lz4 block"))
            }
            return .success(out)
        case .zstd:
            if zstdContext == nil { zstdContext = ZSTD_createDCtx() }
            _ = ZSTD_DCtx_reset(zstdContext, ZSTD_reset_session_only)
            var failure: String?
            let out = [UInt8](unsafeUninitializedCapacity: target) { o, count in
                var input = ZSTD_inBuffer(src: stored.baseAddress, size: stored.count, pos: 0)
                var output = ZSTD_outBuffer(dst: UnsafeMutableRawPointer(o.baseAddress!), size: target, pos: 0)
                while output.pos < target {
                    let before = (input.pos, output.pos)
                    let r = ZSTD_decompressStream(zstdContext, &output, &input)
                    if ZSTD_isError(r) != 0 {
                        failure = String(cString: ZSTD_getErrorName(r))
                        break
                    }
                    // No progress, or the frame ended: stop (a short result is reported by the caller's decode).
                    if r == 0 || (before.0 == input.pos && before.1 == output.pos) { break }
                }
                count = output.pos
            }
            if let failure { return .failure(.decompressionFailed(offset: frameOffset, codec: rawCodec, reason: failure)) }
            return .success(out)
        }
    }
}

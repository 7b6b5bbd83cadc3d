/// What a linear scan of a segment's bytes meets, in order (FORMAT.md §9, "Reading without the
/// index").
public enum ScanItem: Sendable {
    /// A frame whose header and data CRCs are good.
    case frame(FrameHeader, offset: Int)
    /// Bytes that are not a valid frame, followed by a valid frame or footer at `range.upperBound`.
    case damaged(range: Range<Int>, error: FormatError)
    /// Bytes at the end that are not a valid frame and after which nothing valid follows: a torn
    /// write after a crash, or damage at the very end.
    case tornTail(range: Range<Int>, error: FormatError)
    /// The footer of a sealed segment.
    case footer(SegmentFooter, offset: Int)
}

/// Walks a segment's frames from its header to its end without the index, resynchronising after
/// damage by searching for the next frame magic whose header CRC checks (FORMAT.md §9).
public struct SegmentScanner: IteratorProtocol {
    private let buffer: UnsafeRawBufferPointer
    private var position: Int
    private var done = false

    /// Starts after the segment header, which the caller has decoded (`headerLength` bytes).
    public init(buffer: UnsafeRawBufferPointer, headerLength: Int) {
        self.buffer = buffer
        self.position = headerLength
    }

    /// Where the next item starts.
    public var offset: Int { position }

    /// The next item, or nil at the end.
    public mutating func next() -> ScanItem? {
        guard !done, position < buffer.count else { return nil }
        if let footer = footer(at: position) {
            done = true
            return .footer(footer, offset: position)
        }
        let start = position
        let failure: FormatError
        switch FrameHeader.decode(buffer, at: start) {
        case .success(let header):
            if let error = header.checkData(buffer, headerOffset: start) {
                failure = error
            } else {
                position = start + header.frameLength
                return .frame(header, offset: start)
            }
        case .failure(let error):
            failure = error
        }
        // A frame whose header checks but whose data does not: its own length says where the next
        // frame starts. Searching inside its data could find frames that are payload bytes.
        if case .success(let header) = FrameHeader.decode(buffer, at: start, requireData: true) {
            let next = start + header.frameLength
            if next == buffer.count || footer(at: next) != nil {
                position = next
                return .damaged(range: start..<next, error: failure)
            }
            if case .success = FrameHeader.decode(buffer, at: next, requireData: true) {
                position = next
                return .damaged(range: start..<next, error: failure)
            }
        }
        guard let resume = resync(after: start) else {
            done = true
            position = buffer.count
            return .tornTail(range: start..<buffer.count, error: failure)
        }
        position = resume
        return .damaged(range: start..<resume, error: failure)
    }

    private func footer(at offset: Int) -> SegmentFooter? {
        guard buffer.count - offset == FormatConstants.footerSizeBytes else { return nil }
        if case .success(let f) = SegmentFooter.decode(buffer) { return f }
        return nil
    }

    /// The first offset after `start` that holds a frame with a good header CRC, or the footer.
    private func resync(after start: Int) -> Int? {
        let reader = ByteReader(buffer)
        let end = buffer.count - FormatConstants.frameHeaderSizeBytes
        var i = start + 1
        let footerAt = buffer.count - FormatConstants.footerSizeBytes
        while i <= end {
            if reader.u32Unchecked(i) == FormatConstants.frameMagic,
                case .success = FrameHeader.decode(buffer, at: i, requireData: true)
            {
                return i
            }
            i += 1
        }
        if footerAt > start, footer(at: footerAt) != nil { return footerAt }
        return nil
    }
}

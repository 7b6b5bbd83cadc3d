/// The numbers FORMAT.md defines, in one place. Each constant names the FORMAT.md section it
/// mirrors; relations between them are checked by `FormatConstants.brokenInvariants()` in tests.
public enum FormatConstants {
    /// FORMAT.md §2: the eight bytes a segment starts with, and that end its footer.
    public static let segmentMagic: [UInt8] = [0x89, 0x52, 0x52, 0x4C, 0x4F, 0x47, 0x0D, 0x0A]
    /// FORMAT.md §2: the format version this code writes.
    public static let formatVersion: UInt16 = 2
    /// FORMAT.md §2: the versions this code reads (version 1 has row chunks only).
    public static let readableVersions: ClosedRange<UInt16> = 1...2
    /// FORMAT.md §2: size of a version 1 or 2 segment header.
    public static let segmentHeaderSizeBytes = 48

    /// FORMAT.md §3: "RRCK" read as a little-endian u32; starts every frame.
    public static let frameMagic: UInt32 = 0x4B43_5252
    /// FORMAT.md §3: size of a version 1 frame header.
    public static let frameHeaderSizeBytes = 56

    /// FORMAT.md §4: size of a record's fixed part (CRC, length and the fixed body fields).
    public static let recordHeaderSizeBytes = 34
    /// FORMAT.md §4: the smallest legal value of a record's length field.
    public static let recordLengthMin = recordHeaderSizeBytes - 8

    /// FORMAT.md §4.1: bytes before a column chunk's columns (record count and content CRC).
    public static let columnPrefixSizeBytes = 8
    /// FORMAT.md §4.1: column bytes per record (kind 2, timestamp 8, flags 1, key length 2,
    /// payload length 4).
    public static let columnBytesPerRecord = 17

    /// FORMAT.md §7: "RRFT" read as a little-endian u32; starts the footer.
    public static let footerMagic: UInt32 = 0x5446_5252
    /// FORMAT.md §7: size of the footer, trailing magic included.
    public static let footerSizeBytes = 64

    /// FORMAT.md §6: size of one chunk-index entry.
    public static let chunkIndexEntrySizeBytes = 48
    /// FORMAT.md §6: size of one key-table slot.
    public static let keySlotSizeBytes = 16
    /// FORMAT.md §6: size of the chunk-index and key-table body prefixes.
    public static let indexBodyPrefixSizeBytes = 8

    /// FORMAT.md §8: the largest key a record may carry.
    public static let keySizeBytesMax = Int(UInt16.max)
    /// FORMAT.md §8: the largest payload a record may carry (256 MiB).
    public static let payloadSizeBytesMax = 256 << 20
    /// FORMAT.md §8: the largest decoded size of one frame's data (a chunk holding one maximal record).
    public static let frameDataSizeBytesMax = payloadSizeBytesMax + keySizeBytesMax + 4096
    /// FORMAT.md §8: the most records one chunk may claim.
    public static let chunkRecordCountMax = frameDataSizeBytesMax / (recordHeaderSizeBytes)
    /// FORMAT.md §8: the most chunks one segment's index may list (its frame must fit the frame cap).
    public static let chunkCountMax = (frameDataSizeBytesMax - indexBodyPrefixSizeBytes) / chunkIndexEntrySizeBytes
    /// FORMAT.md §8: the most slots one key table may have (16 Mi slots, 256 MiB).
    public static let keySlotCountMax = 1 << 24
    /// FORMAT.md §8: the most keyed records a writer puts in one segment (load ≤ 0.75 of the cap).
    public static let keyCountMax = keySlotCountMax / 4 * 3

    /// Checks the relations FORMAT.md states between the constants. Returns the broken ones.
    public static func brokenInvariants() -> [String] {
        var broken: [String] = []
        if segmentMagic.count != 8 { broken.append("segment magic is 8 bytes") }
        if recordLengthMin != 26 { broken.append("record length minimum is 26") }
        if columnBytesPerRecord != 2 + 8 + 1 + 2 + 4 { broken.append("column bytes per record are the five columns' widths") }
        if !readableVersions.contains(formatVersion) { broken.append("the written version is readable") }
        if frameDataSizeBytesMax > Int(UInt32.max) { broken.append("frame data fits a u32 length") }
        if footerSizeBytes != 56 + segmentMagic.count { broken.append("footer ends with the magic") }
        if keySlotCountMax & (keySlotCountMax - 1) != 0 { broken.append("slot cap is a power of two") }
        if keySlotCountMax * keySlotSizeBytes + indexBodyPrefixSizeBytes > frameDataSizeBytesMax { broken.append("a full key table fits a frame") }
        if chunkCountMax * chunkIndexEntrySizeBytes + indexBodyPrefixSizeBytes > frameDataSizeBytesMax { broken.append("a full chunk index fits a frame") }
        return broken
    }
}

/// FORMAT.md §3: what a frame holds.
public enum FrameType: UInt8, Sendable {
    /// A chunk of records.
    case chunk = 0x01
    /// The chunk index of a sealed segment.
    case chunkIndex = 0x02
    /// The key table of a sealed segment, or of a log key index.
    case keyTable = 0x03
    /// The segment list of a log key index file (FORMAT.md §6.3).
    case segmentList = 0x04
}

/// FORMAT.md §3 and §4.1: how a chunk lays out its records.
public enum ChunkLayout: UInt8, Sendable, CaseIterable {
    /// Records back to back, each with its header and CRC (FORMAT.md §4).
    case rows = 0
    /// Each fixed field as a column, then the keys, then the payloads (FORMAT.md §4.1).
    case columns = 1

    /// rrlog's choice (FORMAT.md §3): columns for zstd, the codec picked for size, where they
    /// take 13-18% fewer bytes; rows for uncompressed logs, where a lookup reads one record
    /// straight from the mapped file, and for lz4, the codec picked for speed, where a lookup
    /// decodes a row chunk only up to its record but a column chunk's every column first, a
    /// slower lookup for about 10% fewer bytes (FORMAT.md §11).
    /// Version 1 segments have rows only.
    public static func `default`(for codec: Codec, version: UInt16 = FormatConstants.formatVersion) -> ChunkLayout {
        codec == .zstd && version >= 2 ? .columns : .rows
    }
}

/// FORMAT.md §4: what a record holds. Values 0x02-0x7F are reserved for this specification and
/// 0x80-0xFF for applications; readers skip records of a type they do not know.
public enum RecordType: UInt8, Sendable {
    /// A data record: sequence, time, kind, optional key, payload.
    case data = 0x01
}

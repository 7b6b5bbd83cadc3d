internal import CRRLogSupport

/// CRC32C (Castagnoli), as FORMAT.md §1 defines it, with LevelDB's masking for stored values.
public enum CRC32C {
    /// The CRC32C of `bytes`, continuing from `seed` (the CRC of what came before, 0 to start).
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        update(seed, bytes)
    }

    /// The CRC32C of an array of bytes.
    public static func checksum(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { update(seed, $0) }
    }

    /// The table-driven path alone (tests compare it with the hardware path).
    public static func portableChecksum(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { rrlog_crc32c_portable(seed, $0.baseAddress, $0.count) }
    }

    /// True when the CPU's CRC32C instruction is in use.
    public static var usesHardware: Bool { rrlog_crc32c_hardware() != 0 }

    @usableFromInline
    static func update(_ seed: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        rrlog_crc32c(seed, bytes.baseAddress, bytes.count)
    }

    /// FORMAT.md §1: stored CRCs are masked so that a CRC of bytes containing CRCs stays strong.
    @inlinable
    public static func mask(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    /// Undoes `mask`.
    @inlinable
    public static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- 0xA282_EAD8
        return (rotated >> 17) | (rotated << 15)
    }
}

// All pointer arithmetic of the format module lives in this file. Every load is bounds-checked by
// its caller through `ByteReader`, which answers nil rather than reading past the end.

/// Little-endian loads over a borrowed buffer. Never outlives the closure that lent the buffer.
@usableFromInline
struct ByteReader {
    @usableFromInline let base: UnsafeRawBufferPointer

    @inlinable init(_ base: UnsafeRawBufferPointer) { self.base = base }

    @inlinable var count: Int { base.count }

    /// True when `length` bytes starting at `offset` lie inside the buffer (no overflow).
    @inlinable func has(_ offset: Int, _ length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= base.count && length <= base.count - offset
    }

    @inlinable func u8(_ offset: Int) -> UInt8? {
        has(offset, 1) ? base[offset] : nil
    }
    @inlinable func u16(_ offset: Int) -> UInt16? {
        has(offset, 2) ? UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) : nil
    }
    @inlinable func u32(_ offset: Int) -> UInt32? {
        has(offset, 4) ? UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) : nil
    }
    @inlinable func u64(_ offset: Int) -> UInt64? {
        has(offset, 8) ? UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) : nil
    }
    @inlinable func i64(_ offset: Int) -> Int64? {
        u64(offset).map { Int64(bitPattern: $0) }
    }
    /// A sub-buffer, or nil when it does not fit.
    @inlinable func slice(_ offset: Int, _ length: Int) -> UnsafeRawBufferPointer? {
        guard has(offset, length) else { return nil }
        return UnsafeRawBufferPointer(rebasing: base[offset..<(offset + length)])
    }
    /// Unchecked loads for hot loops whose bounds were checked once before.
    @inlinable func u32Unchecked(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}

/// Little-endian stores into a `[UInt8]` for the cold encoders (headers, footers, indexes).
extension Array where Element == UInt8 {
    @inlinable mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
    @inlinable mutating func storeLE<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
    }
}

/// A growable byte buffer for the hot encoding path (records into a chunk). Owned by one writer.
@usableFromInline
final class RawBuffer {
    // Owned by one writer under its lock, so the runtime's exclusivity checks would guard nothing;
    // the append path touches these for every record, where the checks are a large share of the work.
    @exclusivity(unchecked) @usableFromInline var storage: UnsafeMutableRawPointer
    @exclusivity(unchecked) @usableFromInline var capacity: Int
    @exclusivity(unchecked) @usableFromInline var count: Int = 0

    init(capacity: Int) {
        self.capacity = Swift.max(capacity, 64)
        self.storage = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Makes room for `extra` more bytes and returns where they start.
    @inlinable func reserve(_ extra: Int) -> UnsafeMutableRawPointer {
        if count + extra > capacity { grow(to: count + extra) }
        return storage + count
    }

    @usableFromInline func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        fresh.copyMemory(from: storage, byteCount: count)
        storage.deallocate()
        storage = fresh
        capacity = newCapacity
    }

    /// Drops the contents; shrinks back when a huge record inflated the buffer.
    func reset(keepingCapacity limit: Int) {
        count = 0
        if capacity > limit * 4 {
            storage.deallocate()
            capacity = Swift.max(limit, 64)
            storage = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        }
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage, count: count) }
}

@inlinable func storeLE<T: FixedWidthInteger>(_ value: T, _ pointer: UnsafeMutableRawPointer, _ offset: Int) {
    pointer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
}

@inlinable func copyBytes(_ source: UnsafeRawBufferPointer, to pointer: UnsafeMutableRawPointer, _ offset: Int) {
    if let base = source.baseAddress, source.count > 0 {
        (pointer + offset).copyMemory(from: base, byteCount: source.count)
    }
}

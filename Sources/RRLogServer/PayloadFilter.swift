#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cheap byte tests the records route makes before it parses a payload: a text search (`q=`)
/// by `memmem`, and, for the member filters (`tool=search`), whether any wanted value occurs in
/// the payload as a JSON string (quoted, as the stored line holds it). A payload that fails them
/// cannot match; one that passes is still parsed and its members compared, so the answer stays
/// exact.
struct PayloadFilter {
    /// The `q=` text, as bytes.
    var text: [UInt8]?
    /// Per member filter, its values in quotes; a filter with a value that JSON could write in
    /// more than one way (escapes, non-ASCII) is left out and only compared after parsing.
    var quoted: [[[UInt8]]]

    init(text: [UInt8]?, values: [Set<String>]) {
        self.text = text
        quoted = values.compactMap { set -> [[UInt8]]? in
            let plain = set.allSatisfy { $0.utf8.allSatisfy { b in b >= 0x20 && b < 0x7F && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") && b != UInt8(ascii: "/") } }
            return plain ? set.map { [UInt8(ascii: "\"")] + Array($0.utf8) + [UInt8(ascii: "\"")] } : nil
        }
    }

    /// False when the payload cannot match the filters.
    func mayMatch(_ payload: UnsafeRawBufferPointer) -> Bool {
        if let text, !Self.contains(payload, text) { return false }
        for values in quoted where !values.contains(where: { Self.contains(payload, $0) }) { return false }
        return true
    }

    /// True when `needle` occurs in `haystack` (an empty needle occurs everywhere).
    static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard let base = haystack.baseAddress, haystack.count >= needle.count else { return false }
        return needle.withUnsafeBytes { n in
            // memchr to each candidate first byte, memcmp for the rest.
            var at = UnsafeRawPointer(base)
            var left = haystack.count
            while left >= n.count {
                guard let hit = memchr(at, Int32(needle[0]), left - n.count + 1) else { return false }
                if memcmp(hit, n.baseAddress!, n.count) == 0 { return true }
                let skip = UnsafeRawPointer(hit) - at + 1
                at += skip
                left -= skip
            }
            return false
        }
    }
}

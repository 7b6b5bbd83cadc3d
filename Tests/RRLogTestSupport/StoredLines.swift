public import RRLog

/// What the test targets share: expectations derived from the specification, not from the code
/// under test.
public enum SharedTestSupport {
    /// `lines` (already redacted) as a session stores them: each call's `call_index` is the
    /// number of identical calls (same io type, tool, agent and inputs) before it in the session
    /// (FORMAT-IO-PROFILE.md §6), whatever the input said.
    public static func storedLines(_ lines: [JSONValue], volatile: VolatilePaths = VolatilePaths()) -> [JSONValue] {
        var seen: [[UInt8]: UInt32] = [:]
        return lines.map { line in
            guard ["event", "stream_start"].contains(line["type"]?.stringValue), let identity = IOCallIdentity(event: line) else { return line }
            let digest = IOKey.callDigest(for: identity, volatile: volatile)
            let index = seen[digest, default: 0]
            seen[digest] = index + 1
            return IOEventEncoder.settingCallIndex(line, to: index)
        }
    }
}

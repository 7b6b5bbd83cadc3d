import Foundation
import RRLog
import RRLogFormat

/// Where OTLP JSON departs from protobuf's JSON mapping, which SwiftProtobuf implements: trace and
/// span ids are hex, not base64. These passes rewrite the id members of a JSON tree between the
/// two, so that SwiftProtobuf reads and writes everything else.
enum OTLPJSON {
    /// The members holding ids (spans, span links, log records, exemplars), in both spellings
    /// protobuf's JSON mapping accepts.
    static let idMembers: Set<String> = ["traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"]

    static func snakeCase(_ name: String) -> String {
        var out = ""
        for c in name {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out
    }

    /// Hex ids become base64. An id that is not hex is taken as base64 already (protobuf's JSON
    /// mapping); real ids cannot be mistaken, since base64 of 8 or 16 bytes ends with `=`.
    static func idsToBase64(_ value: JSONValue, location: String) throws(RRLogError) -> JSONValue {
        switch value {
        case .object(var members):
            for (key, member) in members {
                if idMembers.contains(key), case .string(let text) = member {
                    if let bytes = parseHex(text) {
                        members[key] = .string(Data(bytes).base64EncodedString())
                    } else if Data(base64Encoded: text) == nil {
                        throw RRLogError(.malformedInput, "\(key) must be hex (or base64), not \"\(text.prefix(80))\"", location: location)
                    }
                } else {
                    members[key] = try idsToBase64(member, location: location)
                }
            }
            return .object(members)
        case .array(let elements):
            var out: [JSONValue] = []
            out.reserveCapacity(elements.count)
            for e in elements { out.append(try idsToBase64(e, location: location)) }
            return .array(out)
        default:
            return value
        }
    }

    /// base64 ids (as SwiftProtobuf writes them) become lowercase hex.
    static func idsToHex(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(var members):
            for (key, member) in members {
                if idMembers.contains(key), case .string(let text) = member, let data = Data(base64Encoded: text) {
                    members[key] = .string(Hex.lowercase(data))
                } else {
                    members[key] = idsToHex(member)
                }
            }
            return .object(members)
        case .array(let elements):
            return .array(elements.map(idsToHex))
        default:
            return value
        }
    }

    /// The bytes of an even-length string of hex digits (either case); nil otherwise.
    static func parseHex(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let high = nibble(utf8[i]), let low = nibble(utf8[i + 1]) else { return nil }
            out.append(high << 4 | low)
            i += 2
        }
        return out
    }

    /// Attributes as a JSON object (a repeated key keeps its last value).
    static func attributes(_ list: [OTelKeyValue]) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for kv in list { out[kv.key] = anyValue(kv.value) }
        return out
    }

    static func anyValue(_ value: OTelAnyValue) -> JSONValue {
        switch value.value {
        case .stringValue(let s)?: return .string(s)
        case .boolValue(let b)?: return .bool(b)
        case .intValue(let i)?: return .int(i)
        case .doubleValue(let d)?: return .double(d)
        case .arrayValue(let a)?: return .array(a.values.map(anyValue))
        case .kvlistValue(let kv)?: return .object(attributes(kv.values))
        case .bytesValue(let d)?: return .string(d.base64EncodedString())
        case .stringValueStrindex(let i)?: return .int(Int64(i))
        case nil: return .null
        }
    }
}

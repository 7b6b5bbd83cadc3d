import Crypto
import Foundation
import RRLog
import RRLogFormat

/// How an HTTP exchange becomes an IO event and back (README "Record any program"): the one
/// place that decides what of a request is its identity and what of an answer is stored.
///
/// Inputs (the IO key): `method`, `path`, `query` (an object; key-like parameters dropped),
/// `body` (the parsed JSON body) or `body_sha256` (other bodies, whose bytes go to the metadata
/// as `request_body_base64`), and `headers` (only those named by `--header`). Outputs of a whole
/// answer: `status`, `headers` (from an allow-list) and `body` (the text as received) or
/// `body_base64`. A streamed answer is a stream: its start's metadata holds `status` and
/// `headers`, each chunk the text received at once (or base64 with metadata `encoding`).
public enum ProxyExchange {
    /// The io type of every exchange.
    public static let ioType = "http"
    /// The tool of every exchange (the path says which API was called).
    public static let tool = "http"

    /// Request headers never stored, even when `--header` names them, and never looked at
    /// otherwise: credentials.
    public static let secretHeaders: Set<String> = [
        "authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "set-cookie",
    ]

    /// Query parameters dropped from the inputs (compared lowercased): they carry credentials.
    public static let secretQueryParameters: Set<String> = [
        "key", "api_key", "apikey", "api-key", "token", "access_token", "auth_token", "id_token", "refresh_token", "secret",
        "client_secret", "password", "sig", "signature", "x-goog-api-key",
    ]

    /// Response headers stored (compared lowercased); everything else is passed to the client but
    /// not recorded. An allow-list, so a new credential-bearing header is never stored by default.
    public static let recordedResponseHeaders: Set<String> = [
        "content-type", "content-language", "content-disposition", "cache-control", "retry-after", "location", "etag",
        "last-modified", "x-request-id", "request-id", "openai-processing-ms", "openai-version", "openai-model",
        "x-should-retry", "content-encoding",
    ]

    /// Prefixes of response headers stored: rate-limit figures.
    public static let recordedResponseHeaderPrefixes = ["x-ratelimit-", "anthropic-ratelimit-"]

    /// The inputs of a request, and its metadata (the bytes of a body that is not JSON).
    static func inputs(
        method: String, path: String, rawQuery: String, headers: [(name: String, value: String)], body: [UInt8],
        recordedHeaders: Set<String>
    ) -> (inputs: JSONValue, metadata: JSONValue?) {
        var members: [String: JSONValue] = ["method": .string(method), "path": .string(path)]
        let query = queryMembers(rawQuery)
        if !query.isEmpty { members["query"] = .object(query) }
        var metadata: JSONValue?
        if !body.isEmpty {
            if let json = parseJSONBody(body, contentType: headers.first { $0.name == "content-type" }?.value) {
                members["body"] = json
            } else {
                members["body_sha256"] = .string(Hex.lowercase(Array(SHA256.hash(data: body))))
                metadata = ["request_body_base64": .string(Data(body).base64EncodedString())]
            }
        }
        var stored: [String: JSONValue] = [:]
        for (name, value) in headers where recordedHeaders.contains(name) && !secretHeaders.contains(name) {
            if let earlier = stored[name]?.stringValue {
                stored[name] = .string(earlier + ", " + value)
            } else {
                stored[name] = .string(value)
            }
        }
        if !stored.isEmpty { members["headers"] = .object(stored) }
        return (.object(members), metadata)
    }

    /// The query as an object: each parameter by its decoded name, its value a string (or a list,
    /// when repeated); key-like parameters left out.
    static func queryMembers(_ rawQuery: String) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decodeQueryComponent(parts[0])
            let value = parts.count > 1 ? decodeQueryComponent(parts[1]) : ""
            if secretQueryParameters.contains(name.lowercased()) { continue }
            switch out[name] {
            case nil: out[name] = .string(value)
            case .array(let list)?: out[name] = .array(list + [.string(value)])
            case let earlier?: out[name] = .array([earlier, .string(value)])
            }
        }
        return out
    }

    private static func decodeQueryComponent(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// The body as JSON when it says it is JSON (or says nothing) and parses.
    static func parseJSONBody(_ body: [UInt8], contentType: String?) -> JSONValue? {
        if let contentType {
            let base = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard base == "application/json" || base.hasSuffix("+json") || base.isEmpty else { return nil }
        }
        return try? JSONValue.parse(body)
    }

    /// True when a response header with this (lowercased) name is stored.
    static func recordsResponseHeader(_ name: String) -> Bool {
        !secretHeaders.contains(name)
            && (recordedResponseHeaders.contains(name) || recordedResponseHeaderPrefixes.contains { name.hasPrefix($0) })
    }

    /// The stored response headers: the allow-listed ones, repeated ones joined by ", ".
    static func storedHeaders(_ headers: [(name: String, value: String)]) -> JSONValue {
        var out: [String: JSONValue] = [:]
        for (name, value) in headers where recordsResponseHeader(name) {
            if let earlier = out[name]?.stringValue {
                out[name] = .string(earlier + ", " + value)
            } else {
                out[name] = .string(value)
            }
        }
        return .object(out)
    }

    /// The outputs of a whole answer.
    static func outputs(status: Int, headers: [(name: String, value: String)], body: [UInt8]) -> JSONValue {
        var members: [String: JSONValue] = ["status": .int(Int64(status)), "headers": storedHeaders(headers)]
        if let text = String(validating: body, as: UTF8.self) {
            members["body"] = .string(text)
        } else {
            members["body_base64"] = .string(Data(body).base64EncodedString())
        }
        return .object(members)
    }

    /// The metadata of a streamed answer's start.
    static func streamMetadata(status: Int, headers: [(name: String, value: String)]) -> JSONValue {
        ["status": .int(Int64(status)), "headers": storedHeaders(headers)]
    }

    /// A chunk as stored: its text when it is whole UTF-8, else base64 with metadata saying so.
    static func chunk(_ bytes: [UInt8]) -> (content: String, metadata: JSONValue?) {
        if let text = String(validating: bytes, as: UTF8.self) { return (text, nil) }
        return (Data(bytes).base64EncodedString(), ["encoding": "base64"])
    }

    /// A stored chunk's bytes.
    static func chunkBytes(content: String, metadata: JSONValue?) -> [UInt8] {
        if metadata?["encoding"]?.stringValue == "base64", let data = Data(base64Encoded: content) { return Array(data) }
        return Array(content.utf8)
    }

    /// A recorded answer's status, headers and body (nil when the outputs are not one).
    static func answer(_ outputs: JSONValue) -> (status: Int, headers: [(String, String)], body: [UInt8])? {
        guard let status = outputs["status"]?.int64Value else { return nil }
        let body: [UInt8]
        if let text = outputs["body"]?.stringValue {
            body = Array(text.utf8)
        } else if let encoded = outputs["body_base64"]?.stringValue, let data = Data(base64Encoded: encoded) {
            body = Array(data)
        } else {
            body = []
        }
        return (Int(status), headerList(outputs["headers"]), body)
    }

    /// Stored headers as a list, sorted by name.
    static func headerList(_ value: JSONValue?) -> [(String, String)] {
        (value?.objectValue ?? [:]).compactMap { name, value in value.stringValue.map { (name, $0) } }.sorted { $0.0 < $1.0 }
    }
}

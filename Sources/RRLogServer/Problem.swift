import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RRLog

/// An error answered as RFC 9457 problem details (`application/problem+json`): a status, a short
/// title, a detail for people, and extension members for programs (a lookup's mismatch report).
/// Never carries a stack trace or a path of the server.
struct Problem: HTTPResponseError {
    let status: HTTPResponse.Status
    let detail: String
    var extensions: [String: JSONValue] = [:]
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ detail: String, extensions: [String: JSONValue] = [:]) {
        self.status = status
        self.detail = detail
        self.extensions = extensions
    }

    /// The problem an rrlog error is: 404 for a missing session, 409 for a name taken or a
    /// session busy, 400 or 422 for bad input, 500 (without the message) for storage failures.
    init(_ error: RRLogError) {
        switch error.code {
        case .noSuchSession: self.init(.notFound, "no such session")
        case .sessionExists, .busy: self.init(.conflict, error.message)
        case .invalidArgument: self.init(.badRequest, error.description)
        case .malformedInput: self.init(.unprocessableContent, error.description)
        default: self.init(.internalServerError, "the store failed to do this (\(error.code)); the server's log has the details")
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var body: [String: JSONValue] = [
            "type": "about:blank", "title": .string(status.reasonPhrase), "status": .int(Int64(status.code)), "detail": .string(detail),
        ]
        for (key, value) in extensions { body[key] = value }
        var fields = headers
        fields[.contentType] = "application/problem+json"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: JSONValue.object(body).serializedBytes())))
    }
}

/// Answers in JSON.
enum JSONReply {
    static func value(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        bytes(value.serializedBytes(), status: status)
    }

    static func encoded(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return bytes(Array(try encoder.encode(value)), status: status)
    }

    static func bytes(_ bytes: [UInt8], status: HTTPResponse.Status = .ok, contentType: String = "application/json") -> Response {
        Response(
            status: status, headers: [.contentType: contentType, .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func noContent() -> Response { Response(status: .noContent) }
}

/// Reading a request's JSON body, bounded.
enum JSONBody {
    /// The body as a JSON value: 413 above `limit` bytes, 415 when it says it is not JSON, 400
    /// when it does not parse (with the line and column).
    static func read(_ request: Request, limit: Int) async throws -> JSONValue {
        try requireJSON(request)
        let bytes = try await collect(request, limit: limit)
        if bytes.isEmpty { return .object([:]) }
        let value: JSONValue
        do { value = try JSONValue.parse(bytes) } catch {
            throw Problem(.badRequest, "the body is not valid JSON: \(error)")
        }
        guard value.objectValue != nil else { throw Problem(.unprocessableContent, "the body must be a JSON object") }
        return value
    }

    /// The body's bytes: 413 above `limit`.
    static func collect(_ request: Request, limit: Int) async throws -> [UInt8] {
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw Problem(.contentTooLarge, "the body is larger than \(limit) bytes")
        }
    }

    /// 415 unless the content type is JSON (or not given).
    static func requireJSON(_ request: Request) throws {
        guard let type = request.headers[.contentType] else { return }
        let base = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard base == "application/json" || base.hasSuffix("+json") else {
            throw Problem(.unsupportedMediaType, "send JSON (Content-Type: application/json), not \(base)")
        }
    }

    /// An optional string member: nil when absent, 422 when of another type (null included).
    static func optionalString(_ body: JSONValue, _ name: String) throws -> String? {
        guard let value = body[name] else { return nil }
        guard let text = value.stringValue else { throw Problem(.unprocessableContent, "\(name) must be a string") }
        return text
    }

    /// An optional boolean member: nil when absent, 422 when of another type.
    static func optionalBool(_ body: JSONValue, _ name: String) throws -> Bool? {
        guard let value = body[name] else { return nil }
        guard let flag = value.boolValue else { throw Problem(.unprocessableContent, "\(name) must be true or false") }
        return flag
    }

    /// The http or https URL a member names, whose host is loopback or one of `allowed` (no
    /// requests to other hosts through the server: replay targets, webhooks, OTLP endpoints).
    static func target(_ value: JSONValue, _ name: String, allowed: [String]) throws -> String {
        guard let url = value.stringValue, let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""),
            let host = parsed.host
        else { throw Problem(.unprocessableContent, "\(name) must be an http or https URL") }
        guard ServeOptions.isLoopback(host) || allowed.contains(host.lowercased()) else {
            throw Problem(.unprocessableContent, "\(name) host \(host) is not loopback; start the server with --allow-target \(host) to send requests there")
        }
        return url
    }

    /// A required string member.
    static func string(_ body: JSONValue, _ name: String) throws -> String {
        guard let value = body[name] else { throw Problem(.unprocessableContent, "the body needs the member \(name)") }
        guard let text = value.stringValue, !text.isEmpty else { throw Problem(.unprocessableContent, "\(name) must be a non-empty string") }
        return text
    }
}

extension Parameters {
    /// A path parameter the route declares.
    func required(_ name: String) throws -> String {
        guard let value = get(name) else { throw Problem(.badRequest, "missing \(name) in the path") }
        return value
    }
}

/// Query parameters, checked.
struct Query {
    let request: Request

    func string(_ name: String) -> String? {
        request.uri.queryParameters.get(name).map({ String($0) }).flatMap { $0.isEmpty ? nil : $0 }
    }

    func strings(_ name: String) -> [String] {
        request.uri.queryParameters.getAll(name).flatMap { $0.split(separator: ",").map { String($0) } }.filter { !$0.isEmpty }
    }

    /// The value as given (empty when given empty), nil when absent.
    func raw(_ name: String) -> String? {
        request.uri.queryParameters.get(name).map { String($0) }
    }

    /// An integer in `range`, else 400 naming the parameter.
    func int(_ name: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int? {
        guard let text = raw(name) else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw Problem(.badRequest, "query parameter \(name) must be an integer from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
        }
        return value
    }

    /// One of `choices`, else 400.
    func choice(_ name: String, _ choices: [String], default fallback: String) throws -> String {
        guard let text = raw(name) else { return fallback }
        guard choices.contains(text) else { throw Problem(.badRequest, "query parameter \(name) must be one of \(choices.joined(separator: ", ")), not '\(text)'") }
        return text
    }
}

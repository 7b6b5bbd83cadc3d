/// A failed S3 request: what failed (operation, bucket, key), why (a code, the HTTP status and
/// the server's error code and message) and, in `description`, what to do.
public struct S3Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of failure callers act on.
    public enum Code: Sendable, Equatable {
        /// The bucket does not exist (`NoSuchBucket`).
        case noSuchBucket
        /// The object does not exist (`NoSuchKey`, or 404 to a HEAD).
        case noSuchKey
        /// The multipart upload does not exist (`NoSuchUpload`): completed or aborted already.
        case noSuchUpload
        /// The credentials are valid but not allowed to do this (`AccessDenied`, 403 to a HEAD).
        case accessDenied
        /// The server does not accept the keys (`InvalidAccessKeyId`, `SignatureDoesNotMatch`,
        /// `InvalidToken`, `ExpiredToken`).
        case badCredentials
        /// The local clock differs too much from the server's (`RequestTimeTooSkewed`).
        case clockSkew
        /// A condition (`If-Match`, `If-None-Match`) did not hold (412).
        case preconditionFailed
        /// A concurrent change conflicts with this one (409).
        case conflict
        /// The body did not match its checksum (`BadDigest`, `InvalidDigest`, `XAmzContentSHA256Mismatch`).
        case badDigest
        /// The server still answered 503 or `SlowDown` after every retry.
        case throttled
        /// The connection failed (refused, reset, closed, timed out) and retries did not help.
        case transport
        /// The answer could not be read: malformed XML, or larger than allowed.
        case invalidResponse
        /// The caller asked for something invalid (an empty or negative range, no parts).
        case invalidRequest
        /// Any other status.
        case unexpectedStatus
    }

    /// What kind of failure.
    public var code: Code
    /// The operation, e.g. `PutObject`.
    public var operation: String
    /// The bucket.
    public var bucket: String
    /// The object key, when the operation has one.
    public var key: String?
    /// The HTTP status of the last answer, if there was one.
    public var status: Int?
    /// The server's error code (e.g. `SignatureDoesNotMatch`), if it sent one.
    public var serverCode: String?
    /// The server's message, or the transport error's description.
    public var message: String
    /// The server's request id, for its logs.
    public var requestID: String?
    /// How many attempts were made.
    public var attempts: Int

    /// An error from its parts.
    public init(code: Code, operation: String, bucket: String, key: String?, status: Int? = nil, serverCode: String? = nil,
                message: String, requestID: String? = nil, attempts: Int = 1) {
        self.code = code
        self.operation = operation
        self.bucket = bucket
        self.key = key
        self.status = status
        self.serverCode = serverCode
        self.message = message
        self.requestID = requestID
        self.attempts = attempts
    }

    /// The code for an answer's status and server error code.
    static func code(status: Int, serverCode: String?) -> Code {
        switch serverCode {
        case "NoSuchBucket": return .noSuchBucket
        case "NoSuchKey": return .noSuchKey
        case "NoSuchUpload": return .noSuchUpload
        case "AccessDenied", "AllAccessDisabled": return .accessDenied
        case "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "TokenRefreshRequired": return .badCredentials
        case "RequestTimeTooSkewed": return .clockSkew
        case "PreconditionFailed": return .preconditionFailed
        case "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch": return .badDigest
        case "SlowDown": return .throttled
        default: break
        }
        switch status {
        case 404: return .noSuchKey
        case 403: return .accessDenied
        case 409: return .conflict
        case 412: return .preconditionFailed
        case 503: return .throttled
        default: return .unexpectedStatus
        }
    }

    /// What to do about it.
    var advice: String {
        switch code {
        case .noSuchBucket: return "create the bucket or check the remote's bucket name and endpoint"
        case .noSuchKey: return "check the key (and that the bucket is the right one)"
        case .noSuchUpload: return "the upload was completed or aborted already; start a new one"
        case .accessDenied: return "grant these credentials the S3 actions this command needs on the bucket"
        case .badCredentials: return "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the profile) and AWS_SESSION_TOKEN for temporary keys"
        case .clockSkew: return "set this machine's clock right (NTP): S3 refuses requests more than 15 minutes off"
        case .preconditionFailed: return "the object changed or exists already: read it again before writing"
        case .conflict: return "another request changed the same object at once: read it again and retry"
        case .badDigest: return "the bytes were damaged on the way; retry the upload"
        case .throttled: return "the server is overloaded; retry later or lower the request rate"
        case .transport: return "check that the endpoint is reachable (address, port, TLS, CA bundle)"
        case .invalidResponse: return "the endpoint may not be an S3 server; check the endpoint URL"
        case .invalidRequest: return "fix the arguments of the call"
        case .unexpectedStatus: return "see the server's logs for the request id"
        }
    }

    /// What failed, why, and what to do, in one line.
    public var description: String {
        var what = "\(operation) s3://\(bucket)"
        if let key { what += "/\(key)" }
        var why: [String] = []
        if let status { why.append("HTTP \(status)") }
        if let serverCode { why.append(serverCode) }
        if !message.isEmpty { why.append(message) }
        if attempts > 1 { why.append("after \(attempts) attempts") }
        if let requestID { why.append("request id \(requestID)") }
        return "\(what) failed: \(why.joined(separator: ", ")); \(advice)"
    }
}

// RRLogS3: a small S3 client for rrlog's remotes (issue #22).
//
// What it is: the configuration of a remote (`S3Remote`: `s3://bucket/prefix`, endpoint,
// region, addressing style, credentials from the environment or AWS profiles, a CA bundle), a
// SigV4 signer (`SigV4Signer`, pure), a bounded reader for the XML answers S3 sends
// (`S3XMLElement`, `S3Responses`) and `S3Client`, the handful of S3 operations rrlog needs,
// with retries on throttling and dropped connections and typed errors (`S3Error`) that say
// what failed and what to do. It works against AWS S3, MinIO, SeaweedFS and other
// S3-compatible stores.
//
// What it is not: a general S3 SDK (no presigning, no streaming uploads, no bucket policy,
// versioning or lifecycle calls), and not rrlog's push/pull logic: which objects a session
// becomes, the commit rule and the cache live above it.
internal import Foundation
internal import AsyncHTTPClient
internal import Crypto
public import Logging
internal import NIOCore
internal import NIOHTTP1
internal import NIOSSL
internal import RRLogFormat

/// How `S3Client` behaves: retries, timeouts, body limits and payload signing.
public struct S3ClientOptions: Sendable, Equatable {
    /// The most attempts per request (the first included).
    public var attemptsMax: Int
    /// The first retry waits a random time up to this; each further retry doubles the bound
    /// (exponential backoff with full jitter).
    public var backoffBaseMilliseconds: Int
    /// The largest bound on one wait.
    public var backoffMaxMilliseconds: Int
    /// The time allowed for one attempt, connection included.
    public var requestTimeoutSeconds: Int
    /// The largest XML answer read into memory (the XML reader refuses more than 16 MiB anyway).
    public var xmlSizeBytesMax: Int
    /// Sign the body's SHA-256 (`x-amz-content-sha256`); when false, `UNSIGNED-PAYLOAD` (use
    /// only over TLS; the checksum header still protects the bytes).
    public var signPayload: Bool

    /// The defaults: 6 attempts, backoff from 100 ms up to 5 s, 120 s per attempt, 16 MiB XML.
    public init(attemptsMax: Int = 6, backoffBaseMilliseconds: Int = 100, backoffMaxMilliseconds: Int = 5_000,
                requestTimeoutSeconds: Int = 120, xmlSizeBytesMax: Int = 16 << 20, signPayload: Bool = true) {
        self.attemptsMax = attemptsMax
        self.backoffBaseMilliseconds = backoffBaseMilliseconds
        self.backoffMaxMilliseconds = backoffMaxMilliseconds
        self.requestTimeoutSeconds = requestTimeoutSeconds
        self.xmlSizeBytesMax = xmlSizeBytesMax
        self.signPayload = signPayload
    }

    /// The timeout within 1 s and a day, whatever the option says.
    var requestTimeoutSecondsClamped: Int { min(max(requestTimeoutSeconds, 1), 86_400) }
}

/// A condition on a write.
public enum S3WriteCondition: Sendable, Equatable {
    /// Write whatever is there.
    case none
    /// Create only: refused (412) when the key exists (`If-None-Match: *`).
    case ifNoneMatch
    /// Replace only this version: refused (412) when the object's ETag differs (`If-Match`).
    case ifMatch(etag: String)
}

/// The checksum sent with an upload; the server recomputes it and refuses a mismatch (`BadDigest`).
public enum S3Checksum: Sendable, Equatable {
    /// `x-amz-checksum-crc32c` (SeaweedFS 4.48 verifies it and stores it; so do AWS and MinIO).
    case crc32c
    /// `x-amz-checksum-sha256`.
    case sha256
    /// `Content-MD5`, for stores that know neither of the above.
    case contentMD5
    /// No checksum header (the signed payload hash still covers the body when `signPayload` is on).
    case none
}

/// An object's metadata.
public struct S3ObjectInfo: Sendable, Equatable {
    /// The size in bytes.
    public var sizeBytes: Int
    /// The ETag, quotes included.
    public var etag: String
    /// The stored CRC32C (base64, as the header carries it), when the server keeps one.
    public var checksumCRC32C: String?
}

/// Bytes read from an object.
public struct S3ObjectData: Sendable, Equatable {
    /// The bytes (the range asked for, or all of them).
    public var bytes: [UInt8]
    /// The ETag of the version read.
    public var etag: String
}

/// A part of a multipart upload, as `completeMultipartUpload` needs it.
public struct S3CompletedPart: Sendable, Equatable {
    /// The part number, 1 to 10,000.
    public var partNumber: Int
    /// The ETag the server gave the part.
    public var etag: String

    /// A part from its number and ETag.
    public init(partNumber: Int, etag: String) {
        self.partNumber = partNumber
        self.etag = etag
    }
}

/// The S3 operations rrlog needs, over AsyncHTTPClient. Keys are full object keys in the
/// remote's bucket (`S3Remote.key(_:)` adds the prefix). Safe to share between tasks; call
/// `shutdown()` once done.
public final class S3Client: Sendable {
    /// The remote this client talks to.
    public let remote: S3Remote
    /// Retries, timeouts and limits.
    public let options: S3ClientOptions
    let http: HTTPClient
    let signer: SigV4Signer
    /// Scheme, host and port of the requests (`bucket.` added for virtual-hosted addressing).
    let base: (scheme: String, host: String, port: Int?)

    /// The time requests are signed with (tests set a skewed one).
    let clock: @Sendable () -> Date
    /// Where retries are reported (debug level).
    let logger: Logger

    /// A client for `remote`, reporting retries to `logger`. Throws `.invalidRequest` when the
    /// CA bundle cannot be loaded.
    public convenience init(remote: S3Remote, options: S3ClientOptions = S3ClientOptions(),
                            logger: Logger = Logger(label: "rrlog.s3")) throws(S3Error) {
        try self.init(remote: remote, options: options, logger: logger, clock: { Date() })
    }

    init(remote: S3Remote, options: S3ClientOptions, logger: Logger = Logger(label: "rrlog.s3"),
         clock: @escaping @Sendable () -> Date) throws(S3Error) {
        self.remote = remote
        self.options = options
        self.logger = logger
        self.clock = clock
        signer = SigV4Signer(credentials: remote.credentials, region: remote.region)
        if let endpoint = remote.endpoint {
            let host = endpoint.host ?? "localhost"
            base = (endpoint.scheme ?? "https", remote.pathStyle ? host : "\(remote.bucket).\(host)", endpoint.port)
        } else {
            let host = "s3.\(remote.region).amazonaws.com"
            base = ("https", remote.pathStyle ? host : "\(remote.bucket).\(host)", nil)
        }
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(Int64(options.requestTimeoutSecondsClamped)))
        // A refused or failed connection fails its attempt at once and `send`'s own retries
        // (counted, with backoff) take over; otherwise the pool would retry it silently until the
        // connect timeout, 10 s per attempt against an endpoint that is down.
        configuration.connectionPool.retryConnectionEstablishment = false
        if let bundle = remote.caBundlePath {
            var tls = TLSConfiguration.makeClientConfiguration()
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(bundle))
            } catch {
                throw S3Error(code: .invalidRequest, operation: "LoadCABundle", bucket: remote.bucket, key: nil,
                              message: "cannot read the CA bundle \(bundle): \(error)")
            }
            configuration.tlsConfiguration = tls
        }
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the connections. Call once, when no request is running.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: Objects

    /// Uploads `body` to `key` under `condition`, with `checksum` for the server to verify.
    /// Returns the new ETag. A create (`.ifNoneMatch`) or update (`.ifMatch`) whose first attempt
    /// landed but whose answer was lost gets 412 on its retry; then the object is read back with
    /// HEAD and, when its ETag is this body's MD5, the write counts as done (the same bytes
    /// written by another writer meanwhile count as done too: the object is what was asked).
    @discardableResult
    public func putObject(key: String, body: [UInt8], condition: S3WriteCondition = .none, checksum: S3Checksum = .crc32c,
                          contentType: String = "application/octet-stream") async throws(S3Error) -> String {
        var headers: [(String, String)] = [("content-type", contentType)]
        switch condition {
        case .none: break
        case .ifNoneMatch: headers.append(("if-none-match", "*"))
        case .ifMatch(let etag): headers.append(("if-match", etag))
        }
        switch checksum {
        case .crc32c:
            let crc = CRC32C.checksum(body)
            headers.append(("x-amz-checksum-crc32c", Data([UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]).base64EncodedString()))
        case .sha256:
            headers.append(("x-amz-checksum-sha256", Data(SHA256.hash(data: body)).base64EncodedString()))
        case .contentMD5:
            headers.append(("content-md5", Data(Insecure.MD5.hash(data: body)).base64EncodedString()))
        case .none: break
        }
        let operation = Operation(name: "PutObject", method: .PUT, key: key, headers: headers, body: body, idempotent: true)
        do {
            let reply = try await send(operation)
            return reply.headers.first(name: "etag") ?? ""
        } catch where error.code == .preconditionFailed && error.attempts > 1 && condition != .none {
            let md5 = "\"" + Hex.lowercase(Insecure.MD5.hash(data: body)) + "\""
            if let info = try? await headObject(key: key), info.etag == md5, info.sizeBytes == body.count {
                return info.etag
            }
            throw error
        }
    }

    /// Reads `key`, or the bytes in `range` of it; with `ifMatch`, only that version (412
    /// otherwise). Refuses (`.invalidResponse`) an answer longer than `sizeBytesMax`.
    public func getObject(key: String, range: Range<Int>? = nil, ifMatch: String? = nil,
                          sizeBytesMax: Int = 256 << 20) async throws(S3Error) -> S3ObjectData {
        var headers: [(String, String)] = []
        if let range {
            guard range.lowerBound >= 0, !range.isEmpty else {
                throw S3Error(code: .invalidRequest, operation: "GetObject", bucket: remote.bucket, key: key,
                              message: "the range \(range) is empty or negative")
            }
            headers.append(("range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)"))
        }
        if let ifMatch { headers.append(("if-match", ifMatch)) }
        let limit = range.map { min($0.count, sizeBytesMax) } ?? sizeBytesMax
        let reply = try await send(Operation(name: "GetObject", method: .GET, key: key, headers: headers, idempotent: true,
                                             bodySizeBytesMax: limit))
        return S3ObjectData(bytes: reply.body, etag: reply.headers.first(name: "etag") ?? "")
    }

    /// The size, ETag and stored CRC32C of `key`; `.noSuchKey` when it does not exist.
    public func headObject(key: String) async throws(S3Error) -> S3ObjectInfo {
        let reply = try await send(Operation(name: "HeadObject", method: .HEAD, key: key,
                                             headers: [("x-amz-checksum-mode", "ENABLED")], idempotent: true))
        return S3ObjectInfo(sizeBytes: reply.headers.first(name: "content-length").flatMap { Int($0) } ?? 0,
                            etag: reply.headers.first(name: "etag") ?? "",
                            checksumCRC32C: reply.headers.first(name: "x-amz-checksum-crc32c"))
    }

    /// Deletes `key` (no error when it is already gone, as S3 answers 204 either way).
    public func deleteObject(key: String) async throws(S3Error) {
        _ = try await send(Operation(name: "DeleteObject", method: .DELETE, key: key, idempotent: true))
    }

    /// One page of ListObjectsV2 (at most `maxKeys` objects).
    public func listObjectsPage(prefix: String = "", delimiter: String? = nil, maxKeys: Int = 1000,
                                continuationToken: String? = nil) async throws(S3Error) -> S3ListPage {
        guard (1...1000).contains(maxKeys) else {
            throw S3Error(code: .invalidRequest, operation: "ListObjectsV2", bucket: remote.bucket, key: prefix,
                          message: "max-keys \(maxKeys) is outside 1...1000")
        }
        var query: [(String, String)] = [("list-type", "2"), ("max-keys", String(maxKeys))]
        if !prefix.isEmpty { query.append(("prefix", prefix)) }
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        let operation = Operation(name: "ListObjectsV2", method: .GET, key: nil, query: query, idempotent: true,
                                  bodySizeBytesMax: options.xmlSizeBytesMax)
        let reply = try await send(operation)
        return try decode(operation, reply) { bytes throws(S3XMLError) in try S3Responses.listPage(bytes) }
    }

    /// Every object under `prefix` (and the common prefixes with a `delimiter`), all pages read.
    /// Refuses (`.invalidRequest`) a listing of more than `entryCountMax` entries: list such a
    /// prefix page by page with `listObjectsPage`.
    public func listObjects(prefix: String = "", delimiter: String? = nil, maxKeys: Int = 1000,
                            entryCountMax: Int = 1_000_000) async throws(S3Error) -> (objects: [S3ObjectSummary], commonPrefixes: [String]) {
        var objects: [S3ObjectSummary] = []
        var prefixes: [String] = []
        var token: String?
        repeat {
            let page = try await listObjectsPage(prefix: prefix, delimiter: delimiter, maxKeys: maxKeys, continuationToken: token)
            objects += page.objects
            prefixes += page.commonPrefixes
            if objects.count + prefixes.count > entryCountMax {
                throw S3Error(code: .invalidRequest, operation: "ListObjectsV2", bucket: remote.bucket, key: prefix,
                              message: "more than \(entryCountMax) entries under the prefix; read them page by page")
            }
            if let next = page.nextContinuationToken, next == token {
                throw S3Error(code: .invalidResponse, operation: "ListObjectsV2", bucket: remote.bucket, key: prefix,
                              message: "the server gave the same continuation token twice")
            }
            token = page.nextContinuationToken
        } while token != nil
        return (objects, prefixes)
    }

    // MARK: Multipart uploads

    /// Starts a multipart upload of `key` and returns its upload id.
    public func createMultipartUpload(key: String, contentType: String = "application/octet-stream") async throws(S3Error) -> String {
        // Not idempotent: a retry after a lost answer starts a second upload (left for
        // listMultipartUploads/abort to clean), so only 503 and SlowDown are retried.
        let operation = Operation(name: "CreateMultipartUpload", method: .POST, key: key, query: [("uploads", "")],
                                  headers: [("content-type", contentType)], body: [], idempotent: false,
                                  bodySizeBytesMax: options.xmlSizeBytesMax)
        let reply = try await send(operation)
        return try decode(operation, reply) { bytes throws(S3XMLError) in try S3Responses.uploadID(bytes) }
    }

    /// Uploads part `partNumber` (1 to 10,000; every part but the last at least 5 MiB) with its
    /// Content-MD5, which every S3 store verifies for parts, and returns the part's ETag.
    public func uploadPart(key: String, uploadID: String, partNumber: Int, body: [UInt8]) async throws(S3Error) -> S3CompletedPart {
        guard (1...10_000).contains(partNumber) else {
            throw S3Error(code: .invalidRequest, operation: "UploadPart", bucket: remote.bucket, key: key,
                          message: "part number \(partNumber) is outside 1...10000")
        }
        // A signed payload (its SHA-256 in the signature) already lets the server refuse other
        // bytes; an unsigned one carries the part's MD5.
        let headers = options.signPayload ? [] : [("content-md5", Data(Insecure.MD5.hash(data: body)).base64EncodedString())]
        let reply = try await send(Operation(name: "UploadPart", method: .PUT, key: key,
                                             query: [("partNumber", String(partNumber)), ("uploadId", uploadID)],
                                             headers: headers, body: body, idempotent: true))
        return S3CompletedPart(partNumber: partNumber, etag: reply.headers.first(name: "etag") ?? "")
    }

    /// Completes an upload from its parts (in part-number order) and returns the object's ETag.
    @discardableResult
    public func completeMultipartUpload(key: String, uploadID: String, parts: [S3CompletedPart]) async throws(S3Error) -> String {
        guard !parts.isEmpty else {
            throw S3Error(code: .invalidRequest, operation: "CompleteMultipartUpload", bucket: remote.bucket, key: key,
                          message: "an upload needs at least one part")
        }
        var xml = "<CompleteMultipartUpload>"
        for part in parts.sorted(by: { $0.partNumber < $1.partNumber }) {
            xml += S3XMLElement(name: "Part", children: [S3XMLElement(name: "PartNumber", text: String(part.partNumber)),
                                                         S3XMLElement(name: "ETag", text: part.etag)]).serialized()
        }
        xml += "</CompleteMultipartUpload>"
        let operation = Operation(name: "CompleteMultipartUpload", method: .POST, key: key, query: [("uploadId", uploadID)],
                                  headers: [("content-type", "application/xml")], body: Array(xml.utf8), idempotent: false,
                                  bodySizeBytesMax: options.xmlSizeBytesMax)
        let reply = try await send(operation)
        switch try decode(operation, reply, { bytes throws(S3XMLError) in try S3Responses.completeResult(bytes) }) {
        case .success(let etag): return etag
        case .failure(let document):
            throw error(operation, status: reply.status, document: document, headers: reply.headers, attempts: reply.attempts)
        }
    }

    /// Aborts an upload and frees its parts.
    public func abortMultipartUpload(key: String, uploadID: String) async throws(S3Error) {
        _ = try await send(Operation(name: "AbortMultipartUpload", method: .DELETE, key: key, query: [("uploadId", uploadID)],
                                     idempotent: true))
    }

    /// The multipart uploads in progress under `prefix`, all pages read.
    public func listMultipartUploads(prefix: String = "") async throws(S3Error) -> [S3MultipartUpload] {
        var uploads: [S3MultipartUpload] = []
        var markers: (key: String, upload: String)?
        while true {
            var query: [(String, String)] = [("uploads", "")]
            if !prefix.isEmpty { query.append(("prefix", prefix)) }
            if let markers { query += [("key-marker", markers.key), ("upload-id-marker", markers.upload)] }
            let operation = Operation(name: "ListMultipartUploads", method: .GET, key: nil, query: query, idempotent: true,
                                      bodySizeBytesMax: options.xmlSizeBytesMax)
            let page = try decode(operation, try await send(operation)) { bytes throws(S3XMLError) in try S3Responses.uploadsPage(bytes) }
            uploads += page.uploads
            if uploads.count > 1_000_000 {
                throw S3Error(code: .invalidResponse, operation: "ListMultipartUploads", bucket: remote.bucket, key: prefix,
                              message: "more than 1,000,000 uploads in progress; abort them by prefix")
            }
            guard let key = page.nextKeyMarker, let upload = page.nextUploadIDMarker, !page.uploads.isEmpty,
                  markers.map({ $0 != (key, upload) }) ?? true else { return uploads }
            markers = (key, upload)
        }
    }

    // MARK: Buckets and probes

    /// Creates the bucket (tests and first set-up); succeeds when this account owns it already.
    public func createBucket() async throws(S3Error) {
        var body: [UInt8] = []
        if remote.region != "us-east-1" {
            body = Array(("<CreateBucketConfiguration><LocationConstraint>\(remote.region)</LocationConstraint></CreateBucketConfiguration>").utf8)
        }
        do {
            _ = try await send(Operation(name: "CreateBucket", method: .PUT, key: nil, body: body, idempotent: true))
        } catch where error.serverCode == "BucketAlreadyOwnedByYou" {
            return
        }
    }

    /// Whether the store refuses a second conditional create of one key (412), which rrlog's
    /// commit rule needs: writes a new probe object under `prefix` (default: the remote's) twice
    /// with `If-None-Match: *`, checks that the first version is kept, then deletes it. False
    /// means the store silently overwrote: do not push to it.
    public func probeConditionalWrites(under prefix: String? = nil) async throws(S3Error) -> Bool {
        let directory = prefix ?? remote.prefix
        let key = (directory.isEmpty || directory.hasSuffix("/") ? directory : directory + "/")
            + "rrlog-conditional-write-probe-\(UUID().uuidString)"
        let first = Array("rrlog conditional-write probe \(UUID().uuidString)".utf8)
        try await putObject(key: key, body: first, condition: .ifNoneMatch)
        let refused: Bool
        do {
            try await putObject(key: key, body: Array("second".utf8), condition: .ifNoneMatch)
            refused = false
        } catch where error.code == .preconditionFailed {
            // Refused, and the first version must still be there.
            refused = try await getObject(key: key, sizeBytesMax: first.count).bytes == first
        }
        try await deleteObject(key: key)
        return refused
    }

    // MARK: Requests

    /// One S3 call.
    struct Operation {
        var name: String
        var method: HTTPMethod
        var key: String?
        var query: [(String, String)]
        var headers: [(String, String)]
        /// The request body; nil sends none (GET, HEAD, DELETE).
        var body: [UInt8]?
        /// Whether repeating the request after an unknown outcome (500, a dropped connection) is safe.
        var idempotent: Bool
        /// The longest answer body read.
        var bodySizeBytesMax: Int

        init(name: String, method: HTTPMethod, key: String?, query: [(String, String)] = [], headers: [(String, String)] = [],
             body: [UInt8]? = nil, idempotent: Bool, bodySizeBytesMax: Int = 1 << 20) {
            self.name = name
            self.method = method
            self.key = key
            self.query = query
            self.headers = headers
            self.body = body
            self.idempotent = idempotent
            self.bodySizeBytesMax = bodySizeBytesMax
        }
    }

    /// A successful answer.
    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var attempts: Int
    }

    /// Why one attempt failed, and whether another may help.
    enum AttemptFailure: Error {
        case answer(S3Error, retry: Bool)
    }

    func decode<T>(_ operation: Operation, _ reply: Reply, _ decoder: ([UInt8]) throws(S3XMLError) -> T) throws(S3Error) -> T {
        do {
            return try decoder(reply.body)
        } catch {
            throw S3Error(code: .invalidResponse, operation: operation.name, bucket: remote.bucket, key: operation.key,
                          status: reply.status, message: error.description, attempts: reply.attempts)
        }
    }

    /// The error for an answer with `status`; the request id from the error document or, for
    /// answers without a body (HEAD), from the `x-amz-request-id` header.
    func error(_ operation: Operation, status: Int, document: S3ErrorDocument?, headers: HTTPHeaders, attempts: Int) -> S3Error {
        S3Error(code: S3Error.code(status: status, serverCode: document?.code), operation: operation.name, bucket: remote.bucket,
                key: operation.key, status: status, serverCode: document?.code, message: document?.message ?? "",
                requestID: document?.requestID ?? headers.first(name: "x-amz-request-id"), attempts: attempts)
    }

    /// Sends `operation`, retrying 503 and SlowDown always (the server refused the request
    /// without acting on it) and 500 and connection failures only when the operation is
    /// idempotent (the first attempt may have taken effect), with exponential backoff and full
    /// jitter between attempts, at most `options.attemptsMax` in all.
    func send(_ operation: Operation) async throws(S3Error) -> Reply {
        var attempt = 1
        while true {
            let failure: S3Error
            let retry: Bool
            do {
                return try await attemptOnce(operation, attempt: attempt)
            } catch {
                switch error {
                case .answer(let error, let again):
                    failure = error
                    retry = again
                }
            }
            guard retry, attempt < options.attemptsMax, !Task.isCancelled else { throw failure }
            try? await Task.sleep(for: .milliseconds(retryDelay(operation, after: failure, attempt: attempt)))
            attempt += 1
        }
    }

    /// The wait before retrying `operation` after `attempt` failed with `failure`: exponential
    /// backoff with full jitter (clamped to an hour, so that no option value overflows a
    /// Duration), reported at debug level.
    func retryDelay(_ operation: Operation, after failure: S3Error, attempt: Int) -> Int {
        let bound = min(options.backoffMaxMilliseconds, options.backoffBaseMilliseconds << min(attempt - 1, 20), 3_600_000)
        let delay = Int.random(in: 0...max(0, bound))
        logger.debug("S3 request retried", metadata: [
            "operation": "\(operation.name)", "key": "\(operation.key ?? "")", "attempt": "\(attempt + 1)",
            "delay_ms": "\(delay)", "error": "\(failure.serverCode ?? "\(failure.code)")",
        ])
        return delay
    }

    /// The request path before encoding: `/bucket[/key]` (path style) or `/[key]`.
    func path(_ key: String?) -> String {
        let object = key.map { "/" + $0 } ?? ""
        return remote.pathStyle ? "/\(remote.bucket)\(object)" : (object.isEmpty ? "/" : object)
    }

    /// The URL and headers (signed now) of one attempt of `operation`.
    func signed(_ operation: Operation) -> (url: String, headers: [(String, String)]) {
        let path = path(operation.key)
        let defaultPort = base.scheme == "https" ? 443 : 80
        let host = base.port.map { $0 == defaultPort ? base.host : "\(base.host):\($0)" } ?? base.host
        var headers = operation.headers
        headers.append(("host", host))
        let payloadHash = options.signPayload ? SigV4Signer.payloadHash(operation.body ?? []) : SigV4Signer.unsignedPayload
        let signature = signer.sign(
            SigV4Signer.Request(method: operation.method.rawValue, path: path, query: operation.query.map { (name: $0.0, value: $0.1) },
                                headers: headers.map { (name: $0.0, value: $0.1) }, payloadHash: payloadHash),
            at: clock())
        var url = "\(base.scheme)://\(host)\(SigV4Signer.encodePath(path))"
        if !operation.query.isEmpty { url += "?" + SigV4Signer.canonicalQuery(operation.query.map { (name: $0.0, value: $0.1) }) }
        return (url, headers + signature.headers.map { ($0.key, $0.value) })
    }

    /// The reply of an answer, or the failure it means and whether to retry it.
    func classify(_ operation: Operation, status: Int, headers: HTTPHeaders, body bytes: [UInt8], attempt: Int) throws(AttemptFailure) -> Reply {
        if (200..<300).contains(status) {
            return Reply(status: status, headers: headers, body: bytes, attempts: attempt)
        }
        let document = bytes.isEmpty ? nil : try? S3Responses.error(bytes)
        let error = error(operation, status: status, document: document, headers: headers, attempts: attempt)
        let throttled = status == 503 || document?.code == "SlowDown"
        let serverFault = status == 500 || document?.code == "InternalError"
        if throttled || (serverFault && operation.idempotent) {
            var final = error
            if throttled { final.code = .throttled }
            throw .answer(final, retry: true)
        }
        throw .answer(error, retry: false)
    }

    func attemptOnce(_ operation: Operation, attempt: Int) async throws(AttemptFailure) -> Reply {
        let (url, headers) = signed(operation)
        var request = HTTPClientRequest(url: url)
        request.method = operation.method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body = operation.body { request.body = .bytes(ByteBuffer(bytes: body)) }

        func failure(_ code: S3Error.Code, _ message: String, status: Int? = nil) -> S3Error {
            S3Error(code: code, operation: operation.name, bucket: remote.bucket, key: operation.key, status: status,
                    message: message, attempts: attempt)
        }
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(Int64(options.requestTimeoutSecondsClamped)))
            let status = Int(response.status.code)
            let limit = (200..<300).contains(status) ? operation.bodySizeBytesMax : 1 << 20
            if operation.method == .HEAD {
                body = ByteBuffer()
            } else {
                do {
                    body = try await response.body.collect(upTo: limit)
                } catch is NIOTooManyBytesError {
                    throw AttemptFailure.answer(failure(.invalidResponse, "the answer is longer than \(limit) bytes", status: status), retry: false)
                }
            }
        } catch let error as AttemptFailure {
            throw error
        } catch is CancellationError {
            throw .answer(failure(.transport, "cancelled"), retry: false)
        } catch {
            throw .answer(failure(.transport, "\(error)"), retry: operation.idempotent)
        }
        return try classify(operation, status: Int(response.status.code), headers: response.headers, body: Array(body.readableBytesView), attempt: attempt)
    }

    // MARK: Blocking reads

    /// `getObject` of `range` for a caller that cannot await (a reader fetching the bytes a
    /// lookup needs): the request runs on the client's event loops while the calling thread
    /// waits, with the same retries. Never call it on an event loop thread.
    /// The bytes are written into `buffer`, which holds exactly `range.count`.
    public func getObjectRange(key: String, range: Range<Int>, ifMatch: String? = nil, into buffer: UnsafeMutableRawBufferPointer) throws(S3Error) {
        guard buffer.count == range.count else {
            throw S3Error(code: .invalidRequest, operation: "GetObject", bucket: remote.bucket, key: key,
                          message: "a buffer of \(buffer.count) bytes for the range \(range)")
        }
        guard range.lowerBound >= 0, !range.isEmpty else {
            throw S3Error(code: .invalidRequest, operation: "GetObject", bucket: remote.bucket, key: key, message: "the range \(range) is empty or negative")
        }
        var headers = [("range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")]
        if let ifMatch { headers.append(("if-match", ifMatch)) }
        let operation = Operation(name: "GetObject", method: .GET, key: key, headers: headers, idempotent: true, bodySizeBytesMax: range.count)
        var attempt = 1
        while true {
            let failure: S3Error
            let retry: Bool
            do throws(AttemptFailure) {
                let (status, body) = try attemptBlocking(operation, attempt: attempt)
                guard status == 206 || (status == 200 && range.lowerBound == 0), body.readableBytes == range.count else {
                    throw AttemptFailure.answer(S3Error(
                        code: .invalidResponse, operation: "GetObject", bucket: remote.bucket, key: key, status: status,
                        message: "asked for \(range.count) bytes at \(range.lowerBound), got \(body.readableBytes) (status \(status))",
                        attempts: attempt), retry: false)
                }
                body.withUnsafeReadableBytes { buffer.copyMemory(from: $0) }
                return
            } catch {
                switch error {
                case .answer(let error, let again):
                    failure = error
                    retry = again
                }
            }
            guard retry, attempt < options.attemptsMax else { throw failure }
            Thread.sleep(forTimeInterval: Double(retryDelay(operation, after: failure, attempt: attempt)) / 1000)
            attempt += 1
        }
    }

    /// One attempt of `operation` with the event-loop API, waited for on the calling thread: a
    /// successful answer's status and body (an error answer is thrown as `classify` says).
    func attemptBlocking(_ operation: Operation, attempt: Int) throws(AttemptFailure) -> (status: Int, body: ByteBuffer) {
        func failure(_ code: S3Error.Code, _ message: String, status: Int? = nil) -> S3Error {
            S3Error(code: code, operation: operation.name, bucket: remote.bucket, key: operation.key, status: status,
                    message: message, attempts: attempt)
        }
        let (url, headers) = signed(operation)
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: url, method: operation.method, headers: HTTPHeaders(headers))
        } catch {
            throw .answer(failure(.invalidRequest, "\(error)"), retry: false)
        }
        let response: HTTPClient.Response
        do {
            let accumulator = ResponseAccumulator(request: request, maxBodySize: max(operation.bodySizeBytesMax, 1 << 20))
            response = try http.execute(request: request, delegate: accumulator,
                                        deadline: .now() + .seconds(Int64(options.requestTimeoutSecondsClamped))).futureResult.wait()
        } catch is ResponseAccumulator.ResponseTooBigError {
            throw .answer(failure(.invalidResponse, "the answer is longer than \(operation.bodySizeBytesMax) bytes"), retry: false)
        } catch {
            throw .answer(failure(.transport, "\(error)"), retry: operation.idempotent)
        }
        let status = Int(response.status.code)
        let body = response.body ?? ByteBuffer()
        if (200..<300).contains(status) { return (status, body) }
        _ = try classify(operation, status: status, headers: response.headers, body: Array(body.readableBytesView), attempt: attempt)
        return (status, body)
    }
}

public import Foundation
internal import Crypto
internal import RRLogFormat

/// AWS Signature Version 4 for S3, as a pure function of the request and the time: no I/O, no
/// clock. `S3Client` signs every request with it; the tests compare its `Authorization` header
/// with botocore's for hundreds of generated requests.
public struct SigV4Signer: Sendable {
    /// The payload hash that tells S3 the body is not part of the signature.
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"

    /// The keys that sign.
    public var credentials: S3Credentials
    /// The region in the credential scope, e.g. `us-east-1`.
    public var region: String
    /// The service in the credential scope; `s3` for every request this module sends.
    public var service: String

    /// A signer for `service` in `region`.
    public init(credentials: S3Credentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// One request as the signer sees it: nothing in it is percent-encoded yet.
    public struct Request: Sendable, Equatable {
        /// The HTTP method, e.g. `GET`.
        public var method: String
        /// The path before encoding, starting with `/` (e.g. `/bucket/a key+1`); each segment
        /// between slashes is encoded once when signed and sent.
        public var path: String
        /// Query parameters before encoding, in any order; a parameter without value has "".
        public var query: [(name: String, value: String)]
        /// Headers to sign (names in any case; `host` must be among them).
        public var headers: [(name: String, value: String)]
        /// The lowercase hex SHA-256 of the body, or `SigV4Signer.unsignedPayload`.
        public var payloadHash: String

        /// A request to sign.
        public init(method: String, path: String, query: [(name: String, value: String)] = [],
                    headers: [(name: String, value: String)], payloadHash: String) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }

        /// Equal when every part is equal, query and headers in the same order.
        public static func == (a: Request, b: Request) -> Bool {
            a.method == b.method && a.path == b.path && a.payloadHash == b.payloadHash
                && a.query.elementsEqual(b.query, by: { $0 == $1 }) && a.headers.elementsEqual(b.headers, by: { $0 == $1 })
        }
    }

    /// The outcome of signing: the headers to add to the request and the intermediate texts.
    public struct Signature: Sendable, Equatable {
        /// The headers the request must carry in addition to its own: `x-amz-date`,
        /// `x-amz-content-sha256`, `x-amz-security-token` (with a session token) and `authorization`.
        public var headers: [String: String]
        /// The `Authorization` header value.
        public var authorization: String
        /// The canonical request (for diagnosing a SignatureDoesNotMatch).
        public var canonicalRequest: String
        /// The string to sign.
        public var stringToSign: String
    }

    /// Signs `request` as made at `date`.
    public func sign(_ request: Request, at date: Date) -> Signature {
        let stamp = Self.timestamp(date)
        let day = String(stamp.prefix(8))
        var headers = request.headers.map { (name: $0.name.lowercased(), value: $0.value) }
        headers.removeAll { ["x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "authorization"].contains($0.name) }
        var added: [String: String] = ["x-amz-date": stamp, "x-amz-content-sha256": request.payloadHash]
        if let token = credentials.sessionToken { added["x-amz-security-token"] = token }
        headers += added.map { (name: $0.key, value: $0.value) }

        // Values of a repeated header join with commas, in the order given; runs of spaces and
        // tabs collapse to one space and the ends are trimmed.
        var byName: [String: [String]] = [:]
        for header in headers { byName[header.name, default: []].append(Self.collapse(header.value)) }
        let names = byName.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let canonicalHeaders = names.map { "\($0):\(byName[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")

        let canonicalRequest = [
            request.method.uppercased(), Self.encodePath(request.path), Self.canonicalQuery(request.query),
            canonicalHeaders, signedHeaders, request.payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", stamp, scope, Hex.lowercase(SHA256.hash(data: Array(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        let signature = Hex.lowercase(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: signingKey(day: day)))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        added["authorization"] = authorization
        return Signature(headers: added, authorization: authorization, canonicalRequest: canonicalRequest, stringToSign: stringToSign)
    }

    /// The signing key for one day: HMAC chained over date, region, service and `aws4_request`.
    func signingKey(day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    /// The lowercase hex SHA-256 of `bytes`, the value of `x-amz-content-sha256` for a signed body.
    public static func payloadHash<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return Hex.lowercase(hasher.finalize())
    }

    /// `path` encoded as S3 wants it: every byte outside `A-Z a-z 0-9 - _ . ~` of each segment
    /// as `%XX` (uppercase), the slashes kept, nothing encoded twice.
    public static func encodePath(_ path: String) -> String {
        percentEncode(path, keepSlash: true)
    }

    /// The canonical query string: names and values encoded, sorted by name then value.
    public static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (percentEncode($0.name, keepSlash: false), percentEncode($0.value, keepSlash: false)) }
            .sorted { a, b in
                a.0 != b.0 ? Array(a.0.utf8).lexicographicallyPrecedes(Array(b.0.utf8)) : Array(a.1.utf8).lexicographicallyPrecedes(Array(b.1.utf8))
            }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// RFC 3986 percent-encoding of the UTF-8 bytes of `text`, keeping the unreserved characters
    /// (and `/` when `keepSlash`).
    static func percentEncode(_ text: String, keepSlash: Bool) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Trims a header value and collapses each run of spaces and tabs inside it to one space.
    static func collapse(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    /// `date` as `YYYYMMDDTHHMMSSZ` in UTC, computed from the epoch seconds (no formatter, no locale).
    public static func timestamp(_ date: Date) -> String {
        let t = CivilTime(unixSeconds: Int64(date.timeIntervalSince1970.rounded(.down)))
        let pad = CivilTime.pad
        return pad(t.year, 4) + pad(t.month, 2) + pad(t.day, 2) + "T" + pad(t.hour, 2) + pad(t.minute, 2) + pad(t.second, 2) + "Z"
    }
}

public import Foundation

/// The keys that sign requests. `description` never shows the secret or the token.
public struct S3Credentials: Sendable, Equatable, CustomStringConvertible {
    /// The access key id (`AWS_ACCESS_KEY_ID`).
    public var accessKeyID: String
    /// The secret access key (`AWS_SECRET_ACCESS_KEY`).
    public var secretAccessKey: String
    /// The session token of temporary credentials (`AWS_SESSION_TOKEN`), sent as `x-amz-security-token`.
    public var sessionToken: String?

    /// Credentials from their parts.
    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    /// The access key id only: the secret and the token never appear in logs.
    public var description: String { "S3Credentials(\(accessKeyID), secret hidden\(sessionToken == nil ? "" : ", session token hidden"))" }
}

/// A problem with a remote's configuration, found before any request is sent.
public enum S3ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The remote is not `s3://bucket[/prefix]`.
    case malformedURL(url: String, reason: String)
    /// The endpoint is not `http(s)://host[:port]`.
    case malformedEndpoint(endpoint: String, reason: String)
    /// No bucket: neither a remote URL nor `MINIO_BUCKET`.
    case missingBucket
    /// No access key and secret in any of the places `checked`.
    case missingCredentials(checked: [String])
    /// A profile file could not be read or has a line that is not `[section]`, `key = value` or a comment.
    /// `line` is 0 when the file as a whole could not be read.
    case unreadableProfileFile(path: String, line: Int, reason: String)

    /// What is wrong and what to do, in one line.
    public var description: String {
        switch self {
        case .malformedURL(let url, let reason):
            return "the remote \"\(url)\" is not s3://bucket[/prefix]: \(reason)"
        case .malformedEndpoint(let endpoint, let reason):
            return "the S3 endpoint \"\(endpoint)\" is not http(s)://host[:port]: \(reason)"
        case .missingBucket:
            return "no bucket: give a remote s3://bucket[/prefix] or set MINIO_BUCKET"
        case .missingCredentials(let checked):
            return "no S3 credentials found (checked \(checked.joined(separator: ", "))): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a profile in ~/.aws/credentials"
        case .unreadableProfileFile(let path, let line, let reason):
            return line > 0 ? "\(path):\(line): \(reason); fix or remove that line" : "cannot read \(path): \(reason)"
        }
    }
}

/// Where a remote lives and how to reach it: bucket, key prefix, endpoint, region, addressing
/// style, credentials and the CA bundle for TLS. Credentials come from the environment or the AWS
/// profile files, never from a store's configuration.
public struct S3Remote: Sendable, Equatable {
    /// The bucket name.
    public var bucket: String
    /// The key prefix inside the bucket, without leading or trailing `/` ("" for the whole bucket).
    public var prefix: String
    /// The endpoint (`http(s)://host[:port]`), or nil for AWS S3 in `region`.
    public var endpoint: URL?
    /// The signing region.
    public var region: String
    /// Path-style addressing (`host/bucket/key`) rather than virtual-hosted (`bucket.host/key`).
    public var pathStyle: Bool
    /// The keys that sign requests.
    public var credentials: S3Credentials
    /// A PEM file of CA certificates to trust for TLS instead of the system's, or nil.
    public var caBundlePath: String?

    /// A remote from its parts. `pathStyle` defaults to on when an endpoint is given (MinIO and
    /// SeaweedFS need it) and off for AWS, except for a bucket name with dots, which a
    /// virtual-hosted TLS name (`a.b.s3.amazonaws.com`) cannot match.
    public init(bucket: String, prefix: String = "", endpoint: URL? = nil, region: String = "us-east-1",
                credentials: S3Credentials, pathStyle: Bool? = nil, caBundlePath: String? = nil) {
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint = endpoint
        self.region = region
        self.credentials = credentials
        self.pathStyle = pathStyle ?? (endpoint != nil || bucket.contains("."))
        self.caBundlePath = caBundlePath
    }

    /// A remote from `s3://bucket/prefix` (or `MINIO_BUCKET` when `url` is nil) with everything
    /// else from the arguments, then `environment`, then the AWS profile files:
    /// - endpoint: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, `MINIO_ENDPOINT`, the profile's `endpoint_url`;
    /// - region: `AWS_REGION`, `AWS_DEFAULT_REGION`, `MINIO_REGION`, the profile's `region`, else `us-east-1`;
    /// - credentials: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
    ///   `MINIO_ACCESS_KEY`/`MINIO_SECRET_KEY`, then profile `AWS_PROFILE` (or `default`) in
    ///   `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`) and `AWS_CONFIG_FILE`
    ///   (default `~/.aws/config`);
    /// - CA bundle: `AWS_CA_BUNDLE`, the profile's `ca_bundle`.
    /// The profile files are read only when the environment leaves something open.
    public static func resolve(url: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                               endpoint: String? = nil, region: String? = nil, pathStyle: Bool? = nil,
                               caBundlePath: String? = nil) throws(S3ConfigError) -> S3Remote {
        func env(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        let bucket: String
        let prefix: String
        if let url {
            (bucket, prefix) = try parseURL(url)
        } else if let minio = env("MINIO_BUCKET") {
            (bucket, prefix) = try parseURL("s3://" + minio)
        } else {
            throw .missingBucket
        }

        var credentials: S3Credentials?
        if let key = env("AWS_ACCESS_KEY_ID"), let secret = env("AWS_SECRET_ACCESS_KEY") {
            credentials = S3Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: env("AWS_SESSION_TOKEN"))
        } else if let key = env("MINIO_ACCESS_KEY"), let secret = env("MINIO_SECRET_KEY") {
            credentials = S3Credentials(accessKeyID: key, secretAccessKey: secret)
        }
        var endpointText = endpoint ?? env("AWS_ENDPOINT_URL_S3") ?? env("AWS_ENDPOINT_URL") ?? env("MINIO_ENDPOINT")
        var regionText = region ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? env("MINIO_REGION")
        var caBundle = caBundlePath ?? env("AWS_CA_BUNDLE")

        let home = env("HOME") ?? NSHomeDirectory()
        let profileName = env("AWS_PROFILE") ?? "default"
        let credentialsFile = env("AWS_SHARED_CREDENTIALS_FILE") ?? home + "/.aws/credentials"
        let configFile = env("AWS_CONFIG_FILE") ?? home + "/.aws/config"
        if credentials == nil || endpointText == nil || regionText == nil || caBundle == nil {
            // In the credentials file a section is the profile's name; in the config file it is
            // `profile NAME`, except `default`.
            var settings = try AWSProfileFile.read(credentialsFile)?[profileName] ?? [:]
            let configSection = profileName == "default" ? "default" : "profile \(profileName)"
            for (key, value) in try AWSProfileFile.read(configFile)?[configSection] ?? [:] where settings[key] == nil {
                settings[key] = value
            }
            if credentials == nil, let key = settings["aws_access_key_id"], let secret = settings["aws_secret_access_key"] {
                credentials = S3Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: settings["aws_session_token"])
            }
            endpointText = endpointText ?? settings["endpoint_url"]
            regionText = regionText ?? settings["region"]
            caBundle = caBundle ?? settings["ca_bundle"]
        }
        guard let credentials else {
            throw .missingCredentials(checked: [
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", "MINIO_ACCESS_KEY/MINIO_SECRET_KEY",
                "profile \(profileName) in \(credentialsFile) and \(configFile)",
            ])
        }
        let endpointURL = try endpointText.map { text throws(S3ConfigError) in try parseEndpoint(text) }
        return S3Remote(bucket: bucket, prefix: prefix, endpoint: endpointURL, region: regionText ?? "us-east-1",
                        credentials: credentials, pathStyle: pathStyle, caBundlePath: caBundle)
    }

    /// Splits `s3://bucket/prefix` into the bucket and the prefix (slashes at its ends removed).
    public static func parseURL(_ url: String) throws(S3ConfigError) -> (bucket: String, prefix: String) {
        guard url.hasPrefix("s3://") else { throw .malformedURL(url: url, reason: "it must start with s3://") }
        let rest = url.dropFirst(5)
        if rest.contains(where: { $0 == "?" || $0 == "#" || $0 == "\\" || $0.isWhitespace && $0 != " " }) {
            throw .malformedURL(url: url, reason: "it contains ?, #, \\ or a control character")
        }
        let bucket = String(rest.prefix { $0 != "/" })
        let prefix = String(rest.dropFirst(bucket.count)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard (3...63).contains(bucket.utf8.count) else {
            throw .malformedURL(url: url, reason: "a bucket name has 3 to 63 characters, \"\(bucket)\" has \(bucket.utf8.count)")
        }
        let allowed = bucket.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }
        let ends = [bucket.utf8.first!, bucket.utf8.last!].allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) }
        guard allowed && ends else {
            throw .malformedURL(url: url, reason: "a bucket name has lowercase letters, digits, . and - and starts and ends with a letter or digit")
        }
        if prefix.contains("//") { throw .malformedURL(url: url, reason: "the prefix has an empty segment (//)") }
        return (bucket, prefix)
    }

    /// An endpoint as a URL; a bare `host:port` (as `MINIO_ENDPOINT` often is) means `http://host:port`.
    public static func parseEndpoint(_ text: String) throws(S3ConfigError) -> URL {
        let full = text.contains("://") ? text : "http://" + text
        guard let components = URLComponents(string: full), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https" else {
            throw .malformedEndpoint(endpoint: text, reason: "the scheme must be http or https")
        }
        guard let host = components.host, !host.isEmpty else { throw .malformedEndpoint(endpoint: text, reason: "no host") }
        if !(components.path.isEmpty || components.path == "/") || components.query != nil {
            throw .malformedEndpoint(endpoint: text, reason: "an endpoint has no path or query")
        }
        var clean = URLComponents()
        clean.scheme = scheme
        clean.host = host
        clean.port = components.port
        guard let url = clean.url else { throw .malformedEndpoint(endpoint: text, reason: "not a URL") }
        return url
    }

    /// The object key for `name` under this remote's prefix.
    public func key(_ name: String) -> String {
        prefix.isEmpty ? name : prefix + "/" + name
    }
}

/// The AWS shared config and credentials files: INI sections of `key = value` lines.
enum AWSProfileFile {
    /// The largest profile file read (1 MiB); such files are a few lines.
    static let sizeBytesMax = 1 << 20

    /// Each section's settings (keys lowercased), or nil when the file does not exist.
    static func read(_ path: String) throws(S3ConfigError) -> [String: [String: String]]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data: Data
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if let size = attributes[.size] as? Int, size > sizeBytesMax {
                throw S3ConfigError.unreadableProfileFile(path: path, line: 0, reason: "it is larger than \(sizeBytesMax) bytes")
            }
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as S3ConfigError {
            throw error
        } catch {
            throw .unreadableProfileFile(path: path, line: 0, reason: "\(error.localizedDescription)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw .unreadableProfileFile(path: path, line: 0, reason: "it is not UTF-8")
        }
        return try parse(text, path: path)
    }

    /// Parses the INI text; indented lines below a key with an empty value (nested settings
    /// such as `s3 =`) are skipped.
    static func parse(_ text: String, path: String) throws(S3ConfigError) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        var nested = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if nested, raw.first == " " || raw.first == "\t" { continue }
            nested = false
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw .unreadableProfileFile(path: path, line: index + 1, reason: "a section header must be [name]")
                }
                let name = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                current = name.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                sections[current!, default: [:]] = sections[current!] ?? [:]
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw .unreadableProfileFile(path: path, line: index + 1, reason: "expected key = value")
            }
            guard let section = current else {
                throw .unreadableProfileFile(path: path, line: index + 1, reason: "a setting before any [section]")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { throw .unreadableProfileFile(path: path, line: index + 1, reason: "a setting without a name") }
            if value.isEmpty { nested = true }
            sections[section, default: [:]][key] = value
        }
        return sections
    }
}

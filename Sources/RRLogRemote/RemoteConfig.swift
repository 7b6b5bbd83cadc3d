public import Foundation
public import RRLogS3

/// The remote settings a store may keep in `<store>/config.json`:
/// `{"remote": "s3://bucket/prefix", "endpoint": "http://host:port", "region": "us-east-1",
/// "path_style": true, "ca_bundle": "/path/ca.pem"}`. Never credentials: a key that looks like
/// one is refused, so a secret never sits beside the data (credentials come from the
/// environment or an AWS profile, `S3Remote.resolve`).
public struct RemoteConfig: Sendable, Equatable {
    /// `s3://bucket/prefix`.
    public var remote: String?
    /// The endpoint URL.
    public var endpoint: String?
    /// The signing region.
    public var region: String?
    /// Path-style addressing.
    public var pathStyle: Bool?
    /// A CA bundle for TLS.
    public var caBundle: String?

    /// Settings given on the command line (each wins over the file).
    public init(remote: String? = nil, endpoint: String? = nil, region: String? = nil, pathStyle: Bool? = nil, caBundle: String? = nil) {
        self.remote = remote
        self.endpoint = endpoint
        self.region = region
        self.pathStyle = pathStyle
        self.caBundle = caBundle
    }

    /// The keys config.json may hold.
    static let knownKeys: Set<String> = ["remote", "endpoint", "region", "path_style", "ca_bundle"]

    /// Reads `<store>/config.json`; an absent file is an empty configuration.
    public static func load(store: String) throws(RemoteError) -> RemoteConfig {
        let path = store + "/config.json"
        guard FileManager.default.fileExists(atPath: path) else { return RemoteConfig() }
        let data: Data
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if let size = attributes[.size] as? Int, size > 1 << 20 {
                throw RemoteError(.configuration, "the store's config file is larger than 1 MiB", location: path)
            }
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch let error as RemoteError {
            throw error
        } catch {
            throw RemoteError(.configuration, "cannot read the store's config file: \(error.localizedDescription)", location: path)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw RemoteError(.configuration, "the store's config file is not a JSON object", location: path)
        }
        let secretish = ["secret", "access_key", "accesskey", "token", "password", "credential"]
        for key in object.keys.sorted() {
            if secretish.contains(where: { key.lowercased().contains($0) }) {
                throw RemoteError(
                    .configuration,
                    "'\(key)' looks like a credential; credentials never go in the store's config: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile, and remove the key",
                    location: path)
            }
            guard knownKeys.contains(key) else {
                throw RemoteError(.configuration, "unknown key '\(key)' (known: \(knownKeys.sorted().joined(separator: ", ")))", location: path)
            }
        }
        func string(_ key: String) throws(RemoteError) -> String? {
            guard let value = object[key] else { return nil }
            guard let text = value as? String else { throw RemoteError(.configuration, "'\(key)' must be a string", location: path) }
            return text
        }
        var config = RemoteConfig()
        config.remote = try string("remote")
        config.endpoint = try string("endpoint")
        config.region = try string("region")
        config.caBundle = try string("ca_bundle")
        if let value = object["path_style"] {
            guard let flag = value as? Bool else { throw RemoteError(.configuration, "'path_style' must be true or false", location: path) }
            config.pathStyle = flag
        }
        return config
    }

    /// These settings with `other`'s missing ones filled from `fallback`.
    public func overriding(_ fallback: RemoteConfig) -> RemoteConfig {
        RemoteConfig(remote: remote ?? fallback.remote, endpoint: endpoint ?? fallback.endpoint, region: region ?? fallback.region,
                     pathStyle: pathStyle ?? fallback.pathStyle, caBundle: caBundle ?? fallback.caBundle)
    }

    /// The remote: these settings, then the environment and AWS profiles (`S3Remote.resolve`).
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws(RemoteError) -> S3Remote {
        do {
            return try S3Remote.resolve(url: remote, environment: environment, endpoint: endpoint, region: region, pathStyle: pathStyle,
                                        caBundlePath: caBundle)
        } catch {
            if error == .missingBucket {
                throw RemoteError(.configuration, "no remote: give --remote s3://bucket/prefix, or set \"remote\" in the store's config.json (or MINIO_BUCKET)")
            }
            throw RemoteError(.configuration, error.description)
        }
    }
}

import Foundation
import RRLogS3
import RRLogTestSupport
import XCTest

final class S3RemoteTests: XCTestCase {
    /// An environment with HOME in a fresh directory, so no real ~/.aws is read.
    func environment(_ values: [String: String]) -> [String: String] {
        var environment = values
        environment["HOME"] = environment["HOME"] ?? TestPaths.temporaryDirectory(self, prefix: "rrlog-s3-home")
        return environment
    }

    func testURLs() throws {
        XCTAssertEqual(try S3Remote.parseURL("s3://rr-log/sessions/ci/").prefix, "sessions/ci")
        XCTAssertEqual(try S3Remote.parseURL("s3://rr.log").bucket, "rr.log")
        XCTAssertEqual(try S3Remote.parseURL("s3://abc/").prefix, "")
        for bad in ["http://bucket/x", "s3://", "s3://ab", "s3://Bucket", "s3://-abc", "s3://abc?x=1", "s3://abc/a//b", "s3://a_b_c",
                    "s3://" + String(repeating: "a", count: 64)] {
            XCTAssertThrowsError(try S3Remote.parseURL(bad), bad) { error in
                guard case .malformedURL(let url, _) = error as? S3ConfigError else { return XCTFail("\(error)") }
                XCTAssertEqual(url, bad)
            }
        }
        XCTAssertEqual(try S3Remote.parseEndpoint("localhost:9000").absoluteString, "http://localhost:9000")
        XCTAssertEqual(try S3Remote.parseEndpoint("https://s3.example.com/").absoluteString, "https://s3.example.com")
        XCTAssertThrowsError(try S3Remote.parseEndpoint("ftp://x"))
        XCTAssertThrowsError(try S3Remote.parseEndpoint("http://x/path"))
    }

    func testAWSEnvironment() throws {
        let remote = try S3Remote.resolve(url: "s3://bucket/p", environment: environment([
            "AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S", "AWS_SESSION_TOKEN": "T",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:8333", "AWS_DEFAULT_REGION": "eu-west-3",
            "AWS_CA_BUNDLE": "/etc/ca.pem", "MINIO_ACCESS_KEY": "ignored", "MINIO_SECRET_KEY": "ignored",
        ]))
        XCTAssertEqual(remote.credentials, S3Credentials(accessKeyID: "K", secretAccessKey: "S", sessionToken: "T"))
        XCTAssertEqual(remote.endpoint?.absoluteString, "http://127.0.0.1:8333")
        XCTAssertEqual(remote.region, "eu-west-3")
        XCTAssertTrue(remote.pathStyle, "path style is the default with an endpoint")
        XCTAssertEqual(remote.caBundlePath, "/etc/ca.pem")
        XCTAssertEqual(remote.key("s1/manifest.json"), "p/s1/manifest.json")
    }

    func testMinIOEnvironment() throws {
        let remote = try S3Remote.resolve(url: nil, environment: environment([
            "MINIO_ENDPOINT": "minio:9000", "MINIO_ACCESS_KEY": "mk", "MINIO_SECRET_KEY": "ms", "MINIO_BUCKET": "otlp-sessions",
            "MINIO_REGION": "garage",
        ]))
        XCTAssertEqual(remote.bucket, "otlp-sessions")
        XCTAssertEqual(remote.endpoint?.absoluteString, "http://minio:9000")
        XCTAssertEqual(remote.credentials.accessKeyID, "mk")
        XCTAssertEqual(remote.region, "garage")
        XCTAssertEqual(remote.key("x"), "x")
    }

    func testAWSDefaultsWithoutEndpoint() throws {
        let remote = try S3Remote.resolve(url: "s3://bucket", environment: environment(["AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S"]))
        XCTAssertNil(remote.endpoint)
        XCTAssertFalse(remote.pathStyle)
        let dotted = try S3Remote.resolve(url: "s3://a.b.c", environment: environment(["AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S"]))
        XCTAssertTrue(dotted.pathStyle, "a dotted bucket name cannot be a TLS host name label")
        XCTAssertEqual(remote.region, "us-east-1")
    }

    func testProfilesFromCredentialsAndConfigFiles() throws {
        let home = TestPaths.temporaryDirectory(self, prefix: "rrlog-s3-home")
        try FileManager.default.createDirectory(atPath: home + "/.aws", withIntermediateDirectories: true)
        try """
            # comment
            [default]
            aws_access_key_id = DK
            aws_secret_access_key = DS

            [ci]
            aws_access_key_id=CK
            aws_secret_access_key = CS
            aws_session_token = CT
            """.write(toFile: home + "/.aws/credentials", atomically: true, encoding: .utf8)
        try """
            [profile ci]
            region = ap-south-1
            endpoint_url = https://s3.internal:8443
            s3 =
              addressing_style = path
            ca_bundle = /etc/internal-ca.pem
            """.write(toFile: home + "/.aws/config", atomically: true, encoding: .utf8)
        let ci = try S3Remote.resolve(url: "s3://bucket", environment: ["HOME": home, "AWS_PROFILE": "ci"])
        XCTAssertEqual(ci.credentials, S3Credentials(accessKeyID: "CK", secretAccessKey: "CS", sessionToken: "CT"))
        XCTAssertEqual(ci.region, "ap-south-1")
        XCTAssertEqual(ci.endpoint?.absoluteString, "https://s3.internal:8443")
        XCTAssertEqual(ci.caBundlePath, "/etc/internal-ca.pem")
        let standard = try S3Remote.resolve(url: "s3://bucket", environment: ["HOME": home, "AWS_REGION": "us-west-2"])
        XCTAssertEqual(standard.credentials.accessKeyID, "DK")
        XCTAssertEqual(standard.region, "us-west-2")
    }

    func testBrokenProfileFileNamesFileAndLine() throws {
        let directory = TestPaths.temporaryDirectory(self, prefix: "rrlog-s3-home")
        let path = directory + "/credentials"
        try "[default]\naws_access_key_id = K\nthis line is wrong\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try S3Remote.resolve(url: "s3://bucket", environment: ["HOME": directory, "AWS_SHARED_CREDENTIALS_FILE": path])) { error in
            XCTAssertEqual(error as? S3ConfigError, .unreadableProfileFile(path: path, line: 3, reason: "expected key = value"))
            XCTAssertTrue("\(error)".hasPrefix("\(path):3: "), "\(error)")
        }
        try "key = before any section\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try S3Remote.resolve(url: "s3://bucket", environment: ["HOME": directory, "AWS_SHARED_CREDENTIALS_FILE": path])) { error in
            XCTAssertEqual(error as? S3ConfigError, .unreadableProfileFile(path: path, line: 1, reason: "a setting before any [section]"))
        }
        // A directory where the file should be cannot be read.
        XCTAssertThrowsError(try S3Remote.resolve(url: "s3://bucket", environment: ["HOME": directory, "AWS_SHARED_CREDENTIALS_FILE": directory])) { error in
            guard case .unreadableProfileFile(let where_, 0, _) = error as? S3ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(where_, directory)
        }
    }

    func testUnreadableCABundleIsAClearError() {
        let remote = S3Remote(bucket: "bucket", endpoint: URL(string: "https://127.0.0.1:1"),
                              credentials: S3Credentials(accessKeyID: "K", secretAccessKey: "S"), caBundlePath: "/nonexistent/ca.pem")
        XCTAssertThrowsError(try S3Client(remote: remote)) { error in
            XCTAssertEqual((error as? S3Error)?.code, .invalidRequest)
            XCTAssertTrue("\(error)".contains("/nonexistent/ca.pem"), "\(error)")
        }
    }

    func testMissingCredentialsAndBucket() {
        XCTAssertThrowsError(try S3Remote.resolve(url: "s3://bucket", environment: environment([:]))) { error in
            guard case .missingCredentials(let checked) = error as? S3ConfigError else { return XCTFail("\(error)") }
            XCTAssertEqual(checked.count, 3)
            XCTAssertTrue("\(error)".contains("AWS_ACCESS_KEY_ID"))
        }
        XCTAssertThrowsError(try S3Remote.resolve(url: nil, environment: environment(["AWS_ACCESS_KEY_ID": "K", "AWS_SECRET_ACCESS_KEY": "S"]))) { error in
            XCTAssertEqual(error as? S3ConfigError, .missingBucket)
        }
    }
}

import Foundation
import RRLogS3
import RRLogTestSupport
import XCTest

final class SigV4Tests: XCTestCase {
    /// One request signed by botocore (Tools/sigv4-oracle.py).
    struct OracleCase: Decodable {
        var index: Int
        var method: String
        var path: String
        var query: [[String]]
        var headers: [[String]]
        var body: String
        var unsigned: Bool
        var accessKey: String
        var secretKey: String
        var token: String?
        var region: String
        var epochSeconds: Int
        var authorization: String
        var payloadHash: String
    }

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        return stride(from: 0, to: digits.count - 1, by: 2).map { UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)! }
    }

    /// botocore's S3 signer and SigV4Signer agree on the Authorization header of 400 generated
    /// requests (seed 22): keys with spaces, unicode, `+ = ~ %`, query parameters, headers with
    /// runs of spaces, ranges, empty and non-empty bodies, unsigned payloads, session tokens,
    /// dates from 1970 to 2100.
    func testSignaturesMatchBotocore() throws {
        let seed = 22
        let script = TestPaths.packageRoot.appendingPathComponent("Tools/sigv4-oracle.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--count", "400", "--seed", String(seed)]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { throw TestPaths.missing("python3 (for the botocore SigV4 oracle)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 3 || process.terminationStatus == 127 {
            throw TestPaths.missing("python3 with botocore (pip install botocore)")
        }
        XCTAssertEqual(process.terminationStatus, 0, "Tools/sigv4-oracle.py failed")
        let cases = try JSONDecoder().decode([OracleCase].self, from: data)
        XCTAssertEqual(cases.count, 400)
        var mismatches = 0
        for item in cases {
            let body = Self.bytes(hex: item.body)
            let payloadHash = item.unsigned ? SigV4Signer.unsignedPayload : SigV4Signer.payloadHash(body)
            XCTAssertEqual(payloadHash, item.payloadHash, "case \(item.index) (seed \(seed)): payload hash")
            let signer = SigV4Signer(credentials: S3Credentials(accessKeyID: item.accessKey, secretAccessKey: item.secretKey,
                                                                sessionToken: item.token),
                                     region: item.region)
            let request = SigV4Signer.Request(
                method: item.method, path: item.path, query: item.query.map { (name: $0[0], value: $0[1]) },
                headers: item.headers.map { (name: $0[0], value: $0[1]) }, payloadHash: payloadHash)
            let signature = signer.sign(request, at: Date(timeIntervalSince1970: TimeInterval(item.epochSeconds)))
            if signature.authorization != item.authorization {
                mismatches += 1
                XCTFail("""
                    case \(item.index) (seed \(seed)) differs from botocore: \(item.method) \(item.path) query \(item.query)
                    ours:     \(signature.authorization)
                    botocore: \(item.authorization)
                    canonical request:
                    \(signature.canonicalRequest)
                    """)
                if mismatches >= 5 { return }
            }
        }
    }

    /// AWS's worked S3 SigV4 examples (Amazon S3 API reference, "Signature Calculations for the
    /// Authorization Header"): access key AKIAIOSFODNN7EXAMPLE, region us-east-1, 2013-05-24.
    func testAWSPublishedS3Examples() {
        let signer = SigV4Signer(
            credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            region: "us-east-1")
        let date = Date(timeIntervalSince1970: 1_369_353_600)  // 2013-05-24T00:00:00Z
        let host = (name: "Host", value: "examplebucket.s3.amazonaws.com")
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        XCTAssertEqual(SigV4Signer.payloadHash([UInt8]()), empty)

        // GET Object, first 10 bytes.
        let get = signer.sign(SigV4Signer.Request(method: "GET", path: "/test.txt", headers: [host, (name: "Range", value: "bytes=0-9")],
                                                  payloadHash: empty), at: date)
        XCTAssertEqual(get.stringToSign.split(separator: "\n").last, "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
        XCTAssertEqual(get.authorization, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")

        // PUT Object: "Welcome to Amazon S3." to test$file.text, with a Date header and a storage class.
        let body = Array("Welcome to Amazon S3.".utf8)
        XCTAssertEqual(SigV4Signer.payloadHash(body), "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072")
        let put = signer.sign(SigV4Signer.Request(
            method: "PUT", path: "/test$file.text",
            headers: [host, (name: "Date", value: "Fri, 24 May 2013 00:00:00 GMT"), (name: "x-amz-storage-class", value: "REDUCED_REDUNDANCY")],
            payloadHash: SigV4Signer.payloadHash(body)), at: date)
        XCTAssertEqual(put.authorization.split(separator: " ").last, "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        XCTAssertTrue(put.canonicalRequest.contains("\n/test%24file.text\n"))

        // GET Bucket lifecycle (a parameter without value) and a listing (sorted parameters).
        let lifecycle = signer.sign(SigV4Signer.Request(method: "GET", path: "/", query: [(name: "lifecycle", value: "")],
                                                        headers: [host], payloadHash: empty), at: date)
        XCTAssertEqual(lifecycle.authorization.split(separator: " ").last, "Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
        let list = signer.sign(SigV4Signer.Request(method: "GET", path: "/", query: [(name: "prefix", value: "J"), (name: "max-keys", value: "2")],
                                                   headers: [host], payloadHash: empty), at: date)
        XCTAssertEqual(list.authorization.split(separator: " ").last, "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    func testPathAndQueryEncoding() {
        XCTAssertEqual(SigV4Signer.encodePath("/b/a key+1=~é/x%"), "/b/a%20key%2B1%3D~%C3%A9/x%25")
        XCTAssertEqual(SigV4Signer.encodePath("/b//./../k"), "/b//./../k")
        XCTAssertEqual(SigV4Signer.canonicalQuery([(name: "uploads", value: ""), (name: "b", value: "2 /"), (name: "a", value: "z"), (name: "a", value: "y")]),
                       "a=y&a=z&b=2%20%2F&uploads=")
    }

    func testTimestampsAcrossCalendarEdges() {
        let cases: [(Double, String)] = [
            (0, "19700101T000000Z"), (951_782_400, "20000229T000000Z"), (1_709_251_199, "20240229T235959Z"),
            (4_102_444_799, "20991231T235959Z"), (1_369_353_600.9, "20130524T000000Z"),
        ]
        for (seconds, text) in cases { XCTAssertEqual(SigV4Signer.timestamp(Date(timeIntervalSince1970: seconds)), text) }
    }

    func testSessionTokenIsSignedAndSent() {
        let signer = SigV4Signer(credentials: S3Credentials(accessKeyID: "K", secretAccessKey: "S", sessionToken: "T/+="), region: "r")
        let signature = signer.sign(SigV4Signer.Request(method: "GET", path: "/b", headers: [(name: "host", value: "h")],
                                                        payloadHash: SigV4Signer.unsignedPayload), at: Date(timeIntervalSince1970: 0))
        XCTAssertEqual(signature.headers["x-amz-security-token"], "T/+=")
        XCTAssertEqual(signature.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD")
        XCTAssertTrue(signature.authorization.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"))
        XCTAssertFalse(S3Credentials(accessKeyID: "K", secretAccessKey: "S", sessionToken: "T").description.contains("S,"))
    }
}

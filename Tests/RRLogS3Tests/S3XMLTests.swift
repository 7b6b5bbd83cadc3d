import RRLogS3
import XCTest

final class S3XMLTests: XCTestCase {
    func parse(_ text: String, limits: S3XMLLimits = S3XMLLimits()) throws(S3XMLError) -> S3XMLElement {
        try S3XMLElement.parse(Array(text.utf8), limits: limits)
    }

    func assertRefused(_ text: String, _ expected: S3XMLError? = nil, limits: S3XMLLimits = S3XMLLimits(),
                       file: StaticString = #filePath, line: UInt = #line) {
        do {
            let element = try parse(text, limits: limits)
            XCTFail("accepted \(text.debugDescription) as \(element)", file: file, line: line)
        } catch {
            if let expected { XCTAssertEqual(error, expected, file: file, line: line) }
        }
    }

    func testListingWithEntitiesReferencesAndContinuation() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <!-- comment before the root -->
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Name>b</Name><IsTruncated>true</IsTruncated>
              <Contents><Key> a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; </Key><Size>12</Size><ETag>&quot;x&quot;</ETag>
                <LastModified>2026-12-05T16:00:00.000Z</LastModified></Contents>
              <Contents><Key>&#x65E5;&#26412;/<![CDATA[<raw>&]]></Key><Size>0</Size></Contents>
              <CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>
              <NextContinuationToken>t+/=</NextContinuationToken>
            </ListBucketResult>
            <!-- and after -->
            """
        let page = try S3Responses.listPage(Array(xml.utf8))
        XCTAssertEqual(page.objects.map(\.key), [" a & b <c> \"d\" 'e' ", "日本/<raw>&"])
        XCTAssertEqual(page.objects.map(\.sizeBytes), [12, 0])
        XCTAssertEqual(page.objects[0].etag, "\"x\"")
        XCTAssertEqual(page.commonPrefixes, ["p/"])
        XCTAssertEqual(page.nextContinuationToken, "t+/=")
    }

    func testLastPageHasNoToken() throws {
        let page = try S3Responses.listPage(Array("<ListBucketResult><IsTruncated>false</IsTruncated><NextContinuationToken>x</NextContinuationToken></ListBucketResult>".utf8))
        XCTAssertNil(page.nextContinuationToken)
        XCTAssertThrowsError(try S3Responses.listPage(Array("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>".utf8)))
        XCTAssertThrowsError(try S3Responses.listPage(Array("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>".utf8)))
    }

    func testErrorAndMultipartAnswers() throws {
        let error = try S3Responses.error(Array("<Error><Code>NoSuchKey</Code><Message>gone</Message><RequestId>r1</RequestId></Error>".utf8))
        XCTAssertEqual(error, S3ErrorDocument(code: "NoSuchKey", message: "gone", requestID: "r1"))
        XCTAssertEqual(try S3Responses.uploadID(Array("<InitiateMultipartUploadResult><UploadId>u-1</UploadId></InitiateMultipartUploadResult>".utf8)), "u-1")
        XCTAssertEqual(try S3Responses.completeResult(Array("<CompleteMultipartUploadResult><ETag>\"e-2\"</ETag></CompleteMultipartUploadResult>".utf8)),
                       .success("\"e-2\""))
        XCTAssertEqual(try S3Responses.completeResult(Array("<Error><Code>InternalError</Code></Error>".utf8)),
                       .failure(S3ErrorDocument(code: "InternalError", message: "", requestID: nil)))
        XCTAssertThrowsError(try S3Responses.uploadID(Array("<Error><Code>X</Code></Error>".utf8)))
    }

    func testSelfClosingAttributesAndWhitespace() throws {
        let element = try parse("<a  x = '1'\ty=\"&lt;\" ><b/><c z='2' />t<d></d ></a>")
        XCTAssertEqual(element.children.map(\.name), ["b", "c", "d"])
        XCTAssertEqual(element.text, "t")
    }

    func testMalformedDocumentsAreRefused() {
        for text in [
            "", "   ", "text", "<a>", "<a></b>", "</a>", "<a></a><b></b>", "<a></a>trailing", "<a>&unknown;</a>", "<a>&#0;</a>",
            "<a>&#xD800;</a>", "<a>&#x110000;</a>", "<a>&amp</a>", "<a x=1></a>", "<a x='1></a>", "<a x='<'></a>", "<1a></1a>",
            "<a><!-- open</a>", "<a><![CDATA[ open</a>", "<?xml version='1.0'", "<a b></a>", "<a x='1'y='2'></a>", "<a>\u{0}</a>x",
        ] {
            assertRefused(text)
        }
        XCTAssertThrowsError(try S3XMLElement.parse([0x3C, 0x61, 0x3E, 0xFF, 0xFE, 0x3C, 0x2F, 0x61, 0x3E])) { error in
            XCTAssertEqual(error as? S3XMLError, .malformed(offset: 3, reason: "invalid UTF-8"))
        }
    }

    func testDTDIsRefused() {
        assertRefused("<!DOCTYPE a [<!ENTITY x \"yyyy\">]><a>&x;</a>", .dtdNotAllowed(offset: 0))
        assertRefused("<a><!DOCTYPE a></a>", .dtdNotAllowed(offset: 3))
    }

    func testBoundsOnSizeDepthAndCount() {
        assertRefused(String(repeating: "<a>", count: 40) + String(repeating: "</a>", count: 40), .tooDeep(offset: 96, limit: 32))
        // Deep nesting far past any limit costs no stack: the reader stops at the limit.
        assertRefused(String(repeating: "<a>", count: 200_000), limits: S3XMLLimits(depthMax: 1_000_000))
        assertRefused("<r>" + String(repeating: "<a/>", count: 10) + "</r>", .tooManyElements(offset: 27, limit: 7),
                      limits: S3XMLLimits(elementCountMax: 7))
        assertRefused("<a></a>", .tooLarge(sizeBytes: 7, limit: 6), limits: S3XMLLimits(sizeBytesMax: 6))
    }

    func testSerializedElementReadsBackEqual() throws {
        let element = S3XMLElement(name: "Part", text: "a<&>\r\"'", children: [S3XMLElement(name: "ETag", text: "\"e\"")])
        XCTAssertEqual(try parse(element.serialized()), element)
    }

    /// Every input the fuzzer kept that once broke the reader (Fuzz/corpus/FuzzS3XML holds the seeds).
    func testFuzzSeedsDecode() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus/FuzzS3XML")
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        XCTAssertGreaterThanOrEqual(names.count, 6)
        for name in names {
            let bytes = Array(try Data(contentsOf: directory.appendingPathComponent(name)))
            let element = try S3XMLElement.parse(bytes)
            XCTAssertEqual(try S3XMLElement.parse(Array(element.serialized().utf8)), element, name)
        }
    }
}

import RRLogProxy
import XCTest

/// Parsing `--upstream` and choosing the upstream of a path.
final class ProxyOptionsTests: XCTestCase {
    func testUpstreamParsingTakesAPlainURLOrAPrefixedOne() throws {
        XCTAssertEqual(try ProxyUpstream.parse("https://api.openai.com/v1/"), ProxyUpstream(prefix: "/", baseURL: "https://api.openai.com/v1"))
        XCTAssertEqual(try ProxyUpstream.parse("/anthropic/=https://api.anthropic.com"), ProxyUpstream(prefix: "/anthropic", baseURL: "https://api.anthropic.com"))
        XCTAssertThrowsError(try ProxyUpstream.parse("ftp://x"))
        XCTAssertThrowsError(try ProxyUpstream.parse("/openai"))
        XCTAssertThrowsError(try ProxyUpstream.parse("http://x/?key=1"))
        XCTAssertEqual(ProxyMode(name: "replay"), .strict)
        XCTAssertNil(ProxyMode(name: "live"))
    }
}

import Foundation
import RRLogInterop
import XCTest

/// The times of `rrlog info --json` and the server's session answers.
final class SessionInfoJSONTests: XCTestCase {
    /// The arithmetic formatter gives what Foundation's ISO 8601 formatter gives (milliseconds,
    /// UTC) over the whole range of nanosecond timestamps, leap days and negative times included.
    func testTimesMatchFoundationsISO8601Formatter() {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var generator = SystemRandomNumberGenerator()
        var samples: [Int64] = [0, -1, 1, 999_999, 1_000_000, -1_000_000, -1_000_001, 951_782_400_000_000_000, 1_709_164_800_123_000_000,
                                4_107_542_399_999_000_000, Int64.max, Int64.min + 1_000_000_000]
        for _ in 0..<3000 { samples.append(Int64.random(in: -5_000_000_000_000_000_000...Int64.max, using: &generator) / 1_000_000 * 1_000_000) }
        for ns in samples {
            let expected = reference.string(from: Date(timeIntervalSince1970: Double(ns / 1_000_000) / 1e3 + (ns % 1_000_000 < 0 ? -0.001 : 0)))
            XCTAssertEqual(SessionInfoJSON.time(ns), expected, "\(ns)")
        }
    }
}

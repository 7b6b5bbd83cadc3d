import Foundation
import RRLog
import RRLogRemote
import RRLogTestSupport
import XCTest

/// `rrlog serve` over an entry read in place from a real SeaweedFS: its routes answer as they
/// answer for the local session it was pushed from.
extension ServerTests {
    func testRoutesOfAnEntryReadInPlaceAnswerAsTheLocalSession() async throws {
        let seaweed = SharedSeaweedFS()
        addTeardownBlock { seaweed.stop() }
        let weed = try await seaweed.get()
        setenv("AWS_ACCESS_KEY_ID", SeaweedFS.accessKey, 1)
        setenv("AWS_SECRET_ACCESS_KEY", SeaweedFS.secretKey, 1)
        RemoteReads.install()
        let bucket = "serve-\(Int.random(in: 1000...9999))"
        let client = try weed.client(bucket: bucket)
        try await client.createBucket()
        try await client.shutdown()
        let sessions = try RemoteSessions(remote: weed.remote(bucket: bucket, prefix: "s"))
        let s = try await start()
        _ = try await sessions.push(try s.store.session("io"), from: s.store)
        let listed = try await sessions.list().sessions
        _ = try await sessions.attach(try XCTUnwrap(listed.first), into: s.store, as: "io-remote")
        await sessions.close()
        XCTAssertTrue(s.store.isReadInPlace(try s.store.session("io-remote")))
        for route in ["records?limit=500", "records?kind=event&tool=search&limit=50", "timeline?buckets=20&group=agent", "export", "streams"] {
            let here = try await s.request(.GET, "/api/v1/sessions/io/\(route)")
            let there = try await s.request(.GET, "/api/v1/sessions/io-remote/\(route)")
            XCTAssertEqual(here.status, 200, route)
            XCTAssertEqual(there.status, 200, "\(route): \(there.text)")
            // The same answer, but for the session's name in it.
            XCTAssertEqual(there.text.replacingOccurrences(of: #""session":"io-remote""#, with: #""session":"io""#), here.text, route)
        }
        let verify = try await s.request(.GET, "/api/v1/sessions/io-remote/verify")
        XCTAssertEqual(verify.status, 200, verify.text)
        XCTAssertEqual(verify.json["clean"], .bool(true), verify.text)
    }
}

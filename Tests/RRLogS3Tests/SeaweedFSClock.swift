import Foundation
@testable import RRLogS3
import RRLogTestSupport

extension SeaweedFS {
    /// A client whose requests are signed with `clock`'s time (the clock-skew test).
    func client(bucket: String, clock: @escaping @Sendable () -> Date) throws -> S3Client {
        try S3Client(remote: remote(bucket: bucket), options: SeaweedFS.clientOptions, clock: clock)
    }
}

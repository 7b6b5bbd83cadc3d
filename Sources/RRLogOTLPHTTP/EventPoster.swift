import AsyncHTTPClient
import Foundation
import NIOCore
public import RRLog

/// Delivers replayed bus events to an HTTP endpoint: each event's JSON object in the body of one
/// POST (`Content-Type: application/json`), one at a time in replay order. An answer other than
/// 2xx, or no connection, is an error that names the event and the URL.
public final class EventPoster: Sendable {
    /// The URL every event is posted to.
    public let url: String
    private let client: HTTPClient
    private let timeoutSeconds: Double
    private let connectTimeoutSeconds: Double

    /// A poster with its own client; a connection that cannot be made fails within
    /// `connectTimeoutSeconds`, an answer that does not come within `timeoutSeconds`.
    public init(url: String, connectTimeoutSeconds: Double = 5, timeoutSeconds: Double = 10) {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .nanoseconds(Int64(connectTimeoutSeconds * 1e9)))
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.url = url
        self.timeoutSeconds = timeoutSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    /// Posts `event` (its stored event-recorder object).
    public func post(_ event: BusEvent) async throws(RRLogError) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: event.raw.serializedBytes()))
        let status: UInt
        let text: String
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeoutSeconds * 1e9)))
            status = response.status.code
            text = String(buffer: try await response.body.collect(upTo: 64 << 10))
        } catch {
            let failure = OTLPReplayer.describe(error, timeoutSeconds: timeoutSeconds, connectTimeoutSeconds: connectTimeoutSeconds)
            throw RRLogError(.invalidArgument, "cannot post event \(event.sequence) (\(event.name)) to \(url): \(failure.text)")
        }
        guard (200..<300).contains(status) else {
            let shown = text.prefix(200)
            throw RRLogError(.invalidArgument, "HTTP \(status) from \(url) for event \(event.sequence) (\(event.name))" + (shown.isEmpty ? "" : ": \(shown)"))
        }
    }

    /// Closes the client's connections.
    public func shutdown() async {
        try? await client.shutdown()
    }
}

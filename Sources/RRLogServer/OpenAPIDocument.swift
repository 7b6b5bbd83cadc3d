import Foundation

/// The OpenAPI 3.1 document of the server's API (`Resources/openapi.json`, committed; served at
/// `/api/openapi.json`).
enum OpenAPIDocument {
    /// Nil when the installation lacks its resources (`rrlog_RRLogServer.resources` beside the binary).
    static let bytes: [UInt8]? = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else { return nil }
        return [UInt8](data)
    }()
}

import Foundation
import Hummingbird
import NIOCore

/// The dashboard's files (`Resources/ui`): read once, served with their types.
enum DashboardAssets {
    static let files: [String: (bytes: [UInt8], type: String)] = {
        var out: [String: (bytes: [UInt8], type: String)] = [:]
        for (name, type) in [("index.html", "text/html; charset=utf-8"), ("app.js", "text/javascript; charset=utf-8"), ("app.css", "text/css; charset=utf-8")] {
            let base = (name as NSString).deletingPathExtension, ext = (name as NSString).pathExtension
            if let url = Bundle.module.url(forResource: base, withExtension: ext, subdirectory: "ui"), let data = try? Data(contentsOf: url) {
                out[name] = ([UInt8](data), type)
            }
        }
        return out
    }()

    /// The file's answer, or a problem saying the installation lacks it.
    static func response(_ name: String) throws -> Response {
        guard let file = files[name] else {
            throw Problem(.internalServerError, "the dashboard's \(name) is missing from this installation (rrlog_RRLogServer.resources beside the binary)")
        }
        return Response(
            status: .ok, headers: [.contentType: file.type, .cacheControl: "no-cache"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }
}

/// The OpenAPI 3.1 document of the server's API (`Resources/openapi.json`, committed; served at
/// `/api/openapi.json`).
enum OpenAPIDocument {
    /// Nil when the installation lacks its resources (`rrlog_RRLogServer.resources` beside the binary).
    static let bytes: [UInt8]? = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"), let data = try? Data(contentsOf: url) else { return nil }
        return [UInt8](data)
    }()
}

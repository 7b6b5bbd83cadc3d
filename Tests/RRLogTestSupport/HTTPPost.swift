public import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Posts a JSON `body` to `path` on 127.0.0.1:`port` and waits for the answer: its status, 0 when
/// none came (an OTLP capture under test, say).
public func postJSON(port: Int, path: String, _ body: Data) -> Int {
    var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
    request.httpMethod = "POST"
    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    request.httpBody = body
    let done = DispatchSemaphore(value: 0)
    final class Box: @unchecked Sendable { var status = 0 }
    let box = Box()
    URLSession.shared.dataTask(with: request) { _, response, _ in
        box.status = (response as? HTTPURLResponse)?.statusCode ?? 0
        done.signal()
    }.resume()
    done.wait()
    return box.status
}

import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Who may talk to the server, checked before any route runs:
///
/// - The Host header must name the server (its loopback names and port, or an `allowedHosts`
///   name): a page on another site that rebinds its DNS name to 127.0.0.1 is refused (403).
/// - A request that changes something (not GET, HEAD or OPTIONS) with an Origin header must come
///   from the server's own origin: no cross-site POSTs (403).
/// - Unless auth is off, the token: `Authorization: Bearer TOKEN` from scripts, or the
///   `rrlog_token` cookie, which `GET /?token=TOKEN` (the URL printed at start) sets, HttpOnly and
///   SameSite=Strict, before redirecting to the same page without the token (401 otherwise).
///
/// Every answer carries a strict Content Security Policy: recordings hold whatever agents saw,
/// and the UI shows them as text only.
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?
    /// The Host values the server answers to; set again once the bound port is known.
    let hosts: AllowedHosts
    /// Served over TLS: the cookie is marked Secure.
    var secure = false

    static var cookieName: String { "rrlog_token" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await check(request, context: context, next: next)
        } catch let problem as Problem {
            response = try problem.response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "no-referrer"
        response.headers[.xFrameOptions] = "DENY"
        return response
    }

    private func check(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let host = (request.head.authority ?? "").lowercased()
        guard hosts.contains(host) else {
            throw Problem(.forbidden, "this server does not answer to the host '\(host)' (start it with --allowed-host to add a name)")
        }
        if ![.get, .head, .options].contains(request.method), let origin = request.headers[.origin] {
            guard origin.lowercased() == "http://\(host)" || origin.lowercased() == "https://\(host)" else {
                throw Problem(.forbidden, "cross-origin requests that change something are refused (Origin \(origin))")
            }
        }
        guard let token else { return try await next(request, context) }
        // Browsers ask for it on every page, the login page included; it holds nothing.
        if request.uri.path == "/favicon.ico" { return Response(status: .noContent) }
        if request.method == .get, let given = request.uri.queryParameters.get("token").map({ String($0) }) {
            guard Self.same(given, token) else { throw unauthorized() }
            var response = Response.redirect(to: request.uri.path, type: .found)
            response.headers[.setCookie] = "\(Self.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
            return response
        }
        if let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") {
            guard Self.same(String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces), token) else { throw unauthorized() }
            return try await next(request, context)
        }
        if let cookie = request.cookies[Self.cookieName]?.value, Self.same(cookie, token) {
            return try await next(request, context)
        }
        if request.method == .get, request.headers[.accept]?.contains("text/html") == true {
            // A person in a browser: a page that says what to do, not a problem document.
            return Response(
                status: .unauthorized, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array(Self.loginPage.utf8))))
        }
        throw unauthorized()
    }

    private func unauthorized() -> Problem {
        var problem = Problem(
            .unauthorized, "a token is needed: open the URL rrlog serve printed, or send Authorization: Bearer TOKEN")
        problem.headers[.wwwAuthenticate] = "Bearer realm=\"rrlog\""
        return problem
    }

    static var loginPage: String {
        """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>rrlog: token needed</title></head>
        <body><h1>rrlog</h1><p>A token is needed. Open the URL that <code>rrlog serve</code> printed when it started
        (it ends in <code>?token=…</code>); the browser then keeps the token in a cookie.</p></body></html>
        """
    }

    /// Compares in time that depends only on the lengths, so a token cannot be guessed byte by byte.
    static func same(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}

/// The Host header values a server answers to: its loopback names and the `allowed` ones, with
/// its port (a name given with a port is taken as it is). A server started on port 0 learns its
/// port only once it listens, so the set is made again then (`listening(on:)`), not per request.
final class AllowedHosts: Sendable {
    private let allowed: [String]
    private let hosts: Mutex<Set<String>>

    init(port: Int, allowed: [String]) {
        self.allowed = allowed.map { $0.lowercased() }
        hosts = Mutex(Self.hosts(port: port, allowed: self.allowed))
    }

    func listening(on port: Int) {
        let made = Self.hosts(port: port, allowed: allowed)
        hosts.withLock { $0 = made }
    }

    func contains(_ host: String) -> Bool { hosts.withLock { $0.contains(host) } }

    private static func hosts(port: Int, allowed: [String]) -> Set<String> {
        var hosts: Set<String> = []
        for name in ["127.0.0.1", "localhost", "[::1]"] + allowed {
            let hasPort = name.hasPrefix("[") ? name.contains("]:") : name.contains(":")
            if hasPort {
                hosts.insert(name)
            } else {
                hosts.insert("\(name):\(port)")
                if port == 80 { hosts.insert(name) }
            }
        }
        return hosts
    }
}

extension HTTPField.Name {
    static var xContentTypeOptions: Self { .init("X-Content-Type-Options")! }
    static var xFrameOptions: Self { .init("X-Frame-Options")! }
    static var referrerPolicy: Self { .init("Referrer-Policy")! }
}

import Crypto
public import Foundation
public import HeavenCore
import Hummingbird
import Logging
import Synchronization

/// Every error becomes an RFC 9457 problem: Heaven's own problems as they are,
/// Hummingbird's HTTP errors (404, 405, 413, ...) with their status, anything else a
/// 500 whose detail is kept in the server's log (never shown to the client).
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = HeavenContext
    let logger: Logger
    /// The routes, to answer a known path asked with another method 405 (with `Allow`), not 404.
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let p as Problem {
            return p.response
        } catch let e as HTTPError {
            if e.status == .notFound {
                let allowed = routes.methods(for: request.uri.path)
                if !allowed.isEmpty {
                    return Problem(
                        .methodNotAllowed,
                        """
                        \(request.method) is not allowed on \(request.uri.path): it answers \
                        \(allowed.joined(separator: ", "))
                        """,
                        allow: allowed
                    ).response
                }
            }
            let detail: String
            switch e.status {
            case .notFound: detail = "no such resource: \(request.method) \(request.uri.path)"
            case .methodNotAllowed: detail = "\(request.method) is not allowed on \(request.uri.path)"
            default: detail = tooLarge(e.status, context) ?? e.body ?? e.status.reasonPhrase
            }
            return Problem(e.status, detail).response
        } catch let e as any HTTPResponseError {
            return Problem(e.status, tooLarge(e.status, context) ?? e.status.reasonPhrase).response
        } catch {
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return Problem(.internalServerError, "the server failed to answer; the error is in its log").response
        }
    }
}

/// What a 413 says (nil for another status).
private func tooLarge(_ status: HTTPResponse.Status, _ context: HeavenContext) -> String? {
    status == .contentTooLarge ? "the request body is larger than \(context.maxUploadSize) bytes" : nil
}

/// The method and path pattern of every route (`/v1/runs/{id}`), filled once the
/// routes are registered; a `{name}` (or `:name`) segment matches any one segment.
final class RouteTable: Sendable {
    private let table = Mutex<[(method: String, segments: [Substring])]>([])

    func fill(_ routes: [(method: String, path: String)]) {
        table.withLock { $0 = routes.map { ($0.method, $0.path.split(separator: "/")) } }
    }

    /// The methods the routes matching `path` answer, sorted.
    func methods(for path: String) -> [String] {
        let asked = path.split(separator: "/")
        var found = Set<String>()
        for r in table.withLock({ $0 }) where r.segments.count == asked.count {
            if zip(r.segments, asked).allSatisfy({ $0.hasPrefix(":") || $0.hasPrefix("{") || $0 == $1 }) {
                found.insert(r.method)
            }
        }
        return found.sorted()
    }
}

/// Bearer tokens: `Authorization: Bearer hv_ID_SECRET`, looked up by their SHA-256;
/// an unknown, malformed, expired or revoked token is refused (401). `/healthz` and
/// `/openapi.json` need none.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = HeavenContext
    let store: any AccountStore
    /// The paths that need no token (the operations declared so).
    let open: OpenPaths

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let rule = open.rule(request.method.rawValue, request.uri.path)
        if rule == .open { return try await next(request, context) }
        guard let header = request.headers[.authorization] else {
            if rule == .optional { return try await next(request, context) }
            throw Problem(.unauthorized, "no token: send `Authorization: Bearer TOKEN` (see `heaven users add`)")
        }
        context.caller.user = try await Tokens.user(authorization: header, store: store)
        return try await next(request, context)
    }
}

/// The audit log: every state-changing request (not GET or HEAD) — who, what, when,
/// and the status it got — appended after it is answered.
struct AuditMiddleware: RouterMiddleware {
    typealias Context = HeavenContext
    let store: any AccountStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let response = try await next(request, context)
        if request.method != .get && request.method != .head {
            try? await store.appendAudit(
                AuditRecord(
                    user: context.caller.user?.name, method: request.method.rawValue, path: request.uri.path,
                    status: Int(response.status.code)))
        }
        return response
    }
}

/// API tokens: `hv_` + a public id + `_` + 32 random bytes (hex); only the SHA-256
/// of the whole token is stored.
public enum Tokens {
    /// The user an `Authorization` header names now; a 401 problem saying why not when
    /// it is malformed, unknown, revoked or expired (every request, and a long stream
    /// asking again).
    static func user(authorization header: String, store: any AccountStore) async throws -> UserRecord {
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", Tokens.isWellFormed(String(parts[1])) else {
            throw Problem(.unauthorized, "malformed Authorization header: expected `Bearer hv_...`")
        }
        guard let (token, user) = try await store.token(hash: Tokens.hash(String(parts[1]))) else {
            throw Problem(.unauthorized, "unknown token")
        }
        if let why = token.problem(at: Date()) { throw Problem(.unauthorized, why) }
        return user
    }

    public static func make() -> (id: String, token: String) {
        var rng = SystemRandomNumberGenerator()
        let id = (0..<8).map { _ in String(UInt8.random(in: 0..<16, using: &rng), radix: 16) }.joined()
        let secret = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }.hexadecimal
        return (id, "hv_\(id)_\(secret)")
    }

    public static func hash(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).hexadecimal
    }

    static func isWellFormed(_ token: String) -> Bool {
        let parts = token.split(separator: "_", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0] == "hv" && parts[1].count == 8 && parts[2].count == 64
            && token.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) || $0 == 95 }
    }

    /// Creates a token for a user and keeps its hash.
    public static func issue(for user: String, store: any AccountStore, label: String? = nil, expires: Date? = nil)
        async throws -> (id: String, token: String)
    {
        let (id, token) = make()
        try await store.addToken(TokenRecord(id: id, user: user, label: label, expiresAt: expires), hash: hash(token))
        return (id, token)
    }
}

/// The operations that need no token (or read one only when sent), known once every
/// route is declared: by method and path pattern (`/processes/{processID}`).
final class OpenPaths: Sendable {
    enum Rule: Sendable { case open, optional }
    private let value = Mutex<[(method: String, segments: [Substring], rule: Rule)]>([])

    func fill(_ rules: [(method: String, path: String, rule: Rule)]) {
        value.withLock { $0 = rules.map { ($0.method, $0.path.split(separator: "/"), $0.rule) } }
    }

    /// How a request to `path` with `method` is authenticated: nil when it needs a token.
    /// A public path is public whatever the method (another method is then told 405, not
    /// 401); a token is optional only for the method that says so (HEAD as GET).
    func rule(_ method: String, _ path: String) -> Rule? {
        // The web console signs its users in itself (a session cookie).
        if path == "/console" || path.hasPrefix("/console/") { return .open }
        let asked = path.split(separator: "/")
        let method = method == "HEAD" ? "GET" : method
        var found: Rule?
        for r in value.withLock({ $0 }) where r.segments.count == asked.count {
            guard zip(r.segments, asked).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) else { continue }
            if r.rule == .open { return .open }
            if r.method == method { found = r.rule }
        }
        return found
    }
}

extension Sequence<UInt8> {
    /// The bytes in lowercase hexadecimal (a token's hash is computed at every request:
    /// `String(format:)` per byte cost more than the hash).
    var hexadecimal: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(underestimatedCount * 2)
        for b in self {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

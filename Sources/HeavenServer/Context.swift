import Foundation
import HTTPTypes
import HeavenAPI
import HeavenApplication
import HeavenCore
public import Hummingbird
import Synchronization

/// What a request carries through the middlewares: who made it (set by
/// authentication, read back by the audit log, which wraps it).
public struct HeavenContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Shared by every middleware of one request (a context is copied down the chain).
    let caller = CallerBox()

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// Bodies larger than this are refused (413) before they are read whole.
    public var maxUploadSize: Int { 32 * 1024 * 1024 }

    /// The authenticated user; every route but the public ones has one.
    var user: UserRecord {
        get throws {
            guard let u = caller.user else { throw Problem(.unauthorized, "authentication is required") }
            return u
        }
    }
}

final class CallerBox: Sendable {
    private let value = Mutex<UserRecord?>(nil)
    var user: UserRecord? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// An RFC 9457 problem: the status, a short title and a useful detail.
struct Problem: Error, Sendable {
    var status: HTTPResponse.Status
    var detail: String
    /// What kind of problem: a URI (the OGC API's exception types), or `about:blank`.
    var type = "about:blank"
    var extra: [String: String] = [:]
    /// The methods a path allows (the `Allow` header of a 405).
    var allow: [String] = []

    init(
        _ status: HTTPResponse.Status, _ detail: String, type: String = "about:blank", extra: [String: String] = [:],
        allow: [String] = []
    ) {
        self.type = type
        self.status = status
        self.detail = detail
        self.extra = extra
        self.allow = allow
    }

    var response: Response {
        var body: [String: JSONValue] = [
            "type": .string(type), "title": .string(status.reasonPhrase), "status": .int(Int(status.code)),
            "detail": .string(detail),
        ]
        for (k, v) in extra { body[k] = .string(v) }
        let data = (try? APICoding.encoder.encode(body)) ?? Data()
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        // What a request said may be quoted in `detail`: never read as anything but JSON.
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'none'; frame-ancestors 'none'"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"heaven\"" }
        if !allow.isEmpty { headers[.allow] = allow.joined(separator: ", ") }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension Problem {
    /// A use case's refusal as the API answers it: `invalid` is what an invalid request
    /// or documents with errors get (422 on API v1; OGC API - Processes says 400).
    init(_ e: ApplicationError, invalid: HTTPResponse.Status = .unprocessableContent, type: String = "about:blank") {
        switch e {
        case .invalid, .diagnostics: self.init(invalid, e.description, type: type)
        case .outOfRange: self.init(.unprocessableContent, e.description)
        case .forbidden: self.init(.forbidden, e.description)
        case .notFound: self.init(.notFound, e.description)
        case .paymentRequired(let detail, let missing, let extra):
            self.init(
                ChargingRoutes.paymentRequiredStatus, detail, extra: extra.merging(["missing": missing]) { a, _ in a })
        case .conflict: self.init(.conflict, e.description)
        case .failed: self.init(.internalServerError, e.description)
        }
    }
}

import Foundation
import HeavenAPI
import Hummingbird
import Synchronization

/// The routes of API v1, declared once: each operation registers its handler on the
/// router and its description in the OpenAPI document, so that the document describes
/// exactly what the server answers, and the bodies are the `HeavenAPI` types the
/// command line decodes.
struct APIRoutes {
    let router: Router<HeavenContext>
    private(set) var operations: [APIOperation] = []

    init(router: Router<HeavenContext>) { self.router = router }

    /// An operation answering one JSON object (`status` on success).
    mutating func add<Output: APIObject>(
        _ operation: APIOperation, status: HTTPResponse.Status = .ok,
        _ handler: @escaping @Sendable (Request, HeavenContext) async throws -> Output
    ) {
        precondition(
            operation.responses.contains { r in
                if case .json(let t) = r.body {
                    return r.status == Int(status.code) && ObjectIdentifier(t) == ObjectIdentifier(Output.self)
                }
                return false
            }, "\(operation.method) \(operation.path): the document does not say it answers \(Output.self)")
        let html = operation.html
        addRaw(operation) { request, context in
            let value = try await handler(request, context)
            if html, try HTMLPage.wanted(request) {
                let json = try APICoding.decoder.decode(JSONValue.self, from: APICoding.encoder.encode(value))
                return HTMLPage.response(json, title: operation.summary, status: status)
            }
            return reply(value, status: status)
        }
    }

    /// An operation that builds its own response (text, a file, an event stream, no content).
    mutating func addRaw(
        _ operation: APIOperation, _ handler: @escaping @Sendable (Request, HeavenContext) async throws -> Response
    ) {
        operations.append(operation)
        guard let method = HTTPRequest.Method(operation.method) else {
            preconditionFailure("no HTTP method \(operation.method)")
        }
        router.on(RouterPath(operation.path), method: method) { request, context in
            try await handler(request, context)
        }
    }

    /// The operations that need no token, or read one only when sent.
    var tokenRules: [(method: String, path: String, rule: OpenPaths.Rule)] {
        operations.compactMap { o in
            o.tokenOptional ? (o.method, o.path, .optional) : o.authenticated ? nil : (o.method, o.path, .open)
        }
    }
}

/// A JSON response of an API type.
func reply<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? APICoding.encoder.encode(value)) ?? Data("{}".utf8)
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
}

/// A request's JSON body as an API type: 415 for another media type, 400 (saying
/// where) for JSON that is not the type, 413 past the upload limit.
func body<T: APIObject>(_ type: T.Type, of request: Request, _ context: HeavenContext) async throws -> T {
    let media = request.headers[.contentType]?.lowercased() ?? ""
    guard media.hasPrefix("application/json") else {
        throw Problem(
            .unsupportedMediaType,
            "send `Content-Type: application/json` (got \(media.isEmpty ? "none" : "`\(media)`"))")
    }
    let buffer = try await request.body.collect(upTo: context.maxUploadSize)
    do {
        return try APICoding.decoder.decode(T.self, from: Data(buffer.readableBytesView))
    } catch let DecodingError.typeMismatch(expected, c), let DecodingError.valueNotFound(expected, c) {
        if c.codingPath.isEmpty { throw Problem(.badRequest, "the body is not a JSON object") }
        throw Problem(.badRequest, "\(location(c)) must be \(describe(expected))")
    } catch let DecodingError.keyNotFound(key, c) {
        throw Problem(.badRequest, "\(location(c, key)) is required")
    } catch let DecodingError.dataCorrupted(c) {
        if c.codingPath.isEmpty { throw Problem(.badRequest, "the body is not a JSON object") }
        throw Problem(.badRequest, "\(location(c)): \(c.debugDescription)")
    } catch {
        throw Problem(.badRequest, "the body is not a JSON object of the kind this route takes")
    }
}

/// `inputs.x` or `documents[0].text`: where in a body a problem is.
private func location(_ c: DecodingError.Context, _ key: (any CodingKey)? = nil) -> String {
    let path = c.codingPath + (key.map { [$0] } ?? [])
    if path.isEmpty { return "the body" }
    var text = ""
    for k in path {
        if let i = k.intValue { text += "[\(i)]" } else { text += (text.isEmpty ? "" : ".") + k.stringValue }
    }
    return "`\(text)`"
}

private func describe(_ type: Any.Type) -> String {
    switch type {
    case is String.Type: "a string"
    case is Int.Type, is Int64.Type: "an integer"
    case is Double.Type: "a number"
    case is Bool.Type: "true or false"
    case is any KeyedCollection.Type: "a JSON object"
    default: type is any Collection.Type ? "a list" : "a JSON object"
    }
}

/// The document, once every route is declared.
final class DocumentBox: Sendable {
    private let value = Mutex<Data>(Data())
    var data: Data {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// A dictionary, whatever its types (a JSON object in a body).
private protocol KeyedCollection {}
extension Dictionary: KeyedCollection {}

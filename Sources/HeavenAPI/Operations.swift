public import Foundation

/// A parameter of an operation.
public struct APIParameter: Sendable {
    public enum Location: String, Sendable { case path, query, header }

    public var name: String
    public var location: Location
    public var schema: JSONSchema
    public var description: String?

    public init(_ name: String, in location: Location, _ schema: JSONSchema, _ description: String? = nil) {
        self.name = name
        self.location = location
        self.schema = schema
        self.description = description
    }
}

/// What an operation answers with one status.
public struct APIResponse: Sendable {
    /// The body's kind.
    public enum Body: Sendable {
        case none
        case json(any APIObject.Type)
        /// Another media type: text, a file, an event stream.
        case media(String, JSONSchema)
    }

    public var status: Int
    public var description: String
    public var body: Body
    /// Other media types the same status may answer with (a file instead of a value).
    public var alternatives: [(type: String, schema: JSONSchema)]

    public init(
        _ status: Int, _ description: String, _ body: Body = .none, or alternatives: [(String, JSONSchema)] = []
    ) {
        self.status = status
        self.description = description
        self.body = body
        self.alternatives = alternatives.map { (type: $0.0, schema: $0.1) }
    }
}

/// One operation of the API: what the router serves and what the document says, from
/// the same declaration.
public struct APIOperation: Sendable {
    public var method: String
    /// `/v1/runs/{id}`, as the router and the document both write it.
    public var path: String
    public var summary: String
    public var tag: String
    public var parameters: [APIParameter]
    public var request: (any APIObject.Type)?
    /// Answers other than the problems every operation may answer.
    public var responses: [APIResponse]
    /// Whether it needs a bearer token.
    public var authenticated: Bool
    /// Whether a bearer token is read when sent, and the caller anonymous otherwise
    /// (what an anonymous caller sees is less).
    public var tokenOptional: Bool
    /// Whether its JSON answer is also served as an HTML page (`?f=html`, or `Accept:
    /// text/html`), as OGC API - Processes' `html` class asks.
    public var html: Bool

    public init(
        _ method: String, _ path: String, _ summary: String, tag: String, parameters: [APIParameter] = [],
        request: (any APIObject.Type)? = nil, responses: [APIResponse], authenticated: Bool = true,
        tokenOptional: Bool = false, html: Bool = false
    ) {
        self.tokenOptional = tokenOptional
        self.html = html
        self.method = method
        self.path = path
        self.summary = summary
        self.tag = tag
        self.parameters = parameters
        self.request = request
        self.responses = responses
        self.authenticated = authenticated
    }

    /// The names of its path's parameters (`{id}`), in order.
    public var pathParameters: [String] {
        path.split(separator: "/").compactMap { part in
            part.hasPrefix("{") && part.hasSuffix("}") ? String(part.dropFirst().dropLast()) : nil
        }
    }
}

/// The OpenAPI 3.0 document of a set of operations, with the schemas of every object
/// their bodies name.
public struct OpenAPIDocument {
    public var title: String
    public var version: String
    public var description: String
    public var operations: [APIOperation]

    public init(title: String, version: String, description: String, operations: [APIOperation]) {
        self.title = title
        self.version = version
        self.description = description
        self.operations = operations
    }

    /// Every object the operations name, and the objects those name, by name.
    public var components: [String: any APIObject.Type] {
        var found: [String: any APIObject.Type] = [:]
        var queue: [any APIObject.Type] = [ProblemDetails.self]
        for o in operations {
            if let r = o.request { queue.append(r) }
            for r in o.responses { if case .json(let t) = r.body { queue.append(t) } }
        }
        while let t = queue.popLast() {
            guard found[t.componentName] == nil else { continue }
            found[t.componentName] = t
            queue += t.nested
        }
        return found
    }

    /// The document as a JSON object.
    public var json: JSONValue {
        let problem: JSONValue = [
            "description": "a problem (RFC 9457)",
            "content": ["application/problem+json": ["schema": ProblemDetails.jsonSchema.json]],
        ]
        var paths: [String: [String: JSONValue]] = [:]
        for o in operations {
            var op: JSONValue = [
                "summary": .string(o.summary), "tags": [.string(o.tag)], "operationId": .string(Self.operationID(o)),
            ]
            let declared = Set(o.parameters.map(\.name))
            var parameters = o.parameters
            if o.html {
                parameters.append(
                    APIParameter(
                        "f", in: .query, .string(values: ["json", "html"]),
                        "the answer's form: JSON, or an HTML page (also chosen by `Accept: text/html`)"))
            }
            for name in o.pathParameters where !declared.contains(name) {
                parameters.append(APIParameter(name, in: .path, .string()))
            }
            if !parameters.isEmpty {
                op["parameters"] = .array(
                    parameters.map { p -> JSONValue in
                        var m: JSONValue = [
                            "name": .string(p.name), "in": .string(p.location.rawValue),
                            "required": .bool(p.location == .path), "schema": p.schema.json,
                        ]
                        if let d = p.description { m["description"] = .string(d) }
                        return m
                    })
            }
            if let r = o.request {
                op["requestBody"] = ["required": true, "content": ["application/json": ["schema": r.jsonSchema.json]]]
            }
            var responses: [String: JSONValue] = ["default": problem]
            for r in o.responses {
                var m: JSONValue = ["description": .string(r.description)]
                var content: [String: JSONValue] = [:]
                switch r.body {
                case .none: break
                case .json(let t):
                    content["application/json"] = ["schema": t.jsonSchema.json]
                    if o.html { content["text/html"] = ["schema": JSONSchema.string().json] }
                case .media(let type, let schema): content[type] = ["schema": schema.json]
                }
                for a in r.alternatives { content[a.type] = ["schema": a.schema.json] }
                if !content.isEmpty { m["content"] = .object(content) }
                responses[String(r.status)] = r.status >= 400 ? described(problem, r.description) : m
            }
            if o.tokenOptional {
                responses["401"] = described(problem, "a bearer token was sent, and is not valid")
                op["security"] = [[:], ["bearer": []]]
            } else if o.authenticated {
                responses["401"] = described(problem, "no valid bearer token")
            } else {
                op["security"] = []
            }
            op["responses"] = .object(responses)
            paths[o.path, default: [:]][o.method.lowercased()] = op
        }
        return [
            "openapi": "3.0.3",
            "info": ["title": .string(title), "version": .string(version), "description": .string(description)],
            "servers": [["url": "/"]],
            "security": [["bearer": []]],
            "paths": .object(paths.mapValues { .object($0) }),
            "components": [
                "securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]],
                "schemas": .object(components.mapValues { $0.definition.json }),
            ],
        ]
    }

    /// `value` (an object) with its `description` replaced.
    private func described(_ value: JSONValue, _ text: String) -> JSONValue {
        var v = value
        v["description"] = .string(text)
        return v
    }

    /// The document as JSON text (keys sorted).
    public var data: Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return (try? e.encode(json)) ?? Data("{}".utf8)
    }

    /// `getV1RunsId` for `GET /v1/runs/{id}`.
    static func operationID(_ o: APIOperation) -> String {
        let words = o.path.split(separator: "/").map {
            $0.replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")
        }
        .flatMap { $0.split(separator: ".").map(String.init) }
        return o.method.lowercased() + words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}

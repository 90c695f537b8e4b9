import Foundation
import HeavenAPI
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import Hummingbird

/// OGC API - Processes: the landing page, conformance, the API document, and published
/// processes (listed, described, deployed, replaced, undeployed: Part 1 and Part 2).
struct ProcessRoutes {
    let server: HeavenServer
    let document: DocumentBox
    var stores: Stores { server.stores }
    var publishing: Publishing { Publishing(processes: server.stores.processes) }

    static let processID = APIParameter("processID", in: .path, .string(), "the process's id (its workflow's name)")
    static let visibility = APIParameter(
        "visibility", in: .query, .string(pattern: "^(private|public|group:[^\\s:]+)$"),
        """
        who may see and execute it: `private` (the default at deploy), `group:NAME` (a group of yours) or \
        `public` (anonymous callers too)
        """
    )
    static let yamlBody = JSONSchema.described(
        .any, "the YAML documents (one Workflow, the workflows it calls, Topology documents it names)")

    /// The route list: each operation (`Operations`, which documents it) and its handler.
    func register(_ routes: inout APIRoutes) {
        routes.add(Operations.landing) { try await landing($0, $1) }
        routes.add(Operations.conformance) { try await conformance($0, $1) }
        routes.addRaw(Operations.api) { try await api($0, $1) }
        routes.add(Operations.list) { try await list($0, $1) }
        routes.addRaw(Operations.deploy) { try await deploy($0, $1) }
        routes.add(Operations.describe) { try await describe($0, $1) }
        routes.addRaw(Operations.replace) { try await replace($0, $1) }
        routes.addRaw(Operations.undeploy) { try await undeploy($0, $1) }
        routes.addRaw(Operations.package) { try await getPackage($0, $1) }
    }

    // MARK: Handlers

    /// The landing page: links to the API document, conformance, processes and jobs.
    func landing(_ request: Request, _: HeavenContext) async throws -> LandingPage {
        let base = ProcessRoutes.base(request)
        return LandingPage(
            title: "Heaven",
            description:
                "Workflows published as processes (OGC API - Processes 1.0), run on the grid behind this server",
            links: [
                OGCLink(href: base + "/", rel: "self", type: "application/json", title: "this document"),
                OGCLink(
                    href: base + "/?f=html", rel: "alternate", type: "text/html", title: "this document as HTML"),
                OGCLink(
                    href: base + "/api", rel: OGC.Rel.serviceDesc, type: OGC.openAPIMediaType,
                    title: "the API definition"),
                OGCLink(
                    href: base + "/conformance", rel: OGC.Rel.conformance, type: "application/json",
                    title: "the conformance classes implemented"),
                OGCLink(
                    href: base + "/processes", rel: OGC.Rel.processes, type: "application/json",
                    title: "the processes"),
                OGCLink(href: base + "/jobs", rel: OGC.Rel.jobList, type: "application/json", title: "the jobs"),
            ])
    }

    /// The conformance classes this server implements.
    func conformance(_: Request, _: HeavenContext) async throws -> ConformanceClasses {
        ConformanceClasses(conformsTo: OGC.conformance)
    }

    /// The OpenAPI document of every route.
    func api(_: Request, _: HeavenContext) async throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = OGC.openAPIMediaType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: document.data)))
    }

    /// The processes the caller may see, a page at a time.
    func list(_ request: Request, _ context: HeavenContext) async throws -> ProcessList {
        let limit = try Access.query("limit", of: request, as: Int.self, in: 1...1000) ?? 10
        let offset = try Access.query("offset", of: request, as: Int.self, in: 0...Int(Int32.max)) ?? 0
        let user = context.caller.user
        let found = try await stores.processes.processes(visibleTo: user, limit: limit + 1, offset: offset)
        let base = ProcessRoutes.base(request)
        var summaries: [ProcessSummary] = []
        for p in found.prefix(limit) { summaries.append(try summary(p, base: base)) }
        var links = [
            OGCLink(
                href: base + "/processes?limit=\(limit)&offset=\(offset)", rel: "self", type: "application/json"),
            OGCLink(
                href: base + "/processes?limit=\(limit)&offset=\(offset)&f=html", rel: "alternate",
                type: "text/html"),
        ]
        if found.count > limit {
            links.append(
                OGCLink(
                    href: base + "/processes?limit=\(limit)&offset=\(offset + limit)", rel: "next",
                    type: "application/json"))
        }
        if offset > 0 {
            links.append(
                OGCLink(
                    href: base + "/processes?limit=\(limit)&offset=\(max(0, offset - limit))", rel: "prev",
                    type: "application/json"))
        }
        return ProcessList(processes: summaries, links: links)
    }

    /// Publishes a workflow as a process (Part 2).
    func deploy(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let user = try context.user
        let visibility = try ProcessRoutes.visibility(request) ?? .private
        let sources = try await ProcessRoutes.documents(request, context)
        let p = try await ProcessRoutes.answer {
            try await publishing.deploy(sources, by: user, visibility: visibility)
        }
        var response = reply(try summary(p, base: ProcessRoutes.base(request)), status: .created)
        response.headers[.location] = ProcessRoutes.base(request) + "/processes/" + ProcessRoutes.segment(p.id)
        return response
    }

    /// A process's description.
    func describe(_ request: Request, _ context: HeavenContext) async throws -> ProcessBody {
        let id = try context.parameters.require("processID")
        let p = try await ProcessRoutes.answer { try await publishing.visible(id, to: context.caller.user) }
        return try description(p, base: ProcessRoutes.base(request))
    }

    /// Replaces a process with a new version (its publisher or an admin).
    func replace(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let user = try context.user
        let id = try context.parameters.require("processID")
        let visibility = try ProcessRoutes.visibility(request)
        let sources = try await ProcessRoutes.documents(request, context)
        _ = try await ProcessRoutes.answer {
            try await publishing.replace(id, with: sources, by: user, visibility: visibility)
        }
        return Response(status: .noContent)
    }

    /// Undeploys a process (its publisher or an admin).
    func undeploy(_: Request, _ context: HeavenContext) async throws -> Response {
        let user = try context.user
        let id = try context.parameters.require("processID")
        try await ProcessRoutes.answer { try await publishing.undeploy(id, by: user) }
        return Response(status: .noContent)
    }

    /// A process's documents, as published.
    func getPackage(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let id = try context.parameters.require("processID")
        let p = try await ProcessRoutes.answer { try await publishing.visible(id, to: context.caller.user) }
        let accept = request.headers[.accept]?.lowercased() ?? ""
        if accept.contains("application/json") && !accept.contains("yaml") {
            return reply(Documents(documents: p.documents.map { DocumentFile(path: $0.path, text: $0.text) }))
        }
        // One file: as it was sent. Several: one YAML stream, each file's documents after a comment naming it.
        let text =
            p.documents.count == 1
            ? p.documents[0].text
            : p.documents.map { "# \($0.path)\n" + $0.text }.joined(separator: "\n---\n")
        var headers = HTTPFields()
        headers[.contentType] = "application/yaml; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A process's summary with its links.
    func summary(_ p: ProcessRecord, base: String) throws -> ProcessSummary {
        try description(p, base: base).summary
    }

    /// A process's description with its links.
    func description(_ p: ProcessRecord, base: String) throws -> ProcessBody {
        let (_, workflow) = try server.processes.parsed(p)
        let url = base + "/processes/" + ProcessRoutes.segment(p.id)
        let links = [
            OGCLink(href: url, rel: "self", type: "application/json", title: "the process's description"),
            OGCLink(href: url + "/execution", rel: OGC.Rel.execute, title: "execute the process"),
            OGCLink(href: url + "/package", rel: "alternate", type: "application/yaml", title: "its workflow (YAML)"),
            OGCLink(
                href: base + "/jobs?processID=" + ProcessRoutes.segment(p.id), rel: OGC.Rel.jobList,
                type: "application/json", title: "its jobs"),
        ]
        let summary = ProcessDescription.summary(
            workflow, version: p.version, links: links, visibility: p.visibility.description, owner: p.owner)
        return ProcessDescription.of(workflow, summary: summary)
    }

    /// The server's URL as the client reached it (`X-Forwarded-Proto` behind a proxy
    /// that terminates TLS), for absolute links.
    static func base(_ request: Request) -> String {
        let host = request.head.authority ?? "localhost"
        let scheme = request.headers.first { $0.name.canonicalName == "x-forwarded-proto" }?.value ?? "http"
        return "\(scheme == "https" ? "https" : "http")://\(host)"
    }

    /// A process or job id as one path segment.
    static func segment(_ id: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "#?%/&=")
        return id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
    }

    /// The `visibility` query parameter (400 when not one).
    static func visibility(_ request: Request) throws -> ProcessVisibility? {
        let values = request.uri.queryParameters.getAll("visibility")
        guard let text = values.first else { return nil }
        guard values.count == 1, let v = ProcessVisibility(String(text)) else {
            throw Problem(
                .badRequest, "query parameter `visibility` must be `private`, `public` or `group:NAME`, not `\(text)`",
                type: OGC.Exception.invalidParameterValue)
        }
        return v
    }

    /// The YAML of a deploy or replace: the body as YAML, or JSON `{documents}`.
    static func documents(_ request: Request, _ context: HeavenContext) async throws -> [SourceFile] {
        let media = request.headers[.contentType]?.lowercased() ?? ""
        if media.hasPrefix("application/json") {
            let d = try await body(Documents.self, of: request, context)
            var sources: [SourceFile] = []
            if let yaml = d.yaml { sources.append(SourceFile(path: "process.yaml", text: yaml)) }
            for (i, f) in (d.documents ?? []).enumerated() {
                // The name is only that: nothing is read from the server's disk.
                sources.append(SourceFile(path: f.path ?? "document-\(i + 1).yaml", text: f.text))
            }
            return sources
        }
        let yamlTypes = [
            "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "application/ogcapppkg+yaml",
        ]
        guard yamlTypes.contains(where: media.hasPrefix) else {
            throw Problem(
                .unsupportedMediaType,
                """
                send the workflow as `Content-Type: application/yaml` (or `application/json` {documents}), not \
                \(media.isEmpty ? "no type" : "`\(media)`")
                """,
                type: OGC.Exception.unsupportedMediaType)
        }
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        guard let text = String(bytes: buffer.readableBytesView, encoding: .utf8), !text.isEmpty else {
            throw Problem(.badRequest, "the body must be the workflow's YAML (UTF-8 text)")
        }
        return [SourceFile(path: "process.yaml", text: text)]
    }

    /// Runs a publishing step, its errors as the standard's problems.
    @discardableResult
    static func answer<T>(_ step: () async throws -> T) async throws -> T {
        do {
            return try await step()
        } catch let e as PublishingError {
            switch e {
            case .invalid(let m): throw Problem(.unprocessableContent, m, type: OGC.Exception.invalidParameterValue)
            case .duplicated: throw Problem(.conflict, e.description, type: OGC.Exception.duplicatedProcess)
            case .notFound: throw Problem(.notFound, e.description, type: OGC.Exception.noSuchProcess)
            case .forbidden(let m): throw Problem(.forbidden, m)
            }
        }
    }
}

/// The operations, as the API document describes them.
extension ProcessRoutes {
    enum Operations {
        static let landing =
            APIOperation(
                "GET", "/",
                "The landing page of OGC API - Processes: links to the API document, conformance, processes and jobs",
                tag: "ogc", responses: [APIResponse(200, "the landing page", .json(LandingPage.self))],
                authenticated: false, html: true)

        static let conformance =
            APIOperation(
                "GET", "/conformance", "The conformance classes this server implements", tag: "ogc",
                responses: [APIResponse(200, "the classes", .json(ConformanceClasses.self))], authenticated: false,
                html: true)

        static let api =
            APIOperation(
                "GET", "/api", "The OpenAPI 3.0 document of every route (as /openapi.json)", tag: "ogc",
                responses: [APIResponse(200, "the document", .media(OGC.openAPIMediaType, .any))],
                authenticated: false)

        static let list =
            APIOperation(
                "GET", "/processes",
                "The processes the caller may see (anonymous callers: the public ones), by id, a page at a time",
                tag: "ogc",
                parameters: [
                    APIParameter("limit", in: .query, .integer(minimum: 1, maximum: 1000), "at most this many (10)"),
                    APIParameter(
                        "offset", in: .query, .integer(minimum: 0, maximum: Int(Int32.max)),
                        "skip this many (the `next` link says)"),
                ],
                responses: [APIResponse(200, "the processes", .json(ProcessList.self))], tokenOptional: true,
                html: true)

        static let deploy =
            APIOperation(
                "POST", "/processes",
                """
                Deploy a workflow as a process (OGC API - Processes - Part 2): its YAML as the body \
                (`application/yaml`), or `application/json` {documents: [{path, text}]} for a workflow with the \
                files it calls
                """,
                tag: "ogc", parameters: [ProcessRoutes.visibility], request: Documents.self,
                responses: [
                    APIResponse(201, "deployed: `Location` is the process's URL", .json(ProcessSummary.self)),
                    APIResponse(400, "a bad visibility"),
                    APIResponse(422, "invalid documents (FILE:LINE:COL diagnostics in detail)"),
                    APIResponse(403, "a group not yours, or `isolation: none` from a user who is not an admin"),
                    APIResponse(409, "a process with this id exists (`duplicated-process`): PUT replaces it"),
                    APIResponse(415, "neither YAML nor JSON"),
                ])

        static let describe =
            APIOperation(
                "GET", "/processes/{processID}",
                "A process's description: inputs and outputs as JSON Schema, how it executes, its links", tag: "ogc",
                parameters: [ProcessRoutes.processID],
                responses: [
                    APIResponse(200, "the description", .json(ProcessBody.self)),
                    APIResponse(404, "no such process the caller may see (`no-such-process`)"),
                ], tokenOptional: true, html: true)

        static let replace =
            APIOperation(
                "PUT", "/processes/{processID}",
                """
                Replace a process with a new version of its workflow (its publisher or an admin); jobs already \
                running keep the version they started with
                """,
                tag: "ogc", parameters: [ProcessRoutes.processID, ProcessRoutes.visibility], request: Documents.self,
                responses: [
                    APIResponse(204, "replaced"), APIResponse(400, "a bad visibility"),
                    APIResponse(422, "invalid documents, or a workflow of another name"),
                    APIResponse(403, "not the publisher"), APIResponse(404, "no such process"),
                    APIResponse(415, "neither YAML nor JSON"),
                ])

        static let undeploy =
            APIOperation(
                "DELETE", "/processes/{processID}",
                "Undeploy a process (its publisher or an admin); its jobs go on", tag: "ogc",
                parameters: [ProcessRoutes.processID],
                responses: [
                    APIResponse(204, "undeployed"), APIResponse(403, "not the publisher"),
                    APIResponse(404, "no such process"),
                ])

        static let package =
            APIOperation(
                "GET", "/processes/{processID}/package",
                """
                A process's YAML as published (several files: `Accept: application/json` gives {documents: \
                [{path, text}]})
                """,
                tag: "ogc", parameters: [ProcessRoutes.processID],
                responses: [
                    APIResponse(
                        200, "the YAML documents", .media("application/yaml", ProcessRoutes.yamlBody),
                        or: [("application/json", Documents.jsonSchema)]),
                    APIResponse(404, "no such process"),
                ], tokenOptional: true)
    }
}

import Foundation
import HeavenBroker
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import Hummingbird
import Prometheus

/// The routes of API v1 (documented in `openapi.json`, served at `/openapi.json`).
struct API: Sendable {
    let server: HeavenServer
    var store: any Store { server.store }

    func register(on router: Router<HeavenContext>) {
        router.get("/healthz") { _, _ in json(["status": "ok", "isolation": server.policy.isolation]) }
        router.get("/openapi.json") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: OpenAPI.document)))
        }
        router.get("/v1/me") { _, context in
            let u = try context.user
            return json(["name": u.name, "groups": u.groups, "admin": u.admin])
        }
        router.post("/v1/runs") { request, context in try await createRun(request, context) }
        router.get("/v1/runs") { request, context in
            let user = try context.user
            let limit = min(1000, max(1, try API.query("limit", of: request, as: Int.self) ?? 100))
            let runs = try await store.runs(visibleTo: user, limit: limit)
            var out: [[String: Any]] = []
            for r in runs { out.append(try await describe(r)) }
            return json(["runs": out])
        }
        router.get("/v1/runs/{id}") { _, context in
            // One read for the run, its counts and its shares (the most frequent request).
            let user = try context.user
            let id = try context.parameters.require("id")
            guard let view = try await store.runStatus(id), await API.mayRead(user, view.run, shares: view.shares)
            else { throw Problem(.notFound, "no run \(id)") }
            var m = try await describe(view.run)
            m["attempts"] = [
                "running": view.counts.running, "succeeded": view.counts.succeeded, "failed": view.counts.failed,
            ]
            m["shared"] = view.shares
            return json(m)
        }
        router.post("/v1/runs/{id}/cancel") { _, context in
            let run = try await ownedRun(context)
            // Asking again to cancel a cancelled run gets the same answer: it was requested.
            if run.status == .cancelled, run.cancelRequested {
                return json(["run": run.id, "cancelRequested": true], status: .accepted)
            }
            if case .alreadyEnded(let status) = try await server.engine.cancel(runID: run.id) {
                throw Problem(.conflict, "run \(run.id) has already ended (\(status.rawValue))")
            }
            return json(["run": run.id, "cancelRequested": true], status: .accepted)
        }
        router.get("/v1/runs/{id}/logs") { _, context in
            let run = try await visibleRun(context)
            let attempts = try await store.attempts(run: run.id)
            var logs: [[String: Any]] = []
            for a in attempts {
                let url = "/v1/runs/\(run.id)/logs/\(RunLayout.flat(a.taskKey))?attempt=\(a.number)"
                var entry: [String: Any] = [
                    "task": a.taskKey, "attempt": a.number, "status": a.status.rawValue, "url": url,
                    "started": iso(a.startedAt),
                ]
                if let f = a.finishedAt { entry["finished"] = iso(f) }
                if let e = a.error { entry["error"] = e }
                if let c = a.exitCode { entry["exit"] = Int(c) }
                if let site = a.site { entry["site"] = site }
                logs.append(entry)
            }
            return json(["run": run.id, "logs": logs])
        }
        router.get("/v1/runs/{id}/logs/{task}") { request, context in
            let run = try await visibleRun(context)
            let flat = try context.parameters.require("task")
            let attempts = try await store.attempts(run: run.id).filter { RunLayout.flat($0.taskKey) == flat }
            let wanted = try API.query("attempt", of: request, as: Int.self)
            guard let a = wanted.map({ n in attempts.first { $0.number == n } }) ?? attempts.last else {
                throw Problem(.notFound, "run \(run.id) has no task `\(flat)`\(wanted.map { " attempt \($0)" } ?? "")")
            }
            let layout = server.home.layout(run.id)
            var text = ""
            for stream in ["log", "out", "err"] {
                if let t = try? String(
                    contentsOfFile: layout.log(a.taskKey, attempt: a.number, stream), encoding: .utf8)
                {
                    text += t
                }
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/v1/runs/{id}/outputs/{name}") { _, context in
            let run = try await visibleRun(context)
            let name = try context.parameters.require("name")
            guard let value = run.outputs?[name] else {
                throw Problem(.notFound, "run \(run.id) has no output `\(name)`\(run.status.isFinal ? "" : " (yet)")")
            }
            guard case .file(let path) = value else { return json(["name": name, "value": plainJSON(value)]) }
            // Only files inside the run's own directory are ever served.
            let root = server.home.runDirectory(run.id)
            let real = (path as NSString).resolvingSymlinksInPath
            guard real.hasPrefix((root as NSString).resolvingSymlinksInPath + "/"),
                let data = FileManager.default.contents(atPath: real)
            else { throw Problem(.notFound, "the file of output `\(name)` is no longer there") }
            var headers = HTTPFields()
            headers[.contentType] = "application/octet-stream"
            headers[.contentDisposition] = "attachment; filename=\"\((path as NSString).lastPathComponent)\""
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/v1/runs/{id}/events") { request, context in
            let run = try await visibleRun(context)
            let fromHeader: String? = request.headers.first { $0.name.canonicalName == "last-event-id" }?.value
            guard let after = try fromHeader.map({ Int64($0) }) ?? API.query("after", of: request, as: Int64.self) ?? 0
            else { throw Problem(.badRequest, "the Last-Event-ID header is an event id (an integer)") }
            let follow = try API.query("follow", of: request, as: Bool.self) ?? true
            return events(run.id, after: after, follow: follow)
        }
        router.get("/v1/sites") { _, context in
            _ = try context.user
            let catalog = try await store.catalog()
            let health = try await store.siteHealth()
            return json([
                "sites": catalog.sites.map { e -> [String: Any] in
                    [
                        "name": e.site.name, "connector": e.site.connector.kind, "cores": e.site.totalCores,
                        "owner": (e.site.owner ?? Principal(.user, e.registeredBy)).description,
                        "status": (health[e.site.name]?.isDown(at: Date()) ?? false) ? "down" : "up",
                    ]
                }
            ])
        }
        router.post("/v1/sites") { request, context in try await register(request, context, kind: "Site") }
        router.get("/v1/grants") { _, context in
            let user = try context.user
            let catalog = try await store.catalog()
            let owned = Set(catalog.sites.filter { owns(user, $0) }.map(\.site.name))
            let mine = catalog.grants.filter { g in
                user.admin || owned.contains(g.site) || API.names(g.to, user)
            }
            return json([
                "grants": mine.map { g -> [String: Any] in
                    var m: [String: Any] = [
                        "name": g.name, "site": g.site, "to": g.to.description, "once": g.once,
                        "used": !(catalog.grantUses[g.name] ?? []).isEmpty,
                        "coreHoursUsed": catalog.coreHours[g.name] ?? 0,
                    ]
                    if let c = g.cores { m["cores"] = c }
                    if let h = g.coreHours { m["coreHours"] = h }
                    return m
                }
            ])
        }
        router.post("/v1/grants") { request, context in try await register(request, context, kind: "Grant") }
        router.post("/v1/plan") { request, context in
            let user = try context.user
            let load = try await documents(request, context, allowed: ["Topology", "Workflow"])
            guard let topology = load.documents.topologies.first else {
                throw Problem(.unprocessableContent, "the documents hold no Topology to place")
            }
            let catalog = try await store.catalog()
            switch Broker(catalog: catalog, dataAt: catalog.localSites).place(
                topology, for: Identity(user: user.name, groups: user.groups))
            {
            case .success(let p):
                let encoded = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(p))
                return json(["topology": topology.name, "placed": true, "placement": encoded])
            case .failure(let refusal):
                return json(["topology": topology.name, "placed": false, "reasons": refusal.reasons])
            }
        }
        router.get("/v1/secrets") { _, context in
            let user = try context.user
            let names = try await store.secretNames(owner: user.name)
            return json(["secrets": names.map { ["name": $0.name, "updated": iso($0.updated)] as [String: Any] }])
        }
        router.put("/v1/secrets/{name}") { request, context in
            let user = try context.user
            let name = try secretName(context)
            let body = try await jsonBody(request, context)
            guard let value = body["value"] as? String else { throw Problem(.badRequest, "send {\"value\": \"...\"}") }
            try await Secrets(home: server.home, store: store).set(owner: user.name, name: name, value: value)
            return Response(status: .noContent)
        }
        router.delete("/v1/secrets/{name}") { _, context in
            let user = try context.user
            let name = try secretName(context)
            guard try await store.deleteSecret(owner: user.name, name: name) else {
                throw Problem(.notFound, "no secret \(name)")
            }
            return Response(status: .noContent)
        }
        router.get("/metrics") { _, context in
            let user = try context.user
            guard user.admin else { throw Problem(.forbidden, "only admins read the metrics") }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok, headers: headers,
                body: .init(byteBuffer: ByteBuffer(bytes: HeavenServer.registry.emitToBuffer())))
        }
        router.get("/v1/audit") { request, context in
            let user = try context.user
            guard user.admin else { throw Problem(.forbidden, "only admins read the audit log") }
            let after = try API.query("after", of: request, as: Int64.self) ?? 0
            let records = try await store.audit(after: after, limit: 1000)
            return json([
                "audit": records.map { r -> [String: Any] in
                    [
                        "id": r.id ?? 0, "at": iso(r.at), "user": r.user ?? NSNull(), "method": r.method,
                        "path": r.path, "status": r.status,
                    ]
                }
            ])
        }
    }

    func secretName(_ context: HeavenContext) throws -> String {
        let name = try context.parameters.require("name")
        if let problem = Secrets.nameProblem(name) { throw Problem(.badRequest, problem) }
        return name
    }

    // MARK: Runs

    func createRun(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let user = try context.user
        let body = try await jsonBody(request, context)
        let load = try load(body, allowed: ["Topology", "Workflow"])
        // Isolation is the operator's decision: only an admin's workflow may leave the sandbox.
        let optOuts = load.documents.isolationOptOuts
        if !user.admin, !optOuts.isEmpty {
            throw Problem(
                .forbidden,
                optOuts.map {
                    "\($0): error: `isolation: none` is refused: on this server every task of a tenant runs sandboxed as the tenant's own uid (only an admin may run tasks outside the sandbox)"
                }.joined(separator: "\n"))
        }
        var inputs: [String: Value] = [:]
        if let given = body["inputs"] {
            guard let object = given as? [String: Any] else {
                throw Problem(.badRequest, "`inputs` must be a JSON object")
            }
            for (k, v) in object {
                let data = try JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed])
                inputs[k] = try Value(jsonData: data)
            }
        }
        let workflow = body["workflow"] as? String
        if body["workflow"] != nil && workflow == nil { throw Problem(.badRequest, "`workflow` must be a string") }
        var share: [String] = []
        if let s = body["share"] {
            guard let groups = s as? [String] else {
                throw Problem(.badRequest, "`share` must be a list of group names")
            }
            for g in groups where !user.groups.contains(g) && !user.admin {
                throw Problem(.forbidden, "you can share a run only with your own groups; you are not in `\(g)`")
            }
            share = groups
        }
        // Each submission gets its own directory: the files uploaded with it (`files`:
        // name → base64), against which relative file inputs are resolved. Its tasks may
        // stage from there and from the run's own directory, nowhere else.
        let base = server.home.root + "/server/uploads/" + UUID().uuidString.lowercased()
        try FileManager.default.createDirectory(
            atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if let files = body["files"] {
            guard let map = files as? [String: Any] else {
                throw Problem(.badRequest, "`files` must be an object: file name → its content in base64")
            }
            for (name, content) in map {
                guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.hasPrefix(".") else {
                    throw Problem(
                        .badRequest, "file name `\(name)` must be a plain name (no `/`, not starting with `.`)")
                }
                guard let text = content as? String, let data = Data(base64Encoded: text) else {
                    throw Problem(.badRequest, "file `\(name)`: its content must be base64 text")
                }
                guard FileManager.default.createFile(atPath: base + "/" + name, contents: data) else {
                    throw Problem(.internalServerError, "cannot store file `\(name)`")
                }
            }
        }
        let run: RunRecord
        do {
            run = try await server.engine.createRun(
                load: load, workflow: workflow, inputs: inputs, outDirectory: nil, user: user.name, directory: base)
        } catch let e as DiagnosticsError {
            try? FileManager.default.removeItem(atPath: base)
            throw Problem(.unprocessableContent, e.diagnostics.map(\.description).joined(separator: "\n"))
        } catch let e as EngineError {
            try? FileManager.default.removeItem(atPath: base)
            throw Problem(.unprocessableContent, "\(e)")
        }
        if !share.isEmpty { try await store.shareRun(run.id, with: share) }
        server.drive(run.id, load: load)
        var response = json(try await describe(run), status: .created)
        response.headers[.location] = "/v1/runs/\(run.id)"
        return response
    }

    /// A run the caller may see: theirs, shared with one of their groups, or any for an
    /// admin. Another's run is "not found" (its existence is not revealed).
    func visibleRun(_ context: HeavenContext) async throws -> RunRecord {
        let user = try context.user
        let id = try context.parameters.require("id")
        guard let run = try? await store.run(id), run.id == id else { throw Problem(.notFound, "no run \(id)") }
        if try await API.mayRead(user, run, shares: try await store.runShares(run.id)) { return run }
        throw Problem(.notFound, "no run \(id)")
    }

    /// Whether `user` may read `run`: theirs, any for an admin, or shared with one of
    /// their groups (`shares` is read only when it matters).
    static func mayRead(_ user: UserRecord, _ run: RunRecord, shares: @autoclosure () async throws -> [String])
        async rethrows -> Bool
    {
        if user.admin || run.user == user.name { return true }
        return try await shares().contains(where: user.groups.contains)
    }

    /// A run the caller may change: their own, or any for an admin.
    func ownedRun(_ context: HeavenContext) async throws -> RunRecord {
        let user = try context.user
        let run = try await visibleRun(context)
        guard user.admin || run.user == user.name else {
            throw Problem(
                .forbidden, "run \(run.id) belongs to \(run.user); it is shared with you to read, not to change")
        }
        return run
    }

    func describe(_ run: RunRecord) async throws -> [String: Any] {
        var m: [String: Any] = [
            "id": run.id, "workflow": run.workflow, "user": run.user, "status": run.status.rawValue,
            "created": iso(run.createdAt), "url": "/v1/runs/\(run.id)",
        ]
        if let s = run.startedAt { m["started"] = iso(s) }
        if let e = run.finishedAt { m["finished"] = iso(e) }
        if let e = run.error { m["error"] = e }
        if let outputs = run.outputs {
            var o: [String: Any] = [:]
            for (k, v) in outputs {
                if case .file = v { o[k] = ["file": "/v1/runs/\(run.id)/outputs/\(k)"] } else { o[k] = plainJSON(v) }
            }
            m["outputs"] = o
        }
        return m
    }

    /// Server-sent events: the run's events from `after` on, live, until the run ends.
    func events(_ runID: String, after: Int64, follow: Bool = true) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let store = self.store
        return Response(
            status: .ok, headers: headers,
            body: .init { writer in
                var last = after
                while true {
                    // Woken by each event this process records; a quiet stream gets a
                    // comment every 10 s (proxies keep it open), and events recorded by
                    // another process are read then.
                    let seen = store.generation(of: .events(run: runID))
                    let batch = try await store.events(run: runID, after: last, limit: 500)
                    for e in batch {
                        let data: [String: Any] = [
                            "id": e.id ?? 0, "kind": e.kind.rawValue, "task": e.taskKey ?? NSNull(),
                            "message": e.message,
                            "at": iso(e.time),
                        ]
                        let text = String(
                            decoding: try JSONSerialization.data(withJSONObject: data, options: [.sortedKeys]),
                            as: UTF8.self)
                        try await writer.write(
                            ByteBuffer(string: "id: \(e.id ?? 0)\nevent: \(e.kind.rawValue)\ndata: \(text)\n\n"))
                        last = e.id ?? last
                    }
                    if batch.isEmpty {
                        if !follow { break }
                        if let r = try await store.run(runID), r.status.isFinal { break }
                        await store.waitForChange(of: .events(run: runID), after: seen, timeout: .seconds(10))
                        if store.generation(of: .events(run: runID)) == seen {
                            try await writer.write(ByteBuffer(string: ": waiting\n\n"))
                        }
                    }
                }
                try await writer.finish(nil)
            })
    }

    // MARK: Sites and grants

    func owns(_ user: UserRecord, _ entry: Catalog.SiteEntry) -> Bool {
        API.names(entry.site.owner ?? Principal(.user, entry.registeredBy), user)
    }

    /// Whether a principal is `user` or one of their groups.
    static func names(_ p: Principal, _ user: UserRecord) -> Bool {
        p == Principal(.user, user.name) || (p.kind == .group && user.groups.contains(p.name))
    }

    /// Registers sites (by their owner or an admin) or grants (by the owner of their site
    /// or an admin).
    func register(_ request: Request, _ context: HeavenContext, kind: String) async throws -> Response {
        let user = try context.user
        let load = try await documents(request, context, allowed: [kind])
        let catalog = try await store.catalog()
        if kind == "Site" {
            guard !load.documents.sites.isEmpty else {
                throw Problem(.unprocessableContent, "the documents hold no Site")
            }
            for site in load.documents.sites {
                if !user.admin, let why = server.policy.tenantRefusal(site) {
                    throw Problem(.forbidden, "\(site.location): site `\(site.name)`: \(why)")
                }
                let owner = site.owner ?? Principal(.user, user.name)
                guard user.admin || API.names(owner, user) else {
                    throw Problem(
                        .forbidden,
                        "site `\(site.name)` would be owned by \(owner); you may register only sites you own")
                }
                if let existing = catalog.sites.first(where: { $0.site.name == site.name }), !user.admin,
                    !owns(user, existing)
                {
                    throw Problem(.forbidden, "site `\(site.name)` exists and belongs to someone else")
                }
            }
            for site in load.documents.sites { try await store.registerSite(site, by: user.name) }
            return json(["registered": load.documents.sites.map(\.name)], status: .created)
        }
        guard !load.documents.grants.isEmpty else {
            throw Problem(.unprocessableContent, "the documents hold no Grant")
        }
        for grant in load.documents.grants {
            guard let site = catalog.sites.first(where: { $0.site.name == grant.site }) else {
                throw Problem(.unprocessableContent, "grant `\(grant.name)`: no site `\(grant.site)` is registered")
            }
            guard user.admin || owns(user, site) else {
                throw Problem(.forbidden, "grant `\(grant.name)`: only the owner of site `\(grant.site)` may grant it")
            }
        }
        for grant in load.documents.grants { try await store.registerGrant(grant, by: user.name) }
        return json(["registered": load.documents.grants.map(\.name)], status: .created)
    }

    // MARK: Bodies

    /// A JSON object body (415 for another type, 400 for bad JSON).
    func jsonBody(_ request: Request, _ context: HeavenContext) async throws -> [String: Any] {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/json") else {
            throw Problem(
                .unsupportedMediaType,
                "send `Content-Type: application/json` (got \(type.isEmpty ? "none" : "`\(type)`"))")
        }
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let data = Data(buffer.readableBytesView)
        guard let any = try? JSONSerialization.jsonObject(with: data), let object = any as? [String: Any] else {
            throw Problem(.badRequest, "the body is not a JSON object")
        }
        return object
    }

    /// `{"documents": [{"path": "w.yaml", "text": "..."}]}` (or `{"yaml": "..."}`),
    /// loaded and checked; only documents of the allowed kinds.
    func load(_ body: [String: Any], allowed: Set<String>) throws -> LoadResult {
        var sources: [SourceFile] = []
        if let yaml = body["yaml"] {
            guard let text = yaml as? String else { throw Problem(.badRequest, "`yaml` must be a string") }
            sources.append(SourceFile(path: "request.yaml", text: text))
        }
        if let docs = body["documents"] {
            guard let list = docs as? [[String: Any]] else {
                throw Problem(.badRequest, "`documents` must be a list of {path, text} objects")
            }
            for (i, d) in list.enumerated() {
                guard let text = d["text"] as? String else {
                    throw Problem(.badRequest, "documents[\(i)] has no `text` string")
                }
                let path = (d["path"] as? String).map { ($0 as NSString).lastPathComponent } ?? "document-\(i + 1).yaml"
                sources.append(SourceFile(path: path, text: text))
            }
        }
        guard !sources.isEmpty else { throw Problem(.badRequest, "no documents: send `documents` (or `yaml`)") }
        let load = Loader.load(sources: sources)
        guard load.isValid else {
            throw Problem(.unprocessableContent, load.diagnostics.map(\.description).joined(separator: "\n"))
        }
        let d = load.documents
        let present: [(String, Int)] = [
            ("Site", d.sites.count), ("Grant", d.grants.count), ("Topology", d.topologies.count),
            ("Workflow", d.workflows.count),
        ]
        for (kind, count) in present where count > 0 && !allowed.contains(kind) {
            let hint =
                kind == "Site" ? " (register sites with POST /v1/sites)" : kind == "Grant" ? " (POST /v1/grants)" : ""
            throw Problem(.unprocessableContent, "\(kind) documents are not accepted here\(hint)")
        }
        return load
    }

    func documents(_ request: Request, _ context: HeavenContext, allowed: Set<String>) async throws -> LoadResult {
        try load(try await jsonBody(request, context), allowed: allowed)
    }

    /// A query parameter of the type the API document gives it: nil when absent, a 400
    /// problem when given twice or not of that type (a boolean is `true`/`false`, or `1`/`0`).
    static func query<T: LosslessStringConvertible>(_ name: String, of request: Request, as type: T.Type) throws -> T? {
        let values = request.uri.queryParameters.getAll(name)
        guard let text = values.first else { return nil }
        guard values.count == 1 else {
            throw Problem(.badRequest, "query parameter `\(name)` is given \(values.count) times")
        }
        let value: T?
        if T.self == Bool.self {
            value = (["true": true, "1": true, "false": false, "0": false] as [String: Bool])[text] as? T
        } else {
            value = T(text)
        }
        guard let value else {
            throw Problem(
                .badRequest,
                "query parameter `\(name)` must be \(T.self == Bool.self ? "true or false" : "an integer"), not `\(text)`"
            )
        }
        return value
    }

}

/// A value as plain JSON (for JSONSerialization).
func plainJSON(_ v: Value) -> Any {
    (try? JSONSerialization.jsonObject(with: Data(v.plain.jsonText.utf8), options: [.fragmentsAllowed])) ?? NSNull()
}

/// A JSON response.
func json(_ object: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
    let data =
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))

}

/// A time as ISO 8601 with milliseconds (one format style for every call).
func iso(_ date: Date) -> String { isoStyle.format(date) }

private let isoStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

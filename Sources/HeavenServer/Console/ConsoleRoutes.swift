import Crypto
import Foundation
import HTTPTypes
import HeavenAPI
import HeavenApplication
import HeavenBroker
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import Hummingbird
import Mustache

/// The web console at `/console`: server-rendered pages (Mustache templates in the
/// binary), one small script for live updates from the server's own event streams.
/// Signed in with an API token, which opens a session (an HttpOnly, SameSite=Strict
/// cookie; its SHA-256 and expiry kept in the store; ended by signing out). Every
/// state-changing form carries the session's CSRF token; the Content-Security-Policy
/// allows scripts, styles and everything else from this server only, and no inline
/// script or style. A user sees what the API shows them: another's run is 404 here too.
struct ConsoleRoutes {
    let server: HeavenServer
    let access: Access
    let library: MustacheLibrary
    var stores: Stores { server.stores }
    var runs: RunRoutes { RunRoutes(server: server, access: access) }

    static let cookie = "heaven_session"
    /// How long a session lasts.
    static let lifetime: TimeInterval = 12 * 3600
    static let policy =
        """
        default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action \
        'self'; frame-ancestors 'none'; base-uri 'none'
        """

    init(server: HeavenServer, access: Access) throws {
        self.server = server
        self.access = access
        var library = MustacheLibrary()
        for (name, text) in [
            ("layout", ConsoleAssets.layout), ("login", ConsoleAssets.login), ("runs", ConsoleAssets.runs),
            ("run", ConsoleAssets.run), ("log", ConsoleAssets.log), ("sites", ConsoleAssets.sites),
            ("processes", ConsoleAssets.processes), ("submit", ConsoleAssets.submit),
            ("account", ConsoleAssets.account), ("notFound", ConsoleAssets.notFound),
            ("runsTable", ConsoleAssets.runsTable), ("placement", ConsoleAssets.placement),
            ("outputs", ConsoleAssets.outputs), ("costs", ConsoleAssets.costs), ("field", ConsoleAssets.field),
            ("node", ConsoleAssets.node), ("gantt", ConsoleAssets.gantt),
            ("counts", ConsoleAssets.counts), ("graph", ConsoleAssets.graph), ("legend", ConsoleAssets.legend),
        ] {
            try library.register(text, named: name)
        }
        self.library = library
    }

    /// The signed-in caller of a console request.
    struct Caller {
        var user: UserRecord
        var session: ConsoleSession
        var hash: String
    }

    func register(on router: Router<HeavenContext>) {
        router.get("/console/static/console.css") { _, _ in
            ConsoleRoutes.asset(ConsoleAssets.css, type: "text/css; charset=utf-8")
        }
        router.get("/console/static/console.js") { _, _ in
            ConsoleRoutes.asset(ConsoleAssets.script, type: "text/javascript; charset=utf-8")
        }
        router.get("/console/login") { request, _ in
            if try await caller(request) != nil { return ConsoleRoutes.redirect("/console") }
            return page("login", title: "Sign in", [String: String](), caller: nil)
        }
        router.post("/console/login") { request, context in try await login(request, context) }
        router.post("/console/logout") { request, context in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            try await checkForm(request, context, c)
            _ = try await stores.accounts.endSession(hash: c.hash)
            var r = ConsoleRoutes.redirect("/console/login")
            r.headers[.setCookie] = ConsoleRoutes.cookieHeader("", request: request, maxAge: 0)
            return r
        }
        router.get("/console") { request, _ in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            return try await runsPage(request, c)
        }
        router.get("/console/runs.table") { request, _ in
            let c = try await required(request)
            return ConsoleRoutes.fragment(
                library.render(try await runsTable(request, c), withTemplate: "runsTable") ?? "")
        }
        router.get("/console/runs.counts") { request, _ in
            let c = try await required(request)
            let counts = try await counts(request, c).map { ["status": $0.status, "count": "\($0.count)"] }
            return ConsoleRoutes.fragment(library.render(["counts": counts], withTemplate: "counts") ?? "")
        }
        router.get("/console/runs.events") { request, _ in try await runsEvents(request, try await required(request)) }
        router.get("/console/runs/{id}") { request, context in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            guard let run = try await visibleRun(context, c) else {
                return notFound(c, "no run \(try context.parameters.require("id"))")
            }
            return try await runPage(request, run, c)
        }
        router.get("/console/runs/{id}/graph") { request, context in
            let c = try await required(request)
            guard let run = try await visibleRun(context, c) else { throw Problem(.notFound, "no such run") }
            let graph = try await picture(request, run).graph
            return ConsoleRoutes.fragment(
                library.render(graph.map { ["graph": $0] } ?? [:], withTemplate: "graph") ?? "")
        }
        router.get("/console/runs/{id}/gantt") { request, context in
            let c = try await required(request)
            guard let run = try await visibleRun(context, c) else { throw Problem(.notFound, "no such run") }
            return ConsoleRoutes.fragment(
                library.render(try await picture(request, run).gantt, withTemplate: "gantt") ?? "")
        }
        router.get("/console/runs/{id}/events") { request, context in
            let c = try await required(request)
            guard let run = try await visibleRun(context, c) else { throw Problem(.notFound, "no such run") }
            let routes = self
            return runs.events(run.id, after: 0) {
                // Still signed in, and still allowed to read the run.
                guard let now = try? await routes.caller(request) else { return false }
                return (try? await routes.access.run(run.id, visibleTo: now.user)) != nil
            }
        }
        router.post("/console/runs/{id}/cancel") { request, context in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            try await checkForm(request, context, c)
            let run = try await ownedRun(context, c)
            try await runs.cancel(run)
            return ConsoleRoutes.redirect("/console/runs/\(run.id)")
        }
        router.post("/console/runs/{id}/resume") { request, context in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            try await checkForm(request, context, c)
            let run = try await ownedRun(context, c)
            _ = try await runs.resume(run)
            return ConsoleRoutes.redirect("/console/runs/\(run.id)")
        }
        router.get("/console/runs/{id}/logs/{task}") { request, context in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            guard let run = try await visibleRun(context, c) else { return notFound(c, "no such run") }
            return try await logPage(request, context, run, c)
        }
        router.get("/console/runs/{id}/logs/{task}/text") { request, context in
            let c = try await required(request)
            guard let run = try await visibleRun(context, c) else { throw Problem(.notFound, "no such run") }
            let (attempt, text) = try await log(request, context, run, c)
            let body = try JSONSerialization.data(withJSONObject: [
                "text": text, "running": attempt.status == .running,
            ])
            var headers = ConsoleRoutes.headers("application/json")
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/console/runs/{id}/outputs/{name}") { request, context in
            let c = try await required(request)
            guard let run = try await visibleRun(context, c) else { throw Problem(.notFound, "no such run") }
            return try await output(request, context, run)
        }
        router.get("/console/sites") { request, _ in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            return try await sitesPage(c)
        }
        registerSubmissions(on: router)
        registerAccounts(on: router)
    }

    // MARK: Sessions

    /// The session the request's cookie names, live, and its user.
    func caller(_ request: Request) async throws -> Caller? {
        guard let value = ConsoleRoutes.cookieValue(request), !value.isEmpty else { return nil }
        let hash = Tokens.hash(value)
        guard let (session, user) = try await stores.accounts.session(hash: hash), session.isLive(at: Date()) else {
            return nil
        }
        return Caller(user: user, session: session, hash: hash)
    }

    /// A caller, or 401 (fragments and event streams, which a script asks for).
    func required(_ request: Request) async throws -> Caller {
        guard let c = try await caller(request) else { throw Problem(.unauthorized, "sign in at /console/login") }
        return c
    }

    static func cookieValue(_ request: Request) -> String? {
        for field in request.headers where field.name.canonicalName == "cookie" {
            for part in field.value.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == cookie { return String(kv[1]) }
            }
        }
        return nil
    }

    /// Behind a proxy that terminates TLS, the cookie is `Secure`.
    static func cookieHeader(_ value: String, request: Request, maxAge: Int) -> String {
        let secure =
            request.headers.first { $0.name.canonicalName == "x-forwarded-proto" }?.value.lowercased() == "https"
        return
            "\(cookie)=\(value); Path=/console; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)\(secure ? "; Secure" : "")"
    }

    /// A form's fields (`application/x-www-form-urlencoded`, at most 64 KiB).
    static func form(_ request: Request, _ context: HeavenContext) async throws -> [String: String] {
        let media = request.headers[.contentType]?.lowercased() ?? ""
        guard media.hasPrefix("application/x-www-form-urlencoded") else {
            throw Problem(.unsupportedMediaType, "a console form is application/x-www-form-urlencoded")
        }
        let buffer = try await request.body.collect(upTo: 65536)
        var c = URLComponents()
        c.percentEncodedQuery = String(decoding: buffer.readableBytesView, as: UTF8.self).replacingOccurrences(
            of: "+", with: "%20")
        var fields: [String: String] = [:]
        for item in c.queryItems ?? [] { fields[item.name] = item.value ?? "" }
        return fields
    }

    /// A state-changing form: from this server's own pages (Origin), with the session's CSRF token.
    func checkForm(_ request: Request, _ context: HeavenContext, _ c: Caller) async throws {
        try ConsoleRoutes.sameOrigin(request)
        try ConsoleRoutes.checkCSRF(try await ConsoleRoutes.form(request, context)["csrf"], c)
    }

    /// The session's CSRF token, as a form sent it (compared in constant time).
    static func checkCSRF(_ sent: String?, _ c: Caller) throws {
        let sent = Data((sent ?? "").utf8)
        let expected = Data(c.session.csrf.utf8)
        guard sent.count == expected.count, zip(sent, expected).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw Problem(.forbidden, "this form is stale or was not sent from the console: reload the page")
        }
    }

    static func sameOrigin(_ request: Request) throws {
        guard let origin = request.headers.first(where: { $0.name.canonicalName == "origin" })?.value,
            origin != "null"
        else { return }
        guard let host = URL(string: origin).flatMap({ u in u.host.map { $0 + (u.port.map { ":\($0)" } ?? "") } }),
            host == request.head.authority
        else { throw Problem(.forbidden, "a console form is sent from the console's own pages") }
    }

    func login(_ request: Request, _ context: HeavenContext) async throws -> Response {
        try ConsoleRoutes.sameOrigin(request)
        let token =
            (try await ConsoleRoutes.form(request, context))["token"]?.trimmingCharacters(in: .whitespaces)
            ?? ""
        var user: UserRecord?
        if Tokens.isWellFormed(token), let (t, u) = try await stores.accounts.token(hash: Tokens.hash(token)),
            t.problem(at: Date()) == nil
        {
            user = u
        }
        guard let user else {
            var r = page("login", title: "Sign in", ["error": "that token is not a valid one"], caller: nil)
            r.status = .unauthorized
            return r
        }
        let secret = Tokens.make().token
        let csrf = Tokens.make().token
        let now = Date()
        try await stores.accounts.openSession(
            ConsoleSession(
                user: user.name, csrf: csrf, createdAt: now, expiresAt: now.addingTimeInterval(ConsoleRoutes.lifetime)),
            hash: Tokens.hash(secret))
        var r = ConsoleRoutes.redirect("/console")
        r.headers[.setCookie] = ConsoleRoutes.cookieHeader(
            secret, request: request, maxAge: Int(ConsoleRoutes.lifetime))
        return r
    }

    // MARK: Pages

    static func headers(_ type: String) -> HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[HTTPField.Name("Content-Security-Policy")!] = policy
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        headers[.cacheControl] = "no-store"
        return headers
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers = headers(type)
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func fragment(_ html: String) -> Response {
        Response(
            status: .ok, headers: headers("text/html; charset=utf-8"), body: .init(byteBuffer: ByteBuffer(string: html))
        )
    }

    static func redirect(_ location: String) -> Response {
        var headers = headers("text/plain")
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    /// A page: a template's body (drawn from `values`, a view or a dictionary) in the layout.
    func page(
        _ template: String, title: String, _ values: any Sendable, caller: Caller?, run: RunRecord? = nil,
        process: String? = nil
    ) -> Response {
        var layout = LayoutView(title: title, body: library.render(values, withTemplate: template) ?? "")
        (layout.user, layout.csrf) = (caller?.user.name, caller?.session.csrf)
        (layout.run, layout.status, layout.process) = (run?.id, run?.status.rawValue, process)
        let html = library.render(layout, withTemplate: "layout") ?? ""
        return Response(
            status: .ok, headers: ConsoleRoutes.headers("text/html; charset=utf-8"),
            body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    func notFound(_ c: Caller, _ detail: String) -> Response {
        var r = page("notFound", title: "Not found", ["detail": detail], caller: c)
        r.status = .notFound
        return r
    }

    /// A run the caller may see (nil: not found, whether absent or another's).
    func visibleRun(_ context: HeavenContext, _ c: Caller) async throws -> RunRecord? {
        try await access.run(try context.parameters.require("id"), visibleTo: c.user)
    }

    func ownedRun(_ context: HeavenContext, _ c: Caller) async throws -> RunRecord {
        guard let run = try await visibleRun(context, c) else { throw Problem(.notFound, "no such run") }
        if let refusal = Access.changeRefusal(c.user, run) { throw refusal }
        return run
    }

    // MARK: Runs

    /// The runs the page lists: the caller's (and those shared with them), newest first,
    /// filtered by `status` and `workflow`.
    func listed(_ request: Request, _ c: Caller) async throws -> (all: [RunRecord], shown: [RunRecord]) {
        let all = try await server.queries.runs(readBy: c.user, limit: 500)
        let status = request.uri.queryParameters.get("status").flatMap { RunStatus(rawValue: String($0)) }
        let workflow = request.uri.queryParameters.get("workflow").map { String($0) } ?? ""
        let shown = all.filter { r in
            (status == nil || r.status == status) && (workflow.isEmpty || r.workflow.contains(workflow))
        }
        return (all, shown)
    }

    func counts(_ request: Request, _ c: Caller) async throws -> [(status: String, count: Int)] {
        let all = try await listed(request, c).all
        return RunStatus.allCases.map { s in (s.rawValue, all.filter { $0.status == s }.count) }.filter { $0.1 > 0 }
    }

    func runsTable(_ request: Request, _ c: Caller) async throws -> RunsTableView {
        RunsTableView(try await listed(request, c).shown)
    }

    func runsPage(_ request: Request, _ c: Caller) async throws -> Response {
        let status = request.uri.queryParameters.get("status").map { String($0) } ?? ""
        let view = RunsPageView(
            counts: try await counts(request, c).map { .init(status: $0.status, count: $0.count) },
            statuses: RunStatus.allCases.map { .init(value: $0.rawValue, selected: $0.rawValue == status) },
            workflow: request.uri.queryParameters.get("workflow").map { String($0) } ?? "",
            table: try await runsTable(request, c))
        return page("runs", title: "Runs", view, caller: c)
    }

    /// Tells the runs page when what it shows changed (a run created, or its status), so
    /// that it fetches its table again. Woken by the store's changes of runs (any run:
    /// the caller's list is read again then, at most twice a second however busy the
    /// server, and every 10 s for what another process changed); a comment after 10 s
    /// without news; a signed-out session's stream ends.
    func runsEvents(_ request: Request, _ c: Caller) async throws -> Response {
        var headers = ConsoleRoutes.headers("text/event-stream")
        headers[.cacheControl] = "no-cache"
        let routes = self
        let changes = stores.changes
        return Response(
            status: .ok, headers: headers,
            body: .init { writer in
                var seen = changes.generation(of: .runs)
                var last = try await routes.listed(request, c).all.map { "\($0.id):\($0.status.rawValue)" }
                // A comment once the list it compares with is read: what changes from now on is told.
                try await writer.write(ByteBuffer(string: ": listening\n\n"))
                var read = ContinuousClock.now
                var quietSince = ContinuousClock.now
                while true {
                    try Task.checkCancellation()
                    await changes.waitForChange(of: .runs, after: seen, timeout: read + .seconds(10) - .now)
                    try await Task.sleep(until: read + .milliseconds(500))
                    guard try await routes.caller(request) != nil else { break }
                    // Read again on a change here, or every 10 s (what another process
                    // sharing the store changed).
                    if changes.generation(of: .runs) != seen || ContinuousClock.now - read >= .seconds(10) {
                        seen = changes.generation(of: .runs)
                        read = .now
                        let now = try await routes.listed(request, c).all.map { "\($0.id):\($0.status.rawValue)" }
                        if now != last {
                            last = now
                            try await writer.write(ByteBuffer(string: "event: changed\ndata: {}\n\n"))
                            quietSince = .now
                        }
                    }
                    if ContinuousClock.now - quietSince >= .seconds(10) {
                        try await writer.write(ByteBuffer(string: ": waiting\n\n"))
                        quietSince = .now
                    }
                }
                try await writer.finish(nil)
            })
    }

    /// What a run's page draws, from its documents (`load`: as the caller read them)
    /// and attempts.
    func picture(_ request: Request, _ run: RunRecord, load given: LoadResult? = nil) async throws -> (
        graph: GraphNode?, gantt: GanttView
    ) {
        let expand = request.uri.queryParameters.getAll("expand").map {
            String($0).removingPercentEncoding ?? String($0)
        }
        // What changed since this server's last look at the run (the first: all of it).
        let sight = try await server.sights.look(run.id, runs: stores.runs)
        let load: LoadResult?
        if let given { load = given } else { load = await self.load(of: run) }
        let workflow = load?.documents.workflow(named: run.workflow)
        return await sight.draw(
            workflow, documents: load?.documents, expanded: Set(expand.flatMap { [$0 + "#", $0 + "@"] }),
            from: request.uri.queryParameters.get("from").flatMap { Int(String($0)) } ?? 0)
    }

    func runPage(_ request: Request, _ run: RunRecord, _ c: Caller) async throws -> Response {
        // The run's documents, read once for the graph, "run again" and the placement.
        let load = await self.load(of: run)
        let (graph, gantt) = try await picture(request, run, load: load)
        let owns = c.user.admin || run.user == c.user.name
        let duration = run.startedAt.map { s in
            Wording.duration((run.finishedAt ?? Date()).timeIntervalSince(s))
        }
        var values = RunPageView(
            id: run.id, workflow: run.workflow, user: run.user, status: run.status.rawValue,
            created: ConsoleRoutes.time(run.createdAt), csrf: c.session.csrf, cancellable: owns && !run.status.isFinal,
            resumable: owns && (run.status == .failed || run.status == .interrupted), graph: graph, gantt: gantt,
            outputs: OutputsView(run, previews: Preview.available))
        // A priced job: what it cost, movement by movement (its bill).
        if run.process != nil, let charge = try await stores.ledger.charge(job: run.id) {
            values.costs = CostsView(charge, try await stores.ledger.transactions(job: run.id))
        }
        if let p = run.process {
            values.again = ConsoleRoutes.again(p, run.id)
        } else if let load, ConsoleRoutes.documents(of: run, load: load) != nil {
            values.again = "/console/runs/\(run.id)/again"
        }
        (values.duration, values.error) = (duration, run.error)
        if let placement = try await stores.catalog.placement(run: run.id) {
            var sites: [String: Site] = [:]
            for s in load?.documents.sites ?? [] { sites[s.name] = s }
            for e in try await stores.catalog.catalog().sites { sites[e.site.name] = e.site }
            values.placement = PlacementView(
                placement, topology: load?.documents.topology(named: placement.topology), sites: sites)
        }
        return page(
            "run", title: "\(run.workflow) \(run.id)", values, caller: c, run: run)
    }

    /// An output's file (only inside the run's own directory), or its value as JSON.
    func output(_ request: Request, _ context: HeavenContext, _ run: RunRecord) async throws -> Response {
        let name = try context.parameters.require("name")
        guard var value = run.outputs?[name] else { throw Problem(.notFound, "no output `\(name)`") }
        if let item = request.uri.queryParameters.get("item").flatMap({ Int(String($0)) }) {
            guard case .list(let items) = value, item >= 0, item < items.count else {
                throw Problem(.notFound, "no item \(item)")
            }
            value = items[item]
        }
        guard case .file(let path) = value else {
            return Response(
                status: .ok, headers: ConsoleRoutes.headers("application/json"),
                body: .init(byteBuffer: ByteBuffer(string: JSONValue(value).jsonText)))
        }
        // Only regular files beneath the run's own directory, opened with its tenant's rights.
        let file = try await server.openRunFile(path, of: run)
        // A GeoTIFF seen in the page: a PNG of it made by GDAL in the tenant's sandbox
        // (cached by content).
        switch request.uri.queryParameters.get("preview") {
        case "png":
            let data = try await Preview(server: server).png(of: file, run: run)
            var headers = ConsoleRoutes.headers("image/png")
            headers[.cacheControl] = "private, max-age=3600"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        case "legend":
            // What the preview's colours mean: SVG made here from numbers, no script.
            let legend = try await Preview(server: server).preview(of: file, run: run).legend
            let svg = library.render(legend.view, withTemplate: "legend") ?? ""
            var headers = ConsoleRoutes.headers("image/svg+xml")
            headers[.cacheControl] = "private, max-age=3600"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: svg)))
        case nil: break
        case let other?:
            throw Problem(.badRequest, "query parameter `preview` is `png` or `legend` (got `\(other)`)")
        }
        var headers = ConsoleRoutes.headers(ProcessDescription.mediaType(of: path) ?? "application/octet-stream")
        headers[.contentDisposition] = "inline; filename=\"\((path as NSString).lastPathComponent)\""
        return HeavenServer.streaming(file, headers: headers)
    }

    // MARK: Logs

    func log(_ request: Request, _ context: HeavenContext, _ run: RunRecord, _ c: Caller) async throws -> (
        AttemptRecord, String
    ) {
        try await access.checkNotWithheld(run, for: c.user)
        let sent = try context.parameters.require("task")
        let flat = sent.removingPercentEncoding ?? sent
        let attempts = try await stores.runs.attempts(run: run.id).filter { RunLayout.flat($0.taskKey) == flat }
        let wanted = request.uri.queryParameters.get("attempt").flatMap { Int(String($0)) }
        guard let a = wanted.map({ n in attempts.first { $0.number == n } }) ?? attempts.last else {
            throw Problem(.notFound, "no such task or attempt")
        }
        let layout = server.home.layout(run.id)
        var text = ""
        for stream in ["log", "out", "err"] {
            if let t = try? String(contentsOfFile: layout.log(a.taskKey, attempt: a.number, stream), encoding: .utf8) {
                text += t
            }
        }
        // At most the last megabyte.
        if text.utf8.count > 1 << 20 { text = "…" + String(text.suffix(1 << 20)) }
        return (a, text)
    }

    func logPage(_ request: Request, _ context: HeavenContext, _ run: RunRecord, _ c: Caller) async throws -> Response {
        let (a, text) = try await log(request, context, run, c)
        let flat = RunRoutes.pathSegment(RunLayout.flat(a.taskKey))
        let view = LogPageView(
            task: a.taskKey, attempt: a.number, status: a.status.rawValue, run: run.id, text: text,
            source: "/console/runs/\(run.id)/logs/\(flat)/text?attempt=\(a.number)",
            follow: a.status == .running ? "true" : "false", site: a.site)
        return page("log", title: "log of \(a.taskKey)", view, caller: c)
    }

    // MARK: Sites

    func sitesPage(_ c: Caller) async throws -> Response {
        let view = SitesView(try await stores.catalog.catalog(), health: try await stores.catalog.siteHealth())
        return page("sites", title: "Sites", view, caller: c)
    }

    static func time(_ d: Date) -> String {
        d.formatted(
            Date.ISO8601FormatStyle().year().month().day().dateTimeSeparator(.space).time(
                includingFractionalSeconds: false))
    }
}

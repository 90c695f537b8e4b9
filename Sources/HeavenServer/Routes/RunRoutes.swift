import Foundation
import HeavenAPI
import HeavenApplication
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import Hummingbird

/// Runs: submitted, listed, read, cancelled; their logs, outputs and events.
struct RunRoutes {
    let server: HeavenServer
    let access: Access
    var stores: Stores { server.stores }

    static let id = APIParameter("id", in: .path, .string(), "the run's id")

    /// One server-sent event of a run.
    static let serverSentEvent = JSONSchema.object(
        [
            ("id", .string(pattern: "^[0-9]+$")), ("event", EventKind.jsonSchema),
            ("data", .described(.string(), "an EventView, as JSON")),
        ], required: ["id", "event", "data"])

    /// The route list: each operation (`Operations`, which documents it) and its handler.
    func register(_ routes: inout APIRoutes) {
        routes.add(Operations.submit, status: .created) { try await createRun($0, $1) }
        routes.add(Operations.list) { try await list($0, $1) }
        routes.add(Operations.status) { try await status($0, $1) }
        routes.add(Operations.resumeRun, status: .accepted) { try await resumeRun($0, $1) }
        routes.add(Operations.cancelRun, status: .accepted) { try await cancelRun($0, $1) }
        routes.add(Operations.logs) { try await logs($0, $1) }
        routes.addRaw(Operations.log) { try await log($0, $1) }
        routes.addRaw(Operations.output) { try await output($0, $1) }
        routes.addRaw(Operations.eventStream) { try await eventStream($0, $1) }
    }

    // MARK: Handlers

    /// The runs the caller may see, newest first.
    func list(_ request: Request, _ context: HeavenContext) async throws -> RunList {
        let user = try context.user
        let limit = try Access.query("limit", of: request, as: Int.self, in: 1...1000) ?? 100
        return RunList(runs: try await server.queries.runs(readBy: user, limit: limit).map(view))
    }

    /// A run with its attempts' counts and shares, in one read.
    func status(_ _: Request, _ context: HeavenContext) async throws -> RunView {
        // One read for the run, its counts and its shares (the most frequent request).
        let user = try context.user
        let id = try context.parameters.require("id")
        guard let status = try await server.queries.status(id, readBy: user) else {
            throw Problem(.notFound, "no run \(id)")
        }
        var v = view(status.run)
        v.attempts = AttemptTally(
            running: status.counts.running, succeeded: status.counts.succeeded, failed: status.counts.failed)
        v.shared = status.shares
        return v
    }

    /// Resumes a run of the caller's.
    func resumeRun(_ _: Request, _ context: HeavenContext) async throws -> RunView {
        view(try await resume(try await access.ownedRun(context)))
    }

    /// Cancels a run of the caller's.
    func cancelRun(_ _: Request, _ context: HeavenContext) async throws -> CancelRequested {
        let run = try await access.ownedRun(context)
        try await cancel(run)
        return CancelRequested(run: run.id)
    }

    /// The attempts of a run, each with its log's URL.
    func logs(_ _: Request, _ context: HeavenContext) async throws -> LogList {
        let run = try await access.visibleRun(context)
        let attempts = try await stores.runs.attempts(run: run.id)
        return LogList(
            run: run.id,
            logs: attempts.map { a in
                LogEntry(
                    task: a.taskKey, attempt: a.number, status: a.status,
                    url:
                        "/v1/runs/\(run.id)/logs/\(RunRoutes.pathSegment(RunLayout.flat(a.taskKey)))"
                        + "?attempt=\(a.number)",
                    started: a.startedAt, finished: a.finishedAt, error: a.error, exit: a.exitCode.map(Int.init),
                    site: a.site, node: a.node)
            })
    }

    /// A task's log (its latest attempt, or the one asked for).
    func log(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let run = try await access.visibleRun(context)
        // The key as sent (`#` percent-encoded), decoded.
        let sent = try context.parameters.require("task")
        let flat = sent.removingPercentEncoding ?? sent
        let attempts = try await stores.runs.attempts(run: run.id).filter { RunLayout.flat($0.taskKey) == flat }
        let wanted = try Access.query("attempt", of: request, as: Int.self, in: 1...Int(Int32.max))
        guard let a = wanted.map({ n in attempts.first { $0.number == n } }) ?? attempts.last else {
            throw Problem(.notFound, "run \(run.id) has no task `\(flat)`\(wanted.map { " attempt \($0)" } ?? "")")
        }
        try await access.checkNotWithheld(run, for: try context.user)
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

    /// A run's output: the file itself (opened as the run's tenant), or its value.
    func output(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let run = try await access.visibleRun(context)
        let name = try context.parameters.require("name")
        guard var value = run.outputs?[name] else {
            throw Problem(.notFound, "run \(run.id) has no output `\(name)`\(run.status.isFinal ? "" : " (yet)")")
        }
        if let item = try Access.query("item", of: request, as: Int.self) {
            guard case .list(let items) = value, item >= 0, item < items.count, case .file = items[item] else {
                throw Problem(.notFound, "output `\(name)` of run \(run.id) has no file at index \(item)")
            }
            value = items[item]
        }
        guard case .file(let path) = value else { return reply(OutputValue(name: name, value: JSONValue(value))) }
        // Only regular files beneath the run's own directory, opened with its tenant's rights.
        let file = try await server.openRunFile(path, of: run)
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        headers[.contentDisposition] = "attachment; filename=\"\((path as NSString).lastPathComponent)\""
        return HeavenServer.streaming(file, headers: headers)
    }

    /// The run's events, as server-sent events.
    func eventStream(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let run = try await access.visibleRun(context)
        let user = try context.user
        let fromHeader: String? = request.headers.first { $0.name.canonicalName == "last-event-id" }?.value
        guard
            let after = try fromHeader.map({ Int64($0) }) ?? Access.query("after", of: request, as: Int64.self) ?? 0
        else { throw Problem(.badRequest, "the Last-Event-ID header is an event id (an integer)") }
        let follow = try Access.query("follow", of: request, as: Bool.self) ?? true
        let (access, token) = (access, request.headers[.authorization])
        return events(run.id, after: after, follow: follow) {
            // Still this token's user's (not revoked), who may still read the run.
            guard let token, let now = try? await Tokens.user(authorization: token, store: access.stores.accounts),
                now.name == user.name
            else {
                return false
            }
            return (try? await access.run(run.id, visibleTo: now)) != nil
        }
    }

    /// Resumes a failed or interrupted run (the API and the console; the rule is
    /// `RunControl`'s): 409 when it succeeded, was cancelled, or is running. It is pending
    /// from then on, and this server drives it.
    func resume(_ run: RunRecord) async throws -> RunRecord {
        let resumed: RunRecord
        do {
            resumed = try await server.control.resume(run, drivenHere: server.isDriving(run.id))
        } catch let e as ApplicationError { throw Problem(e) }
        server.drive(run.id)
        return resumed
    }

    /// Cancels a run (the API and the console); asking again for a run cancelled on
    /// request is fine; 409 when it ended otherwise.
    func cancel(_ run: RunRecord) async throws {
        do { _ = try await server.control.cancel(run) } catch let e as ApplicationError { throw Problem(e) }
    }

    /// The starts and ends of a run's attempts, told once each as the stream sees them;
    /// each look reads what changed since the last (`RunStore.attemptChanges`).
    struct TaskEvents {
        private var told: [String: AttemptStatus] = [:]
        private var lastID: Int64 = 0
        private var running: Set<Int64> = []

        /// What changed since the last look, as events at stream position `position`.
        mutating func look(_ runs: any RunStore, run: String, position: Int64) async throws -> [EventView] {
            let changed = try await runs.attemptChanges(run: run, after: lastID, running: Array(running))
            for a in changed {
                lastID = max(lastID, a.id)
                if a.status == .running { running.insert(a.id) } else { running.remove(a.id) }
            }
            return changes(changed, position: position)
        }

        mutating func changes(_ attempts: [AttemptSummary], position: Int64) -> [EventView] {
            var out: [EventView] = []
            for a in attempts {
                let key = "\(a.taskKey)#\(a.number)"
                let before = told[key]
                if before == a.status { continue }
                told[key] = a.status
                let place = a.site.map { " on \($0)" } ?? ""
                if before == nil, a.reusedFrom == nil {
                    out.append(
                        EventView(
                            id: position, kind: .taskStarted, task: a.taskKey,
                            message: "\(a.taskKey) started (attempt \(a.number))\(place)", at: a.startedAt,
                            attempt: a.number, status: .running, site: a.site))
                }
                if a.status != .running {
                    let took =
                        a.finishedAt.map { " after \(Int(($0.timeIntervalSince(a.startedAt) * 1000).rounded())) ms" }
                        ?? ""
                    let why = a.error.map { ": \($0)" } ?? ""
                    let how = a.reusedFrom.map { " (reused from \($0))" } ?? "\(place)\(took)\(why)"
                    out.append(
                        EventView(
                            id: position, kind: .taskEnded, task: a.taskKey,
                            message: "\(a.taskKey) \(a.status.rawValue) (attempt \(a.number))\(how)",
                            at: a.finishedAt ?? a.startedAt, attempt: a.number, status: a.status, site: a.site))
                }
            }
            return out
        }
    }

    /// A run as the API shows it (its outputs' files as download URLs).
    func view(_ run: RunRecord) -> RunView {
        RunView(
            id: run.id, workflow: run.workflow, user: run.user, status: run.status, created: run.createdAt,
            started: run.startedAt, finished: run.finishedAt, error: run.error,
            outputs: run.outputs.map { outputs in
                outputs.reduce(into: [:]) { o, entry in
                    let url = "/v1/runs/\(run.id)/outputs/\(RunRoutes.pathSegment(entry.key))"
                    switch entry.value {
                    case .file(let path):
                        o[entry.key] = RunRoutes.download(url, path)
                    case .list(let items) where items.contains(where: { if case .file = $0 { true } else { false } }):
                        o[entry.key] = .array(
                            items.enumerated().map { i, item in
                                if case .file(let path) = item { return RunRoutes.download(url + "?item=\(i)", path) }
                                return JSONValue(item)
                            })
                    default:
                        o[entry.key] = JSONValue(entry.value)
                    }
                }
            })
    }

    /// A file output as the API shows it: where to download it, and its file name (never
    /// the server's path).
    static func download(_ url: String, _ path: String) -> JSONValue {
        .object(["file": .string(url), "name": .string((path as NSString).lastPathComponent)])
    }

    /// A flat task key as one path segment: `#`, `?`, `%` and `/` percent-encoded (a
    /// task key holds `#`, which a URL would take for a fragment).
    static func pathSegment(_ key: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "#?%/")
        return key.addingPercentEncoding(withAllowedCharacters: allowed) ?? key
    }

    func createRun(_ request: Request, _ context: HeavenContext) async throws -> RunView {
        let user = try context.user
        let submission = try await body(RunSubmission.self, of: request, context)
        let load = try access.load(
            documents: submission.documents, yaml: submission.yaml, allowed: ["Topology", "Workflow"])
        // Refused before any file is stored (the use case checks it again).
        try RunRoutes.checkIsolation(load, for: user, policy: server.policy)
        var inputs: [String: Value] = [:]
        for (k, v) in submission.inputs ?? [:] { inputs[k] = try v.value }
        // Each submission gets its own directory: the files uploaded with it (`files`:
        // name → base64), against which relative file inputs are resolved. Its tasks may
        // stage from there and from the run's own directory, nowhere else.
        let base = try server.newSubmissionDirectory()
        for (name, content) in submission.files ?? [:] {
            guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.hasPrefix(".") else {
                throw Problem(.badRequest, "file name `\(name)` must be a plain name (no `/`, not starting with `.`)")
            }
            guard let data = Data(base64Encoded: content) else {
                throw Problem(.badRequest, "file `\(name)`: its content must be base64 text")
            }
            guard FileManager.default.createFile(atPath: base + "/" + name, contents: data) else {
                throw Problem(.internalServerError, "cannot store file `\(name)`")
            }
        }
        // A file of one of the caller's own runs (`{"run": ID, "output": NAME, "item"?: N}`):
        // read as the tenant beneath that run, copied into this submission.
        for (name, value) in inputs {
            guard let reference = RunRoutes.runOutputReference(value) else { continue }
            do {
                inputs[name] = .string(try await copyRunOutput(reference, for: user, into: base, as: name))
            } catch {
                try? FileManager.default.removeItem(atPath: base)
                throw error
            }
        }
        var accepted = Submission(
            user: user, load: load, workflow: submission.workflow, inputs: inputs, directory: base)
        accepted.share = submission.share ?? []
        do {
            return view(try await server.submissions.submit(accepted))
        } catch {
            throw Problem(error)
        }
    }

    /// `{"run": ID, "output": NAME}` (and `"item": N` for a list of files), if `value` is one.
    static func runOutputReference(_ value: Value) -> (run: String, output: String, item: Int?)? {
        guard case .map(let m) = value, case .string(let run)? = m["run"], case .string(let output)? = m["output"],
            Set(m.keys).isSubset(of: ["run", "output", "item"])
        else { return nil }
        if let item = m["item"] {
            guard case .int(let n) = item, n >= 0 else { return (run, output, -1) }
            return (run, output, n)
        }
        return (run, output, nil)
    }

    /// Copies the file an output of one of `user`'s own runs names into `base` (as
    /// `inputs/NAME/FILE`), read with that run's tenant's rights beneath its directory;
    /// the path relative to `base`. One answer for a run that is not there or not theirs.
    func copyRunOutput(
        _ reference: (run: String, output: String, item: Int?), for user: UserRecord, into base: String,
        as input: String
    ) async throws -> String {
        let refused = Problem(
            .unprocessableContent,
            """
            input `\(input)`: run `\(reference.run)` of yours has no file output \
            `\(reference.output)`\(reference.item.map { " at \($0)" } ?? "")
            """
        )
        // The exact id only (a prefix matching several runs of anyone would answer otherwise).
        guard let other = try? await stores.runs.run(reference.run), other.id == reference.run,
            other.user == user.name, var value = other.outputs?[reference.output]
        else { throw refused }
        if let item = reference.item {
            guard case .list(let items) = value, item >= 0, item < items.count else { throw refused }
            value = items[item]
        }
        guard case .file(let path) = value else { throw refused }
        let file: TenantFile
        do { file = try await server.openRunFile(path, of: other) } catch { throw refused }
        let limit = Int64(server.policy.fetchLimit)
        guard file.size <= limit else {
            throw Problem(.unprocessableContent, "input `\(input)`: the file is larger than \(limit) bytes")
        }
        let folder = "inputs/" + input
        let fileName = (path as NSString).lastPathComponent
        try FileManager.default.createDirectory(
            atPath: base + "/" + folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let target = base + "/" + folder + "/" + fileName
        // Copied a megabyte at a time, off the concurrency pool.
        let out = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw Problem(.internalServerError, "cannot store the file of input `\(input)`") }
        do {
            try await TenantFiles.offPool {
                defer { close(out) }
                try file.copy(to: out, limit: limit)
            }
        } catch {
            throw Problem(.internalServerError, "cannot store the file of input `\(input)`: \(error)")
        }
        return folder + "/" + fileName
    }

    /// The operator's isolation policy (`Submissions.checkIsolation`), refused as a 403.
    static func checkIsolation(_ load: LoadResult, for user: UserRecord, policy: ServerPolicy) throws {
        do {
            try Submissions.checkIsolation(load, for: user, network: policy.taskNetwork)
        } catch {
            throw Problem(error)
        }
    }

    /// Server-sent events: the run's events from `after` on, live, until the run ends.
    /// `mayRead` is asked again every 10 s: a caller who may no longer read the run (signed
    /// out, its token revoked, the share withdrawn) is told nothing more.
    func events(
        _ runID: String, after: Int64, follow: Bool = true, mayRead: @escaping @Sendable () async -> Bool
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let stores = self.stores
        return Response(
            status: .ok, headers: headers,
            body: .init { writer in
                var last = after
                var tasks = TaskEvents()
                var quietSince = Date()
                var ended = false
                var lastRead = ContinuousClock.now
                var asked = ContinuousClock.now
                while true {
                    try Task.checkCancellation()
                    if ContinuousClock.now - asked >= .seconds(10) {
                        guard await mayRead() else { break }
                        asked = .now
                    }
                    // Woken by each event this process records and each start or end of
                    // one of the run's attempts (its tasks' events, read at most four
                    // times a second however busy the run); a quiet stream gets a comment
                    // every 10 s (proxies keep it open), and what another process
                    // recorded is read then.
                    let seen: [StoreChange: UInt64] = [
                        .events(run: runID): stores.changes.generation(of: .events(run: runID)),
                        .attempts(run: runID): stores.changes.generation(of: .attempts(run: runID)),
                    ]
                    lastRead = ContinuousClock.now
                    let batch = try await stores.runs.events(run: runID, after: last, limit: 500)
                    // The tasks' starts and ends since the last look, read after the events
                    // and told before them: a task's end comes before the run's. They are
                    // not stored: their `id` is the stream's position, and a stream resumed
                    // after it tells the tasks' state again.
                    var position = last
                    let stored = batch.map { e in
                        position = e.id ?? position
                        return EventView(id: e.id ?? 0, kind: e.kind, task: e.taskKey, message: e.message, at: e.time)
                    }
                    let changes = try await tasks.look(stores.runs, run: runID, position: last)
                    // In the order they happened (a stored event first at the same instant);
                    // a task's event takes the id of the stored event before it.
                    var told = last
                    for (view, isTask) in (stored.map { ($0, false) } + changes.map { ($0, true) })
                        .enumerated().sorted(by: { a, b in
                            a.element.0.at != b.element.0.at ? a.element.0.at < b.element.0.at : a.offset < b.offset
                        }).map(\.element)
                    {
                        var view = view
                        if isTask { view.id = told } else { told = view.id }
                        let text = String(decoding: try APICoding.encoder.encode(view), as: UTF8.self)
                        try await writer.write(
                            ByteBuffer(string: "id: \(view.id)\nevent: \(view.kind.rawValue)\ndata: \(text)\n\n"))
                    }
                    last = position
                    if !batch.isEmpty || !changes.isEmpty { quietSince = Date() }
                    if batch.isEmpty {
                        if !follow || ended { break }
                        // Ended: one more look, for the events stored with the end (after
                        // this loop's last read and before the status was read).
                        if let r = try await stores.runs.run(runID), r.status.isFinal {
                            ended = true
                            continue
                        }
                        let quiet = Date().timeIntervalSince(quietSince)
                        await stores.changes.waitForChange(of: seen, timeout: .seconds(max(0.01, 10 - quiet)))
                        // A stored event is told at once; attempts' changes are coalesced, those
                        // of a quarter second read together.
                        if stores.changes.generation(of: .events(run: runID)) == seen[.events(run: runID)] {
                            try await Task.sleep(until: lastRead + .milliseconds(250))
                        }
                        if Date().timeIntervalSince(quietSince) >= 10 {
                            try await writer.write(ByteBuffer(string: ": waiting\n\n"))
                            quietSince = Date()
                        }
                    }
                }
                try await writer.finish(nil)
            })
    }
}

#if canImport(Glibc)
    import Glibc
#endif

/// The operations, as the API document describes them.
extension RunRoutes {
    enum Operations {
        static let submit =
            APIOperation(
                "POST", "/v1/runs",
                """
                Submit a run: its YAML documents (Topology, Workflow), inputs, files uploaded with it (name → \
                base64; file inputs name them), and groups to share it with
                """,
                tag: "runs", request: RunSubmission.self,
                responses: [
                    APIResponse(201, "the run, created and started", .json(RunView.self)),
                    APIResponse(
                        403,
                        """
                        a workflow of a user who is not an admin asks for `isolation: none` (the detail says \
                        where: FILE:LINE:COL); or `share` names a group of someone else's
                        """
                    ), APIResponse(413, "too large"), APIResponse(415, "not JSON"),
                    APIResponse(422, "the documents are invalid (file:line:col diagnostics in detail)"),
                ])

        static let list =
            APIOperation(
                "GET", "/v1/runs", "The runs the caller may see, newest first", tag: "runs",
                parameters: [
                    APIParameter("limit", in: .query, .integer(minimum: 1, maximum: 1000), "at most this many (100)")
                ],
                responses: [APIResponse(200, "the runs", .json(RunList.self))])

        static let status =
            APIOperation(
                "GET", "/v1/runs/{id}", "A run: status, outputs (files as download URLs), attempts", tag: "runs",
                parameters: [RunRoutes.id],
                responses: [
                    APIResponse(200, "the run", .json(RunView.self)), APIResponse(404, "no such run (or not yours)"),
                ])

        static let resumeRun =
            APIOperation(
                "POST", "/v1/runs/{id}/resume",
                "Resume a failed or interrupted run without re-running its finished tasks (its owner or an admin)",
                tag: "runs", parameters: [RunRoutes.id],
                responses: [
                    APIResponse(202, "the run goes on", .json(RunView.self)),
                    APIResponse(403, "shared with you to read only"), APIResponse(404, "no such run"),
                    APIResponse(409, "the run succeeded, was cancelled (submit it again), or is running"),
                ])

        static let cancelRun =
            APIOperation(
                "POST", "/v1/runs/{id}/cancel", "Cancel a run (its owner or an admin)", tag: "runs",
                parameters: [RunRoutes.id],
                responses: [
                    APIResponse(
                        202,
                        """
                        cancellation requested (again for a run already cancelled on request: cancelling is \
                        idempotent)
                        """,
                        .json(CancelRequested.self)),
                    APIResponse(403, "shared with you to read only"), APIResponse(404, "no such run"),
                    APIResponse(409, "the run has ended (succeeded, failed, or cancelled without a request)"),
                ])

        static let logs =
            APIOperation(
                "GET", "/v1/runs/{id}/logs", "The attempts of a run's tasks, with the URL of each log", tag: "runs",
                parameters: [RunRoutes.id],
                responses: [APIResponse(200, "the attempts", .json(LogList.self)), APIResponse(404, "no such run")])

        static let log =
            APIOperation(
                "GET", "/v1/runs/{id}/logs/{task}",
                """
                A task's log (latest attempt, or ?attempt=N); the task as its flat key (`each#3.ndvi`, \
                percent-encoded in the path)
                """,
                tag: "runs",
                parameters: [
                    RunRoutes.id, APIParameter("task", in: .path, .string(), "the task's flat key"),
                    APIParameter(
                        "attempt", in: .query, .integer(format: "int32", minimum: 1),
                        "the attempt's number (the latest when absent)"),
                ],
                responses: [
                    APIResponse(200, "the log", .media("text/plain", .string())),
                    APIResponse(404, "no such run, task or attempt"),
                ])

        static let output =
            APIOperation(
                "GET", "/v1/runs/{id}/outputs/{name}", "A run output: the file itself, or its value", tag: "runs",
                parameters: [
                    RunRoutes.id, APIParameter("name", in: .path, .string(), "the output's name"),
                    APIParameter(
                        "item", in: .query, .integer(minimum: 0),
                        "for an output that is a list of files: the file at this index (from 0)"),
                ],
                responses: [
                    APIResponse(
                        200, "the value, or the file itself", .json(OutputValue.self),
                        or: [("application/octet-stream", .string(format: "binary"))]),
                    APIResponse(404, "no such run or output"),
                ])

        static let eventStream =
            APIOperation(
                "GET", "/v1/runs/{id}/events",
                """
                The run's events as server-sent events (`event`: its kind, `data`: an EventView), live until the \
                run ends (resumes from Last-Event-ID or ?after=N)
                """,
                tag: "runs",
                parameters: [
                    RunRoutes.id, APIParameter("after", in: .query, .integer(format: "int64"), "events after this id"),
                    APIParameter(
                        "follow", in: .query, .boolean, "false (or 0): the events so far, then the stream ends"),
                ],
                responses: [
                    APIResponse(
                        200, "the events: `id`, `event` (its kind), `data` (an EventView as JSON)",
                        .media("text/event-stream", RunRoutes.serverSentEvent)),
                    APIResponse(404, "no such run"),
                ])
    }
}

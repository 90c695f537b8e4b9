import Foundation
import HTTPTypes
import HeavenAPI
import HeavenApplication
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import Hummingbird
import Logging

/// OGC API - Processes: executing a process, and its jobs — which are runs: the same
/// run is `/jobs/{jobID}` and `/v1/runs/{id}`, with the same authorization.
struct JobRoutes {
    let server: HeavenServer
    var stores: Stores { server.stores }
    var publishing: Publishing { Publishing(processes: server.stores.processes) }
    var outbound: Outbound { Outbound(hosts: server.policy.fetchHosts, limit: server.policy.fetchLimit) }

    /// An RFC 3339 instant, or an interval of two with `..` (or nothing) for an open end.
    static let datetimePattern: String = {
        let instant = #"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"#
        return "^(\(instant)|(\(instant)|\\.\\.)?/(\(instant)|\\.\\.)?)$"
    }()

    static let jobID = APIParameter("jobID", in: .path, .string(), "the job's id (its run's id)")
    static let rawResult = JSONSchema.described(
        .any,
        """
        the output itself (a file with its media type, a string as text/plain, other values as JSON); several \
        outputs as multipart/related
        """
    )

    /// The route list: each operation (`Operations`, which documents it) and its handler.
    func register(_ routes: inout APIRoutes) {
        routes.addRaw(Operations.execute) { try await execute($0, $1) }
        routes.add(Operations.jobList) { try await jobList($0, $1) }
        routes.add(Operations.job) { try await job($0, $1) }
        routes.add(Operations.dismiss) { try await dismiss($0, $1) }
        routes.add(Operations.jobResults) { try await jobResults($0, $1) }
        routes.addRaw(Operations.jobResult) { try await jobResult($0, $1) }
    }

    // MARK: Handlers

    /// A job's status, with its usage.
    func job(_ request: Request, _ context: HeavenContext) async throws -> StatusInfo {
        try await statusInfo(try await visibleJob(context), base: ProcessRoutes.base(request), usage: true)
    }

    /// A successful job's results: values inline, files by reference.
    func jobResults(_ request: Request, _ context: HeavenContext) async throws -> Results {
        let run = try await finishedJob(context)
        return try await results(run, base: ProcessRoutes.base(request), modes: [:], defaultMode: nil, only: nil)
    }

    /// One output of a successful job: the file, a list of files as links, or the value.
    func jobResult(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let run = try await finishedJob(context)
        let name = try context.parameters.require("output")
        guard var value = run.outputs?[name] else {
            throw Problem(.notFound, "job \(run.id) has no output `\(name)`", type: OGC.Exception.noSuchJob)
        }
        if let item = try Access.query("item", of: request, as: Int.self) {
            guard case .list(let items) = value, item >= 0, item < items.count else {
                throw Problem(.notFound, "output `\(name)` of job \(run.id) has no item \(item)")
            }
            value = items[item]
        }
        if case .list(let items) = value, items.contains(where: JobRoutes.isFile) {
            let url = ProcessRoutes.base(request) + "/jobs/\(run.id)/results/" + ProcessRoutes.segment(name)
            return reply(
                JSONValue.array(
                    items.enumerated().map { i, item in
                        JobRoutes.isFile(item) ? JobRoutes.link(url + "?item=\(i)", item) : JSONValue(item)
                    }))
        }
        return try await raw(value, run: run)
    }

    // MARK: Execution

    func execute(_ request: Request, _ context: HeavenContext) async throws -> Response {
        let user = try context.user
        let id = try context.parameters.require("processID")
        let process = try await ProcessRoutes.answer { try await publishing.visible(id, to: user) }
        let execute = try await body(ExecuteRequest.self, of: request, context)
        return try await run(request, process: process, execute, by: user, quote: nil)
    }

    /// Executes a process: its inputs checked, a priced process's budget (or accepted
    /// `quote`) reserved, the job created and driven; the answer as the request asks.
    func run(_ request: Request, process: ProcessRecord, _ execute: ExecuteRequest, by user: UserRecord, quote: Quote?)
        async throws -> Response
    {
        let id = process.id
        let (load, workflow) = try await ProcessRoutes.answer { try server.processes.parsed(process) }
        // The outputs wanted, and how each is sent.
        let known = Set(workflow.outputs.map(\.name))
        for name in (execute.outputs ?? [:]).keys where !known.contains(name) {
            throw invalid(
                """
                process `\(id)` has no output \
                `\(name)`\(known.isEmpty ? "" : " (it has: \(known.sorted().joined(separator: ", ")))")
                """
            )
        }
        let subscriber = try checked(execute.subscriber)
        // Inputs, checked against the description before anything runs.
        let base = try server.newSubmissionDirectory()
        var submission: Submission
        do {
            submission = Submission(
                user: user, load: load, workflow: workflow.name,
                inputs: try await bind(execute.inputs ?? [:], to: workflow, in: base), directory: base)
        } catch {
            try? FileManager.default.removeItem(atPath: base)
            throw error
        }
        submission.process = process
        submission.price = workflow.price
        submission.budget = execute.budget.map { ($0.amount, $0.currency) }
        submission.quote = quote
        let run: RunRecord
        do {
            run = try await server.submissions.submit(submission)
        } catch {
            throw Problem(error, invalid: .badRequest, type: OGC.Exception.invalidParameterValue)
        }
        let url = ProcessRoutes.base(request)
        if let subscriber { notify(run.id, subscriber, base: url) }
        let prefer = request.headers.first { $0.name.canonicalName == "prefer" }?.value.lowercased() ?? ""
        if prefer.contains("respond-async") {
            var response = reply(try await statusInfo(run, base: url), status: .created)
            response.headers[.location] = url + "/jobs/" + run.id
            response.headers[HTTPField.Name("Preference-Applied")!] = "respond-async"
            return response
        }
        await server.finish(run.id)
        guard let ended = try await stores.runs.run(run.id) else { throw Problem(.notFound, "no job \(run.id)") }
        guard ended.status == .succeeded else {
            throw Problem(
                .internalServerError, "job \(run.id) \(ended.status.rawValue): \(ended.error ?? "no reason recorded")")
        }
        var modes: [String: TransmissionMode] = [:]
        for (name, o) in execute.outputs ?? [:] { modes[name] = o.transmissionMode }
        let only = execute.outputs.map { Set($0.keys) }.flatMap { $0.isEmpty ? nil : $0 }
        switch execute.response ?? .raw {
        case .document:
            return reply(try await results(ended, base: url, modes: modes, defaultMode: nil, only: only))
        case .raw:
            return try await rawResults(ended, base: url, modes: modes, only: only)
        }
    }

    /// A 400 problem of the standard's kind for a bad input.
    func invalid(_ detail: String) -> Problem {
        Problem(.badRequest, detail, type: OGC.Exception.invalidParameterValue)
    }

    /// The inputs of an execute request as the workflow's values: each known, of its
    /// type, every required one there; files written into `directory` from their inline
    /// content or fetched from their `href`.
    /// With no `directory`, the inputs are only checked (files neither written nor fetched).
    func bind(_ given: [String: JSONValue], to workflow: Workflow, in directory: String?) async throws -> [String:
        Value]
    {
        var out: [String: Value] = [:]
        let declared = Dictionary(uniqueKeysWithValues: workflow.inputs.map { ($0.name, $0) })
        for name in given.keys.sorted() where declared[name] == nil {
            let hint =
                Suggestion.closest(to: name, among: Array(declared.keys)).map { " (did you mean `\($0)`?)" } ?? ""
            throw invalid("process `\(workflow.name)` has no input `\(name)`\(hint)")
        }
        for d in workflow.inputs {
            guard let raw = given[d.name] else {
                if d.defaultValue == nil {
                    throw invalid("input `\(d.name)` (\(d.type.rawValue)) is required")
                }
                continue
            }
            out[d.name] = try await value(raw, for: d, in: directory)
        }
        return out
    }

    /// One input's value: a plain value, a qualified value `{value, encoding, mediaType}`,
    /// or (a file) a link `{href}`.
    func value(_ raw: JSONValue, for d: InputDeclaration, in directory: String?) async throws -> Value {
        let name = d.name
        if d.type == .file {
            guard case .object(let o) = raw else {
                throw invalid(
                    """
                    input `\(name)` is a file: send {\"href\": URL} or {\"value\": BASE64, \"encoding\": \
                    \"base64\", \"mediaType\": TYPE}
                    """
                )
            }
            if case .string(let href)? = o["href"] {
                guard let url = URL(string: href) else { throw invalid("input `\(name)`: `\(href)` is not a URL") }
                if let why = outbound.refusal(url) { throw invalid("input `\(name)`: \(why)") }
                let file = JobRoutes.fileName(url.lastPathComponent, fallback: name, mediaType: nil)
                guard let directory else { return .string("inputs/\(name)/\(file)") }
                let folder = directory + "/inputs/" + name
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                do {
                    try await outbound.fetch(url, to: folder + "/" + file)
                } catch let e as OutboundError {
                    throw invalid("input `\(name)`: cannot fetch \(href): \(e)")
                }
                return .string("inputs/\(name)/\(file)")
            }
            guard case .string(let content)? = o["value"] else {
                throw invalid("input `\(name)` is a file: give its `href`, or its content as `value`")
            }
            let mediaType: String? = if case .string(let t)? = o["mediaType"] { t } else { nil }
            let data: Data
            switch o["encoding"] {
            case .string(let e)? where e.lowercased() == "base64":
                guard let d = Data(base64Encoded: content, options: .ignoreUnknownCharacters) else {
                    throw invalid("input `\(name)`: `value` is not base64")
                }
                data = d
            case nil, .string("utf-8")?, .string("UTF-8")?: data = Data(content.utf8)
            case let other?: throw invalid("input `\(name)`: encoding \(other.jsonText) is not `base64`")
            }
            let file = JobRoutes.fileName("", fallback: name, mediaType: mediaType)
            guard let directory else { return .string("inputs/\(name)/\(file)") }
            let folder = directory + "/inputs/" + name
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            guard FileManager.default.createFile(atPath: folder + "/" + file, contents: data) else {
                throw Problem(.internalServerError, "cannot store input `\(name)`")
            }
            return .string("inputs/\(name)/\(file)")
        }
        // A qualified value: its `value`.
        var plain = raw
        if case .object(let o) = raw, let v = o["value"],
            Set(o.keys).isSubset(of: ["value", "mediaType", "encoding", "schema"])
        {
            plain = v
        }
        let ok: Bool
        switch (d.type, plain) {
        case (.string, .string), (.boolean, .bool), (.integer, .int), (.number, .int), (.number, .double),
            (.list, .array), (.object, .object):
            ok = true
        case (.integer, .double(let x)): ok = x == x.rounded() && abs(x) < 9e15
        default: ok = false
        }
        guard ok else {
            throw invalid("input `\(name)` must be \(Wording.a(d.type.rawValue)), not \(plain.jsonText)")
        }
        let v = try plain.value
        if let why = d.violation(v) { throw invalid(why) }
        return v
    }

    /// A safe file name for an input: the URL's last part (when plain), else the input's
    /// name with the extension of its media type.
    static func fileName(_ candidate: String, fallback: String, mediaType: String?) -> String {
        let plain = candidate.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)
        }
        if !candidate.isEmpty, plain, !candidate.hasPrefix("."), candidate.count <= 200 { return candidate }
        let type = mediaType?.lowercased() ?? ""
        let ext =
            type.hasPrefix("image/tiff")
            ? ".tif"
            : type.hasPrefix("image/png")
                ? ".png"
                : type.hasPrefix("application/json")
                    ? ".json"
                    : type.hasPrefix("text/plain")
                        ? ".txt"
                        : type.hasPrefix("application/geo+json") ? ".geojson" : type.hasPrefix("text/csv") ? ".csv" : ""
        return fallback + ext
    }

    // MARK: Jobs

    /// A job the caller may see (404 `no-such-job` otherwise).
    func visibleJob(_ context: HeavenContext) async throws -> RunRecord {
        try await Access(server: server).visibleRun(context, parameter: "jobID", notFound: JobRoutes.noSuchJob)
    }

    static func noSuchJob(_ id: String) -> Problem {
        Problem(.notFound, "no job \(id)", type: OGC.Exception.noSuchJob)
    }

    /// A job whose results may be read: successful (404 `result-not-ready` while it
    /// goes on; the failure's problem for a failed one).
    func finishedJob(_ context: HeavenContext) async throws -> RunRecord {
        let run = try await visibleJob(context)
        switch run.status {
        case .succeeded:
            guard run.outputs != nil else {
                throw Problem(
                    .notFound, "job \(run.id) was dismissed: its results are gone", type: OGC.Exception.noSuchJob)
            }
            return run
        case .failed:
            throw Problem(.internalServerError, "job \(run.id) failed: \(run.error ?? "no reason recorded")")
        case .cancelled:
            throw Problem(.notFound, "job \(run.id) was dismissed: it has no results", type: OGC.Exception.noSuchJob)
        case .pending, .running, .interrupted:
            throw Problem(
                .notFound, "job \(run.id) is \(JobRoutes.status(run.status).rawValue): its results are not ready",
                type: OGC.Exception.resultNotReady)
        }
    }

    static func status(_ s: RunStatus) -> JobStatus {
        switch s {
        case .pending: .accepted
        case .running, .interrupted: .running
        case .succeeded: .successful
        case .failed: .failed
        case .cancelled: .dismissed
        }
    }

    static func statuses(_ s: JobStatus) -> [RunStatus] {
        switch s {
        case .accepted: [.pending]
        case .running: [.running, .interrupted]
        case .successful: [.succeeded]
        case .failed: [.failed]
        case .dismissed: [.cancelled]
        }
    }

    /// A job's status, with its links.
    /// A job's status; with `usage`, what it used (its attempts read: one job's view).
    func statusInfo(_ run: RunRecord, base: String, usage: Bool = false) async throws -> StatusInfo {
        let status = JobRoutes.status(run.status)
        let url = base + "/jobs/" + run.id
        var links = [
            OGCLink(href: url, rel: "self", type: "application/json", title: "this status"),
            OGCLink(href: url + "?f=html", rel: "alternate", type: "text/html", title: "this status as HTML"),
            OGCLink(href: base + "/v1/runs/" + run.id, rel: "alternate", type: "application/json", title: "the run"),
        ]
        if status == .successful, run.outputs != nil {
            links.append(
                OGCLink(href: url + "/results", rel: OGC.Rel.results, type: "application/json", title: "results"))
        }
        let processID = run.process ?? run.workflow
        if try await stores.processes.processExists(processID) {
            links.append(
                OGCLink(
                    href: base + "/processes/" + ProcessRoutes.segment(processID), rel: OGC.Rel.processDescription,
                    type: "application/json", title: "the process"))
        }
        let message: String
        switch run.status {
        case .pending: message = "accepted, waiting to start"
        case .running: message = "running"
        case .interrupted: message = "interrupted; it goes on when the server resumes it"
        case .succeeded: message = "successful"
        case .failed: message = run.error ?? "failed"
        case .cancelled: message = run.dismissed ? "dismissed" : "dismissed (\(run.error ?? "cancelled"))"
        }
        let updated = [run.createdAt, run.startedAt, run.finishedAt].compactMap { $0 }.max()
        // A priced job: its costs so far, and its bill.
        var costs: JobCosts?
        if run.process != nil, let c = try await stores.ledger.charge(job: run.id) {
            let (value, resources, fee, _) = Charging.costs(c, try await stores.ledger.transactions(job: run.id))
            costs = JobCosts(currency: c.currency, value: value, resources: resources, fee: fee, budget: c.budget)
            links.append(
                OGCLink(href: base + "/v1/bills/" + run.id, rel: "bill", type: "application/json", title: "its bill"))
        }
        var used: JobUsage?
        if usage {
            used = JobUsage(
                cpuSeconds: try await stores.runs.cpuSeconds(run: run.id),
                wallSeconds: run.startedAt.map { (run.finishedAt ?? Date()).timeIntervalSince($0) } ?? 0,
                bytesStaged: Charging.inputBytes(run))
        }
        return StatusInfo(
            jobID: run.id, processID: processID, status: status, message: message, created: run.createdAt,
            started: run.startedAt, finished: run.finishedAt, updated: updated,
            progress: try await stores.processes.progress(run: run.id), links: links, costs: costs, usage: used)
    }

    func jobList(_ request: Request, _ context: HeavenContext) async throws -> JobList {
        let user = try context.user
        var q = JobQuery()
        func list(_ name: String) -> [String] {
            request.uri.queryParameters.getAll(name).flatMap { $0.split(separator: ",").map(String.init) }
        }
        for t in list("type") where t != "process" {
            throw invalid("query parameter `type` must be `process`, not `\(t)`")
        }
        q.processIDs = list("processID")
        for s in list("status") {
            guard let status = JobStatus(rawValue: s) else {
                throw invalid(
                    """
                    query parameter `status` takes \(JobStatus.allCases.map(\.rawValue).joined(separator: ", ")), \
                    not `\(s)`
                    """
                )
            }
            q.statuses += JobRoutes.statuses(status)
        }
        if let text = request.uri.queryParameters.get("datetime") {
            (q.createdFrom, q.createdTo) = try JobRoutes.interval(text)
        }
        func seconds(_ name: String) throws -> Double? {
            try Access.query(name, of: request, as: Int.self, in: 0...Int(Int32.max)).map(Double.init)
        }
        q.minDuration = try seconds("minDuration")
        q.maxDuration = try seconds("maxDuration")
        q.limit = try Access.query("limit", of: request, as: Int.self, in: 1...1000) ?? 10
        q.offset = try Access.query("offset", of: request, as: Int.self, in: 0...Int(Int32.max)) ?? 0
        let (runs, more) = try await server.queries.jobs(readBy: user, q, now: Date())
        let base = ProcessRoutes.base(request)
        var jobs: [StatusInfo] = []
        for r in runs { jobs.append(try await statusInfo(r, base: base)) }
        // The same filters in the links, the page moved.
        var kept = request.uri.queryParameters.filter { $0.key != "offset" }.map {
            "\($0.key)=\(String($0.value).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")"
        }
        if request.uri.queryParameters.get("limit") == nil { kept.append("limit=\(q.limit)") }
        let query = kept.joined(separator: "&")
        var links = [
            OGCLink(href: base + "/jobs?\(query)&offset=\(q.offset)", rel: "self", type: "application/json"),
            OGCLink(href: base + "/jobs?\(query)&offset=\(q.offset)&f=html", rel: "alternate", type: "text/html"),
        ]
        if more {
            links.append(
                OGCLink(
                    href: base + "/jobs?\(query)&offset=\(q.offset + q.limit)", rel: "next", type: "application/json"))
        }
        if q.offset > 0 {
            links.append(
                OGCLink(
                    href: base + "/jobs?\(query)&offset=\(max(0, q.offset - q.limit))", rel: "prev",
                    type: "application/json"))
        }
        return JobList(jobs: jobs, links: links)
    }

    /// `datetime`: an instant (that second) or an interval with `..` (or nothing) for an open end.
    static func interval(_ text: String) throws -> (Date?, Date?) {
        func date(_ s: Substring) throws -> Date? {
            if s.isEmpty || s == ".." { return nil }
            if let d = try? Date(String(s), strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
                return d
            }
            if let d = try? Date(String(s), strategy: Date.ISO8601FormatStyle()) { return d }
            throw Problem(
                .badRequest, "query parameter `datetime`: `\(s)` is not an RFC 3339 date-time (2026-12-04T10:00:00Z)",
                type: OGC.Exception.invalidParameterValue)
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            guard let d = try date(parts[0]) else {
                throw Problem(
                    .badRequest, "query parameter `datetime` is empty", type: OGC.Exception.invalidParameterValue)
            }
            let start = d.timeIntervalSince1970.rounded(.down)
            return (Date(timeIntervalSince1970: start), Date(timeIntervalSince1970: start + 0.999_999))
        case 2:
            let from = try date(parts[0])
            let to = try date(parts[1])
            if let from, let to, from > to {
                throw Problem(
                    .badRequest, "query parameter `datetime`: the interval ends before it starts",
                    type: OGC.Exception.invalidParameterValue)
            }
            return (from, to)
        default:
            throw Problem(
                .badRequest, "query parameter `datetime` is an instant or START/END, not `\(text)`",
                type: OGC.Exception.invalidParameterValue)
        }
    }

    func dismiss(_ request: Request, _ context: HeavenContext) async throws -> StatusInfo {
        var run = try await Access(server: server).ownedRun(context, parameter: "jobID", notFound: JobRoutes.noSuchJob)
        if !run.status.isFinal {
            _ = try await server.engine.cancel(runID: run.id)
            // Its work stops for real before the answer: processes, jobs, slots.
            await server.finish(run.id)
        }
        guard var ended = try await stores.runs.run(run.id) else {
            throw Problem(.notFound, "no job \(run.id)", type: OGC.Exception.noSuchJob)
        }
        // Its results go: the files of its outputs, and the outputs recorded.
        for path in JobRoutes.files(in: ended.outputs ?? [:]) { await server.removeRunFile(path, of: ended) }
        ended.outputs = nil
        ended.status = .cancelled
        ended.dismissed = true
        ended.error = "dismissed"
        if ended.finishedAt == nil { ended.finishedAt = Date() }
        try await stores.runs.updateRun(ended)
        run = ended
        return try await statusInfo(run, base: ProcessRoutes.base(request))
    }

    // MARK: Results

    static func isFile(_ v: Value) -> Bool { if case .file = v { true } else { false } }

    static func files(in outputs: [String: Value]) -> [String] {
        outputs.values.flatMap { v -> [String] in
            switch v {
            case .file(let p): [p]
            case .list(let items): items.compactMap { if case .file(let p) = $0 { p } else { nil } }
            default: []
            }
        }
    }

    static func mediaType(_ path: String) -> String {
        ProcessDescription.mediaType(of: path) ?? "application/octet-stream"
    }

    /// A file output by reference.
    static func link(_ href: String, _ v: Value) -> JSONValue {
        guard case .file(let p) = v else { return .object(["href": .string(href)]) }
        return .object([
            "href": .string(href), "type": .string(mediaType(p)),
            "title": .string((p as NSString).lastPathComponent),
        ])
    }

    /// The results document (null outputs left out): by output, a value inline (a file as base64, an object
    /// qualified) or a link. Files go by reference unless asked by value; values by value
    /// unless asked by reference.
    func results(
        _ run: RunRecord, base: String, modes: [String: TransmissionMode], defaultMode: TransmissionMode?,
        only: Set<String>?
    ) async throws -> Results {
        var out: [String: JSONValue] = [:]
        // An output that is null was not produced (the branch that makes it did not run):
        // the document leaves it out (the standard has no null value).
        for (name, value) in run.outputs ?? [:] where (only?.contains(name) ?? true) && value != .null {
            let url = base + "/jobs/\(run.id)/results/" + ProcessRoutes.segment(name)
            let hasFiles: Bool
            if case .list(let items) = value {
                hasFiles = items.contains(where: JobRoutes.isFile)
            } else {
                hasFiles = JobRoutes.isFile(value)
            }
            let mode = modes[name] ?? defaultMode ?? (hasFiles ? .reference : .value)
            switch (mode, value) {
            case (.reference, .file):
                out[name] = JobRoutes.link(url, value)
            case (.reference, _):
                out[name] = .object([
                    "href": .string(url), "type": .string("application/json"), "title": .string(name),
                ])
            case (.value, .file(let p)):
                out[name] = try await inline(p, run: run)
            case (.value, .list(let items)) where hasFiles:
                var inlined: [JSONValue] = []
                for item in items {
                    if case .file(let p) = item {
                        inlined.append(try await inline(p, run: run))
                    } else {
                        inlined.append(JSONValue(item))
                    }
                }
                out[name] = .array(inlined)
            case (.value, .map):
                out[name] = .object(["value": JSONValue(value), "mediaType": .string("application/json")])
            case (.value, _):
                out[name] = JSONValue(value)
            }
        }
        return Results(out)
    }

    /// A file's content inline: `{value: BASE64, encoding: base64, mediaType}`.
    func inline(_ path: String, run: RunRecord) async throws -> JSONValue {
        .object([
            "value": .string(try await content(path, run: run).base64EncodedString()), "encoding": .string("base64"),
            "mediaType": .string(JobRoutes.mediaType(path)),
        ])
    }

    /// A file of a run's outputs, in memory (only regular files beneath the run's own
    /// directory, opened with its tenant's rights, at most 64 MiB: larger ones go by reference).
    func content(_ path: String, run: RunRecord) async throws -> Data {
        do {
            return try await server.runFileContents(path, of: run, limit: 64 << 20)
        } catch let p as Problem where p.status == .notFound {
            throw Problem(
                .notFound, "a file of job \(run.id)'s results is no longer there", type: OGC.Exception.noSuchJob)
        }
    }

    /// One output as itself: a file with its media type, text, or JSON.
    func raw(_ value: Value, run: RunRecord) async throws -> Response {
        var headers = HTTPFields()
        if case .file(let p) = value {
            // A file streams from its descriptor, whatever its size.
            let file: TenantFile
            do { file = try await server.openRunFile(p, of: run) } catch let e as Problem where e.status == .notFound {
                throw Problem(
                    .notFound, "a file of job \(run.id)'s results is no longer there", type: OGC.Exception.noSuchJob)
            }
            headers[.contentType] = JobRoutes.mediaType(p)
            headers[.contentDisposition] = "attachment; filename=\"\((p as NSString).lastPathComponent)\""
            return HeavenServer.streaming(file, headers: headers)
        }
        let (type, data) = try await rawPart(value, run: run)
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func rawPart(_ value: Value, run: RunRecord) async throws -> (String, Data) {
        switch value {
        case .file(let p): return (JobRoutes.mediaType(p), try await content(p, run: run))
        case .string(let s): return ("text/plain; charset=utf-8", Data(s.utf8))
        default: return ("application/json", Data(JSONValue(value).jsonText.utf8))
        }
    }

    /// `response: raw`: one output by value as itself; every output by reference as
    /// `Link` headers (204); several outputs as multipart/related (references as parts
    /// with `Content-Location` only).
    func rawResults(_ run: RunRecord, base: String, modes: [String: TransmissionMode], only: Set<String>?)
        async throws -> Response
    {
        let outputs = (run.outputs ?? [:]).filter { only?.contains($0.key) ?? true }.sorted { $0.key < $1.key }
        func url(_ name: String) -> String { base + "/jobs/\(run.id)/results/" + ProcessRoutes.segment(name) }
        let mode = { (name: String) in modes[name] ?? .value }
        if outputs.allSatisfy({ mode($0.key) == .reference }) {
            var headers = HTTPFields()
            for (name, value) in outputs {
                let type = if case .file(let p) = value { JobRoutes.mediaType(p) } else { "application/json" }
                headers.append(
                    HTTPField(
                        name: HTTPField.Name("Link")!,
                        value: "<\(url(name))>; rel=\"\(OGC.Rel.results)\"; type=\"\(type)\"; title=\"\(name)\""))
            }
            return Response(status: .noContent, headers: headers)
        }
        if outputs.count == 1, let (_, value) = outputs.first {
            return try await raw(value, run: run)
        }
        let boundary = "heaven-" + UUID().uuidString.lowercased()
        var body = Data()
        for (name, value) in outputs {
            body.append(Data("--\(boundary)\r\nContent-ID: <\(name)>\r\n".utf8))
            if mode(name) == .reference {
                body.append(Data("Content-Location: \(url(name))\r\n\r\n\r\n".utf8))
            } else {
                let (type, data) = try await rawPart(value, run: run)
                body.append(Data("Content-Type: \(type)\r\n\r\n".utf8))
                body.append(data)
                body.append(Data("\r\n".utf8))
            }
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        var headers = HTTPFields()
        headers[.contentType] = "multipart/related; boundary=\(boundary)"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    // MARK: Callbacks

    /// The subscriber's URIs, each one the server may call (400 otherwise).
    func checked(_ s: Subscriber?) throws -> Subscriber? {
        guard let s else { return nil }
        for (what, uri) in [
            ("successUri", s.successUri), ("inProgressUri", s.inProgressUri), ("failedUri", s.failedUri),
        ] {
            guard let uri else { continue }
            if let why = outbound.refusal(URL(string: uri)) { throw invalid("subscriber `\(what)`: \(why)") }
        }
        return s
    }

    /// Calls the subscriber back as the job goes: its status when it runs, its results
    /// (or its status, failed) when it ends; each call retried with backoff, never
    /// holding the job up.
    func notify(_ runID: String, _ s: Subscriber, base: String) {
        Task.detached { [server, outbound] in
            let routes = JobRoutes(server: server)
            func send(_ body: Data, _ uri: String?) async {
                guard let uri, let url = URL(string: uri) else { return }
                var delay: Double = 1
                for _ in 0..<6 {
                    if (try? await outbound.post(body, to: url)) != nil { return }
                    try? await Task.sleep(for: .seconds(delay))
                    delay = min(delay * 2, 60)
                }
                server.logger.warning("callback failed", metadata: ["run": "\(runID)", "uri": "\(uri)"])
            }
            // In progress: once it runs.
            if s.inProgressUri != nil {
                // Woken by the run's events (its start is one), or every 10 s.
                let changes = server.stores.changes
                while true {
                    let seen = changes.generation(of: .events(run: runID))
                    guard let r = try? await server.stores.runs.run(runID), r.status == .pending else { break }
                    await changes.waitForChange(of: .events(run: runID), after: seen, timeout: .seconds(10))
                }
                if let r = try? await server.stores.runs.run(runID),
                    let info = try? await routes.statusInfo(r, base: base),
                    let body = try? APICoding.encoder.encode(info)
                {
                    await send(body, s.inProgressUri)
                }
            }
            await server.finish(runID)
            guard let r = try? await server.stores.runs.run(runID) else { return }
            if r.status == .succeeded {
                if let results = try? await routes.results(r, base: base, modes: [:], defaultMode: nil, only: nil),
                    let body = try? APICoding.encoder.encode(results)
                {
                    await send(body, s.successUri)
                }
            } else if let info = try? await routes.statusInfo(r, base: base),
                let body = try? APICoding.encoder.encode(info)
            {
                await send(body, s.failedUri)
            }
        }
    }
}

/// The operations, as the API document describes them.
extension JobRoutes {
    enum Operations {
        static let execute =
            APIOperation(
                "POST", "/processes/{processID}/execution",
                """
                Execute a process: synchronously (the answer is the result), or with `Prefer: respond-async` as a \
                job (201, `Location`)
                """,
                tag: "ogc",
                parameters: [
                    ProcessRoutes.processID,
                    APIParameter(
                        "Prefer", in: .header, .string(),
                        "`respond-async`: answer at once with the job's status; otherwise wait for the result"),
                ], request: ExecuteRequest.self,
                responses: [
                    APIResponse(
                        200, "the result (`response: document`: the results document; `raw`: the output itself)",
                        .json(Results.self), or: [("*/*", JobRoutes.rawResult)]),
                    APIResponse(201, "the job, started (`Prefer: respond-async`)", .json(StatusInfo.self)),
                    APIResponse(204, "`response: raw` by reference: a `Link` header per output"),
                    APIResponse(
                        400,
                        """
                        an input that is unknown, missing, of the wrong type or out of bounds; an `href` this \
                        server does not fetch (`InvalidParameterValue`)
                        """
                    ), APIResponse(404, "no such process (`no-such-process`)"),
                    APIResponse(422, "a budget that cannot be represented (the field is named)"),
                    APIResponse(500, "the job failed (synchronous execution)"),
                ])

        static let jobList =
            APIOperation(
                "GET", "/jobs",
                "The caller's jobs (and those shared with them), newest first, filtered as OGC API - Processes says",
                tag: "ogc",
                parameters: [
                    APIParameter(
                        "type", in: .query, .array(.string(values: ["process"])), "`process` (every job is one)"),
                    APIParameter(
                        "processID", in: .query, .array(.string()),
                        "jobs of these processes (comma-separated or repeated)"),
                    APIParameter("status", in: .query, .array(JobStatus.jsonSchema), "jobs in these states"),
                    APIParameter(
                        "datetime", in: .query, .string(pattern: JobRoutes.datetimePattern),
                        "created at this instant, or in this interval (`START/END`, `../END`, `START/..`; RFC 3339)"),
                    APIParameter(
                        "minDuration", in: .query, .integer(minimum: 0, maximum: Int(Int32.max)),
                        "running (or ran) at least this many seconds"),
                    APIParameter(
                        "maxDuration", in: .query, .integer(minimum: 0, maximum: Int(Int32.max)),
                        "running (or ran) at most this many seconds"),
                    APIParameter("limit", in: .query, .integer(minimum: 1, maximum: 1000), "at most this many (10)"),
                    APIParameter(
                        "offset", in: .query, .integer(minimum: 0, maximum: Int(Int32.max)),
                        "skip this many (the `next` link says)"),
                ],
                responses: [APIResponse(200, "the jobs", .json(JobList.self))], html: true)

        static let job =
            APIOperation(
                "GET", "/jobs/{jobID}", "A job's status", tag: "ogc", parameters: [JobRoutes.jobID],
                responses: [
                    APIResponse(200, "its status", .json(StatusInfo.self)),
                    APIResponse(404, "no such job the caller may see (`no-such-job`)"),
                ], html: true)

        static let dismiss =
            APIOperation(
                "DELETE", "/jobs/{jobID}",
                """
                Dismiss a job (its owner or an admin): its work is stopped (processes, Slurm jobs, slots freed) \
                and its results removed
                """,
                tag: "ogc", parameters: [JobRoutes.jobID],
                responses: [
                    APIResponse(200, "dismissed", .json(StatusInfo.self)),
                    APIResponse(403, "shared with you to read only"), APIResponse(404, "no such job"),
                ])

        static let jobResults =
            APIOperation(
                "GET", "/jobs/{jobID}/results",
                "A successful job's results: values inline, files (and lists of files) by reference", tag: "ogc",
                parameters: [JobRoutes.jobID],
                responses: [
                    APIResponse(200, "the results", .json(Results.self)),
                    APIResponse(404, "no such job, or not finished (`result-not-ready`), or dismissed"),
                    APIResponse(500, "the job failed: why"),
                ], html: true)

        static let jobResult =
            APIOperation(
                "GET", "/jobs/{jobID}/results/{output}",
                "One output of a successful job: the file itself, a list of files as links, or the value", tag: "ogc",
                parameters: [
                    JobRoutes.jobID, APIParameter("output", in: .path, .string(), "the output's name"),
                    APIParameter(
                        "item", in: .query, .integer(minimum: 0), "for a list of files: the file at this index"),
                ],
                responses: [
                    APIResponse(200, "the output", .media("*/*", JobRoutes.rawResult)),
                    APIResponse(404, "no such job or output, or not ready"),
                ])
    }
}

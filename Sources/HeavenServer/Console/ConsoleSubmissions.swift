import Foundation
import HeavenAPI
import HeavenApplication
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import Hummingbird

/// The console's pages that start runs: published processes, each with a form generated
/// from its inputs, and "run again" of any run with other inputs.
extension ConsoleRoutes {
    func registerSubmissions(on router: Router<HeavenContext>) {
        router.get("/console/processes") { request, _ in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            return try await processesPage(c)
        }
        router.get("/console/processes/{id}") { request, context in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            let id = try context.parameters.require("id")
            guard let (process, load, workflow) = try await visibleProcess(id, c) else {
                return notFound(c, "no process \(id)")
            }
            var values: [String: String] = [:]
            var kept: [String: String] = [:]
            var from: String?
            if let r = request.uri.queryParameters.get("from").map({ String($0) }),
                let run = try await access.run(r, visibleTo: c.user), run.process == process.id
            {
                (values, kept) = earlier(run, workflow)
                from = run.id
            }
            return try await processPage(
                process, load, workflow, c, values: values, kept: kept, from: from, error: nil)
        }
        router.post("/console/processes/{id}/execution") { request, context in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            let id = try context.parameters.require("id")
            guard let (process, load, workflow) = try await visibleProcess(id, c) else {
                return notFound(c, "no process \(id)")
            }
            return try await submit(request, c, load: load, workflow: workflow, process: process) {
                values, kept, from, error in
                try await processPage(process, load, workflow, c, values: values, kept: kept, from: from, error: error)
            }
        }
        router.get("/console/runs/{id}/again") { request, context in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            guard let run = try await visibleRun(context, c) else { return notFound(c, "no such run") }
            if let p = run.process { return ConsoleRoutes.redirect(ConsoleRoutes.again(p, run.id)) }
            guard let (_, workflow) = ConsoleRoutes.documents(of: run, load: await load(of: run)) else {
                return notFound(c, "run \(run.id)'s workflow cannot be read back")
            }
            let (values, kept) = earlier(run, workflow)
            return againPage(run, workflow, c, values: values, kept: kept, error: nil)
        }
        router.post("/console/runs/{id}/again") { request, context in
            guard let c = try await caller(request) else { return ConsoleRoutes.redirect("/console/login") }
            guard let run = try await visibleRun(context, c) else { return notFound(c, "no such run") }
            guard run.process == nil, let (load, workflow) = ConsoleRoutes.documents(of: run, load: await load(of: run))
            else {
                return notFound(c, "run \(run.id) is run again from its process's page")
            }
            try RunRoutes.checkIsolation(load, for: c.user, policy: server.policy)
            return try await submit(request, c, load: load, workflow: workflow, process: nil, from: run) {
                values, kept, _, error in
                againPage(run, workflow, c, values: values, kept: kept, error: error)
            }
        }
    }

    /// Marks a message to the form that is an estimate, not a mistake.
    static let estimatePrefix = "\u{1}estimate:"

    static func again(_ process: String, _ run: String) -> String {
        "/console/processes/\(RunRoutes.pathSegment(process))?from=\(run)"
    }

    /// A run's own documents as loaded (from the store, never the disk); nil when what
    /// was recorded cannot be read (the page says so).
    func load(of run: RunRecord) async -> LoadResult? {
        guard let sources = try? await stores.runs.documents(run: run.id) else { return nil }
        return Loader.load(sources: sources, readingDisk: false)
    }

    /// A run's own documents as loaded, and its workflow, when they are valid.
    static func documents(of run: RunRecord, load: LoadResult?) -> (LoadResult, Workflow)? {
        guard let load, load.isValid, let w = load.documents.workflow(named: run.workflow) else { return nil }
        return (load, w)
    }

    /// A process the caller may see, parsed (nil: not found, whether absent or another's).
    func visibleProcess(_ id: String, _ c: Caller) async throws -> (ProcessRecord, LoadResult, Workflow)? {
        guard let p = try? await Publishing(processes: stores.processes).visible(id, to: c.user) else { return nil }
        let (load, workflow) = try server.processes.parsed(p)
        return (p, load, workflow)
    }

    /// An earlier run's inputs as the form shows them; its files by name (taken again
    /// when no other is chosen, if they came with its submission).
    func earlier(_ run: RunRecord, _ workflow: Workflow) -> (values: [String: String], kept: [String: String]) {
        var values: [String: String] = [:]
        var kept: [String: String] = [:]
        for d in workflow.inputs {
            guard let v = run.inputs[d.name] else { continue }
            if d.type == .file {
                if case .file(let p) = v, server.isSubmittedFile(p, of: run) {
                    kept[d.name] = (p as NSString).lastPathComponent
                }
            } else {
                values[d.name] = SubmissionForm.text(v)
            }
        }
        return (values, kept)
    }

    // MARK: Pages

    func processesPage(_ c: Caller) async throws -> Response {
        let processes = try await stores.processes.processes(visibleTo: c.user, limit: 1000, offset: 0)
        return page("processes", title: "Processes", ProcessesView(processes, server.processes), caller: c)
    }

    func processPage(
        _ p: ProcessRecord, _ load: LoadResult, _ workflow: Workflow, _ c: Caller, values: [String: String],
        kept: [String: String], from: String?, error: String?
    ) async throws -> Response {
        var query = JobQuery()
        query.processIDs = [p.id]
        query.limit = 20
        let jobs = try await server.queries.jobs(readBy: c.user, query, now: Date()).runs
        let body = ProcessDescription.of(workflow)
        let outputs = workflow.outputs.map { o -> SubmitPageView.Output in
            let d = body.outputs[o.name]
            var type = ""
            if case .object(let s)? = d?.schema {
                if case .string(let t)? = s["contentMediaType"] {
                    type = "file (\(t))"
                } else if case .string(let t)? = s["type"] {
                    type = t
                }
            }
            return .init(title: d?.title ?? o.name, name: o.name, type: type, about: d?.description ?? "")
        }
        let segment = RunRoutes.pathSegment(p.id)
        var v = SubmitPageView(
            heading: workflow.title ?? p.id, action: "/console/processes/\(segment)/execution", csrf: c.session.csrf,
            fields: SubmissionForm.fields(workflow.inputs, values: values, kept: kept))
        (v.id, v.version, v.owner, v.visibility, v.segment) = (
            p.id, p.version, p.owner, p.visibility.description, segment
        )
        (v.outputs, v.hasOutputs) = (outputs, !outputs.isEmpty)
        if !jobs.isEmpty { v.jobs = RunsTableView(jobs) }
        if !workflow.keywords.isEmpty { v.keywords = workflow.keywords.joined(separator: ", ") }
        // A priced process: its price, the caller's balance, and a budget to give.
        if let price = workflow.price {
            let balance = try await stores.ledger.balances(of: LedgerAccount.user(c.user.name))[price.currency] ?? .zero
            v.price = ChargingRoutes.describe(price)
            v.priced = true
            v.budget = .init(
                currency: price.currency, name: SubmissionForm.budgetField, minimum: "\(price.run)",
                value: values[SubmissionForm.budgetField] ?? "\(price.run)", balance: "\(balance)")
        }
        v.description = workflow.description
        v.from = from
        // An estimate is said as a notice, not an error.
        if let error, error.hasPrefix(ConsoleRoutes.estimatePrefix) {
            v.notice = String(error.dropFirst(ConsoleRoutes.estimatePrefix.count))
        } else {
            v.error = error
        }
        // Its publisher (or an admin) sees its accounts: value, fee, resources, margin.
        if workflow.price != nil, p.isOwned(by: c.user) {
            let s = try await server.billing.earnings(of: p, currency: workflow.price?.currency)
            let m = { (x: Money) in "\(x) \(s.currency)" }
            v.accounts = .init(
                jobs: "\(s.jobs)", jobsWord: s.jobs == 1 ? "job" : "jobs", succeeded: "\(s.succeeded)",
                value: m(s.value), fee: m(s.fee), resources: m(s.resources), margin: m(s.value - s.fee - s.resources))
        }
        return page(
            "submit", title: workflow.title ?? p.id, v, caller: c, process: p.id)
    }

    func againPage(
        _ run: RunRecord, _ workflow: Workflow, _ c: Caller, values: [String: String], kept: [String: String],
        error: String?
    ) -> Response {
        var v = SubmitPageView(
            heading: "Run \(workflow.name) again", action: "/console/runs/\(run.id)/again", csrf: c.session.csrf,
            fields: SubmissionForm.fields(workflow.inputs, values: values, kept: kept))
        (v.from, v.description, v.error) = (run.id, workflow.description, error)
        return page("submit", title: "Run \(workflow.name) again", v, caller: c)
    }

    // MARK: Submitting

    /// Starts a run from a submission form: the files stored as they arrive in a
    /// directory of the submission's own, the fields read as the inputs' types, the run
    /// created as the API would (a process's job when `process`), then its page. A
    /// mistake shows the form again (`again`) with what was sent and what is wrong.
    func submit(
        _ request: Request, _ c: Caller, load: LoadResult, workflow: Workflow, process: ProcessRecord?,
        from fixed: RunRecord? = nil,
        again: (_ values: [String: String], _ kept: [String: String], _ from: String?, _ error: String) async throws ->
            Response
    ) async throws -> Response {
        try ConsoleRoutes.sameOrigin(request)
        let base = try server.newSubmissionDirectory()
        var keep = false
        defer { if !keep { try? FileManager.default.removeItem(atPath: base) } }
        let files = Set(workflow.inputs.filter { $0.type == .file }.map(\.name))
        let form: SentForm
        do {
            form = try await SentForm.read(request, into: base, fileInputs: files, limit: server.policy.fetchLimit)
        } catch let p as Problem where p.status != .internalServerError {
            var r = try await again([:], [:], fixed?.id, p.detail)
            r.status = p.status
            return r
        }
        try ConsoleRoutes.checkCSRF(form.fields[SubmissionForm.csrfField], c)
        // The run whose inputs filled the form: its files are taken again when no other is chosen.
        var earlier = fixed
        if earlier == nil, let id = form.fields[SubmissionForm.fromField], !id.isEmpty,
            let r = try await access.run(id, visibleTo: c.user), r.process == process?.id
        {
            earlier = r
        }
        let values = form.fields.filter { !$0.key.hasPrefix(".") }
        let budgetText = form.fields[SubmissionForm.budgetField]
        let kept = earlier.map { self.earlier($0, workflow).kept } ?? [:]
        func mistake(_ text: String, status: HTTPResponse.Status = .badRequest) async throws -> Response {
            var shown = values
            if let budgetText { shown[SubmissionForm.budgetField] = budgetText }
            var r = try await again(shown, kept, earlier?.id, text)
            r.status = status
            return r
        }
        // An estimate of the cost (a quote, not kept): the form again, its budget filled.
        if form.fields[SubmissionForm.actionField] == "quote", let process {
            var size: Int64 = 0
            for path in form.files.values { size += Charging.fileSize(base + "/" + path) ?? 0 }
            for d in workflow.inputs where d.type == .string { size += Int64(values[d.name]?.utf8.count ?? 0) }
            let q = try await server.billing.estimate(
                process, workflow.price, size: size, request: "{}", for: c.user)
            var shown = values
            shown[SubmissionForm.budgetField] = "\(q.amount)"
            var r = try await again(
                shown, kept, earlier?.id,
                ConsoleRoutes.estimatePrefix
                    + """
                    estimated at \(q.amount) \(q.currency) — \(q.basis). The budget is set to it: choose the \
                    files again, then run.
                    """
            )
            r.status = .ok
            return r
        }
        // A priced process: the budget given (checked, with the terms, as the API's are).
        var budget: (amount: Double, currency: String?)?
        if process != nil, let price = workflow.price {
            guard let text = budgetText, let amount = Money(text) else {
                return try await mistake("a budget is needed: an amount such as \(price.run)")
            }
            budget = (amount.value, price.currency)
        }
        let declared = Set(workflow.inputs.map(\.name))
        for name in values.keys.sorted() where !declared.contains(name) {
            let hint = Suggestion.closest(to: name, among: Array(declared)).map { " (did you mean `\($0)`?)" } ?? ""
            return try await mistake("`\(workflow.name)` has no input `\(name)`\(hint)")
        }
        var inputs: [String: Value] = [:]
        for d in workflow.inputs {
            if d.type == .file {
                if let path = form.files[d.name] {
                    inputs[d.name] = .string(path)
                } else if let run = earlier, case .file(let p)? = run.inputs[d.name], server.isSubmittedFile(p, of: run)
                {
                    let folder = base + "/inputs/" + d.name
                    let name = (p as NSString).lastPathComponent
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                    let content = try await TenantFiles.server.contents(
                        p, beneath: run.directory, limit: server.policy.fetchLimit)
                    guard FileManager.default.createFile(atPath: folder + "/" + name, contents: content) else {
                        return try await mistake("input `\(d.name)`: the earlier run's file could not be copied")
                    }
                    inputs[d.name] = .string("inputs/\(d.name)/\(name)")
                } else if d.defaultValue == nil {
                    return try await mistake("input `\(d.name)` needs a file")
                }
                continue
            }
            guard let text = values[d.name], !text.isEmpty else {
                if d.defaultValue == nil {
                    return try await mistake("input `\(d.name)` (\(d.type.rawValue)) is required")
                }
                continue
            }
            inputs[d.name] = .string(text)
        }
        var submission = Submission(
            user: c.user, load: load, workflow: workflow.name, inputs: inputs, directory: base)
        submission.process = process
        submission.price = workflow.price
        submission.budget = budget
        let run: RunRecord
        do {
            run = try await server.submissions.submit(submission)
        } catch {
            // As a problem the API would answer, shown on the form (an invalid one as 400).
            let p = Problem(error, invalid: .badRequest)
            return try await mistake(p.detail, status: p.status)
        }
        keep = true
        return ConsoleRoutes.redirect("/console/runs/\(run.id)")
    }
}

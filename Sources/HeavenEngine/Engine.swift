import Foundation
import HeavenBroker
public import HeavenConnectors
public import HeavenCore
public import HeavenLanguage
public import HeavenModel
public import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs workflows durably: creates runs, executes them to their end, and resumes
/// interrupted ones without re-running finished tasks.
public final class Engine: Sendable {
    /// Where state lives.
    public let home: HeavenHome
    /// Durable state, one capability each.
    public let stores: Stores
    let logger: Logger
    /// Seconds between SIGTERM and SIGKILL when tasks are stopped.
    public let killGrace: Double
    /// Seconds between probes of a remote site that answers (`HEAVEN_PROBE_INTERVAL`, 30).
    public let probeInterval: Double
    /// Seconds before a failed site is tried again, doubled at each failure in a row
    /// (`HEAVEN_PROBE_RETRY`, 10).
    public let retryBase: Double
    /// A shared server's engine: tasks may stage only files of their own run (uploads
    /// and outputs of its tasks), never another path of this machine.
    public let confined: Bool
    /// A shared server's isolation of its tenants (who their tasks run as, what bounds
    /// them); nil in the embedded single-user mode.
    public let tenancy: Tenancy?
    /// Makes the connector of each site a run uses.
    public let connectors: any ConnectorFactory

    /// Admission to the nodes its runs share (see `NodeGate`).
    let nodes = NodeGate()

    /// The runs this engine drives now.
    private let driving = Mutex<Set<String>>([])

    /// Whether this engine drives the run now.
    func drives(_ runID: String) -> Bool { driving.withLock { $0.contains(runID) } }

    /// Whether a recorded process (a run's driver, an attempt's) still runs on this machine.
    public static let processLiveness: ProcessLiveness = { ProcessProbe.isAlive(pid: $0, startTime: $1) }

    /// Creates an engine over a store. Without `connectors`, sites are reached by
    /// Heaven's own connectors, users' keys opened from their secrets in the store.
    public init(
        home: HeavenHome, stores: Stores, logger: Logger = Logger(label: "heaven.engine"), killGrace: Double = 5,
        probeInterval: Double? = nil, retryBase: Double? = nil, confined: Bool = false, tenancy: Tenancy? = nil,
        connectors: (any ConnectorFactory)? = nil
    ) {
        self.connectors = connectors ?? Engine.siteConnectors(home: home, secrets: stores.secrets)
        self.confined = confined || tenancy != nil
        self.tenancy = tenancy
        self.home = home
        self.stores = stores
        self.logger = logger
        self.killGrace = killGrace
        let env = ProcessInfo.processInfo.environment
        self.probeInterval = probeInterval ?? env["HEAVEN_PROBE_INTERVAL"].flatMap(Double.init) ?? 30
        self.retryBase = retryBase ?? env["HEAVEN_PROBE_RETRY"].flatMap(Double.init) ?? 10
    }

    /// The workflow to run: the one named, or the only one no other workflow calls.
    public static func mainWorkflow(in documents: DocumentSet, named name: String?) throws -> Workflow {
        if let name {
            guard let w = documents.workflow(named: name) else {
                throw EngineError.invalid(
                    """
                    no workflow `\(name)` in the files (found: \
                    \(documents.workflows.map(\.name).joined(separator: ", ")))
                    """
                )
            }
            return w
        }
        var called = Set<String>()
        for w in documents.workflows {
            for s in w.steps.depthFirst { if case .call(let c) = s.form { called.insert(c.workflow) } }
        }
        let roots = documents.workflows.filter { !called.contains($0.name) }
        guard roots.count == 1 else {
            if documents.workflows.isEmpty { throw EngineError.invalid("the files hold no Workflow") }
            throw EngineError.invalid(
                """
                the files hold several workflows (\(roots.map(\.name).joined(separator: ", "))): choose one with \
                --workflow NAME
                """
            )
        }
        return roots[0]
    }

    /// A new run id: time-ordered and random.
    public static func newRunID() -> String {
        let t = String(UInt64(Date().timeIntervalSince1970 * 1000) % 1_000_000_000_000, radix: 36)
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        let r = String((0..<6).map { _ in alphabet[Int.random(in: 0..<36)] })
        return "r" + t + r
    }

    /// What a submission's file inputs may name on a server: its own uploads (the
    /// server's files) and the operator's shared directories (read as the tenant).
    func submissionRoots(user: String, directory: String) async throws -> [FileRoot] {
        var roots = [FileRoot(path: directory, files: .server)]
        if let tenancy, !tenancy.shareDirectories.isEmpty {
            let tenant = try await tenancy.tenant(user)
            let files = tenant.admin ? .server : tenant.taskID.map { TenantFiles(.tenant(uid: $0, gid: $0)) } ?? .server
            roots += tenancy.shareDirectories.map { FileRoot(path: $0, files: files) }
        }
        return roots
    }

    /// Whose rights the files of `user`'s runs are reached with: their task uid's on an
    /// isolating server (an admin's unconfined tasks made files of the server's, tried
    /// next), this process's otherwise.
    public func files(of user: String) async throws -> TenantFiles {
        guard let tenancy else { return .server }
        let tenant = try await tenancy.tenant(user)
        guard let id = tenant.taskID else { return .server }
        return TenantFiles(.tenant(uid: id, gid: id), orElse: tenant.admin ? .server : nil)
    }

    /// How the tasks of `user` are confined on this server (nil: they are not, the
    /// embedded mode or `--no-isolation`): also what confines work the server does on a
    /// tenant's files for them (a preview).
    public func confinement(for user: String) async throws -> TaskConfinement? {
        guard let tenancy, let id = try await tenancy.tenant(user).taskID else { return nil }
        return try await confinement(tenancy, id: id)
    }

    private func confinement(_ tenancy: Tenancy, id: UInt32) async throws -> TaskConfinement {
        TaskConfinement(
            uid: id, gid: id, hidden: Tenancy.hiddenPaths(home: home, catalog: try await stores.catalog.catalog()),
            defaultMemory: tenancy.defaultMemory, maxProcesses: tenancy.maxProcesses, defaultDisk: tenancy.defaultDisk)
    }

    /// Records a new run of the main workflow with its inputs (values are text as
    /// given on the command line, or typed values). With `reusing`, an earlier run of the
    /// user's: the new run reuses the results of its task instances that ran the same
    /// thing (command, environment, input files' contents, site kind), and takes its
    /// inputs and output directory where none are given.
    public func createRun(
        load: LoadResult, workflow name: String?, inputs: [String: Value], outDirectory: String?, user: String,
        directory: String, reusing: String? = nil, process: (id: String, version: String)? = nil,
        charge: (terms: (RunRecord) -> JobCharge, quote: String?)? = nil
    ) async throws -> RunRecord {
        guard load.isValid else { throw DiagnosticsError(load.diagnostics) }
        let workflow = try Engine.mainWorkflow(in: load.documents, named: name)
        var given = inputs
        var out = outDirectory.map { HeavenHome.absolute($0) }
        var source: RunRecord?
        if let reusing {
            guard let old = try await stores.runs.run(reusing), old.user == user else {
                throw EngineError.invalid("no run \(reusing) to reuse")
            }
            if let pid = old.driver(alive: Engine.processLiveness, except: getpid()) {
                throw EngineError.invalid(
                    "run \(old.id) is still running (process \(pid)): wait for it, or cancel it, before reusing it")
            }
            for d in workflow.inputs where given[d.name] == nil {
                if let v = old.inputs[d.name] { given[d.name] = v }
            }
            out = out ?? old.outDirectory
            source = old
        }
        let bound = try Interpreter.bindInputs(
            workflow, given: given, baseDirectory: directory,
            roots: confined ? try await submissionRoots(user: user, directory: directory) : nil)
        try checkRunnable(workflow, documents: load.documents, user: user)
        let run = RunRecord(
            id: Engine.newRunID(), workflow: workflow.name, user: user, inputs: bound,
            outDirectory: out, directory: directory, reuses: source?.id, process: process?.id,
            processVersion: process?.version)
        try await stores.work.write { work in
            // A priced job: its quote used, its budget reserved from its payer and its terms
            // recorded with it, or no job.
            if let charge {
                let c = charge.terms(run)
                if let quote = charge.quote { work.useQuote(quote, job: run.id) }
                work.post(
                    LedgerTransaction(
                        id: "reserve:\(run.id)", kind: .reserve, job: run.id,
                        memo: "budget of job \(run.id) of \(c.process), \(c.budget) \(c.currency), put aside",
                        lines: [
                            LedgerLine(c.payer, -c.budget, c.currency),
                            LedgerLine(LedgerAccount.hold(run.id), c.budget, c.currency),
                        ]), funding: c.payer)
                work.createRun(run, documents: load.sources)
                work.recordCharge(c)
            } else {
                work.createRun(run, documents: load.sources)
            }
            work.appendEvent(EventRecord(runID: run.id, .created(workflow: workflow.name)))
        }
        return run
    }

    func checkRunnable(_ workflow: Workflow, documents: DocumentSet, user: String) throws {
        var needsSandbox = workflow.isolation == .sandbox
        for s in workflow.steps.depthFirst {
            if case .task(let t) = s.form, t.isolation == .sandbox { needsSandbox = true }
            if case .call(let c) = s.form, let w = documents.workflow(named: c.workflow), w.isolation == .sandbox {
                needsSandbox = true
            }
        }
        if needsSandbox && !TaskSandbox.isAvailable {
            throw EngineError.invalid("\(ConnectorError.sandboxUnavailable)")
        }
        if workflow.topology == nil { _ = try site(documents, user: user) }
    }

    /// The site tasks run on: the first local `Site` of the files, or this machine.
    func site(_ documents: DocumentSet, user: String) throws -> any Connector {
        if let local = documents.sites.first(where: { $0.connector == .local }) {
            return try connectors.connector(for: local, user: user)
        }
        if let remote = documents.sites.first {
            throw EngineError.invalid(
                """
                site `\(remote.name)` uses the \(remote.connector.kind) connector: a workflow runs there through \
                a topology (`topology:` naming machines the broker places on it); without one it runs on a local \
                site or on this machine
                """
            )
        }
        return try connectors.connector(for: ThisMachine.site(owner: user, software: []), user: user)
    }

    /// What a run executes on: its slots, the connectors of their sites, the grants they use.
    struct Resources {
        var slots: SlotPool
        var connectors: [String: any Connector]
        var grants: [String: GrantLimits]
    }

    /// Without a topology: the whole first local site (or this machine). With one: the
    /// broker's placement, made once and kept with the run (a resume reuses it).
    func resources(for run: RunRecord, topology: Topology?, documents: DocumentSet) async throws -> Resources {
        guard let topology else {
            let local = try site(documents, user: run.user)
            let capacity = try await local.capacity()
            return Resources(
                slots: .whole(site: local.siteName, cores: capacity.cores, memory: capacity.memory),
                connectors: [local.siteName: local], grants: [:])
        }
        var catalog = try await stores.catalog.catalog()
        let embedded = catalog.sites.isEmpty
        if embedded {
            // The embedded default: this machine, owned by the user.
            let site = ThisMachine.site(owner: run.user, software: topology.machines.flatMap(\.software))
            catalog.sites = [Catalog.SiteEntry(site: site, registeredBy: run.user)]
        }
        let placement: Placement
        if let stored = try await stores.catalog.placement(run: run.id) {
            placement = stored
        } else {
            // On a shared server, a tenant is who their account says (its groups), not a
            // user of this machine's of the same name.
            let account = tenancy == nil ? nil : try await stores.accounts.user(run.user)
            let who = account.map { Identity(user: $0.name, groups: $0.groups) } ?? Identity.system(user: run.user)
            switch Broker(catalog: catalog, allowSharing: embedded, dataAt: catalog.localSites).place(
                topology, for: who, run: run.id)
            {
            case .failure(let refusal): throw refusal
            case .success(let p): placement = p
            }
            for (name, g) in placement.grants.sorted(by: { $0.key < $1.key }) {
                guard try await stores.catalog.claimGrant(name, run: run.id, once: g.once) else {
                    throw Refusal(topology: topology.name, reasons: ["grant \(name) was used by another run meanwhile"])
                }
            }
            try await stores.catalog.setPlacement(placement, run: run.id)
            let summary = Dictionary(grouping: placement.machines, by: \.machine).sorted { $0.key < $1.key }
                .map {
                    "\($0.key) ×\($0.value.count) on " + Set($0.value.map(\.node.site)).sorted().joined(separator: ", ")
                }
            try await stores.runs.appendEvent(
                EventRecord(runID: run.id, .placed(topology: topology.name, machines: summary)))
        }
        var connectors: [String: any Connector] = [:]
        for name in placement.sites {
            guard let entry = catalog.sites.first(where: { $0.site.name == name }) else {
                throw Refusal(
                    topology: topology.name, reasons: ["site \(name) of the placement is no longer registered"])
            }
            connectors[name] = try self.connectors.connector(for: entry.site, user: run.user)
        }
        return Resources(slots: .placed(placement), connectors: connectors, grants: placement.grants)
    }

    /// Heaven's own connectors, users' private keys opened from their secrets in `store`.
    public static func siteConnectors(home: HeavenHome, secrets store: any SecretStore) -> SiteConnectors {
        let secrets = Secrets(home: home, store: store)
        return SiteConnectors(salt: home.remoteSalt) { user, secret in
            PrivateKeySource(owner: user, directory: home.root + "/keys") {
                try await secrets.open(owner: user, name: secret)
            }
        }
    }

    /// Runs (or resumes) a run to its end and returns its final record. `load`: the
    /// run's files as `createRun` parsed them (a new run goes straight from its parse to
    /// its execution); without it, they are read back from the store (a resume).
    public func execute(runID: String, load: LoadResult? = nil, controller: RunController = RunController())
        async throws -> RunRecord
    {
        driving.withLock { _ = $0.insert(runID) }
        defer { driving.withLock { _ = $0.remove(runID) } }
        // Cancellations seen so far: the record read next shows them; later ones wake the run.
        let cancelSeen = stores.changes.generation(of: .cancel(run: runID))
        guard let record = try await stores.runs.run(runID) else { throw StoreError.notFound(runID) }
        if record.status == .succeeded { return record }
        var life = RunLifecycle(record)
        guard let prepared = try await prepare(&life, load: load) else { return life.record }
        let outcome: RunLifecycle.Outcome
        do {
            outcome = try await drive(life.record, prepared, controller: controller, cancelSeen: cancelSeen)
        } catch {
            prepared.context.slots.expire(all: true)
            throw error
        }
        // Its tasks are over: what they kept for a next attempt is given back.
        prepared.context.slots.expire(all: true)
        return try await close(&life, outcome, context: prepared.context)
    }

    /// What a prepared run executes with.
    struct Prepared {
        let workflow: Workflow
        let topology: Topology?
        let context: RunContext
    }

    /// Prepares a run: its files, its placement and connectors, what a previous
    /// execution left (lost attempts stopped, finished tasks kept), its directories and
    /// its tenant's confinement. Nil when it cannot be prepared: it is then closed, failed.
    func prepare(_ life: inout RunLifecycle, load given: LoadResult?) async throws -> Prepared? {
        let run = life.record
        let me = getpid()
        if let owner = run.driver(alive: Engine.processLiveness, except: me) {
            throw EngineError.invalid("run \(run.id) is being driven by process \(owner); cancel it or wait for it")
        }
        let load: LoadResult
        if let given { load = given } else { load = Loader.load(sources: try await stores.runs.documents(run: run.id)) }
        guard load.isValid else { throw DiagnosticsError(load.diagnostics) }
        let workflow = try Engine.mainWorkflow(in: load.documents, named: run.workflow)
        let topology = workflow.topology.flatMap { load.documents.topology(named: $0) }
        // The run's Site and Grant documents join the catalog, registered by the run's user.
        for site in load.documents.sites { try await stores.catalog.registerSite(site, by: run.user) }
        for grant in load.documents.grants { try await stores.catalog.registerGrant(grant, by: run.user) }
        let resources: Resources
        do {
            resources = try await self.resources(for: run, topology: topology, documents: load.documents)
        } catch {
            // Nothing ran: the run ends here, saying why (a refusal lists every constraint).
            let event = life.refuse((error as? Refusal)?.description ?? "\(error)", refusal: error is Refusal)
            _ = try await end(life.record, event)
            return nil
        }

        // Attempts that were running when the process driving the run died are lost:
        // their processes (if still alive) are killed, and they will run again.
        let lost = try await stores.runs.markRunningAttemptsLost(
            run: run.id, reason: "the process driving the run stopped")
        // Attempts whose start was queued but not committed are found by their environment.
        if life.isResume { ProcessProbe.killOrphans(run: run.id) }
        for a in lost {
            if let pid = a.pid { ProcessProbe.killOrphan(pid: pid, run: a.runID, task: a.taskKey, attempt: a.number) }
            try await stores.runs.appendEvent(
                EventRecord(runID: run.id, .lost(task: a.taskKey, attempt: a.number, reason: nil)))
        }
        // Remote sites may still run them: stopped there too.
        for site in Set(lost.compactMap(\.site)).sorted() {
            if let c = resources.connectors[site] as? any RunHousekeeping { await c.abandonRun(run.id) }
        }
        let attempts = try await stores.runs.attempts(run: run.id)
        var previous: [String: Int] = [:]
        for a in attempts { previous[a.taskKey] = max(previous[a.taskKey] ?? 0, a.number) }
        let completed = try await stores.runs.succeededOutputs(run: run.id)
        var reusable: [String: AttemptRecord] = [:]
        if let earlier = run.reuses { reusable = try await stores.runs.reusableAttempts(run: earlier) }

        let started = life.drive(
            by: me, started: ProcessProbe.currentStartTime, kept: completed.count, lost: lost.count)
        // Running, and the event that tells it, together.
        let running = life.record
        try await stores.work.write { work in
            work.updateRun(running)
            work.appendEvent(EventRecord(runID: run.id, started))
        }

        let runDirectory = home.runDirectory(run.id)
        let layout = RunLayout(root: runDirectory)
        try FileManager.default.createDirectory(atPath: layout.workRoot, withIntermediateDirectories: true)
        // A run's files are its owner's account's alone.
        chmod(runDirectory, 0o700)
        try FileManager.default.createDirectory(atPath: layout.logRoot, withIntermediateDirectories: true)
        chmod(layout.logRoot, 0o700)
        // On a shared server: who the run's tasks run as, and whether its workflow may
        // leave the sandbox (an admin's only).
        var confinement: TaskConfinement?
        var mayOptOut = !confined
        if let tenancy {
            let tenant = try await tenancy.tenant(run.user)
            mayOptOut = tenant.admin
            if let id = tenant.taskID {
                confinement = try await self.confinement(tenancy, id: id)
                // Each task's working directory is the tenant's (0700, given as it is made);
                // the run's directory and `work/` stay the server's, searchable (0711) so
                // that the tenant reaches theirs; its logs stay the server's (0700).
                chmod(runDirectory, 0o711)
                chmod(layout.workRoot, 0o711)
            }
        }
        var plan = RunPlan(
            runID: run.id, user: run.user, documents: load.documents, topology: topology,
            defaultIsolation: workflow.isolation, runDirectory: runDirectory, baseDirectory: run.directory,
            completed: completed, previousAttempts: previous, confined: confined, confinement: confinement,
            mayOptOut: mayOptOut, killGrace: killGrace, reusesRun: run.reuses, reusable: reusable)
        plan.shareDirectories = tenancy?.shareDirectories ?? []
        // A tenant's task has only a loopback of its own, whatever its topology says.
        plan.tenantsHaveNetwork = tenancy == nil
        plan.tenantsGoOutbound = tenancy?.network == .outbound
        // A priced job's publisher pays the owners of the sites its attempts use.
        if run.process != nil, let charge = try await stores.ledger.charge(job: run.id) {
            plan.resourcePayer = (charge.publisher, charge.currency)
            for e in try await stores.catalog.catalog().sites {
                if let rate = Charging.SiteRate(e.site, registeredBy: e.registeredBy) { plan.rates[e.site.name] = rate }
            }
        }
        // An ended attempt's capacity no attempt of the run took over in its moment goes
        // back to the engine's gate and, in the store, stops being held.
        let (gate, catalog) = (nodes, stores.catalog)
        resources.slots.onExpiry(
            { parked in
                // The store first (queued now): a run the gate lets in is then not refused for it.
                catalog.releaseHolds(parked.map(\.key))
                for p in parked { gate.leave(node: p.node, cores: p.cores, memory: p.memory) }
            }, othersWait: { gate.isQueued(on: $0) })
        let context = RunContext(
            plan: plan, stores: stores, home: home, connectors: resources.connectors, slots: resources.slots,
            gate: nodes, grants: resources.grants, logger: logger, secrets: Secrets(home: home, store: stores.secrets))
        return Prepared(workflow: workflow, topology: topology, context: context)
    }

    /// Drives a prepared run: its steps, until they end or it is stopped, watching for a
    /// cancellation and (with a topology) for sites that go down.
    func drive(_ run: RunRecord, _ prepared: Prepared, controller: RunController, cancelSeen: UInt64) async throws
        -> RunLifecycle.Outcome
    {
        let context = prepared.context
        let topology = prepared.topology
        let workflow = prepared.workflow
        controller.attach(context)
        if run.cancelRequested { context.stop(.cancelled, "cancelled", kill: true) }

        let id = run.id
        let substitution = topology.map { Substitution(engine: self, context: context, topology: $0, run: run) }
        if let substitution {
            let catalog = stores.catalog
            let base = retryBase
            context.onSiteLost { site, reason in
                _ = try? await catalog.reportSiteFailure(site, reason: reason, base: base, renew: false)
                await substitution.handle([site: reason])
            }
        }
        let health =
            topology == nil
            ? nil : SiteWatch(catalog: stores.catalog, context: context, interval: probeInterval, base: retryBase)
        // A cancellation requested through this process's store (the server's API) wakes
        // the run at once; another process's `heaven cancel` signals the driving process.
        let watcher = Task.detached { [stores] in
            var seen = cancelSeen
            while !Task.isCancelled {
                await stores.changes.waitForChange(of: .cancel(run: id), after: seen, timeout: .seconds(10))
                if Task.isCancelled { return }
                seen = stores.changes.generation(of: .cancel(run: id))
                if let r = try? await stores.runs.run(id), r.cancelRequested {
                    context.stop(.cancelled, "cancelled", kill: true)
                    return
                }
            }
        }
        // Sites of a topology: a site reported down (here, at once; by an operator in
        // another process, at the next tick) has its machines moved; probes are due on
        // their own timer (`SiteWatch`).
        let sites = topology.map { _ in
            Task.detached { [stores] in
                while !Task.isCancelled {
                    let seen = stores.changes.generation(of: .sites)
                    if let substitution, let down = try? await stores.catalog.sitesDown(at: Date()), !down.isEmpty {
                        await substitution.handle(down)
                    }
                    await health?.tick()
                    await stores.changes.waitForChange(of: .sites, after: seen, timeout: .milliseconds(500))
                }
            }
        }
        defer {
            watcher.cancel()
            sites?.cancel()
        }

        var result: Result<[String: Value], any Error>
        do {
            let scope = Scope(parent: nil, values: ["inputs": .map(run.inputs)])
            try await Interpreter(context: context).run(workflow.steps, scope: scope, prefix: "", workflow: workflow)
            try context.checkRunning()
            var outputs: [String: Value] = [:]
            for o in workflow.outputs {
                do { outputs[o.name] = try o.value.evaluate(in: scope) } catch {
                    throw EngineError.evaluation("output `\(o.name)`: \(error.message)", at: o.value.location)
                }
            }
            if let dir = run.outDirectory { outputs = try OutputExporter(directory: dir).export(outputs) }
            result = .success(outputs)
        } catch {
            result = .failure(error)
        }
        watcher.cancel()
        sites?.cancel()
        switch result {
        case .success(let outputs): return .succeeded(outputs)
        case .failure(let error):
            if let stop = context.stopReason, stop.reason != .failed {
                return .stopped(stop.reason == .cancelled ? .cancelled : .interrupted, stop.message)
            }
            return .failed("\(error)")
        }
    }

    /// Closes a driven run: its end recorded, its sites' leftovers cleaned up.
    func close(_ life: inout RunLifecycle, _ outcome: RunLifecycle.Outcome, context: RunContext) async throws
        -> RunRecord
    {
        let ended = life.close(outcome)
        let record = try await end(life.record, ended)
        for case let c as any RunHousekeeping in context.allConnectors {
            await c.finishRun(record.id, succeeded: record.status == .succeeded)
        }
        return record
    }

    /// Ends a run without driving it, as failed with `reason` (a run whose resumption
    /// crashed the server): recorded as any run's end is (a priced job's budget released).
    public func setAside(runID: String, reason: String) async throws {
        guard var record = try await stores.runs.run(runID), !record.status.isFinal else { return }
        // What its last driver left running here stops (as a cancel stops it).
        let lost = try await stores.runs.markRunningAttemptsLost(run: record.id, reason: reason)
        for a in lost {
            if let pid = a.pid { ProcessProbe.killOrphan(pid: pid, run: a.runID, task: a.taskKey, attempt: a.number) }
        }
        if record.startedAt != nil { ProcessProbe.killOrphans(run: record.id) }
        record.status = .failed
        record.error = reason
        record.finishedAt = Date()
        record.ownerPID = nil
        record.ownerStart = nil
        _ = try await end(record, .ended(.failed, error: reason))
    }

    /// Records a run's end, the one place that does: a priced job is settled in the
    /// same transaction (`Charging`), which may turn its success into a failure (its
    /// price over its budget). Returns the record as written.
    func end(_ record: RunRecord, _ event: RunEvent) async throws -> RunRecord {
        guard record.process != nil, record.status.isFinal, let charge = try await stores.ledger.charge(job: record.id)
        else {
            // The status and the event that tells it in one transaction: a reader that sees
            // the run ended finds its last event too.
            try await stores.work.write { work in
                work.updateRun(record)
                work.appendEvent(EventRecord(runID: record.id, event))
            }
            return record
        }
        // The sizes of what it delivered, read as its tenant would, beneath its directory.
        let files = try await files(of: record.user)
        let root = home.runDirectory(record.id)
        // Its price as it was created with (a price that cannot be read is never taken as free).
        let price: Result<Price?, EngineError>
        do {
            price = .success(Charging.price(of: record, documents: try await stores.runs.documents(run: record.id)))
        } catch {
            price = .failure(.invalid("run \(record.id)'s price cannot be read (\(error))"))
        }
        let (settled, posting) = Charging.settle(record, charge: charge, price: price) { path in
            if case .file(let bytes)? = files.kind(path, beneath: root) { return bytes }
            return nil
        }
        let said = settled.status == record.status ? event : .ended(settled.status, error: settled.error)
        await TracePoint.reach("settle", record.id)
        // Its end, what tells it and its settlement: one unit of work.
        try await stores.work.write { work in
            work.updateRun(settled)
            work.appendEvent(EventRecord(runID: settled.id, said))
            for t in posting { work.post(t) }
        }
        return settled
    }
}

/// Lets the caller of `execute` stop a run and watch its progress.
public final class RunController: Sendable {
    private let context = Mutex<RunContext?>(nil)
    private let pending = Mutex<(StopReason, String)?>(nil)

    /// Creates a controller.
    public init() {}

    func attach(_ c: RunContext) {
        context.withLock { $0 = c }
        if let p = pending.withLock({ $0 }) { c.stop(p.0, p.1, kill: true) }
    }

    /// Stops the run: its running tasks are killed and it can be resumed later.
    public func interrupt(_ message: String = "interrupted") {
        pending.withLock { $0 = (.interrupted, message) }
        context.withLock { $0 }?.stop(.interrupted, message, kill: true)
    }

    /// Cancels the run for good.
    public func cancel() {
        pending.withLock { $0 = (.cancelled, "cancelled") }
        context.withLock { $0 }?.stop(.cancelled, "cancelled", kill: true)
    }

    /// The live progress, once the run executes.
    public var progress: ProgressSnapshot? { context.withLock { $0 }?.progress }
}

public import Foundation
import HeavenBroker
import HeavenConnectors
import HeavenCore
import HeavenModel
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// How a run is being stopped early.
public enum StopReason: String, Sendable {
    case cancelled, interrupted, failed
}

/// A live view of a run's tasks, for progress displays.
public struct ProgressSnapshot: Sendable {
    /// Task instances finished in this session.
    public var succeeded = 0
    /// Task instances whose results were reused from before a resume.
    public var reused = 0
    /// Attempts that failed and were retried (a failure with no retry left ends the run).
    public var retriedAttempts = 0
    /// Task instances waiting for a slot.
    public var waiting = 0
    /// Why tasks wait for capacity held elsewhere (other runs, grant limits), if they do.
    public var waitingFor: String?
    /// Foreach items not started yet.
    public var pendingItems = 0
    /// Everything known to be waiting: tasks waiting for a slot and items not started.
    public var pending: Int { waiting + pendingItems }
    /// Running task instances and when they started.
    public var running: [(key: String, since: Date)] = []
}

/// What one execution of a run is, fixed before its first task: read by every part of
/// the execution, never changed (the live state is `RunContext`'s).
struct RunPlan: Sendable {
    let runID: String
    /// The run's user, whose secrets its tasks may name.
    let user: String
    let documents: DocumentSet
    let topology: Topology?
    let defaultIsolation: Isolation
    let runDirectory: String
    /// The directory `heaven run` was started in (or a server run's uploads).
    let baseDirectory: String
    /// Outputs of task instances that succeeded before this execution, by key.
    let completed: [String: [String: Value]]
    /// Attempt numbers already used, by key (so a resumed task's attempts keep counting).
    let previousAttempts: [String: Int]
    /// Tasks may stage only files inside the run's own directory (a shared server).
    let confined: Bool
    /// On a shared server, how the run's tasks on the server's machine are confined (nil:
    /// embedded mode, or a server whose operator chose `--no-isolation`).
    let confinement: TaskConfinement?
    /// Whether the workflow's own `isolation: none` is honoured: always in embedded mode,
    /// an admin's only on a server.
    let mayOptOut: Bool
    /// Seconds between SIGTERM and SIGKILL when tasks are stopped.
    let killGrace: Double
    /// The earlier run whose results this one reuses, and those results by fingerprint.
    let reusesRun: String?
    let reusable: [String: AttemptRecord]
    /// A priced job's: who pays its attempts' cores (its process's publisher), in what
    /// currency, and each priced site's rate, by site name.
    var resourcePayer: (account: String, currency: String)?
    var rates: [String: Charging.SiteRate] = [:]
    /// Directories the operator shares with every tenant (`heaven serve --share-dir`):
    /// their files may be inputs, read with the tenant's rights.
    var shareDirectories: [String] = []
    /// Whether a tenant's task may have the network its virtual machine asks for: on a
    /// server never (only an admin's may); in the embedded mode always.
    var tenantsHaveNetwork = false
    /// Whether a tenant's task whose virtual machine asks for the network gets an outbound
    /// one of its own (`heaven serve --task-network outbound`).
    var tenantsGoOutbound = false

    init(
        runID: String, user: String = "", documents: DocumentSet, topology: Topology? = nil,
        defaultIsolation: Isolation = .none, runDirectory: String, baseDirectory: String,
        completed: [String: [String: Value]] = [:], previousAttempts: [String: Int] = [:], confined: Bool = false,
        confinement: TaskConfinement? = nil, mayOptOut: Bool = true, killGrace: Double = 5, reusesRun: String? = nil,
        reusable: [String: AttemptRecord] = [:]
    ) {
        self.reusesRun = reusesRun
        self.reusable = reusable
        self.runID = runID
        self.user = user
        self.documents = documents
        self.topology = topology
        self.defaultIsolation = defaultIsolation
        self.runDirectory = runDirectory
        self.baseDirectory = baseDirectory
        self.completed = completed
        self.previousAttempts = previousAttempts
        self.confined = confined
        self.confinement = confinement
        self.mayOptOut = mayOptOut
        self.killGrace = killGrace
    }
}

/// One execution of a run, live: its plan, the store, connectors and slots it uses,
/// its counters and processes, and its stop flag.
final class RunContext: Sendable {
    /// What the execution is (never changes).
    let plan: RunPlan
    let stores: Stores
    /// The connector of every site the run uses, by site name (a substitution adds some).
    private let connectorsBySite: Mutex<[String: any Connector]>
    let slots: SlotPool
    /// Admission to the nodes this run shares with the engine's other runs.
    let gate: NodeGate
    /// Limits of the grants the placement uses, by name.
    let grants: [String: GrantLimits]
    let home: HeavenHome
    let logger: Logger
    let secrets: Secrets?
    /// Where a confined run's tasks may stage files from, and with whose rights they are
    /// read there: the run's directory (its tenant's, beneath it, never through a link)
    /// and the files uploaded with it (its base directory: the server's). Empty in the
    /// embedded mode.
    let stagingRoots: [FileRoot]
    /// Default number of foreach items in flight when the step sets no cap.
    let foreachWindow: Int

    /// Digests of the files tasks use, for their fingerprints.
    let digests: FileDigests

    /// The kinds of site (their connectors) that the instances of `machine` (of any
    /// machine when nil) are on, sorted.
    func siteKinds(for machine: String?) -> String {
        let generation = slots.generation.load(ordering: .acquiring)
        if let (g, kinds) = kindsOfMachines.withLock({ $0[machine ?? ""] }), g == generation { return kinds }
        let kinds = Set(
            slots.sites(of: machine).map { site in connector(for: site).map { "\(type(of: $0))" } ?? "local" }
        )
        .sorted().joined(separator: " ")
        kindsOfMachines.withLock { $0[machine ?? ""] = (generation, kinds) }
        return kinds
    }
    /// The kinds of site of each machine's instances, and the slots' generation they are of.
    private let kindsOfMachines = Mutex<[String: (Int, String)]>([:])

    private struct Live {
        var stop: (reason: StopReason, message: String)?
        var processes: [String: any RunningTask] = [:]
        var progress = ProgressSnapshot()
        var runningSince: [String: Date] = [:]
    }

    private let live = Mutex(Live())
    /// `path` with symbolic links resolved (as given when it cannot be).
    static func realPath(_ path: String) -> String {
        guard let p = realpath(path, nil) else { return path }
        defer { free(p) }
        return String(cString: p)
    }

    /// Empty working directories and logs of ended attempts, for the next ones.
    let files = FileRecycler()
    /// Directories of the files that define workflows, resolved once (by file).
    private let programDirectories = Mutex<[String: String]>([:])

    /// The directory that relative program paths (`./bin/x`) of a workflow defined in
    /// `file` are resolved from.
    func programDirectory(of file: String) -> String {
        if let known = programDirectories.withLock({ $0[file] }) { return known }
        let absolute = file.hasPrefix("/") ? file : plan.baseDirectory + "/" + file
        let directory = ((absolute as NSString).deletingLastPathComponent as NSString).standardizingPath
        programDirectories.withLock { $0[file] = directory }
        return directory
    }

    init(
        plan: RunPlan, stores: Stores, home: HeavenHome, connectors: [String: any Connector], slots: SlotPool,
        gate: NodeGate = NodeGate(), grants: [String: GrantLimits] = [:], logger: Logger, secrets: Secrets? = nil
    ) {
        self.gate = gate
        self.plan = plan
        self.stores = stores
        self.home = home
        self.connectorsBySite = Mutex(connectors)
        self.slots = slots
        self.grants = grants
        self.logger = logger
        self.secrets = secrets
        // An admin's run (whose tasks may run unconfined, as the server) is read with their
        // task uid's rights, else the server's.
        let tenant: TenantFiles =
            plan.confinement.map {
                TenantFiles(.tenant(uid: $0.uid, gid: $0.gid), orElse: plan.mayOptOut ? .server : nil)
            } ?? .server
        self.stagingRoots =
            plan.confined
            ? [FileRoot(path: plan.runDirectory, files: tenant), FileRoot(path: plan.baseDirectory, files: .server)]
                + plan.shareDirectories.map { FileRoot(path: $0, files: tenant) } : []
        self.digests = FileDigests(roots: plan.confined ? stagingRoots : nil)
        self.foreachWindow = max(64, 4 * slots.siteCores)
    }

    var stopReason: (reason: StopReason, message: String)? { live.withLock { $0.stop } }

    /// The connector of a site the run uses.
    func connector(for site: String) -> (any Connector)? { connectorsBySite.withLock { $0[site] } }

    /// In a struct of its own (see `SlotPool.Hooks`: a closure as a `Mutex`'s value
    /// gains a thunk per read).
    private struct SiteLostHandler {
        var handler: (@Sendable (String, String) async -> Void)?
    }
    private let siteLostHandler = Mutex(SiteLostHandler())

    /// Sets what happens when a site stops answering (substitution, with a topology).
    func onSiteLost(_ handler: @escaping @Sendable (String, String) async -> Void) {
        siteLostHandler.withLock { $0.handler = handler }
    }

    /// A site stopped answering: it is marked down and its machines re-placed.
    func siteLost(_ site: String, _ reason: String) async {
        await event(.siteLost(site: site, reason: reason))
        if let handler = siteLostHandler.withLock({ $0.handler }) { await handler(site, reason) }
    }

    /// Every connector the run uses.
    var allConnectors: [any Connector] { connectorsBySite.withLock { Array($0.values) } }

    /// Adds the connector of a site the run now uses.
    func addConnector(_ c: any Connector) { connectorsBySite.withLock { $0[c.siteName] = c } }

    /// Throws when the run is stopping, so no new work starts.
    func checkRunning() throws {
        if let s = stopReason { throw EngineError.stopped(s.message) }
    }

    /// What wakes those who wait while the run goes on: its stop.
    enum Signal: Hashable, Sendable { case stop }
    private let signals = TopicFeed<Signal>()

    /// Waits until `deadline`, or less when the run stops, then throws (a retry's
    /// backoff): woken, not polling.
    func pause(until deadline: ContinuousClock.Instant) async throws {
        let seen = signals.generation(of: .stop)
        try checkRunning()
        guard deadline > .now else { return }
        await signals.wait(for: .stop, after: seen, timeout: deadline - .now)
        try checkRunning()
    }

    /// Stops the run: no new task starts; with `kill`, running tasks get SIGTERM,
    /// then SIGKILL after the grace period.
    func stop(_ reason: StopReason, _ message: String, kill: Bool) {
        let processes = live.withLock { l -> [any RunningTask] in
            // A cancel outranks an interrupt, which outranks a failure.
            let rank: [StopReason: Int] = [.failed: 0, .interrupted: 1, .cancelled: 2]
            if l.stop == nil || rank[reason]! > rank[l.stop!.reason]! { l.stop = (reason, message) }
            return kill ? Array(l.processes.values) : []
        }
        signals.notify(.stop)
        slots.close(message)
        gate.abandon(run: plan.runID, reason: message)
        guard kill else { return }
        for p in processes { p.signal(SIGTERM) }
        if !processes.isEmpty {
            let grace = plan.killGrace
            Task.detached {
                try? await Task.sleep(for: .seconds(grace))
                for p in processes { p.signal(SIGKILL) }
            }
        }
    }

    func register(_ key: String, _ process: any RunningTask) -> Bool {
        live.withLock { l in
            l.processes[key] = process
            l.progress.running.append((key, Date()))
            return l.stop != nil && l.stop?.reason != .failed
        }
    }

    func unregister(_ key: String) {
        live.withLock { l in
            l.processes[key] = nil
            l.progress.running.removeAll { $0.key == key }
        }
    }

    func count(_ update: (inout ProgressSnapshot) -> Void) {
        live.withLock { update(&$0.progress) }
    }

    var progress: ProgressSnapshot { live.withLock { $0.progress } }

    func event(_ event: RunEvent) async {
        do {
            try await stores.runs.appendEvent(EventRecord(runID: plan.runID, event))
        } catch {
            logger.error("cannot record event: \(error)", metadata: ["run": "\(plan.runID)"])
        }
    }
}

public import Foundation
import HeavenAPI
import HeavenApplication
import HeavenBroker
import HeavenConnectors
public import HeavenCore
public import HeavenEngine
import HeavenLanguage
import HeavenModel
public import Hummingbird
public import Logging
import Metrics
import Prometheus
import Synchronization

/// `heaven serve`: the engine and the broker inside an HTTP server, for many users at
/// once (API v1 and OGC API - Processes). Every route but `/healthz`, `/openapi.json`
/// and the OGC landing page, conformance and `/api` needs a bearer token; a user
/// sees only their own runs and those shared with one of their groups (an admin sees
/// all); runs continue across a restart (interrupted ones are resumed at start).
public final class HeavenServer: Sendable {
    public let engine: Engine
    public let stores: Stores
    public let home: HeavenHome
    /// The operator's decisions: how tenants' tasks are isolated, where tenants may register sites.
    public let policy: ServerPolicy
    let logger: Logger
    /// Published processes, parsed once per version.
    let processes = ParsedProcesses()
    /// The use cases every transport shares (HeavenApplication).
    var submissions: Submissions {
        Submissions(
            engine: engine, accounts: stores.accounts, network: policy.taskNetwork, feePercent: policy.platformFee
        ) {
            [self] run, load in drive(run, load: load)
        }
    }
    var billing: Billing {
        Billing(runs: stores.runs, ledger: stores.ledger, accounts: stores.accounts) { [self] run in
            try await size(of: run)
        }
    }
    var control: RunControl { RunControl(engine: engine, runs: stores.runs, ledger: stores.ledger) }
    var queries: RunQueries { RunQueries(runs: stores.runs, accounts: stores.accounts, processes: stores.processes) }
    /// The runs the console looked at lately, followed by what changes (`RunSight`).
    let sights = RunSights()
    /// Runs this process drives, by id.
    private let driving = Mutex<[String: Task<Void, Never>]>([:])

    /// Prometheus metrics of this process (swift-metrics is bootstrapped with it once,
    /// by the first server made).
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    public init(
        home: HeavenHome, stores: Stores, policy: ServerPolicy = ServerPolicy(),
        logger: Logger = Logger(label: "heaven.server")
    ) {
        _ = HeavenServer.registry
        self.home = home
        self.stores = stores
        self.policy = policy
        self.logger = logger
        let tenancy = Tenancy.accounts(
            stores.accounts, ids: policy.taskIDs, defaultMemory: policy.taskMemory, maxProcesses: policy.taskProcesses,
            shareDirectories: policy.shareDirectories, network: policy.taskNetwork, defaultDisk: policy.taskDisk)
        self.engine = Engine(home: home, stores: stores, logger: logger, confined: true, tenancy: tenancy)
    }

    // MARK: Running runs

    /// Drives a run to its end in the background (a new run with its files as parsed).
    func drive(_ runID: String, load: LoadResult? = nil) {
        driving.withLock { d in
            guard d[runID] == nil else { return }
            d[runID] = Task.detached { [engine, logger] in
                let following = Task.detached { await self.followForConsole(runID) }
                do { _ = try await engine.execute(runID: runID, load: load) } catch {
                    logger.error("run failed to execute", metadata: ["run": "\(runID)", "error": "\(error)"])
                }
                following.cancel()
                self.driving.withLock {
                    $0.removeValue(forKey: runID)
                    CrashGuard.note($0.keys)
                }
            }
            CrashGuard.note(d.keys)
        }
    }

    /// Keeps the console's sight of a run this server drives up to date while it runs, a
    /// look at most a second after each change once it has run a second (a job of a few
    /// milliseconds is never looked at): its page, opened even at 100,000 tasks, then
    /// reads only the last second's changes. Not for a run past what the sights keep.
    func followForConsole(_ runID: String) async {
        do {
            try await Task.sleep(for: .seconds(1))
            while true {
                let seen = stores.changes.generation(of: .attempts(run: runID))
                let sight = try await sights.look(runID, runs: stores.runs)
                if await sight.size > sights.capacity { return }
                await stores.changes.waitForChange(of: .attempts(run: runID), after: seen, timeout: .seconds(60))
                try await Task.sleep(for: .seconds(1))
            }
        } catch {
            // Cancelled (the run ended), or the store failed: the page reads it then.
        }
    }

    /// A new directory for what one submission brings (uploaded files, fetched inputs),
    /// against which its relative file inputs are resolved; its tasks may stage from there.
    func newSubmissionDirectory() throws -> String {
        let base = home.root + "/server/uploads/" + UUID().uuidString.lowercased()
        // One mkdir once the uploads directory exists (a job is submitted many times a second).
        if mkdir(base, 0o700) == 0 { return base }
        try FileManager.default.createDirectory(
            atPath: base, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return base
    }

    /// Whether a file a run was given was brought with the run's own submission (beneath
    /// its directory under the server's uploads, a regular file, reached without a
    /// link): only such a file is ever given again to another run.
    func isSubmittedFile(_ path: String, of run: RunRecord) -> Bool {
        let uploads = home.root + "/server/uploads"
        guard TenantFiles.relative(run.directory, to: uploads) != nil else { return false }
        return TenantFiles.server.isReadableFile(path, beneath: run.directory)
    }

    /// Waits until this server no longer drives the run (it ended, or stopped).
    func finish(_ runID: String) async {
        if let t = driving.withLock({ $0[runID] }) { await t.value }
    }

    /// Whether this server drives the run now.
    func isDriving(_ runID: String) -> Bool { driving.withLock { $0[runID] != nil } }

    /// Resumes the runs a previous server left unfinished (it was killed, or stopped).
    /// A run that was being driven at two crashes of the server is set aside as failed
    /// instead (see `CrashGuard`); from here on, a crash notes the runs driven.
    public func resumeInterrupted() async throws -> [String] {
        let crashes = CrashGuard(home: home)
        var counts = crashes.countsAfterLastStart()
        var resumed: [String] = []
        var kept: [String: Int] = [:]
        // What cannot be read is said, and the server serves all the same (never a crash loop).
        let runs: [RunRecord]
        do {
            runs = try await stores.runs.runs(limit: 100_000)
        } catch {
            logger.error("cannot read the runs to resume: \(error)")
            return []
        }
        for run in runs where run.status == .running || run.status == .pending {
            if run.driver(alive: Engine.processLiveness, except: getpid()) != nil { continue }
            if let n = counts[run.id], n >= CrashGuard.limit {
                let reason =
                    """
                    set aside: the server crashed \(n) times while driving this run, so it is not resumed again \
                    (resume it once the cause is fixed)
                    """
                logger.error("run set aside", metadata: ["run": "\(run.id)", "why": "\(reason)"])
                try await engine.setAside(runID: run.id, reason: reason)
                counts[run.id] = nil
                continue
            }
            kept[run.id] = counts[run.id]
            drive(run.id)
            resumed.append(run.id)
        }
        crashes.save(kept)
        crashes.watch()
        return resumed
    }

    /// Waits for the runs this process drives (tests, graceful stops).
    public func waitForRuns() async {
        for t in driving.withLock({ Array($0.values) }) { await t.value }
    }

    // MARK: The HTTP application

    /// The router with every route of API v1 (one collection of routes per resource).
    public func router() -> Router<HeavenContext> { routes().router }

    /// The router, and the operations it serves (what its OpenAPI document says).
    func routes() -> (router: Router<HeavenContext>, operations: [APIOperation]) {
        let router = Router(context: HeavenContext.self)
        router.add(middleware: AuditMiddleware(store: stores.accounts))
        router.add(middleware: MetricsMiddleware())
        let table = RouteTable()
        router.add(middleware: ProblemMiddleware(logger: logger, routes: table))
        let open = OpenPaths()
        router.add(middleware: AuthMiddleware(store: stores.accounts, open: open))
        var routes = APIRoutes(router: router)
        let access = Access(server: self)
        let document = DocumentBox()
        ServiceRoutes(server: self, document: document).register(&routes)
        AccountRoutes(server: self).register(&routes)
        RunRoutes(server: self, access: access).register(&routes)
        CatalogRoutes(server: self, access: access).register(&routes)
        ProcessRoutes(server: self, document: document).register(&routes)
        JobRoutes(server: self).register(&routes)
        ChargingRoutes(server: self).register(&routes)
        // The web console: pages, not API operations (not in the document); its own
        // sign-in (a session cookie), so no bearer token on its paths.
        do {
            try ConsoleRoutes(server: self, access: access).register(on: router)
        } catch {
            preconditionFailure("the console's templates do not parse: \(error)")
        }
        document.data = HeavenServer.document(routes.operations).data
        open.fill(routes.tokenRules)
        table.fill(router.routes.map { ($0.method.rawValue, "\($0.path)") })
        return (router, routes.operations)
    }

    /// The OpenAPI document of these operations, served at `/openapi.json`.
    static func document(_ operations: [APIOperation]) -> OpenAPIDocument {
        OpenAPIDocument(
            title: "Heaven API", version: "1.0.0",
            description:
                """
                Runs, sites, grants and placements of a shared Heaven server (API v1), and its published \
                processes and their jobs (OGC API - Processes 1.0, Part 2's deploy, replace and undeploy). Every \
                route but /healthz, /openapi.json, /, /conformance and /api needs `Authorization: Bearer TOKEN` \
                (tokens come from `heaven users add`; GET /processes and /processes/{processID} read one when \
                sent). Errors are RFC 9457 problem details. This document is derived from the server's own routes \
                and the types of their bodies.
                """,
            operations: operations)
    }

    /// The OpenAPI document of this server's API (as `/openapi.json` serves it).
    public var openAPIDocument: Data { HeavenServer.document(routes().operations).data }

    /// Serves on `host:port` until the process is asked to stop (SIGTERM, SIGINT);
    /// `onReady` gets the bound port (useful with port 0).
    public func serve(host: String, port: Int, onReady: @escaping @Sendable (Int) async -> Void = { _ in }) async throws
    {
        let app = Application(
            router: router(), configuration: .init(address: .hostname(host, port: port), serverName: "heaven"),
            onServerRunning: { channel in await onReady(channel.localAddress?.port ?? port) }, logger: logger)
        try await app.runService()
    }
}

public import Foundation
public import HeavenModel

// The durable state of Heaven, split by capability in the manner of GRDB's
// `DatabaseReader`/`DatabaseWriter`: what a component needs is what it names.
// Every transition is written here before it is acted upon. `SQLiteStore`
// (HeavenStore) is the embedded implementation; a second one (PostgreSQL, for a
// control plane shared by several servers) conforms to the same protocols, which
// is why no signature here names a type of SQLite.

/// Runs, their attempts and their events.
public protocol RunStore: Sendable {
    /// Records a new run with the documents it was created with (its workflow's file
    /// first), which a resumed run reads again.
    func createRun(_ run: RunRecord, documents: [SourceFile]) async throws
    /// The documents a run was created with: an error (`StoreError.corrupt`), never an
    /// empty list, when they cannot be read.
    func documents(run: String) async throws -> [SourceFile]
    /// Replaces a run's record.
    func updateRun(_ run: RunRecord) async throws
    /// A run by id, or by a unique prefix of its id.
    func run(_ idOrPrefix: String) async throws -> RunRecord?
    /// The latest runs, newest first.
    func runs(limit: Int) async throws -> [RunRecord]
    /// Sets the cancel flag of a run; returns the updated record.
    func requestCancel(run: String) async throws -> RunRecord?

    /// Records where an attempt's process is (after it was started), queued without
    /// waiting: committed in order, before the attempt's end.
    func noteAttemptProcess(_ attempt: AttemptKey, pid: Int32, pidStart: String?)
    /// Records how an attempt ended.
    func finishAttempt(_ attempt: AttemptRecord) async throws
    /// Records how an attempt ended. `passing` runs while the write is being queued
    /// (nothing queued after it is committed before this write); it frees the attempt's
    /// slot and says whether the attempt's capacity passes to the next attempt on its
    /// node, which then records its start with `startAttempt(_:takingOver:)`. Until
    /// then the capacity stays counted as held (or until `releaseHolds`, when no attempt
    /// came for it).
    func finishAttempt(_ attempt: AttemptRecord, passing: @Sendable () -> Bool) async throws
    /// Every attempt of a run, oldest first.
    func attempts(run: String) async throws -> [AttemptRecord]
    /// What changed among a run's attempts since a look that saw them up to id `after`
    /// and saw those of `running` running: the attempts recorded since (by id, oldest
    /// first), then those of `running` as they are now. A look that follows a run this
    /// way reads what changed, never the whole run again: an attempt's id grows in the
    /// order attempts are recorded, and an attempt changes only while it runs (a second
    /// implementation must keep both true). `after: 0, running: []` reads them all.
    func attemptChanges(run: String, after: Int64, running: [Int64]) async throws -> [AttemptSummary]
    /// The CPU seconds a run's attempts used, all together (a job's status tells them).
    func cpuSeconds(run: String) async throws -> Double
    /// The outputs of every task instance that succeeded in a run, by task key.
    func succeededOutputs(run: String) async throws -> [String: [String: Value]]
    /// The succeeded attempts of a run that recorded a fingerprint, by fingerprint: what a
    /// later run may reuse (`heaven run --resume`).
    func reusableAttempts(run: String) async throws -> [String: AttemptRecord]
    /// Records a task instance's result reused from an earlier run: an attempt that
    /// succeeded at once, holding nothing.
    func recordReused(_ attempt: AttemptRecord) async throws
    /// Marks the run's still-running attempts as lost and returns them.
    func markRunningAttemptsLost(run: String, reason: String) async throws -> [AttemptRecord]

    /// Appends an event.
    func appendEvent(_ event: EventRecord) async throws
    /// A run's events, oldest first.
    func events(run: String, after: Int64, limit: Int) async throws -> [EventRecord]
}

extension RunStore {
    /// The CPU seconds a run's attempts used, from its attempts.
    public func cpuSeconds(run: String) async throws -> Double {
        try await attempts(run: run).compactMap(\.cpuSeconds).reduce(0, +)
    }
}

/// Sites, grants, placements, the capacity their nodes have left and their health.
public protocol CatalogStore: Sendable {
    /// Records (or replaces) a site, registered by a user.
    func registerSite(_ site: Site, by user: String) async throws
    /// Records (or replaces) a grant.
    func registerGrant(_ grant: Grant, by user: String) async throws
    /// Sites, grants and their use, for the broker.
    func catalog() async throws -> Catalog
    /// Records that a run uses a grant; false if a one-shot grant is used by another run.
    func claimGrant(_ grant: String, run: String, once: Bool) async throws -> Bool
    /// Stores a run's placement (made once; a resume reuses it).
    func setPlacement(_ placement: Placement, run: String) async throws
    /// A run's placement, if it has one.
    func placement(run: String) async throws -> Placement?

    /// Records that an attempt starts if its node and grant have room, in one
    /// transaction (two processes sharing the store never oversubscribe a node).
    func startAttempt(_ attempt: AttemptRecord, checking limits: CapacityLimits?) async throws -> AttemptStart
    /// Records, queued without waiting, the start of an attempt that takes over the
    /// capacity of an ended one on the same node and grant (no more cores or memory):
    /// what the node holds does not change, so no capacity check is needed, and the
    /// attempt may start before this is committed. Its end is committed after it.
    func startAttempt(_ attempt: AttemptRecord, takingOver previous: AttemptKey)

    /// Records, queued without waiting, that ended attempts no longer hold their
    /// capacity (kept for a moment for their run's next attempt, which did not come).
    /// Those waiting for capacity are woken once it is committed.
    func releaseHolds(_ attempts: [AttemptKey])

    /// The sites down at `now`, with the reason given.
    func sitesDown(at now: Date) async throws -> [String: String]
    /// Marks a site down until a date, as its operator does (nil: up again).
    func markSite(_ name: String, downUntil: Date?, reason: String?) async throws
    /// Records that a site did not answer: it is down until a retry time that doubles
    /// with each failure in a row (`base`, 2×`base`, ... at most 5 minutes). A site its
    /// operator took down stays as the operator said. Without `renew`, a site already
    /// down stays as it is (several lost tasks are one failure).
    func reportSiteFailure(_ name: String, reason: String, base: Double, renew: Bool) async throws -> SiteHealth
    /// Records that a site answered: up again when failures had put it down. Returns
    /// the health it had before.
    func reportSiteAnswers(_ name: String) async throws -> SiteHealth?
    /// Every registered site's health.
    func siteHealth() async throws -> [String: SiteHealth]
}

/// Everything Heaven keeps, one capability each: a component is given the `Stores` and
/// uses what it names (`stores.runs`, `stores.ledger`, ...), or is given only those.
/// Changes across capabilities go through a unit of work (`stores.work`).
public struct Stores: Sendable {
    public let runs: any RunStore
    public let catalog: any CatalogStore
    public let accounts: any AccountStore
    public let secrets: any SecretStore
    public let processes: any ProcessStore
    public let ledger: any LedgerStore
    public let work: any UnitOfWorkStore
    public let changes: any ChangeObserving

    /// Each capability from its own store.
    public init(
        runs: any RunStore, catalog: any CatalogStore, accounts: any AccountStore, secrets: any SecretStore,
        processes: any ProcessStore, ledger: any LedgerStore, work: any UnitOfWorkStore, changes: any ChangeObserving
    ) {
        self.runs = runs
        self.catalog = catalog
        self.accounts = accounts
        self.secrets = secrets
        self.processes = processes
        self.ledger = ledger
        self.work = work
        self.changes = changes
    }

    /// Every capability from one store that has them all (SQLite's, PostgreSQL's).
    public init(
        _ store: some RunStore & CatalogStore & AccountStore & SecretStore & ProcessStore & LedgerStore
            & UnitOfWorkStore & ChangeObserving
    ) {
        self.init(
            runs: store, catalog: store, accounts: store, secrets: store, processes: store, ledger: store,
            work: store, changes: store)
    }
}

/// Whether a site is down, since when it fails, and who said so.
public struct SiteHealth: Sendable, Equatable {
    /// Until when it counts as down (then it is tried again); nil: up.
    public var downUntil: Date?
    public var reason: String?
    /// Failed probes (or lost connections) in a row.
    public var failures: Int
    /// Whether its operator took it down (`heaven sites down`): no probe brings it back.
    public var byOperator: Bool

    public init(downUntil: Date? = nil, reason: String? = nil, failures: Int = 0, byOperator: Bool = false) {
        self.downUntil = downUntil
        self.reason = reason
        self.failures = failures
        self.byOperator = byOperator
    }

    /// Whether it counts as down at `now`.
    public func isDown(at now: Date) -> Bool { downUntil.map { $0 > now } ?? false }
}

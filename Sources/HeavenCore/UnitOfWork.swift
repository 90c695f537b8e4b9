public import HeavenModel

/// Several changes to the store, across capabilities (runs, attempts, events, the
/// ledger), made in one transaction: all of them or, the first one refused, none. A use
/// case gathers them, in the manner of GRDB's `write { db in ... }`:
///
/// ```swift
/// try await store.write { work in
///     work.updateRun(ended)
///     work.appendEvent(EventRecord(runID: ended.id, .ended(.succeeded, error: nil)))
///     work.post(settlement)
/// }
/// ```
///
/// No store method needs to know another capability: ending a run, settling its bill
/// and telling it are three changes of one unit. The changes are values (no type of a
/// database in them), applied in order by whichever store commits them — SQLite's
/// writer in one transaction, PostgreSQL's `BEGIN ... COMMIT` alike.
public struct UnitOfWork: Sendable {
    /// One change of a unit of work.
    public enum Change: Sendable {
        /// Records a new run with the documents it was created with.
        case createRun(RunRecord, documents: [SourceFile])
        /// Replaces a run's record (its cancel, withheld and dismissed flags are only
        /// ever raised).
        case updateRun(RunRecord)
        /// Appends an event.
        case appendEvent(EventRecord)
        /// Records how an attempt ended; refused when it was never recorded as started.
        case finishAttempt(AttemptRecord)
        /// Posts a ledger movement, once (a movement posted before changes nothing). With
        /// `funding`, refused (`LedgerError.insufficient`) unless that account then still
        /// holds at least zero in each currency.
        case post(LedgerTransaction, funding: String?)
        /// Records a priced job's terms.
        case recordCharge(JobCharge)
        /// Marks a quote used by a job; refused (`LedgerError.quote`) when it was used already.
        case useQuote(String, job: String)
    }

    /// The changes, in the order they are made.
    public private(set) var changes: [Change] = []

    /// An empty unit.
    public init() {}

    /// Whether it holds no change.
    public var isEmpty: Bool { changes.isEmpty }

    public mutating func createRun(_ run: RunRecord, documents: [SourceFile]) {
        changes.append(.createRun(run, documents: documents))
    }
    public mutating func updateRun(_ run: RunRecord) { changes.append(.updateRun(run)) }
    public mutating func appendEvent(_ event: EventRecord) { changes.append(.appendEvent(event)) }
    public mutating func finishAttempt(_ attempt: AttemptRecord) { changes.append(.finishAttempt(attempt)) }
    public mutating func post(_ transaction: LedgerTransaction, funding: String? = nil) {
        changes.append(.post(transaction, funding: funding))
    }
    public mutating func recordCharge(_ charge: JobCharge) { changes.append(.recordCharge(charge)) }
    public mutating func useQuote(_ quote: String, job: String) { changes.append(.useQuote(quote, job: job)) }
}

/// A store that commits units of work.
public protocol UnitOfWorkStore: Sendable {
    /// Makes every change of `work` in one transaction, in order: when one is refused
    /// (its error is thrown) none is made.
    func commit(_ work: UnitOfWork) async throws
    /// Commits `work`, whose attempt ends say whether their capacity passes to the next
    /// attempt on their node: `passing` runs while the unit is being queued (nothing
    /// queued after it is committed before this unit), frees the attempt's slot and
    /// answers (see `RunStore.finishAttempt(_:passing:)`).
    func commit(_ work: UnitOfWork, passing: @Sendable () -> Bool) async throws
}

extension UnitOfWorkStore {
    /// Gathers changes with `body` and commits them as one unit of work.
    public func write(_ body: (inout UnitOfWork) throws -> Void) async throws {
        var work = UnitOfWork()
        try body(&work)
        guard !work.isEmpty else { return }
        try await commit(work)
    }

    public func commit(_ work: UnitOfWork) async throws { try await commit(work, passing: { false }) }
}

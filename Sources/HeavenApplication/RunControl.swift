public import HeavenCore
public import HeavenEngine

/// Cancelling and resuming a run: the one rule every transport applies (the API's
/// `POST /v1/runs/{id}/cancel` and `/resume`, the console's buttons, `heaven cancel`
/// and `heaven resume` on this machine). Who may ask (its owner or an admin) is the
/// transport's check before it calls; driving the resumed run is the transport's too
/// (a server in the background, the command line in its own process). A refusal is an
/// `ApplicationError`; a failure of the store or the engine is thrown as it is (a server
/// logs it and answers a bare 500, never its text).
public struct RunControl: Sendable {
    let engine: Engine
    let runs: any RunStore
    let ledger: any LedgerStore

    public init(engine: Engine, runs: any RunStore, ledger: any LedgerStore) {
        self.engine = engine
        self.runs = runs
        self.ledger = ledger
    }

    /// What cancelling did.
    public enum Cancelled: Sendable, Equatable {
        /// The run was cancelled on request before: asking again changes nothing.
        case already
        /// The process driving the run stops its tasks and records it cancelled.
        case requested(driver: Int32)
        /// Nobody drove the run: it was closed here, its leftovers stopped.
        case closed
    }

    /// Cancels `run`: `.conflict` when it ended otherwise than cancelled on request.
    public func cancel(_ run: RunRecord) async throws -> Cancelled {
        if run.status == .cancelled, run.cancelRequested { return .already }
        switch try await engine.cancel(runID: run.id) {
        case .alreadyEnded(let status):
            // Cancelled on request meanwhile (a second click): as asking again.
            if status == .cancelled, (try? await runs.run(run.id))?.cancelRequested == true { return .already }
            throw ApplicationError.conflict("run \(run.id) has already ended (\(status.rawValue))")
        case .requested(let pid): return .requested(driver: pid)
        case .closed: return .closed
        }
    }

    /// Why `run` cannot resume (`.conflict`), or nothing: it failed or was interrupted,
    /// nobody drives it (`drivenHere`: this process does), and it is not a failed job of
    /// a priced process (whose budget went back).
    public func checkResumable(_ run: RunRecord, drivenHere: Bool) async throws {
        switch run.status {
        case .succeeded: throw ApplicationError.conflict("run \(run.id) has succeeded: there is nothing to resume")
        case .cancelled:
            throw ApplicationError.conflict(
                "run \(run.id) was cancelled, and a cancelled run does not resume: submit its files again")
        case .running, .pending:
            if run.driver(alive: Engine.processLiveness) != nil || drivenHere {
                throw ApplicationError.conflict("run \(run.id) is running")
            }
        case .failed, .interrupted: break
        }
        if run.status == .failed, run.process != nil, try await ledger.charge(job: run.id) != nil {
            throw ApplicationError.conflict(
                """
                job \(run.id) of a priced process ended failed and its budget went back: it does not resume; \
                execute the process again
                """
            )
        }
    }

    /// Resumes `run` once `checkResumable` allows it: pending from now on (whoever
    /// reads it next sees it going on, not ended), its outputs delivered to
    /// `outDirectory` when given. The caller drives it.
    public func resume(_ run: RunRecord, drivenHere: Bool, outDirectory: String? = nil) async throws -> RunRecord {
        try await checkResumable(run, drivenHere: drivenHere)
        var resumed = run
        resumed.status = .pending
        if let outDirectory { resumed.outDirectory = outDirectory }
        try await runs.updateRun(resumed)
        return resumed
    }
}

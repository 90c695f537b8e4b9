import Foundation
import HeavenConnectors
public import HeavenCore

#if canImport(Glibc)
    import Glibc
#endif

/// What cancelling a run did.
public enum Cancellation: Sendable, Equatable {
    /// The run had already ended; nothing changed.
    case alreadyEnded(RunStatus)
    /// The process driving the run (this one, or another signalled with SIGTERM) stops
    /// its tasks and records the run as cancelled.
    case requested(driver: Int32)
    /// Nobody drove the run: what it left running was stopped and it was closed here.
    case closed
}

extension Engine {
    /// Cancels a run, wherever it is driven: the one place that does. The request is
    /// recorded first (a resume of the run finds it); then the process driving the run
    /// is told (this process's run is woken through the store, another process gets
    /// SIGTERM); a run nobody drives is closed here, its leftover processes stopped.
    public func cancel(runID: String) async throws -> Cancellation {
        guard let record = try await stores.runs.run(runID) else { throw StoreError.notFound(runID) }
        if record.status.isFinal { return .alreadyEnded(record.status) }
        guard var run = try await stores.runs.requestCancel(run: record.id) else { throw StoreError.notFound(runID) }
        let me = getpid()
        if drives(run.id) { return .requested(driver: me) }
        if let pid = run.driver(alive: Engine.processLiveness, except: me) {
            kill(pid, SIGTERM)
            return .requested(driver: pid)
        }
        let lost = try await stores.runs.markRunningAttemptsLost(run: run.id, reason: "cancelled")
        for a in lost {
            if let pid = a.pid { ProcessProbe.killOrphan(pid: pid, run: a.runID, task: a.taskKey, attempt: a.number) }
        }
        if run.startedAt != nil { ProcessProbe.killOrphans(run: run.id) }
        run.status = .cancelled
        run.finishedAt = Date()
        run.ownerPID = nil
        run.ownerStart = nil
        run.error = "cancelled"
        _ = try await end(run, .ended(.cancelled, error: nil))
        return .closed
    }
}

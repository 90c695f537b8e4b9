public import Foundation
public import HeavenCore

/// Reading runs and jobs as a user may: the rule of who reads what (`RunReaders`)
/// applied here for every transport (the API's routes, OGC's jobs, the console), never
/// again in a route. Another's run reads as absent: its existence is not revealed.
public struct RunQueries: Sendable {
    let runs: any RunStore
    let accounts: any AccountStore
    let processes: any ProcessStore

    /// The queries over these stores.
    public init(runs: any RunStore, accounts: any AccountStore, processes: any ProcessStore) {
        self.runs = runs
        self.accounts = accounts
        self.processes = processes
    }

    /// Run `id` (exactly, never a prefix) if `user` may read it; nil when it is absent
    /// or not theirs to read.
    public func run(_ id: String, readBy user: UserRecord) async throws -> RunRecord? {
        guard let run = try? await runs.run(id), run.id == id else { return nil }
        return try await RunReaders(user).admits(run, shares: try await accounts.runShares(run.id)) ? run : nil
    }

    /// Run `id`'s status (its record, attempt counts and shares, in one read) if `user`
    /// may read it.
    public func status(_ id: String, readBy user: UserRecord) async throws -> RunStatusView? {
        guard let status = try await accounts.runStatus(id),
            await RunReaders(user).admits(status.run, shares: status.shares)
        else { return nil }
        return status
    }

    /// The latest runs `user` may read, newest first.
    public func runs(readBy user: UserRecord, limit: Int) async throws -> [RunRecord] {
        try await accounts.runs(readableBy: RunReaders(user), limit: limit)
    }

    /// The jobs (runs of processes, and runs) `user` may read that match `query`.
    public func jobs(readBy user: UserRecord, _ query: JobQuery, now: Date) async throws -> (
        runs: [RunRecord], more: Bool
    ) {
        try await processes.jobs(readableBy: RunReaders(user), query, now: now)
    }
}

import Foundation
import GRDB
public import HeavenCore
import HeavenModel

extension SQLiteStore: UnitOfWorkStore {
    public func commit(_ work: UnitOfWork, passing: @Sendable () -> Bool) async throws {
        guard !work.isEmpty else { return }
        // One write of the group commit: its changes in one transaction, whichever fails
        // undoing the others (the batch it shares is then replayed one write at a time).
        try await batcher.write(queueing: passing) { db, passes in
            for change in work.changes { try SQLiteStore.apply(change, holding: passes, db: db) }
        }
        var woken: Set<StoreChange> = []
        for change in work.changes {
            switch change {
            case .appendEvent(let e): woken.insert(.events(run: e.runID))
            case .finishAttempt(let a):
                woken.insert(.capacity)
                woken.insert(.attempts(run: a.runID))
            case .createRun, .updateRun: woken.insert(.runs)
            default: break
            }
        }
        for topic in woken { feed.notify(topic) }
    }

    static func apply(_ change: UnitOfWork.Change, holding: Bool, db: Database) throws {
        switch change {
        case .createRun(let run, let documents): try insertRun(run, documents: documents, db: db)
        case .updateRun(let run): try update(run, db: db)
        case .appendEvent(let event): try insert(event, db: db)
        case .finishAttempt(let attempt): try finish(attempt, holding: holding, db: db)
        case .post(let transaction, let funding): _ = try post(transaction, funding: funding, db: db)
        case .recordCharge(let c):
            try db.execute(
                sql: """
                    INSERT INTO job_charges (job, process, payer, publisher, currency, budget, fee_percent, quote,
                      created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    c.job, c.process, c.payer, c.publisher, c.currency, c.budget.micros, c.feePercent, c.quote,
                    c.createdAt.timeIntervalSince1970,
                ])
        case .useQuote(let quote, let job):
            try db.execute(sql: "UPDATE quotes SET job = ? WHERE id = ? AND job IS NULL", arguments: [job, quote])
            if db.changesCount != 1 { throw LedgerError.quote("quote \(quote) was already used") }
        }
    }
}

import Foundation
import GRDB
import HeavenCore
import HeavenModel
import HeavenStore
import Testing

/// An admin's credit of `amount` credits to `account`, from the mint.
func credit(_ account: String, _ amount: String, id: String = UUID().uuidString) -> LedgerTransaction {
    LedgerTransaction(
        id: "credit:\(id)", kind: .credit, memo: "test",
        lines: [
            LedgerLine(LedgerAccount.mint, -Money(amount)!, "credits"),
            LedgerLine(account, Money(amount)!, "credits"),
        ])
}

@Suite("The ledger", .timeLimit(.minutes(15)))
struct LedgerTests {

    func job(_ id: String) -> RunRecord {
        RunRecord(id: id, workflow: "w", user: "carol", inputs: [:], process: "w", processVersion: "1")
    }

    func charge(_ job: String, budget: String) -> (JobCharge, LedgerTransaction) {
        let c = JobCharge(
            job: job, process: "w", payer: "user:carol", publisher: "user:bob", currency: "credits",
            budget: Money(budget)!, feePercent: 10)
        let reservation = LedgerTransaction(
            id: "reserve:\(job)", kind: .reserve, job: job, memo: "budget",
            lines: [
                LedgerLine("user:carol", -c.budget, "credits"),
                LedgerLine(LedgerAccount.hold(job), c.budget, "credits"),
            ])
        return (c, reservation)
    }

    @Test(
        "a movement is taken once however often it is posted; an unbalanced one is refused; balances and totals follow"
    )
    func onceAndBalanced() async throws {
        let t = try TemporaryStore()
        let c = credit("user:carol", "10", id: "one")
        #expect(try await t.store.post(c, funding: nil))
        #expect(try await !t.store.post(c, funding: nil))
        await #expect(throws: LedgerError.self) {
            try await t.store.post(
                LedgerTransaction(
                    id: "bad", kind: .credit, memo: "", lines: [LedgerLine("user:carol", Money("1")!, "credits")]),
                funding: nil)
        }
        #expect(try await t.store.balances(of: "user:carol") == ["credits": Money("10")!])
        #expect(try await t.store.ledgerTotals() == ["credits": .zero])
        // Funding: a payer never goes below zero.
        let overdraft = LedgerTransaction(
            id: "pay", kind: .settle, memo: "",
            lines: [
                LedgerLine("user:carol", -Money("10.000001")!, "credits"),
                LedgerLine("user:bob", Money("10.000001")!, "credits"),
            ])
        await #expect(throws: LedgerError.self) { try await t.store.post(overdraft, funding: "user:carol") }
        #expect(try await t.store.balances(of: "user:bob").isEmpty)
    }

    @Test("the movements of many jobs are read at once, each job's oldest first; a job with none has none")
    func movementsOfJobs() async throws {
        let store = try SQLiteStore(path: NSTemporaryDirectory() + "ledger-\(UUID().uuidString).sqlite")
        _ = try await store.post(credit("user:carol", "100"), funding: nil)
        var jobs: [String] = []
        for i in 0..<600 {
            let id = "j\(i)"
            jobs.append(id)
            let (c, reservation) = charge(id, budget: "0.1")
            try await store.createJob(job(id), charge: c, reservation: reservation, quote: nil)
        }
        let all = try await store.transactions(jobs: jobs + ["none"])
        #expect(all.count == 600 && all["none"] == nil)
        #expect(all["j599"]?.map(\.id) == ["reserve:j599"])
        #expect(try await store.transactions(jobs: []).isEmpty)
    }

    @Test("a dismissed job is a state of its own, kept across updates")
    func dismissed() async throws {
        let store = try SQLiteStore(path: NSTemporaryDirectory() + "ledger-\(UUID().uuidString).sqlite")
        var r = job("d1")
        try await store.createRun(r)
        #expect(try await store.run("d1")?.dismissed == false)
        r.status = .cancelled
        r.dismissed = true
        try await store.updateRun(r)
        r.dismissed = false
        try await store.updateRun(r)
        #expect(try await store.run("d1")?.dismissed == true)
    }

    @Test("the store refuses to change or remove a movement or a line of it")
    func appendOnly() async throws {
        let t = try TemporaryStore()
        _ = try await t.store.post(credit("user:carol", "10", id: "x"), funding: nil)
        let db = try DatabaseQueue(path: t.directory + "/heaven.sqlite")
        for sql in [
            "UPDATE ledger_lines SET amount = 1", "DELETE FROM ledger_lines",
            "UPDATE ledger_transactions SET memo = 'other'", "DELETE FROM ledger_transactions",
        ] {
            #expect(throws: DatabaseError.self, "\(sql)") { try db.write { try $0.execute(sql: sql) } }
        }
        #expect(try await t.store.balances(of: "user:carol") == ["credits": Money("10")!])
    }

    @Test("a priced job and its reservation are recorded together, or neither when the payer cannot cover the budget")
    func reservation() async throws {
        let t = try TemporaryStore()
        _ = try await t.store.post(credit("user:carol", "5"), funding: nil)
        let (c1, r1) = charge("j1", budget: "4")
        try await t.store.createJob(job("j1"), charge: c1, reservation: r1, quote: nil)
        #expect(try await t.store.balances(of: "user:carol") == ["credits": Money("1")!])
        #expect(try await t.store.balances(of: LedgerAccount.hold("j1")) == ["credits": Money("4")!])
        let (c2, r2) = charge("j2", budget: "2")
        await #expect(throws: LedgerError.self) {
            try await t.store.createJob(job("j2"), charge: c2, reservation: r2, quote: nil)
        }
        #expect(try await t.store.run("j2") == nil)
        #expect(try await t.store.charge(job: "j2") == nil)
        #expect(try await t.store.balances(of: "user:carol") == ["credits": Money("1")!])
        // A quote is used by one job only.
        let now = Date()
        try await t.store.saveQuote(
            Quote(
                id: "q1", process: "w", processVersion: "1", user: "carol", amount: Money("1")!, currency: "credits",
                basis: "", request: "{}", createdAt: now, expiresAt: now.addingTimeInterval(60)))
        let (c3, r3) = charge("j3", budget: "1")
        try await t.store.createJob(job("j3"), charge: c3, reservation: r3, quote: "q1")
        #expect(try await t.store.quote("q1")?.job == "j3")
        _ = try await t.store.post(credit("user:carol", "5"), funding: nil)
        let (c4, r4) = charge("j4", budget: "1")
        await #expect(throws: LedgerError.self) {
            try await t.store.createJob(job("j4"), charge: c4, reservation: r4, quote: "q1")
        }
        #expect(try await t.store.run("j4") == nil)
    }

    @Test("a run's end, its event and the movements it causes are written together")
    func closeTogether() async throws {
        let t = try TemporaryStore()
        _ = try await t.store.post(credit("user:carol", "5"), funding: nil)
        let (c, r) = charge("j1", budget: "5")
        try await t.store.createJob(job("j1"), charge: c, reservation: r, quote: nil)
        var ended = job("j1")
        ended.status = .succeeded
        let settle = LedgerTransaction(
            id: "settle:j1", kind: .settle, job: "j1", memo: "",
            lines: [
                LedgerLine(LedgerAccount.hold("j1"), -Money("5")!, "credits"),
                LedgerLine("user:carol", Money("1")!, "credits"), LedgerLine("user:bob", Money("3.6")!, "credits"),
                LedgerLine(LedgerAccount.operator, Money("0.4")!, "credits"),
            ])
        try await t.store.closeRun(
            ended, event: EventRecord(runID: "j1", .ended(.succeeded, error: nil)), posting: [settle])
        // Posted again (a second close after a crash): nothing changes.
        try await t.store.closeRun(
            ended, event: EventRecord(runID: "j1", .ended(.succeeded, error: nil)), posting: [settle])
        let store = try t.reopened()
        #expect(try await store.run("j1")?.status == .succeeded)
        #expect(try await store.balances(of: "user:bob") == ["credits": Money("3.6")!])
        #expect(try await store.balances(of: LedgerAccount.hold("j1")).isEmpty)
        #expect(try await store.transactions(job: "j1").map(\.kind) == [.reserve, .settle])
        #expect(try await store.ledgerTotals() == ["credits": .zero])
    }
}

import Foundation
import GRDB
import HeavenCore
import HeavenModel
import Testing

@testable import HeavenStore

extension SQLiteStore {
    /// A run with one document, as a test records it.
    func createRun(_ run: RunRecord) async throws {
        try await createRun(run, documents: [SourceFile(path: "workflow.yaml", text: "kind: Workflow\nname: w\n")])
    }

    /// A priced job as the engine records it: its quote used, its budget reserved, the
    /// run and its terms, one unit of work.
    func createJob(_ run: RunRecord, charge c: JobCharge, reservation: LedgerTransaction, quote: String?) async throws {
        try await write { work in
            if let quote { work.useQuote(quote, job: run.id) }
            work.post(reservation, funding: c.payer)
            work.createRun(run, documents: [SourceFile(path: "workflow.yaml", text: "kind: Workflow\nname: w\n")])
            work.recordCharge(c)
        }
    }

    /// A run's end, its event and its settlement, as the engine records them.
    func closeRun(_ run: RunRecord, event: EventRecord, posting: [LedgerTransaction]) async throws {
        try await write { work in
            work.updateRun(run)
            work.appendEvent(event)
            for t in posting { work.post(t) }
        }
    }
}

@Suite("Units of work")
struct UnitOfWorkTests {
    @Test("a unit's changes across runs, events and the ledger are made together, or none when one is refused")
    func allOrNone() async throws {
        let t = try TemporaryStore()
        try await t.store.createRun(RunRecord(id: "r1", workflow: "w", user: "carol", inputs: [:]))
        _ = try await t.store.post(credit("user:carol", "1"), funding: nil)
        var ended = try #require(try await t.store.run("r1"))
        ended.status = .succeeded
        let pay = LedgerTransaction(
            id: "pay:r1", kind: .settle, job: "r1", memo: "",
            lines: [LedgerLine("user:carol", -Money("2")!, "credits"), LedgerLine("user:bob", Money("2")!, "credits")])
        // The payment is refused (carol holds 1): the run's end and its event are not written either.
        await #expect(throws: LedgerError.self) {
            try await t.store.write { work in
                work.updateRun(ended)
                work.appendEvent(EventRecord(runID: "r1", .ended(.succeeded, error: nil)))
                work.post(pay, funding: "user:carol")
            }
        }
        #expect(try await t.store.run("r1")?.status == .pending)
        #expect(try await t.store.events(run: "r1", after: 0, limit: 10).isEmpty)
        #expect(try await t.store.balances(of: "user:bob").isEmpty)
        // Committed while other writes share its batch: the refused unit undoes only itself.
        let store = t.store
        let refused = Task {
            try await store.write { work in
                work.appendEvent(EventRecord(runID: "r1", .ended(.succeeded, error: nil)))
                work.post(pay, funding: "user:carol")
            }
        }
        try await t.store.appendEvent(EventRecord(runID: "r1", .created(workflow: "w")))
        await #expect(throws: LedgerError.self) { try await refused.value }
        #expect(try await t.store.events(run: "r1", after: 0, limit: 10).map(\.kind) == [.created])
        // Funded, the same unit is made whole.
        _ = try await t.store.post(credit("user:carol", "1"), funding: nil)
        try await t.store.write { work in
            work.updateRun(ended)
            work.appendEvent(EventRecord(runID: "r1", .ended(.succeeded, error: nil)))
            work.post(pay, funding: "user:carol")
        }
        let again = try t.reopened()
        #expect(try await again.run("r1")?.status == .succeeded)
        #expect(try await again.events(run: "r1", after: 0, limit: 10).map(\.kind) == [.created, .succeeded])
        #expect(try await again.balances(of: "user:bob") == ["credits": Money("2")!])
    }

    @Test("an attempt's end that was never started refuses its whole unit, its movement with it")
    func attemptNeverStarted() async throws {
        let t = try TemporaryStore()
        try await t.store.createRun(RunRecord(id: "r1", workflow: "w", user: "carol", inputs: [:]))
        _ = try await t.store.post(credit("user:bob", "1"), funding: nil)
        let ghost = AttemptRecord(runID: "r1", taskKey: "t", task: "t", number: 1, status: .succeeded)
        await #expect(throws: StoreError.self) {
            try await t.store.write { work in
                work.post(
                    LedgerTransaction(
                        id: "resources:r1:t#1", kind: .resources, job: "r1", memo: "",
                        lines: [
                            LedgerLine("user:bob", -Money("1")!, "credits"),
                            LedgerLine("user:site", Money("1")!, "credits"),
                        ]))
                work.finishAttempt(ghost)
            }
        }
        #expect(try await t.store.balances(of: "user:site").isEmpty)
    }

    @Test(
        "a run's documents are kept in order, apart from its record; none or unreadable ones are an error, never empty")
    func documents() async throws {
        let t = try TemporaryStore()
        let docs = [SourceFile(path: "main.yaml", text: "a: 1\n"), SourceFile(path: "sub/called.yaml", text: "b: 2\n")]
        try await t.store.createRun(RunRecord(id: "r1", workflow: "w", user: "carol", inputs: [:]), documents: docs)
        #expect(try await t.store.documents(run: "r1") == docs)
        #expect(try await t.reopened().documents(run: "r1") == docs)
        await #expect(throws: StoreError.self) { try await t.store.documents(run: "nothing") }
        // Values that cannot be read are an error naming the run, never an empty map.
        let db = try DatabaseQueue(path: t.directory + "/heaven.sqlite")
        try await db.write { try $0.execute(sql: "UPDATE runs SET inputs = '{not json' WHERE id = 'r1'") }
        await #expect {
            try await t.store.run("r1")
        } throws: { error in
            "\(error)".contains("run r1's inputs")
        }
    }

    @Test("a database of before moves each run's JSON documents to rows; an unreadable one is left out, then an error")
    func migratesDocuments() async throws {
        let directory = NSTemporaryDirectory() + "heaven-migrate-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/heaven.sqlite"
        // The schema as it was before documents had rows of their own.
        let old = try DatabaseQueue(path: path)
        try SQLiteStore.migrator.migrate(old, upTo: "v15-dismissed")
        try await old.write { db in
            let json = #"[{"path":"a.yaml","text":"x: 1\n"},{"path":"b.yaml","text":"y"}]"#
            for (id, sources) in [("good", json), ("bad", "{not json")] {
                try db.execute(
                    sql: """
                        INSERT INTO runs (id, workflow, user, status, sources, inputs, created_at)
                        VALUES (?, 'w', 'carol', 'succeeded', ?, '{}', 0)
                        """, arguments: [id, sources])
            }
        }
        try old.close()
        let store = try SQLiteStore(path: path)
        #expect(
            try await store.documents(run: "good")
                == [SourceFile(path: "a.yaml", text: "x: 1\n"), SourceFile(path: "b.yaml", text: "y")])
        #expect(try await store.run("bad")?.status == .succeeded)
        await #expect(throws: StoreError.self) { try await store.documents(run: "bad") }
        // Its text is kept as it was, apart: nothing recorded is lost.
        let kept = try DatabaseQueue(path: path)
        #expect(
            try await kept.read {
                try String.fetchOne($0, sql: "SELECT sources FROM run_sources_unreadable WHERE run_id = 'bad'")
            } == "{not json")
    }
}

import Foundation
import HeavenApplication
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenStore
import Synchronization
import Testing

/// The use cases every transport shares, with the real SQLite store and engine and no
/// HTTP: what the API's routes, the OGC routes and the console each did their own way.
final class World: Sendable {
    let root: String
    let store: SQLiteStore
    let engine: Engine
    let started = Mutex<[String]>([])

    init() throws {
        root = NSTemporaryDirectory() + "heaven-application-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/uploads", withIntermediateDirectories: true)
        store = try SQLiteStore(path: root + "/heaven.sqlite", liveness: { _, _ in true })
        engine = Engine(home: HeavenHome(root: root), stores: Stores(store))
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func submissions(network: TaskNetwork = .none) -> Submissions {
        Submissions(engine: engine, accounts: store, network: network, feePercent: 10) { [self] run, _ in
            self.started.withLock { $0.append(run) }
        }
    }

    var billing: Billing { Billing(runs: store, ledger: store, accounts: store) { _ in { _ in nil } } }

    func directory() throws -> String {
        let dir = root + "/uploads/" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func submission(_ yaml: String, as user: UserRecord, inputs: [String: Value] = [:]) throws -> Submission {
        let load = Loader.load(sources: [SourceFile(path: "w.yaml", text: yaml)])
        return Submission(user: user, load: load, workflow: nil, inputs: inputs, directory: try directory())
    }
}

let echo = """
    kind: Workflow
    name: echo
    inputs: {x: {type: string}}
    steps:
      - task: t
        run: [echo, '${inputs.x}']
    """

let networked = """
    kind: Topology
    name: net
    machines:
      - {name: m, network: true}
    ---
    kind: Workflow
    name: w
    topology: net
    steps:
      - task: t
        on: m
        run: ['true']
    """

let priced = """
    kind: Workflow
    name: tiles
    price: {currency: credits, run: 3}
    steps:
      - task: t
        run: ['true']
    """

@Suite("Submitting a run or a job (HeavenApplication)")
struct SubmissionsTests {
    let alice = UserRecord(name: "alice", groups: ["eo"])
    let admin = UserRecord(name: "root-admin", admin: true)

    @Test("a run is created, recorded and started; a refused one leaves no directory and starts nothing")
    func submitted() async throws {
        let w = try World()
        let s = try w.submission(echo, as: alice, inputs: ["x": .string("hi")])
        let run = try await w.submissions().submit(s)
        #expect(run.user == "alice" && run.status == .pending || run.status == .running, "\(run)")
        #expect(try await w.store.run(run.id)?.inputs["x"] == .string("hi"))
        #expect(w.started.withLock { $0 } == [run.id])
        // An input the workflow does not have: invalid, its directory gone, nothing started.
        let bad = try w.submission(echo, as: alice, inputs: ["x": .string("a"), "y": .string("b")])
        await #expect(throws: ApplicationError.self) { try await w.submissions().submit(bad) }
        do {
            _ = try await w.submissions().submit(try w.submission(echo, as: alice, inputs: ["z": .int(1)]))
            Issue.record("accepted an unknown input")
        } catch {
            guard case .invalid(let why)? = error as? ApplicationError else {
                Issue.record("\(error)")
                return
            }
            #expect(why.contains("`z`"), "\(why)")
        }
        #expect(!FileManager.default.fileExists(atPath: bad.directory))
        #expect(w.started.withLock { $0.count } == 1)
        // Documents with errors: each with its place.
        do {
            _ = try await w.submissions().submit(try w.submission("kind: Workflow\nname: w\nsteps: 3\n", as: alice))
            Issue.record("accepted broken documents")
        } catch {
            guard case .diagnostics(let d)? = error as? ApplicationError else {
                Issue.record("\(error)")
                return
            }
            #expect(d.first?.description.hasPrefix("w.yaml:3:") == true, "\(d)")
        }
    }

    @Test("the operator's isolation: a tenant's `network: true` is refused unless tenants have an outbound network")
    func isolation() async throws {
        let w = try World()
        let refused = try w.submission(networked, as: alice)
        do {
            _ = try await w.submissions(network: .none).submit(refused)
            Issue.record("accepted")
        } catch {
            guard case .forbidden(let why) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(why.hasPrefix("w.yaml:4:5: error: `network: true` is refused"), "\(why)")
        }
        #expect(!FileManager.default.fileExists(atPath: refused.directory))
        _ = try await w.submissions(network: .outbound).submit(try w.submission(networked, as: alice))
        _ = try await w.submissions(network: .none).submit(try w.submission(networked, as: admin))
        // `isolation: none`: an admin's only.
        let optOut = "kind: Workflow\nname: w\nisolation: none\nsteps:\n  - task: t\n    run: ['true']\n"
        await #expect(throws: ApplicationError.self) {
            try await w.submissions(network: .outbound).submit(try w.submission(optOut, as: alice))
        }
        _ = try await w.submissions().submit(try w.submission(optOut, as: admin))
        #expect(w.started.withLock { $0.count } == 3)
    }

    @Test("a run is shared only with the caller's own groups")
    func sharing() async throws {
        let w = try World()
        var s = try w.submission(echo, as: alice, inputs: ["x": .string("a")])
        s.share = ["ops"]
        await #expect(
            throws: ApplicationError.forbidden("you can share a run only with your own groups; you are not in `ops`")
        ) {
            try await w.submissions().submit(s)
        }
        s = try w.submission(echo, as: alice, inputs: ["x": .string("a")])
        s.share = ["eo"]
        let run = try await w.submissions().submit(s)
        try await w.store.saveUser(UserRecord(name: "bob", groups: ["eo"]))
        #expect(
            try await w.store.runs(readableBy: RunReaders(UserRecord(name: "bob", groups: ["eo"])), limit: 10).map(\.id)
                == [run.id])
    }

    @Test(
        """
        a priced job: no budget, another currency, below the fixed part, too little balance; then accepted and \
        reserved
        """
    )
    func pricedJob() async throws {
        let w = try World()
        try await w.store.saveUser(alice)
        try await w.store.saveUser(UserRecord(name: "pub"))
        let process = ProcessRecord(
            id: "tiles", version: "1", owner: "pub", visibility: .public,
            documents: [ProcessDocument(path: "w.yaml", text: priced)])
        func job(_ budget: (Double, String?)?) throws -> Submission {
            var s = try w.submission(priced, as: alice)
            s.process = process
            s.price = s.load.documents.workflows.first?.price
            s.budget = budget
            return s
        }
        func refusal(_ budget: (Double, String?)?) async throws -> (String, String)? {
            do {
                _ = try await w.submissions().submit(try job(budget))
                return nil
            } catch {
                guard case .paymentRequired(let why, let missing, _)? = error as? ApplicationError else {
                    return ("\(error)", "?")
                }
                return (why, missing)
            }
        }
        #expect(try await refusal(nil)?.1 == "budget")
        #expect(try await refusal((5, "EUR"))?.1 == "currency")
        #expect(try await refusal((2, nil))?.1 == "budget")
        let poor = try await refusal((5, nil))
        #expect(
            poor?.1 == "balance" && poor?.0.contains("user:alice holds 0 credits") == true,
            "\(String(describing: poor))")
        #expect(w.started.withLock { $0.isEmpty })
        // Credited (by an admin only), it goes through, its budget reserved.
        await #expect(throws: ApplicationError.forbidden("only admins credit accounts")) {
            _ = try await w.billing.credit("alice", amount: 10, currency: nil, memo: nil, by: alice)
        }
        let credited = try await w.billing.credit("alice", amount: 10, currency: nil, memo: nil, by: admin)
        #expect(credited.account == "user:alice" && credited.balances["credits"] == Money(units: 10))
        let run = try await w.submissions().submit(try job((5, nil)))
        let charge = try #require(try await w.store.charge(job: run.id))
        #expect(charge.budget == Money(units: 5) && charge.payer == "user:alice" && charge.publisher == "user:pub")
        #expect(try await w.store.balances(of: "user:alice")["credits"] == Money(units: 5))
        // Its bill before and after it ran; the process's earnings (movements read at once).
        let before = try await w.billing.bill(charge)
        #expect(!before.settled && before.movements.count == 1 && before.value == .zero, "\(before)")
        _ = try await w.engine.execute(runID: run.id)
        let after = try await w.billing.bill(charge)
        #expect(after.status == .succeeded && after.settled, "\(after)")
        #expect(after.value == Money(units: 3) && after.fee == Money("0.3"), "\(after)")
        let earned = try await w.billing.earnings(of: process, currency: "credits")
        #expect(
            earned
                == Billing.Earnings(
                    currency: "credits", jobs: 1, succeeded: 1, value: Money(units: 3), fee: Money("0.3")!,
                    resources: .zero), "\(earned)")
        #expect(try await w.store.balances(of: "user:alice")["credits"] == Money(units: 7))
        await #expect(throws: ApplicationError.notFound("no user nobody")) {
            _ = try await w.billing.credit("nobody", amount: 1, currency: nil, memo: nil, by: admin)
        }
    }
}

@Suite("Recorded documents that cannot be read")
struct RecordedDocumentsTests {
    @Test("are an error, never an empty list; a priced job whose price cannot be read is never charged")
    func corrupt() async throws {
        let w = try World()
        await #expect(throws: StoreError.self) { try await w.store.documents(run: "r1") }
        var run = RunRecord(
            id: "r1", workflow: "w", user: "carol", status: .succeeded, inputs: [:], process: "w", processVersion: "1")
        run.outputs = ["v": .string("x")]
        let charge = JobCharge(
            job: "r1", process: "w", payer: "user:carol", publisher: "user:bob", currency: "credits",
            budget: Money(units: 5), feePercent: 10)
        let (settled, movements) = Charging.settle(
            run, charge: charge,
            price: .failure(.invalid("run r1's price cannot be read (its documents are not recorded)")))
        #expect(settled.status == .failed && settled.withheld && settled.outputs == nil, "\(settled)")
        #expect((settled.error ?? "").contains("price cannot be read"), "\(settled.error ?? "")")
        #expect(
            movements.map(\.kind) == [.release]
                && movements.first?.lines.contains { $0.account == "user:carol" && $0.amount == Money(units: 5) }
                    == true
        )
    }
}

import Foundation
import HeavenCore
import HeavenModel
import HeavenStore
import Testing

/// A store in a temporary directory, removed when dropped.
final class TemporaryStore: Sendable {
    let directory: String
    let store: SQLiteStore

    init() throws {
        directory = NSTemporaryDirectory() + "heaven-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        store = try SQLiteStore(path: directory + "/heaven.sqlite")
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func reopened() throws -> SQLiteStore { try SQLiteStore(path: directory + "/heaven.sqlite") }
}

@Suite("SQLite store", .timeLimit(.minutes(15)))
struct StoreTests {
    func run(_ id: String, user: String = "alice") -> RunRecord {
        RunRecord(id: id, workflow: "w", user: user, inputs: [:])
    }

    @Test("what is recorded is there after the store is opened again (migrations run once, on a new file only)")
    func durable() async throws {
        let t = try TemporaryStore()
        try await t.store.createRun(run("r1"))
        guard
            case .started(let key) = try await t.store.startAttempt(
                AttemptRecord(runID: "r1", taskKey: "a", task: "a", number: 1), checking: nil)
        else {
            Issue.record("an unchecked start was refused")
            return
        }
        var finished = AttemptRecord(id: key, runID: "r1", taskKey: "a", task: "a", number: 1, status: .succeeded)
        finished.finishedAt = Date()
        finished.outputs = ["v": .int(7)]
        try await t.store.finishAttempt(finished)
        try await t.store.appendEvent(EventRecord(runID: "r1", .started))
        let again = try t.reopened()
        #expect(try await again.run("r1")?.workflow == "w")
        #expect(try await again.succeededOutputs(run: "r1") == ["a": ["v": .int(7)]])
        #expect(try await again.events(run: "r1", after: 0, limit: 10).map(\.kind) == [.started])
        // A prefix names a run when it is unique.
        try await again.createRun(run("r2"))
        #expect(try await again.run("r1")?.id == "r1")
        await #expect(throws: StoreError.self) { _ = try await again.run("r") }
    }

    @Test("a run's CPU seconds are its attempts' together (those without a figure count nothing), and no other run's")
    func cpuSeconds() async throws {
        let t = try TemporaryStore()
        for id in ["r1", "r2"] { try await t.store.createRun(run(id)) }
        for (runID, task, cpu) in [("r1", "a", 1.25 as Double?), ("r1", "b", nil), ("r1", "c", 0.5), ("r2", "a", 9)] {
            guard
                case .started(let key) = try await t.store.startAttempt(
                    AttemptRecord(runID: runID, taskKey: task, task: task, number: 1), checking: nil)
            else {
                Issue.record("an unchecked start was refused")
                return
            }
            var ended = AttemptRecord(id: key, runID: runID, taskKey: task, task: task, number: 1, status: .succeeded)
            ended.cpuSeconds = cpu
            try await t.store.finishAttempt(ended)
        }
        let summed = try await t.store.attempts(run: "r1").compactMap(\.cpuSeconds).reduce(0, +)
        #expect(try await t.store.cpuSeconds(run: "r1") == 1.75 && summed == 1.75)
        #expect(try await t.store.cpuSeconds(run: "r3") == 0)
    }

    @Test("a placement is kept as a typed value, and read back as it was stored")
    func placement() async throws {
        let t = try TemporaryStore()
        try await t.store.createRun(run("r1"))
        #expect(try await t.store.placement(run: "r1") == nil)
        let node = NodeRef(site: "grid", node: "n", index: 0)
        let placement = Placement(
            topology: "t", user: "alice",
            machines: [PlacedMachine(machine: "vm", instance: 0, node: node, grant: nil, cores: 2, memory: 0, rank: 1)],
            nodes: [node.id: NodeCapacity(cores: 4, memory: nil)], grants: [:], availability: 1, cost: 0)
        try await t.store.setPlacement(placement, run: "r1")
        #expect(try await t.reopened().placement(run: "r1") == placement)
    }

    @Test("a checked start is refused when the node's cores are held, and allowed once they are free")
    func capacity() async throws {
        let t = try TemporaryStore()
        try await t.store.createRun(run("r1"))
        let limits = CapacityLimits(nodeCores: 2, nodeMemory: nil, grantCores: nil, grantCoreHours: nil)
        func attempt(_ key: String) -> AttemptRecord {
            AttemptRecord(runID: "r1", taskKey: key, task: key, number: 1, node: "site/n/0", cores: 1)
        }
        var ids: [Int64] = []
        for key in ["a", "b"] {
            guard case .started(let id) = try await t.store.startAttempt(attempt(key), checking: limits) else {
                Issue.record("\(key) refused")
                return
            }
            ids.append(id)
        }
        guard case .refused(let why) = try await t.store.startAttempt(attempt("c"), checking: limits) else {
            Issue.record("a third one-core attempt on a two-core node was started")
            return
        }
        #expect(why.contains("site/n/0"), "\(why)")
        var ended = attempt("a")
        ended.id = ids[0]
        ended.status = .succeeded
        ended.finishedAt = Date()
        try await t.store.finishAttempt(ended)
        guard case .started = try await t.store.startAttempt(attempt("c"), checking: limits) else {
            Issue.record("refused although a core is free")
            return
        }
    }

    @Test("the audit log refuses to be changed or pruned")
    func auditAppendOnly() async throws {
        let t = try TemporaryStore()
        try await t.store.appendAudit(AuditRecord(user: "alice", method: "POST", path: "/v1/runs", status: 201))
        #expect(try await t.store.audit(after: 0, limit: 10).count == 1)
        let sqlite = t.directory + "/heaven.sqlite"
        for statement in ["UPDATE audit SET status = 200", "DELETE FROM audit"] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [
                "python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()", sqlite,
                statement,
            ]
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus != 0, "`\(statement)` went through")
        }
        #expect(try await t.store.audit(after: 0, limit: 10).map(\.status) == [201])
    }

    @Test(
        "tenants' task uids: the lowest never given of the range, kept with the account, never shared nor given again")
    func taskIDs() async throws {
        let t = try TemporaryStore()
        for name in ["alice", "bob", "carol"] { try await t.store.saveUser(UserRecord(name: name)) }
        let range: ClosedRange<UInt32> = 300_000...300_001
        let alice = try await t.store.taskID(for: "alice", in: range)
        let bob = try await t.store.taskID(for: "bob", in: range)
        #expect(alice == 300_000 && bob == 300_001)
        #expect(try await t.store.taskID(for: "alice", in: range) == alice, "an account keeps its uid")
        #expect(try await t.reopened().user("bob")?.taskID == bob)
        await #expect(throws: StoreError.self) { _ = try await t.store.taskID(for: "carol", in: range) }
        await #expect(throws: StoreError.self) { _ = try await t.store.taskID(for: "nobody", in: range) }
        // Another range (the operator changed it): a uid of the new range, still unique.
        let moved = try await t.store.taskID(for: "alice", in: 400_000...400_009)
        #expect(moved == 400_000)
        // Alice's old uid is never given to another account: her old runs' files are hers.
        await #expect(throws: StoreError.self) { _ = try await t.store.taskID(for: "carol", in: range) }
        #expect(try await t.store.taskID(for: "carol", in: 300_000...300_002) == 300_002)
    }
}

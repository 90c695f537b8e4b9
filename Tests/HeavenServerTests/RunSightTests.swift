import Foundation
import HeavenCore
import HeavenModel
import HeavenStore
import Testing

@testable import HeavenServer

@Suite("The console's run page follows a run by what changed (RunSight, RunTally)")
struct RunSightTests {
    /// A store in a directory of its own.
    static func store() throws -> (root: String, store: SQLiteStore) {
        let root = NSTemporaryDirectory() + "heaven-sight-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return (root, try SQLiteStore(path: root + "/heaven.sqlite"))
    }

    static func createRun(_ id: String, in store: SQLiteStore, user: String = "alice") async throws {
        try await store.createRun(
            RunRecord(id: id, workflow: "w", user: user, inputs: [:]),
            documents: [SourceFile(path: "w.yaml", text: "kind: Workflow\n")])
    }

    @Test("a task key's instances: each `#N/` and `@N/` in it, with the head before N")
    func instancesOfKey() {
        func pairs(_ key: String) -> [String] { RunTally.instances(of: key).map { "\($0.head)\($0.number)" } }
        #expect(pairs("tiles#3/ndvi") == ["tiles#3"])
        #expect(pairs("a#3/b@2/t") == ["a#3", "a#3/b@2"])
        #expect(pairs("call/a#10/inner/b#0/t") == ["call/a#10", "call/a#10/inner/b#0"])
        #expect(pairs("t").isEmpty && pairs("x#/t").isEmpty && pairs("x#12").isEmpty && pairs("x#1a/t").isEmpty)
    }

    /// The counts as the page drew them before `RunTally`: from every key's state at once.
    static func recount(_ states: [String: UInt8]) -> [String: RunTally.Counts] {
        var tasks: [String: [Int: RunTally.Counts]] = [:]
        for (key, s) in states {
            for (head, n) in RunTally.instances(of: key) { tasks[head, default: [:]][n, default: .init()][Int(s)] += 1 }
        }
        return tasks.mapValues { instances in
            var c = RunTally.Counts()
            for counts in instances.values { if let w = RunTally.worst(counts) { c[w] += 1 } }
            return c
        }
    }

    @Test("kept by what changed, the counts are those counted from scratch, after each of 5,000 random changes")
    func tallyMatchesRecount() {
        var generator = SystemRandomNumberGenerator()
        var tally = RunTally()
        var states: [String: UInt8] = [:]
        let keys = (0..<40).flatMap { i in ["f#\(i)/a", "f#\(i)/b", "f#\(i)/g@\(i % 3)/c", "loop@\(i % 7)/d"] } + ["t"]
        for step in 0..<5000 {
            let key = keys.randomElement(using: &generator)!
            let state: UInt8 =
                Int.random(in: 0..<5, using: &generator) == 0
                ? RunTally.absent : UInt8.random(in: 0..<UInt8(RunTally.states.count - 1), using: &generator)
            tally.restate(key, to: state)
            states[key] = state == RunTally.absent ? nil : state
            if step % 250 == 0 || step == 4999 {
                let expected = RunSightTests.recount(states)
                let kept = tally.groups.filter { $0.value != RunTally.Counts() }
                #expect(kept == expected, "step \(step)")
                #expect(tally.stateOf == states)
            }
        }
    }

    @Test(
        """
        a sight looked at after each change draws what a new sight draws of the whole run; a look reads only the \
        attempts recorded since and those that were running
        """
    )
    func incrementalEqualsWhole() async throws {
        let (root, store) = try RunSightTests.store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await RunSightTests.createRun("r1", in: store)
        let followed = RunSight(runID: "r1")
        let now = Date()
        let t0 = now.addingTimeInterval(-100)
        var running: [AttemptRecord] = []
        // 3,000 attempts (past the Gantt chart's gathering), ended in waves, some failed and retried.
        for wave in 0..<6 {
            for i in 0..<500 {
                let n = wave * 500 + i
                let a = AttemptRecord(
                    runID: "r1", taskKey: "each#\(n % 2600)/t", task: "t", number: n < 2600 ? 1 : 2, site: "local",
                    startedAt: t0.addingTimeInterval(Double(n) * 0.01),
                    queuedAt: t0.addingTimeInterval(Double(n) * 0.009))
                guard case .started = try await store.startAttempt(a, checking: nil) else {
                    Issue.record("not started")
                    return
                }
                running.append(a)
            }
            if wave == 2 {
                try await store.appendEvent(
                    EventRecord(
                        runID: "r1", time: now, kind: .waiting, taskKey: "each#2999/t", message: "waits for a core"))
            }
            // Half of what runs ends (every seventh failed).
            let ending = running.prefix(running.count / 2)
            for var a in ending {
                a.status = a.taskKey.hasSuffix("7/t") ? .failed : .succeeded
                a.finishedAt = a.startedAt.addingTimeInterval(0.5)
                a.exitCode = a.status == .failed ? 1 : 0
                try await store.finishAttempt(a)
            }
            running.removeFirst(ending.count)
            try await followed.look(store)
            let whole = RunSight(runID: "r1")
            try await whole.look(store)
            let a = await followed.draw(nil, documents: nil, expanded: [], from: 0, now: now).gantt
            let b = await whole.draw(nil, documents: nil, expanded: [], from: 0, now: now).gantt
            #expect(a.summary == b.summary && a.lanes.map(\.bars.count) == b.lanes.map(\.bars.count))
            #expect(a.lanes.flatMap { $0.bars.map(\.opacity) } == b.lanes.flatMap { $0.bars.map(\.opacity) })
            #expect(await followed.tallyGroups == whole.tallyGroups, "wave \(wave)")
            #expect(await followed.size == whole.size)
        }
        // The store's side: after the last id seen, with those seen running, only what changed.
        let all = try await store.attemptChanges(run: "r1", after: 0, running: [])
        #expect(all.count == 3000 && all.map(\.id) == all.map(\.id).sorted())
        let last = all.map(\.id).max()!
        let stillRunning = all.filter { $0.status == .running }.map(\.id)
        #expect(try await store.attemptChanges(run: "r1", after: last, running: []).isEmpty)
        let reread = try await store.attemptChanges(run: "r1", after: last, running: stillRunning)
        #expect(reread.count == stillRunning.count && reread.allSatisfy { $0.status == .running })
        // Another run's attempts are not this one's.
        try await RunSightTests.createRun("r2", in: store, user: "bob")
        _ = try await store.startAttempt(
            AttemptRecord(runID: "r2", taskKey: "x", task: "x", number: 1), checking: nil)
        #expect(try await store.attemptChanges(run: "r1", after: last, running: []).isEmpty)
        #expect(try await store.attemptChanges(run: "r2", after: last, running: []).map(\.taskKey) == ["x"])
        // The waiting task counts as waiting while the run goes on, not once it ended.
        #expect(await followed.tallyGroups["each#"]?[Int(RunTally.index("waiting"))] == 1)
        var ended = try #require(try await store.run("r1"))
        ended.status = .succeeded
        try await store.updateRun(ended)
        try await followed.look(store)
        #expect(await followed.tallyGroups["each#"]?[Int(RunTally.index("waiting"))] == 0)
    }

    @Test(
        """
        task instances that only wait are counted as waiting from the first look, and stay so at the next looks \
        until an attempt of theirs starts
        """
    )
    func waitingBeforeAnyAttempt() async throws {
        let (root, store) = try RunSightTests.store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try await RunSightTests.createRun("r1", in: store)
        for i in 0..<20 {
            try await store.appendEvent(
                EventRecord(runID: "r1", kind: .waiting, taskKey: "each#\(i)/t", message: "waits for a core"))
        }
        let sight = RunSight(runID: "r1")
        let waiting = Int(RunTally.waiting)
        try await sight.look(store)
        #expect(await sight.tallyGroups["each#"]?[waiting] == 20)
        try await sight.look(store)
        #expect(await sight.tallyGroups["each#"]?[waiting] == 20)
        _ = try await store.startAttempt(
            AttemptRecord(
                runID: "r1", taskKey: "each#0/t", task: "t", number: 1, startedAt: Date().addingTimeInterval(1)),
            checking: nil)
        try await sight.look(store)
        let counts = try #require(await sight.tallyGroups["each#"])
        #expect(counts[waiting] == 19 && counts[Int(RunTally.index("running"))] == 1)
    }

    @Test("the sights kept: the least recently looked at go first; a run larger than all they keep is not kept")
    func sightsKept() async throws {
        let (root, store) = try RunSightTests.store()
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (run, n) in [("small1", 10), ("small2", 10), ("small3", 10), ("large", 50)] {
            try await RunSightTests.createRun(run, in: store)
            for i in 0..<n {
                _ = try await store.startAttempt(
                    AttemptRecord(runID: run, taskKey: "each#\(i)/t", task: "t", number: 1), checking: nil)
            }
        }
        let sights = RunSights(capacity: 25, count: 10)
        let s1 = try await sights.look("small1", runs: store)
        let s2 = try await sights.look("small2", runs: store)
        // Too large to keep: looked at, not kept, and the others stay.
        let l1 = try await sights.look("large", runs: store)
        let l2 = try await sights.look("large", runs: store)
        let size = await l2.size
        #expect(l1 !== l2 && size == 50)
        #expect(try await sights.look("small1", runs: store) === s1)
        // A third small one: the least recently looked at (small2) goes.
        _ = try await sights.look("small3", runs: store)
        #expect(try await sights.look("small1", runs: store) === s1)
        #expect(try await sights.look("small2", runs: store) !== s2)
    }
}

extension RunTally {
    /// The instances a task key is in, as a list (`forEachInstance`).
    static func instances(of key: String) -> [(head: String, number: Int)] {
        var out: [(String, Int)] = []
        forEachInstance(of: key) { out.append(($0, $1)) }
        return out
    }
}

extension RunSight {
    /// The group counts, for tests.
    var tallyGroups: [String: RunTally.Counts] { tally.groups }
}

import Foundation
import HeavenCore
import HeavenEngine
import HeavenModel
import HeavenStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The operating-system user running the tests (owner of sites it declares without `owner`).
let testUser: String = {
    if let pw = getpwuid(getuid()), let n = pw.pointee.pw_name { return String(cString: n) }
    return "root"
}()

@Suite("Runs on placed topologies", .timeLimit(.minutes(15)))
struct PlacementTests {
    @Test("tasks run on the nodes the broker bound their machines to")
    func placed() async throws {
        let h = try Harness()
        let yaml = """
            kind: Site
            name: lab
            nodes:
              - {name: big, cores: 4, memory: 8GiB, tags: [fast]}
              - {name: small, cores: 1, memory: 1GiB}
            ---
            kind: Topology
            name: env
            machines:
              - {name: master, cores: 1, requirements: 'cores == 1'}
              - {name: workers, count: 2, cores: 2, requirements: '"fast" in tags'}
            ---
            kind: Workflow
            name: w
            topology: env
            steps:
              - task: prepare
                on: master
                run: [echo, ready]
              - foreach: ${range(4)}
                as: i
                steps:
                  - task: work
                    on: workers
                    resources: {cores: 2}
                    run: [echo, '${i}']
            """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(attempts.first { $0.task == "prepare" }?.node == "lab/small/0")
        #expect(attempts.filter { $0.task == "work" }.allSatisfy { $0.node == "lab/big/0" && $0.cores == 2 })
        let placement = try #require(try await h.store.placement(run: run.id))
        #expect(placement.machines.contains { $0.node.id == "lab/big/0" })
    }

    @Test(
        """
        a task whose machine has room starts at once, though other machines' tasks wait for theirs (it does not \
        queue behind them)
        """
    )
    func noWaitingBehindAnotherMachine() async throws {
        let h = try Harness()
        let sync = try h.syncDirectory()
        // Item 0 holds m until `three` (on b) has run; items 1 and 2 wait for m. `three`
        // asks for b once item 0 runs (so after the items asked for m): queued behind
        // them, it would never start and item 0 would wait in vain.
        let yaml = """
            kind: Site
            name: lab
            nodes: [{name: n, count: 2, cores: 1}]
            ---
            kind: Topology
            name: env
            machines: [{name: m}, {name: b}]
            ---
            kind: Workflow
            name: w
            topology: env
            steps:
              - parallel:
                  - foreach: ${range(3)}
                    as: i
                    steps:
                      - task: item
                        on: m
                        shell: 'if [ ${i} = 0 ]; then touch \(sync)/started/item; \
            \(Harness.waitUntil("[ -e \(sync)/ended/three ]")); fi'
                  - sequence:
                      - task: gate
                        on: b
                        shell: '\(Harness.waitUntil("[ -e \(sync)/started/item ]"))'
                      - task: three
                        on: b
                        shell: 'touch \(sync)/ended/three'
            """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(attempts.count == 5 && attempts.allSatisfy { $0.number == 1 && $0.status == .succeeded })
        #expect(Set(attempts.compactMap(\.node)) == ["lab/n/0", "lab/n/1"])
    }

    @Test("a one-shot grant serves the first run; a second run is refused, saying why")
    func onceGrant() async throws {
        let h = try Harness()
        let yaml = """
            kind: Site
            name: shared
            owner: user:someone-else
            nodes: [{name: n, cores: 2}]
            ---
            kind: Grant
            name: eo-once
            site: shared
            to: user:\(testUser)
            valid: {once: true}
            ---
            kind: Topology
            name: env
            machines: [{name: m}]
            ---
            kind: Workflow
            name: w
            topology: env
            steps:
              - task: t
                on: m
                run: [echo, hi]
            """
        let (first, attempts) = try await h.run(yaml)
        #expect(first.status == .succeeded, "\(first.error ?? "")")
        #expect(attempts.first?.grant == "eo-once")
        let resumed = try await h.engine.execute(runID: first.id)
        #expect(resumed.status == .succeeded)
        let (second, none) = try await h.run(yaml)
        #expect(second.status == .failed)
        #expect(none.isEmpty)
        #expect(
            second.error?.contains("m: shared: no valid grant for user \(testUser) (grant eo-once already used)")
                == true, "\(second.error ?? "")")
    }

    @Test("two overlapping topologies run at once on one small site without oversubscribing it")
    func overlapping() async throws {
        let h = try Harness()
        let sync = try h.syncDirectory()
        // Each run's first item waits until the other run has started a task: run one after
        // the other, the first would wait in vain. Every task counts the tasks in flight.
        func yaml(_ name: String) -> String {
            """
            kind: Site
            name: tiny
            nodes: [{name: n, cores: 2, memory: 2GiB}]
            ---
            kind: Topology
            name: env-\(name)
            machines: [{name: m, count: 2, cores: 1}]
            ---
            kind: Workflow
            name: \(name)
            topology: env-\(name)
            steps:
              - foreach: ${range(5)}
                as: i
                steps:
                  - task: t
                    on: m
                    shell: '\(Harness.arrive(sync)); if [ ${i} = 0 ]; then \
            \(Harness.waitUntil("ls \(sync)/started | grep -v \"^$HEAVEN_RUN\" | grep -q .")); fi; \
            \(Harness.leave(sync))'
                    outputs: {inFlight: {stdout: json}}
            outputs: {inFlight: '${t.inFlight}'}
            """
        }
        let a = try await h.create(yaml("a"))
        let b = try await h.create(yaml("b"))
        async let ra = h.engine.execute(runID: a.id)
        async let rb = h.engine.execute(runID: b.id)
        let (fa, fb) = try await (ra, rb)
        #expect(fa.status == .succeeded && fb.status == .succeeded)
        let attemptsA = try await h.store.attempts(run: a.id)
        let attemptsB = try await h.store.attempts(run: b.id)
        #expect(attemptsA.count == 5 && attemptsB.count == 5)
        // Never more than the node's two cores in flight, over both runs.
        let seen = Harness.counts(fa.outputs?["inFlight"]) + Harness.counts(fb.outputs?["inFlight"])
        #expect(seen.count == 10 && seen.allSatisfy { $0 <= 2 }, "\(seen)")
        // Both topologies were placed on the same node: they overlap, like VPNs on one network.
        #expect(Set((attemptsA + attemptsB).compactMap(\.node)) == ["tiny/n/0"])
    }

    @Test("when a grant's core-hours run out mid-run, tasks move to other granted capacity")
    func quotaMoves() async throws {
        let h = try Harness()
        let yaml = """
            kind: Site
            name: rented
            owner: user:provider
            nodes: [{name: n, cores: 1}]
            ---
            kind: Grant
            name: small-quota
            site: rented
            to: user:\(testUser)
            limits: {core-hours: 0.0001}
            ---
            kind: Site
            name: mine
            nodes: [{name: n, cores: 1}]
            ---
            kind: Topology
            name: env
            machines: [{name: m, count: 2, cores: 1, rank: 'if(site == "rented", 1, 0)'}]
            ---
            kind: Workflow
            name: w
            topology: env
            steps:
              - foreach: ${range(8)}
                as: i
                parallel: 1
                steps:
                  - task: t
                    on: m
                    run: [sleep, '0.2']
            """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        let onRented = attempts.filter { $0.site == "rented" }
        let onMine = attempts.filter { $0.site == "mine" }
        #expect(onRented.count >= 1 && onRented.count < 8, "rented: \(onRented.count)")
        #expect(onMine.count == 8 - onRented.count)
        // Nothing started on the rented site once its quota was used up.
        let quota = 0.0001 * 3600
        var used = 0.0
        for a in onRented.sorted(by: { $0.startedAt < $1.startedAt }) {
            #expect(used < quota)
            used += (a.finishedAt ?? Date()).timeIntervalSince(a.startedAt)
        }
    }

    @Test("when the only grant is used up, tasks wait and say why")
    func quotaWaits() async throws {
        let h = try Harness()
        let controller = RunController()
        let created = try await h.create(
            """
            kind: Site
            name: rented
            owner: user:provider
            nodes: [{name: n, cores: 1}]
            ---
            kind: Grant
            name: tiny-quota
            site: rented
            to: user:\(testUser)
            limits: {core-hours: 0.00005}
            ---
            kind: Topology
            name: env
            machines: [{name: m}]
            ---
            kind: Workflow
            name: w
            topology: env
            steps:
              - task: first
                on: m
                run: [sleep, '0.3']
              - task: second
                on: m
                run: [echo, never]
            """)
        async let final = h.engine.execute(runID: created.id, controller: controller)
        var waiting: String?
        for _ in 0..<100 where waiting == nil {
            try await Task.sleep(for: .milliseconds(50))
            waiting = try await h.store.events(run: created.id, after: 0, limit: 100).first { $0.kind == .waiting }?
                .message
        }
        #expect(
            waiting?.hasPrefix("waiting: grant tiny-quota: core-hours used up") == true,
            "\(waiting ?? "no waiting event")")
        #expect(controller.progress?.waitingFor?.contains("tiny-quota") == true)
        controller.cancel()
        let run = try await final
        #expect(run.status == .cancelled)
        #expect(try await h.store.attempts(run: created.id).map(\.task) == ["first"])
    }

    @Test("a topology that cannot be placed fails the run with the broker's explanation")
    func refused() async throws {
        let h = try Harness()
        let (run, attempts) = try await h.run(
            """
            kind: Site
            name: lab
            nodes: [{name: n, cores: 2}]
            ---
            kind: Topology
            name: env
            machines: [{name: m, cores: 8}]
            ---
            kind: Workflow
            name: w
            topology: env
            steps:
              - task: t
                on: m
                run: [echo]
            """)
        #expect(run.status == .failed)
        #expect(attempts.isEmpty)
        #expect(run.error == "topology `env` cannot be placed:\n  m: lab: 2 cores < 8 required")
    }
}

@Suite("Substitution of a lost site", .timeLimit(.minutes(15)))
struct SubstitutionTests {
    static func yaml(withBackup: Bool) -> String {
        """
        kind: Site
        name: first
        nodes: [{name: n, cores: 1}]
        ---
        \(withBackup ? "kind: Site\nname: backup\nnodes: [{name: n, cores: 1}]\n---\n" : "")kind: Topology
        name: env
        machines: [{name: m, rank: 'if(site == "first", 1, 0)'}]
        ---
        kind: Workflow
        name: w
        topology: env
        steps:
          - foreach: ${range(6)}
            as: i
            parallel: 1
            steps:
              - task: t
                on: m
                run: [sleep, '0.25']
        """
    }

    @Test("when a site is reported down, its machines are re-placed and the next tasks run on the new site")
    func moves() async throws {
        let h = try Harness()
        let created = try await h.create(SubstitutionTests.yaml(withBackup: true))
        async let final = h.engine.execute(runID: created.id)
        for _ in 0..<100 {
            if try await h.store.attempts(run: created.id).count >= 2 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await h.store.markSite("first", downUntil: Date().addingTimeInterval(600), reason: "power cut")
        let run = try await final
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        let attempts = try await h.store.attempts(run: created.id)
        #expect(attempts.count == 6)
        #expect(attempts.first?.site == "first")
        #expect(attempts.last?.site == "backup")
        let moved = try await h.store.events(run: created.id, after: 0, limit: 100).first { $0.kind == .substitution }
        #expect(moved?.message == "site first is down (power cut): re-placed m ×1 on backup")
    }

    @Test("when the lost site was the only match, the run fails saying why")
    func noOtherSite() async throws {
        let h = try Harness()
        let created = try await h.create(SubstitutionTests.yaml(withBackup: false))
        async let final = h.engine.execute(runID: created.id)
        for _ in 0..<100 {
            if try await h.store.attempts(run: created.id).count >= 1 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        try await h.store.markSite("first", downUntil: Date().addingTimeInterval(600), reason: "power cut")
        let run = try await final
        let attempts = try await h.store.attempts(run: created.id)
        #expect(
            run.status == .failed,
            "\(attempts.map { "\($0.taskKey) \($0.status) \($0.startedAt.timeIntervalSince1970) \($0.error ?? "")" })")
        #expect(
            run.error?.contains("site first is down (power cut) and its machines cannot be re-placed") == true,
            "\(run.error ?? "")")
        #expect(run.error?.contains("m: first: site is down (power cut)") == true)
    }
}

@Suite("Capacity bookkeeping", .timeLimit(.minutes(15)))
struct BookkeepingTests {
    @Test("a run alone on its site is never refused capacity: its slots and the store agree")
    func noSelfRefusal() async throws {
        let h = try Harness()
        let (run, attempts) = try await h.run(
            Harness.site(cores: 2) + """
                kind: Workflow
                name: w
                steps:
                  - foreach: ${range(300)}
                    as: i
                    steps:
                      - task: t
                        run: ['true']
                """)
        #expect(run.status == .succeeded)
        #expect(attempts.count == 300)
        let waits = try await h.store.events(run: run.id, after: 0, limit: 1000).filter { $0.kind == .waiting }
        #expect(waits.isEmpty, "\(waits.first?.message ?? "")")
    }

    /// One-task runs of one engine on a one-core site, started together (a server's jobs).
    static func sharedNode(_ h: Harness, runs: Int, task: String) async throws -> [RunRecord] {
        let yaml =
            Harness.site(cores: 1) + """
                kind: Workflow
                name: w
                steps:
                  - task: t
                    shell: '\(task)'
                    outputs: {inFlight: {stdout: json}}
                outputs: {inFlight: '${t.inFlight}'}
                """
        var created: [RunRecord] = []
        for _ in 0..<runs { created.append(try await h.create(yaml)) }
        return created
    }

    @Test("runs of one engine that share a node queue for it: none is refused by the store, none oversubscribes it")
    func sharedNodeQueues() async throws {
        let h = try Harness()
        let sync = try h.syncDirectory()
        let runs = try await BookkeepingTests.sharedNode(
            h, runs: 24, task: "\(Harness.arrive(sync)); \(Harness.leave(sync))")
        let ended = try await withThrowingTaskGroup(of: RunRecord.self) { group in
            for r in runs { group.addTask { try await h.engine.execute(runID: r.id) } }
            return try await group.reduce(into: [RunRecord]()) { $0.append($1) }
        }
        #expect(ended.count == 24 && ended.allSatisfy { $0.status == .succeeded })
        // One core: never two tasks at once, over all the runs.
        let seen = ended.flatMap { r -> [Int] in
            if case .int(let n)? = r.outputs?["inFlight"] { [n] } else { [] }
        }
        #expect(seen.count == 24 && seen.allSatisfy { $0 == 1 }, "\(seen)")
        // Each run waited in the engine's queue, not on the store's refusals (each refusal
        // is a write transaction, and every end of a task woke every refused run).
        for r in ended {
            let waits = try await h.store.events(run: r.id, after: 0, limit: 100).filter { $0.kind == .waiting }
            #expect(waits.isEmpty, "run \(r.id): \(waits.first?.message ?? "")")
        }
    }

    @Test("a run cancelled while it queues for a busy node ends at once, and the node's queue goes on")
    func cancelWhileQueued() async throws {
        let h = try Harness()
        let sync = try h.syncDirectory()
        // The first run's task holds the only core until the test lets it go (its budget only
        // bounds a test gone wrong: a test process stalled by its neighbours on a busy
        // machine must not exhaust it).
        let go = Harness.waitUntil("[ -e \(sync)/go ]", seconds: 600)
        let hold = try await BookkeepingTests.sharedNode(
            h, runs: 1, task: "\(Harness.arrive(sync)); \(go); \(Harness.leave(sync))")[0]
        let queued = try await BookkeepingTests.sharedNode(h, runs: 2, task: "echo 1")
        async let first = h.engine.execute(runID: hold.id)
        // Until the holder has started, then the two others queue behind it.
        while (try? FileManager.default.contentsOfDirectory(atPath: sync + "/started"))?.isEmpty ?? true {
            try await Task.sleep(for: .milliseconds(20))
        }
        let cancelled = RunController()
        async let second = h.engine.execute(runID: queued[0].id, controller: cancelled)
        async let third = h.engine.execute(runID: queued[1].id)
        // The second run waits for the node (its task never starts); cancelled, it ends
        // while the first still holds the core.
        while try await h.store.run(queued[0].id)?.startedAt == nil { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(100))
        cancelled.cancel()
        let s = try await second
        #expect(s.status == .cancelled)
        #expect(!FileManager.default.fileExists(atPath: sync + "/go"))
        #expect(try await h.store.attempts(run: queued[0].id).isEmpty)
        // The holder goes on; then the third run gets the core.
        _ = FileManager.default.createFile(atPath: sync + "/go", contents: nil)
        let (f, t) = try await (first, third)
        #expect(f.status == .succeeded && t.status == .succeeded)
    }
}

/// A member of an object value.
func field(_ v: Value, _ key: String) -> Value? {
    if case .map(let m) = v { m[key] } else { nil }
}

@Suite("Topologies on the embedded defaults", .timeLimit(.minutes(15)))
struct EmbeddedTopologyTests {
    @Test("a topology bigger than this machine runs on the embedded default site, its machines taking turns")
    func sharing() async throws {
        let h = try Harness()
        let sync = try h.syncDirectory()
        // Twice as many one-core workers as this machine has cores, each holding its core
        // until the workers before it have started.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let workers = 2 * cores
        let (run, attempts) = try await h.run(
            """
            kind: Topology
            name: ndvi-env
            machines:
              - {name: splitter, cores: 1, memory: 64MiB, software: [awk]}
              - {name: workers, count: \(workers), cores: 1, memory: 64MiB, software: [sh]}
            ---
            kind: Workflow
            name: w
            topology: ndvi-env
            steps:
              - task: split
                on: splitter
                run: [awk, 'BEGIN { printf "["; for (i = 1; i <= \(workers); i++) printf "%s%d", (i > 1 ? ", " : ""), \
            i; print "]" }']
                outputs: {parts: {stdout: json}}
              - foreach: ${split.parts}
                as: p
                steps:
                  - task: work
                    on: workers
                    shell: 'n=$(( ${p} - 1 + \(cores) )); [ $n -gt \(workers) ] && n=\(workers); \
            \(Harness.arrive(sync)) > in-flight; \(Harness.awaitStarted(sync, "$n")); \(Harness.leave(sync)); echo \
            "{\\"v\\": $(( ${p} * 2 )), \\"inFlight\\": $(cat in-flight)}"'
                    outputs: {v: {stdout: json}}
            outputs: {doubled: '${work.v}'}
            """)
        #expect(run.status == .succeeded, "\(run.error ?? "") \(attempts.map { "\($0.taskKey): \($0.error ?? "ok")" })")
        guard case .list(let results)? = run.outputs?["doubled"] else {
            Issue.record("no outputs: \(String(describing: run.outputs))")
            return
        }
        // Every item's result, in order; the machine's cores all used at once, never more:
        // the workers took turns on the machine.
        #expect(results.map { field($0, "v") } == (1...workers).map { Value.int($0 * 2) })
        let seen = results.compactMap { if case .int(let n)? = field($0, "inFlight") { n } else { nil } }
        #expect(seen.count == workers && seen.allSatisfy { $0 <= cores } && seen.max() == cores, "\(seen)")
        #expect(Set(attempts.compactMap(\.site)) == ["local"])
    }

    @Test("software the machine lacks is refused on the embedded default site, saying which")
    func missingSoftware() async throws {
        let h = try Harness()
        let (run, _) = try await h.run(
            """
            kind: Topology
            name: env
            machines: [{name: m, software: [no-such-software-heaven]}]
            ---
            kind: Workflow
            name: w
            topology: env
            steps:
              - task: t
                on: m
                run: ['true']
            """)
        #expect(run.status == .failed)
        #expect(run.error == "topology `env` cannot be placed:\n  m: local: no software no-such-software-heaven")
    }
}

import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenModel
import HeavenStore
import HeavenTestSupport
import Testing

@testable import HeavenConnectors

#if canImport(Glibc)
    import Glibc
#endif

/// A local site owned by the test user, to move work to.
func localSite(_ name: String, cores: Int, software: [String] = []) -> String {
    """
    kind: Site
    name: \(name)
    connector: local
    owner: user:\(testUser)
    nodes: [{name: n, cores: \(cores), memory: 4GiB, software: [\(software.joined(separator: ", "))]}]
    ---

    """
}

// Serialized: each test starts its own cluster, and two at once would only compete for
// the two cores.
@Suite(
    "Tasks on a Slurm cluster", .serialized, Testbed.needs(SlurmTestCluster.available, "root, slurm-wlm and munge"),
    .timeLimit(.minutes(15)))
struct SlurmTests {
    @Test("tasks run as Slurm jobs, a foreach's ready items as one job array, outputs come back")
    func jobs() async throws {
        let cluster = try SlurmTestCluster()
        let h = try Harness()
        let (run, attempts) = try await h.run(
            cluster.site("cluster") + """
                kind: Topology
                name: env
                machines: [{name: m, count: 4}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - task: seed
                    on: m
                    shell: 'echo 7 > seed.txt; echo "$SLURM_JOB_ID" > job.txt'
                    outputs: {seed: {file: seed.txt}, job: {json: job.txt}}
                  - foreach: ${range(6)}
                    as: i
                    steps:
                      - task: square
                        on: m
                        inputs: {seed.txt: '${seed.seed}'}
                        run: [sh, -c, 'echo $(( $0 * $0 + $(cat seed.txt) ))', '${i}']
                        outputs: {v: {stdout: json}}
                  - task: total
                    on: m
                    run: [sh, -c, 'echo $(( $0 + $1 + $2 + $3 + $4 + $5 ))', '${square.v}']
                    outputs: {sum: {stdout: json}}
                outputs: {sum: '${total.sum}', squares: '${square.v}', job: '${seed.job}'}
                """)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["squares"] == .list([7, 8, 11, 16, 23, 32].map(Value.int)))
        #expect(run.outputs?["sum"] == .int(97))
        // The job id a task saw is Slurm's: it ran as a job.
        guard case .int(let job)? = run.outputs?["job"] else {
            Issue.record("no job id: \(String(describing: run.outputs?["job"]))")
            return
        }
        #expect(job > 0)
        #expect(attempts.count == 8 && attempts.allSatisfy { $0.site == "cluster" && $0.status == .succeeded })
        let ids = try cluster.command("squeue -h -r -t all -o '%i %j %T'")
        // Items that were ready together went as elements of one array (JOB_INDEX).
        #expect(ids.split(separator: "\n").contains { $0.contains("_") && $0.contains("heaven-\(run.id)") }, "\(ids)")
        #expect(ids.split(separator: "\n").allSatisfy { $0.hasSuffix("COMPLETED") }, "\(ids)")
    }

    @Test(
        """
        a job's secret travels in a 0600 file the job removes as it starts: never in its script, on a command \
        line or in the run's files, after success or failure
        """
    )
    func secretsOffJobScripts() async throws {
        let cluster = try SlurmTestCluster()
        let h = try Harness()
        let value = "slurm-secret-\(UUID().uuidString)"
        try await Secrets(home: HeavenHome(root: h.home), store: h.store).set(
            owner: testUser, name: "api-key", value: value)
        let digest = try HeavenCLIShell.sha256(value)
        let gate = h.home + "/gate"
        for (end, status) in [("echo fine", RunStatus.succeeded), ("echo broken >&2; exit 3", RunStatus.failed)] {
            unlink(gate + ".ready")
            unlink(gate + ".go")
            let created = try await h.create(
                cluster.site("cluster") + """
                    kind: Topology
                    name: env
                    machines: [{name: m}]
                    ---
                    kind: Workflow
                    name: w
                    topology: env
                    steps:
                      - task: use
                        on: m
                        env: {TOKEN: {secret: api-key}}
                        shell: 'test "$(printf %s "$TOKEN" | sha256sum | cut -c1-64)" = \(digest) || exit 9; touch \
                    \(gate).ready; while [ ! -e \(gate).go ]; do sleep 0.05; done; \(end)'
                    """)
            let running = Task { try await h.engine.execute(runID: created.id) }
            try await LeakChecks.wait("the job to start") { FileManager.default.fileExists(atPath: gate + ".ready") }
            let slurm = h.home + "/runs/\(created.id)/slurm"
            let kept = (try? FileManager.default.contentsOfDirectory(atPath: slurm)) ?? []
            #expect(kept.contains { $0.hasSuffix(".sh") }, "\(kept)")
            #expect(
                !kept.contains { $0.hasSuffix(".secrets") }, "the job should have removed its secrets file: \(kept)")
            #expect(
                !LeakChecks.environments(holding: value).isEmpty,
                "the job should hold the secret (else this checks nothing)")
            #expect(!LeakChecks.commandLines().contains { $0.contains(value) }, "a command line holds the secret")
            #expect(LeakChecks.files(holding: value, under: h.home + "/runs/\(created.id)").isEmpty)
            _ = FileManager.default.createFile(atPath: gate + ".go", contents: nil)
            let run = try await running.value
            #expect(run.status == status, "\(run.error ?? "")")
            #expect(LeakChecks.files(holding: value, under: h.home + "/runs/\(run.id)").isEmpty)
        }
    }

    @Test("heaven killed while a job runs, then resumed: the orphaned job is stopped, nothing finished runs again")
    func killedWhileJobRuns() async throws {
        let cluster = try SlurmTestCluster()
        let h = try Harness()
        let sync = h.home + "/traces"
        try FileManager.default.createDirectory(atPath: sync, withIntermediateDirectories: true)
        let file = h.home + "/w.yaml"
        try
            (cluster.site("cluster") + """
                kind: Topology
                name: env
                machines: [{name: m}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - foreach: ${range(3)}
                    as: i
                    parallel: 1
                    steps:
                      - task: t
                        on: m
                        shell: 'echo start >> \(sync)/t-${i}; until [ -e \(sync)/go-${i} ]; do sleep 0.05; done; echo \
                end >> \(sync)/t-${i}; echo ${i}'
                        outputs: {v: {stdout: json}}
                outputs: {v: '${t.v}'}
                """).write(toFile: file, atomically: true, encoding: .utf8)
        func trace(_ i: Int) -> [String] {
            ((try? String(contentsOfFile: "\(sync)/t-\(i)", encoding: .utf8)) ?? "").split(separator: "\n").map(
                String.init)
        }
        func go(_ i: Int) { _ = FileManager.default.createFile(atPath: "\(sync)/go-\(i)", contents: nil) }
        let heaven = HeavenProcess(home: h.home)
        let pid = try heaven.start(["run", file, "--quiet"])
        try await LeakChecks.wait("item 0's job to start") { trace(0) == ["start"] }
        go(0)
        try await LeakChecks.wait("item 1's job to start") { trace(1) == ["start"] }
        HeavenProcess.kill9(pid)
        let run = try #require(try await h.store.runs(limit: 1).first)
        let orphan = try cluster.command("squeue -h -t running -n heaven-\(run.id) -o '%i'").trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(!orphan.isEmpty, "item 1's job should still run after heaven died")
        let resumed = try heaven.start(["resume", run.id, "--quiet"])
        try await LeakChecks.wait("item 1 to start again") { trace(1) == ["start", "start"] }
        // The orphaned job no longer runs in Slurm, and its task never finished: stopped by
        // the resume (here, where the cluster shares this machine, its process is found by
        // its environment first and the job ends; elsewhere `scancel` cancels it).
        var state = ""
        for _ in 0..<50 {
            state = try cluster.command("squeue -h -r -t all -j \(orphan) -o '%T'").trimmingCharacters(
                in: .whitespacesAndNewlines)
            if state != "RUNNING" && state != "PENDING" && state != "COMPLETING" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(["CANCELLED", "COMPLETED", "FAILED"].contains(state), "the orphaned job \(orphan): \(state)")
        #expect(trace(1) == ["start", "start"], "the orphan must not have finished")
        go(1)
        go(2)
        try await LeakChecks.wait("the resumed run to end") {
            if kill(resumed, 0) != 0 { return true }
            return try await h.store.run(run.id)?.status.isFinal == true
        }
        let final = try #require(try await h.store.run(run.id))
        #expect(final.status == .succeeded, "\(final.error ?? "")")
        #expect(final.outputs?["v"] == .list([0, 1, 2].map(Value.int)))
        #expect(trace(0) == ["start", "end"], "item 0 had finished: it must not run again")
        #expect(trace(1) == ["start", "start", "end"])
        #expect(trace(2) == ["start", "end"])
    }

    @Test("a failing job says why, a timed-out one is cancelled with scancel, cancelling a run cancels its jobs")
    func failures() async throws {
        let cluster = try SlurmTestCluster()
        let h = try Harness()
        let (run, attempts) = try await h.run(
            cluster.site("cluster") + """
                kind: Topology
                name: env
                machines: [{name: m, count: 2}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - parallel:
                      - task: breaks
                        on: m
                        retries: 1
                        shell: 'echo "broken on $SLURM_JOB_ID" >&2; exit 3'
                      - task: hangs
                        on: m
                        timeout: 1s
                        run: [sleep, '60']
                """)
        #expect(run.status == .failed)
        let breaks = attempts.filter { $0.task == "breaks" }
        #expect(breaks.count == 2)
        #expect(
            breaks.allSatisfy { $0.status == .failed && ($0.error ?? "").hasPrefix("exited with status 3: broken on ") }
        )
        let hangs = try #require(attempts.first { $0.task == "hangs" })
        #expect(hangs.status == .timedOut, "\(hangs.status) \(hangs.error ?? "")")
        var states = ""
        for _ in 0..<50 {
            states = try cluster.command("squeue -h -r -t all -o '%T %j'")
            if !states.contains("RUNNING") && !states.contains("PENDING") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(states.contains("CANCELLED"), "\(states)")
        #expect(!states.contains("RUNNING"), "\(states)")

        // Cancelling a run: its job is cancelled, its process gone.
        let created = try await h.create(
            cluster.site("cluster") + """
                kind: Topology
                name: env
                machines: [{name: m}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - task: long
                    on: m
                    shell: 'echo $$ > "$HEAVEN_WORKDIR/../../pid"; exec sleep 60'
                """)
        let controller = RunController()
        async let final = h.engine.execute(runID: created.id, controller: controller)
        let pidFile = "\(h.home)/runs/\(created.id)/pid"
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: pidFile) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let pid = try #require(
            Int32(
                (try String(contentsOfFile: pidFile, encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        controller.cancel()
        let cancelled = try await final
        #expect(cancelled.status == .cancelled)
        for _ in 0..<50 where kill(pid, 0) == 0 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(kill(pid, 0) != 0, "the job's process still runs")
        // And Slurm itself says the run's job was cancelled.
        var job = ""
        for _ in 0..<50 {
            job = try cluster.command("squeue -h -r -t all -n heaven-\(created.id) -o '%T'")
            if job.contains("CANCELLED") { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(job.trimmingCharacters(in: .whitespacesAndNewlines) == "CANCELLED", "Slurm says: \(job)")
    }

    @Test("when the cluster's node fails mid-run, its jobs are lost and the run finishes on another site")
    func nodeFailure() async throws {
        let cluster = try SlurmTestCluster()
        let h = try Harness()
        let created = try await h.create(
            cluster.site("cluster") + localSite("here", cores: 2) + """
                kind: Topology
                name: env
                machines: [{name: m, rank: 'if(site == "cluster", 1, 0)'}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - foreach: ${range(4)}
                    as: i
                    parallel: 1
                    steps:
                      - task: t
                        on: m
                        run: [sh, -c, 'sleep 1; echo $(($0 * 10))', '${i}']
                        outputs: {v: {stdout: json}}
                outputs: {all: '${t.v}'}
                """)
        async let final = h.engine.execute(runID: created.id)
        for _ in 0..<200 {
            if try await h.store.attempts(run: created.id).contains(where: { $0.status == .succeeded }) { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        cluster.killNode()
        let run = try await final
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["all"] == .list([0, 10, 20, 30].map(Value.int)))
        let attempts = try await h.store.attempts(run: created.id)
        #expect(attempts.first?.site == "cluster")
        #expect(attempts.last?.site == "here")
        #expect(
            attempts.contains { $0.status == .lost && $0.site == "cluster" && ($0.error ?? "").contains("answers") },
            "\(attempts.map { "\($0.taskKey) \($0.site ?? "") \($0.status) \($0.error ?? "")" })")
        let events = try await h.store.events(run: created.id, after: 0, limit: 100)
        #expect(events.contains { $0.kind == .substitution && $0.message.contains("re-placed m ×1 on here") })
    }
}

/// What needs no cluster: how Slurm's words become task states.
@Suite("Slurm's states", .timeLimit(.minutes(15)))
struct SlurmStateTests {
    @Test("Slurm's failure states become task states")
    func states() async throws {
        let site = Site(
            name: "c", connector: .slurm(partition: nil, account: nil, via: nil),
            nodes: [NodeSpec(name: "n", cores: 1)],
            location: SourceLocation(file: "x", line: 1, column: 1))
        let connector = try SlurmConnector(site: site)
        func exit(_ state: String, reason: String = "None", signal: Int32? = nil) async -> TaskExit {
            let t = SlurmTask(
                connector: connector, job: "1", base: "1",
                launch: TaskLaunch(
                    arguments: ["true"], workDirectory: "/w/work/k", stdoutPath: "/o", stderrPath: "/o",
                    baseDirectory: "/"),
                files: connector.files(
                    TaskLaunch(
                        arguments: ["true"], workDirectory: "/w/work/k", stdoutPath: "/o", stderrPath: "/o",
                        baseDirectory: "/"),
                    job: "j"))
            t.resolve(state: state, reason: reason)
            return await t.wait()
        }
        #expect(await exit("TIMEOUT").timedOut)
        #expect(await exit("OUT_OF_MEMORY").message == "ran out of memory (Slurm: OUT_OF_MEMORY)")
        for lost in ["NODE_FAIL", "PREEMPTED", "BOOT_FAIL"] {
            let e = await exit(lost, reason: "Prolog")
            #expect(e.lost && !e.succeeded && e.message == "Slurm: \(lost), Prolog")
        }
        #expect(await exit("COMPLETED").succeeded)
        #expect(await exit("DEADLINE").message == "Slurm ended the job: DEADLINE")
        #expect(SlurmConnector.usable("idle") && SlurmConnector.usable("mix") && SlurmConnector.usable("alloc"))
        #expect(!SlurmConnector.usable("down*") && !SlurmConnector.usable("idle*") && !SlurmConnector.usable("drain"))
        #expect(SlurmConnector.duration(90) == "0:02:00")
    }
}

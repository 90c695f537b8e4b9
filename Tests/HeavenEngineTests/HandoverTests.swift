import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenModel
import HeavenStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Capacity passed from an ended attempt to the next one of its run (recorded without
/// waiting), empty files kept for later attempts, and orphans found by environment.
@Suite("Handover of capacity and files", .timeLimit(.minutes(15)))
struct HandoverTests {
    static func store() throws -> (SQLiteStore, String) {
        let dir = NSTemporaryDirectory() + "heaven-handover-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return (try SQLiteStore(path: dir + "/heaven.sqlite", liveness: { _, _ in true }), dir)
    }

    @Test("capacity passed on by an ended attempt is never free for another run in between")
    func handoverIsExact() async throws {
        let (store, dir) = try HandoverTests.store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for id in ["r1", "r2"] {
            try await store.createRun(
                RunRecord(
                    id: id, workflow: "w", user: "u", status: .running, inputs: [:], ownerPID: getpid()), documents: [])
        }
        let node = "s/n/0"
        let limits = CapacityLimits(nodeCores: 2, nodeMemory: nil, grantCores: nil, grantCoreHours: nil)
        func attempt(_ run: String, _ key: String, cores: Int) -> AttemptRecord {
            AttemptRecord(runID: run, taskKey: key, task: key, number: 1, node: node, cores: cores)
        }
        func other(_ key: String) async throws -> AttemptStart {
            try await store.startAttempt(attempt("r2", key, cores: 1), checking: limits)
        }

        var a1 = attempt("r1", "t1", cores: 2)
        guard case .started = try await store.startAttempt(a1, checking: limits) else {
            Issue.record("the first attempt was refused")
            return
        }
        guard case .refused(let why) = try await other("b1") else {
            Issue.record("another run got a core of a full node")
            return
        }
        #expect(why.contains("2 of 2 cores in use"), "\(why)")

        // a1 ends and passes its cores on: still held until a2 records its start.
        a1.status = .succeeded
        try await store.finishAttempt(a1, passing: { true })
        guard case .refused = try await other("b2") else {
            Issue.record("capacity passed on was free in between")
            return
        }
        var a2 = attempt("r1", "t2", cores: 2)
        store.startAttempt(a2, takingOver: a1.key)
        guard case .refused = try await other("b3") else {
            Issue.record("the attempt that took the capacity over does not hold it")
            return
        }
        // a2 ends without passing anything on: the node is free for the other run.
        a2.status = .succeeded
        try await store.finishAttempt(a2, passing: { false })
        guard case .started = try await other("b4") else {
            Issue.record("the node stayed full after the last attempt ended")
            return
        }
        let attempts = try await store.attempts(run: "r1")
        #expect(attempts.map(\.status) == [.succeeded, .succeeded])

        // A run whose process died holds nothing, even capacity that was being passed on.
        var a3 = attempt("r1", "t3", cores: 1)
        guard case .started = try await store.startAttempt(a3, checking: limits) else {
            Issue.record("a core of the node stayed held")
            return
        }
        a3.status = .succeeded
        try await store.finishAttempt(a3, passing: { true })
        #expect(try await store.catalog().nodeUsage[node]?.cores == 2)
        _ = try await store.markRunningAttemptsLost(run: "r1", reason: "gone")
        let held = try await store.catalog().nodeUsage[node]?.cores
        #expect(held == 1, "only b4 holds a core: \(String(describing: held))")
        guard case .started = try await other("b5") else {
            Issue.record("capacity being passed on by a stopped run stayed held")
            return
        }
    }

    @Test("the end of an attempt never recorded as started is an error, not a silent no-op")
    func finishWithoutStart() async throws {
        let (store, dir) = try HandoverTests.store()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await store.createRun(RunRecord(id: "r", workflow: "w", user: "u", inputs: [:]), documents: [])
        var a = AttemptRecord(runID: "r", taskKey: "t", task: "t", number: 1)
        a.status = .succeeded
        await #expect(throws: StoreError.self) { try await store.finishAttempt(a) }
    }

    @Test(
        """
        silent tasks reuse the empty directories and logs of ended ones; files tasks wrote, and directories they \
        changed, are never reused
        """
    )
    func recycledFiles() async throws {
        let h = try Harness()
        let (run, attempts) = try await h.run(
            Harness.site(cores: 2) + """
                kind: Workflow
                name: w
                steps:
                  - foreach: ${range(200)}
                    as: i
                    parallel: 4
                    steps:
                      - task: quiet
                        run: ['true']
                  - foreach: ${range(10)}
                    as: i
                    parallel: 4
                    steps:
                      - task: locks
                        run: [chmod, '500', .]
                  - foreach: ${range(20)}
                    as: i
                    parallel: 4
                    steps:
                      - task: writes
                        run: [sh, -c, 'echo ${i} > f; echo said ${i}']
                        outputs: {f: {file: f}}
                  - task: all
                    run: [cat, '${writes.f}']
                    outputs: {text: {stdout: text}}
                """)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(attempts.count == 231)
        let layout = RunLayout(root: "\(h.home)/runs/\(run.id)")
        let work = try FileManager.default.contentsOfDirectory(atPath: layout.workRoot)
        let logs = try FileManager.default.contentsOfDirectory(atPath: layout.logRoot)
        // 200 quiet tasks, but only about as many directories and logs as ran at once.
        let quietDirs = work.filter { $0.hasSuffix(".quiet") }
        let quietLogs = logs.filter { $0.contains(".quiet.") }
        #expect(
            quietDirs.count <= 10 && quietLogs.count <= 10, "\(quietDirs.count) directories, \(quietLogs.count) logs")
        // Every task that wrote kept its own directory, file and log.
        let writers = attempts.filter { $0.task == "writes" }
        #expect(writers.count == 20, "\(attempts.map(\.taskKey).suffix(3))")
        for a in writers {
            let i = a.outputs?["f"].flatMap { v -> String? in if case .file(let p) = v { p } else { nil } }
                .flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            #expect(
                i.map { h.stdout(run, a) == "said \($0)" } == true,
                "\(a.taskKey): \(i ?? "no file"), \(h.stdout(run, a))")
            #expect(FileManager.default.fileExists(atPath: layout.workDirectory(a.taskKey) + "/f"), "\(a.taskKey)")
        }
        // A directory a task made read-only stays its own (the next tasks could not write).
        let locked = work.filter { $0.hasSuffix(".locks") }
        #expect(locked.count == 10, "\(locked.count) read-only directories")
        let all = try #require(attempts.first { $0.task == "all" })
        #expect(all.outputs?["text"] == .string((0..<20).map(String.init).joined(separator: "\n")))
    }

    @Test(
        "a retried task keeps its own directory while it runs, though its first attempt's empty one was kept for others"
    )
    func retriedKeepsItsDirectory() async throws {
        let h = try Harness()
        let marks = h.home + "/marks"
        try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
        // Each item fails silently once (its empty directory is kept for later tasks),
        // then, retried, works slowly in its directory while quiet tasks take kept ones.
        let (run, attempts) = try await h.run(
            Harness.site(cores: 4) + """
                kind: Workflow
                name: w
                steps:
                  - foreach: ${range(12)}
                    as: i
                    parallel: 4
                    steps:
                      - task: flaky
                        retries: {count: 1, backoff: 0s}
                        run: [sh, -c, 'test -e \(marks)/$0 || { touch \(marks)/$0; exit 1; }; echo $0 > mine; sleep \
                0.3; cat mine', '${i}']
                        outputs: {back: {stdout: json}}
                      - foreach: ${range(6)}
                        as: j
                        steps:
                          - task: quiet
                            run: ['true']
                """)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        let flaky = attempts.filter { $0.task == "flaky" && $0.status == .succeeded }
        #expect(flaky.count == 12)
        for a in flaky {
            let i = Int(a.taskKey.split(separator: "#")[1].split(separator: "/")[0]) ?? -1
            #expect(a.outputs?["back"] == .int(i), "\(a.taskKey): \(String(describing: a.outputs))")
            // Its directory is still where it ran, with what it wrote (not renamed to
            // a quiet task's name while it ran).
            let path = RunLayout(root: "\(h.home)/runs/\(run.id)").workDirectory(a.taskKey) + "/mine"
            #expect((try? String(contentsOfFile: path, encoding: .utf8)) == "\(i)\n", "\(a.taskKey): \(path)")
        }
    }

    @Test("a process of a run is found by its environment and killed, even with no record of it")
    func orphansByEnvironment() async throws {
        let connector = LocalConnector()
        let dir = NSTemporaryDirectory() + "heaven-orphan-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func launch(_ run: String) -> TaskLaunch {
            // Long enough to outlast any stall of a loaded test process: both must be
            // running when the search is made (the other one is killed at the end).
            TaskLaunch(
                arguments: ["sleep", "600"], environment: ["HEAVEN_RUN": run], workDirectory: dir,
                stdoutPath: dir + "/\(run).log", stderrPath: dir + "/\(run).log", baseDirectory: dir)
        }
        let mine = try await connector.start(launch("run-orphan-\(getpid())"))
        let other = try await connector.start(launch("run-other-\(getpid())"))
        // Right after the spawn returns, the kernel may not have set up the new
        // program's environment yet (the parent resumes before the ELF loader is done):
        // wait until /proc shows it, as it does for any orphan found at a resume.
        for _ in 0..<200 {
            let env =
                FileManager.default.contents(atPath: "/proc/\(mine.handle.localProcess?.pid ?? 0)/environ") ?? Data()
            if String(decoding: env, as: UTF8.self).contains("HEAVEN_RUN=") { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(ProcessProbe.killOrphans(run: "run-orphan-\(getpid())") == 1)
        let exit = await mine.wait()
        #expect(exit.signal == SIGKILL)
        // Another run's process is left alone.
        #expect(kill(other.handle.localProcess?.pid ?? 0, 0) == 0)
        other.signal(SIGKILL)
        _ = await other.wait()
    }
}

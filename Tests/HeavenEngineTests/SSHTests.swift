import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenStore
import HeavenTestSupport
import Testing

// One serialized suite: the tests share the test user, its home and HEAVEN_SSH_CONFIG.
@Suite(
    "Tasks on an SSH host", .serialized, Testbed.needs(SSHTestHost.available, "root and openssh-server"),
    .timeLimit(.minutes(15)))
struct SSHTests {
    /// A run's directory on the test host, as the engine names it (unguessable suffix).
    func remoteRun(_ h: Harness, _ id: String) -> String {
        ".heaven/runs/" + SSHConnector.remoteName(id, salt: HeavenHome(root: h.home).remoteSalt)
    }

    static func workflow(_ host: SSHTestHost, input: String) -> String {
        host.site("remote") + """
            kind: Topology
            name: env
            machines: [{name: m, count: 2}]
            ---
            kind: Workflow
            name: w
            topology: env
            inputs: {data: {type: file, default: \(input)}}
            steps:
              - task: count
                on: m
                inputs: {data.txt: '${inputs.data}'}
                shell: 'wc -l < data.txt | tr -d " " > lines.txt; whoami; echo "$HEAVEN_TASK"'
                outputs:
                  lines: {json: lines.txt}
                  who: {stdout: text}
              - foreach: ${range(3)}
                as: i
                steps:
                  - task: again
                    on: m
                    run: [sh, -c, 'cat "$0" | wc -l', '${inputs.data}']
                    outputs: {n: {stdout: json}}
            outputs:
              lines: ${count.lines}
              who: ${count.who}
              again: ${again.n}
            """
    }

    @Test(
        """
        a task runs on the host with its inputs sent once and verified, its outputs brought back, its directory \
        removed after success
        """
    )
    func runs() async throws {
        let host = try SSHTestHost()
        let h = try Harness()
        let input = h.home + "/data.txt"
        try "a\nb\nc\n".write(toFile: input, atomically: true, encoding: .utf8)
        let (run, attempts) = try await h.run(SSHTests.workflow(host, input: input))
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["lines"] == .int(3))
        #expect(run.outputs?["who"] == .string("\(SSHTestHost.user)\ncount"))
        #expect(run.outputs?["again"] == .list([.int(3), .int(3), .int(3)]))
        #expect(Set(attempts.compactMap(\.site)) == ["remote"])
        let sha = try SSHConnector.sha256(ofFile: input)
        #expect(try host.remote("ls .heaven/cache") == "\(sha)\n")
        // Sent once, for four tasks that read it: one transfer crossed the connection.
        let transfers = host.commands.filter { $0.contains("cat > \"\(sha).part.$$\"") }
        #expect(transfers.count == 1, "\(transfers.count) transfers of the input")
        #expect(try host.remote("test -e \(remoteRun(h, run.id)) && echo kept || echo removed") == "removed\n")
        // The master connection the run opened does not linger after it (it used to, for two minutes).
        func masters() -> String {
            (try? Testbed.sh("pgrep -a -x ssh | grep -e 'ControlMaster=yes' | grep -e '-p \(host.port) ' || true"))
                ?? ""
        }
        for _ in 0..<100 where !masters().isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        #expect(masters().isEmpty, "still running: \(masters())")
    }

    @Test("a staged file found corrupted on the host is detected and sent again")
    func corruption() async throws {
        let host = try SSHTestHost()
        let h = try Harness()
        let input = h.home + "/data.txt"
        try "one\ntwo\n".write(toFile: input, atomically: true, encoding: .utf8)
        let sha = try SSHConnector.sha256(ofFile: input)
        try host.remote("mkdir -p .heaven/cache && printf 'one\\nTWO\\nthree\\n' > .heaven/cache/\(sha)")
        let (run, _) = try await h.run(SSHTests.workflow(host, input: input))
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["lines"] == .int(2))
        #expect(try host.remote("sha256sum .heaven/cache/\(sha) | cut -c1-64") == "\(sha)\n")
        // The corrupted copy was replaced by one transfer, then reused by every task.
        #expect(host.commands.filter { $0.contains("cat > \"\(sha).part.$$\"") }.count == 1)
    }

    @Test("cancelling a run kills its task's process group on the host")
    func cancel() async throws {
        let host = try SSHTestHost()
        let h = try Harness()
        let controller = RunController()
        let created = try await h.create(
            host.site("remote") + """
                kind: Topology
                name: env
                machines: [{name: m}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - task: wait
                    on: m
                    shell: 'sleep 120 & sleep 121'
                """)
        async let final = h.engine.execute(runID: created.id, controller: controller)
        var started = false
        for _ in 0..<100 where !started {
            try await Task.sleep(for: .milliseconds(100))
            // Its own two sleeps (other tests' jobs may run as the same user).
            started =
                (try? host.remote("pgrep -u \(SSHTestHost.user) -f '^sleep 12[01]$' | wc -l").trimmingCharacters(
                    in: .whitespacesAndNewlines)) == "2"
        }
        #expect(started)
        controller.cancel()
        let run = try await final
        #expect(run.status == .cancelled)
        var gone = false
        for _ in 0..<50 where !gone {
            try await Task.sleep(for: .milliseconds(100))
            gone =
                (try? host.remote("pgrep -u \(SSHTestHost.user) -f '^sleep 12[01]$' | wc -l").trimmingCharacters(
                    in: .whitespacesAndNewlines)) == "0"
        }
        #expect(gone, "the remote sleeps are still running")
    }

    @Test("when a host dies mid-run, its attempts are recorded as lost and the run finishes on the other host")
    func survives() async throws {
        let alpha = try SSHTestHost()
        let beta = try SSHTestHost(sharing: alpha)
        let h = try Harness()
        let created = try await h.create(
            alpha.site("alpha") + beta.site("beta") + """
                kind: Topology
                name: env
                machines: [{name: m, rank: 'if(site == "alpha", 1, 0)'}]
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
                        run: [sh, -c, 'sleep 0.4; echo $(($0 * 10))', '${i}']
                        outputs: {v: {stdout: json}}
                outputs: {all: '${t.v}'}
                """)
        async let final = h.engine.execute(runID: created.id)
        // Crash alpha once a task has succeeded there and the next one runs there.
        for _ in 0..<400 {
            let attempts = try await h.store.attempts(run: created.id)
            if attempts.contains(where: { $0.status == .succeeded }),
                attempts.contains(where: { $0.status == .running && $0.site == "alpha" })
            {
                break
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        alpha.crash()
        let run = try await final
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["all"] == .list([0, 10, 20, 30, 40, 50].map(Value.int)))
        let attempts = try await h.store.attempts(run: created.id)
        #expect(attempts.first?.site == "alpha")
        #expect(attempts.last?.site == "beta")
        #expect(
            attempts.contains { $0.status == .lost && $0.site == "alpha" },
            "\(attempts.map { "\($0.taskKey) \($0.site ?? "") \($0.status)" })")
        let events = try await h.store.events(run: created.id, after: 0, limit: 100)
        #expect(events.contains { $0.kind == .substitution && $0.message.contains("re-placed m ×1 on beta") })
    }

    @Test(
        """
        ssh's own 255 is told apart by the status the task left: a broken connection is lost, even when the task \
        had succeeded
        """
    )
    func recheck255() async throws {
        let host = try SSHTestHost()
        let load = Loader.load(text: host.site("remote"), path: "/site.yaml")
        let site = try #require(load.documents.sites.first)
        let connector = try SSHConnector(site: site)
        var launch = TaskLaunch(
            arguments: ["true"], workDirectory: "/tmp", stdoutPath: "/dev/null", stderrPath: "/dev/null",
            baseDirectory: "/")
        launch.runID = "recheck-\(getpid())"
        launch.taskKey = "t"
        let broken = TaskExit(exitCode: 255, signal: nil)
        func leave(_ status: String?) throws {
            let dir = ".heaven/runs/\(launch.runID)/pids"
            try host.remote(
                "mkdir -p \(dir); rm -f \(dir)/t.exit" + (status.map { "; echo \($0) > \(dir)/t.exit" } ?? ""))
        }
        // The task's own 255: a failure with that status.
        try leave("255")
        var exit = await connector.recheck(launch, broken)
        #expect(exit.exitCode == 255 && !exit.lost)
        // Another status while ssh said 255: the connection broke after the task failed.
        try leave("3")
        exit = await connector.recheck(launch, broken)
        #expect(exit.exitCode == 3 && !exit.lost)
        // 0 while ssh said 255: what came back of its output may be cut short: lost.
        try leave("0")
        exit = await connector.recheck(launch, broken)
        #expect(exit.lost && exit.message?.contains("may be incomplete") == true, "\(exit)")
        // No status left: it did not end there; the connection broke.
        try leave(nil)
        exit = await connector.recheck(launch, broken)
        #expect(exit.lost && exit.message?.contains("broke while the task ran") == true, "\(exit)")
        await connector.finishRun(launch.runID, succeeded: true)
    }

    @Test(
        """
        a secret reaches a task on an SSH host on its standard input: never on a command line at either end, \
        never in the host's files or the run's logs, after success or failure
        """
    )
    func secretsOffCommandLines() async throws {
        let host = try SSHTestHost()
        let h = try Harness()
        let value = "remote-secret-\(UUID().uuidString)"
        try await Secrets(home: HeavenHome(root: h.home), store: h.store).set(
            owner: testUser, name: "api-key", value: value)
        let digest = try HeavenCLIShell.sha256(value)
        let gate = "gate-\(UUID().uuidString.prefix(8))"
        func workflow(_ end: String) -> String {
            host.site("remote") + """
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
                "$HOME/\(gate).ready"; while [ ! -e "$HOME/\(gate).go" ]; do sleep 0.05; done; echo used > used.txt; \
                \(end)'
                    outputs: {said: {stdout: text}}
                """
        }
        for (end, status) in [("echo fine", RunStatus.succeeded), ("echo broken >&2; exit 3", RunStatus.failed)] {
            _ = try? host.remote("rm -f \(gate).ready \(gate).go")
            let created = try await h.create(workflow(end))
            let running = Task { try await h.engine.execute(runID: created.id) }
            try await LeakChecks.wait("the task on the host") {
                try host.remote("test -e \(gate).ready && echo yes || true") == "yes\n"
            }
            // While it runs: the task holds the secret in its environment, no command line does.
            #expect(
                !LeakChecks.environments(holding: value).isEmpty,
                "the task should hold the secret (else this checks nothing)")
            #expect(!LeakChecks.commandLines().contains { $0.contains(value) }, "a command line holds the secret")
            try host.remote("touch \(gate).go")
            let run = try await running.value
            #expect(run.status == status, "\(run.error ?? "")")
            // Nothing on the host (kept after a failure, removed after success) nor in the logs holds it.
            #expect(try host.remote("grep -rl \(value) .heaven 2>/dev/null || echo none") == "none\n")
            if status == .failed {
                #expect(
                    try host.remote("cat \(remoteRun(h, run.id))/work/use/used.txt") == "used\n",
                    "the failed run's directory should be kept")
            }
            #expect(LeakChecks.files(holding: value, under: h.home + "/runs/\(run.id)").isEmpty)
        }
        _ = try? host.remote("rm -f \(gate).ready \(gate).go")
    }

    @Test(
        """
        heaven killed while a task runs on the host, then resumed: the orphaned remote task is stopped, nothing \
        finished runs again
        """
    )
    func killedWhileRemote() async throws {
        let host = try SSHTestHost()
        let h = try Harness()
        let tag = "resume-\(UUID().uuidString.prefix(8))"
        try host.remote("mkdir -p \(tag)")
        // Each item leaves its trace on the host and waits for its own gate.
        let file = h.home + "/w.yaml"
        try
            (host.site("remote") + """
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
                        shell: 'echo start >> "$HOME/\(tag)/t-${i}"; until [ -e "$HOME/\(tag)/go-${i}" ]; do sleep \
                0.05; done; echo end >> "$HOME/\(tag)/t-${i}"; echo ${i}'
                        outputs: {v: {stdout: json}}
                outputs: {v: '${t.v}'}
                """).write(toFile: file, atomically: true, encoding: .utf8)
        let heaven = HeavenProcess(home: h.home)
        let pid = try heaven.start(["run", file, "--quiet"])
        func trace(_ i: Int) throws -> [String] {
            try host.remote("cat \(tag)/t-\(i) 2>/dev/null; true").split(separator: "\n").map(String.init)
        }
        // Item 0 finishes; once item 1 runs on the host, heaven is killed.
        try await LeakChecks.wait("item 0 to start") { try trace(0) == ["start"] }
        try host.remote("touch \(tag)/go-0")
        try await LeakChecks.wait("item 1 to start") { try trace(1) == ["start"] }
        HeavenProcess.kill9(pid)
        let run = try #require(try await h.store.runs(limit: 1).first)
        // Resumed: item 1's orphan is stopped on the host before it runs again.
        let resumed = try heaven.start(["resume", run.id, "--quiet"])
        try await LeakChecks.wait("item 1 to start again") { try trace(1) == ["start", "start"] }
        // Exactly one execution of item 1 is on the host, the second attempt: the orphan is
        // gone. (Each execution is one wrapper shell, whose command line exports its attempt.)
        let waiting = try host.remote(
            """
            ps -u \(SSHTestHost.user) -o args= | grep -F '\(tag)/go-' | grep -F 'export HEAVEN_ATTEMPT=' | grep \
            -v -e grep -e 'ps -u'; true
            """
        )
        .split(separator: "\n")
        #expect(
            waiting.count == 1 && waiting.allSatisfy { $0.contains("HEAVEN_ATTEMPT='2'") },
            "\(waiting.map { $0.prefix(400) })")
        for i in 1..<3 { try host.remote("touch \(tag)/go-\(i)") }
        try await LeakChecks.wait("the resumed run to end") {
            if kill(resumed, 0) != 0 { return true }
            return try await h.store.run(run.id)?.status.isFinal == true
        }
        let final = try #require(try await h.store.run(run.id))
        #expect(final.status == .succeeded, "\(final.error ?? "")")
        #expect(final.outputs?["v"] == .list([0, 1, 2].map(Value.int)))
        #expect(try trace(0) == ["start", "end"], "item 0 had finished: it must not run again")
        #expect(try trace(1) == ["start", "start", "end"])
        #expect(try trace(2) == ["start", "end"])
        let attempts = try await h.store.attempts(run: run.id).map { "\($0.taskKey)#\($0.number) \($0.status)" }
        #expect(attempts.filter { $0.hasSuffix(" lost") }.count == 1, "\(attempts)")
        _ = try? host.remote("rm -rf \(tag)")
    }

    @Test("a failed run keeps its directory on the host for inspection, until it is cleaned")
    func keptOnFailure() async throws {
        let host = try SSHTestHost()
        let h = try Harness()
        let yaml =
            host.site("remote") + """
                kind: Topology
                name: env
                machines: [{name: m}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - task: breaks
                    on: m
                    shell: 'echo evidence > clue.txt; echo broken >&2; exit 4'
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .failed)
        #expect(attempts.first?.error == "exited with status 4: broken")
        #expect(try host.remote("cat \(remoteRun(h, run.id))/work/breaks/clue.txt") == "evidence\n")
        let site = try #require(try await h.store.catalog().sites.first { $0.site.name == "remote" }?.site)
        await (try SSHConnector(site: site, salt: HeavenHome(root: h.home).remoteSalt)).finishRun(
            run.id, succeeded: true)
        #expect(try host.remote("test -e \(remoteRun(h, run.id)) && echo kept || echo removed") == "removed\n")
    }

    @Test(
        """
        a run's directory on a host is private (0700) under a name no one else can guess; a site maps users to \
        their own remote accounts
        """
    )
    func privateRemoteDirectories() async throws {
        let host = try SSHTestHost()
        let h = try Harness()
        // The connector's own `user` is an account that cannot log in: the mapping must choose.
        let site = host.site("remote").replacingOccurrences(
            of: "user: \(SSHTestHost.user)}", with: "user: nobody}\naccounts: {user:\(testUser): \(SSHTestHost.user)}")
        #expect(site.contains("accounts:"), "\(site)")
        let (run, attempts) = try await h.run(
            site + """
                kind: Topology
                name: env
                machines: [{name: m}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - task: look
                    on: m
                    shell: 'whoami; stat -c %a "$HEAVEN_WORKDIR" ../.. ../../.. ../../../..; basename "$(cd ../.. && \
                pwd)"; exit 5'
                """)
        #expect(run.status == .failed, "\(attempts.map { $0.error ?? "" })")
        let name = SSHConnector.remoteName(run.id, salt: HeavenHome(root: h.home).remoteSalt)
        #expect(name.count == run.id.count + 21 && name.hasPrefix(run.id + "-"))
        let log = try #require(attempts.first.map { h.stdout(run, $0) })
        // Run as the mapped account; the working directory, the run's, `runs` and `.heaven` all 0700.
        #expect(log == "\(SSHTestHost.user)\n700\n700\n700\n700\n\(name)\n", "\(log)")
    }

    @Test(
        """
        a user's own key, kept as their secret, opens their connection only: never left on disk, never lent to \
        another user
        """
    )
    func keyFromSecret() async throws {
        let host = try SSHTestHost()
        let h = try Harness()
        let secrets = Secrets(home: HeavenHome(root: h.home), store: h.store)
        // The user's key is the one the host authorizes; another user brings one it does not.
        try await secrets.set(
            owner: testUser, name: "own-key", value: try String(contentsOfFile: host.directory + "/id", encoding: .utf8)
        )
        let stranger = h.home + "/stranger"
        try SSHTestHost.sh("ssh-keygen -q -t ed25519 -N '' -f \(stranger)")
        try await secrets.set(
            owner: "intruder", name: "own-key", value: try String(contentsOfFile: stranger, encoding: .utf8))
        let site = host.site("remote").replacingOccurrences(
            of: "user: \(SSHTestHost.user)}", with: "user: \(SSHTestHost.user), identity: {secret: own-key}}")
        #expect(site.contains("identity: {secret: own-key}"), "\(site)")
        let yaml =
            site + """
                kind: Grant
                name: lent
                site: remote
                to: user:intruder
                ---
                kind: Topology
                name: env
                machines: [{name: m}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - task: who
                    on: m
                    run: [whoami]
                    outputs: {me: {stdout: text}}
                outputs: {me: '${who.me}'}
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(attempts.map { $0.error ?? "" })")
        #expect(run.outputs?["me"] == .string(SSHTestHost.user))
        // The key was on disk only while the connection authenticated.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: h.home + "/keys")) ?? []
        #expect(left == ["known_hosts"], "\(left)")
        // The first user's connection is still open: the intruder's run must not ride on it.
        let load = Loader.load(text: yaml, path: h.home + "/w.yaml")
        let theirs = try await h.engine.createRun(
            load: load, workflow: nil, inputs: [:], outDirectory: nil, user: "intruder", directory: h.home)
        let controller = RunController()
        let ended = Task { try await h.engine.execute(runID: theirs.id, controller: controller) }
        try await LeakChecks.wait("the intruder's attempt to end") {
            (try? await h.store.attempts(run: theirs.id))?.contains { $0.status != .running } ?? false
        }
        controller.cancel()
        let final = try await ended.value
        #expect(final.status != .succeeded)
        let tried = try await h.store.attempts(run: theirs.id)
        #expect(!tried.contains { $0.status == .succeeded }, "\(tried.map { "\($0.status) \($0.error ?? "")" })")
    }

    @Test(
        "a Slurm cluster reached through its login host: files sent, jobs run as the remote user, outputs fetched",
        Testbed.needs(SlurmTestCluster.available, "slurm-wlm and munge"))
    func slurmViaLoginHost() async throws {
        let host = try SSHTestHost()
        let cluster = try SlurmTestCluster()
        let h = try Harness()
        let data = h.home + "/data.txt"
        try "a\nb\nc\n".write(toFile: data, atomically: true, encoding: .utf8)
        // Each job gets a secret: on the login host it lives only in a 0600 file the job removes.
        let value = "login-host-secret-\(UUID().uuidString)"
        try await Secrets(home: HeavenHome(root: h.home), store: h.store).set(
            owner: testUser, name: "api-key", value: value)
        let digest = try HeavenCLIShell.sha256(value)
        // Every command line of the machine, sampled while the run goes on.
        let sampling = Task.detached { () -> Bool in
            var seen = false
            while !Task.isCancelled {
                if LeakChecks.commandLines().contains(where: { $0.contains(value) }) { seen = true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return seen
        }
        let via = "{kind: ssh, host: 127.0.0.1, port: \(host.port), user: \(SSHTestHost.user)}"
        let (run, attempts) = try await h.run(
            cluster.site("cluster", via: via) + """
                kind: Topology
                name: env
                machines: [{name: m, count: 3}]
                ---
                kind: Workflow
                name: w
                topology: env
                inputs: {data: {type: file, default: \(data)}}
                steps:
                  - foreach: ${range(3)}
                    as: i
                    steps:
                      - task: count
                        on: m
                        inputs: {data.txt: '${inputs.data}'}
                        env: {TOKEN: {secret: api-key}}
                        run: [sh, -c, 'test "$(printf %s "$TOKEN" | sha256sum | cut -c1-64)" = \(digest) || exit 9; wc \
                -l < data.txt | tr -d " " > n.txt; echo "$0 $(whoami) $SLURM_JOB_ID"', '${i}']
                        outputs: {n: {json: n.txt}, who: {stdout: text}}
                outputs: {n: '${count.n}', who: '${count.who}'}
                """)
        sampling.cancel()
        #expect(await sampling.value == false, "a command line held the secret")
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(try host.remote("grep -rl \(value) .heaven 2>/dev/null || echo none") == "none\n")
        #expect(LeakChecks.files(holding: value, under: h.home + "/runs/\(run.id)").isEmpty)
        #expect(run.outputs?["n"] == .list([3, 3, 3].map(Value.int)))
        guard case .list(let who)? = run.outputs?["who"] else {
            Issue.record("no output")
            return
        }
        for (i, w) in who.enumerated() {
            guard case .string(let text) = w else { continue }
            let words = text.split(separator: " ")
            #expect(
                words.count == 3 && words[0] == "\(i)" && words[1] == SSHTestHost.user
                    && Int(words[2].trimmingCharacters(in: .whitespacesAndNewlines)) != nil, "\(w)")
        }
        #expect(attempts.count == 3 && attempts.allSatisfy { $0.site == "cluster" })
        // The data went once to the host's cache; the run's directory is gone after success.
        #expect(try host.remote("ls .heaven/cache | wc -l").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        #expect(try host.remote("test -e \(remoteRun(h, run.id)) && echo kept || echo removed") == "removed\n")
    }

    @Test(
        "cancelling a run whose job runs on a cluster reached through its login host cancels the job in Slurm",
        Testbed.needs(SlurmTestCluster.available, "slurm-wlm and munge"))
    func slurmCancelViaLoginHost() async throws {
        let host = try SSHTestHost()
        let cluster = try SlurmTestCluster()
        let h = try Harness()
        let tag = "cancel-\(UUID().uuidString.prefix(8))"
        let via = "{kind: ssh, host: 127.0.0.1, port: \(host.port), user: \(SSHTestHost.user)}"
        let created = try await h.create(
            cluster.site("cluster", via: via) + """
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
                    shell: 'touch "$HOME/\(tag)"; exec sleep 63'
                """)
        let controller = RunController()
        let running = Task { try await h.engine.execute(runID: created.id, controller: controller) }
        try await LeakChecks.wait("the job to start") {
            try host.remote("test -e \(tag) && echo yes || true") == "yes\n"
        }
        controller.cancel()
        let run = try await running.value
        #expect(run.status == .cancelled)
        var state = ""
        try await LeakChecks.wait("Slurm to say the job was cancelled") {
            state = try cluster.command("squeue -h -r -t all -n heaven-\(created.id) -o '%T'").trimmingCharacters(
                in: .whitespacesAndNewlines)
            return state == "CANCELLED"
        }
        #expect(state == "CANCELLED")
        try await LeakChecks.wait("the job's process to end on the cluster") {
            try host.remote("pgrep -u \(SSHTestHost.user) -f '^sleep 63$' | wc -l").trimmingCharacters(
                in: .whitespacesAndNewlines) == "0"
        }
        _ = try? host.remote("rm -f \(tag)")
    }

    @Test(
        """
        a host whose link goes down mid-run: lost attempts recorded, work moved; the host is probed back and \
        counts as up again
        """
    )
    func linkDown() async throws {
        setenv("HEAVEN_SSH_TIMEOUT", "2", 1)
        defer { unsetenv("HEAVEN_SSH_TIMEOUT") }
        let alpha = try SSHTestHost(isolated: true)
        let beta = try SSHTestHost(sharing: alpha, isolated: true)
        let h = try Harness(probeInterval: 1, retryBase: 1)
        let created = try await h.create(
            alpha.site("alpha") + beta.site("beta") + """
                kind: Topology
                name: env
                machines: [{name: m, rank: 'if(site == "alpha", 1, 0)'}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - foreach: ${range(12)}
                    as: i
                    parallel: 1
                    steps:
                      - task: t
                        on: m
                        run: [sh, -c, 'sleep 0.5; echo $(($0 * 10))', '${i}']
                        outputs: {v: {stdout: json}}
                outputs: {all: '${t.v}'}
                """)
        async let final = h.engine.execute(runID: created.id)
        for _ in 0..<400 {
            if try await h.store.attempts(run: created.id).contains(where: { $0.status == .succeeded }) { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        alpha.cutLink()
        // Once the work has moved, the link comes back.
        for _ in 0..<400 {
            let events = try await h.store.events(run: created.id, after: 0, limit: 1000)
            if events.contains(where: { $0.kind == .substitution }) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        alpha.restoreLink()
        let run = try await final
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["all"] == .list((0..<12).map { Value.int($0 * 10) }))
        let attempts = try await h.store.attempts(run: created.id)
        #expect(attempts.first?.site == "alpha")
        #expect(attempts.last?.site == "beta")
        #expect(
            attempts.contains { $0.status == .lost && $0.site == "alpha" },
            "\(attempts.map { "\($0.taskKey) \($0.site ?? "") \($0.status) \($0.error ?? "")" })")
        let events = try await h.store.events(run: created.id, after: 0, limit: 1000)
        #expect(events.contains { $0.kind == .substitution && $0.message.contains("re-placed m ×1 on beta") })
        #expect(
            events.contains { $0.kind == .siteUp && $0.message.hasPrefix("site alpha answers again") },
            "\(events.map { "\($0.kind): \($0.message)" }.joined(separator: "\n"))")
        let health = try await h.store.siteHealth()
        #expect(health["alpha"]?.failures == 0 && health["alpha"]?.isDown(at: Date()) == false)
    }

    @Test(
        "one workflow spans the testbed: this machine, two hosts in their own network namespaces and a Slurm cluster",
        Testbed.needs(SlurmTestCluster.available, "slurm-wlm and munge"))
    func spansTestbed() async throws {
        let alpha = try SSHTestHost(isolated: true)
        let beta = try SSHTestHost(sharing: alpha, isolated: true)
        let cluster = try SlurmTestCluster()
        let h = try Harness()
        // This test once took 231 s instead of ~13 s in a full run, and the log did not
        // say where it waited: if it runs long again, what it waits for is printed (not
        // asserted: a slow machine is not a failure).
        let watchdog = Task.detached {
            try await Task.sleep(for: .seconds(60))
            let runs = try await h.store.runs(limit: 1)
            let id = runs.first?.id ?? ""
            let events = try await h.store.events(run: id, after: 0, limit: 1000)
            let attempts = try await h.store.attempts(run: id)
            let squeue = ["squeue -a -t all", "sinfo"].map { (try? cluster.command($0)) ?? "\($0): no answer\n" }
                .joined()
            print(
                "[spansTestbed] still running after 60 s.\nevents:\n"
                    + events.map { "  \($0.time.timeIntervalSince1970) \($0.kind) \($0.message)" }.joined(
                        separator: "\n")
                    + "\nattempts:\n"
                    + attempts.map {
                        "  \($0.taskKey) \($0.site ?? "") \($0.status) \($0.startedAt.timeIntervalSince1970)"
                    }
                    .joined(separator: "\n") + "\nslurm:\n\(squeue)")
        }
        defer { watchdog.cancel() }
        let (run, attempts) = try await h.run(
            localSite("here", cores: 2) + alpha.site("alpha") + beta.site("beta") + cluster.site("cluster") + """
                kind: Topology
                name: env
                machines:
                  - {name: home, requirements: 'site == "here"'}
                  - {name: a, requirements: 'site == "alpha"'}
                  - {name: b, requirements: 'site == "beta"'}
                  - {name: c, requirements: 'site == "cluster"'}
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - task: split
                    on: home
                    shell: 'seq 1 30 > numbers.txt'
                    outputs: {numbers: {file: numbers.txt}}
                  - parallel:
                      - task: first
                        on: a
                        inputs: {n.txt: '${split.numbers}'}
                        shell: 'head -n 10 n.txt | awk ''{s += $1} END {print s}'' > part.txt; hostname -I | tr -d " \
                \\n" > where.txt'
                        outputs: {sum: {json: part.txt}, where: {file: where.txt}}
                      - task: second
                        on: b
                        inputs: {n.txt: '${split.numbers}'}
                        shell: 'sed -n 11,20p n.txt | awk ''{s += $1} END {print s}'' > part.txt; hostname -I | tr -d \
                " \\n" > where.txt'
                        outputs: {sum: {json: part.txt}, where: {file: where.txt}}
                      - task: third
                        on: c
                        inputs: {n.txt: '${split.numbers}'}
                        shell: 'tail -n 10 n.txt | awk ''{s += $1} END {print s}'' > part.txt; echo "$SLURM_JOB_ID" > \
                job.txt'
                        outputs: {sum: {json: part.txt}, job: {json: job.txt}}
                  - task: join
                    on: home
                    run: [sh, -c, 'echo $(( $0 + $1 + $2 ))', '${first.sum}', '${second.sum}', '${third.sum}']
                    outputs: {total: {stdout: json}}
                outputs:
                  total: ${join.total}
                  parts: '${[first.sum, second.sum, third.sum]}'
                  where: '${[first.where, second.where]}'
                  job: ${third.job}
                """)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["total"] == .int(465))
        #expect(run.outputs?["parts"] == .list([55, 155, 255].map(Value.int)))
        let sites = Dictionary(attempts.map { ($0.task, $0.site ?? "") }, uniquingKeysWith: { a, _ in a })
        #expect(sites == ["split": "here", "first": "alpha", "second": "beta", "third": "cluster", "join": "here"])
        // The hosts' own addresses, read on them: the tasks ran inside their namespaces.
        if case .list(let files)? = run.outputs?["where"], files.count == 2 {
            for (file, host) in zip(files, [alpha, beta]) {
                if case .string(let path) = file {
                    #expect((try? String(contentsOfFile: path, encoding: .utf8)) == host.address)
                }
            }
        } else {
            Issue.record("no where: \(String(describing: run.outputs?["where"]))")
        }
        if case .int(let job)? = run.outputs?["job"] { #expect(job > 0) } else { Issue.record("no job id") }
    }
}

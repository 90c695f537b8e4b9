import Foundation
import Testing

@Suite("Crash safety of the real binary", .serialized, .timeLimit(.minutes(15)))
struct CrashSafetyTests {
    /// `tasks` tasks, three at a time, each leaving a trace of every start and end, then a join.
    static let tasks = 24

    static func workflow(side: String) -> String {
        """
        kind: Site
        name: here
        nodes: [{name: n, cores: 3, memory: 4GiB}]
        ---
        kind: Workflow
        name: crash
        steps:
          - foreach: ${range(\(tasks))}
            as: i
            name: each
            steps:
              - task: work
                shell: 'echo start >> \(side)/t-${i}; sleep 0.25; echo end >> \(side)/t-${i}; echo $((${i} * ${i}))'
                outputs: {v: {stdout: json}}
          - task: join
            run: [echo, '${sum(work.v)}']
            outputs: {total: {stdout: json}}
        outputs:
          total: ${join.total}
        """
    }

    @Test("killed with SIGKILL at several moments and resumed, no finished task runs twice and the outputs are right")
    func killAndResume() throws {
        let h = try HeavenBinary()
        let side = h.work + "/side"
        try FileManager.default.createDirectory(atPath: side, withIntermediateDirectories: true)
        let file = try h.write("crash.yaml", CrashSafetyTests.workflow(side: side))

        // Kills land at moments the tasks' traces define: once so many tasks have ended,
        // while others run (so some attempts are always lost).
        func ended() -> Int {
            (0..<CrashSafetyTests.tasks).reduce(0) { n, i in
                n
                    + ((try? String(contentsOfFile: "\(side)/t-\(i)", encoding: .utf8)) ?? "").split(separator: "\n")
                    .filter { $0 == "end" }.count
            }
        }
        func running() -> Bool {
            (0..<CrashSafetyTests.tasks).contains { i in
                let lines = ((try? String(contentsOfFile: "\(side)/t-\(i)", encoding: .utf8)) ?? "").split(
                    separator: "\n")
                return lines.last == "start"
            }
        }
        #expect(try h.killed(when: { ended() >= 1 && running() }, ["run", file, "--quiet"]))
        let runs = try h.run("runs", "--json")
        let list = (try JSONSerialization.jsonObject(with: Data(runs.stdout.utf8))) as? [[String: Any]] ?? []
        let id = try #require(list.first?["run"] as? String)

        func starts(_ i: Int) -> Int {
            let trace = (try? String(contentsOfFile: "\(side)/t-\(i)", encoding: .utf8)) ?? ""
            return trace.split(separator: "\n").filter { $0 == "start" }.count
        }
        // For each task recorded as finished after a kill: how many times it had started then.
        var startsWhenFinished: [String: Int] = [:]
        func recordFinished() throws {
            let status = HeavenBinary.json(try h.run("status", id, "--json").stdout)
            for a in status["attempts"] as? [[String: Any]] ?? [] where a["status"] as? String == "succeeded" {
                let key = a["task"] as? String ?? ""
                if startsWhenFinished[key] == nil, key.hasPrefix("each#"),
                    let i = Int(key.dropFirst(5).prefix { $0.isNumber })
                {
                    startsWhenFinished[key] = starts(i)
                }
            }
        }
        try recordFinished()
        var kills = 1
        for more in [1, 1, 1, 1] {
            let target = ended() + more
            if try h.killed(when: { ended() >= target && running() }, ["resume", id, "--quiet"]) {
                kills += 1
            } else {
                Issue.record("a resume ended before its kill: \(h.lastSaid.text)")
            }
            try recordFinished()
        }
        let final = try h.run("resume", id, "--json")
        let result = HeavenBinary.json(final.stdout)
        #expect(final.status == 0, "\(final.stderr)")
        #expect(result["status"] as? String == "succeeded")
        #expect(
            (result["outputs"] as? [String: Any])?["total"] as? Int
                == (0..<CrashSafetyTests.tasks).map { $0 * $0 }.reduce(0, +))
        #expect(kills == 5)

        let status = HeavenBinary.json(try h.run("status", id, "--json").stdout)
        let attempts = status["attempts"] as? [[String: Any]] ?? []
        #expect(attempts.count == CrashSafetyTests.tasks + 1)
        let latest = Dictionary(uniqueKeysWithValues: attempts.map { ($0["task"] as? String ?? "", $0) })
        for i in 0..<CrashSafetyTests.tasks {
            let key = "each#\(i)/work"
            #expect(starts(i) >= 1)
            if let then = startsWhenFinished[key] {
                #expect(starts(i) == then, "\(key) had finished before a kill, yet started again")
            }
            // Every execution is recorded, but for a start that takes over the slot of an
            // attempt just ended: it is queued, not awaited, so a kill in that instant may
            // leave it unrecorded (architecture.md, "Durability"): at most one per kill.
            #expect(starts(i) <= (latest[key]?["attempt"] as? Int ?? 0) + kills, "\(key)")
        }
        #expect(startsWhenFinished.count > 0)
        let log = try h.run("logs", id)
        #expect(log.stdout.contains("lost"), "no attempt was lost: the kills did not land while tasks ran")
    }

    @Test(
        """
        killed as a task ends, while its outputs are read, then resumed: the attempt counts as lost and runs \
        again, once
        """
    )
    func killedDuringCollection() throws {
        let h = try HeavenBinary()
        let trace = h.work + "/trace"
        // A large JSON output takes a while to read: the kill lands once the task wrote its last line.
        let file = try h.write(
            "collect.yaml",
            """
            kind: Workflow\nname: collect\nsteps:\n  - task: make\n    shell: 'echo start >> \(trace); { echo \
            \"[\"; seq 1 1400000 | sed \"s/$/,/\"; echo 0]; } > big.json; echo end >> \(trace)'\n    outputs: \
            {first: {json: big.json, at: \"0\"}}\noutputs: {first: '${make.first}'}\n
            """
        )
        func lines() -> [String] {
            ((try? String(contentsOfFile: trace, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        #expect(try h.killed(when: { lines() == ["start", "end"] }, ["run", file, "--quiet"]))
        let runs =
            (try JSONSerialization.jsonObject(with: Data(try h.run("runs", "--json").stdout.utf8))) as? [[String: Any]]
            ?? []
        let id = try #require(runs.first?["run"] as? String)
        let resumed = try h.run("resume", id, "--json")
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect((HeavenBinary.json(resumed.stdout)["outputs"] as? [String: Any])?["first"] as? Int == 1)
        // Its end was never recorded: it ran once more, and only once.
        #expect(lines() == ["start", "end", "start", "end"], "\(lines())")
        let status = HeavenBinary.json(try h.run("status", id, "--json").stdout)
        // `status` shows each task's latest attempt; the history says the first was lost.
        let attempts = (status["attempts"] as? [[String: Any]] ?? []).map {
            "\($0["attempt"] as? Int ?? 0) \($0["status"] as? String ?? "")"
        }
        #expect(attempts == ["2 succeeded"], "\(attempts)")
        #expect(try h.run("logs", id).stdout.contains("attempt 1 of `make` was lost"))
    }

    @Test("killed while it copies an output into --out, then resumed: never a partial file under the output's name")
    func killedDuringExport() throws {
        let h = try HeavenBinary()
        let file = try h.write(
            "big.yaml",
            """
            kind: Workflow\nname: big\nsteps:\n  - task: make\n    run: [dd, if=/dev/urandom, of=big.bin, bs=1M, \
            count=256, status=none]\n    outputs: {f: {file: big.bin}}\noutputs: {f: '${make.f}'}\n
            """
        )
        let out = h.work + "/out"
        let partial = out + "/.big.bin.heaven-partial"
        // Killed the moment the copy has begun (its partial file exists).
        #expect(
            try h.killed(
                when: { FileManager.default.fileExists(atPath: partial) }, ["run", file, "--out", out, "--quiet"]))
        #expect(!FileManager.default.fileExists(atPath: out + "/big.bin"), "a partial copy bears the output's name")
        let runs =
            (try JSONSerialization.jsonObject(with: Data(try h.run("runs", "--json").stdout.utf8))) as? [[String: Any]]
            ?? []
        let id = try #require(runs.first?["run"] as? String)
        let resumed = try h.run("resume", id, "--json")
        #expect(resumed.status == 0, "\(resumed.stderr)")
        // The whole file, as the task made it; the task did not run again.
        let made = try #require(FileManager.default.contents(atPath: h.home + "/runs/\(id)/work/make/big.bin"))
        #expect(FileManager.default.contents(atPath: out + "/big.bin") == made)
        #expect(!FileManager.default.fileExists(atPath: partial))
        let status = HeavenBinary.json(try h.run("status", id, "--json").stdout)
        #expect((status["attempts"] as? [[String: Any]])?.count == 1)
    }

    @Test("exit status 2 and file:line:col diagnostics for an invalid file; 1 for a failed workflow; 0 for success")
    func exitCodes() throws {
        let h = try HeavenBinary()
        let bad = try h.write("bad.yaml", "kind: Workflow\nname: w\nsteps:\n  - task: a\n    rn: [true]\n")
        let validate = try h.run("validate", bad)
        #expect(validate.status == 2)
        #expect(validate.stdout.contains("bad.yaml:5:5: error: unknown key `rn` in a task (did you mean `run`?)"))
        let runBad = try h.run("run", bad)
        #expect(runBad.status == 2)
        let failing = try h.write("fail.yaml", "kind: Workflow\nname: w\nsteps:\n  - task: a\n    run: ['false']\n")
        let failed = try h.run("run", failing, "--json")
        #expect(failed.status == 1)
        #expect(HeavenBinary.json(failed.stdout)["status"] as? String == "failed")
        let ok = try h.write(
            "ok.yaml",
            """
            kind: Workflow\nname: w\ninputs: {who: {type: string}}\nsteps:\n  - task: a\n    run: [sh, -c, 'echo \
            hello $0 > greeting.txt', '${inputs.who}']\n    outputs: {g: {file: greeting.txt}}\noutputs: \
            {greeting: '${a.g}'}\n
            """
        )
        let good = try h.run("run", ok, "--input", "who=world", "--out", h.work + "/out", "--json")
        #expect(good.status == 0)
        let outputs = HeavenBinary.json(good.stdout)["outputs"] as? [String: Any]
        #expect(outputs?["greeting"] as? String == h.work + "/out/greeting.txt")
        #expect(try String(contentsOfFile: h.work + "/out/greeting.txt", encoding: .utf8) == "hello world\n")
        let usage = try h.run("run", ok, "--input", "nonsense")
        #expect(usage.status == 2)
        let missing = try h.run("status", "nothere")
        #expect(missing.status == 2)
    }
}

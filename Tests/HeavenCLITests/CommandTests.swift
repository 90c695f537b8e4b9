import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The repository's root, to find `examples/`.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

@Suite("The heaven command", .serialized, .timeLimit(.minutes(15)))
struct CommandTests {
    @Test("the examples validate and run to the right outputs", arguments: ["fan-out", "every-form", "pattern-search"])
    func examples(_ name: String) throws {
        let h = try HeavenBinary()
        let file = repositoryRoot + "/examples/\(name).yaml"
        let validate = try h.run("validate", file)
        #expect(validate.status == 0, "\(validate.stdout)")
        let run = try h.run("run", file, "--out", h.work + "/out", "--json")
        #expect(run.status == 0, "\(run.stderr)")
        let result = HeavenBinary.json(run.stdout)
        let outputs = result["outputs"] as? [String: Any] ?? [:]
        switch name {
        case "fan-out":
            #expect(outputs["squares"] as? [Int] == [1, 4, 9, 16, 25, 36, 49, 64])
            #expect(try String(contentsOfFile: h.work + "/out/total.txt", encoding: .utf8) == "204\n")
        case "every-form":
            #expect(outputs["lengths"] as? [Int] == [5, 4, 5])
            #expect(outputs["heaven"] as? Int == 6)
            #expect(outputs["sides"] as? [String] == ["left", "right"])
            let summary = try String(contentsOfFile: h.work + "/out/summary.txt", encoding: .utf8)
            #expect(summary == "lengths 5,4,5, last tick: outer 1 inner 1\n")
        default:
            #expect(outputs["x"] as? Double == 3 || outputs["x"] as? Int == 3)
            #expect(outputs["y"] as? Double == -1 || outputs["y"] as? Int == -1)
        }
    }

    @Test("`heaven status` says where each attempt ran; a long run's hidden tasks are one flag away (`--tasks`)")
    func statusShowsWhereAndEveryTask() throws {
        let h = try HeavenBinary()
        let file = try h.write(
            "many.yaml",
            """
            kind: Workflow\nname: many\nsteps:\n  - foreach: ${range(45)}\n    as: i\n    steps:\n      - task: \
            t\n        run: [/bin/true]\n  - task: last\n    run: [/bin/true]\n
            """
        )
        let run = try h.run("run", file, "--json")
        #expect(run.status == 0, "\(run.stderr)")
        let id = try #require(HeavenBinary.json(run.stdout)["run"] as? String)
        // 46 tasks: the plain view hides the succeeded ones and says how to see them.
        let brief = try h.run("status", id)
        // A run of a few milliseconds says so (not `0.0s`).
        #expect(
            brief.stdout.range(
                of: #"^run \S+ \(workflow many, by \S+\): succeeded after [0-9]+ ms\n"#, options: .regularExpression)
                != nil, "\(brief.stdout)")
        #expect(
            brief.stdout.contains("(46 more tasks not shown: `heaven status \(id) --tasks` lists every one)"),
            "\(brief.stdout)")
        let every = try h.run("status", id, "--tasks")
        let rows = every.stdout.split(separator: "\n").filter { $0.hasPrefix("  ") && $0.contains("succeeded  #1") }
        #expect(rows.count == 46, "\(every.stdout)")
        // Each row says where it ran: the embedded site, its node and instance.
        #expect(rows.allSatisfy { $0.hasSuffix("on local (local/0)") }, "\(rows.prefix(3))")
        let json = HeavenBinary.json(try h.run("status", id, "--json").stdout)
        let attempts = json["attempts"] as? [[String: Any]] ?? []
        #expect(
            attempts.count == 46
                && attempts.allSatisfy { $0["site"] as? String == "local" && $0["node"] as? String == "local/local/0" })
    }

    @Test("`heaven status` lists a task's instances in their natural order, whatever order they started in")
    func statusNaturalOrder() throws {
        let h = try HeavenBinary()
        // Each item's `square` starts after its `wait`, which is shorter for later items:
        // the squares start last item first.
        let file = try h.write(
            "fan.yaml",
            """
            kind: Workflow
            name: fan
            steps:
              - foreach: ${range(12)}
                as: part
                parallel: 12
                steps:
                  - task: wait
                    run: [sleep, '${(12 - part) * 0.05}']
                  - task: square
                    run: [/bin/true]

            """)
        let run = try h.run("run", file, "--json")
        #expect(run.status == 0, "\(run.stderr)")
        let id = try #require(HeavenBinary.json(run.stdout)["run"] as? String)
        let rows = try h.run("status", id, "--tasks").stdout.split(separator: "\n").filter { $0.hasPrefix("  part#") }
            .map { String($0.split(separator: " ")[0]) }
        #expect(
            rows == (0..<12).map { "part#\($0)/wait" } + (0..<12).map { "part#\($0)/square" }, "\(rows)")
    }

    @Test(
        """
        `heaven validate` says what each file holds, one line a file; a workflow that only calls others counts \
        their tasks; problems are counted in English
        """
    )
    func validateEachFile() throws {
        let h = try HeavenBinary()
        let lib = try h.write(
            "lib.yaml",
            "kind: Workflow\nname: lib\nsteps:\n  - task: a\n    run: [/bin/true]\n  - task: b\n    run: [/bin/true]\n")
        let main = try h.write("main.yaml", "kind: Workflow\nname: main\nsteps:\n  - call: lib.yaml\n    name: part\n")
        let site = try h.write(
            "site.yaml", "kind: Site\nname: here\nconnector: local\nnodes:\n  - {name: n, cores: 2, memory: 1GiB}\n")
        let ok = try h.run("validate", main, site)
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        let lines = ok.stdout.split(separator: "\n").map(String.init)
        #expect(
            lines.contains("\(main): ok (workflow main: 0 tasks, and 2 tasks in the workflow it calls (lib))")
                && lines.contains("\(site): ok (site here: 2 cores)")
                && lines.contains { $0.hasPrefix(lib) && $0.hasSuffix(": ok (workflow lib: 2 tasks)") }
                && lines.count == 3,
            "\(ok.stdout)")
        let bad = try h.write("bad.yaml", "kind: Workflow\nname: bad\nsteps:\n  - task: x\n    run: 3\n  - task: x\n")
        let refused = try h.run("validate", bad)
        #expect(refused.status == 2)
        #expect(
            refused.stderr.range(of: #"^[0-9]+ problems? found: nothing was run\n$"#, options: .regularExpression)
                != nil,
            "\(refused.stderr)")
    }

    @Test("`--out` makes its directories, the missing ones above it too, and its files with the user's umask: one rule")
    func outputPermissions() throws {
        let h = try HeavenBinary()
        let mask = umask(0)
        umask(mask)
        let out = h.work + "/deep/er/results"
        let run = try h.run(
            "run", repositoryRoot + "/examples/fan-out.yaml", "--input", "count=3", "--out", out, "--json")
        #expect(run.status == 0, "\(run.stderr)")
        func mode(_ path: String) -> mode_t {
            var st = stat()
            return stat(path, &st) == 0 ? st.st_mode & 0o777 : 0
        }
        for dir in [h.work + "/deep", h.work + "/deep/er", out] {
            #expect(mode(dir) == 0o777 & ~mask, "\(dir): \(String(mode(dir), radix: 8))")
        }
        #expect(mode(out + "/total.txt") == 0o666 & ~mask, "\(String(mode(out + "/total.txt"), radix: 8))")
    }

    @Test("messages read as English: `an integer`, `1 core`, the directories removed on this machine")
    func wording() throws {
        let h = try HeavenBinary()
        let file = try h.write(
            "typed.yaml",
            """
            kind: Workflow\nname: typed\ninputs: {n: {type: integer}}\nsteps:\n  - task: t\n    run: [echo, \
            '${inputs.n}']\n
            """
        )
        let wrong = try h.run("run", file, "--input", "n=abc")
        #expect(wrong.status == 2 && wrong.stderr.contains("must be an integer, not"), "\(wrong.stderr)")
        let site = try h.write(
            "site.yaml", "kind: Site\nname: tiny\nconnector: local\nnodes: [{name: n, cores: 1}]\n")
        let validated = try h.run("validate", site)
        #expect(
            validated.stdout.contains("site tiny: 1 core") && !validated.stdout.contains("1 cores"),
            "\(validated.stdout)")
        let ok = try h.run("run", file, "--input", "n=3", "--json")
        let id = try #require(HeavenBinary.json(ok.stdout)["run"] as? String)
        let clean = try h.run("clean", id)
        #expect(clean.stdout == "run \(id): removed its directories on this machine\n", "\(clean.stdout)")
    }

    @Test(
        """
        `heaven accounts credit` here credits through the same use case as the server: a user's account, a \
        missing one refused
        """
    )
    func localCredit() throws {
        let h = try HeavenBinary()
        #expect(try h.run("users", "add", "alice").status == 0)
        let credited = try h.run("accounts", "credit", "alice", "5", "--memo", "first")
        #expect(
            credited.status == 0 && credited.stdout.hasPrefix("user:alice: 5"), "\(credited.stdout) \(credited.stderr)")
        let again = try h.run("accounts", "credit", "user:alice", "2.5")
        #expect(again.stdout.hasPrefix("user:alice: 7.5"), "\(again.stdout) \(again.stderr)")
        let nobody = try h.run("accounts", "credit", "nobody", "1")
        #expect(
            nobody.status != 0 && nobody.stderr.contains("no user nobody (add one with `heaven users add NAME`)"),
            "\(nobody.stderr)")
        let odd = try h.run("accounts", "credit", "alice", "1", "--currency", "euros")
        #expect(odd.status != 0 && odd.stderr.contains("ISO 4217"), "\(odd.stderr)")
    }

    @Test("`heaven clean` removes a run's working directories beneath the run, never through a link its tasks left")
    func cleanNeverFollowsLinks() throws {
        let h = try HeavenBinary()
        let victim = h.work + "/victim"
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try "keep".write(toFile: victim + "/file", atomically: false, encoding: .utf8)
        let file = try h.write(
            "links.yaml",
            """
            kind: Workflow\nname: links\nsteps:\n  - task: t\n    shell: 'ln -s \(victim) dir && ln -s \
            \(victim)/file f && mkdir d && ln -s \(victim) d/in'\n
            """
        )
        let ok = try h.run("run", file, "--json")
        let id = try #require(HeavenBinary.json(ok.stdout)["run"] as? String, "\(ok.stderr)")
        let work = h.home + "/runs/\(id)/work"
        #expect(FileManager.default.fileExists(atPath: work), "\(work)")
        let clean = try h.run("clean", id)
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(!FileManager.default.fileExists(atPath: work))
        #expect((try? String(contentsOfFile: victim + "/file", encoding: .utf8)) == "keep")
    }

    /// A run of two tasks whose second waits for `marker`, interrupted by Ctrl-C the
    /// instant that task runs. (A signal caught by a dispatch source was lost once so,
    /// under CI load: one reaching a thread that did not block it was discarded.
    /// `SignalTrap` now catches it with a handler in every thread.) Returns the run,
    /// the exit status of `heaven run`, the run's listed status, and the marker.
    func interruptedRun(_ h: HeavenBinary) throws -> (run: String, exit: Int32, status: String?, marker: String) {
        let marker = h.work + "/go"
        let file = try h.write(
            "two.yaml",
            """
            kind: Workflow\nname: two\nsteps:\n  - task: first\n    shell: 'echo one > one.txt'\n    outputs: {f: \
            {file: one.txt}}\n  - task: second\n    shell: 'touch \(h.work)/second-started; test -f \(marker) || \
            sleep 60'\noutputs: {one: '${first.f}'}\n
            """
        )
        let (p, _, _) = h.process(["run", file, "--quiet"])
        try p.run()
        try h.wait("the second task to start") { FileManager.default.fileExists(atPath: h.work + "/second-started") }
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let list =
            (try JSONSerialization.jsonObject(with: Data(try h.run("runs", "--json").stdout.utf8))) as? [[String: Any]]
        let run = try #require(list?.first?["run"] as? String)
        return (run, p.terminationStatus, list?.first?["status"] as? String, marker)
    }

    @Test(
        """
        help texts wrap where the screen ends, never mid-sentence: no line of prose could have taken the next \
        one's first word
        """,
        arguments: [
            [], ["run"], ["resume"], ["status"], ["runs"], ["logs"], ["cancel"], ["validate"], ["plan"], ["sites"],
            ["sites", "down"], ["clean"], ["serve"], ["users"], ["secrets"], ["login"], ["bench"],
        ])
    func helpWraps(_ command: [String]) throws {
        let h = try HeavenBinary()
        let (p, out, _) = h.process(command + ["--help"])
        var env = p.environment ?? [:]
        env["COLUMNS"] = "80"
        p.environment = env
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let lines = text.components(separatedBy: "\n")
        #expect(lines.count > 3, "\(command): \(text)")
        for (line, next) in zip(lines, lines.dropFirst()) {
            // Prose starts at the margin; examples and options are indented.
            guard let first = line.first, first != " ", let nextFirst = next.first, nextFirst != " ",
                !line.hasSuffix("."), !line.hasSuffix(":"), !line.hasPrefix("USAGE")
            else { continue }
            let word = next.split(separator: " ").first ?? ""
            #expect(line.count + 1 + word.count >= 80, "\(command): `\(line)` is cut before `\(word)`")
        }
    }

    @Test("a resumed run's summary counts the time of its execution, not the pause before it")
    func resumedTimeExcludesPause() throws {
        let h = try HeavenBinary()
        let (run, _, _, marker) = try interruptedRun(h)
        // The pause: what is measured is that it is left out, so it must really pass.
        Thread.sleep(forTimeInterval: 1.5)
        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        let resumed = try h.run("resume", run)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(
            resumed.stdout.range(of: #"^run \S+ succeeded in [0-9]+ ms\n"#, options: .regularExpression) != nil,
            "\(resumed.stdout)")
    }

    @Test(
        """
        after a fix, `heaven resume RUN --with FILE` and `heaven run FILE --resume RUN` run only what changed; \
        status says what was reused
        """
    )
    func resumeWithFixedFiles() throws {
        let h = try HeavenBinary()
        let ran = h.work + "/ran"
        func workflow(fixed: Bool) -> String {
            """
            kind: Workflow
            name: w
            steps:
              - foreach: ${range(3)}
                as: i
                steps:
                  - task: square
                    shell: 'echo square >> \(ran); echo $(( ${i} * ${i} )) > sq.txt'
                    outputs: {file: {file: sq.txt}}
              - task: total
                run: [sh, -c, 'echo total >> \(ran); cat "$@" | awk "{s += \\$1} END {print s}\
            "\(fixed ? "" : "; exit 3")', total, '${square.file}']
                outputs: {t: {stdout: json}}
            outputs:
              t: ${total.t}
              squares: ${square.file}
            """
        }
        let file = try h.write("w.yaml", workflow(fixed: false))
        let failed = try h.run("run", "--out", h.work + "/results", file)
        #expect(failed.status == 1)
        #expect(failed.stdout.contains("--with FILE..."), "\(failed.stdout)")
        let first = try #require(failed.stdout.split(separator: " ").dropFirst().first.map(String.init))
        try? FileManager.default.removeItem(atPath: ran)
        _ = try h.write("w.yaml", workflow(fixed: true))
        // `resume --with`: a new run; the results' files go to the first run's --out.
        let fixed = try h.run("resume", String(first.prefix(8)), "--with", file, "--json")
        #expect(fixed.status == 0, "\(fixed.stdout)\(fixed.stderr)")
        #expect((try? String(contentsOfFile: ran, encoding: .utf8)) == "total\n")
        let result = HeavenBinary.json(fixed.stdout)
        let second = try #require(result["run"] as? String)
        #expect((result["outputs"] as? [String: Any])?["t"] as? Int == 5)
        #expect(FileManager.default.fileExists(atPath: h.work + "/results/squares/2-sq.txt"))
        let status = try h.run("status", second)
        #expect(
            status.stdout.contains("tasks: 4 succeeded, 3 of them reused from \(first) (1 attempt)"), "\(status.stdout)"
        )
        #expect(status.stdout.contains("i#0/square  succeeded  #1  reused from \(first)"), "\(status.stdout)")
        let json = HeavenBinary.json(try h.run("status", second, "--json").stdout)
        let reused = (json["attempts"] as? [[String: Any]] ?? []).filter { $0["reused_from"] as? String == first }
        #expect(reused.count == 3)
        // `run --resume`: the same from the other side; nothing runs at all.
        try? FileManager.default.removeItem(atPath: ran)
        let again = try h.run("run", file, "--resume", second)
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        #expect(again.stderr.contains("reusing what run \(second) finished unchanged"), "\(again.stderr)")
        #expect(!FileManager.default.fileExists(atPath: ran))
    }

    @Test("`heaven resume --out DIR` delivers there; a cancelled run says why it does not resume and how to rerun it")
    func resumeOutAndCancelled() throws {
        let h = try HeavenBinary()
        // Interrupted (Ctrl-C), then resumed with --out: the outputs land there.
        let (run, _, _, marker) = try interruptedRun(h)
        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        let resumed = try h.run("resume", run, "--out", h.work + "/delivered")
        #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
        #expect((try? String(contentsOfFile: h.work + "/delivered/one.txt", encoding: .utf8)) == "one\n")

        // Cancelled: no resume, and the command that reruns it, reusing what it finished.
        let started = h.work + "/started"
        let file = try h.write(
            "slow.yaml",
            """
            kind: Workflow\nname: slow\nsteps:\n  - task: first\n    run: [echo, one]\n  - task: wait\n    shell: \
            'touch \(started); sleep 60'\n
            """
        )
        let (p, _, _) = h.process(["run", "-q", file])
        try p.run()
        try h.wait("the task to start") { FileManager.default.fileExists(atPath: started) }
        let list =
            (try JSONSerialization.jsonObject(with: Data(try h.run("runs", "--json").stdout.utf8))) as? [[String: Any]]
        let cancelled = try #require(list?.first?["run"] as? String)
        #expect(try h.run("cancel", cancelled).status == 0)
        p.waitUntilExit()
        let refused = try h.run("resume", cancelled)
        #expect(refused.status == 2)
        #expect(
            refused.stderr.contains(
                """
                run \(cancelled) was cancelled, and a cancelled run does not resume. To run it again, reusing the \
                1 task it finished: heaven run \(file) --resume \(cancelled)
                """
            ), "\(refused.stderr)")
    }

    @Test("an input outside its declared bounds or values is refused before anything runs, saying which")
    func inputConstraints() throws {
        let h = try HeavenBinary()
        let file = try h.write(
            "m.yaml",
            """
            kind: Workflow
            name: m
            title: Squares
            version: '1'
            keywords: [demo]
            inputs:
              n: {type: integer, default: 3, minimum: 1, maximum: 10, title: N}
              mode: {type: string, default: fast, enum: [fast, exact]}
            steps:
              - task: sq
                run: [echo, '${inputs.n * inputs.n}']
                outputs: {v: {stdout: json}}
            outputs:
              square: {value: '${sq.v}', title: Square, description: the input squared}
            """)
        let ok = try h.run("run", "-q", "--json", file, "--input", "n=10")
        #expect(ok.status == 0 && (HeavenBinary.json(ok.stdout)["outputs"] as? [String: Any])?["square"] as? Int == 100)
        let low = try h.run("run", "-q", file, "--input", "n=0")
        #expect(low.status == 2 && low.stderr.contains("input `n` must be at least 1, not 0"), "\(low)")
        let other = try h.run("run", "-q", file, "--input", "mode=slow")
        #expect(
            other.status == 2 && other.stderr.contains(#"input `mode` must be one of "fast", "exact", not "slow""#),
            "\(other)")
        let runs = (try JSONSerialization.jsonObject(with: Data(try h.run("runs", "--json").stdout.utf8))) as? [Any]
        #expect(runs?.count == 1, "a refused run was recorded: \(String(describing: runs))")
    }

    @Test("a failed run's summary shows the last lines the failed task wrote")
    func failedTaskOutputInSummary() throws {
        let h = try HeavenBinary()
        let file = try h.write(
            "bad.yaml",
            """
            kind: Workflow\nname: bad\nsteps:\n  - task: t\n    shell: 'echo early; echo line one >&2; echo line \
            two >&2; exit 3'\n
            """
        )
        let run = try h.run("run", file)
        #expect(run.status == 1)
        #expect(
            run.stdout.contains(
                """
                  error: task `t` failed: exited with status 3\n  last lines of `t` (attempt 1):\n    early\n    \
                line one\n    line two\n  continue with: heaven resume 
                """
            ), "\(run.stdout)")
    }

    @Test("progress counts a failed attempt that was retried as retried, not failed")
    func progressSaysRetried() throws {
        let h = try HeavenBinary()
        let marker = h.work + "/failed-once"
        let file = try h.write(
            "flaky.yaml",
            """
            kind: Workflow\nname: flaky\nsteps:\n  - task: flaky\n    retries: {count: 1, backoff: 0s}\n    \
            shell: 'test -f \(marker) || { touch \(marker); exit 1; }'\n  - task: slow\n    run: [sleep, '2.5']\n
            """
        )
        // Not a terminal: a progress line every second, on standard error.
        let run = try h.run("run", file)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains(" · 1 retried · "), "\(run.stderr)")
        #expect(!run.stderr.contains("failed ·"), "\(run.stderr)")
    }

    @Test("`heaven cancel` from another process stops a running run; it ends cancelled")
    func cancel() throws {
        let h = try HeavenBinary()
        let file = try h.write(
            "long.yaml", "kind: Workflow\nname: long\nsteps:\n  - task: wait\n    run: [sleep, '60']\n")
        let (p, out, _) = h.process(["run", file, "--json", "--quiet"])
        try p.run()
        var id: String?
        for _ in 0..<100 where id == nil {
            Thread.sleep(forTimeInterval: 0.05)
            let list =
                (try? JSONSerialization.jsonObject(with: Data(try h.run("runs", "--json").stdout.utf8)))
                as? [[String: Any]]
            if let r = list?.first, r["status"] as? String == "running" { id = r["run"] as? String }
        }
        let run = try #require(id)
        // Cancel once its task runs.
        try h.wait("the task to start") {
            let status = HeavenBinary.json(try h.run("status", run, "--json").stdout)
            return (status["attempts"] as? [[String: Any]])?.first?["status"] as? String == "running"
        }
        let cancel = try h.run("cancel", run)
        #expect(cancel.status == 0)
        p.waitUntilExit()
        #expect(p.terminationStatus == 1)
        let printed = HeavenBinary.json(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
        #expect(printed["status"] as? String == "cancelled")
        let status = HeavenBinary.json(try h.run("status", run, "--json").stdout)
        #expect(status["status"] as? String == "cancelled")
        #expect((status["attempts"] as? [[String: Any]])?.first?["status"] as? String == "cancelled")
    }

    @Test("Ctrl-C interrupts a run, which `heaven resume` then finishes")
    func interruptAndResume() throws {
        let h = try HeavenBinary()
        let (run, exit, listed, marker) = try interruptedRun(h)
        #expect(exit == 1)
        #expect(listed == "interrupted")
        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        let resumed = try h.run("resume", run, "--json")
        #expect(resumed.status == 0)
        #expect(HeavenBinary.json(resumed.stdout)["status"] as? String == "succeeded")
        let status = HeavenBinary.json(try h.run("status", run, "--json").stdout)
        let attempts = status["attempts"] as? [[String: Any]] ?? []
        #expect(attempts.first { $0["task"] as? String == "first" }?["attempt"] as? Int == 1)
        #expect(attempts.first { $0["task"] as? String == "second" }?["attempt"] as? Int == 2)
    }

    @Test(
        "usage errors exit with status 2 and say what is wrong",
        arguments: [
            ["run"], ["frobnicate"], ["run", "x.yaml", "--bogus"], ["status"], ["logs", "r1", "t", "extra"],
        ])
    func usage(_ args: [String]) throws {
        let h = try HeavenBinary()
        let r = try h.run(args)
        #expect(r.status == 2)
        #expect(r.stderr.contains("Error") || r.stderr.contains("error"))
    }

    @Test("--help of every command shows an example")
    func help() throws {
        let h = try HeavenBinary()
        for command in ["validate", "run", "resume", "status", "runs", "logs", "cancel"] {
            let r = try h.run(command, "--help")
            #expect(r.status == 0)
            // An example: a shell transcript line running the command, not the usage line.
            let example = r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.contains {
                $0 == "$ heaven \(command)" || $0.hasPrefix("$ heaven \(command) ")
            }
            #expect(example, "\(command):\n\(r.stdout)")
        }
    }

    @Test("logs show a task's output and the run's history")
    func logs() throws {
        let h = try HeavenBinary()
        let file = try h.write(
            "l.yaml",
            "kind: Workflow\nname: l\nsteps:\n  - task: hello\n    shell: 'echo out-text; echo err-text >&2'\n")
        let run = HeavenBinary.json(try h.run("run", file, "--json").stdout)["run"] as? String ?? ""
        let task = try h.run("logs", run, "hello")
        #expect(task.stdout.contains("out-text") && task.stdout.contains("err-text"))
        let history = try h.run("logs", run)
        #expect(history.stdout.contains("started") && history.stdout.contains("succeeded"))
        #expect(try h.run("logs", run, "nope").status == 2)
    }
}

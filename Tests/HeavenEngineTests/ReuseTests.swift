import Foundation
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenStore
import Testing

/// A rerun after an edit (`heaven run FILE --resume RUN`) reuses what did not change.
@Suite("Reuse of an earlier run's results", .timeLimit(.minutes(15)))
struct ReuseTests {
    /// A run of `yaml` reusing `earlier`'s results.
    func rerun(_ h: Harness, _ yaml: String, reusing earlier: String, inputs: [String: Value] = [:]) async throws -> (
        RunRecord, [AttemptRecord]
    ) {
        let load = Loader.load(text: yaml, path: h.home + "/workflow.yaml")
        let created = try await h.engine.createRun(
            load: load, workflow: nil, inputs: inputs, outDirectory: nil, user: testUser, directory: h.home,
            reusing: earlier)
        let run = try await h.engine.execute(runID: created.id)
        return (run, try await h.store.attempts(run: run.id))
    }

    /// A workflow whose tasks note each execution in `ran`; `total` fails until fixed.
    func workflow(ran: String, data: String, fixed: Bool, env: String = "a", foreachName: String = "") -> String {
        Harness.site(cores: 2) + """
            kind: Workflow
            name: w
            inputs:
              data: {type: file}
            steps:
              - task: count
                inputs: {data.txt: '${inputs.data}'}
                shell: 'echo count >> \(ran); wc -l < data.txt > n.txt'
                outputs: {n: {json: n.txt}}
              - \(foreachName.isEmpty ? "" : "name: \(foreachName)\n    ")foreach: ${range(3)}
                as: i
                steps:
                  - task: square
                    env: {MODE: \(env)}
                    shell: 'echo square >> \(ran); echo $(( ${i} * ${i} )) > sq.txt'
                    outputs: {file: {file: sq.txt}}
              - task: total
                run: [sh, -c, 'echo total >> \(ran); cat "$@" | awk "{s += \\$1} END {print s}\
            "\(fixed ? "" : "; exit 3")', total, '${square.file}']
                outputs: {t: {stdout: json}}
            outputs:
              t: ${total.t}
              n: ${count.n}
            """
    }

    func ran(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test("after a fix, only what changed runs: unchanged tasks are reused, their files brought into the new run")
    func reusesUnchanged() async throws {
        let h = try Harness()
        let ran = h.home + "/ran"
        let data = h.home + "/data.txt"
        try "1\n2\n3\n".write(toFile: data, atomically: true, encoding: .utf8)
        let (first, _) = try await h.run(
            workflow(ran: ran, data: data, fixed: false), inputs: ["data": .file(data)])
        #expect(first.status == .failed)
        #expect(self.ran(ran).sorted() == ["count", "square", "square", "square", "total"])
        try FileManager.default.removeItem(atPath: ran)

        // The fix: only `total` runs again. The inputs are the first run's.
        let (second, attempts) = try await rerun(h, workflow(ran: ran, data: data, fixed: true), reusing: first.id)
        #expect(second.status == .succeeded, "\(second.error ?? "")")
        #expect(second.outputs?["t"] == .int(5))
        #expect(second.outputs?["n"] == .int(3))
        #expect(self.ran(ran) == ["total"])
        #expect(second.reuses == first.id)
        let reused = attempts.filter { $0.reusedFrom == first.id }.map(\.taskKey).sorted()
        #expect(reused == ["count", "i#0/square", "i#1/square", "i#2/square"])
        // The reused files are the new run's own: cleaning the first run loses nothing.
        for a in attempts where a.reusedFrom != nil {
            #expect(a.workDirectory?.contains("/runs/\(second.id)/") == true)
        }
        try FileManager.default.removeItem(atPath: h.home + "/runs/\(first.id)")
        for a in attempts where a.task == "square" {
            if case .file(let p)? = a.outputs?["file"] { #expect(FileManager.default.fileExists(atPath: p), "\(p)") }
        }

        // A third run reusing the second reuses everything, and points at where each ran.
        try FileManager.default.removeItem(atPath: ran)
        let (third, thirdAttempts) = try await rerun(h, workflow(ran: ran, data: data, fixed: true), reusing: second.id)
        #expect(third.status == .succeeded)
        #expect(self.ran(ran).isEmpty)
        #expect(thirdAttempts.filter { $0.task == "square" }.allSatisfy { $0.reusedFrom == first.id })
        #expect(thirdAttempts.first { $0.task == "total" }?.reusedFrom == second.id)
    }

    @Test("a changed input file, environment or outputs runs the task again, and what depends on a changed result")
    func rerunsChanged() async throws {
        let h = try Harness()
        let ran = h.home + "/ran"
        let data = h.home + "/data.txt"
        try "1\n2\n3\n".write(toFile: data, atomically: true, encoding: .utf8)
        let (first, _) = try await h.run(workflow(ran: ran, data: data, fixed: true), inputs: ["data": .file(data)])
        #expect(first.status == .succeeded)

        // The data file's content changes (same path): `count` runs again; squares do not.
        try "1\n2\n3\n4\n".write(toFile: data, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: ran)
        let (second, _) = try await rerun(h, workflow(ran: ran, data: data, fixed: true), reusing: first.id)
        #expect(second.outputs?["n"] == .int(4))
        #expect(self.ran(ran) == ["count"])

        // The squares' environment changes: they run again; their files are the same,
        // so `total` (which reads them) is reused.
        try FileManager.default.removeItem(atPath: ran)
        let (third, _) = try await rerun(
            h, workflow(ran: ran, data: data, fixed: true, env: "b"), reusing: second.id)
        #expect(third.status == .succeeded)
        #expect(self.ran(ran).sorted() == ["square", "square", "square"])

        // A name given to the foreach changes the keys, not the work: everything is reused.
        try FileManager.default.removeItem(atPath: ran)
        let (fourth, attempts) = try await rerun(
            h, workflow(ran: ran, data: data, fixed: true, env: "b", foreachName: "each"), reusing: third.id)
        #expect(fourth.status == .succeeded)
        #expect(self.ran(ran).isEmpty)
        #expect(attempts.contains { $0.taskKey == "each#2/square" && $0.reusedFrom != nil })
    }

    @Test("an unknown run, or another user's, cannot be reused; it says so")
    func refusesLiveOrForeign() async throws {
        let h = try Harness()
        let load = Loader.load(
            text: Harness.site(cores: 1) + "kind: Workflow\nname: w\nsteps:\n  - task: t\n    run: [true]\n",
            path: h.home + "/w.yaml")
        await #expect(throws: EngineError.self) {
            _ = try await h.engine.createRun(
                load: load, workflow: nil, inputs: [:], outDirectory: nil, user: testUser, directory: h.home,
                reusing: "rnosuchrun")
        }
        let (run, _) = try await h.run(
            Harness.site(cores: 1) + "kind: Workflow\nname: w\nsteps:\n  - task: t\n    run: [true]\n")
        await #expect(throws: EngineError.self) {
            _ = try await h.engine.createRun(
                load: load, workflow: nil, inputs: [:], outDirectory: nil, user: "someone-else", directory: h.home,
                reusing: run.id)
        }
    }
}

extension SSHTests {
    @Test("a task that ran on this machine runs again when it moves to an SSH host, and is reused there after")
    func reuseFollowsSiteKind() async throws {
        let host = try SSHTestHost()
        let h = try Harness()
        let here =
            Harness.site(cores: 1)
            + "kind: Workflow\nname: w\nsteps:\n  - task: t\n    run: [echo, hello]\n    outputs: {v: {stdout: text}}\n"
        let there =
            host.site("remote") + """
                kind: Topology
                name: env
                machines: [{name: m, requirements: 'site == "remote"'}]
                ---
                kind: Workflow
                name: w
                topology: env
                steps:
                  - task: t
                    on: m
                    run: [echo, hello]
                    outputs: {v: {stdout: text}}
                """
        let (first, _) = try await h.run(here)
        #expect(first.status == .succeeded)
        func rerun(_ yaml: String, _ earlier: String) async throws -> [AttemptRecord] {
            let created = try await h.engine.createRun(
                load: Loader.load(text: yaml, path: h.home + "/w.yaml"), workflow: nil, inputs: [:],
                outDirectory: nil, user: testUser, directory: h.home, reusing: earlier)
            let run = try await h.engine.execute(runID: created.id)
            #expect(run.status == .succeeded, "\(run.error ?? "")")
            #expect(run.outputs?.isEmpty == true)
            return try await h.store.attempts(run: run.id)
        }
        let moved = try await rerun(there, first.id)
        #expect(moved.count == 1 && moved[0].reusedFrom == nil && moved[0].site == "remote", "\(moved)")
        let again = try await rerun(there, moved[0].runID)
        #expect(again.count == 1 && again[0].reusedFrom == moved[0].runID, "\(again)")
    }
}

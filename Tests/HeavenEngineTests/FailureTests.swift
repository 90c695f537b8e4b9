import Foundation
import HeavenCore
import HeavenEngine
import HeavenModel
import HeavenStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Retries, timeouts, cancellation, capacity and resume", .timeLimit(.minutes(15)))
struct FailureTests {
    @Test("a failing task is retried with backoff until it succeeds; every attempt is recorded")
    func retriesSucceed() async throws {
        let h = try Harness()
        let yaml = """
            kind: Workflow
            name: w
            steps:
              - task: flaky
                shell: 'test "$HEAVEN_ATTEMPT" -ge 3'
                retries: {count: 4, backoff: 100ms}
            """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded)
        #expect(attempts.map(\.status) == [.failed, .failed, .succeeded])
        #expect(attempts.map(\.number) == [1, 2, 3])
        // Each retry comes after the attempt before it ended, after the wait the engine
        // announced: 100 ms, then twice that. (A lower bound only: a wait may take
        // longer on a loaded machine, never less.)
        for (i, (before, after)) in zip(attempts, attempts.dropFirst()).enumerated() {
            let waited = before.finishedAt.map { after.startedAt.timeIntervalSince($0) } ?? -1
            #expect(waited >= 0.1 * Double(1 << i) - 0.002, "retry \(i + 1) waited \(waited) s")
        }
        let retries = try await h.store.events(run: run.id, after: 0, limit: 100).filter { $0.kind == .retry }.map(
            \.message)
        #expect(
            retries == [
                "attempt 1 failed (exited with status 1); retry 1 of 4 in 0.1s",
                "attempt 2 failed (exited with status 1); retry 2 of 4 in 0.2s",
            ], "\(retries)")
    }

    @Test("when retries run out the run fails, naming the task and why")
    func retriesExhausted() async throws {
        let h = try Harness()
        let yaml =
            """
            kind: Workflow\nname: w\nsteps:\n  - task: bad\n    shell: 'echo broken >&2; exit 3'\n    retries: \
            {count: 1, backoff: 10ms}\n
            """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .failed)
        #expect(attempts.count == 2)
        #expect(run.error == "task `bad` failed: exited with status 3")
        #expect(attempts[1].error == "exited with status 3: broken")
        #expect(attempts[1].exitCode == 3)
    }

    @Test("a task over its timeout is stopped and recorded as timed out")
    func timeout() async throws {
        let h = try Harness()
        let (run, attempts) = try await h.run(
            "kind: Workflow\nname: w\nsteps:\n  - task: slow\n    run: [sleep, '30']\n    timeout: 300ms\n")
        #expect(run.status == .failed)
        // Stopped by the engine's SIGTERM (not ended by itself), its whole group gone.
        #expect(attempts.map(\.status) == [.timedOut])
        #expect(attempts[0].signal == SIGTERM)
        #expect(attempts[0].error == "timed out after 300ms", "\(attempts[0].error ?? "")")
        #expect(livingMembers(ofGroup: attempts[0].pid ?? 0).isEmpty)
    }

    @Test("a task that ignores SIGTERM is killed after the grace period")
    func timeoutKill() async throws {
        let h = try Harness(killGrace: 0.3)
        let (run, attempts) = try await h.run(
            """
            kind: Workflow\nname: w\nsteps:\n  - task: stubborn\n    shell: \"trap '' TERM; sleep 30 & wait; \
            sleep 30\"\n    timeout: 200ms\n
            """
        )
        #expect(run.status == .failed)
        #expect(attempts[0].status == .timedOut)
        #expect(attempts[0].signal == SIGKILL)
    }

    @Test("cancelling a run kills its tasks' process groups and records them as cancelled")
    func cancel() async throws {
        let h = try Harness()
        let controller = RunController()
        let created = try await h.create(
            Harness.site(cores: 4)
                + """
                kind: Workflow\nname: w\nsteps:\n  - parallel:\n    - task: a\n      shell: 'sleep 30 & sleep \
                30'\n    - task: b\n      run: [sleep, '30']\n
                """
        )
        async let final = h.engine.execute(runID: created.id, controller: controller)
        var running: [AttemptRecord] = []
        for _ in 0..<100 {
            running = try await h.store.attempts(run: created.id).filter { $0.pid != nil }
            if running.count == 2 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(running.count == 2)
        controller.cancel()
        let run = try await final
        #expect(run.status == .cancelled)
        let attempts = try await h.store.attempts(run: created.id)
        #expect(attempts.map(\.status) == [.cancelled, .cancelled])
        for a in attempts {
            #expect(livingMembers(ofGroup: a.pid ?? 0).isEmpty, "process group \(a.pid ?? 0) still alive")
        }
    }

    @Test("a retry's backoff is cut short by a cancel: the run ends at once, not when the hour's wait is over")
    func cancelDuringBackoff() async throws {
        let h = try Harness()
        let controller = RunController()
        let created = try await h.create(
            Harness.site(cores: 1)
                + """
                kind: Workflow\nname: w\nsteps:\n  - task: bad\n    run: ['false']\n    retries: {count: 3, \
                backoff: 1h}\n
                """
        )
        let final = Task { try await h.engine.execute(runID: created.id, controller: controller) }
        // Waiting its hour before retry 1.
        var retrying = false
        for _ in 0..<600 where !retrying {
            retrying = try await h.store.events(run: created.id, after: 0, limit: 100).contains { $0.kind == .retry }
            if !retrying { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(retrying)
        controller.cancel()
        // Woken by the stop (a bounded look, never a wait for the task that may hang).
        var ended: RunRecord?
        for _ in 0..<600 where ended == nil {
            if let r = try await h.store.run(created.id), r.status.isFinal { ended = r }
            if ended == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(ended?.status == .cancelled, "\(String(describing: ended))")
        if ended != nil { _ = try? await final.value } else { final.cancel() }
        #expect(try await h.store.attempts(run: created.id).count == 1)
    }

    @Test("a site's cores are never oversubscribed: six 1-core tasks on a 2-core site")
    func capacity() async throws {
        let h = try Harness()
        let sync = try h.syncDirectory()
        // Each item waits until another is in flight with it (or every item has started):
        // both cores are used, whatever order the items are given slots in.
        let inPair = Harness.waitUntil(
            """
            [ $(( $(ls \(sync)/started | wc -l) - $(ls \(sync)/ended | wc -l) )) -ge 2 ] || [ $(ls \
            \(sync)/started | wc -l) -ge 6 ]
            """
        )
        let yaml =
            Harness.site(cores: 2) + """
                kind: Workflow
                name: w
                steps:
                  - foreach: ${range(6)}
                    as: i
                    steps:
                      - task: t
                        shell: '\(Harness.arrive(sync)); \(inPair); \(Harness.leave(sync))'
                        outputs: {inFlight: {stdout: json}}
                  - task: wide
                    resources: {cores: 2}
                    shell: '\(Harness.arrive(sync)); \(Harness.leave(sync))'
                    outputs: {inFlight: {stdout: json}}
                outputs: {inFlight: '${t.inFlight}', wide: '${wide.inFlight}'}
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(attempts.map { "\($0.taskKey): \($0.error ?? "ok")" })")
        // The two cores were both used; no item ever found more than two in flight; the
        // 2-core task ran alone.
        let seen = Harness.counts(run.outputs?["inFlight"])
        #expect(seen.count == 6 && seen.allSatisfy { $0 <= 2 } && seen.max() == 2, "\(seen)")
        #expect(run.outputs?["wide"] == .int(1))
    }

    @Test("a task that can never fit is refused with a reason")
    func tooBig() async throws {
        let h = try Harness()
        let (run, _) = try await h.run(
            Harness.site(cores: 2)
                + "kind: Workflow\nname: w\nsteps:\n  - task: huge\n    run: [true]\n    resources: {cores: 16}\n")
        #expect(run.status == .failed)
        #expect(run.error?.contains("task `huge` needs 16 cores but the site has 2") == true)
    }

    @Test("a failed run resumed later does not run its finished tasks again")
    func resumeAfterFailure() async throws {
        let h = try Harness()
        let marker = h.home + "/fixed"
        let yaml = """
            kind: Workflow
            name: w
            steps:
              - task: first
                shell: 'echo ran >> \(h.home)/first.count; echo 7'
                outputs: {v: {stdout: json}}
              - task: second
                shell: 'test -f \(marker) && echo $((${first.v} * 6))'
                outputs: {v: {stdout: json}}
            outputs: {answer: '${second.v}'}
            """
        let (failed, _) = try await h.run(yaml)
        #expect(failed.status == .failed)
        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        let resumed = try await h.engine.execute(runID: failed.id)
        #expect(resumed.status == .succeeded)
        #expect(resumed.outputs?["answer"] == .int(42))
        #expect(try String(contentsOfFile: h.home + "/first.count", encoding: .utf8) == "ran\n")
        let attempts = try await h.store.attempts(run: failed.id)
        #expect(attempts.map(\.taskKey) == ["first", "second", "second"])
        #expect(attempts.map(\.number) == [1, 1, 2])
    }

    @Test("a program that does not exist fails its task with a clear message")
    func missingProgram() async throws {
        let h = try Harness()
        let (run, attempts) = try await h.run(
            "kind: Workflow\nname: w\nsteps:\n  - task: a\n    run: [no-such-program-heaven, x]\n")
        #expect(run.status == .failed)
        #expect(attempts[0].error == "program `no-such-program-heaven` not found (searched PATH)")
    }

    @Test("a wrong input type is refused before anything runs")
    func badInput() async throws {
        let h = try Harness()
        await #expect(throws: EngineError.self) {
            _ = try await h.create(
                "kind: Workflow\nname: w\ninputs: {n: {type: integer}}\nsteps:\n  - task: a\n    run: [true]\n",
                inputs: ["n": .string("many")])
        }
        await #expect(throws: EngineError.self) {
            _ = try await h.create(
                "kind: Workflow\nname: w\ninputs: {n: {type: integer}}\nsteps:\n  - task: a\n    run: [true]\n")
        }
    }
}

/// Processes of a process group that are not zombies (killed children wait for
/// init to reap them, which here can take a while).
func livingMembers(ofGroup pgid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter { pid in
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 && fields[0] != "Z" && Int32(fields[2]) == pgid
    }
}

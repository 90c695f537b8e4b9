import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenModel
import HeavenTestSupport
import Testing

@Suite("Sandboxed tasks", Testbed.needs(TaskSandbox.bubblewrap != nil, "bubblewrap"), .timeLimit(.minutes(15)))
struct SandboxTests {
    @Test(
        """
        a sandboxed task writes only its working directory, has a private /tmp, no network, and cannot see \
        Heaven's state
        """
    )
    func confinement() async throws {
        try Testbed.require(TaskSandbox.bubblewrap != nil, "bubblewrap")
        let h = try Harness()
        _ = FileManager.default.createFile(atPath: "/tmp/heaven-sandbox-probe", contents: Data("x".utf8))
        defer { try? FileManager.default.removeItem(atPath: "/tmp/heaven-sandbox-probe") }
        let yaml = """
            kind: Workflow
            name: w
            isolation: sandbox
            steps:
              - task: probe
                shell: |
                  touch /usr/heaven-escape 2>/dev/null && echo root-writable || echo root-readonly
                  test -e /tmp/heaven-sandbox-probe && echo tmp-shared || echo tmp-private
                  tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '
                  test -e \(h.home)/heaven.sqlite && echo state-visible || echo state-hidden
                  echo ok > result.txt && echo workdir-writable
                outputs:
                  report: {stdout: text}
                  result: {file: result.txt}
            outputs: {report: '${probe.report}'}
            """
        let (run, _) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        let lines = (run.outputs?["report"]?.argumentText ?? "").split(separator: "\n").map { $0.trimmingSpaces }
        #expect(lines == ["root-readonly", "tmp-private", "lo", "state-hidden", "workdir-writable"])
    }

    @Test("a file an argument names under /tmp is shown to the sandboxed task, read-only; nothing else of /tmp")
    func namedFilesVisible() async throws {
        try Testbed.require(TaskSandbox.bubblewrap != nil, "bubblewrap")
        let h = try Harness()
        let dir = "/tmp/heaven-sandbox-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "42\n".write(toFile: dir + "/scene.txt", atomically: true, encoding: .utf8)
        try "no\n".write(toFile: dir + "/other.txt", atomically: true, encoding: .utf8)
        let yaml = """
            kind: Workflow
            name: w
            isolation: sandbox
            inputs: {scene: file}
            steps:
              - task: read
                run: [sh, -c, 'cat "$0"; echo more >> "$0" 2>/dev/null || echo read-only; test -e \(dir)/other.txt && \
            echo other-visible || echo other-hidden', '${inputs.scene}']
                outputs: {said: {stdout: text}}
            outputs: {said: '${read.said}'}
            """
        let (run, _) = try await h.run(yaml, inputs: ["scene": .file(dir + "/scene.txt")])
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["said"] == .string("42\nread-only\nother-hidden"), "\(String(describing: run.outputs))")
    }
}

@Suite("Unsandboxed tasks", .timeLimit(.minutes(15)))
struct UnsandboxedTests {
    @Test("a task outside the sandbox sees the machine as usual")
    func unconfined() async throws {
        let h = try Harness()
        let (run, _) = try await h.run(
            """
            kind: Workflow\nname: w\nsteps:\n  - task: p\n    shell: 'test -e \(h.home)/heaven.sqlite && echo \
            visible'\n    outputs: {v: {stdout: text}}\noutputs: {v: '${p.v}'}\n
            """
        )
        #expect(run.outputs?["v"] == .string("visible"))
    }
}

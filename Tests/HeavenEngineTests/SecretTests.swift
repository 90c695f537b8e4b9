import Foundation
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenStore
import Testing

@Suite("Secrets", .timeLimit(.minutes(15)))
struct SecretTests {
    @Test(
        """
        a task gets its user's secret in its environment; the store, the events and the logs of Heaven never hold \
        it in clear
        """
    )
    func resolved() async throws {
        let h = try Harness()
        let value = "s3cr3t-\(UUID().uuidString)"
        // The workflow names only the value's SHA-256 (its text is stored with the run).
        let digest = try HeavenCLIShell.sha256(value)
        try await Secrets(home: HeavenHome(root: h.home), store: h.store).set(
            owner: testUser, name: "api-key", value: value)
        let (run, attempts) = try await h.run(
            """
            kind: Workflow
            name: w
            steps:
              - task: use
                env: {TOKEN: {secret: api-key}, PLAIN: visible}
                shell: 'test "$(printf %s "$TOKEN" | sha256sum | cut -c1-64)" = \(digest) && echo "token of $${#TOKEN} \
            characters, $PLAIN"'
                outputs: {said: {stdout: text}}
            outputs: {said: '${use.said}'}
            """)
        #expect(run.status == .succeeded, "\(attempts.map { $0.error ?? "" })")
        #expect(run.outputs?["said"] == .string("token of \(value.count) characters, visible"))
        for file in ["heaven.sqlite", "heaven.sqlite-wal", "heaven.sqlite-shm"] {
            let data = FileManager.default.contents(atPath: h.home + "/" + file) ?? Data()
            #expect(data.range(of: Data(value.utf8)) == nil, "\(file) holds the secret in clear")
        }
        let events = try await h.store.events(run: run.id, after: 0, limit: 100)
        #expect(!events.contains { $0.message.contains(value) })
        // Nor the run's logs (the task printed around it) or any other file of the run.
        let logs = (try? FileManager.default.contentsOfDirectory(atPath: h.home + "/runs/\(run.id)/logs")) ?? []
        #expect(!logs.isEmpty)
        #expect(LeakChecks.files(holding: value, under: h.home + "/runs/\(run.id)").isEmpty)
        let names = try await h.store.secretNames(owner: testUser)
        #expect(names.map(\.name) == ["api-key"])
    }

    @Test("a secret that is not set fails the task saying which and how to set it; one user's secret is not another's")
    func missing() async throws {
        let h = try Harness()
        try await Secrets(home: HeavenHome(root: h.home), store: h.store).set(
            owner: "someone-else", name: "api-key", value: "theirs")
        let (run, attempts) = try await h.run(
            """
            kind: Workflow
            name: w
            steps:
              - task: use
                env: {TOKEN: {secret: api-key}}
                run: [printenv, TOKEN]
            """)
        #expect(run.status == .failed)
        #expect(
            attempts.first?.error
                == """
                secret `api-key` is not set for \(testUser) (set it with `heaven secrets set api-key`, or PUT \
                /v1/secrets/api-key)
                """
        )
    }

    @Test("`env` secrets are checked like the rest: a name, and nothing else in the mapping")
    func language() {
        let load = Loader.load(
            text: """
                kind: Workflow
                name: w
                steps:
                  - task: a
                    env: {A: {secret: Bad_Name}, B: {secrte: x}, C: {secret: ok-name}}
                    run: [true]
                """, path: "s.yaml")
        let messages = load.diagnostics.map(\.description)
        #expect(
            messages.contains { $0.hasPrefix("s.yaml:5:23: error: the secret's name `Bad_Name` is not a valid name") },
            "\(messages)")
        #expect(messages.contains { $0.hasPrefix("s.yaml:5:38: error: unknown key `secrte`") }, "\(messages)")
        #expect(messages.count == 3, "\(messages)")
    }
}

enum HeavenCLIShell {
    static func sha256(_ text: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "printf %s \"$0\" | sha256sum | cut -c1-64", text]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

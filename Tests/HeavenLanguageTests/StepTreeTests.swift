import HeavenLanguage
import HeavenModel
import Testing

@Suite("The tree of steps", .timeLimit(.minutes(15)))
struct StepTreeTests {
    @Test("the one walk visits every step once, depth first in file order, through every kind of block")
    func depthFirst() throws {
        let yaml = """
            kind: Workflow
            name: w
            steps:
              - task: a
                run: [/bin/true]
              - parallel:
                  - task: b
                    run: [/bin/true]
                  - foreach: ${range(2)}
                    as: i
                    steps:
                      - task: c
                        run: [/bin/true]
              - if: ${true}
                then:
                  - task: d
                    run: [/bin/true]
                else:
                  - task: e
                    run: [/bin/true]
              - task: f
                run: [/bin/true]
            """
        let load = Loader.load(text: yaml, path: "w.yaml")
        #expect(load.isValid, "\(load.diagnostics)")
        let w = try #require(load.documents.workflows.first)
        let tasks = w.steps.depthFirst.compactMap { s -> String? in
            if case .task(let t) = s.form { t.name } else { nil }
        }
        #expect(tasks == ["a", "b", "c", "d", "e", "f"])
        #expect(w.tasks.map(\.name) == tasks)
        // Blocks come before what they hold: 6 tasks and 3 blocks, each once.
        #expect(w.steps.depthFirst.count == 9)
    }
}

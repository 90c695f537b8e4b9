import ArgumentParser
import Foundation
import HeavenLanguage
import HeavenModel

/// `heaven validate FILE...`
struct ValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check description files and report every problem.",
        discussion: """
            Prints one line per problem, `FILE:LINE:COL: error: MESSAGE`, and exits with 2 when \
            there is any; otherwise prints, one line per file read (those named, then those their \
            workflows call), what it holds, and exits with 0.

              $ heaven validate examples/fan-out.yaml
              examples/fan-out.yaml: ok (workflow fan-out: 3 tasks)
            """)

    @Argument(help: "YAML files (Site, Grant, Topology and Workflow documents).")
    var files: [String]

    func run() async throws {
        let result = Loader.load(paths: files)
        if !result.isValid {
            for d in result.diagnostics { print(d.description) }
            CLI.error("\(Wording.count(result.diagnostics.count, "problem")) found: nothing was run")
            throw ExitCode(2)
        }
        for line in ValidateCommand.summary(result) { print(line) }
    }

    /// One line per file read (those named, then those their workflows call), saying what
    /// it holds.
    static func summary(_ result: LoadResult) -> [String] {
        let d = result.documents
        return result.sources.map { source in
            var parts: [String] = []
            for w in d.workflows where w.location.file == source.path {
                parts.append("workflow \(w.name): \(tasks(of: w, in: d))")
            }
            for t in d.topologies where t.location.file == source.path {
                parts.append("topology \(t.name): \(Wording.count(t.machines.count, "machine"))")
            }
            for s in d.sites where s.location.file == source.path {
                parts.append("site \(s.name): \(Wording.count(s.totalCores, "core"))")
            }
            for g in d.grants where g.location.file == source.path { parts.append("grant \(g.name)") }
            return "\(source.path): ok (\(parts.isEmpty ? "no documents" : parts.joined(separator: "; ")))"
        }
    }

    /// A workflow's tasks: its own, and those of the workflows it calls (each once).
    static func tasks(of workflow: Workflow, in documents: DocumentSet) -> String {
        var seen: Set<String> = [workflow.name]
        var calls: [String] = []
        var pending = [workflow]
        var called = 0
        while let w = pending.popLast() {
            for step in w.steps.depthFirst {
                guard case .call(let c) = step.form, seen.insert(c.workflow).inserted,
                    let target = documents.workflow(named: c.workflow)
                else { continue }
                calls.append(c.workflow)
                called += target.tasks.count
                pending.append(target)
            }
        }
        let own = Wording.count(workflow.tasks.count, "task")
        guard !calls.isEmpty else { return own }
        return
            """
            \(own), and \(Wording.count(called, "task")) in the \(calls.count == 1 ? "workflow" : "workflows") it \
            calls 
            """
                + "(\(calls.joined(separator: ", ")))"
    }
}

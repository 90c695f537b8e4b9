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
            there is any; otherwise prints what the files hold and exits with 0.

              $ heaven validate examples/fan-out.yaml
              examples/fan-out.yaml: ok (workflow fan-out: 3 tasks)
            """)

    @Argument(help: "YAML files (Site, Grant, Topology and Workflow documents).")
    var files: [String]

    func run() async throws {
        let result = Loader.load(paths: files)
        if !result.isValid {
            for d in result.diagnostics { print(d.description) }
            let n = result.diagnostics.count
            CLI.error("\(n) problem\(n == 1 ? "" : "s") found")
            throw ExitCode(2)
        }
        let d = result.documents
        var parts: [String] = []
        for w in d.workflows {
            parts.append("workflow \(w.name): \(w.tasks.count) task\(w.tasks.count == 1 ? "" : "s")")
        }
        for t in d.topologies {
            parts.append("topology \(t.name): \(t.machines.count) machine\(t.machines.count == 1 ? "" : "s")")
        }
        for s in d.sites { parts.append("site \(s.name): \(Wording.count(s.totalCores, "core"))") }
        for g in d.grants { parts.append("grant \(g.name)") }
        print("\(files.joined(separator: ", ")): ok (\(parts.joined(separator: "; ")))")
    }
}

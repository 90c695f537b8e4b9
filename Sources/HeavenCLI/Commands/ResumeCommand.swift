import ArgumentParser
import Foundation
import HeavenCore
import HeavenEngine

/// `heaven resume RUN`
struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue an interrupted or failed run without re-running finished tasks.",
        discussion: """
            Attempts that were running when the run stopped are recorded as lost (their \
            processes killed if still alive) and run again as new attempts.

              $ heaven resume r1a2b3c
              run r1a2b3c succeeded in 4.1s
            """)

    @Argument(help: "The run's id (or a unique prefix of it).")
    var run: String

    @Flag(help: "Print one JSON object at the end: {run, status, outputs}.")
    var json = false

    @Flag(name: .shortAndLong, help: "No progress display.")
    var quiet = false

    func run() async throws {
        let (home, store) = try CLI.openStore()
        let record = try await CLI.findRun(store, run)
        if record.status == .succeeded {
            if json { print(CLI.json(record)) } else { CLI.report(record) }
            return
        }
        try await RunDriver(
            engine: Engine(home: home, store: store), store: store, json: json, quiet: quiet || json && !CLI.isTerminal
        )
        .drive(record.id)
    }
}

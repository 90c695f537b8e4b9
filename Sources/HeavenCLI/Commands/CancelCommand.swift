import ArgumentParser
import Foundation
import HeavenAPI
import HeavenApplication
import HeavenConnectors
import HeavenCore
import HeavenEngine

#if canImport(Glibc)
    import Glibc
#endif

/// `heaven cancel RUN`
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a run: its running tasks are stopped and it ends as cancelled.",
        discussion: """
              $ heaven cancel r1a2b3c
              run r1a2b3c: cancel requested (process 4242 stops its tasks)
            """)

    @Argument(help: "The run's id (or a unique prefix of it).")
    var run: String

    @OptionGroup var connection: ServerOption

    func run() async throws {
        if let remote = try connection.remote() {
            let record = try await remote.run(run)
            if record.status.isFinal {
                print("run \(record.id) already \(record.status.rawValue)")
                return
            }
            _ = try await remote.send("POST", "/v1/runs/\(record.id)/cancel", as: CancelRequested.self)
            print("run \(record.id): cancel requested (the server stops its tasks)")
            return
        }
        let (home, stores) = try CLI.openStore()
        let record = try await CLI.findRun(stores.runs, run)
        if record.status.isFinal {
            print("run \(record.id) already \(record.status.rawValue)")
            return
        }
        let engine = Engine(home: home, stores: stores)
        let control = RunControl(engine: engine, runs: stores.runs, ledger: stores.ledger)
        do {
            switch try await control.cancel(record) {
            case .already: print("run \(record.id) already cancelled")
            case .requested(let pid): print("run \(record.id): cancel requested (process \(pid) stops its tasks)")
            case .closed: print("run \(record.id) cancelled")
            }
        } catch ApplicationError.conflict {
            // It ended meanwhile: as when it had ended before.
            let now = try await CLI.findRun(stores.runs, record.id)
            print("run \(record.id) already \(now.status.rawValue)")
        }
    }
}

import ArgumentParser
import Foundation
import HeavenConnectors
import HeavenCore

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

    @Option(help: "The Heaven server the run is on (or $HEAVEN_SERVER).")
    var server: String?

    func run() async throws {
        if let remote = Remote.resolve(server) {
            let record = try await remote.run(run)
            if record.status.isFinal {
                print("run \(record.id) already \(record.status.rawValue)")
                return
            }
            _ = try await remote.object("POST", "/v1/runs/\(record.id)/cancel")
            print("run \(record.id): cancel requested (the server stops its tasks)")
            return
        }
        let (_, store) = try CLI.openStore()
        let record = await CLI.findRun(store, run)
        if record.status.isFinal {
            print("run \(record.id) already \(record.status.rawValue)")
            return
        }
        guard var updated = try await store.requestCancel(run: record.id) else { CLI.fail("no run `\(run)`") }
        if let pid = updated.ownerPID, ProcessProbe.isAlive(pid: pid, startTime: updated.ownerStart) {
            kill(pid, SIGTERM)
            print("run \(record.id): cancel requested (process \(pid) stops its tasks)")
            return
        }
        // Nobody drives the run: stop what it left running and close it here.
        let lost = try await store.markRunningAttemptsLost(run: record.id, reason: "cancelled")
        for a in lost {
            if let pid = a.pid { ProcessProbe.killOrphan(pid: pid, run: a.runID, task: a.taskKey, attempt: a.number) }
        }
        updated.status = .cancelled
        updated.finishedAt = Date()
        updated.ownerPID = nil
        updated.error = "cancelled"
        try await store.updateRun(updated)
        try await store.appendEvent(EventRecord(runID: record.id, .ended(.cancelled, error: nil)))
        print("run \(record.id) cancelled")
    }
}

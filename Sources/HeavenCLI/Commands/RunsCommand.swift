import ArgumentParser
import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenModel

/// `heaven runs`
struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List the latest runs, newest first.",
        discussion: """
              $ heaven runs
              RUN               WORKFLOW   STATUS     CREATED              DURATION
              r1a2b3c…          fan-out    succeeded  2026-11-24 20:01:02  2.3s
            """)

    @Option(help: "How many runs to list.")
    var limit = 20

    @Flag(help: "Print a JSON list.")
    var json = false

    @OptionGroup var connection: ServerOption

    func run() async throws {
        if let remote = try connection.remote() {
            RunsCommand.show(try await remote.runs(limit: max(1, limit)), json: json)
            return
        }
        let (_, stores) = try CLI.openStore()
        let runs: [RunRecord]
        do { runs = try await stores.runs.runs(limit: max(1, limit)) } catch { throw CLIError("\(error)") }
        RunsCommand.show(runs, json: json)
    }

    /// Prints runs as a table or a JSON list (the same from a server).
    static func show(_ runs: [RunRecord], json: Bool) {
        if json {
            print(
                Value.list(
                    runs.map { r in
                        var m: [String: Value] = [
                            "run": .string(r.id), "workflow": .string(r.workflow), "status": .string(r.status.rawValue),
                        ]
                        m["created"] = .string(ISO8601DateFormatter().string(from: r.createdAt))
                        return .map(m)
                    }
                ).jsonText)
            return
        }
        if runs.isEmpty {
            print("no runs yet: start one with `heaven run FILE`")
            return
        }
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        print("RUN                 WORKFLOW              STATUS       CREATED              DURATION")
        for r in runs {
            let status = r.effectiveStatus(alive: Engine.processLiveness)
            let took = r.startedAt.map { Wording.duration((r.finishedAt ?? Date()).timeIntervalSince($0)) } ?? "-"
            print(
                [
                    r.id.padding(toLength: 19, withPad: " ", startingAt: 0),
                    r.workflow.padding(toLength: 21, withPad: " ", startingAt: 0),
                    status.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0), f.string(from: r.createdAt),
                    took,
                ].joined(separator: " "))
        }
    }
}

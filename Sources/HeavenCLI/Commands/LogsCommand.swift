import ArgumentParser
import Foundation
import HeavenAPI
import HeavenCore
import HeavenEngine

/// `heaven logs RUN [TASK]`
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Show a run's history, or the output of one of its tasks.",
        discussion: """
            Without TASK: the run's events. With TASK (a task key such as `each#3/ndvi`, or a \
            task name, which shows every instance of it): standard output and error of its \
            latest attempt, or of `--attempt N`.

              $ heaven logs r1a2b3c mosaic
              ==> mosaic (attempt 1, succeeded) stdout <==
              …
            """)

    @Argument(help: "The run's id (or a unique prefix of it).")
    var run: String

    @Argument(help: "A task key or task name.")
    var task: String?

    @Option(help: "Which attempt (default: the latest).")
    var attempt: Int?

    @OptionGroup var connection: ServerOption

    func run() async throws {
        if let remote = try connection.remote() {
            try await remoteLogs(remote)
            return
        }
        let (home, stores) = try CLI.openStore()
        let record = try await CLI.findRun(stores.runs, run)
        guard let task else {
            for e in (try? await stores.runs.events(run: record.id, after: 0, limit: 100_000)) ?? [] {
                LogsCommand.printEvent(at: e.time, e.kind.rawValue, task: e.taskKey, e.message)
            }
            return
        }
        let layout = home.layout(record.id)
        for a in try chosen((try? await stores.runs.attempts(run: record.id)) ?? [], task: task, run: record.id) {
            let key = a.taskKey
            // A combined log (`.log`), or standard output and error apart (`.out`, `.err`).
            // An attempt that printed nothing may have no log file (its empty file went to
            // a later attempt).
            var shown = false
            for stream in ["log", "out", "err"] {
                let path = layout.log(key, attempt: a.number, stream)
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
                if text.isEmpty && stream == "err" { continue }
                let title = stream == "log" ? "output" : "std\(stream)"
                print("==> \(key) (attempt \(a.number), \(a.status.rawValue)) \(title) <==")
                print(text, terminator: text.hasSuffix("\n") || text.isEmpty ? "" : "\n")
                shown = true
            }
            if !shown { print("==> \(key) (attempt \(a.number), \(a.status.rawValue)) output <==") }
        }
    }

    /// The same, from a server: its events, or a task's log.
    func remoteLogs(_ remote: Remote) async throws {
        let record = try await remote.run(run)
        guard let task else {
            let stream = try await remote.data("GET", "/v1/runs/\(record.id)/events?follow=0")
            for line in String(decoding: stream, as: UTF8.self).split(separator: "\n") where line.hasPrefix("data: ") {
                guard let e = try? APICoding.decoder.decode(EventView.self, from: Data(line.dropFirst(6).utf8)) else {
                    throw CLIError(
                        "\(remote.server.absoluteString): an event of run \(record.id) is not an EventView: \(line)")
                }
                // The run's history, as here: the stream's live task events are not part of it.
                if !e.kind.isStored { continue }
                LogsCommand.printEvent(at: e.at, e.kind.rawValue, task: e.task, e.message)
            }
            return
        }
        for a in try chosen(try await remote.attempts(record.id), task: task, run: record.id) {
            let flat = Remote.segment(RunLayout.flat(a.taskKey))
            let text = String(
                decoding: try await remote.data("GET", "/v1/runs/\(record.id)/logs/\(flat)?attempt=\(a.number)"),
                as: UTF8.self)
            print("==> \(a.taskKey) (attempt \(a.number), \(a.status.rawValue)) output <==")
            print(text, terminator: text.hasSuffix("\n") || text.isEmpty ? "" : "\n")
        }
    }

    /// The attempt to show of each task instance `task` names (a key, or the end of
    /// keys: `ndvi` names every `…/ndvi`): `--attempt`, or the latest; exit 2 if none.
    func chosen(_ attempts: [AttemptRecord], task: String, run: String) throws -> [AttemptRecord] {
        let keys = Set(attempts.map(\.taskKey))
        let matching = keys.contains(task) ? [task] : keys.filter { $0 == task || $0.hasSuffix("/" + task) }.sorted()
        guard !matching.isEmpty else {
            throw CLIError(
                """
                run \(run) has no task `\(task)` (tasks: \
                \(keys.sorted().prefix(10).joined(separator: ", "))\(keys.count > 10 ? ", …" : ""))
                """
            )
        }
        return try matching.map { key in
            let mine = attempts.filter { $0.taskKey == key }
            guard let a = attempt.flatMap({ n in mine.first { $0.number == n } }) ?? mine.last else {
                throw CLIError("task `\(key)` has no attempt \(attempt ?? 0)")
            }
            return a
        }
    }

    /// One event as a line: time, kind, task, message.
    static func printEvent(at time: Date?, _ kind: String, task: String?, _ message: String) {
        let when = time.map(eventTime.string(from:)) ?? "?"
        print(
            """
            \(when) \(kind.padding(toLength: 9, withPad: " ", startingAt: 0)) \
            \(task.map { $0 + ": " } ?? "")\(message)
            """
        )
    }

    static let eventTime: DateFormatter = {
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss.SSS"
        return f
    }()
}

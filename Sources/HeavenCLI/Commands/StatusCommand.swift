import ArgumentParser
import Foundation
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenModel

/// `heaven status RUN`
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a run: its state, its tasks and its outputs.",
        discussion: """
              $ heaven status r1a2b3c
              run r1a2b3c (workflow fan-out, by ana): succeeded after 2.3s
              tasks: 6 succeeded (6 attempts)
                split     succeeded  #1  0.1s  on local (machine/0)
              …
              $ heaven status r1a2b3c --tasks    # every task instance, however many
            """)

    @Argument(help: "The run's id (or a unique prefix of it).")
    var run: String

    @Flag(help: "Print one JSON object: {run, status, outputs, tasks, …}.")
    var json = false

    @Flag(help: "List every task instance (without it, a run of more than 40 shows those not succeeded).")
    var tasks = false

    @OptionGroup var connection: ServerOption

    func run() async throws {
        if let remote = try connection.remote() {
            let (record, attempts) = try await remote.runAndAttempts(run)
            StatusCommand.show(record, attempts, json: json, local: false, all: tasks)
            return
        }
        let (_, stores) = try CLI.openStore()
        let record = try await CLI.findRun(stores.runs, run)
        let attempts = (try? await stores.runs.attempts(run: record.id)) ?? []
        StatusCommand.show(record, attempts, json: json, local: true, all: tasks)
    }

    /// Task instances in their natural order: each task in the order it first started, its
    /// instances by their numbers (`part#2/square` before `part#10/square`), whatever
    /// order they started in.
    static func naturalOrder(_ keys: [String]) -> [String] {
        /// A key with its instance numbers taken out (`part#/square`), and the numbers.
        func split(_ key: String) -> (template: String, numbers: [Int]) {
            var template = ""
            var numbers: [Int] = []
            var digits = ""
            var afterHash = false
            for c in key {
                if afterHash, c.isASCII, c.isNumber {
                    digits.append(c)
                    continue
                }
                if !digits.isEmpty {
                    numbers.append(Int(digits) ?? 0)
                    digits = ""
                }
                afterHash = c == "#"
                template.append(c)
            }
            if !digits.isEmpty { numbers.append(Int(digits) ?? 0) }
            return (template, numbers)
        }
        var firstSeen: [String: Int] = [:]
        let parts = keys.map { k -> (key: String, template: String, numbers: [Int]) in
            let (t, n) = split(k)
            if firstSeen[t] == nil { firstSeen[t] = firstSeen.count }
            return (k, t, n)
        }
        return parts.sorted { a, b in
            if a.template != b.template { return firstSeen[a.template]! < firstSeen[b.template]! }
            return a.numbers.lexicographicallyPrecedes(b.numbers)
        }.map(\.key)
    }

    /// Prints a run and its tasks, for people or as JSON (the same from a server).
    static func show(_ record: RunRecord, _ attempts: [AttemptRecord], json: Bool, local: Bool, all: Bool = false) {
        var latest: [String: AttemptRecord] = [:]
        var started: [String] = []
        for a in attempts {
            if latest[a.taskKey] == nil { started.append(a.taskKey) }
            latest[a.taskKey] = a
        }
        let order = StatusCommand.naturalOrder(started)
        var byStatus: [String: Int] = [:]
        for a in latest.values { byStatus[a.status.rawValue, default: 0] += 1 }
        // A run whose driving process died shows as interrupted, not as running (a
        // server's answer says so itself).
        let status = local ? record.effectiveStatus(alive: Engine.processLiveness) : record.status
        var shown = record
        shown.status = status
        if json {
            let tasks = Value.map(byStatus.mapValues { .int($0) })
            let attemptList = Value.list(
                order.compactMap { latest[$0] }.map { a in
                    var m: [String: Value] = [
                        "task": .string(a.taskKey), "status": .string(a.status.rawValue), "attempt": .int(a.number),
                    ]
                    if let e = a.error { m["error"] = .string(e) }
                    if let c = a.exitCode { m["exit"] = .int(Int(c)) }
                    if let s = a.site { m["site"] = .string(s) }
                    if let n = a.node { m["node"] = .string(n) }
                    if let r = a.reusedFrom { m["reused_from"] = .string(r) }
                    if let f = a.finishedAt {
                        m["seconds"] = .double((f.timeIntervalSince(a.startedAt) * 1000).rounded() / 1000)
                    }
                    return .map(m)
                })
            print(
                CLI.json(
                    shown,
                    extra: [
                        "tasks": tasks, "attempts": attemptList,
                        "created": .string(ISO8601DateFormatter().string(from: record.createdAt)),
                    ]))
            return
        }
        let took = (record.finishedAt ?? Date()).timeIntervalSince(record.startedAt ?? record.createdAt)
        print(
            """
            run \(record.id) (workflow \(record.workflow), by \(record.user)): \
            \(status.rawValue)\(record.startedAt == nil ? "" : " after \(Wording.duration(took))")
            """
        )
        if let e = record.error { print("error: \(e)") }
        let summary = byStatus.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        let reused = latest.values.filter { $0.reusedFrom != nil }
        let reusedNote =
            reused.isEmpty
            ? ""
            : """
            , \(reused.count) of them reused from \
            \(Set(reused.compactMap(\.reusedFrom)).sorted().joined(separator: ", "))
            """
        let ran = attempts.count - reused.count
        print(
            "tasks: \(summary.isEmpty ? "none yet" : summary)\(reusedNote) (\(Wording.count(ran, "attempt")))"
        )
        if let earlier = record.reuses { print("reuses: the finished tasks of run \(earlier)") }
        let rows = order.compactMap { latest[$0] }
        let shownRows = all || rows.count <= 40 ? rows : Array(rows.filter { $0.status != .succeeded }.prefix(40))
        if !shownRows.isEmpty {
            let width = min(48, shownRows.map(\.taskKey.count).max() ?? 4)
            for a in shownRows {
                let secs =
                    a.reusedFrom.map { "reused from \($0)" }
                    ?? a.finishedAt.map { Wording.duration($0.timeIntervalSince(a.startedAt)) } ?? "…"
                var line =
                    """
                      \(a.taskKey.padding(toLength: width, withPad: " ", startingAt: 0))  \
                    \(a.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))  #\(a.number)  \(secs)
                    """
                if let site = a.site, a.reusedFrom == nil {
                    line += "  on \(StatusCommand.place(site: site, node: a.node))"
                }
                if let e = a.error { line += "  \(e.prefix(100))" }
                print(line)
            }
        }
        if rows.count > shownRows.count {
            print(
                """
                  (\(rows.count - shownRows.count) more tasks not shown: `heaven status \(record.id) --tasks` \
                lists every one)
                """
            )
        }
        for (k, v) in (record.outputs ?? [:]).sorted(by: { $0.key < $1.key }) {
            print("output \(k): \(v.plain.argumentText)")
        }
        if status == .interrupted { print("continue with: heaven resume \(record.id)") }
        if status == .failed {
            print(
                """
                continue with: heaven resume \(record.id)   (after editing the files: heaven resume \(record.id) \
                --with FILE...)
                """
            )
        }
    }

    /// Where an attempt ran: `site (node/index)` (the node recorded as `SITE/NODE/INDEX`).
    static func place(site: String, node: String?) -> String {
        guard let node, node.hasPrefix(site + "/") else { return site }
        return "\(site) (\(node.dropFirst(site.count + 1)))"
    }

}

import Foundation
import HeavenCore
import HeavenEngine
import HeavenModel

/// What the console draws of a run: its workflow as a graph of task nodes coloured by
/// state (foreach and loop instances collapsed into a group with counts when many), and
/// its attempts as a Gantt chart by site. HTML built here, every text escaped.
struct RunPicture {
    let runID: String
    let attempts: [AttemptRecord]
    /// Group prefixes (`tiles#`) whose instances are listed one by one.
    let expanded: Set<String>

    /// The latest attempt of each task instance, by key.
    let latest: [String: AttemptRecord]
    /// While the run goes on: the task instances that said they wait (for capacity, or
    /// for their next attempt after a failure), since when and why, by key.
    let waiting: [String: (since: Date, why: String)]
    /// Every task instance known: attempted or waiting.
    let keys: [String]

    /// More instances than this in a foreach or loop: one group node until expanded.
    static let collapseAbove = 12
    /// A shorter wait for a slot than this is not drawn.
    static let queuedFrom: TimeInterval = 0.002
    /// More attempts than this: the Gantt chart aggregates them by site.
    static let gatherAbove = 2000

    init(runID: String, attempts: [AttemptRecord], expanded: Set<String>, events: [EventRecord] = []) {
        self.runID = runID
        self.attempts = attempts
        self.expanded = expanded
        var latest: [String: AttemptRecord] = [:]
        for a in attempts where (latest[a.taskKey]?.number ?? 0) < a.number { latest[a.taskKey] = a }
        self.latest = latest
        var waiting: [String: (since: Date, why: String)] = [:]
        for e in events where e.kind == .waiting || e.kind == .retry {
            guard let key = e.taskKey else { continue }
            // Until an attempt starts after it (or the one it follows is still running).
            if let a = latest[key], a.status == .running || a.startedAt >= e.time { continue }
            waiting[key] = (e.time, e.message)
        }
        self.waiting = waiting
        self.keys = Array(latest.keys) + waiting.keys.filter { latest[$0] == nil }
    }

    /// A task instance's state, as the contract names it.
    func state(_ key: String) -> String {
        if waiting[key] != nil { return "waiting" }
        guard let a = latest[key] else { return "pending" }
        return RunPicture.state(a.status)
    }

    static func state(_ s: AttemptStatus) -> String {
        switch s {
        case .running: "running"
        case .succeeded: "succeeded"
        case .failed, .timedOut: "failed"
        case .cancelled: "cancelled"
        case .lost: "lost"
        }
    }

    // MARK: The graph

    func graph(_ workflow: Workflow, documents: DocumentSet) -> String {
        "<div class=\"seq\">" + workflow.steps.map { node($0, in: workflow, documents: documents, prefix: "") }.joined()
            + "</div>"
    }

    func node(_ step: Step, in workflow: Workflow, documents: DocumentSet, prefix: String) -> String {
        func steps(_ list: [Step], _ prefix: String, in w: Workflow) -> String {
            "<div class=\"seq\">" + list.map { node($0, in: w, documents: documents, prefix: prefix) }.joined()
                + "</div>"
        }
        switch step.form {
        case .task(let t):
            return task(prefix + t.name, name: t.name)
        case .sequence(let list):
            return steps(list, prefix, in: workflow)
        case .parallel(let branches), .interleave(let branches):
            let kind = if case .interleave = step.form { "par interleave" } else { "par" }
            let title = if case .interleave = step.form { "interleave: one branch at a time" } else { "parallel" }
            return "<div class=\"\(kind)\" title=\"\(title)\">"
                + branches.map { node($0, in: workflow, documents: documents, prefix: prefix) }.joined() + "</div>"
        case .conditional(let c):
            return "<div class=\"box cond\"><div class=\"label\">if \(h(c.condition.source))</div>"
                + "<div class=\"branch\"><div class=\"label\">then</div>\(steps(c.then, prefix, in: workflow))</div>"
                + (c.otherwise.isEmpty
                    ? ""
                    : "<div class=\"branch\"><div class=\"label\">else</div>\(steps(c.otherwise, prefix, in: workflow))</div>")
                + "</div>"
        case .call(let call):
            let name = workflow.keyName(of: step)
            guard let callee = documents.workflow(named: call.workflow) else {
                return "<div class=\"box call\"><div class=\"label\">call \(h(call.workflow))</div></div>"
            }
            return "<div class=\"box call\"><div class=\"label\">call \(h(callee.name)) as \(h(name))</div>"
                + steps(callee.steps, prefix + name + "/", in: callee) + "</div>"
        case .foreach(let f):
            let name = workflow.keyName(of: step)
            return instances(
                prefix + name + "#", label: "foreach \(f.variable) in \(f.items.source)", kind: "foreach",
                body: { steps(f.steps, $0, in: workflow) })
        case .loop(let loop):
            let name = workflow.keyName(of: step)
            return instances(
                prefix + name + "@", label: "loop (at most \(loop.max))", kind: "loop",
                body: { steps(loop.steps, $0, in: workflow) })
        }
    }

    /// One task instance's node: its key and state (the contract), a link to its log.
    func task(_ key: String, name: String) -> String {
        let s = state(key)
        var title = key
        var link = ""
        if let w = waiting[key] { title += " · waiting: \(w.why)" }
        if let a = latest[key] {
            title += " · attempt \(a.number) · \(a.status.rawValue)" + (a.site.map { " on \($0)" } ?? "")
            link =
                "<a href=\"/console/runs/\(h(runID))/logs/\(h(RunRoutes.pathSegment(RunLayout.flat(key))))?attempt=\(a.number)\">log</a>"
        }
        return
            "<div class=\"task\" data-task=\"\(h(key))\" data-state=\"\(s)\" title=\"\(h(title))\"><span class=\"n\">\(h(name))</span>\(link)</div>"
    }

    /// The instances of a foreach (`tiles#3/`) or a loop (`search@2/`) seen so far: one
    /// box each, or one group node with their counts by state when there are many.
    func instances(_ head: String, label: String, kind: String, body: (String) -> String) -> String {
        // Instance numbers seen in the attempts' keys, and the state of each instance.
        var seen: [Int: [String]] = [:]
        for key in keys where key.hasPrefix(head) {
            let rest = key.dropFirst(head.count)
            guard let slash = rest.firstIndex(of: "/"), let i = Int(rest[..<slash]) else { continue }
            seen[i, default: []].append(key)
        }
        let numbers = seen.keys.sorted()
        if numbers.count > RunPicture.collapseAbove && !expanded.contains(head) {
            var tally: [String: Int] = [:]
            for keys in seen.values {
                let states = keys.map(state)
                let s =
                    states.contains("failed")
                    ? "failed"
                    : states.contains("running")
                        ? "running"
                        : states.contains("waiting")
                            ? "waiting"
                            : states.contains("lost")
                                ? "lost"
                                : states.allSatisfy { $0 == "succeeded" }
                                    ? "succeeded"
                                    : "pending"
                tally[s, default: 0] += 1
            }
            let overall =
                tally["failed"] != nil
                ? "failed"
                : tally["running"] != nil
                    ? "running"
                    : tally.keys.allSatisfy { $0 == "succeeded" } ? "succeeded" : "pending"
            let counts = ["running", "waiting", "succeeded", "failed", "lost", "pending"].compactMap { s in
                tally[s].map { "<span data-state=\"\(s)\">\($0) \(s)</span>" }
            }.joined()
            let name = String(head.dropLast())
            return
                "<div class=\"group \(kind)\" data-task=\"\(h(head))*\" data-state=\"\(overall)\"><div class=\"label\">\(h(label)) · \(numbers.count) \(kind == "loop" ? "iterations" : "items")</div><div class=\"tally\">\(counts)</div><a href=\"?expand=\(h(RunRoutes.pathSegment(name)))\">expand</a></div>"
        }
        let boxes = (numbers.isEmpty ? [] : numbers).map { i in
            "<div class=\"box\"><div class=\"label\">\(h(String(head.dropLast())))\(head.last.map(String.init) ?? "")\(i)</div>\(body(head + "\(i)/"))</div>"
        }
        return
            "<div class=\"box \(kind)\"><div class=\"label\">\(h(label))\(numbers.isEmpty ? " · no items yet" : "")</div><div class=\"par\">\(boxes.joined())</div></div>"
    }

    // MARK: The Gantt chart

    /// Attempts by site: one bar each, its queued segment (the time the task waited for
    /// a slot before it) drawn lighter in front of it; retries and lost attempts as bars
    /// of their own; past `gatherAbove` attempts, each site's attempts gathered in 100
    /// slices of time.
    func gantt(now: Date = Date()) -> String {
        func begin(_ a: AttemptRecord) -> Date { min(a.queuedAt ?? a.startedAt, a.startedAt) }
        guard let first = attempts.map(begin).min() else { return "<p class=\"hint\">No attempt yet.</p>" }
        let last = max(attempts.map { $0.finishedAt ?? now }.max() ?? now, first.addingTimeInterval(0.001))
        let span = last.timeIntervalSince(first)
        func pct(_ d: Date) -> Double { max(0, min(100, d.timeIntervalSince(first) / span * 100)) }
        // A lane per site and node; attempts that overlap in time on a lane stacked in rows.
        let bySite = Dictionary(grouping: attempts) { a in
            (a.site ?? "(not placed)") + (a.node.map { " · \($0)" } ?? "")
        }
        var lanes: [String] = []
        for (lane, list) in bySite.sorted(by: { $0.key < $1.key }) {
            let site = list.first?.site ?? "(not placed)"
            var rows: [Date] = []
            var row: [Int] = []
            let ordered = list.sorted(by: { begin($0) < begin($1) })
            for a in ordered {
                let end = a.finishedAt ?? now
                if let free = rows.firstIndex(where: { $0 <= begin(a) }) {
                    rows[free] = end
                    row.append(free)
                } else {
                    rows.append(end)
                    row.append(rows.count - 1)
                }
            }
            let height = attempts.count > RunPicture.gatherAbove ? 22 : 4 + 18 * max(1, rows.count)
            // SVG (attributes, not inline styles: the Content-Security-Policy allows none).
            var bars: [String] = []
            if attempts.count > RunPicture.gatherAbove {
                var slices = [Int](repeating: 0, count: 100)
                for a in list {
                    let from = Int(pct(a.startedAt))
                    let to = Int(pct(a.finishedAt ?? now))
                    for i in min(from, 99)...min(max(from, to), 99) { slices[i] += 1 }
                }
                let peak = max(1, slices.max() ?? 1)
                for (i, n) in slices.enumerated() where n > 0 {
                    bars.append(
                        "<rect class=\"bar\" data-site=\"\(h(site))\" data-state=\"running\" x=\"\(i)%\" y=\"4\" width=\"1%\" height=\"14\" fill-opacity=\"\(String(format: "%.2f", 0.25 + 0.75 * Double(n) / Double(peak)))\"><title>\(n) attempts</title></rect>"
                    )
                }
            } else {
                for (a, r) in zip(ordered, row) {
                    // Taking a free slot takes microseconds: only a real wait is drawn.
                    let queued = a.startedAt.timeIntervalSince(begin(a))
                    if queued >= RunPicture.queuedFrom {
                        let from = pct(begin(a))
                        bars.append(
                            "<rect class=\"queued\" data-queued=\"\(h(a.taskKey))#\(a.number)\" data-site=\"\(h(site))\" x=\"\(String(format: "%.3f", from))%\" y=\"\(4 + 18 * r)\" width=\"\(String(format: "%.3f", max(0.1, pct(a.startedAt) - from)))%\" height=\"14\"><title>\(h("\(a.taskKey) #\(a.number) queued \(String(format: "%.2f", queued)) s for a slot"))</title></rect>"
                        )
                    }
                    let left = pct(a.startedAt)
                    let width = max(0.2, pct(a.finishedAt ?? now) - left)
                    let took = (a.finishedAt ?? now).timeIntervalSince(a.startedAt)
                    let exit = a.exitCode.map { ", exit \($0)" } ?? ""
                    let title =
                        "\(a.taskKey) #\(a.number) on \(site)\(a.node.map { "/\($0)" } ?? ""): \(a.status.rawValue)\(exit), \(String(format: "%.2f", took)) s\(queued >= RunPicture.queuedFrom ? String(format: " (queued %.2f s before)", queued) : "")"
                    bars.append(
                        "<rect class=\"bar\" data-attempt=\"\(h(a.taskKey))#\(a.number)\" data-site=\"\(h(site))\" data-state=\"\(RunPicture.state(a.status))\" x=\"\(String(format: "%.3f", left))%\" y=\"\(4 + 18 * r)\" width=\"\(String(format: "%.3f", width))%\" height=\"14\"><title>\(h(title))</title></rect>"
                    )
                }
            }
            lanes.append(
                "<div class=\"lane\"><div class=\"site\" title=\"\(h(lane))\">\(h(lane)) (\(list.count))</div><svg class=\"track\" width=\"100%\" height=\"\(height)\">\(bars.joined())</svg></div>"
            )
        }
        return
            "<div class=\"gantt\">\(lanes.joined())</div><p class=\"hint\">\(attempts.count) attempts over \(String(format: "%.2f", span)) s\(attempts.count > RunPicture.gatherAbove ? " (gathered: darker is busier)" : "")</p>"
    }
}

/// HTML-escapes a text.
func h(_ s: String) -> String { HTMLPage.escape(s) }

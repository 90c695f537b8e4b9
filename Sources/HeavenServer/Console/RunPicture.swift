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

    /// A task instance's state, in the API's words: its latest attempt's status
    /// (`running`, `succeeded`, `failed`, `timed-out`, `cancelled`, `lost`), or
    /// `waiting` and `pending` before one runs.
    func state(_ key: String) -> String {
        if waiting[key] != nil { return "waiting" }
        guard let a = latest[key] else { return "pending" }
        return a.status.rawValue
    }

    /// Why an attempt did not succeed, in a few words (nil when it succeeded or runs).
    static func reason(_ a: AttemptRecord) -> String? {
        switch a.status {
        case .running, .succeeded: return nil
        case .failed, .timedOut, .cancelled, .lost:
            // A tenant's words (the last line its task wrote): no control or direction
            // characters, which could make it read as something else.
            if let e = a.error.map(RunPicture.printable), !e.isEmpty { return e }
            if let signal = a.signal { return "killed by signal \(signal)" }
            return a.exitCode.map { "exit status \($0)" } ?? a.status.rawValue
        }
    }

    /// A text without control characters nor Unicode's format ones (bidirectional
    /// overrides and isolates, zero-width characters).
    static func printable(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.filter { s in
                    s.properties.generalCategory != .control && s.properties.generalCategory != .format
                }))
    }

    /// The states a group of instances is counted by, the worst first.
    static let tallied = ["failed", "timed-out", "lost", "cancelled", "running", "waiting", "succeeded", "pending"]

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
                    : """
                    <div class=\"branch\"><div \
                    class=\"label\">else</div>\(steps(c.otherwise, prefix, in: workflow))</div>
                    """)
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
        var why = ""
        if let a = latest[key] {
            title += " · attempt \(a.number) · \(a.status.rawValue)" + (a.site.map { " on \($0)" } ?? "")
            link =
                """
                <a \
                href=\"/console/runs/\(h(runID))/logs/\(h(RunRoutes.pathSegment(RunLayout.flat(key))))\
                ?attempt=\(a.number)\">log</a>
                """
            if s != "waiting", let reason = RunPicture.reason(a) {
                title += ": \(reason)"
                why = "<span class=\"why\">\(h(reason))</span>"
            }
        }
        return
            """
            <div class=\"task\" data-task=\"\(h(key))\" data-state=\"\(s)\" title=\"\(h(title))\"><span \
            class=\"n\">\(h(name))</span>\(link)\(why)</div>
            """
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
            // An instance counts as the worst state of its tasks (all succeeded: succeeded).
            for keys in seen.values {
                let states = Set(keys.map(state))
                let s =
                    states == ["succeeded"]
                    ? "succeeded" : RunPicture.tallied.first { $0 != "succeeded" && states.contains($0) } ?? "pending"
                tally[s, default: 0] += 1
            }
            let overall =
                tally.keys.allSatisfy { $0 == "succeeded" }
                ? "succeeded" : RunPicture.tallied.first { $0 != "succeeded" && tally[$0] != nil } ?? "pending"
            let counts = RunPicture.tallied.compactMap { s in
                tally[s].map { "<span data-state=\"\(s)\">\($0) \(s)</span>" }
            }.joined()
            let name = String(head.dropLast())
            return
                """
                <div class=\"group \(kind)\" data-task=\"\(h(head))*\" data-state=\"\(overall)\"><div \
                class=\"label\">\(h(label)) · \(numbers.count) \
                \(kind == "loop" ? "iterations" : "items")</div><div class=\"tally\">\(counts)</div><a \
                href=\"?expand=\(h(RunRoutes.pathSegment(name)))\">expand</a></div>
                """
        }
        let boxes = (numbers.isEmpty ? [] : numbers).map { i in
            """
            <div class=\"box\"><div \
            class=\"label\">\(h(String(head.dropLast())))\(head.last.map(String.init) ?? "")\(i)</div>\
            \(body(head + "\(i)/"))</div>
            """
        }
        return
            """
            <div class=\"box \(kind)\"><div \
            class=\"label\">\(h(label))\(numbers.isEmpty ? " · no items yet" : "")</div><div \
            class=\"par\">\(boxes.joined())</div></div>
            """
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
                        """
                        <rect class=\"bar\" data-site=\"\(h(site))\" data-state=\"running\" x=\"\(i)%\" y=\"4\" \
                        width=\"1%\" height=\"14\" \
                        fill-opacity=\"\(String(format: "%.2f", 0.25 + 0.75 * Double(n) / Double(peak)))\"><title>\(n) \
                        attempts</title></rect>
                        """
                    )
                }
            } else {
                for (a, r) in zip(ordered, row) {
                    // Taking a free slot takes microseconds: only a real wait is drawn.
                    let queued = a.startedAt.timeIntervalSince(begin(a))
                    if queued >= RunPicture.queuedFrom {
                        let from = pct(begin(a))
                        bars.append(
                            """
                            <rect class=\"queued\" data-queued=\"\(h(a.taskKey))#\(a.number)\" \
                            data-site=\"\(h(site))\" x=\"\(String(format: "%.3f", from))%\" y=\"\(4 + 18 * r)\" \
                            width=\"\(String(format: "%.3f", max(0.1, pct(a.startedAt) - from)))%\" \
                            height=\"14\"><title>\
                            \(h("\(a.taskKey) #\(a.number) queued \(String(format: "%.2f", queued)) s for a slot"))\
                            </title></rect>
                            """
                        )
                    }
                    let left = pct(a.startedAt)
                    let width = max(0.2, pct(a.finishedAt ?? now) - left)
                    let took = (a.finishedAt ?? now).timeIntervalSince(a.startedAt)
                    let exit = RunPicture.reason(a).map { ", \($0)" } ?? ""
                    let title =
                        """
                        \(a.taskKey) #\(a.number) on \(site)\(a.node.map { "/\($0)" } ?? ""): \
                        \(a.status.rawValue)\(exit), \(String(format: "%.2f", took)) \
                        s\(queued >= RunPicture.queuedFrom ? String(format: " (queued %.2f s before)", queued) : "")
                        """
                    bars.append(
                        """
                        <rect class=\"bar\" data-attempt=\"\(h(a.taskKey))#\(a.number)\" data-site=\"\(h(site))\" \
                        data-state=\"\(a.status.rawValue)\" x=\"\(String(format: "%.3f", left))%\" \
                        y=\"\(4 + 18 * r)\" width=\"\(String(format: "%.3f", width))%\" \
                        height=\"14\"><title>\(h(title))</title></rect>
                        """
                    )
                }
            }
            lanes.append(
                """
                <div class=\"lane\"><div class=\"site\" title=\"\(h(lane))\">\(h(lane)) (\(list.count))</div><svg \
                class=\"track\" width=\"100%\" height=\"\(height)\">\(bars.joined())</svg></div>
                """
            )
        }
        let start = RunPicture.clock.string(from: first)
        return
            """
            <div class=\"gantt\">\(lanes.joined())\(RunPicture.axis(span: span))</div><p \
            class=\"hint\">\(attempts.count) attempts over \(String(format: "%.2f", span)) s from \(start) UTC \
            (the axis: time since \
            then)\(attempts.count > RunPicture.gatherAbove ? " (gathered: darker is busier)" : "")</p>
            """
    }

    /// The clock time the axis starts at.
    static let clock: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f
    }()

    /// The ticks of a time axis over `span` seconds: a round step (1, 2 or 5 times a
    /// power of ten, or whole minutes) giving at most 8 intervals, from 0.
    static func ticks(span: Double) -> (step: Double, marks: [Double]) {
        let rough = max(span, 0.001) / 8
        let power = pow(10, floor(log10(rough)))
        var step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= rough } ?? 10 * power
        if step >= 60 {
            step = [60.0, 120, 300, 600, 1200, 1800, 3600, 7200].first { $0 >= rough } ?? 3600 * ceil(rough / 3600)
        }
        let count = Int((span / step).rounded(.down))
        return (step, (0...max(0, count)).map { Double($0) * step })
    }

    /// A tick's label: seconds (with the step's decimals), or minutes past a minute.
    static func tickLabel(_ t: Double, step: Double) -> String {
        if t == 0 { return "0 s" }
        if step >= 60 {
            let m = Int((t / 60).rounded())
            return m >= 60 ? String(format: "%d h %02d", m / 60, m % 60) : "\(m) min"
        }
        let decimals = step >= 1 ? 0 : min(3, Int(ceil(-log10(step))))
        return String(format: "%.\(decimals)f s", t)
    }

    /// The Gantt chart's time axis, a lane of its own under the sites'.
    static func axis(span: Double) -> String {
        let (step, marks) = ticks(span: span)
        let labels = marks.map { t -> String in
            let x = span > 0 ? t / span * 100 : 0
            let anchor = x > 97 ? "end" : x < 1 ? "start" : "middle"
            return
                """
                <line class=\"tick\" x1=\"\(String(format: "%.3f", x))%\" x2=\"\(String(format: "%.3f", x))%\" \
                y1=\"0\" y2=\"5\"/><text data-tick=\"\(String(format: "%g", t))\" \
                x=\"\(String(format: "%.3f", x))%\" y=\"16\" \
                text-anchor=\"\(anchor)\">\(tickLabel(t, step: step))</text>
                """
        }
        return
            """
            <div class=\"lane axis\"><div class=\"site\">since start</div><svg class=\"track\" width=\"100%\" \
            height=\"20\">\(labels.joined())</svg></div>
            """
    }
}

/// HTML-escapes a text.
func h(_ s: String) -> String { HTMLPage.escape(s) }

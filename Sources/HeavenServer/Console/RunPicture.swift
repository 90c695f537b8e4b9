import Foundation
import HeavenCore
import HeavenEngine
import HeavenModel
import Mustache

/// What the console draws of a run: its workflow as a graph of task nodes coloured by
/// state (foreach and loop instances collapsed into a group with counts when many), and
/// its attempts as a Gantt chart by site; drawn from a `RunSight` (which keeps the
/// counts), as views the templates render.
struct RunPicture {
    let runID: String
    let attempts: [AttemptSummary]
    let packed: Packed
    /// The latest attempt of each task instance (an index in `attempts`), by key.
    let latest: [String: Int]
    /// While the run goes on: the last `waiting` or `retry` event of each task instance.
    let waits: [String: (since: Date, why: String)]
    let tally: RunTally
    /// Group prefixes (`tiles#`) whose instances are listed one by one.
    let expanded: Set<String>
    /// In an expanded group of more than `pageSize` instances: the first one shown.
    let from: Int

    /// An expanded group shows its instances this many at a time (`?from=N` for the
    /// others): a page of 10,000 nodes is megabytes nobody reads, and seconds to draw.
    static let pageSize = 500
    /// More instances than this in a foreach or loop: one group node until expanded.
    static let collapseAbove = 12
    /// A shorter wait for a slot than this is not drawn.
    static let queuedFrom: TimeInterval = 0.002
    /// More attempts than this: the Gantt chart aggregates them by site.
    static let gatherAbove = 2000

    init(
        runID: String, attempts: [AttemptSummary], packed: Packed, latest: [String: Int],
        waits: [String: (since: Date, why: String)], tally: RunTally, expanded: Set<String>, from: Int
    ) {
        (self.runID, self.attempts, self.packed, self.latest) = (runID, attempts, packed, latest)
        (self.waits, self.tally, self.expanded, self.from) = (waits, tally, expanded, max(0, from))
    }

    /// What the Gantt chart of a large run reads of its attempts, packed: when each began
    /// (queued or started), started and ended (NaN while running), in seconds since
    /// 1970, and its lane (site and node), by the attempts' order.
    struct Packed: Sendable {
        var begins: [Double] = []
        var starts: [Double] = []
        var ends: [Double] = []
        var lanes: [Int32] = []
        var laneNames: [String] = []
        var laneSites: [String] = []
        var laneNodes: [String?] = []
        var laneIndex: [String: Int32] = [:]

        mutating func append(_ a: AttemptSummary) {
            begins.append(0)
            starts.append(0)
            ends.append(0)
            lanes.append(0)
            set(begins.count - 1, a)
        }

        mutating func set(_ i: Int, _ a: AttemptSummary) {
            begins[i] = RunPicture.begin(a).timeIntervalSince1970
            starts[i] = a.startedAt.timeIntervalSince1970
            ends[i] = a.finishedAt?.timeIntervalSince1970 ?? .nan
            // Most attempts are on the lane of the one before.
            if i > 0, case let l = lanes[i - 1], laneSites[Int(l)] == (a.site ?? "(not placed)"),
                laneNodes[Int(l)] == a.node
            {
                lanes[i] = l
                return
            }
            let name = RunPicture.lane(a)
            if let l = laneIndex[name] {
                lanes[i] = l
            } else {
                lanes[i] = Int32(laneNames.count)
                laneIndex[name] = lanes[i]
                laneNames.append(name)
                laneSites.append(a.site ?? "(not placed)")
                laneNodes.append(a.node)
            }
        }
    }

    static func begin(_ a: AttemptSummary) -> Date { min(a.queuedAt ?? a.startedAt, a.startedAt) }
    static func lane(_ a: AttemptSummary) -> String {
        (a.site ?? "(not placed)") + (a.node.map { " · \($0)" } ?? "")
    }

    /// A task instance's state, in the API's words: its latest attempt's status
    /// (`running`, `succeeded`, `failed`, `timed-out`, `cancelled`, `lost`), or
    /// `waiting` and `pending` before one runs.
    func state(_ key: String) -> String {
        tally.stateOf[key].map { RunTally.states[Int($0)] } ?? "pending"
    }

    /// Why an attempt did not succeed, in a few words (nil when it succeeded or runs).
    static func reason(_ a: AttemptSummary) -> String? {
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

    func graph(_ workflow: Workflow, documents: DocumentSet) -> GraphNode {
        .seq(workflow.steps.map { node($0, in: workflow, documents: documents, prefix: "") })
    }

    func node(_ step: Step, in workflow: Workflow, documents: DocumentSet, prefix: String) -> GraphNode {
        func steps(_ list: [Step], _ prefix: String, in w: Workflow) -> [GraphNode] {
            list.map { node($0, in: w, documents: documents, prefix: prefix) }
        }
        switch step.form {
        case .task(let t):
            return task(prefix + t.name, name: t.name)
        case .sequence(let list):
            return .seq(steps(list, prefix, in: workflow))
        case .parallel(let branches), .interleave(let branches):
            var n = GraphNode()
            n.isPar = true
            let interleave = if case .interleave = step.form { true } else { false }
            n.cls = interleave ? "par interleave" : "par"
            n.title = interleave ? "interleave: one branch at a time" : "parallel"
            n.nodes = branches.map { node($0, in: workflow, documents: documents, prefix: prefix) }
            return n
        case .conditional(let c):
            var n = GraphNode()
            n.isCond = true
            n.label = "if \(c.condition.source)"
            n.then = steps(c.then, prefix, in: workflow)
            n.otherwise = steps(c.otherwise, prefix, in: workflow)
            n.hasOtherwise = !c.otherwise.isEmpty
            return n
        case .call(let call):
            let name = workflow.keyName(of: step)
            var n = GraphNode()
            n.isCall = true
            guard let callee = documents.workflow(named: call.workflow) else {
                n.label = "call \(call.workflow)"
                return n
            }
            n.label = "call \(callee.name) as \(name)"
            n.hasBody = true
            n.nodes = steps(callee.steps, prefix + name + "/", in: callee)
            return n
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

    /// One task instance's node: its key and state (the contract), a link to its log, why
    /// it did not succeed.
    func task(_ key: String, name: String) -> GraphNode {
        let s = state(key)
        var title = key
        var log = ""
        var why = ""
        if s == "waiting", let w = waits[key] { title += " · waiting: \(w.why)" }
        if let a = latest[key].map({ attempts[$0] }) {
            title += " · attempt \(a.number) · \(a.status.rawValue)" + (a.site.map { " on \($0)" } ?? "")
            log = "/console/runs/\(runID)/logs/\(RunRoutes.pathSegment(RunLayout.flat(key)))?attempt=\(a.number)"
            if s != "waiting", let reason = RunPicture.reason(a) {
                title += ": \(reason)"
                why = reason
            }
        }
        var n = GraphNode()
        n.isTask = true
        n.task = [
            GraphNode.Task(
                key: key, state: s, title: title, name: name, log: log, hasLog: !log.isEmpty, why: why,
                hasWhy: !why.isEmpty)
        ]
        return n
    }

    /// The instances of a foreach (`tiles#3/`) or a loop (`search@2/`) seen so far: one
    /// box each, or one group node with their counts by state when there are many.
    func instances(_ head: String, label: String, kind: String, body: (String) -> [GraphNode]) -> GraphNode {
        // The instances seen (attempted, or waiting), and how many are in each state.
        let seen = tally.instances[head] ?? [:]
        var n = GraphNode()
        if seen.count > RunPicture.collapseAbove && !expanded.contains(head) {
            let counts = tally.groups[head] ?? RunTally.Counts()
            let tallies = RunPicture.tallied.indices.compactMap { i in
                counts[i] > 0 ? GraphNode.Tally(state: RunPicture.tallied[i], count: Int(counts[i])) : nil
            }
            let overall =
                tallies.allSatisfy { $0.state == "succeeded" }
                ? "succeeded" : tallies.first { $0.state != "succeeded" }?.state ?? "pending"
            n.isGroup = true
            n.group = [
                GraphNode.Group(
                    kind: kind, head: head, state: overall,
                    label: "\(label) · \(seen.count) \(kind == "loop" ? "iterations" : "items")",
                    expand: RunRoutes.pathSegment(String(head.dropLast())), tallies: tallies)
            ]
            return n
        }
        let numbers = seen.keys.sorted()
        n.isInstances = true
        n.cls = kind
        n.label = label + (numbers.isEmpty ? " · no items yet" : "")
        var shown = numbers[...]
        if numbers.count > RunPicture.pageSize {
            let first = min(from, (numbers.count - 1) / RunPicture.pageSize * RunPicture.pageSize)
            shown = numbers[first..<min(first + RunPicture.pageSize, numbers.count)]
            let name = RunRoutes.pathSegment(String(head.dropLast()))
            func page(_ at: Int) -> String { "?expand=\(name)&from=\(at)" }
            n.pager = [
                GraphNode.Pager(
                    label: "\(first + 1)–\(first + shown.count) of \(numbers.count)",
                    previous: first > 0 ? page(max(0, first - RunPicture.pageSize)) : "", hasPrevious: first > 0,
                    next: page(first + RunPicture.pageSize), hasNext: first + shown.count < numbers.count)
            ]
        }
        n.boxes = shown.map { i in
            GraphNode.Box(
                label: String(head.dropLast()) + (head.last.map(String.init) ?? "") + "\(i)",
                nodes: body(head + "\(i)/"))
        }
        return n
    }

    // MARK: The Gantt chart

    /// Attempts by site: one bar each, its queued segment (the time the task waited for
    /// a slot before it) drawn lighter in front of it; retries and lost attempts as bars
    /// of their own; past `gatherAbove` attempts, each site's attempts gathered in 100
    /// slices of time.
    func gantt(now: Date = Date()) -> GanttView {
        attempts.count > RunPicture.gatherAbove ? gathered(now: now) : bars(now: now)
    }

    /// Each attempt a bar, by lane.
    func bars(now: Date) -> GanttView {
        let begin = RunPicture.begin
        guard let first = attempts.map(begin).min() else { return GanttView() }
        let last = max(attempts.map { $0.finishedAt ?? now }.max() ?? now, first.addingTimeInterval(0.001))
        let span = last.timeIntervalSince(first)
        func pct(_ d: Date) -> Double { max(0, min(100, d.timeIntervalSince(first) / span * 100)) }
        func f3(_ x: Double) -> String { String(format: "%.3f", x) }
        // A lane per site and node; attempts that overlap in time on a lane stacked in rows.
        let bySite = Dictionary(grouping: attempts, by: RunPicture.lane)
        var view = GanttView()
        view.none = false
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
            var bars: [GanttView.Bar] = []
            for (a, r) in zip(ordered, row) {
                // Taking a free slot takes microseconds: only a real wait is drawn.
                let queued = a.startedAt.timeIntervalSince(begin(a))
                let attempt = "\(a.taskKey)#\(a.number)"
                if queued >= RunPicture.queuedFrom {
                    let from = pct(begin(a))
                    var b = GanttView.Bar(
                        site: site, y: 4 + 18 * r,
                        title: "\(a.taskKey) #\(a.number) queued \(String(format: "%.2f", queued)) s for a slot")
                    b.isQueued = true
                    b.attempt = attempt
                    b.x = f3(from)
                    b.width = f3(max(0.1, pct(a.startedAt) - from))
                    bars.append(b)
                }
                let left = pct(a.startedAt)
                let took = (a.finishedAt ?? now).timeIntervalSince(a.startedAt)
                let exit = RunPicture.reason(a).map { ", \($0)" } ?? ""
                let before = queued >= RunPicture.queuedFrom ? String(format: " (queued %.2f s before)", queued) : ""
                var b = GanttView.Bar(
                    site: site, y: 4 + 18 * r,
                    title: "\(a.taskKey) #\(a.number) on \(site)\(a.node.map { "/\($0)" } ?? ""): "
                        + "\(a.status.rawValue)\(exit), \(String(format: "%.2f", took)) s\(before)")
                b.isAttempt = true
                b.attempt = attempt
                b.state = a.status.rawValue
                b.x = f3(left)
                b.width = f3(max(0.2, pct(a.finishedAt ?? now) - left))
                bars.append(b)
            }
            view.lanes.append(
                GanttView.Lane(name: lane, count: list.count, height: 4 + 18 * max(1, rows.count), bars: bars))
        }
        return RunPicture.axis(view, attempts: attempts.count, first: first, span: span, gathered: false)
    }

    /// Past `gatherAbove` attempts: each lane's attempts gathered in 100 slices of time
    /// (how many ran in each), in one pass over the packed times.
    func gathered(now: Date) -> GanttView {
        let p = packed
        let nowSeconds = now.timeIntervalSince1970
        var first = Double.infinity
        var last = -Double.infinity
        for i in p.begins.indices {
            first = min(first, p.begins[i])
            last = max(last, p.ends[i].isNaN ? nowSeconds : p.ends[i])
        }
        guard first.isFinite else { return GanttView() }
        last = max(last, first + 0.001)
        let span = last - first
        func slice(_ t: Double) -> Int { min(99, Int(max(0, min(100, (t - first) / span * 100)))) }
        // Per lane, a count at each slice an attempt begins in and one past the slice it ends in.
        var marks = [[Int]](repeating: [Int](repeating: 0, count: 101), count: p.laneNames.count)
        var counts = [Int](repeating: 0, count: p.laneNames.count)
        for i in p.starts.indices {
            let l = Int(p.lanes[i])
            let from = slice(p.starts[i])
            let to = max(from, slice(p.ends[i].isNaN ? nowSeconds : p.ends[i]))
            marks[l][from] += 1
            marks[l][to + 1] -= 1
            counts[l] += 1
        }
        var view = GanttView()
        view.none = false
        for l in p.laneNames.indices.sorted(by: { p.laneNames[$0] < p.laneNames[$1] }) where counts[l] > 0 {
            var slices = [Int](repeating: 0, count: 100)
            var running = 0
            for i in 0..<100 {
                running += marks[l][i]
                slices[i] = running
            }
            let peak = max(1, slices.max() ?? 1)
            var bars: [GanttView.Bar] = []
            for (i, n) in slices.enumerated() where n > 0 {
                var b = GanttView.Bar(site: p.laneSites[l], y: 4, title: "\(n) attempts")
                b.isSlice = true
                b.x = "\(i)"
                b.opacity = String(format: "%.2f", 0.25 + 0.75 * Double(n) / Double(peak))
                bars.append(b)
            }
            view.lanes.append(GanttView.Lane(name: p.laneNames[l], count: counts[l], height: 22, bars: bars))
        }
        return RunPicture.axis(
            view, attempts: attempts.count, first: Date(timeIntervalSince1970: first), span: span, gathered: true)
    }

    /// The chart's time axis and its summary.
    static func axis(_ view: GanttView, attempts: Int, first: Date, span: Double, gathered: Bool) -> GanttView {
        var view = view
        view.ticks = RunPicture.axis(span: span)
        let start = RunPicture.clock.string(from: first)
        view.summary =
            "\(attempts) attempts over \(String(format: "%.2f", span)) s from \(start) UTC "
            + "(the axis: time since then)\(gathered ? " (gathered: darker is busier)" : "")"
        return view
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
    static func axis(span: Double) -> [GanttView.Tick] {
        let (step, marks) = ticks(span: span)
        return marks.map { t in
            let x = span > 0 ? t / span * 100 : 0
            return GanttView.Tick(
                x: String(format: "%.3f", x), t: String(format: "%g", t), label: tickLabel(t, step: step),
                anchor: x > 97 ? "end" : x < 1 ? "start" : "middle")
        }
    }
}

/// A node of the workflow's graph, as the `node` template draws it: exactly one of its
/// flags is set. Every field is stored, none optional, so that a template never reads a
/// field of an enclosing node by mistake (Mustache looks a missing name up outward).
struct GraphNode: Sendable {
    struct Task: Sendable {
        let key: String
        let state: String
        let title: String
        let name: String
        let log: String
        let hasLog: Bool
        let why: String
        let hasWhy: Bool
    }
    struct Tally: Sendable {
        let state: String
        let count: Int
    }
    struct Group: Sendable {
        let kind: String
        let head: String
        let state: String
        let label: String
        let expand: String
        let tallies: [Tally]
    }
    struct Box: Sendable {
        let label: String
        let nodes: [GraphNode]
    }
    struct Pager: Sendable {
        let label: String
        let previous: String
        let hasPrevious: Bool
        let next: String
        let hasNext: Bool
    }
    var isTask = false
    var isSeq = false
    var isPar = false
    var isCond = false
    var isCall = false
    var isGroup = false
    var isInstances = false
    var task: [Task] = []
    var nodes: [GraphNode] = []
    var cls = ""
    var title = ""
    var label = ""
    var then: [GraphNode] = []
    var otherwise: [GraphNode] = []
    var hasOtherwise = false
    var hasBody = false
    var group: [Group] = []
    var boxes: [Box] = []
    var pager: [Pager] = []

    static func seq(_ nodes: [GraphNode]) -> GraphNode {
        var n = GraphNode()
        n.isSeq = true
        n.nodes = nodes
        return n
    }
}

/// The Gantt chart, as the `gantt` template draws it.
struct GanttView: Sendable {
    struct Bar: Sendable {
        var isSlice = false
        var isQueued = false
        var isAttempt = false
        let site: String
        var attempt = ""
        var state = ""
        var x = "0"
        let y: Int
        var width = "1"
        var opacity = "1"
        let title: String

        init(site: String, y: Int, title: String) {
            (self.site, self.y, self.title) = (site, y, title)
        }
    }
    struct Lane: Sendable {
        let name: String
        let count: Int
        let height: Int
        let bars: [Bar]
    }
    struct Tick: Sendable {
        let x: String
        let t: String
        let label: String
        let anchor: String
    }
    var none = true
    var lanes: [Lane] = []
    var ticks: [Tick] = []
    var summary = ""
}

// Read by name, not by Mirror: a run's page holds thousands of nodes and bars, and
// reflection per lookup made an expanded 10,000-task graph 14 times slower.
extension GraphNode: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "isTask": isTask
        case "isSeq": isSeq
        case "isPar": isPar
        case "isCond": isCond
        case "isCall": isCall
        case "isGroup": isGroup
        case "isInstances": isInstances
        case "task": task
        case "nodes": nodes
        case "cls": cls
        case "title": title
        case "label": label
        case "then": then
        case "otherwise": otherwise
        case "hasOtherwise": hasOtherwise
        case "hasBody": hasBody
        case "group": group
        case "boxes": boxes
        case "pager": pager
        default: nil
        }
    }
}

extension GraphNode.Task: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "key": key
        case "state": state
        case "title": title
        case "name": self.name
        case "log": log
        case "hasLog": hasLog
        case "why": why
        case "hasWhy": hasWhy
        default: nil
        }
    }
}

extension GraphNode.Box: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "label": label
        case "nodes": nodes
        default: nil
        }
    }
}

extension GanttView.Bar: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "isSlice": isSlice
        case "isQueued": isQueued
        case "isAttempt": isAttempt
        case "site": site
        case "attempt": attempt
        case "state": state
        case "x": x
        case "y": y
        case "width": width
        case "opacity": opacity
        case "title": title
        default: nil
        }
    }
}

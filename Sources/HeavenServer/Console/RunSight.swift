import Foundation
import HeavenCore
import HeavenModel
import Synchronization

/// A run as its console page sees it, followed: each look reads only what changed
/// since the last one (the attempts recorded since and those that were running,
/// `RunStore.attemptChanges`; the events after the last one read), and keeps the
/// counts the page draws up to date by what changed (`RunTally`). A page of a run of
/// 100,000 tasks, and each live refresh of it, thus costs what changed, not the run —
/// but for the first look of this process at the run, which reads it whole.
actor RunSight {
    let runID: String
    /// The largest attempt id read, and the attempts read running (id → index).
    private var lastAttempt: Int64 = 0
    private var running: [Int64: Int] = [:]
    private var lastEvent: Int64 = 0
    /// Every attempt, in the order read; packed beside them what the Gantt chart of a
    /// large run reads (seconds since 1970; `ends` is NaN while running), and its lane.
    private(set) var attempts: [AttemptSummary] = []
    private var packed = RunPicture.Packed()
    /// The latest attempt of each task instance (an index in `attempts`), by key.
    private var latest: [String: Int] = [:]
    /// The last `waiting` or `retry` event of each task instance that had one.
    private var waits: [String: (since: Date, why: String)] = [:]
    /// Whether the run goes on (what waits counts only then).
    private var live = true
    private(set) var tally = RunTally()
    /// The look under way: looks are made one after the other.
    private var looking: Task<Void, any Error>?

    init(runID: String) { self.runID = runID }

    /// How many attempts this sight holds (what it costs to keep).
    var size: Int { attempts.count }

    /// Whether a look read the run whole, and whether the last saw it ended with nothing
    /// running (then nothing can change but a resume, which the run's status tells).
    private var looked = false
    private var settled = false

    /// Brings the sight up to what the store holds now.
    func look(_ runs: any RunStore) async throws {
        let before = looking
        let task = Task {
            _ = try? await before?.value
            try await self.read(runs)
        }
        looking = task
        try await task.value
    }

    private func read(_ runs: any RunStore) async throws {
        // Ended or not as the store says now: looks are made in order, so a look does not
        // take a run back to going on because its caller read the run earlier.
        let final = try await runs.run(runID)?.status.isFinal ?? true
        if final, settled { return }
        let changes = try await runs.attemptChanges(run: runID, after: lastAttempt, running: Array(running.keys))
        // What waits is told by events, read only while the run goes on.
        let events = final ? [] : try await runs.events(run: runID, after: lastEvent, limit: 100_000)
        // The first look reads the whole run: every key is then looked at once, after.
        let whole = !looked
        looked = true
        var touched: Set<String> = []
        for a in changes {
            let i: Int
            if let at = running[a.id] {
                i = at
                attempts[i] = a
                packed.set(i, a)
                if a.status != .running { running[a.id] = nil }
            } else {
                i = attempts.count
                attempts.append(a)
                packed.append(a)
                if a.status == .running { running[a.id] = i }
            }
            lastAttempt = max(lastAttempt, a.id)
            // One lookup: the latest by number (an earlier attempt read later stays behind).
            if let j = latest.updateValue(i, forKey: a.taskKey), attempts[j].number > a.number {
                latest[a.taskKey] = j
            }
            if !whole { touched.insert(a.taskKey) }
        }
        for e in events {
            lastEvent = max(lastEvent, e.id ?? 0)
            guard e.kind == .waiting || e.kind == .retry, let key = e.taskKey else { continue }
            waits[key] = (e.time, e.message)
            touched.insert(key)
        }
        if live == final {
            live = !final
            touched.formUnion(waits.keys)
        }
        if whole {
            // Every task instance attempted, and those that only wait so far.
            let keys = Array(latest.keys) + waits.keys.filter { latest[$0] == nil }
            tally = RunTally(keys.lazy.map { key in (key, self.state(of: key)) })
        }
        for key in touched { tally.restate(key, to: state(of: key)) }
        settled = final && running.isEmpty
    }

    /// A task instance's state: waiting (while the run goes on, since a `waiting` or
    /// `retry` event no attempt started after), its latest attempt's status, or absent.
    private func state(of key: String) -> UInt8 {
        let i = latest[key]
        if live, !waits.isEmpty, let w = waits[key],
            !(i.map { attempts[$0].status == .running || attempts[$0].startedAt >= w.since } ?? false)
        {
            return RunTally.waiting
        }
        guard let i else { return RunTally.absent }
        return RunTally.index(of: attempts[i].status)
    }

    /// The run's graph (its workflow, when its documents could be read) and Gantt chart.
    func draw(
        _ workflow: Workflow?, documents: DocumentSet?, expanded: Set<String>, from: Int, now: Date = Date()
    ) -> (graph: GraphNode?, gantt: GanttView) {
        let picture = RunPicture(
            runID: runID, attempts: attempts, packed: packed, latest: latest, waits: live ? waits : [:], tally: tally,
            expanded: expanded, from: from)
        var graph: GraphNode?
        if let workflow, let documents { graph = picture.graph(workflow, documents: documents) }
        return (graph, picture.gantt(now: now))
    }
}

/// The sights of the runs looked at lately, kept while they hold together at most
/// `capacity` attempts and number at most `count` (the least recently looked at let go
/// first). A run larger than `capacity` is looked at whole each time, and not kept: it
/// never makes the others go.
final class RunSights: Sendable {
    let capacity: Int
    let count: Int
    private let kept = Mutex<(sights: [String: (sight: RunSight, size: Int, used: UInt64)], clock: UInt64)>(([:], 0))

    init(capacity: Int = 500_000, count: Int = 256) {
        (self.capacity, self.count) = (capacity, count)
    }

    /// Run `id`'s sight brought up to date.
    func look(_ id: String, runs: any RunStore) async throws -> RunSight {
        let sight = kept.withLock { k in
            k.clock += 1
            if let s = k.sights[id] {
                k.sights[id]?.used = k.clock
                return s.sight
            }
            return RunSight(runID: id)
        }
        try await sight.look(runs)
        let size = await sight.size
        kept.withLock { k in
            if size > capacity {
                if k.sights[id]?.sight === sight { k.sights[id] = nil }
                return
            }
            if let s = k.sights[id] {
                guard s.sight === sight else { return }  // another look kept another meanwhile
                k.sights[id]?.size = size
            } else {
                k.sights[id] = (sight, size, k.clock)
            }
            var total = k.sights.values.reduce(0) { $0 + $1.size }
            guard total > capacity || k.sights.count > count else { return }
            // Let go of the least recently looked at (never this one) until the rest fits.
            for (other, s) in k.sights.sorted(by: { $0.value.used < $1.value.used }) where other != id {
                if total <= capacity && k.sights.count <= count { break }
                k.sights[other] = nil
                total -= s.size
            }
        }
        return sight
    }
}

/// The counts a run's graph draws, kept by what changed: the state of each task
/// instance, and for each foreach or loop (its head: `tiles#`, `outer#3/search@`) the
/// states of its tasks in each of its instances, and how many instances are in each
/// state (an instance counts as the worst state of its tasks; all succeeded: succeeded).
struct RunTally: Sendable {
    /// The states counted, the worst first (`RunPicture.tallied`), by index.
    static let states = RunPicture.tallied
    static let absent: UInt8 = .max
    static func index(_ state: String) -> UInt8 {
        UInt8(states.firstIndex(of: state) ?? states.count - 1)
    }
    static let succeeded = Int(index("succeeded"))
    static let waiting = index("waiting")
    /// An attempt status's index, without comparing strings.
    static func index(of status: AttemptStatus) -> UInt8 {
        switch status {
        case .running: byStatus.running
        case .succeeded: byStatus.succeeded
        case .failed: byStatus.failed
        case .timedOut: byStatus.timedOut
        case .cancelled: byStatus.cancelled
        case .lost: byStatus.lost
        }
    }
    private static let byStatus = (
        running: index("running"), succeeded: index("succeeded"), failed: index("failed"),
        timedOut: index("timed-out"), cancelled: index("cancelled"), lost: index("lost")
    )

    typealias Counts = SIMD8<Int32>
    private(set) var stateOf: [String: UInt8] = [:]
    /// Head → instance number → how many of its tasks are in each state.
    private(set) var instances: [String: [Int: Counts]] = [:]
    /// Head → how many of its instances are in each state.
    private(set) var groups: [String: Counts] = [:]

    /// The state an instance counts as, from its tasks' counts (nil: no task).
    static func worst(_ c: Counts) -> Int? {
        let total = c.wrappedSum()
        if total == 0 { return nil }
        if c[succeeded] == total { return succeeded }
        return (0..<states.count).first { $0 != succeeded && c[$0] > 0 }
    }

    init() {}

    /// The tally of every task instance at once (a first look at a run): each key's
    /// instances counted in a dictionary kept while the head stays the same (most keys
    /// of a run are in the same foreach), the groups counted once at the end.
    init(_ states: some Sequence<(String, UInt8)>) {
        var head = ""
        var current: [Int: Counts] = [:]
        for (key, state) in states where state != RunTally.absent {
            stateOf[key] = state
            RunTally.forEachInstance(of: key) { h, n in
                if h != head {
                    if !head.isEmpty { instances[head] = current }
                    head = h
                    current = instances.removeValue(forKey: h) ?? [:]
                }
                current[n, default: Counts()][Int(state)] += 1
            }
        }
        if !head.isEmpty { instances[head] = current }
        for (h, numbers) in instances {
            var c = Counts()
            for counts in numbers.values { if let w = RunTally.worst(counts) { c[w] += 1 } }
            groups[h] = c
        }
    }

    /// Task instance `key` is now in state `new` (an index, or `absent`).
    mutating func restate(_ key: String, to new: UInt8) {
        let old = stateOf[key] ?? RunTally.absent
        if old == new { return }
        stateOf[key] = new == RunTally.absent ? nil : new
        RunTally.forEachInstance(of: key) { head, n in
            let before = instances[head]?[n] ?? Counts()
            var after = before
            if old != RunTally.absent { after[Int(old)] -= 1 }
            if new != RunTally.absent { after[Int(new)] += 1 }
            if after == Counts() {
                instances[head]?[n] = nil
            } else {
                instances[head, default: [:]][n] = after
            }
            let (was, now) = (RunTally.worst(before), RunTally.worst(after))
            if was == now { return }
            if let was { groups[head, default: Counts()][was] -= 1 }
            if let now { groups[head, default: Counts()][now] += 1 }
        }
    }

    /// Calls `body` with each instance a task key is in: each `#N/` (a foreach's item) or
    /// `@N/` (a loop's iteration) in it, as the head before N and N (`a#3/b@2/t`: `a#` 3,
    /// `a#3/b@` 2), allocating nothing but the heads.
    static func forEachInstance(of key: String, _ body: (String, Int) -> Void) {
        var key = key
        key.withUTF8 { bytes in
            var i = 0
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "#") || b == UInt8(ascii: "@") {
                    var j = i + 1
                    var n = 0
                    while j < bytes.count, bytes[j] >= UInt8(ascii: "0"), bytes[j] <= UInt8(ascii: "9"), j - i < 19 {
                        n = n * 10 + Int(bytes[j] - UInt8(ascii: "0"))
                        j += 1
                    }
                    if j > i + 1, j < bytes.count, bytes[j] == UInt8(ascii: "/") {
                        body(String(decoding: UnsafeBufferPointer(rebasing: bytes[...i]), as: UTF8.self), n)
                        i = j
                        continue
                    }
                }
                i += 1
            }
        }
    }
}

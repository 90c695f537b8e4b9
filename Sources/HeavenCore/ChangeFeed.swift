import Dispatch
import Synchronization

/// What a store's change wakes: those who wait for it instead of asking again and again.
public enum StoreChange: Sendable, Hashable {
    /// An event of the run was recorded.
    case events(run: String)
    /// A run's cancellation was requested.
    case cancel(run: String)
    /// An attempt ended, so a node or grant may have room again.
    case capacity
    /// A site was reported down or up.
    case sites
    /// A run was created, or its record changed (its status, its cancel flag).
    case runs
    /// One of the run's attempts started or ended.
    case attempts(run: String)
}

/// A store that wakes those waiting for its changes. Each topic has a generation,
/// raised by every committed change: read it, look at the state, then wait for a
/// generation past it (no change between the look and the wait is missed).
public protocol ChangeObserving: Sendable {
    /// How many changes of `topic` were committed (by this process) since the store opened.
    func generation(of topic: StoreChange) -> UInt64
    /// Returns once `topic`'s generation is past `generation`, or after `timeout`. Changes
    /// committed by other processes sharing the store are seen when the implementation
    /// can (a PostgreSQL store's notifications); otherwise the timeout bounds how late
    /// they are noticed.
    func waitForChange(of topic: StoreChange, after generation: UInt64, timeout: Duration) async
    /// Returns once one of the topics' generation is past the one given for it, or after
    /// `timeout` (as `waitForChange(of:after:timeout:)`).
    func waitForChange(of seen: [StoreChange: UInt64], timeout: Duration) async
}

/// The feed of a store's changes: what a store implementation calls `notify` on
/// after each commit, and forwards `ChangeObserving` to.
public typealias ChangeFeed = TopicFeed<StoreChange>

/// Generations and waiters of topics. A wait costs no task and no timer of its own:
/// waiters are woken by the change they wait for, by their task's cancellation, or at
/// their deadline by the feed's one timer (a dispatch timer set for the earliest
/// deadline of all its waiters).
public final class TopicFeed<Topic: Hashable & Sendable>: Sendable {
    private struct Waiter {
        let topics: [Topic]
        let deadline: DispatchTime
        let continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var generations: [Topic: UInt64] = [:]
        var waiting: [Topic: Set<UInt64>] = [:]
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiter: UInt64 = 0
        /// The deadline the timer is set for, if any.
        var armed: DispatchTime?

        /// Removes a waiter from every topic it waits for; its continuation, if it still waited.
        mutating func remove(_ id: UInt64) -> CheckedContinuation<Void, Never>? {
            guard let w = waiters.removeValue(forKey: id) else { return nil }
            for t in w.topics {
                waiting[t]?.remove(id)
                if waiting[t]?.isEmpty == true { waiting[t] = nil }
            }
            return w.continuation
        }
    }

    private let state = Mutex(State())
    private let timer: Timer

    /// The feed's one timer (a dispatch source: rescheduled from any thread).
    private final class Timer: @unchecked Sendable {
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "heaven.feed.timer"))
        func set(_ deadline: DispatchTime) { source.schedule(deadline: deadline, leeway: .milliseconds(1)) }
        deinit { source.cancel() }
    }

    /// An empty feed.
    public init() {
        timer = Timer()
        timer.source.setEventHandler { [weak self] in self?.expire() }
        timer.source.activate()
    }

    /// The generation of `topic`.
    public func generation(of topic: Topic) -> UInt64 { state.withLock { $0.generations[topic] ?? 0 } }

    /// Records a change of `topic` and wakes its waiters.
    public func notify(_ topic: Topic) {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.generations[topic, default: 0] += 1
            guard let ids = s.waiting.removeValue(forKey: topic) else { return [] }
            return ids.compactMap { s.remove($0) }
        }
        for c in woken { c.resume() }
    }

    /// Returns once `topic`'s generation is past `generation`, after `timeout`, or when
    /// the waiting task is cancelled.
    public func wait(for topic: Topic, after generation: UInt64, timeout: Duration) async {
        await wait(for: [topic: generation], timeout: timeout)
    }

    /// Returns once one of the topics' generation is past the one given for it, after
    /// `timeout`, or when the waiting task is cancelled.
    public func wait(for seen: [Topic: UInt64], timeout: Duration) async {
        let deadline = DispatchTime.now() + TopicFeed.interval(timeout)
        let id = state.withLock { s in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if seen.contains(where: { (s.generations[$0.key] ?? 0) > $0.value }) || Task.isCancelled {
                        return true
                    }
                    s.waiters[id] = Waiter(topics: Array(seen.keys), deadline: deadline, continuation: c)
                    for t in seen.keys { s.waiting[t, default: []].insert(id) }
                    if s.armed.map({ deadline < $0 }) ?? true {
                        s.armed = deadline
                        timer.set(deadline)
                    }
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { $0.remove(id) }
            c?.resume()
        }
    }

    /// The timer fired: wakes the waiters whose deadline passed, and sets it for the next.
    private func expire() {
        let now = DispatchTime.now()
        let due = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            var due: [CheckedContinuation<Void, Never>] = []
            var next: DispatchTime?
            for (id, w) in s.waiters {
                if w.deadline <= now {
                    if let c = s.remove(id) { due.append(c) }
                } else if next.map({ w.deadline < $0 }) ?? true {
                    next = w.deadline
                }
            }
            s.armed = next
            if let next { timer.set(next) }
            return due
        }
        for c in due { c.resume() }
    }

    /// A duration as dispatch's, at most a day (a longer wait is woken by its change).
    static func interval(_ d: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = d.components
        if seconds >= 86_400 { return .seconds(86_400) }
        if seconds < 0 { return .nanoseconds(0) }
        return .nanoseconds(Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000))
    }
}

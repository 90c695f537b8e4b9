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
}

/// Generations and waiters of a store's topics: what a store implementation calls
/// `notify` on after each commit, and forwards `ChangeObserving` to.
public final class ChangeFeed: Sendable {
    private struct State {
        var generations: [StoreChange: UInt64] = [:]
        var waiters: [StoreChange: [UInt64: (after: UInt64, continuation: CheckedContinuation<Void, Never>)]] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    /// An empty feed.
    public init() {}

    /// The generation of `topic`.
    public func generation(of topic: StoreChange) -> UInt64 { state.withLock { $0.generations[topic] ?? 0 } }

    /// Records a change of `topic` and wakes its waiters.
    public func notify(_ topic: StoreChange) {
        let woken = state.withLock { s in
            s.generations[topic, default: 0] += 1
            return s.waiters.removeValue(forKey: topic).map { Array($0.values) } ?? []
        }
        for w in woken { w.continuation.resume() }
    }

    /// Returns once `topic`'s generation is past `generation`, after `timeout`, or when
    /// the waiting task is cancelled.
    public func wait(for topic: StoreChange, after generation: UInt64, timeout: Duration) async {
        let id = state.withLock { s in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.wake(topic, id)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if (s.generations[topic] ?? 0) > generation || Task.isCancelled { return true }
                    s.waiters[topic, default: [:]][id] = (generation, c)
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            self.wake(topic, id)
        }
        timer.cancel()
    }

    /// Wakes one waiter, if it still waits (whoever removes it resumes it: once).
    private func wake(_ topic: StoreChange, _ id: UInt64) {
        let w = state.withLock { $0.waiters[topic]?.removeValue(forKey: id) }
        w?.continuation.resume()
    }
}

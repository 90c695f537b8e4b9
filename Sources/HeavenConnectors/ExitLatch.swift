import Synchronization

/// How a task ended, set once, awaited by any number of waiters (those that come
/// after it is set get it at once).
final class ExitLatch: Sendable {
    private struct State {
        var exit: TaskExit?
        var waiters: [CheckedContinuation<TaskExit, Never>] = []
    }

    private let state = Mutex(State())

    /// The exit, once set.
    var value: TaskExit? { state.withLock { $0.exit } }

    /// Sets the exit and wakes every waiter; false (and nothing changes) when it was set already.
    @discardableResult
    func set(_ exit: TaskExit) -> Bool {
        let waiters = state.withLock { s -> [CheckedContinuation<TaskExit, Never>]? in
            guard s.exit == nil else { return nil }
            s.exit = exit
            defer { s.waiters = [] }
            return s.waiters
        }
        guard let waiters else { return false }
        for w in waiters { w.resume(returning: exit) }
        return true
    }

    func wait() async -> TaskExit {
        await withCheckedContinuation { (c: CheckedContinuation<TaskExit, Never>) in
            let done = state.withLock { s -> TaskExit? in
                if let e = s.exit { return e }
                s.waiters.append(c)
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }
}

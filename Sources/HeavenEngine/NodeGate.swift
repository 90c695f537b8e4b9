import HeavenCore
import Synchronization

/// Admission to the nodes that the runs of one engine share (a server's tenants on its
/// own machine, above all). Each run's `SlotPool` keeps its own machines within their
/// size; what a node holds across runs is decided by the store when an attempt starts
/// (`Store.startAttempt(_:checking:)`, which also counts other processes). Without a
/// gate, the runs of one process would learn that a node is full only from the store's
/// refusals, and every end of an attempt would wake all of them to ask again: with
/// hundreds of jobs queued on a server's two cores, that is hundreds of refused write
/// transactions per task. The gate queues them instead, first come first served, and
/// lets one in when what it needs is free in this process; the store's check then
/// refuses only for work of other processes.
///
/// A ticket is taken before a checked start and given back when the store stops
/// counting the attempt: at its end, unless its capacity passes to the next attempt of
/// the same run (then the difference is given back; a capacity parked for the run's next
/// attempt and not taken over in its moment is given back then), or when the start is
/// refused or fails.
final class NodeGate: Sendable {
    private struct Waiter {
        var id: UInt64
        var run: String
        var cores: Int
        var memory: Double
        var limits: CapacityLimits
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Node {
        var cores = 0
        var memory = 0.0
        /// In order of arrival; the first is always the next in.
        var waiters: [Waiter] = []
    }

    private struct State {
        var nodes: [String: Node] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Whether `cores` and `memory` fit beside what the node holds (a node holding
    /// nothing lets anything in: the store then says why it cannot start).
    private static func fits(_ n: Node, cores: Int, memory: Double, _ limits: CapacityLimits) -> Bool {
        if n.cores == 0 && n.memory == 0 { return true }
        if n.cores + cores > limits.nodeCores { return false }
        if let m = limits.nodeMemory, n.memory + memory > m { return false }
        return true
    }

    /// Waits until the node has room for `cores` and `memory` within this engine, behind
    /// those that came first. Throws (and holds nothing) when the run stops meanwhile:
    /// `stopped` is read under the gate's lock, and `abandon(run:)` is called after a
    /// stop is set, so a stop is never missed.
    func enter(
        run: String, node: String, cores: Int, memory: Double, limits: CapacityLimits,
        stopped: () -> String?
    ) async throws {
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { s -> Result<Void, any Error>? in
                    if let reason = stopped() { return .failure(EngineError.stopped(reason)) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    var n = s.nodes[node] ?? Node()
                    defer { s.nodes[node] = n }
                    if n.waiters.isEmpty, NodeGate.fits(n, cores: cores, memory: memory, limits) {
                        n.cores += cores
                        n.memory += memory
                        return .success(())
                    }
                    n.waiters.append(
                        Waiter(id: id, run: run, cores: cores, memory: memory, limits: limits, continuation: c))
                    return nil
                }
                if let outcome { c.resume(with: outcome) }
            }
        } onCancel: {
            remove {
                $0.id == id
            } with: {
                CancellationError()
            }
        }
    }

    /// Gives back what an attempt held on a node (or the part of it the next attempt of
    /// its run did not take over), letting in those waiting that now fit.
    func leave(node: String, cores: Int, memory: Double) {
        let admitted = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            guard var n = s.nodes[node] else { return [] }
            n.cores = max(0, n.cores - cores)
            n.memory = max(0, n.memory - memory)
            if n.cores == 0 { n.memory = 0 }
            let admitted = NodeGate.admit(&n)
            s.nodes[node] = n.cores == 0 && n.waiters.isEmpty ? nil : n
            return admitted
        }
        for c in admitted { c.resume() }
    }

    /// The runs waiting for `node`, in the order they will be let in (for tests, and a
    /// status that says who waits for what).
    func queued(on node: String) -> [String] { state.withLock { $0.nodes[node]?.waiters.map(\.run) ?? [] } }

    /// Whether a run waits for `node`.
    func isQueued(on node: String) -> Bool { state.withLock { $0.nodes[node]?.waiters.isEmpty == false } }

    /// What this engine's runs hold on `node` now: cores and memory.
    func held(on node: String) -> (cores: Int, memory: Double) {
        state.withLock { s in (s.nodes[node]?.cores ?? 0, s.nodes[node]?.memory ?? 0) }
    }

    /// A stopped run's waiters leave the queue (their starts throw).
    func abandon(run: String, reason: String) {
        remove {
            $0.run == run
        } with: {
            EngineError.stopped(reason)
        }
    }

    /// Lets in, in order, the first waiters that fit.
    private static func admit(_ n: inout Node) -> [CheckedContinuation<Void, any Error>] {
        var admitted: [CheckedContinuation<Void, any Error>] = []
        var k = 0
        while k < n.waiters.count, fits(n, cores: n.waiters[k].cores, memory: n.waiters[k].memory, n.waiters[k].limits)
        {
            n.cores += n.waiters[k].cores
            n.memory += n.waiters[k].memory
            admitted.append(n.waiters[k].continuation)
            k += 1
        }
        n.waiters.removeFirst(k)
        return admitted
    }

    private func remove(_ which: (Waiter) -> Bool, with error: () -> any Error) {
        let (removed, admitted) = state.withLock { s -> ([Waiter], [CheckedContinuation<Void, any Error>]) in
            var removed: [Waiter] = []
            var admitted: [CheckedContinuation<Void, any Error>] = []
            for (id, var n) in s.nodes {
                let gone = n.waiters.filter(which)
                guard !gone.isEmpty else { continue }
                removed += gone
                n.waiters.removeAll(where: which)
                // The first may have been what kept the others out.
                admitted += NodeGate.admit(&n)
                s.nodes[id] = n.cores == 0 && n.waiters.isEmpty ? nil : n
            }
            return (removed, admitted)
        }
        for w in removed { w.continuation.resume(throwing: error()) }
        for c in admitted { c.resume() }
    }
}

import HeavenModel
import Synchronization

/// Gives tasks cores and memory within their virtual machine's instances, so that
/// neither a machine instance nor the site is ever oversubscribed. Waiters are
/// served in order, the first that fits first; nothing polls.
final class SlotPool: Sendable {
    /// A slot held by a running task.
    struct Slot: Sendable {
        var machine: String
        var instance: Int
        var cores: Int
        var memory: Double

        var label: String { "\(machine)/\(instance)" }
    }

    struct Request: Sendable {
        var machine: String?
        var cores: Int
        var memory: Double
    }

    private struct Instance {
        var machine: String
        var index: Int
        var cores: Int
        var memory: Double
        var freeCores: Int
        var freeMemory: Double
    }

    private struct Waiter {
        var request: Request
        var continuation: CheckedContinuation<Slot, any Error>
    }

    private struct State {
        var instances: [Instance]
        var siteFreeCores: Int
        var siteFreeMemory: Double
        var waiters: [Waiter] = []
        var closed: String?
    }

    private let state: Mutex<State>
    let siteCores: Int
    let siteMemory: Double

    /// A pool over a topology's machines on a site of `cores` and `memory`; with no
    /// topology, one pool of the site's cores (one 1-core machine per core).
    init(topology: Topology?, siteCores: Int, siteMemory: Double) {
        self.siteCores = siteCores
        self.siteMemory = siteMemory
        var instances: [Instance] = []
        if let t = topology {
            for m in t.machines {
                for i in 0..<m.count {
                    let mem = m.memory ?? siteMemory
                    instances.append(
                        Instance(
                            machine: m.name, index: i, cores: m.cores, memory: mem, freeCores: m.cores, freeMemory: mem)
                    )
                }
            }
        } else {
            instances.append(
                Instance(
                    machine: "local", index: 0, cores: siteCores, memory: siteMemory, freeCores: siteCores,
                    freeMemory: siteMemory))
        }
        state = Mutex(State(instances: instances, siteFreeCores: siteCores, siteFreeMemory: siteMemory))
    }

    /// Why a request can never be served, if it cannot.
    func impossible(_ r: Request) -> String? {
        state.withLock { s in
            let candidates = s.instances.filter { r.machine == nil || $0.machine == r.machine }
            if candidates.isEmpty { return "no machine `\(r.machine ?? "")`" }
            if r.cores > siteCores { return "needs \(r.cores) cores but the site has \(siteCores)" }
            if r.memory > siteMemory {
                return "needs \(Quantity(r.memory, .bytes)) of memory but the site has \(Quantity(siteMemory, .bytes))"
            }
            if !candidates.contains(where: { $0.cores >= r.cores }) {
                return
                    "needs \(r.cores) cores but machine `\(candidates[0].machine)` has \(candidates.map(\.cores).max() ?? 0)"
            }
            if !candidates.contains(where: { $0.memory >= r.memory }) {
                return
                    "needs \(Quantity(r.memory, .bytes)) of memory but machine `\(candidates[0].machine)` has \(Quantity(candidates.map(\.memory).max() ?? 0, .bytes))"
            }
            return nil
        }
    }

    private static func take(_ r: Request, _ s: inout State) -> Slot? {
        guard s.siteFreeCores >= r.cores, s.siteFreeMemory >= r.memory else { return nil }
        var best: Int?
        for (i, inst) in s.instances.enumerated()
        where (r.machine == nil || inst.machine == r.machine) && inst.freeCores >= r.cores
            && inst.freeMemory >= r.memory
        {
            if best == nil || inst.freeCores > s.instances[best!].freeCores { best = i }
        }
        guard let i = best else { return nil }
        s.instances[i].freeCores -= r.cores
        s.instances[i].freeMemory -= r.memory
        s.siteFreeCores -= r.cores
        s.siteFreeMemory -= r.memory
        return Slot(machine: s.instances[i].machine, instance: s.instances[i].index, cores: r.cores, memory: r.memory)
    }

    /// Waits for a slot.
    func acquire(_ r: Request) async throws -> Slot {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Slot, any Error>) in
            let outcome = state.withLock { s -> Result<Slot, any Error>? in
                if let reason = s.closed { return .failure(EngineError.stopped(reason)) }
                if s.waiters.isEmpty, let slot = SlotPool.take(r, &s) { return .success(slot) }
                s.waiters.append(Waiter(request: r, continuation: c))
                return nil
            }
            if let outcome { c.resume(with: outcome) }
        }
    }

    /// Gives a slot back and serves the waiters that now fit.
    func release(_ slot: Slot) {
        let ready = state.withLock { s -> [(CheckedContinuation<Slot, any Error>, Slot)] in
            if let i = s.instances.firstIndex(where: { $0.machine == slot.machine && $0.index == slot.instance }) {
                s.instances[i].freeCores += slot.cores
                s.instances[i].freeMemory += slot.memory
            }
            s.siteFreeCores += slot.cores
            s.siteFreeMemory += slot.memory
            var served: [(CheckedContinuation<Slot, any Error>, Slot)] = []
            var k = 0
            while k < s.waiters.count, s.siteFreeCores > 0 {
                if let got = SlotPool.take(s.waiters[k].request, &s) {
                    served.append((s.waiters[k].continuation, got))
                    s.waiters.remove(at: k)
                } else {
                    k += 1
                }
            }
            return served
        }
        for (c, slot) in ready { c.resume(returning: slot) }
    }

    /// Refuses every waiting and future request.
    func close(_ reason: String) {
        let waiters = state.withLock { s -> [Waiter] in
            s.closed = reason
            let w = s.waiters
            s.waiters = []
            return w
        }
        for w in waiters { w.continuation.resume(throwing: EngineError.stopped(reason)) }
    }
}

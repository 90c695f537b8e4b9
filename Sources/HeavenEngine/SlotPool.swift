import Dispatch
import HeavenBroker
import HeavenCore
import HeavenModel
import Synchronization

/// Gives tasks cores and memory within their virtual machine's instances, so that
/// neither a machine instance nor a node is oversubscribed by this run (other runs,
/// even in other processes, are counted when the attempt is recorded: see
/// `Store.startAttempt(_:checking:)`). Waiters are served in order, the first
/// that fits first; nothing polls.
final class SlotPool: Sendable {
    /// A slot held by a running task.
    struct Slot: Sendable {
        var machine: String
        var instance: Int
        /// Position in the pool, to exclude an instance the store refused.
        var position: Int
        var node: String
        var site: String
        var grant: String?
        var cores: Int
        var memory: Double
        /// The ended attempt whose capacity this slot takes over (see `release(_:passing:)`).
        var takesOver: AttemptKey?

        var label: String { "\(machine)/\(instance)" }
    }

    struct Request: Sendable {
        var machine: String?
        var cores: Int
        var memory: Double
        /// Instances not to use (refused by the store a moment ago).
        var excluding: Set<Int> = []
    }

    /// A virtual machine instance bound to a node.
    struct Instance: Sendable {
        var machine: String
        var index: Int
        var node: String
        var site: String
        var grant: String?
        var cores: Int
        var memory: Double
        var freeCores: Int
        var freeMemory: Double
        /// False once its site is lost: it takes no new task.
        var enabled = true
    }

    private struct Waiter {
        var request: Request
        var continuation: CheckedContinuation<Slot, any Error>
    }

    private struct State {
        var instances: [Instance]
        var nodeFree: [String: (cores: Int, memory: Double)]
        var waiters: [Waiter] = []
        var closed: String?
        /// Ended attempts' capacity kept for a moment for this run's next attempt (see `park`).
        var parked: [Parked] = []
        /// The deadline the timer is set for, if any.
        var armed: DispatchTime?
    }

    /// An ended attempt's capacity, still counted as held by the store (and by the
    /// engine's `NodeGate`), kept for a moment for the run's next attempt of the same
    /// size on the same node and grant to take over — a start then needs no check and is
    /// recorded without waiting, as when a waiter is handed the slot at once. What a
    /// bounded `foreach` (`parallel:`) needs: it makes its next item only once an item
    /// ended, so no waiter is there at the end.
    struct Parked: Sendable {
        var key: AttemptKey
        var node: String
        var grant: String?
        var cores: Int
        var memory: Double
        var until: DispatchTime
    }

    /// How long an ended attempt's capacity is kept for the run's next attempt.
    static let parkFor = DispatchTimeInterval.milliseconds(20)

    /// Gives back the capacity of parked ends no attempt took over (to the gate and the
    /// store): set once, by the run's context.
    /// What the pool calls back, set once by the run's context: what gives back the
    /// capacity of a parked end no attempt took over, and whether another run waits for a
    /// node (then a parked end there is given back, not taken over). In a struct of its
    /// own: a closure kept as the value of a `Mutex` (generic) gains a reabstraction thunk
    /// each time it is read (the inout access writes it back wrapped), and calling it then
    /// went through one more layer per task — 20,000 layers after 10,000 tasks, a crash
    /// (stack overflow) past 100,000.
    private struct Hooks {
        var expiry: (@Sendable ([Parked]) -> Void)?
        var othersWait: (@Sendable (String) -> Bool)?
    }
    private let hooks = Mutex(Hooks())
    private let timer = ParkTimer()

    /// The pool's one timer, for the earliest parked end (a dispatch source: rescheduled
    /// from any thread).
    private final class ParkTimer: @unchecked Sendable {
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "heaven.slots.park"))
        func set(_ deadline: DispatchTime) { source.schedule(deadline: deadline, leeway: .milliseconds(1)) }
        deinit { source.cancel() }
    }

    private let state: Mutex<State>
    private let nodeCapacities: Mutex<[String: NodeCapacity]>
    /// Capacity of each node, by id.
    var nodes: [String: NodeCapacity] { nodeCapacities.withLock { $0 } }
    /// The capacity of one node (without copying the others).
    func node(_ id: String) -> NodeCapacity? { nodeCapacities.withLock { $0[id] } }
    /// Total cores of the nodes (sizes the default foreach window).
    let siteCores: Int
    /// Counts substitutions: what depends on where the instances are is stale when it changes.
    let generation = Atomic<Int>(0)

    init(instances: [Instance], nodes: [String: NodeCapacity]) {
        self.nodeCapacities = Mutex(nodes)
        self.siteCores = nodes.values.reduce(0) { $0 + $1.cores }
        var free: [String: (Int, Double)] = [:]
        for (id, n) in nodes { free[id] = (n.cores, n.memory ?? .infinity) }
        state = Mutex(State(instances: instances, nodeFree: free))
        timer.source.setEventHandler { [weak self] in self?.expire(all: false) }
        timer.source.activate()
    }

    /// Sets what gives back the capacity of a parked end no attempt took over, and what
    /// says another run waits for a node.
    func onExpiry(
        _ handler: @escaping @Sendable ([Parked]) -> Void,
        othersWait: @escaping @Sendable (String) -> Bool = { _ in false }
    ) {
        hooks.withLock { $0 = Hooks(expiry: handler, othersWait: othersWait) }
    }

    /// Gives back the parked ends whose moment passed (`all`: every one, the run ending).
    func expire(all: Bool) {
        let now = DispatchTime.now()
        let expired = state.withLock { s -> [Parked] in
            let expired = s.parked.filter { all || $0.until <= now }
            s.parked.removeAll { all || $0.until <= now }
            s.armed = s.parked.map(\.until).min()
            if let next = s.armed { timer.set(next) }
            return expired
        }
        if !expired.isEmpty, let handler = hooks.withLock({ $0.expiry }) { handler(expired) }
    }

    /// One machine of a site's cores and memory: the pool when there is no topology.
    static func whole(site: String, cores: Int, memory: Double) -> SlotPool {
        let node = "\(site)/local/0"
        return SlotPool(
            instances: [
                Instance(
                    machine: "local", index: 0, node: node, site: site, grant: nil, cores: cores, memory: memory,
                    freeCores: cores, freeMemory: memory)
            ],
            nodes: [node: NodeCapacity(cores: cores, memory: memory)])
    }

    /// A pool over a broker's placement.
    static func placed(_ p: Placement) -> SlotPool {
        SlotPool(instances: instances(of: p.machines, nodes: p.nodes), nodes: p.nodes)
    }

    static func instances(of machines: [PlacedMachine], nodes: [String: NodeCapacity]) -> [Instance] {
        machines.map {
            let memory = $0.memory > 0 ? $0.memory : (nodes[$0.node.id]?.memory ?? .infinity)
            return Instance(
                machine: $0.machine, index: $0.instance, node: $0.node.id, site: $0.node.site, grant: $0.grant,
                cores: $0.cores, memory: memory, freeCores: $0.cores, freeMemory: memory)
        }
    }

    /// The sites the instances of `machine` (of every machine when nil) that take tasks are on.
    func sites(of machine: String?) -> Set<String> {
        state.withLock { s in
            Set(s.instances.filter { $0.enabled && (machine == nil || $0.machine == machine) }.map(\.site))
        }
    }

    /// The instances of each machine on a site, by machine name.
    func instances(onSite site: String) -> [String: Int] {
        state.withLock { s in
            var out: [String: Int] = [:]
            for i in s.instances where i.site == site && i.enabled { out[i.machine, default: 0] += 1 }
            return out
        }
    }

    /// Substitution: the instances on a lost site take no new task; the new ones do.
    func substitute(site: String, with machines: [PlacedMachine], nodes: [String: NodeCapacity]) {
        nodeCapacities.withLock { $0.merge(nodes) { a, _ in a } }
        let ready = state.withLock { s -> [(CheckedContinuation<Slot, any Error>, Slot)] in
            for k in s.instances.indices where s.instances[k].site == site { s.instances[k].enabled = false }
            for (id, n) in nodes where s.nodeFree[id] == nil { s.nodeFree[id] = (n.cores, n.memory ?? .infinity) }
            s.instances += SlotPool.instances(of: machines, nodes: nodes)
            return SlotPool.serve(&s)
        }
        generation.add(1, ordering: .releasing)
        for (c, slot) in ready { c.resume(returning: slot) }
    }

    /// How many instances a machine (or any machine) has.
    func instanceCount(_ machine: String?) -> Int {
        state.withLock { s in s.instances.filter { $0.enabled && (machine == nil || $0.machine == machine) }.count }
    }

    /// Why a request can never be served, if it cannot.
    func impossible(_ r: Request) -> String? {
        state.withLock { s in
            let candidates = s.instances.filter { r.machine == nil || $0.machine == r.machine }
            guard let first = candidates.first else {
                return "runs on machine `\(r.machine ?? "")`, which has no instance"
            }
            let label = r.machine == nil ? "the site has" : "machine `\(first.machine)` has"
            if !candidates.contains(where: { $0.cores >= r.cores }) {
                return "needs \(Wording.count(r.cores, "core")) but \(label) \(candidates.map(\.cores).max() ?? 0)"
            }
            if !candidates.contains(where: { $0.memory >= r.memory }) {
                return
                    """
                    needs \(Quantity(r.memory, .bytes)) of memory but \(label) \
                    \(Quantity(candidates.map(\.memory).max() ?? 0, .bytes))
                    """
            }
            return nil
        }
    }

    private static func take(_ r: Request, _ s: inout State) -> Slot? {
        choose(r, s).map { claim($0, r, &s) }
    }

    /// The instance a request would take now (the one with the most free cores), if any.
    private static func choose(_ r: Request, _ s: State) -> Int? {
        var best: Int?
        for (i, inst) in s.instances.enumerated()
        where inst.enabled && (r.machine == nil || inst.machine == r.machine) && !r.excluding.contains(i)
            && inst.freeCores >= r.cores
            && inst.freeMemory >= r.memory
        {
            guard let free = s.nodeFree[inst.node], free.cores >= r.cores, free.memory >= r.memory else { continue }
            if best == nil || inst.freeCores > s.instances[best!].freeCores { best = i }
        }
        return best
    }

    private static func claim(_ i: Int, _ r: Request, _ s: inout State) -> Slot {
        s.instances[i].freeCores -= r.cores
        s.instances[i].freeMemory -= r.memory
        let node = s.instances[i].node
        if let free = s.nodeFree[node] { s.nodeFree[node] = (free.cores - r.cores, free.memory - r.memory) }
        let inst = s.instances[i]
        return Slot(
            machine: inst.machine, instance: inst.index, position: i, node: node, site: inst.site, grant: inst.grant,
            cores: r.cores, memory: r.memory)
    }

    /// Waits for a slot. A request that fits now does not wait behind earlier ones that
    /// want other nodes (another machine's task waiting for its own machine to free up);
    /// it does wait behind those that could use the node it would take, so that a task
    /// needing more cores there is not overtaken for ever.
    func acquire(_ r: Request) async throws -> Slot {
        let othersWait = hooks.withLock { $0.othersWait }
        var givenBack: [Parked] = []
        defer { if !givenBack.isEmpty, let handler = hooks.withLock({ $0.expiry }) { handler(givenBack) } }
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<Slot, any Error>) in
            let outcome = state.withLock { s -> Result<Slot, any Error>? in
                if let reason = s.closed { return .failure(EngineError.stopped(reason)) }
                if let i = SlotPool.choose(r, s) {
                    let node = s.instances[i].node
                    let competing = s.waiters.contains { w in
                        s.instances.contains {
                            $0.enabled && $0.node == node
                                && (w.request.machine == nil || $0.machine == w.request.machine)
                        }
                    }
                    if !competing {
                        var slot = SlotPool.claim(i, r, &s)
                        // A parked end of the same size on the same node and grant: taken over,
                        // unless another run now waits for the node (then it is given back,
                        // and this start is checked behind that run).
                        if let k = s.parked.firstIndex(where: {
                            $0.node == slot.node && $0.grant == slot.grant && $0.cores == slot.cores
                                && $0.memory == slot.memory
                        }) {
                            let parked = s.parked.remove(at: k)
                            if othersWait?(parked.node) == true {
                                givenBack.append(parked)
                            } else {
                                slot.takesOver = parked.key
                            }
                        }
                        return .success(slot)
                    }
                }
                s.waiters.append(Waiter(request: r, continuation: c))
                return nil
            }
            if let outcome { c.resume(with: outcome) }
        }
    }

    /// Gives a slot back and serves the waiters that now fit.
    func release(_ slot: Slot) {
        release(slot, passing: nil)
    }

    /// Gives a slot back and serves the waiters that now fit. With `ended` (the attempt
    /// that held the slot, whose capacity is still counted in the store), the first
    /// waiter served on the same node and grant with no more cores and memory takes
    /// that capacity over (its slot's `takesOver`); without one, and with `park`, the
    /// capacity is parked for the run's next attempt of its size (`Parked`). Returns
    /// what is still held of it: the taker's part, or the whole when parked.
    @discardableResult
    func release(_ slot: Slot, passing ended: AttemptKey?, park: Bool = false) -> (cores: Int, memory: Double)? {
        let (ready, kept) = state.withLock {
            s -> ([(CheckedContinuation<Slot, any Error>, Slot)], (cores: Int, memory: Double)?) in
            s.instances[slot.position].freeCores += slot.cores
            s.instances[slot.position].freeMemory += slot.memory
            if let free = s.nodeFree[slot.node] {
                s.nodeFree[slot.node] = (free.cores + slot.cores, free.memory + slot.memory)
            }
            var served = SlotPool.serve(&s)
            guard let ended else { return (served, nil) }
            if let k = served.firstIndex(where: {
                $0.1.node == slot.node && $0.1.grant == slot.grant && $0.1.cores <= slot.cores
                    && $0.1.memory <= slot.memory
            }) {
                served[k].1.takesOver = ended
                return (served, (served[k].1.cores, served[k].1.memory))
            }
            guard park, s.closed == nil else { return (served, nil) }
            let until = DispatchTime.now() + SlotPool.parkFor
            s.parked.append(
                Parked(
                    key: ended, node: slot.node, grant: slot.grant, cores: slot.cores, memory: slot.memory,
                    until: until))
            if s.armed.map({ until < $0 }) ?? true {
                s.armed = until
                timer.set(until)
            }
            return (served, (slot.cores, slot.memory))
        }
        for (c, slot) in ready { c.resume(returning: slot) }
        return kept
    }

    /// Hands free capacity to the waiters that fit, in order.
    private static func serve(_ s: inout State) -> [(CheckedContinuation<Slot, any Error>, Slot)] {
        var served: [(CheckedContinuation<Slot, any Error>, Slot)] = []
        var k = 0
        while k < s.waiters.count {
            if let got = SlotPool.take(s.waiters[k].request, &s) {
                served.append((s.waiters[k].continuation, got))
                s.waiters.remove(at: k)
            } else {
                k += 1
            }
        }
        return served
    }

    /// How many requests wait for a slot.
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Refuses every waiting and future request.
    func close(_ reason: String) {
        let waiters = state.withLock { s -> [Waiter] in
            s.closed = reason
            let w = s.waiters
            s.waiters = []
            return w
        }
        for w in waiters { w.continuation.resume(throwing: EngineError.stopped(reason)) }
        expire(all: true)
    }
}

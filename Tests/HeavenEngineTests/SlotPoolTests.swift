import Foundation
import HeavenCore
import Synchronization
import Testing

@testable import HeavenEngine

/// Waits until `fact` holds (a queue's state, a flag a task set), yielding in between;
/// fails after `seconds`. The orderings below are facts of the pool's and the gate's own
/// queues, never clock readings.
func until(_ what: String, seconds: Double = 10, _ fact: () -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !fact() {
        guard Date() < deadline else {
            Issue.record("never: \(what)")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// What a task did: the slots it got, in order.
final class Log: Sendable {
    private let entries = Mutex<[String]>([])
    func add(_ s: String) { entries.withLock { $0.append(s) } }
    var all: [String] { entries.withLock { $0 } }
}

@Suite("A run's slots (SlotPool)", .timeLimit(.minutes(2)))
struct SlotPoolTests {
    /// One machine `m` of `cores` cores on node `n`, and one machine `o` on node `p`.
    func pool(cores: Int = 2) -> SlotPool {
        SlotPool(
            instances: [
                SlotPool.Instance(
                    machine: "m", index: 0, node: "n", site: "s", grant: "g", cores: cores, memory: 8e9,
                    freeCores: cores, freeMemory: 8e9),
                SlotPool.Instance(
                    machine: "o", index: 0, node: "p", site: "s", grant: "g", cores: 1, memory: 1e9, freeCores: 1,
                    freeMemory: 1e9),
            ],
            nodes: ["n": NodeCapacity(cores: cores, memory: 8e9), "p": NodeCapacity(cores: 1, memory: 1e9)])
    }

    func request(_ machine: String, _ cores: Int, memory: Double = 0) -> SlotPool.Request {
        SlotPool.Request(machine: machine, cores: cores, memory: memory)
    }

    @Test("a slot given back with its attempt passes that attempt's capacity to the first waiter it fits")
    func handover() async throws {
        let p = pool()
        let a = try await p.acquire(request("m", 1))
        let b = try await p.acquire(request("m", 1))
        let waiter = Task { try await p.acquire(request("m", 1)) }
        try await until("the third request waits") { p.waiting == 1 }
        let ended = AttemptKey(runID: "r", taskKey: "t", number: 1)
        let passed = try #require(p.release(a, passing: ended))
        try await until("the waiter is served") { p.waiting == 0 }
        let got = try await waiter.value
        #expect(passed.cores == 1 && got.takesOver == ended && got.node == "n")
        // A waiter that needs more than the slot held takes nothing over.
        let big = Task { try await p.acquire(request("m", 2)) }
        try await until("the two-core request waits") { p.waiting == 1 }
        #expect(p.release(b, passing: AttemptKey(runID: "r", taskKey: "u", number: 1)) == nil)
        #expect(p.waiting == 1)
        #expect(p.release(got, passing: AttemptKey(runID: "r", taskKey: "v", number: 1)) == nil)
        try await until("the two-core request is served") { p.waiting == 0 }
        let two = try await big.value
        #expect(two.cores == 2 && two.takesOver == nil)
    }

    @Test(
        """
        with no waiter, an ended attempt's capacity is parked: the run's next request of its size takes it over; \
        another size does not, and it is given back at its moment
        """
    )
    func parking() async throws {
        let p = pool()
        let given = Mutex<[AttemptKey]>([])
        p.onExpiry { parked in given.withLock { $0 += parked.map(\.key) } }
        let first = AttemptKey(runID: "r", taskKey: "t", number: 1)
        let a = try await p.acquire(request("m", 1))
        // Parked: still held (the store keeps counting it), nothing given back yet.
        #expect(p.release(a, passing: first, park: true)?.cores == 1)
        let next = try await p.acquire(request("m", 1))
        #expect(next.takesOver == first)
        // The next end is parked too; a request of another size takes nothing over ...
        let second = AttemptKey(runID: "r", taskKey: "t", number: 2)
        #expect(p.release(next, passing: second, park: true) != nil)
        let bigger = try await p.acquire(request("m", 2))
        #expect(bigger.takesOver == nil)
        // ... and the parked capacity goes back at its moment (the pool's timer), once.
        try await until("the parked end is given back") { given.withLock { $0 } == [second] }
        p.release(bigger)
        // Not parked when asked not to (another run waits for the node), nor once closed.
        let c = try await p.acquire(request("m", 1))
        #expect(p.release(c, passing: AttemptKey(runID: "r", taskKey: "u", number: 1), park: false) == nil)
        let d = try await p.acquire(request("m", 1))
        let third = AttemptKey(runID: "r", taskKey: "v", number: 1)
        #expect(p.release(d, passing: third, park: true) != nil)
        // Closing gives back every parked end at once.
        p.close("ended")
        #expect(given.withLock { $0 } == [second, third])
    }

    @Test(
        """
        a parked end is given back, not taken over, once another run waits for the node; a slot is released once \
        however often its end is written
        """
    )
    func parkingYieldsAndReleasesOnce() async throws {
        let p = pool()
        let given = Mutex<[AttemptKey]>([])
        let othersWait = Mutex(false)
        p.onExpiry(
            { parked in given.withLock { $0 += parked.map(\.key) } }, othersWait: { _ in othersWait.withLock { $0 } })
        let first = AttemptKey(runID: "r", taskKey: "t", number: 1)
        let a = try await p.acquire(request("m", 1))
        #expect(p.release(a, passing: first, park: true) != nil)
        // Another run now waits for node n: the next start is checked behind it.
        othersWait.withLock { $0 = true }
        let b = try await p.acquire(request("m", 1))
        #expect(b.takesOver == nil && given.withLock { $0 } == [first])
        // Released twice (an end written again after a failed write): once.
        let gate = NodeGate()
        let release = SlotRelease(slots: p, gate: gate, slot: b, mayPark: true)
        let key = AttemptKey(runID: "r", taskKey: "t", number: 2)
        #expect(release(passing: key) == release(passing: key))
        // Two cores, both free again (b's released once, a's given back): a third request would wait.
        let c = try await p.acquire(request("m", 1))
        let d = try await p.acquire(request("m", 1))
        let third = Task { try await p.acquire(request("m", 1)) }
        try await until("a third slot waits") { p.waiting == 1 }
        p.release(c)
        _ = try await third.value
        p.release(d)
    }

    @Test(
        """
        its hooks stay as set however many slots are taken: 300,000 parked takeovers, each asking whether others \
        wait, and the last question costs what the first did
        """
    )
    func hooksDoNotGrow() async throws {
        // A closure kept as a Mutex's value gained a thunk per read: after 100,000 tasks a
        // question went through 200,000 nested calls and overflowed the stack.
        let p = pool()
        let asked = Mutex(0)
        p.onExpiry(
            { _ in },
            othersWait: { _ in
                asked.withLock { $0 += 1 }
                return false
            })
        var slot = try await p.acquire(request("m", 1))
        for i in 0..<300_000 {
            #expect(p.release(slot, passing: AttemptKey(runID: "r", taskKey: "t", number: i + 1), park: true) != nil)
            slot = try await p.acquire(request("m", 1))
        }
        #expect(slot.takesOver != nil && asked.withLock { $0 } == 300_000)
        p.release(slot)
        p.close("ended")
    }

    @Test("a request that fits waits behind earlier ones for the same node, not behind another node's")
    func fairness() async throws {
        let p = pool()
        let held = try await p.acquire(request("m", 1))
        let log = Log()
        // Two cores wanted on `n`: it waits for the one held.
        let wide = Task {
            let s = try await p.acquire(request("m", 2))
            log.add("wide")
            return s
        }
        try await until("the two-core request waits") { p.waiting == 1 }
        // One core would fit on `n` now, but `wide` came first there: it waits too.
        let narrow = Task {
            let s = try await p.acquire(request("m", 1))
            log.add("narrow")
            return s
        }
        try await until("the one-core request queues behind it") { p.waiting == 2 }
        // Another machine's node is not held up by them.
        let other = try await p.acquire(request("o", 1))
        #expect(other.node == "p" && p.waiting == 2)
        p.release(held)
        try await until("wide is served") { log.all.contains("wide") }
        let w = try await wide.value
        #expect(log.all == ["wide"] && p.waiting == 1)
        p.release(w)
        try await until("narrow is served") { log.all.contains("narrow") }
        _ = try await narrow.value
        #expect(log.all == ["wide", "narrow"])
    }

    @Test("a closed pool refuses its waiters and every later request; what can never fit says why")
    func closing() async throws {
        let p = pool()
        _ = try await p.acquire(request("m", 2))
        let waiter = Task { try await p.acquire(request("m", 1)) }
        try await until("it waits") { p.waiting == 1 }
        p.close("run cancelled")
        try await until("the waiter is refused") { p.waiting == 0 }
        await #expect(throws: EngineError.self) { _ = try await waiter.value }
        await #expect(throws: EngineError.self) { _ = try await p.acquire(request("o", 1)) }
        #expect(p.impossible(request("m", 3)) == "needs 3 cores but machine `m` has 2")
        #expect(p.impossible(request("x", 1)) == "runs on machine `x`, which has no instance")
        let memory = p.impossible(request("m", 1, memory: 16e9)) ?? ""
        #expect(memory.hasPrefix("needs ") && memory.contains("of memory but machine `m` has"), "\(memory)")
        #expect(p.impossible(request("m", 2)) == nil)
    }

    @Test("an instance the store refused is not chosen again for that request")
    func exclusion() async throws {
        let p = SlotPool(
            instances: (0..<2).map {
                SlotPool.Instance(
                    machine: "m", index: $0, node: "n\($0)", site: "s", grant: nil, cores: 1, memory: 1e9,
                    freeCores: 1, freeMemory: 1e9)
            },
            nodes: ["n0": NodeCapacity(cores: 1, memory: 1e9), "n1": NodeCapacity(cores: 1, memory: 1e9)])
        let first = try await p.acquire(SlotPool.Request(machine: "m", cores: 1, memory: 0))
        p.release(first)
        let other = try await p.acquire(
            SlotPool.Request(machine: "m", cores: 1, memory: 0, excluding: [first.position]))
        #expect(other.position != first.position)
    }
}

@Suite("The nodes an engine's runs share (NodeGate)", .timeLimit(.minutes(2)))
struct NodeGateTests {
    let limits = CapacityLimits(nodeCores: 2, nodeMemory: 4e9, grantCores: nil, grantCoreHours: nil)

    func enter(_ g: NodeGate, _ run: String, _ cores: Int, memory: Double = 0, log: Log, stop: String? = nil)
        -> Task<Void, any Error>
    {
        Task {
            try await g.enter(run: run, node: "n", cores: cores, memory: memory, limits: limits) { stop }
            log.add(run)
        }
    }

    @Test("first come, first in: a run that would fit does not overtake an earlier one that does not yet")
    func order() async throws {
        let g = NodeGate()
        let log = Log()
        try await enter(g, "a", 2, log: log).value
        _ = enter(g, "b", 2, log: log)
        try await until("b queues") { g.queued(on: "n") == ["b"] }
        _ = enter(g, "c", 1, log: log)
        try await until("c queues behind b") { g.queued(on: "n") == ["b", "c"] }
        // One core free: c would fit, b would not; b is first, so neither goes in.
        g.leave(node: "n", cores: 1, memory: 0)
        #expect(g.queued(on: "n") == ["b", "c"] && g.held(on: "n").cores == 1)
        g.leave(node: "n", cores: 1, memory: 0)
        try await until("b goes in") { log.all.contains("b") }
        #expect(g.queued(on: "n") == ["c"] && g.held(on: "n").cores == 2)
        g.leave(node: "n", cores: 2, memory: 0)
        try await until("c goes in") { log.all.contains("c") }
        #expect(log.all == ["a", "b", "c"] && g.held(on: "n").cores == 1)
    }

    @Test("memory counts as cores do; a node holding nothing lets anything in (the store says why not)")
    func memoryAndEmpty() async throws {
        let g = NodeGate()
        let log = Log()
        try await enter(g, "big", 8, log: log).value
        #expect(g.held(on: "n").cores == 8)
        g.leave(node: "n", cores: 8, memory: 0)
        try await enter(g, "a", 1, memory: 3e9, log: log).value
        _ = enter(g, "b", 1, memory: 2e9, log: log)
        try await until("b waits for memory") { g.queued(on: "n") == ["b"] }
        g.leave(node: "n", cores: 1, memory: 3e9)
        try await until("b goes in") { log.all.contains("b") }
        #expect(g.held(on: "n").memory == 2e9)
    }

    @Test("a stopped run leaves the queue at once, and the next that fits goes in; a stopped run never enters")
    func abandon() async throws {
        let g = NodeGate()
        let log = Log()
        try await enter(g, "a", 1, log: log).value
        let b = enter(g, "b", 2, log: log)
        try await until("b queues") { g.queued(on: "n") == ["b"] }
        _ = enter(g, "c", 1, log: log)
        try await until("c queues") { g.queued(on: "n") == ["b", "c"] }
        g.abandon(run: "b", reason: "cancelled")
        try await until("b leaves the queue") { !g.queued(on: "n").contains("b") }
        await #expect(throws: EngineError.self) { try await b.value }
        try await until("c goes in") { log.all.contains("c") }
        #expect(g.queued(on: "n").isEmpty && g.held(on: "n").cores == 2)
        await #expect(throws: EngineError.self) { try await enter(g, "d", 1, log: log, stop: "cancelled").value }
        #expect(log.all == ["a", "c"])
    }

    @Test("a waiter whose task is cancelled leaves the queue and holds nothing")
    func cancellation() async throws {
        let g = NodeGate()
        let log = Log()
        try await enter(g, "a", 2, log: log).value
        let b = enter(g, "b", 1, log: log)
        try await until("b queues") { g.queued(on: "n") == ["b"] }
        b.cancel()
        try await until("b leaves the queue") { g.queued(on: "n").isEmpty }
        await #expect(throws: CancellationError.self) { try await b.value }
        #expect(g.queued(on: "n").isEmpty && g.held(on: "n").cores == 2)
    }
}

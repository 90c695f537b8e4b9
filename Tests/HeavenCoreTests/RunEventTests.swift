import Foundation
import HeavenCore
import Testing

@Suite("Run events", .timeLimit(.minutes(15)))
struct RunEventTests {
    @Test("every kind of event has its case, and the store's kind names stay as the API documents them")
    func kindsAreStable() {
        let events: [RunEvent] = [
            .created(workflow: "w"), .placed(topology: "t", machines: ["vm ×2 on a"]), .started,
            .resumed(kept: 1, lost: 2), .waiting(task: "k", reason: "full"),
            .retry(task: "k", attempt: 1, failure: "exit 1", retry: 1, of: 3, delay: "0.5"),
            .lost(task: "k", attempt: 2, reason: nil), .loopStopped(task: "l", loop: "l", max: 3),
            .substitution("moved"),
            .siteLost(site: "s", reason: "r"), .siteDown(site: "s", failures: 2, retryIn: 4),
            .siteUp(site: "s", failures: 2), .refused("no site"), .ended(.succeeded, error: nil),
            .ended(.failed, error: "x"), .ended(.cancelled, error: nil), .ended(.interrupted, error: nil),
        ]
        #expect(Set(events.map(\.kind)) == Set(EventKind.allCases.filter(\.isStored)))
        #expect(
            EventKind.allCases.map(\.rawValue).sorted() == [
                "cancelled", "created", "failed", "interrupted", "loop", "lost", "placed", "refused", "resumed",
                "retry",
                "site-down", "site-lost", "site-up", "started", "substitution", "succeeded", "task-ended",
                "task-started", "waiting",
            ])
    }

    @Test("an event's record carries its task and the message people read")
    func records() {
        let retry = EventRecord(
            runID: "r", .retry(task: "each#2/t", attempt: 1, failure: "exit 3", retry: 1, of: 2, delay: "0.25"))
        #expect(retry.kind == .retry)
        #expect(retry.taskKey == "each#2/t")
        #expect(retry.message == "attempt 1 failed (exit 3); retry 1 of 2 in 0.25s")
        let lost = EventRecord(runID: "r", .lost(task: "t", attempt: 2, reason: "site gone"))
        #expect(lost.message == "attempt 2 of `t` was lost (site gone); it will run again")
        #expect(
            EventRecord(runID: "r", .lost(task: "t", attempt: 2, reason: nil)).message
                == "attempt 2 of `t` was lost; it will run again")
        let ended = EventRecord(runID: "r", .ended(.failed, error: "task t failed"))
        #expect(ended.kind == .failed && ended.taskKey == nil && ended.message == "task t failed")
        #expect(EventRecord(runID: "r", .ended(.succeeded, error: nil)).message == "succeeded")
    }

    @Test("a run's placement and the catalog are plain values that survive JSON")
    func codable() throws {
        let node = NodeRef(site: "grid", node: "n", index: 2)
        let placement = Placement(
            topology: "t", user: "u",
            machines: [
                PlacedMachine(machine: "vm", instance: 0, node: node, grant: "g", cores: 2, memory: 1e9, rank: 1)
            ],
            nodes: [node.id: NodeCapacity(cores: 8, memory: nil)],
            grants: ["g": GrantLimits(cores: 4, coreHours: nil, once: true)],
            availability: 0.99, cost: 1.5)
        let decoded = try JSONDecoder().decode(Placement.self, from: JSONEncoder().encode(placement))
        #expect(decoded == placement)
        var catalog = Catalog()
        catalog.nodeUsage[node.id] = NodeUsage(cores: 3, memory: 2)
        catalog.coreHours["g"] = 1.25
        let back = try JSONDecoder().decode(Catalog.self, from: JSONEncoder().encode(catalog))
        #expect(back.nodeUsage[node.id] == NodeUsage(cores: 3, memory: 2))
        #expect(back.coreHours == ["g": 1.25])
    }
}

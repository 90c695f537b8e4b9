import Foundation
import HeavenBroker
import HeavenConnectors
import HeavenCore
import HeavenModel
import Synchronization

/// Failure recovery by component substitution: when a site the run uses is reported
/// down, the broker places the virtual machine instances it held on other matching,
/// granted capacity, and new tasks go there. If nothing else matches, the run fails
/// saying why.
final class Substitution: Sendable {
    let engine: Engine
    let context: RunContext
    let topology: Topology
    let run: RunRecord
    /// One substitution at a time; each lost site is handled once.
    private let lock = AsyncMutex()
    private let handled = Mutex<Set<String>>([])

    init(engine: Engine, context: RunContext, topology: Topology, run: RunRecord) {
        self.engine = engine
        self.context = context
        self.topology = topology
        self.run = run
    }

    /// Handles sites newly reported down (by `heaven sites down`, or by a failed probe).
    func handle(_ down: [String: String]) async {
        await lock.lock()
        defer { lock.unlock() }
        for (site, reason) in down.sorted(by: { $0.key < $1.key }) {
            guard handled.withLock({ $0.insert(site).inserted }) else { continue }
            let affected = context.slots.instances(onSite: site)
            guard !affected.isEmpty else { continue }
            let lost = topology.machines.compactMap { vm -> VirtualMachine? in
                guard let n = affected[vm.name] else { return nil }
                var v = vm
                v.count = n
                return v
            }
            let sub = Topology(
                name: topology.name, machines: lost, deadline: topology.deadline, location: topology.location)
            do {
                let catalog = try await engine.stores.catalog.catalog()
                switch Broker(catalog: catalog, dataAt: catalog.localSites).place(
                    sub, for: Identity.system(user: run.user), run: run.id)
                {
                case .failure(let refusal):
                    let message =
                        "site \(site) is down (\(reason)) and its machines cannot be re-placed:\n"
                        + refusal.reasons.map { "  " + $0 }.joined(separator: "\n")
                    await context.event(.substitution(message))
                    context.stop(.failed, message, kill: false)
                case .success(var placement):
                    for (name, g) in placement.grants
                    where !(try await engine.stores.catalog.claimGrant(name, run: run.id, once: g.once)) {
                        throw Refusal(topology: topology.name, reasons: ["grant \(name) was used by another run"])
                    }
                    for name in placement.sites where context.connector(for: name) == nil {
                        guard let entry = catalog.sites.first(where: { $0.site.name == name }) else { continue }
                        context.addConnector(try engine.connectors.connector(for: entry.site, user: context.plan.user))
                    }
                    // New instances are numbered after the machine's existing ones.
                    for k in placement.machines.indices {
                        placement.machines[k].instance +=
                            context.slots.instanceCount(placement.machines[k].machine) + 1000
                    }
                    context.slots.substitute(site: site, with: placement.machines, nodes: placement.nodes)
                    let summary = Dictionary(grouping: placement.machines, by: \.machine).sorted { $0.key < $1.key }
                        .map {
                            """
                            \($0.key) ×\($0.value.count) on \
                            \(Set($0.value.map(\.node.site)).sorted().joined(separator: ", "))
                            """
                        }
                    await context.event(
                        .substitution("site \(site) is down (\(reason)): re-placed " + summary.joined(separator: "; ")))
                }
            } catch {
                let message = "site \(site) is down (\(reason)) and re-placement failed: \(error)"
                await context.event(.substitution(message))
                context.stop(.failed, message, kill: false)
            }
        }
    }
}

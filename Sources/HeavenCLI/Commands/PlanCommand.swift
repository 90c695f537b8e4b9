import ArgumentParser
import Foundation
import HeavenBroker
import HeavenConnectors
import HeavenCore
import HeavenLanguage
import HeavenModel

/// `heaven plan FILE...`
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show where the broker would place a topology, or why it cannot.",
        discussion: """
            Uses the Site and Grant documents of the files together with the sites and grants \
            already registered, and the current load of every node. Changes nothing.

              $ heaven plan examples/ndvi-env.yaml
              topology ndvi-env for user bob: placed on grenoble, sophia
              MACHINE   INSTANCE  SITE      NODE   CORES  MEMORY  RANK  GRANT
              splitter  0         grenoble  ws/0   1      512MiB  0     eo-on-grenoble
              …
              $ heaven plan too-big.yaml
              topology too-big cannot be placed:
                workers: sophia: 2 cores < 4 required
                workers: grenoble: no valid grant for user bob (grant eo-once already used)

            Exit status: 0 placed, 1 cannot be placed, 2 invalid files.
            """)

    @Argument(help: "YAML files holding a Topology (or a Workflow naming one), and possibly Sites and Grants.")
    var files: [String]

    @Option(help: "The topology to place when the files hold several.")
    var topology: String?

    @Option(help: "Place for this user (default: you).")
    var user: String?

    @Flag(help: "Print the placement (or the refusal) as JSON.")
    var json = false

    @OptionGroup var connection: ServerOption

    func run() async throws {
        let load = Loader.load(paths: files)
        if !load.isValid {
            for d in load.diagnostics { CLI.error(d.description) }
            throw ExitCode(2)
        }
        let docs = load.documents
        let chosen: Topology
        if let name = topology {
            guard let t = docs.topology(named: name) else { throw CLIError("no topology `\(name)` in the files") }
            chosen = t
        } else if docs.topologies.count == 1 {
            chosen = docs.topologies[0]
        } else if let w = docs.workflows.first(where: { $0.topology != nil }), let t = docs.topology(named: w.topology!)
        {
            chosen = t
        } else {
            throw CLIError(
                docs.topologies.isEmpty
                    ? "the files hold no Topology"
                    : "the files hold several topologies: choose one with --topology NAME")
        }
        if let remote = try connection.remote() {
            try PlanCommand.show(try await remote.plan(files), chosen, json: json)
            return
        }
        let who = user ?? CLI.user()
        let (_, stores) = try CLI.openStore()
        var catalog: Catalog
        do { catalog = try await stores.catalog.catalog() } catch { throw CLIError("\(error)") }
        // The files' documents, as they would be registered by a run.
        for s in docs.sites {
            catalog.sites.removeAll { $0.site.name == s.name }
            catalog.sites.append(Catalog.SiteEntry(site: s, registeredBy: who))
        }
        for g in docs.grants {
            catalog.grants.removeAll { $0.name == g.name }
            catalog.grants.append(g)
        }
        let embedded = catalog.sites.isEmpty
        if embedded {
            let site = ThisMachine.site(owner: who, software: chosen.machines.flatMap(\.software))
            catalog.sites = [Catalog.SiteEntry(site: site, registeredBy: who)]
        }
        let result = Broker(catalog: catalog, allowSharing: embedded, dataAt: catalog.localSites).place(
            chosen, for: Identity.system(user: who))
        try PlanCommand.show(result, chosen, json: json)
    }

    /// Prints a placement as a table (or JSON), or every constraint that failed (exit 1).
    static func show(_ result: Result<Placement, Refusal>, _ chosen: Topology, json: Bool) throws {
        switch result {
        case .success(let p):
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(p), as: UTF8.self))
                return
            }
            print("topology \(p.topology) for user \(p.user): placed on \(p.sites.joined(separator: ", "))")
            var rows = [["MACHINE", "INSTANCE", "SITE", "NODE", "CORES", "MEMORY", "RANK", "GRANT"]]
            for m in p.machines {
                rows.append([
                    m.machine, String(m.instance), m.node.site, "\(m.node.node)/\(m.node.index)", String(m.cores),
                    m.memory > 0 ? Quantity(m.memory, .bytes).description : "-", CLI.number(m.rank),
                    m.grant ?? "(own site)",
                ])
            }
            print(PlanCommand.table(rows))
            for (node, capacity) in p.nodes.sorted(by: { $0.key < $1.key }) {
                let asked = p.machines.filter { $0.node.id == node }.reduce(0) { $0 + $1.cores }
                if asked > capacity.cores {
                    print(
                        "note: machines on \(node) want \(asked) cores of its \(capacity.cores): their tasks take turns"
                    )
                }
            }
            var sla = "availability \(CLI.number(p.availability))"
            if let need = chosen.availability { sla += " (required \(need))" }
            sla += " · estimated cost \(CLI.number(p.cost))"
            if let budget = chosen.budget { sla += " (budget \(CLI.number(budget)))" }
            print(sla)
        case .failure(let refusal):
            if json {
                print(
                    Value.map([
                        "topology": .string(refusal.topology), "refused": .list(refusal.reasons.map(Value.string)),
                    ]).jsonText)
            } else {
                print(refusal.description)
            }
            throw ExitCode(1)
        }
    }

    static func table(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { r in
            r.enumerated().map { i, cell in
                i == r.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }
            .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

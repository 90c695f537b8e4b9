import Foundation
import HeavenBroker
import HeavenCore
import HeavenLanguage
import HeavenModel
import Testing

/// A catalog from YAML documents; sites are registered by `alice`.
func catalog(_ yaml: String, uses: [String: Set<String>] = [:], coreHours: [String: Double] = [:]) throws -> (
    Catalog, DocumentSet
) {
    let load = Loader.load(text: yaml, path: "c.yaml")
    if !load.isValid { throw DiagnosticsError(load.diagnostics) }
    var c = Catalog()
    c.sites = load.documents.sites.map { Catalog.SiteEntry(site: $0, registeredBy: "alice") }
    c.grants = load.documents.grants
    c.grantUses = uses
    c.coreHours = coreHours
    return (c, load.documents)
}

let bob = Identity(user: "bob", groups: ["eo"])
let carol = Identity(user: "carol", groups: ["physics"])
let june2026 = ISO8601DateFormatter().date(from: "2026-06-01T12:00:00Z")!

let twoSites = """
    kind: Site
    name: grenoble
    owner: user:alice
    price: 0.1
    availability: 0.999
    nodes:
      - {name: ws, count: 2, cores: 4, memory: 8GiB, arch: x86_64, software: [gdal], tags: [workstation], bandwidth: \
    10Gbps}
    links: [{to: sophia, bandwidth: 100Mbps, latency: 20ms}]
    ---
    kind: Site
    name: sophia
    owner: user:alice
    price: 0.01
    availability: 0.95
    nodes:
      - {name: small, count: 4, cores: 2, memory: 4GiB, tags: [cluster]}
    policy: {allow: [group:eo], requirements: 'cores <= 4'}
    ---
    kind: Grant
    name: eo-on-grenoble
    site: grenoble
    to: group:eo
    limits: {cores: 8, core-hours: 100}
    valid: {until: 2027-01-01}
    ---
    kind: Grant
    name: eo-on-sophia
    site: sophia
    to: group:eo
    ---

    """

@Suite("Broker", .timeLimit(.minutes(15)))
struct BrokerTests {
    func place(
        _ yaml: String, _ topology: String, for who: Identity = bob, uses: [String: Set<String>] = [:],
        coreHours: [String: Double] = [:], run: String? = nil
    ) throws -> Result<Placement, Refusal> {
        let (c, docs) = try catalog(yaml + topology, uses: uses, coreHours: coreHours)
        let t = try #require(docs.topologies.first)
        return Broker(catalog: c, now: june2026).place(t, for: who, run: run)
    }

    func reasons(_ r: Result<Placement, Refusal>) -> [String] {
        if case .failure(let f) = r { return f.reasons }
        return []
    }

    @Test("among equal matches, the site holding the run's data comes first, then the best linked to it")
    func nearData() throws {
        let yaml = """
            kind: Site
            name: far
            owner: user:alice
            nodes: [{name: n, count: 4, cores: 2}]
            ---
            kind: Site
            name: near
            owner: user:alice
            nodes: [{name: n, count: 4, cores: 2}]
            links: [{to: home, bandwidth: 10Gbps}]
            ---
            kind: Site
            name: home
            owner: user:alice
            nodes: [{name: n, count: 1, cores: 2}]
            links: [{to: far, bandwidth: 10Mbps}]
            ---
            kind: Grant
            name: g-far
            site: far
            to: group:eo
            ---
            kind: Grant
            name: g-near
            site: near
            to: group:eo
            ---
            kind: Grant
            name: g-home
            site: home
            to: group:eo
            ---
            kind: Topology
            name: t
            machines: [{name: m, count: 4, cores: 2}]

            """
        let (c, docs) = try catalog(yaml)
        let t = try #require(docs.topologies.first)
        // Without data to be near, every node is as good: the first by name (far) take them.
        let plain = try Broker(catalog: c, now: june2026).place(t, for: bob).get()
        #expect(plain.machines.allSatisfy { $0.node.site == "far" })
        // With the data at home: home first (its one node), then near (10 Gbps), never far (10 Mbps).
        let p = try Broker(catalog: c, now: june2026, dataAt: ["home"]).place(t, for: bob).get()
        #expect(p.machines.map(\.node.site).sorted() == ["home", "near", "near", "near"])
    }

    @Test("requirements and tags of the machine select the nodes; the site's side selects the user")
    func twoSided() throws {
        let r = try place(
            twoSites,
            """
            kind: Topology\nname: t\nmachines:\n  - {name: m, count: 2, cores: 2, requirements: '\"cluster\" in \
            tags'}\n
            """
        )
        let p = try r.get()
        #expect(p.machines.allSatisfy { $0.node.site == "sophia" && $0.grant == "eo-on-sophia" })
        let refused = try place(
            twoSites, "kind: Topology\nname: t\nmachines:\n  - {name: m, requirements: '\"cluster\" in tags'}\n",
            for: carol)
        #expect(
            reasons(refused) == [
                "m: grenoble: no grant for user carol or their groups",
                "m: sophia: policy allows only group:eo",
            ])
    }

    @Test("a site's policy requirements are judged against the request")
    func policyRequirements() throws {
        let r = try place(twoSites, "kind: Topology\nname: t\nmachines:\n  - {name: big, cores: 6, tags: [cluster]}\n")
        #expect(
            reasons(r) == [
                "big: grenoble: 4 cores < 6 required",
                "big: sophia: policy requirements `cores <= 4` do not hold for user bob",
            ])
    }

    @Test(
        "every node constraint names what failed",
        arguments: [
            ("{name: m, cores: 8}", "m: grenoble: 4 cores < 8 required"),
            ("{name: m, memory: 16GiB}", "m: grenoble: 8GiB memory < 16GiB required"),
            ("{name: m, gpus: 1}", "m: grenoble: 0 GPUs < 1 required"),
            ("{name: m, arch: aarch64}", "m: grenoble: arch x86_64 ≠ aarch64 required"),
            ("{name: m, software: [gdal, otb]}", "m: grenoble: no software otb"),
            ("{name: m, tags: [gpu]}", "m: grenoble: no tag gpu"),
            ("{name: m, requirements: 'memory >= 1TiB'}", "m: grenoble: requirements `memory >= 1TiB` do not hold"),
        ])
    func nodeConstraints(_ machine: String, _ reason: String) throws {
        let r = try place(twoSites, "kind: Topology\nname: t\nmachines:\n  - \(machine)\n")
        #expect(reasons(r).contains(reason), "\(reasons(r))")
    }

    @Test("rank prefers the better node; equal rank spreads over the least loaded")
    func rankAndSpread() throws {
        let ranked = try place(twoSites, "kind: Topology\nname: t\nmachines:\n  - {name: m, rank: 'cores'}\n").get()
        #expect(ranked.machines[0].node.site == "grenoble")
        let spread = try place(
            twoSites, "kind: Topology\nname: t\nmachines:\n  - {name: m, count: 4, cores: 1, rank: 'cores'}\n"
        ).get()
        #expect(spread.machines.map(\.node.id) == ["grenoble/ws/0", "grenoble/ws/1", "grenoble/ws/0", "grenoble/ws/1"])
    }

    @Test(
        """
        machines of one topology, each with fewer instances than a kind of node has, are placed on the kind's \
        other nodes once the first are full
        """
    )
    func instancesOfAKind() throws {
        let site = "kind: Site\nname: box\nowner: user:bob\nnodes: [{name: n, count: 3, cores: 1}]\n---\n"
        let placed = try place(
            site, "kind: Topology\nname: t\nmachines: [{name: a}, {name: b}, {name: c}]\n"
        ).get()
        #expect(placed.machines.map(\.node.id).sorted() == ["box/n/0", "box/n/1", "box/n/2"])
        let r = try place(site, "kind: Topology\nname: t\nmachines: [{name: a, count: 2}, {name: b}, {name: c}]\n")
        #expect(reasons(r) == ["c: only 0 of 1 instances fit on the matching nodes (each needs 1 core)"])
    }

    @Test("capacity: a node takes only as many machines of one topology as it has cores")
    func capacity() throws {
        let r = try place(
            twoSites, "kind: Topology\nname: t\nmachines:\n  - {name: m, count: 3, cores: 4, software: [gdal]}\n")
        #expect(
            reasons(r) == [
                "m: sophia: 2 cores < 4 required",
                "m: only 2 of 3 instances fit on the matching nodes (each needs 4 cores)",
            ])
    }

    @Test("expired, used one-shot, and exhausted grants are refused with their reason")
    func grants() throws {
        let sites = """
            kind: Site
            name: grenoble
            owner: user:alice
            nodes: [{name: ws, cores: 4}]
            ---
            kind: Grant
            name: old
            site: grenoble
            to: user:bob
            valid: {until: 2026-01-01}
            ---
            kind: Grant
            name: eo-once
            site: grenoble
            to: group:eo
            valid: {once: true}
            ---
            kind: Grant
            name: spent
            site: grenoble
            to: user:bob
            limits: {core-hours: 10}
            ---

            """
        let t = "kind: Topology\nname: t\nmachines:\n  - {name: m}\n"
        let first = try place(sites, t, run: "r1").get()
        #expect(first.machines[0].grant == "eo-once")
        let again = try place(sites, t, uses: ["eo-once": ["r1"]], coreHours: ["spent": 10], run: "r2")
        #expect(
            reasons(again) == [
                """
                m: grenoble: no valid grant for user bob (grant old expired on 2026-01-01; grant eo-once already \
                used; grant spent used up: 10 of 10 core-hours)
                """
            ])
        let sameRun = try place(sites, t, uses: ["eo-once": ["r1"]], run: "r1").get()
        #expect(sameRun.machines[0].grant == "eo-once")
    }

    @Test("the owner of a site needs no grant")
    func owner() throws {
        let p = try place(twoSites, "kind: Topology\nname: t\nmachines:\n  - {name: m}\n", for: Identity(user: "alice"))
            .get()
        #expect(p.machines[0].grant == nil)
    }

    @Test("link constraints: between sites by their declared link, within a site by its own figures")
    func links() throws {
        let t = """
            kind: Topology
            name: t
            machines:
              - {name: splitter, software: [gdal]}
              - {name: workers, tags: [cluster]}
            links:
              - {between: [splitter, workers], bandwidth: '>= 1Gbps'}
            """
        let r1 = reasons(try place(twoSites, t))
        #expect(
            r1 == [
                "workers: grenoble: no tag cluster",
                "link splitter-workers: 100Mbps < 1Gbps required (grenoble–sophia)",
            ], "\(r1)")
        let latency = t.replacingOccurrences(of: "bandwidth: '>= 1Gbps'", with: "latency: '<= 10ms'")
        let r2 = reasons(try place(twoSites, latency))
        #expect(
            r2 == [
                "workers: grenoble: no tag cluster",
                "link splitter-workers: latency 20ms > 10ms allowed (grenoble–sophia)",
            ], "\(r2)")
        let slow = t.replacingOccurrences(
            of: "{name: workers, tags: [cluster]}", with: "{name: workers, software: [gdal]}"
        )
        .replacingOccurrences(of: "1Gbps", with: "100Gbps")
        let r3 = reasons(try place(twoSites, slow))
        #expect(
            r3 == [
                "workers: sophia: no software gdal",
                "link splitter-workers: 10Gbps < 100Gbps required (within grenoble)",
            ], "\(r3)")
        let fine = slow.replacingOccurrences(of: "100Gbps", with: "1Gbps")
        #expect(try place(twoSites, fine).get().sites == ["grenoble"])
    }

    @Test("availability and budget are part of the placement")
    func sla() throws {
        let qos = try place(
            twoSites, "kind: Topology\nname: t\nmachines:\n  - {name: m, tags: [cluster]}\nqos: {availability: 0.99}\n")
        #expect(reasons(qos) == ["m: grenoble: no tag cluster", "m: sophia: availability 0.95 < 0.99 required"])
        let cheap = try place(
            twoSites, "kind: Topology\nname: t\nmachines:\n  - {name: m, count: 2}\nsla: {deadline: 2h, budget: 1}\n"
        ).get()
        #expect(cheap.sites == ["sophia"])
        #expect(abs(cheap.cost - 0.04) < 1e-9)
        let dear = try place(
            twoSites,
            """
            kind: Topology\nname: t\nmachines:\n  - {name: m, count: 2, software: [gdal]}\nsla: {deadline: 10h, \
            budget: 1}\n
            """
        )
        #expect(reasons(dear) == ["estimated cost 2 > budget 1 (cores × price per core-hour × 10 h)"])
    }

    @Test("a site that is down is not used, and says so")
    func down() throws {
        var (c, docs) = try catalog(twoSites + "kind: Topology\nname: t\nmachines:\n  - {name: m, tags: [cluster]}\n")
        c.sites[1].downUntil = june2026.addingTimeInterval(60)
        c.sites[1].downReason = "connection refused"
        let r = Broker(catalog: c, now: june2026).place(docs.topologies[0], for: bob)
        #expect(reasons(r).contains("m: sophia: site is down (connection refused)"))
    }

    @Test("10,000 machine instances over 10,000 nodes are placed by rank, no node holding more than its cores")
    func scale() throws {
        var c = Catalog()
        let nodes = (0..<10_000).map { i in
            NodeSpec(name: "n\(i)", cores: 1 + i % 4, memory: 4e9, tags: i % 2 == 0 ? ["cluster"] : ["ws"])
        }
        c.sites = [
            Catalog.SiteEntry(
                site: Site(
                    name: "big", connector: .local, owner: Principal(.user, "bob"), nodes: nodes,
                    location: SourceLocation(file: "x", line: 1, column: 1)), registeredBy: "bob")
        ]
        let vm = VirtualMachine(
            name: "w", count: 10_000, cores: 1, requirements: try Expression(parsing: "cores >= 1 && memory >= 1GiB"),
            rank: try Expression(parsing: "cores"), location: SourceLocation(file: "x", line: 1, column: 1))
        let t = Topology(name: "t", machines: [vm], location: SourceLocation(file: "x", line: 1, column: 1))
        let p = try Broker(catalog: c).place(t, for: Identity(user: "bob")).get()
        #expect(p.machines.count == 10_000)
        // Rank first: the 2,500 nodes of 4 cores (the best rank) take every instance, each
        // exactly as many as it has cores; no other node is used.
        let perNode = Dictionary(grouping: p.machines, by: \.node.id).mapValues(\.count)
        #expect(p.machines.allSatisfy { $0.rank == 4 })
        #expect(
            perNode.count == 2500 && perNode.values.allSatisfy { $0 == 4 },
            "\(perNode.count) nodes, at most \(perNode.values.max() ?? 0)")
    }
}

public import Foundation
public import HeavenCore
public import HeavenModel

/// Places topologies on granted sites: HTCondor-style two-sided matching
/// (a virtual machine's requirements and rank against node attributes; a site's
/// policy and grants against the user), then link, availability and budget
/// constraints. Among valid nodes it prefers higher rank, then nodes already used
/// by the topology (for links), then lower price when there is a budget, then nodes
/// near the run's data (on a site that holds it, then over the fastest declared
/// link to one), then the least loaded. Every refusal says which constraint failed,
/// where.
public struct Broker: Sendable {
    public var catalog: Catalog
    public var now: Date
    /// Whether machines may share a node's cores when they do not all fit (their tasks
    /// then take turns; tasks never oversubscribe a node). Used for the embedded
    /// default site, a single workstation.
    public var allowSharing: Bool
    /// The sites that hold the run's data (its input files are on this machine: its
    /// local sites).
    public var dataAt: Set<String>

    /// A broker over a catalog, judging validity at `now`.
    public init(catalog: Catalog, now: Date = Date(), allowSharing: Bool = false, dataAt: Set<String> = []) {
        self.catalog = catalog
        self.now = now
        self.allowSharing = allowSharing
        self.dataAt = dataAt
    }

    /// How near a site is to the run's data: infinite on a site that holds it, else
    /// the bandwidth of the fastest declared link to one (0: none declared).
    func nearness(_ site: Site, _ sites: [String: Site]) -> Double {
        if dataAt.isEmpty { return 0 }
        if dataAt.contains(site.name) { return .infinity }
        var best = 0.0
        for d in dataAt {
            let l = site.links.first { $0.to == d } ?? sites[d]?.links.first { $0.to == site.name }
            if let l { best = max(best, l.bandwidth ?? 1) }
        }
        return best
    }

    /// A node instance that can still take virtual machines, in the order of preference.
    struct Candidate {
        var node: NodeRef
        var spec: NodeSpec
        var site: Site
        var grant: String?
        var rank: Double
        var price: Double
        var colocated: Bool
        var freeCores: Int
        var freeMemory: Double?
        /// Cores already taken on it by other runs and this placement, relative to its size.
        var load: Double
        /// How near it is to the run's data.
        var nearness: Double = 0
    }

    /// Places `topology` for `who`. `run` is the run it is for (its own use of a
    /// one-shot grant does not count against it).
    public func place(_ topology: Topology, for who: Identity, run: String? = nil) -> Result<Placement, Refusal> {
        let matcher = Matcher(
            now: now, grants: catalog.grants, grantUses: catalog.grantUses, coreHours: catalog.coreHours, run: run)
        var placed: [PlacedMachine] = []
        var sitesOf: [String: Set<String>] = [:]
        var localLoad: [String: (cores: Int, memory: Double)] = [:]
        var nodes: [String: NodeCapacity] = [:]
        let hours = (topology.deadline ?? 3600) / 3600
        let sitesByName = Dictionary(catalog.sites.map { ($0.site.name, $0.site) }, uniquingKeysWith: { a, _ in a })

        for vm in topology.machines {
            var reasons: [String] = []
            // One side and the other: which node kinds of which sites may take this machine.
            var kinds: [(site: Site, spec: NodeSpec, grant: String?, rank: Double)] = []
            for entry in catalog.sites {
                let site = entry.site
                switch matcher.access(entry, who, vm: vm) {
                case .failure(let r):
                    reasons.append("\(vm.name): \(site.name): \(r.text)")
                    continue
                case .success(let grant):
                    if let need = topology.availability, let have = site.availability, have < need {
                        reasons.append("\(vm.name): \(site.name): availability \(have) < \(need) required")
                        continue
                    }
                    var best: Matcher.NodeAnswer?
                    var any = false
                    for spec in site.nodes {
                        let answer = matcher.match(vm, spec, site: site)
                        if answer.failure == nil {
                            any = true
                            kinds.append((site, spec, grant, answer.rank))
                        } else if best == nil || answer.passed > best!.passed {
                            best = answer
                        }
                    }
                    if !any, let b = best?.failure { reasons.append("\(vm.name): \(site.name): \(b)") }
                    if site.nodes.isEmpty { reasons.append("\(vm.name): \(site.name): the site has no nodes") }
                }
            }
            // Links to machines already placed restrict the sites.
            let links = topology.links.filter { $0.between.contains(vm.name) }
            var allowed: [String: Bool] = [:]
            for site in Set(kinds.map(\.site.name)) {
                var ok = true
                for link in links {
                    let other = link.between.first { $0 != vm.name } ?? vm.name
                    for s in sitesOf[other] ?? [] {
                        let (a, b) = link.between.first == vm.name ? (site, s) : (s, site)
                        if let why = linkProblem(link, a, b, sitesByName) {
                            reasons.append(why)
                            ok = false
                        }
                    }
                }
                allowed[site] = ok
            }
            kinds = kinds.filter { allowed[$0.site.name] ?? false }
            if kinds.isEmpty {
                if reasons.isEmpty { reasons.append("\(vm.name): no site is known (declare a Site, or register one)") }
                return .failure(Refusal(topology: topology.name, reasons: Broker.unique(reasons)))
            }
            // Prefer the sites of the machines this one is linked with.
            let usedSites = Set(links.flatMap { $0.between }.filter { $0 != vm.name }.flatMap { sitesOf[$0] ?? [] })
            var heap = Heap<Candidate> { a, b in
                if a.rank != b.rank { return a.rank > b.rank }
                if a.colocated != b.colocated { return a.colocated }
                if topology.budget != nil, a.price != b.price { return a.price < b.price }
                if a.nearness != b.nearness { return a.nearness > b.nearness }
                if a.load != b.load { return a.load < b.load }
                return a.node.id < b.node.id
            }
            for k in kinds {
                // The instances of a kind of node are alike: as many as the machine has
                // instances, past those this topology already holds (a prefix of the
                // kind's instances holding that many more than are used always has
                // enough unused ones), so that a kind of 10,000 nodes costs no more.
                let held = Set(
                    placed.filter { $0.node.site == k.site.name && $0.node.node == k.spec.name }.map(\.node.index)
                ).count
                for index in 0..<min(k.spec.count, max(vm.count, 1) + held) {
                    let ref = NodeRef(site: k.site.name, node: k.spec.name, index: index)
                    let other = catalog.nodeUsage[ref.id] ?? NodeUsage()
                    let mine = localLoad[ref.id] ?? (0, 0)
                    heap.push(
                        Candidate(
                            node: ref, spec: k.spec, site: k.site, grant: k.grant, rank: k.rank,
                            price: k.site.price ?? 0,
                            colocated: usedSites.contains(k.site.name), freeCores: k.spec.cores - mine.cores,
                            freeMemory: k.spec.memory.map { $0 - mine.memory },
                            load: Double(other.cores + mine.cores) / Double(max(1, k.spec.cores)),
                            nearness: nearness(k.site, sitesByName)))
                }
            }
            var full: [Candidate] = []
            for instance in 0..<vm.count {
                var chosen: Candidate?
                while let c = heap.pop() {
                    if c.freeCores >= vm.cores && (c.freeMemory ?? .infinity) >= (vm.memory ?? 0) {
                        chosen = c
                        break
                    }
                    full.append(c)
                }
                if chosen == nil, allowSharing {
                    // Time-sharing: the least loaded matching node takes it anyway.
                    if let i = full.indices.min(by: { full[$0].load < full[$1].load }) {
                        chosen = full.remove(at: i)
                        chosen!.freeCores = vm.cores
                        chosen!.freeMemory = chosen!.freeMemory.map { max($0, vm.memory ?? 0) }
                    }
                }
                guard var c = chosen else {
                    reasons.append(
                        """
                        \(vm.name): only \(instance) of \(vm.count) instances fit on the matching nodes (each \
                        needs \(vm.cores) \
                        core\(vm.cores == 1 ? "" : "s")\(vm.memory.map { " and \(Quantity($0, .bytes))" } ?? ""))
                        """
                    )
                    return .failure(Refusal(topology: topology.name, reasons: Broker.unique(reasons)))
                }
                placed.append(
                    PlacedMachine(
                        machine: vm.name, instance: instance, node: c.node, grant: c.grant, cores: vm.cores,
                        memory: vm.memory ?? 0, rank: c.rank))
                nodes[c.node.id] = NodeCapacity(cores: c.spec.cores, memory: c.spec.memory)
                sitesOf[vm.name, default: []].insert(c.site.name)
                let mine = localLoad[c.node.id] ?? (0, 0)
                localLoad[c.node.id] = (mine.cores + vm.cores, mine.memory + (vm.memory ?? 0))
                c.freeCores -= vm.cores
                c.freeMemory = c.freeMemory.map { $0 - (vm.memory ?? 0) }
                c.load += Double(vm.cores) / Double(max(1, c.spec.cores))
                if c.freeCores >= vm.cores { heap.push(c) } else { full.append(c) }
            }
        }
        // The whole topology: links between machines placed later, availability, budget.
        var reasons: [String] = []
        for link in topology.links where link.between.count == 2 {
            for a in sitesOf[link.between[0]] ?? [] {
                for b in sitesOf[link.between[1]] ?? [] {
                    if let why = linkProblem(link, a, b, sitesByName) { reasons.append(why) }
                }
            }
        }
        let used = Set(placed.map(\.node.site))
        let availability = used.reduce(1.0) { $0 * (sitesByName[$1]?.availability ?? 1) }
        if let need = topology.availability, availability < need {
            reasons.append(
                """
                availability \(Matcher.format(availability)) of sites \(used.sorted().joined(separator: ", ")) \
                together < \(need) required
                """
            )
        }
        let cost = placed.reduce(0.0) { $0 + Double($1.cores) * (sitesByName[$1.node.site]?.price ?? 0) * hours }
        if let budget = topology.budget, cost > budget {
            reasons.append(
                """
                estimated cost \(Matcher.format(cost)) > budget \(Matcher.format(budget)) (cores × price per \
                core-hour × \(Matcher.format(hours)) h)
                """
            )
        }
        if !reasons.isEmpty { return .failure(Refusal(topology: topology.name, reasons: Broker.unique(reasons))) }
        var grants: [String: GrantLimits] = [:]
        for name in Set(placed.compactMap(\.grant)) {
            if let g = catalog.grants.first(where: { $0.name == name }) {
                grants[name] = GrantLimits(cores: g.cores, coreHours: g.coreHours, once: g.once)
            }
        }
        return .success(
            Placement(
                topology: topology.name, user: who.user, machines: placed, nodes: nodes, grants: grants,
                availability: availability, cost: cost))
    }

    /// What connects sites `a` and `b`: within one site, its slowest node's bandwidth and
    /// no latency; between two, their declared link (either way round); nil when none is.
    public static func connection(_ a: String, _ b: String, _ sites: [String: Site]) -> (
        bandwidth: Double?, latency: Double
    )? {
        if a == b { return (sites[a]?.nodes.compactMap(\.bandwidth).min(), 0) }
        guard let l = sites[a]?.links.first(where: { $0.to == b }) ?? sites[b]?.links.first(where: { $0.to == a })
        else { return nil }
        return (l.bandwidth, l.latency ?? 0)
    }

    /// Why a link constraint fails between machines on sites `a` and `b`, or nil.
    func linkProblem(_ link: TopologyLink, _ a: String, _ b: String, _ sites: [String: Site]) -> String? {
        let name = "link \(link.between.joined(separator: "-"))"
        let between = a == b ? "within \(a)" : "\(a)–\(b)"
        guard let (bandwidth, latency) = Broker.connection(a, b, sites) else {
            if link.minimumBandwidth == nil && link.maximumLatency == nil { return nil }
            return "\(name): no link declared between \(a) and \(b)"
        }
        if let need = link.minimumBandwidth, let have = bandwidth, have < need {
            return
                "\(name): \(Quantity(have, .bitsPerSecond)) < \(Quantity(need, .bitsPerSecond)) required (\(between))"
        }
        if let most = link.maximumLatency, latency > most {
            return "\(name): latency \(Quantity(latency, .seconds)) > \(Quantity(most, .seconds)) allowed (\(between))"
        }
        return nil
    }

    static func unique(_ reasons: [String]) -> [String] {
        var seen = Set<String>()
        return reasons.filter { seen.insert($0).inserted }
    }
}

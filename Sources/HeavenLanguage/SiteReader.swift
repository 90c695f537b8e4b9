import HeavenModel
import Yams

/// Reads `Site`, `Grant` and `Topology` documents.
struct SiteReader {
    let r: NodeReader

    func site(_ entries: [Entry], name: String, location: SourceLocation) -> Site? {
        r.checkKeys(
            entries,
            allowed: [
                "kind", "name", "description", "connector", "owner", "nodes", "policy", "price", "availability",
                "links", "accounts",
            ],
            in: "a Site")
        var connector = ConnectorSpec.local
        var owner: Principal?
        var nodes: [NodeSpec] = []
        var policy = SitePolicy()
        var price: Double?
        var availability: Double?
        var links: [SiteLink] = []
        var accounts: [String: String]?
        var sawNodes = false
        for e in entries {
            switch e.key {
            case "connector": connector = self.connector(e.value) ?? .local
            case "owner": owner = principal(e.value, "`owner`")
            case "nodes":
                sawNodes = true
                for n in r.sequence(e.value, "`nodes`") ?? [] {
                    if let node = self.node(n) { nodes.append(node) }
                }
            case "policy":
                guard let p = r.mapping(e.value, "`policy`") else { break }
                r.checkKeys(p, allowed: ["allow", "requirements"], in: "`policy`")
                for pe in p {
                    if pe.key == "allow" {
                        let items: [Node] = r.sequence(pe.value, "`allow`") ?? []
                        policy.allow = items.compactMap { principal($0, "an `allow` entry") }
                    } else if pe.key == "requirements" {
                        policy.requirements = r.expression(pe.value, "`requirements`")
                        if let ex = policy.requirements {
                            checkNames(
                                ex, allowed: ["user", "groups", "cores", "memory", "hour", "weekday"],
                                what: "a site policy")
                        }
                    }
                }
            case "accounts":
                // `user:NAME: REMOTE-ACCOUNT`: whose tasks run as which account on the host.
                var map: [String: String] = [:]
                for a in r.mapping(e.value, "`accounts`") ?? [] {
                    guard let p = Principal(parsing: a.key), p.kind == .user else {
                        r.error("`accounts` maps users (`user:NAME`) to remote accounts, not `\(a.key)`", a.keyNode)
                        continue
                    }
                    guard let account = r.string(a.value, "the account of `\(a.key)`") else { continue }
                    guard SiteReader.isAccountName(account) else {
                        r.error(
                            "`\(account)` is not an account name (lowercase letters, digits, `_`, `.`, `-`)", a.value)
                        continue
                    }
                    map[p.description] = account
                }
                accounts = map
            case "price": price = r.number(e.value, "`price`", range: 0...1e12)
            case "availability": availability = r.number(e.value, "`availability`", range: 0...1)
            case "links":
                for l in r.sequence(e.value, "`links`") ?? [] {
                    guard let le = r.mapping(l, "a link") else { continue }
                    r.checkKeys(le, allowed: ["to", "bandwidth", "latency"], in: "a site link")
                    var to: String?
                    var bw: Double?
                    var lat: Double?
                    for x in le {
                        switch x.key {
                        case "to": to = r.name(x.value, "`to`")
                        case "bandwidth": bw = r.quantity(x.value, "`bandwidth`", .bitsPerSecond)
                        case "latency": lat = r.quantity(x.value, "`latency`", .seconds)
                        default: break
                        }
                    }
                    if let to {
                        links.append(SiteLink(to: to, bandwidth: bw, latency: lat))
                    } else if !le.contains(where: { $0.key == "to" }) {
                        r.error("a link needs `to` (the other site)", l)
                    }
                }
            default: break
            }
        }
        if !sawNodes { r.error("the Site has no `nodes`", entries.first?.keyNode ?? entries[0].value) }
        return Site(
            name: name, connector: connector, owner: owner, nodes: nodes, policy: policy, price: price,
            availability: availability, links: links, accounts: accounts, location: location)
    }

    /// A POSIX account name: lowercase letters, digits, `_`, `.`, `-`, not starting with a digit, `.` or `-`.
    static func isAccountName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.unicodeScalars.count <= 32,
            ("a"..."z").contains(first) || first == "_"
        else { return false }
        return s.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0)
        }
    }

    func principal(_ node: Node, _ what: String) -> Principal? {
        guard let s = r.string(node, what) else { return nil }
        guard let p = Principal(parsing: s) else {
            r.error("\(what) must be `user:NAME` or `group:NAME`, not `\(s)`", node)
            return nil
        }
        return p
    }

    func connector(_ node: Node) -> ConnectorSpec? {
        if case .scalar = node {
            guard let s = r.string(node, "`connector`") else { return nil }
            if s == "local" { return .local }
            r.error("connector `\(s)` needs its settings: write `{kind: \(s), host: ...}`, or use `local`", node)
            return nil
        }
        guard let entries = r.mapping(node, "`connector`") else { return nil }
        guard let kindEntry = entries.first(where: { $0.key == "kind" }) else {
            r.error("the connector has no `kind` (local, ssh or slurm)", node)
            return nil
        }
        guard let kind = r.string(kindEntry.value, "the connector's `kind`") else { return nil }
        switch kind {
        case "local":
            r.checkKeys(entries, allowed: ["kind"], in: "a local connector")
            return .local
        case "ssh":
            r.checkKeys(entries, allowed: ["kind", "host", "port", "user", "identity"], in: "an ssh connector")
            var host: String?
            var port: Int?
            var user: String?
            var identity: String?
            var identitySecret: String?
            for e in entries {
                switch e.key {
                case "host": host = r.string(e.value, "`host`")
                case "port": port = r.int(e.value, "`port`", min: 1, max: 65535)
                case "user": user = r.string(e.value, "`user`")
                case "identity":
                    // A key file's path, or `{secret: NAME}`: a private key kept as a secret.
                    if case .mapping = e.value {
                        guard let keyEntries = r.mapping(e.value, "`identity`") else { break }
                        r.checkKeys(keyEntries, allowed: ["secret"], in: "`identity`")
                        guard let s = keyEntries.first(where: { $0.key == "secret" }) else {
                            r.error("`identity` is a key file's path, or `{secret: NAME}`", e.value)
                            break
                        }
                        identitySecret = r.name(s.value, "the secret's name")
                    } else {
                        identity = r.string(e.value, "`identity`")
                    }
                default: break
                }
            }
            guard let host else {
                r.error("an ssh connector needs `host`", node)
                return nil
            }
            return .ssh(host: host, port: port, user: user, identity: identity, identitySecret: identitySecret)
        case "slurm":
            r.checkKeys(entries, allowed: ["kind", "partition", "account", "via", "config"], in: "a slurm connector")
            var partition: String?
            var account: String?
            var config: String?
            var via: ConnectorSpec?
            for e in entries {
                switch e.key {
                case "partition": partition = r.string(e.value, "`partition`")
                case "account": account = r.string(e.value, "`account`")
                case "config": config = r.string(e.value, "`config`")
                case "via":
                    via = connector(e.value)
                    if let v = via, case .ssh = v {
                    } else if via != nil {
                        r.error("`via` must be an ssh connector (the cluster's login host)", e.value)
                    }
                default: break
                }
            }
            return .slurm(partition: partition, account: account, via: via, config: config)
        default:
            let hint =
                Suggestion.closest(to: kind, among: ["local", "ssh", "slurm"]).map { " (did you mean `\($0)`?)" }
                ?? "; expected local, ssh or slurm"
            r.error("unknown connector kind `\(kind)`\(hint)", kindEntry.value)
            return nil
        }
    }

    static let nodeKeys = ["name", "count", "cores", "memory", "disk", "gpus", "arch", "software", "tags", "bandwidth"]

    func node(_ n: Node) -> NodeSpec? {
        guard let entries = r.mapping(n, "a node") else { return nil }
        r.checkKeys(entries, allowed: SiteReader.nodeKeys, in: "a node")
        var spec = NodeSpec(name: "", cores: 0)
        var ok = true
        var sawCores = false
        for e in entries {
            switch e.key {
            case "name": spec.name = r.name(e.value, "the node's `name`") ?? ""
            case "count": spec.count = r.int(e.value, "`count`", min: 1, max: 1_000_000) ?? 1
            case "cores":
                sawCores = true
                if let c = r.int(e.value, "`cores`", min: 1, max: 1_000_000) { spec.cores = c } else { ok = false }
            case "memory": spec.memory = r.quantity(e.value, "`memory`", .bytes)
            case "disk": spec.disk = r.quantity(e.value, "`disk`", .bytes)
            case "gpus": spec.gpus = r.int(e.value, "`gpus`", min: 0, max: 1024) ?? 0
            case "arch": spec.arch = r.string(e.value, "`arch`")
            case "software": spec.software = r.stringList(e.value, "`software`") ?? []
            case "tags": spec.tags = r.stringList(e.value, "`tags`") ?? []
            case "bandwidth": spec.bandwidth = r.quantity(e.value, "`bandwidth`", .bitsPerSecond)
            default: break
            }
        }
        if !sawCores {
            r.error("a node needs `cores`", n)
            ok = false
        }
        if spec.name.isEmpty, !entries.contains(where: { $0.key == "name" }) {
            r.error("a node needs a `name`", n)
            ok = false
        }
        return ok ? spec : nil
    }

    func grant(_ entries: [Entry], name: String, location: SourceLocation) -> Grant? {
        r.checkKeys(entries, allowed: ["kind", "name", "description", "site", "to", "limits", "valid"], in: "a Grant")
        var site: String?
        var to: Principal?
        var grant = Grant(name: name, site: "", to: Principal(.user, ""), location: location)
        for e in entries {
            switch e.key {
            case "site": site = r.name(e.value, "`site`")
            case "to": to = principal(e.value, "`to`")
            case "limits":
                guard let l = r.mapping(e.value, "`limits`") else { break }
                r.checkKeys(l, allowed: ["cores", "core-hours"], in: "`limits`")
                for x in l {
                    if x.key == "cores" { grant.cores = r.int(x.value, "`cores`", min: 1) }
                    if x.key == "core-hours" { grant.coreHours = r.number(x.value, "`core-hours`", range: 0...1e15) }
                }
            case "valid":
                guard let v = r.mapping(e.value, "`valid`") else { break }
                r.checkKeys(v, allowed: ["until", "once"], in: "`valid`")
                for x in v {
                    if x.key == "until", let d = r.string(x.value, "`until`") {
                        if SiteReader.isDate(d) {
                            grant.until = d
                        } else {
                            r.error("`until` must be a date `YYYY-MM-DD`, not `\(d)`", x.value)
                        }
                    }
                    if x.key == "once" { grant.once = r.bool(x.value, "`once`") ?? false }
                }
            default: break
            }
        }
        let anchor = entries.first(where: { $0.key == "kind" })?.keyNode ?? entries[0].keyNode
        guard let site else {
            if !entries.contains(where: { $0.key == "site" }) { r.error("the Grant has no `site`", anchor) }
            return nil
        }
        guard let to else {
            if !entries.contains(where: { $0.key == "to" }) {
                r.error("the Grant has no `to` (user:NAME or group:NAME)", anchor)
            }
            return nil
        }
        grant.site = site
        grant.to = to
        return grant
    }

    static func isDate(_ s: String) -> Bool {
        let parts = s.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2])
        else { return false }
        let days = [
            31, (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
        ]
        return (1...12).contains(m) && d >= 1 && d <= days[m - 1]
    }

    static let machineKeys = [
        "name", "count", "cores", "memory", "disk", "gpus", "arch", "software", "tags", "network", "requirements",
        "rank",
    ]
    static let attributeNames = [
        "name", "cores", "memory", "disk", "gpus", "arch", "software", "tags", "bandwidth", "site", "price",
        "availability",
    ]

    func topology(_ entries: [Entry], name: String, location: SourceLocation) -> Topology? {
        r.checkKeys(
            entries, allowed: ["kind", "name", "description", "machines", "links", "qos", "sla"], in: "a Topology")
        var t = Topology(name: name, machines: [], location: location)
        var names: [String: SourceLocation] = [:]
        for e in entries {
            switch e.key {
            case "machines":
                for m in r.sequence(e.value, "`machines`") ?? [] {
                    guard let vm = machine(m) else { continue }
                    if let first = names[vm.name] {
                        r.error("duplicate machine `\(vm.name)` (first defined at \(first))", m)
                        continue
                    }
                    names[vm.name] = vm.location
                    t.machines.append(vm)
                }
            case "links":
                for l in r.sequence(e.value, "`links`") ?? [] {
                    if let link = topologyLink(l) { t.links.append(link) }
                }
            case "qos":
                guard let q = r.mapping(e.value, "`qos`") else { break }
                r.checkKeys(q, allowed: ["availability"], in: "`qos`")
                for x in q where x.key == "availability" {
                    t.availability = r.number(x.value, "`availability`", range: 0...1)
                }
            case "sla":
                guard let s = r.mapping(e.value, "`sla`") else { break }
                r.checkKeys(s, allowed: ["deadline", "budget"], in: "`sla`")
                for x in s {
                    if x.key == "deadline" { t.deadline = r.quantity(x.value, "`deadline`", .seconds) }
                    if x.key == "budget" { t.budget = r.number(x.value, "`budget`", range: 0...1e15) }
                }
            default: break
            }
        }
        for l in t.links {
            for n in l.between where names[n] == nil {
                let hint = Suggestion.closest(to: n, among: names.keys).map { " (did you mean `\($0)`?)" } ?? ""
                r.sink.error("link names unknown machine `\(n)`\(hint)", at: l.location)
            }
        }
        if !entries.contains(where: { $0.key == "machines" }) {
            r.error("the Topology has no `machines`", entries[0].keyNode)
        }
        return t
    }

    func machine(_ n: Node) -> VirtualMachine? {
        guard let entries = r.mapping(n, "a machine") else { return nil }
        r.checkKeys(entries, allowed: SiteReader.machineKeys, in: "a machine")
        var vm = VirtualMachine(name: "", location: r.location(n))
        for e in entries {
            switch e.key {
            case "name": vm.name = r.name(e.value, "the machine's `name`") ?? ""
            case "count": vm.count = r.int(e.value, "`count`", min: 1, max: 1_000_000) ?? 1
            case "cores": vm.cores = r.int(e.value, "`cores`", min: 1, max: 1_000_000) ?? 1
            case "memory": vm.memory = r.quantity(e.value, "`memory`", .bytes)
            case "disk": vm.disk = r.quantity(e.value, "`disk`", .bytes)
            case "gpus": vm.gpus = r.int(e.value, "`gpus`", min: 0, max: 1024) ?? 0
            case "arch": vm.arch = r.string(e.value, "`arch`")
            case "software": vm.software = r.stringList(e.value, "`software`") ?? []
            case "tags": vm.tags = r.stringList(e.value, "`tags`") ?? []
            case "network": vm.network = r.bool(e.value, "`network`") ?? false
            case "requirements":
                vm.requirements = r.expression(e.value, "`requirements`")
                if let x = vm.requirements { checkNames(x, allowed: SiteReader.attributeNames, what: "a node") }
            case "rank":
                vm.rank = r.expression(e.value, "`rank`")
                if let x = vm.rank { checkNames(x, allowed: SiteReader.attributeNames, what: "a node") }
            default: break
            }
        }
        if !entries.contains(where: { $0.key == "name" }) {
            r.error("a machine needs a `name`", n)
            return nil
        }
        return vm.name.isEmpty ? nil : vm
    }

    func checkNames(_ e: Expression, allowed: [String], what: String) {
        for ref in e.tree.references where !allowed.contains(ref.name) {
            let hint =
                Suggestion.closest(to: ref.name, among: allowed).map { " (did you mean `\($0)`?)" }
                ?? "; known: \(allowed.joined(separator: ", "))"
            r.sink.error(
                "unknown attribute `\(ref.name)` of \(what)\(hint)",
                at: e.location(ofOffset: ref.offset) ?? SourceLocation(file: r.file, line: 1, column: 1))
        }
    }

    func topologyLink(_ n: Node) -> TopologyLink? {
        guard let entries = r.mapping(n, "a link") else { return nil }
        r.checkKeys(entries, allowed: ["between", "bandwidth", "latency"], in: "a link")
        var link = TopologyLink(between: [], minimumBandwidth: nil, maximumLatency: nil, location: r.location(n))
        for e in entries {
            switch e.key {
            case "between":
                guard let items = r.sequence(e.value, "`between`") else { break }
                link.between = items.compactMap { r.name($0, "a machine name") }
                if items.count != 2 { r.error("`between` must name exactly two machines", e.value) }
            case "bandwidth": link.minimumBandwidth = bound(e.value, "`bandwidth`", .bitsPerSecond, op: ">=")
            case "latency": link.maximumLatency = bound(e.value, "`latency`", .seconds, op: "<=")
            default: break
            }
        }
        if !entries.contains(where: { $0.key == "between" }) { r.error("a link needs `between: [A, B]`", n) }
        return link
    }

    /// `>= 100Mbps` or `100Mbps` (bandwidth); `<= 10ms` or `10ms` (latency).
    func bound(_ node: Node, _ what: String, _ d: Quantity.Dimension, op: String) -> Double? {
        guard var s = r.string(node, what) else { return nil }
        s = s.trimmingSpaces
        if s.hasPrefix(op) {
            s = String(s.dropFirst(2)).trimmingSpaces
        } else if s.hasPrefix("<") || s.hasPrefix(">") || s.hasPrefix("=") {
            r.error("\(what) takes `\(op) VALUE` or a plain value", node)
            return nil
        }
        switch Quantity.parse(s, as: d) {
        case .success(let q): return q.value
        case .failure(let e):
            r.error("\(what): \(e)", node)
            return nil
        }
    }
}

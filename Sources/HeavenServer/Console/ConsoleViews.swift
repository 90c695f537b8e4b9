import Foundation
import HeavenAPI
import HeavenBroker
import HeavenCore
import HeavenEngine
import HeavenModel

/// What the console's templates show (ConsoleAssets), as values: Mustache escapes every
/// text it puts into a page; no HTML is assembled here.

/// A list of runs (the runs page, its live table, a process's jobs).
struct RunsTableView: Sendable {
    struct Row: Sendable {
        let id: String
        let workflow: String
        let status: String
        let user: String
        let created: String
        let duration: String
    }
    let rows: [Row]
    /// Stored, as every flag a template reads: Mustache sees stored properties only.
    let empty: Bool

    init(_ runs: [RunRecord], now: Date = Date()) {
        empty = runs.isEmpty
        rows = runs.map { r in
            Row(
                id: r.id, workflow: r.workflow, status: r.status.rawValue, user: r.user,
                created: ConsoleRoutes.time(r.createdAt),
                duration: r.startedAt.map { Wording.duration((r.finishedAt ?? now).timeIntervalSince($0)) } ?? "")
        }
    }
}

/// The sites page: each site with its kind, nodes and health; each grant and its use.
struct SitesView: Sendable {
    struct SiteRow: Sendable {
        let name: String
        let kind: String
        let nodes: String
        let state: String
        let health: String
    }
    struct GrantRow: Sendable {
        let name: String
        let site: String
        let to: String
        let used: String
    }
    let sites: [SiteRow]
    let grants: [GrantRow]
    let noSites: Bool
    let noGrants: Bool

    init(_ catalog: Catalog, health: [String: SiteHealth], now: Date = Date()) {
        sites = catalog.sites.map { e in
            let h = health[e.site.name]
            let down = h?.isDown(at: now) ?? false
            return SiteRow(
                name: e.site.name, kind: e.site.connector.kind,
                nodes: e.site.nodes.map { "\($0.name) (\($0.cores) cores)" }.joined(separator: ", "),
                state: down ? "down" : "up",
                health: down
                    ? "down" + (h?.reason.map { ": \($0)" } ?? "")
                        + (h?.downUntil.map { ", next probe \(ConsoleRoutes.time($0))" } ?? "") : "up")
        }
        grants = catalog.grants.map { g in
            let used = String(format: "%.2f", catalog.coreHours[g.name] ?? 0)
            return GrantRow(
                name: g.name, site: g.site, to: g.to.description,
                used: used + (g.coreHours.map { " of \(String(format: "%g", $0))" } ?? "") + " core-hours")
        }
        noSites = sites.isEmpty
        noGrants = grants.isEmpty
    }
}

/// Where a run's topology was placed: its machines on sites and nodes, and its links
/// (the bandwidth and latency between the sites their machines were placed on, against
/// what each asks).
struct PlacementView: Sendable {
    struct Machine: Sendable {
        let machine: String
        let instance: Int
        let site: String
        let node: String
        let cores: Int
        let grant: String
    }
    struct Link: Sendable {
        let key: String
        let label: String
        let between: String
        let has: String
        let asked: String
    }
    let topology: String
    let availability: String
    let machines: [Machine]
    let links: [Link]
    let hasLinks: Bool

    init(_ p: Placement, topology: Topology?, sites: [String: Site]) {
        self.topology = p.topology
        availability = String(format: "%.3f", p.availability)
        machines = p.machines.sorted { ($0.machine, $0.instance) < ($1.machine, $1.instance) }.map { m in
            Machine(
                machine: m.machine, instance: m.instance, site: m.node.site, node: m.node.node, cores: m.cores,
                grant: m.grant ?? "")
        }
        func sitesOf(_ machine: String) -> [String] {
            Array(Set(p.machines.filter { $0.machine == machine }.map(\.node.site))).sorted()
        }
        links = (topology?.links ?? []).filter { $0.between.count == 2 }.flatMap { link -> [Link] in
            let (a, b) = (link.between[0], link.between[1])
            let asked = [
                link.minimumBandwidth.map { "at least \(Quantity($0, .bitsPerSecond))" },
                link.maximumLatency.map { "latency at most \(Quantity($0, .seconds))" },
            ].compactMap { $0 }.joined(separator: ", ")
            return sitesOf(a).flatMap { sa in
                sitesOf(b).map { sb in
                    var has = "no link declared"
                    if let (bandwidth, latency) = Broker.connection(sa, sb, sites) {
                        has =
                            (bandwidth.map { "\(Quantity($0, .bitsPerSecond))" } ?? "bandwidth not declared")
                            + (sa == sb ? "" : ", latency \(Quantity(latency, .seconds))")
                    }
                    return Link(
                        key: "\(a)-\(b)", label: "\(a) – \(b)", between: sa == sb ? "within \(sa)" : "\(sa) – \(sb)",
                        has: has, asked: asked.isEmpty ? "nothing" : asked)
                }
            }
        }
        hasLinks = !links.isEmpty
    }
}

/// A run's outputs: values as text or JSON, files as download links (a PNG shown, a
/// GeoTIFF previewed with its legend).
struct OutputsView: Sendable {
    struct Item: Sendable {
        var first = true
        var text: String?
        var code: String?
        var file: File?
    }
    struct File: Sendable {
        let href: String
        let name: String
        let png: Bool
        let preview: String?
        let legend: String?
    }
    struct Row: Sendable {
        let name: String
        let items: [Item]
    }
    let rows: [Row]
    let hint: String
    let empty: Bool

    init(_ run: RunRecord, previews: Bool) {
        hint = run.status.isFinal ? "No outputs." : "Not yet."
        let url = "/console/runs/\(run.id)/outputs/"
        func file(_ name: String, _ path: String, item: Int?) -> File {
            let href = url + RunRoutes.pathSegment(name) + (item.map { "?item=\($0)" } ?? "")
            let base = (path as NSString).lastPathComponent
            let lower = base.lowercased()
            let geotiff = (lower.hasSuffix(".tif") || lower.hasSuffix(".tiff")) && previews
            let join = item == nil ? "?" : "&"
            return File(
                href: href, name: base, png: lower.hasSuffix(".png"),
                preview: geotiff ? href + join + "preview=png" : nil,
                legend: geotiff ? href + join + "preview=legend" : nil)
        }
        rows = (run.outputs ?? [:]).sorted { $0.key < $1.key }.map { name, value in
            let items: [Item]
            switch value {
            case .file(let p): items = [Item(file: file(name, p, item: nil))]
            case .list(let list) where list.contains(where: { if case .file = $0 { true } else { false } }):
                items = list.enumerated().map { i, v in
                    if case .file(let p) = v { return Item(first: i == 0, file: file(name, p, item: i)) }
                    return Item(first: i == 0, text: JSONValue(v).jsonText)
                }
            case .string(let s): items = [Item(text: s)]
            default: items = [Item(code: JSONValue(value).jsonText)]
            }
            return Row(name: name, items: items)
        }
        empty = rows.isEmpty
    }
}

/// A priced job's costs, movement by movement (its bill).
struct CostsView: Sendable {
    struct Movement: Sendable {
        struct Line: Sendable {
            let first: Bool
            let text: String
        }
        let kind: String
        let memo: String
        let lines: [Line]
    }
    let value: String
    let fee: String
    let resources: String
    let budget: String
    let currency: String
    let settled: Bool
    let payer: String
    let publisher: String
    let movements: [Movement]

    init(_ charge: JobCharge, _ transactions: [LedgerTransaction]) {
        let (value, resources, fee, settled) = Charging.costs(charge, transactions)
        (self.value, self.resources, self.fee, self.settled) = ("\(value)", "\(resources)", "\(fee)", settled)
        budget = "\(charge.budget)"
        currency = charge.currency
        payer = charge.payer
        publisher = charge.publisher
        movements = transactions.map { t in
            Movement(
                kind: t.kind.rawValue, memo: t.memo,
                lines: t.lines.enumerated().map { i, l in
                    .init(first: i == 0, text: "\(l.account) \(l.amount >= .zero ? "+" : "")\(l.amount)")
                })
        }
    }
}

/// The processes a caller may see, each with its title, version, publisher, visibility,
/// price and what it does.
struct ProcessesView: Sendable {
    struct Row: Sendable {
        let id: String
        let segment: String
        let title: String
        let version: String
        let owner: String
        let visibility: String
        let price: String
        let about: String
    }
    let rows: [Row]
    let empty: Bool

    init(_ processes: [ProcessRecord], _ parsed: ParsedProcesses) {
        rows = processes.map { p in
            let w = try? parsed.parsed(p).workflow
            return Row(
                id: p.id, segment: RunRoutes.pathSegment(p.id), title: w?.title ?? p.id, version: p.version,
                owner: p.owner, visibility: p.visibility.description,
                price: w?.price.map(ChargingRoutes.describe) ?? "free", about: w?.description ?? "")
        }
        empty = rows.isEmpty
    }
}

// MARK: Pages

/// The frame of every page: its title, the signed-in user, the rendered body, and what
/// `<main>` says of the page (a run and its status, or a process).
struct LayoutView: Sendable {
    let title: String
    let body: String
    var user: String?
    var csrf: String?
    var run: String?
    var status: String?
    var process: String?
}

/// The runs page: counts by status, the filter, the table.
struct RunsPageView: Sendable {
    struct Count: Sendable {
        let status: String
        let count: Int
    }
    struct Choice: Sendable {
        let value: String
        let selected: Bool
    }
    let counts: [Count]
    let statuses: [Choice]
    let workflow: String
    let table: RunsTableView
    let live = "true"
}

/// A run's page.
struct RunPageView: Sendable {
    let id: String
    let workflow: String
    let user: String
    let status: String
    let created: String
    let csrf: String
    let cancellable: Bool
    let resumable: Bool
    let graph: GraphNode?
    let gantt: GanttView
    let outputs: OutputsView
    var costs: CostsView?
    var again: String?
    var duration: String?
    var error: String?
    var placement: PlacementView?
}

/// A task's log.
struct LogPageView: Sendable {
    let task: String
    let attempt: Int
    let status: String
    let run: String
    let text: String
    let source: String
    let follow: String
    let site: String?
}

/// The account page: the caller's balances and bills; an admin's every balance, totals
/// and the form that credits an account.
struct AccountPageView: Sendable {
    struct Balance: Sendable {
        let account: String
        let balance: String
    }
    struct Bill: Sendable {
        let job: String
        let process: String
        let payer: String
        let publisher: String
        let value: String
        let fee: String
        let resources: String
        let budget: String
        let state: String
    }
    struct Admin: Sendable {
        let everyone: [Balance]
        let totals: String
    }
    let accounts: [Balance]
    let bills: [Bill]
    let noBills: Bool
    let csrf: String
    var notice: String?
    var admin: Admin?
}

/// A form that starts a run: a process's page, or "run again".
struct SubmitPageView: Sendable {
    struct Output: Sendable {
        let title: String
        let name: String
        let type: String
        let about: String
    }
    struct Budget: Sendable {
        let currency: String
        let name: String
        let minimum: String
        let value: String
        let balance: String
    }
    struct Accounts: Sendable {
        let jobs: String
        let jobsWord: String
        let succeeded: String
        let value: String
        let fee: String
        let resources: String
        let margin: String
    }
    let heading: String
    let action: String
    let csrf: String
    let fields: FieldsView
    var id: String?
    var version: String?
    var owner: String?
    var visibility: String?
    var segment: String?
    var keywords: String?
    var description: String?
    var price: String?
    var priced = false
    var budget: Budget?
    var from: String?
    var error: String?
    var notice: String?
    var outputs: [Output] = []
    var hasOutputs = false
    var accounts: Accounts?
    var jobs: RunsTableView?

    init(heading: String, action: String, csrf: String, fields: FieldsView) {
        (self.heading, self.action, self.csrf, self.fields) = (heading, action, csrf, fields)
    }
}

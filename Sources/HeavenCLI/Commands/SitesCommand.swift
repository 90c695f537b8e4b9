import ArgumentParser
import Foundation
import HeavenAPI
import HeavenCore
import HeavenLanguage
import HeavenModel

/// `heaven sites`
struct SitesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sites",
        abstract: "List the registered sites with their current use, and the grants on them.",
        discussion: """
            Sites and grants are registered when a run's files declare them, or with \
            `heaven sites add FILE...`.

              $ heaven sites
              SITE      CONNECTOR  NODES  CORES  IN USE  OWNER       STATUS
              grenoble  local      2      4      1       user:alice  up
              GRANT        SITE      TO        LIMITS   VALID       USED
              eo-grenoble  grenoble  group:eo  4 cores  2027-01-01  0.02 core-hours
            """,
        subcommands: [SitesListCommand.self, SitesAddCommand.self, SitesDownCommand.self, SitesUpCommand.self],
        defaultSubcommand: SitesListCommand.self)
}

struct SitesListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List sites and grants (the default).")

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let (_, stores) = try CLI.openStore()
        let catalog: Catalog
        do { catalog = try await stores.catalog.catalog() } catch { throw CLIError("\(error)") }
        let now = Date()
        let health = (try? await stores.catalog.siteHealth()) ?? [:]
        /// up; down (why, until when); or failing: tried again at a time.
        func status(_ e: Catalog.SiteEntry) -> String {
            let h = health[e.site.name] ?? SiteHealth()
            if h.isDown(at: now) {
                let until = h.downUntil.map { ISO8601DateFormatter().string(from: $0) } ?? ""
                return h.byOperator
                    ? "down (\(h.reason ?? "reported down"); until \(until))"
                    : "down (\(h.reason ?? "does not answer"); \(h.failures) failure(s) in a row; next try \(until))"
            }
            return h.failures > 0 ? "retrying (\(h.failures) failure(s) in a row)" : "up"
        }
        func inUse(_ site: String) -> Int {
            catalog.nodeUsage.filter { $0.key.hasPrefix(site + "/") }.reduce(0) { $0 + $1.value.cores }
        }
        if json {
            let sites = catalog.sites.map { e -> Value in
                .map([
                    "name": .string(e.site.name), "connector": .string(e.site.connector.kind),
                    "cores": .int(e.site.totalCores), "inUse": .int(inUse(e.site.name)),
                    "owner": .string((e.site.owner ?? Principal(.user, e.registeredBy)).description),
                    "status": .string(e.isDown(at: now) ? "down" : "up"), "detail": .string(status(e)),
                    "failures": .int(health[e.site.name]?.failures ?? 0),
                ])
            }
            let grants = catalog.grants.map { g -> Value in
                .map([
                    "name": .string(g.name), "site": .string(g.site), "to": .string(g.to.description),
                    "coreHoursUsed": .double(catalog.coreHours[g.name] ?? 0), "once": .bool(g.once),
                    "used": .bool(!(catalog.grantUses[g.name] ?? []).isEmpty),
                ])
            }
            print(Value.map(["sites": .list(sites), "grants": .list(grants)]).jsonText)
            return
        }
        if catalog.sites.isEmpty {
            print("no sites registered: runs use this machine (register sites with `heaven sites add FILE`)")
            return
        }
        var rows = [["SITE", "CONNECTOR", "NODES", "CORES", "IN USE", "OWNER", "STATUS"]]
        for e in catalog.sites {
            rows.append([
                e.site.name, e.site.connector.kind, String(e.site.nodes.reduce(0) { $0 + $1.count }),
                String(e.site.totalCores), String(inUse(e.site.name)),
                (e.site.owner ?? Principal(.user, e.registeredBy)).description,
                status(e),
            ])
        }
        print(PlanCommand.table(rows))
        guard !catalog.grants.isEmpty else { return }
        print("")
        rows = [["GRANT", "SITE", "TO", "LIMITS", "VALID", "USED"]]
        for g in catalog.grants {
            var limits: [String] = []
            if let c = g.cores { limits.append(Wording.count(c, "core")) }
            if let h = g.coreHours { limits.append("\(CLI.number(h)) core-hours") }
            let valid = g.once ? "once" : (g.until.map { "until \($0)" } ?? "always")
            var used = String(format: "%.3f core-hours", catalog.coreHours[g.name] ?? 0)
            if g.once, !(catalog.grantUses[g.name] ?? []).isEmpty { used += ", consumed" }
            rows.append([
                g.name, g.site, g.to.description, limits.isEmpty ? "none" : limits.joined(separator: ", "), valid, used,
            ])
        }
        print(PlanCommand.table(rows))
    }
}

struct SitesAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Register (or update) the Site and Grant documents of files.")

    @Argument(help: "YAML files with Site and Grant documents.")
    var files: [String]

    @OptionGroup var connection: ServerOption

    func run() async throws {
        let load = Loader.load(paths: files)
        if !load.isValid {
            for d in load.diagnostics { CLI.error(d.description) }
            throw ExitCode(2)
        }
        if let remote = try connection.remote() {
            // A server's catalog: the Site documents to /v1/sites, the Grant documents to
            // /v1/grants (each checked there again, as their sender may register them).
            var sites: [String] = []
            var grants: [String] = []
            for source in load.sources {
                for document in SitesAddCommand.documents(of: source.text) {
                    let kind = document.split(separator: "\n").first { $0.hasPrefix("kind:") }?
                        .dropFirst(5).trimmingCharacters(in: .whitespaces)
                    if kind == "Site" { sites.append(document) } else if kind == "Grant" { grants.append(document) }
                }
            }
            if !sites.isEmpty {
                _ = try await remote.data(
                    "POST", "/v1/sites", body: Documents(yaml: sites.joined(separator: "\n---\n")))
            }
            if !grants.isEmpty {
                _ = try await remote.data(
                    "POST", "/v1/grants", body: Documents(yaml: grants.joined(separator: "\n---\n")))
            }
            print("registered \(sites.count) site(s) and \(grants.count) grant(s) on \(remote.server.absoluteString)")
            return
        }
        let (_, stores) = try CLI.openStore()
        let user = CLI.user()
        for s in load.documents.sites { try await stores.catalog.registerSite(s, by: user) }
        for g in load.documents.grants { try await stores.catalog.registerGrant(g, by: user) }
        print("registered \(load.documents.sites.count) site(s) and \(load.documents.grants.count) grant(s)")
    }

    /// A YAML file's documents, as texts (split at its `---` lines).
    static func documents(of text: String) -> [String] {
        var out: [String] = []
        var current: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces) == "---" || line.hasPrefix("--- ") {
                out.append(current.joined(separator: "\n"))
                current = []
            } else {
                current.append(line)
            }
        }
        out.append(current.joined(separator: "\n"))
        return out.filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
    }
}

struct SitesDownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Report a site down: running runs move its machines to other matching, granted capacity.",
        discussion: """
              $ heaven sites down grenoble --reason "maintenance" --for 2h
            """)

    @Argument(help: "The site.")
    var site: String

    @Option(help: "Why (shown in runs' histories).")
    var reason = "reported down"

    @Option(name: .customLong("for"), help: "How long, as a duration (default 1h).")
    var duration = "1h"

    func run() async throws {
        guard case .success(let q) = Quantity.parse(duration, as: .seconds) else {
            throw CLIError("--for takes a duration such as 30m or 2h, not `\(duration)`")
        }
        let (_, stores) = try CLI.openStore()
        guard try await stores.catalog.catalog().sites.contains(where: { $0.site.name == site }) else {
            throw CLIError("no site `\(site)` is registered (see `heaven sites`)")
        }
        try await stores.catalog.markSite(site, downUntil: Date().addingTimeInterval(q.value), reason: reason)
        print("site \(site) down for \(q) (\(reason))")
    }
}

struct SitesUpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up", abstract: "Report a site up again.")

    @Argument(help: "The site.")
    var site: String

    func run() async throws {
        let (_, stores) = try CLI.openStore()
        try await stores.catalog.markSite(site, downUntil: nil, reason: nil)
        print("site \(site) up")
    }
}

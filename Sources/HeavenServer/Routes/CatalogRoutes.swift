import Foundation
import HeavenAPI
import HeavenBroker
import HeavenCore
import HeavenLanguage
import HeavenModel
import Hummingbird

/// Sites, grants, and what the broker would do with a topology.
struct CatalogRoutes {
    let server: HeavenServer
    let access: Access
    var stores: Stores { server.stores }

    /// The route list: each operation (`Operations`, which documents it) and its handler.
    func register(_ routes: inout APIRoutes) {
        routes.add(Operations.sites) { try await sites($0, $1) }
        routes.add(Operations.registerSites, status: .created) { try await registerSites($0, $1) }
        routes.add(Operations.grants) { try await grants($0, $1) }
        routes.add(Operations.registerGrants, status: .created) { try await registerGrants($0, $1) }
        routes.add(Operations.plan) { try await plan($0, $1) }
    }

    // MARK: Handlers

    /// The registered sites, with their health.
    func sites(_ _: Request, _ context: HeavenContext) async throws -> SiteList {
        _ = try context.user
        let catalog = try await stores.catalog.catalog()
        let health = try await stores.catalog.siteHealth()
        let now = Date()
        return SiteList(
            sites: catalog.sites.map { e in
                SiteView(
                    name: e.site.name, connector: e.site.connector.kind, cores: e.site.totalCores,
                    owner: (e.site.owner ?? Principal(.user, e.registeredBy)).description,
                    status: (health[e.site.name]?.isDown(at: now) ?? false) ? .down : .up)
            })
    }

    /// The grants to the caller or on the caller's sites (all for admins).
    func grants(_ _: Request, _ context: HeavenContext) async throws -> GrantList {
        let user = try context.user
        let catalog = try await stores.catalog.catalog()
        let owned = Set(catalog.sites.filter { access.owns(user, $0) }.map(\.site.name))
        let mine = catalog.grants.filter { g in user.admin || owned.contains(g.site) || Access.names(g.to, user) }
        return GrantList(
            grants: mine.map { g in
                GrantView(
                    name: g.name, site: g.site, to: g.to.description, once: g.once,
                    used: !(catalog.grantUses[g.name] ?? []).isEmpty, coreHoursUsed: catalog.coreHours[g.name] ?? 0,
                    cores: g.cores, coreHours: g.coreHours)
            })
    }

    /// Places a topology for the caller, or says why it cannot be placed.
    func plan(_ request: Request, _ context: HeavenContext) async throws -> PlanResult {
        let user = try context.user
        let given = try await body(Documents.self, of: request, context)
        let load = try access.load(documents: given.documents, yaml: given.yaml, allowed: ["Topology", "Workflow"])
        guard let topology = load.documents.topologies.first else {
            throw Problem(.unprocessableContent, "the documents hold no Topology to place")
        }
        let catalog = try await stores.catalog.catalog()
        switch Broker(catalog: catalog, dataAt: catalog.localSites).place(
            topology, for: Identity(user: user.name, groups: user.groups))
        {
        case .success(let p): return PlanResult(topology: topology.name, placement: p)
        case .failure(let refusal): return PlanResult(topology: topology.name, reasons: refusal.reasons)
        }
    }

    /// Registers sites (by their owner or an admin).
    func registerSites(_ request: Request, _ context: HeavenContext) async throws -> Registered {
        let user = try context.user
        let given = try await body(Documents.self, of: request, context)
        let load = try access.load(documents: given.documents, yaml: given.yaml, allowed: ["Site"])
        let catalog = try await stores.catalog.catalog()
        guard !load.documents.sites.isEmpty else { throw Problem(.unprocessableContent, "the documents hold no Site") }
        for site in load.documents.sites {
            if !user.admin, let why = server.policy.tenantRefusal(site) {
                throw Problem(.forbidden, "\(site.location): site `\(site.name)`: \(why)")
            }
            let owner = site.owner ?? Principal(.user, user.name)
            guard user.admin || Access.names(owner, user) else {
                throw Problem(
                    .forbidden, "site `\(site.name)` would be owned by \(owner); you may register only sites you own")
            }
            if let existing = catalog.sites.first(where: { $0.site.name == site.name }), !user.admin,
                !access.owns(user, existing)
            {
                throw Problem(.forbidden, "site `\(site.name)` exists and belongs to someone else")
            }
        }
        for site in load.documents.sites { try await stores.catalog.registerSite(site, by: user.name) }
        return Registered(registered: load.documents.sites.map(\.name))
    }

    /// Registers grants (by the owner of their site or an admin).
    func registerGrants(_ request: Request, _ context: HeavenContext) async throws -> Registered {
        let user = try context.user
        let given = try await body(Documents.self, of: request, context)
        let load = try access.load(documents: given.documents, yaml: given.yaml, allowed: ["Grant"])
        let catalog = try await stores.catalog.catalog()
        guard !load.documents.grants.isEmpty else {
            throw Problem(.unprocessableContent, "the documents hold no Grant")
        }
        for grant in load.documents.grants {
            guard let site = catalog.sites.first(where: { $0.site.name == grant.site }) else {
                throw Problem(.unprocessableContent, "grant `\(grant.name)`: no site `\(grant.site)` is registered")
            }
            guard user.admin || access.owns(user, site) else {
                throw Problem(.forbidden, "grant `\(grant.name)`: only the owner of site `\(grant.site)` may grant it")
            }
        }
        for grant in load.documents.grants { try await stores.catalog.registerGrant(grant, by: user.name) }
        return Registered(registered: load.documents.grants.map(\.name))
    }
}

/// The operations, as the API document describes them.
extension CatalogRoutes {
    enum Operations {
        static let sites =
            APIOperation(
                "GET", "/v1/sites", "Registered sites", tag: "sites",
                responses: [APIResponse(200, "the sites", .json(SiteList.self))])

        static let registerSites =
            APIOperation(
                "POST", "/v1/sites", "Register or change sites (owners and admins)", tag: "sites",
                request: Documents.self,
                responses: [
                    APIResponse(201, "registered", .json(Registered.self)),
                    APIResponse(
                        403,
                        """
                        not the owner; or, for a user who is not an admin, a site that is not an SSH host (or \
                        Slurm login host) allowed by `--site-hosts` reached with the user's own key (`identity: \
                        {secret: NAME}`)
                        """
                    ), APIResponse(422, "invalid documents (file:line:col diagnostics in detail)"),
                ])

        static let grants =
            APIOperation(
                "GET", "/v1/grants", "Grants to the caller or on the caller's sites (all for admins)", tag: "sites",
                responses: [APIResponse(200, "the grants", .json(GrantList.self))])

        static let registerGrants =
            APIOperation(
                "POST", "/v1/grants", "Register or change grants (owners of their sites and admins)", tag: "sites",
                request: Documents.self,
                responses: [
                    APIResponse(201, "registered", .json(Registered.self)), APIResponse(403, "not the site's owner"),
                    APIResponse(422, "invalid documents"),
                ])

        static let plan =
            APIOperation(
                "POST", "/v1/plan", "Place a topology for the caller, or explain why it cannot be placed", tag: "sites",
                request: Documents.self,
                responses: [
                    APIResponse(200, "the placement, or the reasons it cannot be made", .json(PlanResult.self)),
                    APIResponse(422, "invalid documents"),
                ])
    }
}

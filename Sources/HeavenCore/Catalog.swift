public import Foundation
public import HeavenModel

/// The sites and grants known to the store, with what the broker needs to judge
/// them: who registered them, which one-shot grants are used, core-hours charged,
/// which sites are down, and how loaded each node is.
public struct Catalog: Sendable, Codable {
    /// A registered site.
    public struct SiteEntry: Sendable, Codable {
        public var site: Site
        public var registeredBy: String
        /// Set while the site is reported down.
        public var downUntil: Date?
        public var downReason: String?

        /// Creates an entry.
        public init(site: Site, registeredBy: String, downUntil: Date? = nil, downReason: String? = nil) {
            self.site = site
            self.registeredBy = registeredBy
            self.downUntil = downUntil
            self.downReason = downReason
        }

        /// Whether the site counts as down at `now`.
        public func isDown(at now: Date) -> Bool { downUntil.map { $0 > now } ?? false }
    }

    public var sites: [SiteEntry] = []
    public var grants: [Grant] = []
    /// Runs that used each grant.
    public var grantUses: [String: Set<String>] = [:]
    /// Core-hours charged to each grant.
    public var coreHours: [String: Double] = [:]
    /// Cores and memory held by running attempts of live runs, by node (`SITE/NODE/INDEX`).
    public var nodeUsage: [String: NodeUsage] = [:]

    /// Creates an empty catalog.
    public init() {}

    /// The sites on this machine: where a run's input files are (the broker places
    /// near them).
    public var localSites: Set<String> { Set(sites.filter { $0.site.connector == .local }.map(\.site.name)) }
}

/// What the running attempts of live runs hold on one node.
public struct NodeUsage: Sendable, Hashable, Codable {
    public var cores: Int
    public var memory: Double

    /// Creates a use.
    public init(cores: Int = 0, memory: Double = 0) {
        self.cores = cores
        self.memory = memory
    }
}

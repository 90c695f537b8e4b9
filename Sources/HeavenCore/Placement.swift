/// A concrete node of a site: one of a node kind's `count` instances.
public struct NodeRef: Sendable, Hashable, Codable, CustomStringConvertible {
    public var site: String
    public var node: String
    public var index: Int

    /// Creates a reference.
    public init(site: String, node: String, index: Int) {
        self.site = site
        self.node = node
        self.index = index
    }

    /// `SITE/NODE/INDEX`, the key under which its use is accounted.
    public var id: String { "\(site)/\(node)/\(index)" }
    public var description: String { id }
}

/// One instance of a virtual machine bound to a node.
public struct PlacedMachine: Sendable, Hashable, Codable {
    public var machine: String
    public var instance: Int
    public var node: NodeRef
    /// The grant the use is charged to; nil on a site the user owns.
    public var grant: String?
    public var cores: Int
    public var memory: Double
    public var rank: Double

    /// Creates a placed machine.
    public init(machine: String, instance: Int, node: NodeRef, grant: String?, cores: Int, memory: Double, rank: Double)
    {
        self.machine = machine
        self.instance = instance
        self.node = node
        self.grant = grant
        self.cores = cores
        self.memory = memory
        self.rank = rank
    }
}

/// Capacity of a node, and limits of a grant, as the engine enforces them per task.
public struct NodeCapacity: Sendable, Hashable, Codable {
    public var cores: Int
    public var memory: Double?

    /// Creates a capacity.
    public init(cores: Int, memory: Double?) {
        self.cores = cores
        self.memory = memory
    }
}

/// Limits of a grant used by a placement.
public struct GrantLimits: Sendable, Hashable, Codable {
    public var cores: Int?
    public var coreHours: Double?
    public var once: Bool

    /// Creates limits.
    public init(cores: Int?, coreHours: Double?, once: Bool) {
        self.cores = cores
        self.coreHours = coreHours
        self.once = once
    }
}

/// A topology instantiated: every virtual machine instance bound to a node.
public struct Placement: Sendable, Hashable, Codable {
    public var topology: String
    public var user: String
    public var machines: [PlacedMachine]
    /// Capacity of every node used, by `NodeRef.id`.
    public var nodes: [String: NodeCapacity]
    /// Limits of every grant used, by name.
    public var grants: [String: GrantLimits]
    /// Probability that every site used is up (product of their availabilities).
    public var availability: Double
    /// Estimated cost: cores × price per core-hour × deadline (or one hour).
    public var cost: Double

    /// Creates a placement.
    public init(
        topology: String, user: String, machines: [PlacedMachine], nodes: [String: NodeCapacity],
        grants: [String: GrantLimits], availability: Double, cost: Double
    ) {
        self.topology = topology
        self.user = user
        self.machines = machines
        self.nodes = nodes
        self.grants = grants
        self.availability = availability
        self.cost = cost
    }

    /// The sites used.
    public var sites: [String] { Array(Set(machines.map(\.node.site))).sorted() }
}

/// A named set of virtual machines, their links, QoS and SLA.
public struct Topology: Sendable, Hashable, Codable {
    public var name: String
    public var machines: [VirtualMachine]
    public var links: [TopologyLink]
    /// Required availability (0...1).
    public var availability: Double?
    /// Deadline in seconds.
    public var deadline: Double?
    /// Most the run may cost.
    public var budget: Double?
    public var location: SourceLocation

    /// Creates a topology.
    public init(
        name: String, machines: [VirtualMachine], links: [TopologyLink] = [], availability: Double? = nil,
        deadline: Double? = nil, budget: Double? = nil, location: SourceLocation
    ) {
        self.name = name
        self.machines = machines
        self.links = links
        self.availability = availability
        self.deadline = deadline
        self.budget = budget
        self.location = location
    }
}

/// An abstract requirement for a machine: hardware, software, expressions, count.
public struct VirtualMachine: Sendable, Hashable, Codable {
    public var name: String
    public var count: Int
    public var cores: Int
    public var memory: Double?
    public var disk: Double?
    public var gpus: Int
    public var arch: String?
    public var software: [String]
    public var tags: [String]
    /// Whether tasks on it may use the network when sandboxed.
    public var network: Bool
    public var requirements: Expression?
    public var rank: Expression?
    public var location: SourceLocation

    /// Creates a virtual machine.
    public init(
        name: String, count: Int = 1, cores: Int = 1, memory: Double? = nil, disk: Double? = nil, gpus: Int = 0,
        arch: String? = nil, software: [String] = [], tags: [String] = [], network: Bool = false,
        requirements: Expression? = nil, rank: Expression? = nil, location: SourceLocation
    ) {
        self.name = name
        self.count = count
        self.cores = cores
        self.memory = memory
        self.disk = disk
        self.gpus = gpus
        self.arch = arch
        self.software = software
        self.tags = tags
        self.network = network
        self.requirements = requirements
        self.rank = rank
        self.location = location
    }
}

/// A link constraint between two virtual machines.
public struct TopologyLink: Sendable, Hashable, Codable {
    public var between: [String]
    /// Least bandwidth in bits/s.
    public var minimumBandwidth: Double?
    /// Most latency in seconds.
    public var maximumLatency: Double?
    public var location: SourceLocation

    /// Creates a link.
    public init(between: [String], minimumBandwidth: Double?, maximumLatency: Double?, location: SourceLocation) {
        self.between = between
        self.minimumBandwidth = minimumBandwidth
        self.maximumLatency = maximumLatency
        self.location = location
    }
}

/// Every document read from a set of files.
public struct DocumentSet: Sendable {
    public var sites: [Site] = []
    public var grants: [Grant] = []
    public var topologies: [Topology] = []
    public var workflows: [Workflow] = []

    /// Creates an empty set.
    public init() {}

    /// The workflow with this name.
    public func workflow(named name: String) -> Workflow? { workflows.first { $0.name == name } }
    /// The topology with this name.
    public func topology(named name: String) -> Topology? { topologies.first { $0.name == name } }
}

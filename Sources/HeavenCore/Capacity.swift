/// What an attempt may not exceed when it starts: its node's capacity and its
/// grant's limits, counted over every live run (checked in the same transaction
/// that records the attempt, so two processes never oversubscribe a node).
public struct CapacityLimits: Sendable {
    public var nodeCores: Int
    public var nodeMemory: Double?
    public var grantCores: Int?
    public var grantCoreHours: Double?

    /// Creates limits.
    public init(nodeCores: Int, nodeMemory: Double?, grantCores: Int?, grantCoreHours: Double?) {
        self.nodeCores = nodeCores
        self.nodeMemory = nodeMemory
        self.grantCores = grantCores
        self.grantCoreHours = grantCoreHours
    }
}

/// The outcome of recording an attempt's start under capacity limits.
public enum AttemptStart: Sendable, Equatable {
    /// Recorded, with its id.
    case started(Int64)
    /// Not recorded: the node or grant is full; the reason says which.
    case refused(String)
}

/// Why a topology cannot be placed: one line per virtual machine and site (or link,
/// availability, budget), each saying which constraint failed.
public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
    public var topology: String
    public var reasons: [String]

    /// Creates a refusal.
    public init(topology: String, reasons: [String]) {
        self.topology = topology
        self.reasons = reasons
    }

    public var description: String {
        "topology `\(topology)` cannot be placed:\n" + reasons.map { "  " + $0 }.joined(separator: "\n")
    }
}

extension Workflow {
    /// Every place this workflow asks for less confinement than a sandbox
    /// (`isolation: none` on the workflow or on one of its tasks), in file order. A
    /// shared server refuses such a workflow from anyone but an admin.
    public var isolationOptOuts: [SourceLocation] {
        var found: [SourceLocation] = []
        if isolation == .none, let at = isolationLocation { found.append(at) }
        for s in steps.depthFirst {
            if case .task(let t) = s.form, t.isolation == Isolation.none, let at = t.isolationLocation {
                found.append(at)
            }
        }
        return found
    }
}

extension DocumentSet {
    /// The opt-outs of sandboxing in every workflow of the documents (called ones too).
    public var isolationOptOuts: [SourceLocation] {
        workflows.flatMap(\.isolationOptOuts).sorted { ($0.file, $0.line, $0.column) < ($1.file, $1.line, $1.column) }
    }
}

extension DocumentSet {
    /// Where the virtual machines of the topologies that ask for the network
    /// (`network: true`) are written: what a server whose operator gives tenants no
    /// network refuses from a tenant.
    public var networkRequests: [SourceLocation] {
        topologies.flatMap { $0.machines.filter(\.network).map(\.location) }
            .sorted { ($0.file, $0.line, $0.column) < ($1.file, $1.line, $1.column) }
    }
}

/// The names composite steps take in task keys (`each#3/ndvi`, `search@2/decide`,
/// `scored/count`): their `name`, or for one without a name a readable one of its own.
extension Workflow {
    /// The name `step` takes in the keys of the tasks inside it. A step without `name`
    /// is named after what it is about — a foreach after its item variable (`tile#3/ndvi`),
    /// a call after the workflow it calls (`score/count`), a loop `loop` — unless another
    /// step of the workflow has that name or would take it too: then its line is added
    /// (`tile-14#3/ndvi`), and its column if that is not enough.
    public func keyName(of step: Step) -> String {
        if let name = step.name { return name }
        guard let mine = Workflow.plainKeyName(step) else { return Workflow.positional(step) }
        var taken = 0
        var anonymous: [Step] = []
        for s in steps.depthFirst {
            if case .task(let t) = s.form, t.name == mine { taken += 1 }
            if let n = s.name, n == mine { taken += 1 }
            if s.name == nil, Workflow.plainKeyName(s) == mine { anonymous.append(s) }
        }
        if taken == 0 && anonymous.count <= 1 { return mine }
        let sameLine = anonymous.filter { $0.location.line == step.location.line }.count
        return sameLine > 1
            ? "\(mine)-\(step.location.line)-\(step.location.column)" : "\(mine)-\(step.location.line)"
    }

    /// What a step without a name is about, when it has keys of its own.
    static func plainKeyName(_ step: Step) -> String? {
        switch step.form {
        case .foreach(let f): f.variable
        case .loop: "loop"
        case .call(let c):
            String(
                (c.workflow.split(separator: "/").last.map(String.init) ?? c.workflow)
                    .replacing(/\.ya?ml$/, with: ""))
        default: nil
        }
    }

    /// A name from the step's kind and position (`sequence-12-5`).
    static func positional(_ step: Step) -> String {
        "\(step.keyword)-\(step.location.line)-\(step.location.column)"
    }
}

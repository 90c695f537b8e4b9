import HeavenModel

/// Checks what the readers cannot see one document at a time: step names,
/// references between steps, calls and their cycles, machines named by `on`.
struct WorkflowChecker {
    let documents: DocumentSet
    let sink: DiagnosticSink
    let sourcesOfWorkflow: [String: String]

    /// What a step name stands for in references.
    enum StepInfo {
        case task([String])
        case call(String)
        case loop
        case other
    }

    func check() {
        for w in documents.workflows { check(w) }
        checkCycles()
    }

    func location(_ e: Expression, _ offset: Int) -> SourceLocation {
        e.location(ofOffset: offset) ?? SourceLocation(file: "?", line: 1, column: 1)
    }

    func check(_ w: Workflow) {
        var infos: [String: StepInfo] = [:]
        var firstAt: [String: SourceLocation] = [:]
        func collect(_ steps: [Step]) {
            for s in steps {
                if let n = s.name {
                    if let f = firstAt[n] {
                        sink.error(
                            "duplicate step name `\(n)` (first defined at \(f.line):\(f.column))", at: s.location)
                    } else {
                        firstAt[n] = s.location
                        switch s.form {
                        case .task(let t): infos[n] = .task(t.outputs.map(\.name))
                        case .call(let c): infos[n] = .call(c.workflow)
                        case .loop: infos[n] = .loop
                        default: infos[n] = .other
                        }
                    }
                }
                collect(s.children)
            }
        }
        collect(w.steps)

        var topology: Topology?
        if let tn = w.topology {
            topology = documents.topology(named: tn)
            if topology == nil {
                let hint =
                    Suggestion.closest(to: tn, among: documents.topologies.map(\.name)).map {
                        " (did you mean `\($0)`?)"
                    } ?? ""
                sink.error("workflow `\(w.name)` names unknown topology `\(tn)`\(hint)", at: w.location)
            }
        }
        let inputs = w.inputs.map(\.name)
        var checker = ReferenceWalker(
            checker: self, workflow: w, infos: infos, inputs: inputs, topology: topology)
        var available: Set<String> = []
        checker.walk(w.steps, &available, locals: [:])
        let all = Set(infos.keys)
        for o in w.outputs {
            for e in o.value.expressions { checker.checkExpression(e, available: all, locals: [:]) }
        }
    }

    func callee(_ name: String) -> Workflow? { documents.workflow(named: name) }

    func checkCycles() {
        var edges: [String: [(String, SourceLocation)]] = [:]
        for w in documents.workflows {
            for s in w.steps.depthFirst {
                if case .call(let c) = s.form, !c.workflow.isEmpty {
                    edges[w.name, default: []].append((c.workflow, s.location))
                }
            }
        }
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        var reported = Set<String>()
        func dfs(_ n: String, _ path: [String]) {
            state[n] = 1
            for (m, loc) in edges[n] ?? [] {
                if state[m] == 1 {
                    let cycle = (path.drop(while: { $0 != m }) + [n, m]).joined(separator: " → ")
                    let key = Set(path.drop(while: { $0 != m }) + [n]).sorted().joined(separator: ",")
                    if !reported.contains(key) {
                        reported.insert(key)
                        sink.error("call cycle: \(cycle)", at: loc)
                    }
                } else if state[m] == nil {
                    dfs(m, path + [n])
                }
            }
            state[n] = 2
        }
        for w in documents.workflows where state[w.name] == nil { dfs(w.name, []) }
    }
}

/// Walks steps in execution order, knowing which step names have run at each point.
struct ReferenceWalker {
    let checker: WorkflowChecker
    let workflow: Workflow
    let infos: [String: WorkflowChecker.StepInfo]
    let inputs: [String]
    let topology: Topology?

    /// A name bound inside a body: a foreach item or a loop counter.
    enum Local {
        case item
        case loop
    }

    mutating func walk(_ steps: [Step], _ available: inout Set<String>, locals: [String: Local]) {
        for s in steps { walk(s, &available, locals: locals) }
    }

    mutating func walk(_ s: Step, _ available: inout Set<String>, locals: [String: Local]) {
        switch s.form {
        case .task(let t):
            checkTask(t, available: available, locals: locals)
        case .sequence(let steps):
            walk(steps, &available, locals: locals)
        case .parallel(let branches), .interleave(let branches):
            var union = available
            for b in branches {
                var mine = available
                walk(b, &mine, locals: locals)
                union.formUnion(mine)
            }
            available = union
        case .loop(let l):
            var inner = locals
            inner["loop"] = .loop
            if let n = s.name { inner[n] = .loop }
            // In a loop, a body step not yet run in this iteration means its previous iteration.
            var body = available.union(Self.names(in: l.steps))
            if case .whileTrue(let e) = l.condition { checkExpression(e, available: body, locals: inner) }
            walk(l.steps, &body, locals: inner)
            if case .until(let e) = l.condition { checkExpression(e, available: body, locals: inner) }
            available = body
        case .foreach(let f):
            checkExpression(f.items, available: available, locals: locals)
            var inner = locals
            inner[f.variable] = .item
            var body = available
            walk(f.steps, &body, locals: inner)
            available = body
        case .conditional(let c):
            checkExpression(c.condition, available: available, locals: locals)
            var a = available
            var b = available
            walk(c.then, &a, locals: locals)
            walk(c.otherwise, &b, locals: locals)
            available = a.union(b)
        case .call(let c):
            checkCall(c, at: s.location, available: available, locals: locals)
        }
        if let n = s.name { available.insert(n) }
    }

    static func names(in steps: [Step]) -> Set<String> {
        var out = Set<String>()
        for s in steps {
            if let n = s.name { out.insert(n) }
            if case .foreach = s.form { continue }
            out.formUnion(names(in: s.children))
        }
        return out
    }

    func checkTask(_ t: TaskStep, available: Set<String>, locals: [String: Local]) {
        var templates: [Template] = []
        switch t.command {
        case .argv(let a): templates += a
        case .shell(let s): templates.append(s)
        }
        templates += t.environment.map(\.value) + t.inputs.map(\.value)
        for o in t.outputs {
            switch o.source {
            case .file(let p), .glob(let p), .json(let p, _): templates.append(p)
            default: break
            }
        }
        for tpl in templates {
            for e in tpl.expressions { checkExpression(e, available: available, locals: locals) }
        }
        if let on = t.on {
            if let topo = topology {
                if !topo.machines.contains(where: { $0.name == on }) {
                    let hint =
                        Suggestion.closest(to: on, among: topo.machines.map(\.name)).map { " (did you mean `\($0)`?)" }
                        ?? ""
                    checker.sink.error(
                        "task `\(t.name)` runs `on` unknown machine `\(on)` of topology `\(topo.name)`\(hint)",
                        at: t.location)
                }
            } else if workflow.topology == nil {
                checker.sink.error(
                    "task `\(t.name)` names machine `\(on)` but workflow `\(workflow.name)` has no `topology`",
                    at: t.location)
            }
        }
    }

    func checkCall(_ c: Call, at location: SourceLocation, available: Set<String>, locals: [String: Local]) {
        for tpl in c.with.values {
            for e in tpl.expressions { checkExpression(e, available: available, locals: locals) }
        }
        guard !c.workflow.isEmpty else { return }
        guard let callee = checker.callee(c.workflow) else {
            let hint =
                Suggestion.closest(to: c.workflow, among: checker.documents.workflows.map(\.name)).map {
                    " (did you mean `\($0)`?)"
                } ?? ""
            checker.sink.error("call of unknown workflow `\(c.workflow)`\(hint)", at: location)
            return
        }
        let names = callee.inputs.map(\.name)
        for k in c.with.keys.sorted() where !names.contains(k) {
            let hint = Suggestion.closest(to: k, among: names).map { " (did you mean `\($0)`?)" } ?? ""
            checker.sink.error(
                "workflow `\(callee.name)` has no input `\(k)`\(hint)", at: c.with[k]?.location ?? location)
        }
        for i in callee.inputs where i.defaultValue == nil && c.with[i.name] == nil {
            checker.sink.error("call of `\(callee.name)` misses required input `\(i.name)`", at: location)
        }
    }

    func checkExpression(_ e: Expression, available: Set<String>, locals: [String: Local]) {
        for ref in e.tree.references {
            let loc = checker.location(e, ref.offset)
            if let local = locals[ref.name] {
                let loc = checker.location(e, ref.memberOffset)
                if local == .loop, let m = ref.member, m != "iteration" && !(m == "count" && ref.name != "loop") {
                    checker.sink.error("a loop has only `iteration`, not `\(m)`", at: loc)
                }
                continue
            }
            if ref.name == "inputs" {
                let loc = checker.location(e, ref.memberOffset)
                if let m = ref.member, !inputs.contains(m) {
                    let hint = Suggestion.closest(to: m, among: inputs).map { " (did you mean `\($0)`?)" } ?? ""
                    checker.sink.error("unknown input `\(m)` of workflow `\(workflow.name)`\(hint)", at: loc)
                }
                continue
            }
            if ref.name == "loop" {
                checker.sink.error("`loop` is only defined inside a loop", at: loc)
                continue
            }
            guard let info = infos[ref.name] else {
                let candidates = Array(available) + Array(locals.keys) + ["inputs"]
                let hint = Suggestion.closest(to: ref.name, among: candidates).map { " (did you mean `\($0)`?)" } ?? ""
                checker.sink.error("unknown name `\(ref.name)`\(hint)", at: loc)
                continue
            }
            guard available.contains(ref.name) else {
                checker.sink.error(
                    """
                    step `\(ref.name)` has not run at this point (it runs later, or in a parallel branch); its \
                    outputs are not available here
                    """,
                    at: loc)
                continue
            }
            guard let m = ref.member else { continue }
            let memberLoc = checker.location(e, ref.memberOffset)
            switch info {
            case .task(let outs):
                if !outs.contains(m) {
                    let hint =
                        Suggestion.closest(to: m, among: outs).map { " (did you mean `\($0)`?)" }
                        ?? (outs.isEmpty
                            ? "; it declares no outputs" : "; its outputs: \(outs.joined(separator: ", "))")
                    checker.sink.error("step `\(ref.name)` has no output `\(m)`\(hint)", at: memberLoc)
                }
            case .call(let wname):
                if let callee = checker.callee(wname) {
                    let outs = callee.outputs.map(\.name)
                    if !outs.contains(m) {
                        let hint = Suggestion.closest(to: m, among: outs).map { " (did you mean `\($0)`?)" } ?? ""
                        checker.sink.error(
                            "workflow `\(wname)` (called as `\(ref.name)`) has no output `\(m)`\(hint)", at: memberLoc)
                    }
                }
            case .loop:
                if m != "iteration" && m != "count" {
                    checker.sink.error(
                        "a loop has only `iteration` (and, after it, `count`), not `\(m)`", at: memberLoc)
                }
            case .other:
                checker.sink.error("step `\(ref.name)` has no outputs (only tasks and calls do)", at: memberLoc)
            }
        }
    }
}

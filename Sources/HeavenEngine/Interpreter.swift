import Foundation
import HeavenConnectors
import HeavenCore
import HeavenLanguage
import HeavenModel

/// Interprets control flow: each step form as DESIGN.md specifies it. Task
/// instances are named by stable keys (`each#17/ndvi`, `opt@3/eval`), so a
/// resumed run recognises what already finished and only replays its results.
struct Interpreter: Sendable {
    let context: RunContext

    /// Runs steps in sequence.
    func run(_ steps: [Step], scope: Scope, prefix: String, workflow: Workflow) async throws {
        for step in steps {
            try context.checkRunning()
            try await run(step, scope: scope, prefix: prefix, workflow: workflow)
        }
    }

    func run(_ step: Step, scope: Scope, prefix: String, workflow: Workflow) async throws {
        switch step.form {
        case .task(let task):
            let outputs = try await TaskExecutor(context: context, workflow: workflow)
                .execute(task, key: prefix + task.name, scope: scope)
            scope.set(task.name, .map(outputs))

        case .sequence(let steps):
            try await run(steps, scope: scope, prefix: prefix, workflow: workflow)

        case .parallel(let branches):
            try await withThrowingTaskGroup(of: Void.self) { group in
                for b in branches {
                    group.addTask { try await self.run(b, scope: scope, prefix: prefix, workflow: workflow) }
                }
                try await Interpreter.drain(&group)
            }

        case .interleave(let branches):
            let mutex = AsyncMutex()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for b in branches {
                    group.addTask {
                        try await mutex.withLock {
                            try self.context.checkRunning()
                            try await self.run(b, scope: scope, prefix: prefix, workflow: workflow)
                        }
                    }
                }
                try await Interpreter.drain(&group)
            }

        case .conditional(let c):
            let holds = try evaluateCondition(c.condition, scope)
            // The tasks of the branch not taken did not run: their outputs are null.
            let skipped = holds ? c.otherwise : c.then
            for s in skipped.depthFirst {
                if case .task(let t) = s.form {
                    scope.set(t.name, .map(Dictionary(uniqueKeysWithValues: t.outputs.map { ($0.name, Value.null) })))
                }
            }
            try await run(holds ? c.then : c.otherwise, scope: scope, prefix: prefix, workflow: workflow)

        case .loop(let loop):
            try await runLoop(loop, step: step, scope: scope, prefix: prefix, workflow: workflow)

        case .foreach(let f):
            try await runForeach(f, step: step, scope: scope, prefix: prefix, workflow: workflow)

        case .call(let call):
            guard let callee = context.plan.documents.workflow(named: call.workflow) else {
                throw EngineError.evaluation("workflow `\(call.workflow)` is not loaded", at: step.location)
            }
            var given: [String: Value] = [:]
            for (name, template) in call.with {
                given[name] = try evaluate(template, scope)
            }
            let inputs = try Interpreter.bindInputs(
                callee, given: given, baseDirectory: context.plan.baseDirectory,
                roots: context.plan.confined ? context.stagingRoots : nil)
            let inner = Scope(parent: nil, values: ["inputs": .map(inputs)])
            let name = workflow.keyName(of: step)
            try await run(callee.steps, scope: inner, prefix: prefix + name + "/", workflow: callee)
            var outputs: [String: Value] = [:]
            for o in callee.outputs { outputs[o.name] = try evaluate(o.value, inner) }
            if let n = step.name { scope.set(n, .map(outputs)) }
        }
    }

    /// Waits for every child; the first real failure wins over `stopped` errors.
    static func drain(_ group: inout ThrowingTaskGroup<Void, any Error>) async throws {
        var first: (any Error)?
        while true {
            do {
                guard try await group.next() != nil else { break }
            } catch {
                if first == nil || (Interpreter.isStop(first!) && !Interpreter.isStop(error)) { first = error }
            }
        }
        if let first { throw first }
    }

    static func isStop(_ e: any Error) -> Bool {
        if case EngineError.stopped = e { return true }
        return false
    }

    func runLoop(_ loop: Loop, step: Step, scope: Scope, prefix: String, workflow: Workflow) async throws {
        let name = workflow.keyName(of: step)
        let inner = Scope(parent: scope)
        var iteration = 0
        while iteration < loop.max {
            try context.checkRunning()
            let counter = Value.map(["iteration": .int(iteration)])
            inner.set("loop", counter)
            if let n = step.name { inner.set(n, counter) }
            if case .whileTrue(let e) = loop.condition, !(try evaluateCondition(e, inner)) { break }
            try await run(loop.steps, scope: inner, prefix: prefix + "\(name)@\(iteration)/", workflow: workflow)
            iteration += 1
            if case .until(let e) = loop.condition, try evaluateCondition(e, inner) { break }
        }
        for (k, v) in inner.local where k != "loop" && k != step.name { scope.set(k, v) }
        if let n = step.name {
            scope.set(n, .map(["iteration": .int(max(0, iteration - 1)), "count": .int(iteration)]))
        }
        if iteration == loop.max {
            await context.event(.loopStopped(task: prefix + name, loop: name, max: loop.max))
        }
    }

    func runForeach(_ f: Foreach, step: Step, scope: Scope, prefix: String, workflow: Workflow) async throws {
        let name = workflow.keyName(of: step)
        let items = try evaluate(f.items, scope)
        guard let count = items.count else {
            throw EngineError.evaluation(
                "`foreach` needs a list, got a \(items.typeName) (\(items))", at: f.items.location)
        }
        // Only results that later steps can read are kept: tasks with outputs, calls, nested foreach results.
        let collected = Interpreter.resultNames(f.steps)
        var results: [String: [Value]] = [:]
        for n in collected { results[n] = [] }
        if count == 0 {
            for n in collected { scope.set(n, Interpreter.emptyResult(n, f.steps)) }
            return
        }
        let window = min(count, f.parallel ?? context.foreachWindow)
        context.count { $0.pendingItems += count }
        var startedItems = 0
        defer { context.count { [startedItems] in $0.pendingItems -= count - startedItems } }
        var buffered: [Int: [String: Value]] = [:]
        var nextToCollect = 0
        try await withThrowingTaskGroup(of: (Int, [String: Value]).self) { group in
            var next = 0
            func add(_ i: Int) {
                startedItems += 1
                context.count { $0.pendingItems -= 1 }
                let item = items.item(at: i) ?? .null
                group.addTask {
                    let inner = Scope(parent: scope, values: [f.variable: item])
                    try await self.run(f.steps, scope: inner, prefix: prefix + "\(name)#\(i)/", workflow: workflow)
                    var values: [String: Value] = [:]
                    if !collected.isEmpty {
                        let local = inner.local
                        for n in collected { values[n] = local[n] ?? .null }
                    }
                    return (i, values)
                }
            }
            while next < window {
                add(next)
                next += 1
            }
            var failure: (any Error)?
            while true {
                do {
                    guard let (i, values) = try await group.next() else { break }
                    if !collected.isEmpty {
                        buffered[i] = values
                        while let v = buffered.removeValue(forKey: nextToCollect) {
                            for n in collected { results[n]!.append(v[n] ?? .null) }
                            nextToCollect += 1
                        }
                    }
                    if next < count, failure == nil, context.stopReason == nil {
                        add(next)
                        next += 1
                    }
                } catch {
                    if failure == nil || (Interpreter.isStop(failure!) && !Interpreter.isStop(error)) {
                        failure = error
                    }
                }
            }
            if let failure { throw failure }
            // Items left unstarted because the run is stopping: the foreach did not complete.
            if next < count { try context.checkRunning() }
        }
        for n in collected { scope.set(n, Interpreter.transpose(results[n] ?? [])) }
    }

    /// Per-item results `[{a: 1, b: x}, {a: 2, b: y}]` as `{a: [1, 2], b: [x, y]}`: after a
    /// foreach, `${STEP.OUTPUT}` is the list of every item's value, in item order.
    static func transpose(_ items: [Value]) -> Value {
        var keys: [String] = []
        for case .map(let m) in items {
            for k in m.keys.sorted() where !keys.contains(k) { keys.append(k) }
        }
        guard !keys.isEmpty else { return .list(items) }
        var out: [String: Value] = [:]
        for k in keys {
            out[k] = .list(items.map { if case .map(let m) = $0 { m[k] ?? .null } else { .null } })
        }
        return .map(out)
    }

    /// The value of a body step after a foreach of no items: each output an empty list.
    static func emptyResult(_ name: String, _ steps: [Step]) -> Value {
        let task = steps.depthFirst.compactMap { s -> TaskStep? in
            if case .task(let t) = s.form, t.name == name { t } else { nil }
        }.last
        guard let task else { return .list([]) }
        return .map(Dictionary(uniqueKeysWithValues: task.outputs.map { ($0.name, Value.list([])) }))
    }

    /// Names of steps in a body whose values a foreach collects.
    static func resultNames(_ steps: [Step]) -> [String] {
        steps.depthFirst.compactMap { step in
            switch step.form {
            case .task(let t) where !t.outputs.isEmpty: t.name
            case .call: step.name
            default: nil
            }
        }
    }

    func evaluate(_ e: HeavenModel.Expression, _ scope: Scope) throws -> Value {
        do { return try e.evaluate(in: scope) } catch {
            throw EngineError.evaluation("\(error.message) in `\(e.source)`", at: e.location(ofOffset: error.offset))
        }
    }

    func evaluate(_ t: Template, _ scope: Scope) throws -> Value {
        do { return try t.evaluate(in: scope) } catch {
            throw EngineError.evaluation(error.message, at: t.location)
        }
    }

    func evaluateCondition(_ e: HeavenModel.Expression, _ scope: Scope) throws -> Bool {
        do { return try Evaluator.condition(e.tree, in: scope) } catch {
            throw EngineError.evaluation("\(error.message) in `\(e.source)`", at: e.location(ofOffset: error.offset))
        }
    }

    /// Checks given input values against a workflow's declarations and fills defaults.
    ///
    /// With `roots` (a shared server), a file input names only what the run may read: a
    /// file or directory beneath one of them (uploads, the run's own files, the
    /// operator's shared directories), reached with their rights, never through a link;
    /// anything else gets one answer whether or not it exists, so that it tells nothing
    /// of what lies where the tenant may not look.
    static func bindInputs(
        _ w: Workflow, given: [String: Value], baseDirectory: String, roots: [FileRoot]? = nil
    ) throws -> [String: Value] {
        var out: [String: Value] = [:]
        for k in given.keys where !w.inputs.contains(where: { $0.name == k }) {
            let hint = Suggestion.closest(to: k, among: w.inputs.map(\.name)).map { " (did you mean `\($0)`?)" } ?? ""
            throw EngineError.invalid("workflow `\(w.name)` has no input `\(k)`\(hint)")
        }
        for d in w.inputs {
            guard let raw = given[d.name] ?? d.defaultValue else {
                throw EngineError.invalid(
                    "workflow `\(w.name)` needs input `\(d.name)` (\(d.type.rawValue)): pass --input \(d.name)=VALUE")
            }
            guard var v = InputCoercion.coerce(raw, to: d.type) else {
                throw EngineError.invalid("input `\(d.name)` must be \(Wording.a(d.type.rawValue)), not \(raw)")
            }
            if let why = d.violation(v) { throw EngineError.invalid(why) }
            if case .file(let p) = v {
                let abs = p.hasPrefix("/") ? p : (baseDirectory as NSString).appendingPathComponent(p)
                let standard = (abs as NSString).standardizingPath
                if let roots {
                    guard let root = FileRoot.containing(abs, in: roots),
                        root.files.kind(abs, beneath: root.path) != nil
                    else {
                        throw EngineError.invalid(
                            """
                            input `\(d.name)`: `\(p)` is not a file this run may read (on a server: a file \
                            uploaded with the run, an `href` the server may fetch, a file of one of your runs, or \
                            one under a directory the operator shares)
                            """
                        )
                    }
                    v = .file(abs)
                    out[d.name] = v
                    continue
                }
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: standard, isDirectory: &isDir) else {
                    let slip = p.hasPrefix("@") ? " (a file input takes its path, without `@`)" : ""
                    throw EngineError.invalid("input `\(d.name)`: no such file `\(p)`\(slip)")
                }
                v = .file(standard)
            }
            out[d.name] = v
        }
        return out
    }
}

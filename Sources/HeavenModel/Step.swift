/// One step of a workflow: a task or a composition of steps.
public struct Step: Sendable, Hashable {
    /// What the step does.
    public indirect enum Form: Sendable, Hashable {
        case task(TaskStep)
        case sequence([Step])
        case parallel([Step])
        case interleave([Step])
        case loop(Loop)
        case foreach(Foreach)
        case conditional(Conditional)
        case call(Call)
    }

    /// The step's name (always set for tasks; optional for compositions).
    public var name: String?
    /// What it does.
    public var form: Form
    /// Where it is written.
    public var location: SourceLocation

    /// Creates a step.
    public init(name: String?, form: Form, location: SourceLocation) {
        self.name = name
        self.form = form
        self.location = location
    }

    /// The keyword of the step's form, for messages.
    public var keyword: String {
        switch form {
        case .task: "task"
        case .sequence: "sequence"
        case .parallel: "parallel"
        case .interleave: "interleave"
        case .loop: "loop"
        case .foreach: "foreach"
        case .conditional: "if"
        case .call: "call"
        }
    }

    /// The steps directly inside this one.
    public var children: [Step] {
        switch form {
        case .task, .call: []
        case .sequence(let s), .parallel(let s), .interleave(let s): s
        case .loop(let l): l.steps
        case .foreach(let f): f.steps
        case .conditional(let c): c.then + c.otherwise
        }
    }
}

extension Collection where Element == Step {
    /// Every step and every step inside it, depth first in file order (a step before
    /// the steps it holds): the one walk over a tree of steps.
    public var depthFirst: [Step] {
        var out: [Step] = []
        func visit(_ steps: [Step]) {
            for s in steps {
                out.append(s)
                visit(s.children)
            }
        }
        visit(Array(self))
        return out
    }
}

/// A loop: `while` tested before each iteration, or `until` after.
public struct Loop: Sendable, Hashable {
    /// When the loop stops.
    public enum Condition: Sendable, Hashable {
        case whileTrue(Expression)
        case until(Expression)
    }

    /// The test.
    public var condition: Condition
    /// The most iterations; reaching it ends the loop (not an error).
    public var max: Int
    /// The body, run in sequence each iteration.
    public var steps: [Step]

    /// Creates a loop.
    public init(condition: Condition, max: Int, steps: [Step]) {
        self.condition = condition
        self.max = max
        self.steps = steps
    }
}

/// A foreach: the body runs once per item; items flow independently.
public struct Foreach: Sendable, Hashable {
    /// The list to iterate.
    public var items: Expression
    /// The name an item is bound to in the body.
    public var variable: String
    /// The most items in flight at once; nil for no cap but the capacity.
    public var parallel: Int?
    /// The body.
    public var steps: [Step]

    /// Creates a foreach.
    public init(items: Expression, variable: String, parallel: Int?, steps: [Step]) {
        self.items = items
        self.variable = variable
        self.parallel = parallel
        self.steps = steps
    }
}

/// `if`/`then`/`else`.
public struct Conditional: Sendable, Hashable {
    /// The test.
    public var condition: Expression
    /// Steps when it holds.
    public var then: [Step]
    /// Steps when it does not.
    public var otherwise: [Step]

    /// Creates a conditional.
    public init(condition: Expression, then: [Step], otherwise: [Step]) {
        self.condition = condition
        self.then = then
        self.otherwise = otherwise
    }
}

/// A call of another workflow.
public struct Call: Sendable, Hashable {
    /// The workflow's name or file, as written.
    public var target: String
    /// The name of the called workflow once resolved.
    public var workflow: String
    /// Its inputs.
    public var with: [String: Template]

    /// Creates a call.
    public init(target: String, workflow: String, with: [String: Template]) {
        self.target = target
        self.workflow = workflow
        self.with = with
    }
}

/// A workflow: typed inputs, steps composed by control flow, and outputs.
public struct Workflow: Sendable, Hashable {
    /// The workflow's name.
    public var name: String
    /// The topology it runs on; nil means one virtual machine per local core.
    public var topology: String?
    /// Declared inputs, in file order.
    public var inputs: [InputDeclaration]
    /// The top-level steps, run in sequence.
    public var steps: [Step]
    /// Named outputs, in file order.
    public var outputs: [(name: String, value: Template)]
    /// Default isolation for its tasks.
    public var isolation: Isolation
    /// Where `isolation` is written, when it is (a server refuses a tenant's `none` there).
    public var isolationLocation: SourceLocation?
    /// Where the document starts.
    public var location: SourceLocation

    /// Creates a workflow.
    public init(
        name: String, topology: String? = nil, inputs: [InputDeclaration] = [], steps: [Step],
        outputs: [(name: String, value: Template)] = [], isolation: Isolation = .none, location: SourceLocation
    ) {
        self.name = name
        self.topology = topology
        self.inputs = inputs
        self.steps = steps
        self.outputs = outputs
        self.isolation = isolation
        self.location = location
    }

    public static func == (a: Workflow, b: Workflow) -> Bool {
        a.name == b.name && a.topology == b.topology && a.inputs == b.inputs && a.steps == b.steps
            && a.outputs.map(\.name) == b.outputs.map(\.name) && a.outputs.map(\.value) == b.outputs.map(\.value)
            && a.isolation == b.isolation && a.location == b.location
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(steps)
    }

    /// Every task in the workflow (not in the workflows it calls), depth first.
    public var tasks: [TaskStep] {
        steps.depthFirst.compactMap { if case .task(let t) = $0.form { t } else { nil } }
    }
}

/// A declared workflow input.
public struct InputDeclaration: Sendable, Hashable {
    /// The type an input value must have.
    public enum InputType: String, Sendable, Hashable, CaseIterable {
        case file, string, number, integer, boolean, list, object
    }

    /// The input's name.
    public var name: String
    /// Its type.
    public var type: InputType
    /// Its default; nil makes the input required.
    public var defaultValue: Value?
    /// A description for people.
    public var description: String?
    /// Where it is declared.
    public var location: SourceLocation

    /// Creates a declaration.
    public init(
        name: String, type: InputType, defaultValue: Value? = nil, description: String? = nil,
        location: SourceLocation
    ) {
        self.name = name
        self.type = type
        self.defaultValue = defaultValue
        self.description = description
        self.location = location
    }
}

/// How a task is confined.
public enum Isolation: String, Sendable, Hashable, Codable {
    /// A plain process in its working directory.
    case none
    /// bubblewrap: read-only root, private /tmp, only the working directory writable, no network.
    case sandbox
}

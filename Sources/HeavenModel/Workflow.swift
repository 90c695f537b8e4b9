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
    /// What people read about it (a published process's description): all optional.
    public var title: String?
    public var description: String?
    public var version: String?
    public var keywords: [String] = []
    /// Titles and descriptions of outputs, by output name.
    public var outputInfo: [String: OutputInfo] = [:]
    /// What a job of it costs once published (its publisher's price); nil: free.
    public var price: Price?

    /// What people read about an output.
    public struct OutputInfo: Sendable, Hashable {
        public var title: String?
        public var description: String?

        /// Creates the information.
        public init(title: String? = nil, description: String? = nil) {
            self.title = title
            self.description = description
        }
    }

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
            && a.isolation == b.isolation && a.location == b.location && a.title == b.title
            && a.description == b.description && a.version == b.version && a.keywords == b.keywords
            && a.outputInfo == b.outputInfo
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
    /// A description for people, and a short title.
    public var description: String?
    public var title: String?
    /// The values it may take (of its type), when they are listed.
    public var allowed: [Value]?
    /// Bounds of a number or integer input (inclusive).
    public var minimum: Double?
    public var maximum: Double?
    /// Where it is declared.
    public var location: SourceLocation

    /// Why `value` (of the input's type) is not one it may take, or nil when it is.
    public func violation(_ value: Value) -> String? {
        if let allowed, !allowed.contains(value) {
            return
                """
                input `\(name)` must be one of \(allowed.map(\.plain.jsonText).joined(separator: ", ")), not \
                \(value.plain.jsonText)
                """
        }
        let number: Double? =
            switch value {
            case .int(let i): Double(i)
            case .double(let d): d
            default: nil
            }
        if let number, let minimum, number < minimum {
            return "input `\(name)` must be at least \(InputDeclaration.text(minimum)), not \(value.argumentText)"
        }
        if let number, let maximum, number > maximum {
            return "input `\(name)` must be at most \(InputDeclaration.text(maximum)), not \(value.argumentText)"
        }
        return nil
    }

    /// A bound as people write it (`1`, not `1.0`).
    public static func text(_ n: Double) -> String {
        n == n.rounded() && abs(n) < 1e15 ? String(Int(n)) : Value.double(n).argumentText
    }

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

/// A task: an unchanged executable with its arguments, inputs and outputs.
public struct TaskStep: Sendable, Hashable {
    /// How the program is started.
    public enum Command: Sendable, Hashable {
        /// An argv array, no shell.
        case argv([Template])
        /// An explicit shell script (`/bin/sh -c`).
        case shell(Template)
    }

    /// The task's name, unique in its workflow.
    public var name: String
    /// The virtual machine it runs on; nil for any.
    public var on: String?
    /// The program.
    public var command: Command
    /// Environment variables, in file order.
    public var environment: [(name: String, value: Template)]
    /// Environment variables whose value is a secret of the run's user, by variable
    /// name and secret name (`env: {TOKEN: {secret: copernicus}}`): resolved only when
    /// the process starts, never recorded.
    public var secrets: [(name: String, secret: String)] = []
    /// Files staged into the working directory, by the name they get there.
    public var inputs: [(name: String, value: Template)]
    /// Declared outputs, in file order.
    public var outputs: [(name: String, source: OutputSource)]
    /// Longest an attempt may run.
    public var timeout: Double?
    /// What happens after a failed attempt.
    public var retries: RetryPolicy
    /// Cores and memory the task uses within its machine.
    public var resources: Resources
    /// Isolation, when set on the task.
    public var isolation: Isolation?
    /// Where `isolation` is written, when it is.
    public var isolationLocation: SourceLocation?
    /// Where it is written.
    public var location: SourceLocation

    /// Creates a task.
    public init(
        name: String, on: String? = nil, command: Command,
        environment: [(name: String, value: Template)] = [], inputs: [(name: String, value: Template)] = [],
        outputs: [(name: String, source: OutputSource)] = [], timeout: Double? = nil,
        retries: RetryPolicy = RetryPolicy(), resources: Resources = Resources(), isolation: Isolation? = nil,
        location: SourceLocation
    ) {
        self.name = name
        self.on = on
        self.command = command
        self.environment = environment
        self.inputs = inputs
        self.outputs = outputs
        self.timeout = timeout
        self.retries = retries
        self.resources = resources
        self.isolation = isolation
        self.location = location
    }

    public static func == (a: TaskStep, b: TaskStep) -> Bool {
        a.name == b.name && a.on == b.on && a.command == b.command
            && a.environment.map(\.name) == b.environment.map(\.name)
            && a.environment.map(\.value) == b.environment.map(\.value)
            && a.secrets.map(\.name) == b.secrets.map(\.name) && a.secrets.map(\.secret) == b.secrets.map(\.secret)
            && a.inputs.map(\.name) == b.inputs.map(\.name) && a.inputs.map(\.value) == b.inputs.map(\.value)
            && a.outputs.map(\.name) == b.outputs.map(\.name) && a.outputs.map(\.source) == b.outputs.map(\.source)
            && a.timeout == b.timeout && a.retries == b.retries && a.resources == b.resources
            && a.isolation == b.isolation && a.location == b.location
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(location)
    }
}

/// Where a task output's value comes from.
public enum OutputSource: Sendable, Hashable {
    /// One file, relative to the working directory.
    case file(Template)
    /// The sorted list of files matching a pattern.
    case glob(Template)
    /// A value read from a JSON file at a dotted path (empty path: the whole document).
    case json(Template, at: String)
    /// Standard output as text, without the final newline.
    case stdoutText
    /// Standard output parsed as JSON.
    case stdoutJSON

    /// The type of value the source yields, for messages and checks.
    public var valueType: String {
        switch self {
        case .file: "file"
        case .glob: "list of files"
        case .json, .stdoutJSON: "JSON value"
        case .stdoutText: "string"
        }
    }
}

/// Retries after failed attempts, with exponential backoff.
public struct RetryPolicy: Sendable, Hashable {
    /// How many times a failed attempt is retried.
    public var count: Int
    /// The wait before the first retry, in seconds; it doubles each time.
    public var backoff: Double
    /// The longest wait between attempts, in seconds.
    public var maximumBackoff: Double

    /// Creates a policy.
    public init(count: Int = 0, backoff: Double = 1, maximumBackoff: Double = 60) {
        self.count = count
        self.backoff = backoff
        self.maximumBackoff = maximumBackoff
    }

    /// The wait before retry number `n` (1-based).
    public func delay(beforeRetry n: Int) -> Double {
        min(maximumBackoff, backoff * Double(1 << min(max(n - 1, 0), 30)))
    }
}

/// Cores and memory a task uses.
public struct Resources: Sendable, Hashable, Codable {
    /// Cores; nil means one.
    public var cores: Int?
    /// Memory in bytes; nil means no reservation.
    public var memory: Double?

    /// Creates a request.
    public init(cores: Int? = nil, memory: Double? = nil) {
        self.cores = cores
        self.memory = memory
    }
}

import HeavenModel
import Synchronization

/// The names visible at a point of a run: inputs, step results, loop counters and
/// foreach items. Child scopes (a foreach item, a called workflow) see their parent.
final class Scope: ExpressionEnvironment, Sendable {
    let parent: Scope?
    private let values: Mutex<[String: Value]>

    init(parent: Scope?, values: [String: Value] = [:]) {
        self.parent = parent
        self.values = Mutex(values)
    }

    func lookup(_ name: String) -> Value? {
        if let v = values.withLock({ $0[name] }) { return v }
        return parent?.lookup(name)
    }

    func set(_ name: String, _ value: Value) {
        values.withLock { $0[name] = value }
    }

    /// The bindings made in this scope itself.
    var local: [String: Value] { values.withLock { $0 } }
}

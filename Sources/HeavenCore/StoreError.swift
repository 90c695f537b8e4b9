/// Errors of the store.
public enum StoreError: Error, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case notFound(String)
    case ambiguous(String, [String])
    case `internal`(String)
    /// What the store holds cannot be read as what it should be (never taken as empty).
    case corrupt(String)

    public var description: String {
        switch self {
        case .cannotOpen(let p, let r): "cannot open the state database `\(p)`: \(r)"
        case .notFound(let id): "no run `\(id)`"
        case .ambiguous(let p, let ids): "`\(p)` names several runs: \(ids.joined(separator: ", "))"
        case .internal(let m): "store: \(m)"
        case .corrupt(let m): "the state database holds something unreadable: \(m)"
        }
    }
}

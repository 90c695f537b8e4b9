public import HeavenCore
public import HeavenLanguage

/// Why a use case refused or failed, in terms no transport owns: the API's routes turn it
/// into a problem document (with their own status codes), the OGC routes into the
/// standard's exceptions, the console into a message on the form it came from.
public enum ApplicationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was sent cannot be accepted as it is (an input, a value, a name).
    case invalid(String)
    /// A value that cannot be represented (an amount past the largest one): refused by
    /// every transport as unprocessable.
    case outOfRange(String)
    /// The documents sent have errors, each with its place (`file:line:col`).
    case diagnostics([Diagnostic])
    /// The caller may not do this (the operator's policy, a group they are not in).
    case forbidden(String)
    /// What it names is not there.
    case notFound(String)
    /// Money is missing: `missing` names what (`budget`, `currency`, `balance`); `extra`
    /// carries the figures a client may show.
    case paymentRequired(String, missing: String, extra: [String: String] = [:])
    /// The request conflicts with what was done before (a quote already used).
    case conflict(String)
    /// Something of the server's own failed (not the caller's doing).
    case failed(String)

    public var description: String {
        switch self {
        case .invalid(let s), .outOfRange(let s), .forbidden(let s), .notFound(let s), .conflict(let s),
            .failed(let s):
            s
        case .diagnostics(let d): d.map(\.description).joined(separator: "\n")
        case .paymentRequired(let s, _, _): s
        }
    }

    /// The ledger's refusal as the caller reads it: too little balance, or a quote that
    /// cannot be used.
    public init(_ e: LedgerError) {
        switch e {
        case .insufficient(let account, let currency, let balance, let needed):
            self = .paymentRequired(
                """
                \(account) holds \(balance) \(currency), less than the budget of \(needed) \(currency): ask an \
                admin for credit, or send a smaller budget
                """,
                missing: "balance",
                extra: ["balance": "\(balance)", "needed": "\(needed)", "currency": currency])
        case .quote(let why): self = .conflict(why)
        case .unbalanced(let id): self = .failed("movement \(id) does not add up to zero")
        }
    }
}

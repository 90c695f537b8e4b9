public import Foundation
public import HeavenModel

/// The ledger's accounts, by name: `user:NAME`, `group:NAME` (what users and groups
/// hold), `operator` (the platform's fee), `mint` (where an admin's credits come
/// from: its balance is minus every credit ever given) and `hold:JOB` (a job's
/// budget, reserved from its payer until the job ends).
public enum LedgerAccount {
    public static let `operator` = "operator"
    public static let mint = "mint"
    public static func user(_ name: String) -> String { "user:\(name)" }
    public static func group(_ name: String) -> String { "group:\(name)" }
    public static func hold(_ job: String) -> String { "hold:\(job)" }

    /// Whether `account` is one a person or a group holds (an admin may credit it).
    public static func isHeld(_ account: String) -> Bool {
        account.hasPrefix("user:") || account.hasPrefix("group:") || account == `operator`
    }
}

/// One line of a movement: an amount in a currency added to (or, negative, taken from)
/// an account.
public struct LedgerLine: Sendable, Codable, Equatable {
    public var account: String
    public var currency: String
    public var amount: Money

    public init(_ account: String, _ amount: Money, _ currency: String) {
        self.account = account
        self.amount = amount
        self.currency = currency
    }
}

/// A movement of money, double-entry: its lines add up to zero in every currency. Its
/// id says what caused it (`reserve:JOB`, `settle:JOB`, `resources:JOB:TASK#N`,
/// `credit:UUID`): the ledger takes a movement once, however often it is posted.
public struct LedgerTransaction: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// An admin gives an account money (from the mint).
        case credit
        /// A job's budget is put aside from its payer.
        case reserve
        /// A job succeeded: its payer pays the price, its publisher gets it less the fee,
        /// the rest of the budget goes back.
        case settle
        /// A job ended without delivering (failed, cancelled, dismissed, over its budget):
        /// its budget goes back whole.
        case release
        /// The publisher pays a site's owner for an attempt's cores.
        case resources
    }

    public var id: String
    public var kind: Kind
    public var job: String?
    public var memo: String
    public var lines: [LedgerLine]
    public var createdAt: Date

    public init(
        id: String, kind: Kind, job: String? = nil, memo: String, lines: [LedgerLine], createdAt: Date = Date()
    ) {
        self.id = id
        self.kind = kind
        self.job = job
        self.memo = memo
        self.lines = lines
        self.createdAt = createdAt
    }

    /// Whether its lines add up to zero in every currency.
    public var isBalanced: Bool {
        var sums: [String: Int64] = [:]
        for l in lines { sums[l.currency, default: 0] += l.amount.micros }
        return sums.values.allSatisfy { $0 == 0 }
    }
}

/// What a priced job was accepted on: who pays whom, in what currency, at most how
/// much, and the platform's fee then.
public struct JobCharge: Sendable, Codable, Equatable {
    public var job: String
    public var process: String
    /// The account that pays (the user who executed it).
    public var payer: String
    /// The account the value goes to (the process's publisher).
    public var publisher: String
    public var currency: String
    public var budget: Money
    /// The platform's share of the value, in percent.
    public var feePercent: Double
    /// The quote it was accepted on, if any.
    public var quote: String?
    public var createdAt: Date

    public init(
        job: String, process: String, payer: String, publisher: String, currency: String, budget: Money,
        feePercent: Double, quote: String? = nil, createdAt: Date = Date()
    ) {
        self.job = job
        self.process = process
        self.payer = payer
        self.publisher = publisher
        self.currency = currency
        self.budget = budget
        self.feePercent = feePercent
        self.quote = quote
        self.createdAt = createdAt
    }
}

/// A quote: what executing a process with given inputs is expected to cost, valid
/// until it expires; accepted once, as the budget of the job it starts.
public struct Quote: Sendable, Codable, Equatable {
    public var id: String
    public var process: String
    public var processVersion: String
    public var user: String
    public var amount: Money
    public var currency: String
    /// How it was estimated.
    public var basis: String
    /// The execute request it was asked for (JSON).
    public var request: String
    public var createdAt: Date
    public var expiresAt: Date
    /// The job that accepted it.
    public var job: String?
    /// The range the cost may fall in: at least `minimum` (the fixed part at least), at
    /// most `maximum` (nil: no bound known, without history of the priced outputs).
    public var minimum: Money
    public var maximum: Money?

    public init(
        id: String, process: String, processVersion: String, user: String, amount: Money, currency: String,
        basis: String, request: String, createdAt: Date, expiresAt: Date, job: String? = nil, minimum: Money? = nil,
        maximum: Money? = nil
    ) {
        self.minimum = minimum ?? amount
        self.maximum = maximum
        self.id = id
        self.process = process
        self.processVersion = processVersion
        self.user = user
        self.amount = amount
        self.currency = currency
        self.basis = basis
        self.request = request
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.job = job
    }
}

/// Why the ledger refused a movement.
public enum LedgerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The payer holds less than the movement takes.
    case insufficient(account: String, currency: String, balance: Money, needed: Money)
    /// Its lines do not add up to zero.
    case unbalanced(String)
    /// The quote is unknown, another's, expired or already used.
    case quote(String)

    public var description: String {
        switch self {
        case .insufficient(let account, let currency, let balance, let needed):
            "\(account) holds \(balance) \(currency), less than the \(needed) \(currency) needed"
        case .unbalanced(let id): "movement \(id) does not add up to zero"
        case .quote(let why): why
        }
    }
}

/// The ledger: append-only double-entry movements (the store refuses to change or
/// remove one), balances derived from them, and the terms of priced jobs.
public protocol LedgerStore: Sendable {
    /// Posts a movement; false when one with its id was posted before (nothing changes).
    /// With `funding`, the movement is refused (`LedgerError.insufficient`) unless that
    /// account then still holds at least zero in each currency.
    func post(_ transaction: LedgerTransaction, funding: String?) async throws -> Bool
    /// The balances of an account, by currency (zero ones left out).
    func balances(of account: String) async throws -> [String: Money]
    /// Every account's balances.
    func allBalances() async throws -> [String: [String: Money]]
    /// The sum of every line of every movement, by currency: always zero.
    func ledgerTotals() async throws -> [String: Money]
    /// The movements of a job, oldest first.
    func transactions(job: String) async throws -> [LedgerTransaction]
    /// The movements of each of `jobs`, oldest first (one read, not one per job).
    func transactions(jobs: [String]) async throws -> [String: [LedgerTransaction]]
    /// The movements that touch an account, newest first.
    func transactions(account: String, limit: Int) async throws -> [LedgerTransaction]

    /// The terms of a priced job.
    func charge(job: String) async throws -> JobCharge?
    /// The priced jobs whose payer, publisher, or (with nil) anyone is `account`, newest first.
    func charges(involving account: String?, limit: Int) async throws -> [JobCharge]
    /// Priced jobs of a process, newest first.
    func charges(process: String, limit: Int) async throws -> [JobCharge]

    /// Records a quote.
    func saveQuote(_ quote: Quote) async throws
    /// A quote by id.
    func quote(_ id: String) async throws -> Quote?
}

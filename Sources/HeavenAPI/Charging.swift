public import Foundation
public import HeavenCore
public import HeavenModel

// The bodies of charging: prices, budgets, balances, bills, quotes. Amounts are JSON
// numbers (exact to the millionth, which the ledger keeps).

/// What a job may cost at most, in a currency: sent with an execute request.
public struct Budget: APIObject {
    public var amount: Double
    public var currency: String?

    public init(amount: Double, currency: String?) {
        self.amount = amount
        self.currency = currency
    }

    public static let example = Budget(amount: 10, currency: "credits")
    public static let summary: String? =
        "the most the job may cost; its currency is the price's (`credits` when left out)"
}

/// A process's price, as its description shows it.
public struct PriceBody: APIObject {
    public var currency: String
    /// Per successful execution.
    public var run: Double
    /// Per output: `{item: A}` per element of a list, `{megabyte: A}` per MB of a file.
    public var outputs: [String: OutputPrice]?

    public init(_ p: Price) {
        currency = p.currency
        run = p.run.value
        var outputs: [String: OutputPrice] = [:]
        for (name, (unit, amount)) in p.outputs {
            outputs[name] = unit == .item ? OutputPrice(item: amount.value) : OutputPrice(megabyte: amount.value)
        }
        self.outputs = outputs.isEmpty ? nil : outputs
    }

    public static let example = PriceBody(
        Price(currency: "credits", run: .zero, location: SourceLocation(file: "", line: 1, column: 1)))
    public static let summary: String? =
        """
        what a successful job costs: `run` per execution, plus per item of a list output or per megabyte of a \
        file output
        """
}

public struct OutputPrice: APIObject {
    public var item: Double?
    public var megabyte: Double?

    public init(item: Double? = nil, megabyte: Double? = nil) {
        self.item = item
        self.megabyte = megabyte
    }

    public static let example = OutputPrice()
}

/// What a job cost: the value its payer paid (the publisher got it less `fee`), and
/// what its publisher paid the sites' owners for its attempts' cores.
public struct JobCosts: APIObject {
    public var currency: String
    public var value: Double
    public var resources: Double
    public var fee: Double
    /// The budget it was given.
    public var budget: Double

    public init(currency: String, value: Money, resources: Money, fee: Money, budget: Money) {
        self.currency = currency
        self.value = value.value
        self.resources = resources.value
        self.fee = fee.value
        self.budget = budget.value
    }

    public static let example = JobCosts(currency: "credits", value: .zero, resources: .zero, fee: .zero, budget: .zero)
}

/// What a job used: its attempts' CPU time, its wall time, the bytes of the files it was given.
public struct JobUsage: APIObject {
    public var cpuSeconds: Double
    public var wallSeconds: Double
    public var bytesStaged: Int64

    public init(cpuSeconds: Double, wallSeconds: Double, bytesStaged: Int64) {
        self.cpuSeconds = cpuSeconds
        self.wallSeconds = wallSeconds
        self.bytesStaged = bytesStaged
    }

    private enum CodingKeys: String, CodingKey {
        case cpuSeconds = "cpu-seconds"
        case wallSeconds = "wall-seconds"
        case bytesStaged = "bytes-staged"
    }

    public static let example = JobUsage(cpuSeconds: 0, wallSeconds: 0, bytesStaged: 0)
    public static var definition: JSONSchema {
        .object(
            [("cpu-seconds", .number), ("wall-seconds", .number), ("bytes-staged", .integer(format: "int64"))],
            required: ["cpu-seconds", "wall-seconds", "bytes-staged"],
            description: "what the job used: its attempts' CPU time, its wall time, the bytes of its input files")
    }
}

/// An account's balances, by currency.
public struct AccountView: APIObject {
    public var account: String
    public var balances: [String: Double]

    public init(account: String, balances: [String: Money]) {
        self.account = account
        self.balances = balances.mapValues(\.value)
    }

    public static let example = AccountView(account: "user:bob", balances: [:])
}

/// The caller's accounts: their own, and their groups'.
public struct AccountList: APIObject {
    public var accounts: [AccountView]
    /// Every currency's sum over every account (always zero): an admin's view only.
    public var totals: [String: Double]?

    public init(accounts: [AccountView], totals: [String: Money]? = nil) {
        self.accounts = accounts
        self.totals = totals?.mapValues(\.value)
    }

    public static let example = AccountList(accounts: [])
}

/// An admin gives an account money.
public struct CreditRequest: APIObject {
    public var amount: Double
    public var currency: String?
    public var memo: String?

    public init(amount: Double, currency: String?, memo: String?) {
        self.amount = amount
        self.currency = currency
        self.memo = memo
    }

    public static let example = CreditRequest(amount: 1, currency: nil, memo: nil)
}

/// One movement of the ledger.
public struct MovementView: APIObject {
    public var id: String
    public var kind: String
    public var memo: String
    public var created: Date
    public var lines: [LineView]

    public init(_ t: LedgerTransaction) {
        id = t.id
        kind = t.kind.rawValue
        memo = t.memo
        created = t.createdAt
        lines = t.lines.map { LineView(account: $0.account, amount: $0.amount.value, currency: $0.currency) }
    }

    public static let example = MovementView(
        LedgerTransaction(id: "", kind: .credit, memo: "", lines: [], createdAt: Date(timeIntervalSince1970: 0)))
}

public struct LineView: APIObject {
    public var account: String
    public var amount: Double
    public var currency: String

    public static let example = LineView(account: "", amount: 0, currency: "")
}

/// The bill of a priced job: who paid whom, how much, for what.
public struct BillView: APIObject {
    public var id: String
    public var job: String
    public var process: String
    public var payer: String
    public var publisher: String
    public var status: RunStatus
    public var costs: JobCosts
    /// Whether it is settled (the job ended and its budget was settled or released).
    public var settled: Bool
    public var quote: String?
    public var created: Date
    public var movements: [MovementView]

    public init(
        charge c: JobCharge, status: RunStatus, costs: JobCosts, settled: Bool, movements: [LedgerTransaction]
    ) {
        id = c.job
        job = c.job
        process = c.process
        payer = c.payer
        publisher = c.publisher
        self.status = status
        self.costs = costs
        self.settled = settled
        quote = c.quote
        created = c.createdAt
        self.movements = movements.map(MovementView.init)
    }

    public static let example = BillView(
        charge: JobCharge(
            job: "", process: "", payer: "", publisher: "", currency: "credits", budget: .zero, feePercent: 0,
            createdAt: Date(timeIntervalSince1970: 0)),
        status: .pending, costs: .example, settled: false, movements: [])
}

public struct BillList: APIObject {
    public var bills: [BillView]

    public init(bills: [BillView]) { self.bills = bills }

    public static let example = BillList(bills: [])
}

/// A quote: what executing a process with these inputs is expected to cost.
public struct QuoteView: APIObject {
    public var id: String
    public var processID: String
    public var amount: Double
    public var currency: String
    public var created: Date
    public var expires: Date
    /// How it was estimated.
    public var basis: String
    /// The job that accepted it, once accepted.
    public var job: String?
    /// The range the cost may fall in; no `maximum` when none is known (no history).
    public var minimum: Double
    public var maximum: Double?
    public var links: [OGCLink]

    public init(_ q: Quote, links: [OGCLink]) {
        id = q.id
        processID = q.process
        amount = q.amount.value
        currency = q.currency
        created = q.createdAt
        expires = q.expiresAt
        basis = q.basis
        job = q.job
        minimum = q.minimum.value
        maximum = q.maximum?.value
        self.links = links
    }

    public static let example = QuoteView(
        Quote(
            id: "", process: "", processVersion: "", user: "", amount: .zero, currency: "credits", basis: "",
            request: "{}", createdAt: Date(timeIntervalSince1970: 0), expiresAt: Date(timeIntervalSince1970: 0)),
        links: [])
}

/// A process's accounts, as its publisher sees them: the value its jobs earned, the
/// fee, what their resources cost, and the margin.
public struct ProcessStats: APIObject {
    public var processID: String
    public var currency: String
    public var jobs: Int
    public var succeeded: Int
    public var value: Double
    public var fee: Double
    public var resources: Double
    /// Value received (less the fee) minus resources paid.
    public var margin: Double

    public init(
        processID: String, currency: String, jobs: Int, succeeded: Int, value: Money, fee: Money, resources: Money
    ) {
        self.processID = processID
        self.currency = currency
        self.jobs = jobs
        self.succeeded = succeeded
        self.value = value.value
        self.fee = fee.value
        self.resources = resources.value
        margin = (value - fee - resources).value
    }

    public static let example = ProcessStats(
        processID: "", currency: "credits", jobs: 0, succeeded: 0, value: .zero, fee: .zero, resources: .zero)
}

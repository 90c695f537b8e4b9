import Foundation
public import HeavenCore
import HeavenLanguage
public import HeavenModel

/// Charging for the jobs of priced processes, on the value delivered: a job's budget
/// is reserved from its payer when it is created; when it succeeds, its price is
/// computed from what it delivered and settled (the payer pays it, the publisher
/// gets it less the platform's fee, the rest of the budget goes back); when it fails,
/// is cancelled or dismissed, or its price would exceed its budget, the budget goes
/// back whole and nothing is charged. Its attempts' cores are paid by the publisher
/// to the sites' owners, whatever the outcome. Every movement is written in the same
/// transaction as what causes it (the run's end, the attempt's end), once.
/// (The platform's fee is a term of each job, `JobCharge.feePercent`, fixed when the
/// job is accepted.)
public enum Charging {
    /// The price of the workflow a run runs, from its own documents (the price it was
    /// created with), or nil when it is free.
    public static func price(of run: RunRecord, documents: [SourceFile]) -> Price? {
        Loader.load(sources: documents, readingDisk: false).documents.workflow(named: run.workflow)?.price
    }

    /// The price of what a job delivered: its total and each part (`run`, then each
    /// priced output), file sizes read where the files are.
    public static func delivered(
        _ price: Price, outputs: [String: Value], size: (String) -> Int64? = fileSize
    ) -> (total: Money, parts: [String: Money]) {
        price.of(outputs, size: size)
    }

    /// How a run that ends is settled: the movements (none when it has no charge, or
    /// is not over), and its record, turned failed with its results withheld when the
    /// price of what it delivered exceeds its budget.
    public static func settle(
        _ run: RunRecord, charge: JobCharge?, price read: Result<Price?, EngineError>,
        size: (String) -> Int64? = fileSize
    ) -> (RunRecord, [LedgerTransaction]) {
        guard run.status.isFinal, let c = charge else { return (run, []) }
        var run = run
        let hold = LedgerAccount.hold(run.id)
        if run.status == .succeeded {
            // A price that cannot be read is never taken as free: nothing is charged, the
            // results are withheld, and the run says why.
            let price: Price?
            do { price = try read.get() } catch {
                run.status = .failed
                run.error = "\(error): its results are withheld and nothing is charged"
                run.outputs = nil
                run.withheld = true
                return (run, [release(run, c)])
            }
            let (total, parts) =
                price.map { Charging.delivered($0, outputs: run.outputs ?? [:], size: size) } ?? (Money.zero, [:])
            if total <= c.budget {
                let fee = total.percent(c.feePercent)
                let itemised = parts.sorted { ($0.key == "run" ? "" : $0.key) < ($1.key == "run" ? "" : $1.key) }
                    .map { "\($0.key) \($0.value)" }.joined(separator: " + ")
                return (
                    run,
                    [
                        LedgerTransaction(
                            id: "settle:\(run.id)", kind: .settle, job: run.id,
                            memo:
                                """
                                job \(run.id) of \(c.process): \(itemised.isEmpty ? "free" : itemised) = \(total) \
                                \(c.currency)
                                """
                                    + (fee > .zero ? ", fee \(fee) (\(c.feePercent)%)" : ""),
                            lines: [
                                LedgerLine(hold, -c.budget, c.currency),
                                LedgerLine(c.payer, c.budget - total, c.currency),
                                LedgerLine(c.publisher, total - fee, c.currency),
                                LedgerLine(LedgerAccount.operator, fee, c.currency),
                            ].filter { $0.amount != .zero })
                    ]
                )
            }
            run.status = .failed
            run.error =
                """
                the price of what it delivered, \(total) \(c.currency), exceeds its budget of \(c.budget) \
                \(c.currency): its results are withheld and nothing is charged
                """
            run.outputs = nil
            run.withheld = true
        }
        return (run, [release(run, c)])
    }

    /// A job's whole budget back to its payer: nothing charged.
    static func release(_ run: RunRecord, _ c: JobCharge) -> LedgerTransaction {
        LedgerTransaction(
            id: "release:\(run.id)", kind: .release, job: run.id,
            memo: "job \(run.id) of \(c.process) \(run.status.rawValue): its budget goes back, nothing charged",
            lines: [
                LedgerLine(LedgerAccount.hold(run.id), -c.budget, c.currency),
                LedgerLine(c.payer, c.budget, c.currency),
            ])
    }

    /// What a job cost so far, from its movements: the value its payer paid (the
    /// publisher got it less the fee), the fee, what its publisher paid for its
    /// attempts' resources; and whether it is settled (its budget settled or released).
    public static func costs(_ c: JobCharge, _ movements: [LedgerTransaction]) -> (
        value: Money, resources: Money, fee: Money, settled: Bool
    ) {
        var value = Money.zero
        var fee = Money.zero
        var resources = Money.zero
        var settled = false
        for t in movements {
            switch t.kind {
            case .settle:
                settled = true
                for l in t.lines where l.currency == c.currency {
                    if l.account == c.publisher { value += l.amount }
                    if l.account == LedgerAccount.operator {
                        value += l.amount
                        fee += l.amount
                    }
                }
            case .release: settled = true
            case .resources:
                for l in t.lines where l.account == c.publisher && l.currency == c.currency { resources += -l.amount }
            case .credit, .reserve: break
            }
        }
        return (value, resources, fee, settled)
    }

    /// A file's size in bytes, if it is there.
    public static func fileSize(_ path: String) -> Int64? {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value
    }

    /// The size of a run's inputs: its files' bytes (those still there) and its texts'.
    public static func inputBytes(_ run: RunRecord) -> Int64 {
        var total: Int64 = 0
        func add(_ v: Value) {
            switch v {
            case .file(let p): total += fileSize(p) ?? 0
            case .string(let s): total += Int64(s.utf8.count)
            case .list(let items): items.forEach(add)
            default: break
            }
        }
        run.inputs.values.forEach(add)
        return total
    }

    /// What a site's owner is paid for its cores: the site's price per core-hour, and
    /// the owner's account.
    public struct SiteRate: Sendable, Equatable {
        public var site: String
        public var perCoreHour: Money
        public var owner: String

        public init(site: String, perCoreHour: Money, owner: String) {
            self.site = site
            self.perCoreHour = perCoreHour
            self.owner = owner
        }

        /// A site's rate, when it has a price and an owner (its registrant otherwise).
        public init?(_ site: Site, registeredBy: String? = nil) {
            guard let price = site.price, price > 0, let perCoreHour = Money(value: price),
                let owner = site.owner?.description ?? registeredBy.map(LedgerAccount.user)
            else { return nil }
            self.init(site: site.name, perCoreHour: perCoreHour, owner: owner)
        }
    }

    /// What an ended attempt's cores cost on its site (cores × seconds × the site's
    /// price per core-hour), paid by `payer` to the site's owner; nil when free.
    public static func resources(
        of attempt: AttemptRecord, rate: SiteRate?, payer: String, currency: String
    ) -> LedgerTransaction? {
        guard let rate, let end = attempt.finishedAt else { return nil }
        let seconds = max(0, end.timeIntervalSince(attempt.startedAt))
        let coreSeconds = Double(attempt.cores) * seconds
        let perCoreHour = rate.perCoreHour
        let cost = perCoreHour.times(coreSeconds / 3600)
        guard cost > .zero else { return nil }
        return LedgerTransaction(
            id: "resources:\(attempt.runID):\(attempt.taskKey)#\(attempt.number)", kind: .resources,
            job: attempt.runID,
            memo:
                """
                \(attempt.taskKey) #\(attempt.number): \(attempt.cores) core\(attempt.cores == 1 ? "" : "s") × \
                \(String(format: "%.3f", seconds)) s on \(rate.site) at \(perCoreHour) \(currency) per core-hour
                """,
            lines: [LedgerLine(payer, -cost, currency), LedgerLine(rate.owner, cost, currency)])
    }
}

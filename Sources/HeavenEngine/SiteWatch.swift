import Foundation
import HeavenConnectors
import HeavenCore
import Synchronization

/// Watches the health of the sites a run uses, as UNICORE does with resubmission and
/// blacklisting: a site that answers is probed every `interval` seconds; one that
/// stops answering is reported lost (marked down, its machines re-placed by the
/// broker); a site down through failures is probed again when its retry time comes —
/// after `base` seconds, then twice as long after each failure in a row, at most five
/// minutes — and counts as up again as soon as it answers. A site its operator took
/// down (`heaven sites down`) is left alone.
final class SiteWatch: Sendable {
    let catalog: any CatalogStore
    let context: RunContext
    let interval: Double
    let base: Double
    private let state = Mutex<(lastProbe: [String: Date], probing: Set<String>)>(([:], []))

    init(catalog: any CatalogStore, context: RunContext, interval: Double, base: Double) {
        self.catalog = catalog
        self.context = context
        self.interval = interval
        self.base = base
    }

    /// Starts the probes that are due (each in the background; one at a time per site).
    func tick() async {
        let remote = context.allConnectors.compactMap { $0 as? any SiteProbing }
        guard !remote.isEmpty, let health = try? await catalog.siteHealth() else { return }
        let now = Date()
        for connector in remote {
            let site = connector.siteName
            let h = health[site] ?? SiteHealth()
            if h.byOperator && h.isDown(at: now) { continue }
            let failing = h.failures > 0
            let due = state.withLock { s -> Bool in
                guard !s.probing.contains(site) else { return false }
                if failing {
                    guard !h.isDown(at: now) else { return false }
                } else if let last = s.lastProbe[site], now.timeIntervalSince(last) < interval {
                    return false
                } else if s.lastProbe[site] == nil {
                    // The first look comes one interval after the run starts.
                    s.lastProbe[site] = now
                    return false
                }
                s.probing.insert(site)
                s.lastProbe[site] = now
                return true
            }
            guard due else { continue }
            Task.detached { [self] in
                let answers = await connector.probe()
                await self.record(site: site, answers: answers, wasFailing: failing)
                _ = self.state.withLock { $0.probing.remove(site) }
            }
        }
    }

    func record(site: String, answers: Bool, wasFailing: Bool) async {
        switch (answers, wasFailing) {
        case (true, true):
            if let before = try? await catalog.reportSiteAnswers(site), before.failures > 0 {
                await context.event(.siteUp(site: site, failures: before.failures))
            }
        case (false, true):
            if let h = try? await catalog.reportSiteFailure(site, reason: "does not answer", base: base, renew: true) {
                let wait = Int((h.downUntil?.timeIntervalSinceNow ?? 0).rounded())
                await context.event(.siteDown(site: site, failures: h.failures, retryIn: wait))
            }
        case (false, false):
            await context.siteLost(site, "it does not answer a probe")
        case (true, false):
            break
        }
    }
}

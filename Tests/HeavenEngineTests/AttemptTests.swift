import Foundation
import HeavenConnectors
import HeavenCore
import HeavenModel
import Testing

@testable import HeavenEngine

/// The attempt's decisions, transition by transition, as values: how it is confined on
/// each kind of site, and how its end is classified.
@Suite("An attempt's confinement and verdict")
struct AttemptDecisionTests {
    typealias Decision = ConfinementDecision
    /// A tenant's run on a shared server that confines tenants as their uids.
    static let tenant = Decision.Facts(
        confined: true, tenantConfined: true, mayOptOut: false, sandboxAvailable: true, hostNetwork: false,
        tenantsGoOutbound: false)
    /// An admin's run on the same server.
    static let admin = Decision.Facts(
        confined: true, tenantConfined: true, mayOptOut: true, sandboxAvailable: true, hostNetwork: true,
        tenantsGoOutbound: false)
    /// The embedded mode: one user, nothing to confine against.
    static let embedded = Decision.Facts(
        confined: false, tenantConfined: false, mayOptOut: true, sandboxAvailable: true, hostNetwork: true,
        tenantsGoOutbound: false)

    func how(_ d: Decision, _ account: TaskAccount) -> Decision.How? {
        if case .runs(let h) = d.on(account, site: "s") { return h }
        return nil
    }

    @Test(
        "a tenant's task on this machine runs sandboxed as its uid, whatever the workflow asks (`isolation: none` too)")
    func tenantHere() {
        for (requested, optsOut) in [(Isolation.none, true), (.none, false), (.sandbox, false)] {
            let d = Decision(requested: requested, optsOut: optsOut, asksNetwork: false, facts: Self.tenant)
            #expect(d.asTenant)
            #expect(
                how(d, .thisProcess)
                    == Decision.How(
                        isolation: .sandbox, asTenant: true, reprepareAsServer: false, showsNamedFiles: false,
                        network: .none))
        }
    }

    @Test(
        """
        a tenant's task on another account's site runs there as that account; its directory is made again as the \
        server's
        """
    )
    func tenantElsewhere() {
        let d = Decision(requested: .none, optsOut: false, asksNetwork: false, facts: Self.tenant)
        #expect(
            how(d, .siteAccount)
                == Decision.How(
                    isolation: .none, asTenant: false, reprepareAsServer: true, showsNamedFiles: false, network: .none))
    }

    @Test("a tenant's task is refused on a Slurm cluster reached from this server's own account; an admin's is not")
    func refusedFromOwnAccount() {
        let d = Decision(requested: .none, optsOut: false, asksNetwork: false, facts: Self.tenant)
        guard case .refused(let why) = d.on(.thisProcessElsewhere, site: "hpc") else {
            Issue.record("a tenant's task ran as the server's own account")
            return
        }
        #expect(why.contains("site `hpc`") && why.contains("login host"))
        let a = Decision(requested: .none, optsOut: false, asksNetwork: false, facts: Self.admin)
        #expect(how(a, .thisProcessElsewhere) != nil)
    }

    @Test("an admin's workflow that says `isolation: none` in words runs unconfined, with the host's network")
    func adminOptsOut() {
        let d = Decision(requested: .none, optsOut: true, asksNetwork: true, facts: Self.admin)
        #expect(!d.asTenant)
        #expect(
            how(d, .thisProcess)
                == Decision.How(
                    isolation: .none, asTenant: false, reprepareAsServer: false, showsNamedFiles: false, network: .host)
        )
        // Without the words, the admin's task is confined as any tenant's.
        let confined = Decision(requested: .none, optsOut: false, asksNetwork: false, facts: Self.admin)
        #expect(confined.asTenant && how(confined, .thisProcess)?.isolation == .sandbox)
    }

    @Test(
        """
        the network: loopback unless asked; asked, the host's for an admin, an outbound one for a tenant where \
        allowed, else none
        """
    )
    func network() {
        var facts = Self.tenant
        #expect(Decision(requested: .none, optsOut: false, asksNetwork: true, facts: facts).network == .none)
        facts.tenantsGoOutbound = true
        #expect(Decision(requested: .none, optsOut: false, asksNetwork: true, facts: facts).network == .outbound)
        #expect(Decision(requested: .none, optsOut: false, asksNetwork: false, facts: facts).network == .none)
        facts.hostNetwork = true
        #expect(Decision(requested: .none, optsOut: false, asksNetwork: true, facts: facts).network == .host)
    }

    @Test("in the embedded mode the workflow decides; a sandbox there is shown the files its arguments name")
    func embedded() {
        let plain = Decision(requested: .none, optsOut: false, asksNetwork: false, facts: Self.embedded)
        #expect(how(plain, .thisProcess)?.isolation == Isolation.none)
        let sandboxed = Decision(requested: .sandbox, optsOut: false, asksNetwork: false, facts: Self.embedded)
        #expect(
            how(sandboxed, .thisProcess)
                == Decision.How(
                    isolation: .sandbox, asTenant: false, reprepareAsServer: false, showsNamedFiles: true,
                    network: .none))
        // Remote, nothing of this machine's confinement applies.
        #expect(how(sandboxed, .siteAccount)?.showsNamedFiles == false)
    }

    @Test("the verdict, in order: the run's stop, a loss the site reports, a time limit, then the exit status")
    func verdicts() {
        let ok = TaskExit(exitCode: 0, signal: nil)
        let bad = TaskExit(exitCode: 3, signal: nil)
        let killed = TaskExit(exitCode: nil, signal: SIGKILL)
        let cancel = (reason: StopReason.cancelled, message: "cancelled")
        let interrupt = (reason: StopReason.interrupted, message: "interrupted")
        let failure = (reason: StopReason.failed, message: "another task failed")
        #expect(AttemptVerdict.of(ok, stop: nil, timerFired: false, timeout: nil) == .succeeded)
        // A stop outranks everything but a success; a failure elsewhere stops nothing here.
        #expect(
            AttemptVerdict.of(killed, stop: cancel, timerFired: true, timeout: 1) == .stopped(.cancelled, "cancelled"))
        #expect(
            AttemptVerdict.of(bad, stop: interrupt, timerFired: false, timeout: nil) == .stopped(.lost, "interrupted"))
        #expect(AttemptVerdict.of(ok, stop: cancel, timerFired: false, timeout: nil) == .succeeded)
        #expect(
            AttemptVerdict.of(bad, stop: failure, timerFired: false, timeout: nil) == .failed("exited with status 3"))
        // Lost by the site, whatever its status; with the site's words when it has some.
        #expect(
            AttemptVerdict.of(
                TaskExit(exitCode: nil, signal: nil, lost: true), stop: nil, timerFired: false, timeout: nil)
                == .lost("the site lost the task"))
        #expect(
            AttemptVerdict.of(
                TaskExit(exitCode: nil, signal: nil, message: "NODE_FAIL", lost: true), stop: nil, timerFired: false,
                timeout: nil) == .lost("NODE_FAIL"))
        // Our timeout, or the site's own time limit (in its words).
        #expect(AttemptVerdict.of(killed, stop: nil, timerFired: true, timeout: 2) == .timedOut("timed out after 2s"))
        #expect(
            AttemptVerdict.of(
                TaskExit(exitCode: nil, signal: SIGTERM, message: "TIMEOUT", timedOut: true), stop: nil,
                timerFired: false, timeout: nil) == .timedOut("TIMEOUT"))
        // A task that succeeded as its timer fired succeeded.
        #expect(AttemptVerdict.of(ok, stop: nil, timerFired: true, timeout: 1) == .succeeded)
        #expect(
            AttemptVerdict.of(killed, stop: nil, timerFired: false, timeout: nil)
                == .failed("killed by signal 9 (SIGKILL)"))
    }
}

import Foundation
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenStore
import Testing

/// The engine of a shared server, with the tenancy the server gives it.
@Suite("Tenancy", .timeLimit(.minutes(15)))
struct TenancyTests {
    func engine(_ h: Harness, admin: Bool) -> Engine {
        let tenancy = Tenancy(defaultMemory: 1_073_741_824, maxProcesses: 64) { _ in
            Tenancy.Tenant(taskID: 201_234, admin: admin)
        }
        return Engine(
            home: HeavenHome(root: h.home), stores: Stores(h.store), killGrace: 1, confined: true, tenancy: tenancy)
    }

    @Test(
        """
        a tenant's task is never submitted to a Slurm site that would run it as the server's own account; an \
        admin's is
        """
    )
    func noServerAccountJobs() async throws {
        let h = try Harness()
        // A configuration sbatch refuses at once (a missing one, it retries for a minute).
        try "# no cluster here\n".write(toFile: h.home + "/empty-slurm.conf", atomically: true, encoding: .utf8)
        let yaml = """
            kind: Site
            name: cluster
            connector: {kind: slurm, partition: debug, config: \(h.home)/empty-slurm.conf}
            owner: user:\(testUser)
            nodes: [{name: n, cores: 2}]
            ---
            kind: Topology
            name: env
            machines: [{name: m}]
            ---
            kind: Workflow
            name: w
            topology: env
            steps:
              - task: job
                on: m
                run: ['true']
            """
        for admin in [false, true] {
            let e = engine(h, admin: admin)
            let load = Loader.load(text: yaml, path: h.home + "/w.yaml")
            let created = try await e.createRun(
                load: load, workflow: nil, inputs: [:], outDirectory: nil, user: testUser, directory: h.home)
            let run = try await e.execute(runID: created.id)
            let attempts = try await h.store.attempts(run: run.id)
            #expect(run.status == .failed)
            if admin {
                // Submitted (and refused by sbatch: there is no cluster).
                #expect(attempts.first?.error?.contains("sbatch") == true, "\(attempts.map { $0.error ?? "" })")
            } else {
                #expect(
                    attempts.first?.error?.hasPrefix("site `cluster` submits Slurm jobs from this server's own account")
                        == true,
                    "\(attempts.map { $0.error ?? "" })")
            }
        }
    }
}

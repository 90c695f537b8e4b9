import Foundation
import HeavenTestSupport
import Testing

/// A shared server whose runs reach a Slurm cluster.
@Suite(
    "A server's runs on a Slurm cluster", .serialized,
    Testbed.needs(SlurmTestCluster.available, "root, slurm-wlm and munge"), .timeLimit(.minutes(15)))
struct ServerSlurmTests {
    @Test("cancelling a run through the API cancels its Slurm job (checked in Slurm)")
    func cancelThroughServer() async throws {
        let cluster = try SlurmTestCluster()
        let s = try ServerHarness()
        // A Slurm site without a login host submits from the server's account: an admin's run.
        let admin = try s.heaven("users", "add", "root-admin", "--admin")
        try s.start()
        let site = cluster.site("cluster", owner: "root-admin")
        let registered = try await s.request(
            "POST", "/v1/sites", token: admin, body: try JSONSerialization.data(withJSONObject: ["yaml": site]))
        #expect(registered.status == 201, "\(registered.text)")
        let yaml = """
            kind: Topology
            name: env
            machines: [{name: m}]
            ---
            kind: Workflow
            name: w
            topology: env
            steps:
              - task: long
                on: m
                run: [sleep, '64']
            """
        let created = try await s.request("POST", "/v1/runs", token: admin, body: ServerHarness.submission(yaml))
        let id = try #require(created.json["id"] as? String, "\(created.text)")
        // Cancel once Slurm runs the job.
        let deadline = Date().addingTimeInterval(60)
        while try cluster.command("squeue -h -t running -n heaven-\(id) -o '%i'").trimmingCharacters(
            in: .whitespacesAndNewlines
        ).isEmpty {
            guard Date() < deadline else { throw ServerHarness.Failure("the job never ran") }
            try await Task.sleep(for: .milliseconds(100))
        }
        let cancel = try await s.request("POST", "/v1/runs/\(id)/cancel", token: admin)
        #expect(cancel.status == 202, "\(cancel.text)")
        let ended = try await waitForEnd(s, id, token: admin, seconds: 60)
        #expect(ended["status"] as? String == "cancelled", "\(ended)")
        var state = ""
        while Date() < deadline {
            state = try cluster.command("squeue -h -r -t all -n heaven-\(id) -o '%T'").trimmingCharacters(
                in: .whitespacesAndNewlines)
            if state == "CANCELLED" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(state == "CANCELLED", "Slurm says: \(state)")
    }
}

import Foundation
import HeavenApplication
import HeavenCore
import HeavenModel
import HeavenStore
import Testing

@Suite("Who reads which run (HeavenApplication.RunQueries)")
struct RunQueriesTests {
    @Test(
        """
        one rule: for every user, a run read alone is readable exactly when the listings (runs and jobs) show it \
        — owner, admin, a group it is shared with, no one else
        """
    )
    func oneRule() async throws {
        let root = NSTemporaryDirectory() + "heaven-queries-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = try SQLiteStore(path: root + "/heaven.sqlite")
        let queries = RunQueries(runs: store, accounts: store, processes: store)
        // Runs of three owners, shared with no group, one, or two.
        let owners = ["alice", "bob", "carol"]
        let shares: [[String]] = [[], ["eo"], ["eo", "hpc"], ["hpc"]]
        var ids: [String] = []
        for (i, owner) in owners.enumerated() {
            for (j, groups) in shares.enumerated() {
                let id = "r\(i)\(j)"
                ids.append(id)
                try await store.createRun(
                    RunRecord(id: id, workflow: "w", user: owner, inputs: [:]),
                    documents: [SourceFile(path: "w.yaml", text: "kind: Workflow\n")])
                if !groups.isEmpty { try await store.shareRun(id, with: groups) }
            }
        }
        let users = [
            UserRecord(name: "alice"), UserRecord(name: "bob", groups: ["eo"]),
            UserRecord(name: "dave", groups: ["hpc", "other"]), UserRecord(name: "erin"),
            UserRecord(name: "root", admin: true),
        ]
        var all = JobQuery()
        all.limit = 100
        for user in users {
            var alone: Set<String> = []
            for id in ids where try await queries.run(id, readBy: user) != nil { alone.insert(id) }
            let listed = Set(try await queries.runs(readBy: user, limit: 100).map(\.id))
            let jobs = Set(try await queries.jobs(readBy: user, all, now: Date()).runs.map(\.id))
            #expect(
                alone == listed && listed == jobs, "\(user.name): \(alone.sorted()) \(listed.sorted()) \(jobs.sorted())"
            )
            for id in ids {
                #expect((try await queries.status(id, readBy: user) != nil) == alone.contains(id), "\(user.name) \(id)")
            }
        }
        // What the rule says, spelled out for two of them.
        let bob = UserRecord(name: "bob", groups: ["eo"])
        #expect(
            try await queries.runs(readBy: bob, limit: 100).map(\.id).sorted() == [
                "r01", "r02", "r10", "r11", "r12", "r13", "r21", "r22",
            ])
        #expect(try await queries.runs(readBy: UserRecord(name: "erin"), limit: 100).isEmpty)
        #expect(try await queries.runs(readBy: UserRecord(name: "root", admin: true), limit: 100).count == ids.count)
        // A prefix is never enough to read a run.
        #expect(try await queries.run("r0", readBy: UserRecord(name: "root", admin: true)) == nil)
    }
}

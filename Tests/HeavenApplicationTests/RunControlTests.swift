import Foundation
import HeavenApplication
import HeavenCore
import HeavenEngine
import HeavenModel
import HeavenStore
import Testing

@Suite("Cancelling and resuming a run (HeavenApplication.RunControl)")
struct RunControlTests {
    /// A store and engine in a directory of their own, and a run in each state.
    struct Fixture {
        let root: String
        let store: SQLiteStore
        let control: RunControl

        init() async throws {
            root = NSTemporaryDirectory() + "heaven-control-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            store = try SQLiteStore(path: root + "/heaven.sqlite")
            let engine = Engine(home: HeavenHome(root: root), stores: Stores(store))
            control = RunControl(engine: engine, runs: store, ledger: store)
        }

        func run(_ id: String, _ status: RunStatus, cancelRequested: Bool = false) async throws -> RunRecord {
            var run = RunRecord(id: id, workflow: "w", user: "alice", inputs: [:])
            try await store.createRun(run, documents: [SourceFile(path: "w.yaml", text: "kind: Workflow\n")])
            run.status = status
            run.cancelRequested = cancelRequested
            if status.isFinal { run.finishedAt = Date() }
            try await store.updateRun(run)
            return try #require(try await store.run(id))
        }
    }

    @Test("resume: a failed or interrupted run goes on (pending, its outputs' new place kept); others are refused")
    func resume() async throws {
        let f = try await Fixture()
        defer { try? FileManager.default.removeItem(atPath: f.root) }
        for status in [RunStatus.failed, .interrupted] {
            let run = try await f.run("r-\(status.rawValue)", status)
            let resumed = try await f.control.resume(run, drivenHere: false, outDirectory: "/elsewhere")
            #expect(resumed.status == .pending && resumed.outDirectory == "/elsewhere")
            let stored = try #require(try await f.store.run(run.id))
            #expect(stored.status == .pending && stored.outDirectory == "/elsewhere")
        }
        let refused: [(RunStatus, Bool, String)] = [
            (.succeeded, false, "has succeeded: there is nothing to resume"),
            (.cancelled, false, "a cancelled run does not resume"),
            (.running, true, "is running"), (.pending, true, "is running"),
        ]
        for (status, driven, why) in refused {
            let run = try await f.run("x-\(status.rawValue)", status)
            do {
                _ = try await f.control.resume(run, drivenHere: driven)
                Issue.record("\(status) resumed")
            } catch {
                guard case .conflict(let text) = error as? ApplicationError else {
                    Issue.record("\(status): \(error)")
                    continue
                }
                #expect(text.contains(why), "\(text)")
            }
            // Nothing changed.
            #expect(try await f.store.run(run.id)?.status == status)
        }
        // A run left `running` by a driver that is gone (kill -9) resumes.
        let orphan = try await f.run("orphan", .running)
        #expect(try await f.control.resume(orphan, drivenHere: false).status == .pending)
    }

    @Test("cancel: a run nobody drives is closed; asking again changes nothing; an ended run is a conflict")
    func cancel() async throws {
        let f = try await Fixture()
        defer { try? FileManager.default.removeItem(atPath: f.root) }
        let run = try await f.run("r1", .pending)
        #expect(try await f.control.cancel(run) == .closed)
        let cancelled = try #require(try await f.store.run(run.id))
        #expect(cancelled.status == .cancelled && cancelled.cancelRequested)
        #expect(try await f.control.cancel(cancelled) == .already)
        // With the record read before it was cancelled, too.
        #expect(try await f.control.cancel(run) == .already)
        for status in [RunStatus.succeeded, .failed] {
            let ended = try await f.run("e-\(status.rawValue)", status)
            do {
                _ = try await f.control.cancel(ended)
                Issue.record("\(status) cancelled")
            } catch {
                #expect(
                    error as? ApplicationError == .conflict("run \(ended.id) has already ended (\(status.rawValue))"))
            }
        }
        // A run cancelled without a request (it ended so by itself) is ended, not "already".
        let ended = try await f.run("c2", .cancelled)
        do {
            _ = try await f.control.cancel(ended)
            Issue.record("cancelled again")
        } catch {
            #expect(error as? ApplicationError == .conflict("run c2 has already ended (cancelled)"))
        }
    }
}

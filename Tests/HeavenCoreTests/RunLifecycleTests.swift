import Foundation
import HeavenCore
import HeavenModel
import Testing

@Suite("A run's lifecycle", .timeLimit(.minutes(15)))
struct RunLifecycleTests {
    func record() -> RunRecord { RunRecord(id: "r", workflow: "w", user: "u", inputs: [:]) }

    @Test("a first execution: prepared, driven (started, owned by this process), closed as succeeded")
    func succeeds() {
        var life = RunLifecycle(record())
        #expect(life.phase == .prepared && !life.isResume)
        let t0 = Date(timeIntervalSince1970: 100)
        #expect(life.drive(by: 42, started: "7", kept: 0, lost: 0, at: t0) == .started)
        #expect(life.phase == .driving && life.record.status == .running)
        #expect(life.record.ownerPID == 42 && life.record.ownerStart == "7" && life.record.startedAt == t0)
        let event = life.close(.succeeded(["x": .int(1)]), at: Date(timeIntervalSince1970: 200))
        #expect(event == .ended(.succeeded, error: nil))
        #expect(life.phase == .closed && life.record.status == .succeeded && life.record.outputs == ["x": .int(1)])
        #expect(life.record.ownerPID == nil && life.record.ownerStart == nil)
    }

    @Test("a resumed execution keeps its first start, and says what it kept and will run again")
    func resumes() {
        var r = record()
        let first = Date(timeIntervalSince1970: 50)
        r.startedAt = first
        r.status = .interrupted
        r.error = "interrupted"
        r.finishedAt = Date(timeIntervalSince1970: 60)
        var life = RunLifecycle(r)
        #expect(life.isResume)
        #expect(life.drive(by: 1, started: nil, kept: 3, lost: 1) == .resumed(kept: 3, lost: 1))
        #expect(life.record.startedAt == first && life.record.error == nil && life.record.finishedAt == nil)
        #expect(life.close(.stopped(.cancelled, "cancelled")) == .ended(.cancelled, error: "cancelled"))
        #expect(life.record.status == .cancelled)
    }

    @Test("a run that cannot be prepared ends failed at once; a broker's refusal is its own event")
    func refused() {
        var life = RunLifecycle(record())
        #expect(life.refuse("topology t cannot be placed", refusal: true) == .refused("topology t cannot be placed"))
        #expect(life.phase == .closed && life.record.status == .failed)
        var other = RunLifecycle(record())
        #expect(other.refuse("bad file", refusal: false) == .ended(.failed, error: "bad file"))
    }

    @Test("a failure closes the run failed with its message")
    func fails() {
        var life = RunLifecycle(record())
        _ = life.drive(by: 1, started: nil, kept: 0, lost: 0)
        #expect(life.close(.failed("task t failed")) == .ended(.failed, error: "task t failed"))
        #expect(life.record.status == .failed && life.record.error == "task t failed")
    }
}

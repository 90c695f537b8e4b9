import HeavenCore
import Testing

@Suite("An attempt's lifecycle", .timeLimit(.minutes(15)))
struct AttemptLifecycleTests {
    let previous = AttemptKey(runID: "r", taskKey: "t", number: 1)

    @Test("a checked start: committed, then running (its process noted), then ended")
    func checked() {
        var life = AttemptLifecycle()
        #expect(life.state == .waiting)
        life.startCommitted()
        #expect(life.state == .starting && life.startRecord == .committed)
        #expect(life.queueStartRecord() == nil)
        #expect(life.started() == .noteProcess)
        #expect(life.state == .running)
        #expect(life.end(.succeeded) == .init(wasRunning: true, recordStartFirst: nil))
        #expect(life.state == .ended(.succeeded))
    }

    @Test("a refused start records nothing")
    func refused() {
        var life = AttemptLifecycle()
        life.refuse("node full")
        #expect(life.state == .refused("node full") && life.startRecord == nil)
    }

    @Test("a takeover's start is recorded with its process, once")
    func takeover() {
        var life = AttemptLifecycle()
        life.takeOver(previous)
        #expect(life.startRecord == .pending(takingOver: previous))
        #expect(life.started() == .recordStart(takingOver: previous))
        #expect(life.startRecord == .queued)
        #expect(life.end(.failed) == .init(wasRunning: true, recordStartFirst: nil))
    }

    @Test("a takeover on a remote site records its start before the (slow) start, and not again")
    func remoteTakeover() {
        var life = AttemptLifecycle()
        life.takeOver(previous)
        #expect(life.queueStartRecord() == previous)
        #expect(life.queueStartRecord() == nil)
        #expect(life.started() == .noteProcess)
    }

    @Test("a takeover that ends before it runs (it could not start) records its start first, then its end")
    func endsBeforeRunning() {
        var life = AttemptLifecycle()
        life.takeOver(previous)
        #expect(life.end(.failed) == .init(wasRunning: false, recordStartFirst: previous))
        // Ending again (the first end's write failed) never records the start twice.
        #expect(life.end(.lost) == .init(wasRunning: false, recordStartFirst: nil))
        #expect(life.state == .ended(.lost))
    }
}

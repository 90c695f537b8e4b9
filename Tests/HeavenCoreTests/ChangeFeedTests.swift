import HeavenCore
import Testing

@Suite("Change feed", .timeLimit(.minutes(15)))
struct ChangeFeedTests {
    @Test("a waiter is woken by the change it waits for, not by another topic's")
    func wakes() async {
        let feed = ChangeFeed()
        let seen = feed.generation(of: .events(run: "r1"))
        let woken = Task {
            await feed.wait(for: .events(run: "r1"), after: seen, timeout: .seconds(60))
            return feed.generation(of: .events(run: "r1"))
        }
        feed.notify(.events(run: "r2"))
        feed.notify(.capacity)
        // Until r1's own change, the waiter waits (the timeout is a minute away).
        feed.notify(.events(run: "r1"))
        #expect(await woken.value == seen + 1)
    }

    @Test("a change between the look and the wait is not missed")
    func noLostWakeUp() async {
        let feed = ChangeFeed()
        let seen = feed.generation(of: .capacity)
        feed.notify(.capacity)
        // Already past `seen`: returns at once, whatever the timeout.
        await feed.wait(for: .capacity, after: seen, timeout: .seconds(3600))
        #expect(feed.generation(of: .capacity) == seen + 1)
    }

    @Test("without a change, the wait ends at its timeout, or when its task is cancelled")
    func timeoutAndCancel() async {
        let feed = ChangeFeed()
        await feed.wait(for: .sites, after: 0, timeout: .milliseconds(10))
        let waiting = Task { await feed.wait(for: .sites, after: 0, timeout: .seconds(3600)) }
        waiting.cancel()
        await waiting.value
        #expect(feed.generation(of: .sites) == 0)
    }

    @Test("every waiter of a topic is woken by one change")
    func many() async {
        let feed = ChangeFeed()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask { await feed.wait(for: .cancel(run: "r"), after: 0, timeout: .seconds(3600)) }
            }
            // Let them queue up, then one change wakes them all (the group ends).
            await Task.yield()
            feed.notify(.cancel(run: "r"))
        }
        #expect(feed.generation(of: .cancel(run: "r")) == 1)
    }
}

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

@Suite("Change feed: deadlines and several topics", .timeLimit(.minutes(15)))
struct ChangeFeedDeadlineTests {
    @Test("a wait for several topics is woken by a change of any of them, and is then gone from the others")
    func severalTopics() async {
        let feed = ChangeFeed()
        let seen: [StoreChange: UInt64] = [.events(run: "r"): 0, .attempts(run: "r"): 0]
        let woken = Task { await feed.wait(for: seen, timeout: .seconds(3600)) }
        feed.notify(.attempts(run: "other"))
        feed.notify(.attempts(run: "r"))
        await woken.value
        // Its entry under the other topic went with it: a change there wakes no one twice.
        feed.notify(.events(run: "r"))
        #expect(feed.generation(of: .attempts(run: "r")) == 1 && feed.generation(of: .events(run: "r")) == 1)
        // Already past for one topic: returns at once.
        await feed.wait(for: [.events(run: "r"): 0, .sites: 0], timeout: .seconds(3600))
    }

    @Test("each waiter ends at its own deadline: a short one set after a long one is not held back by it")
    func deadlines() async {
        let feed = ChangeFeed()
        let clock = ContinuousClock()
        // A long wait arms the feed's one timer an hour away ...
        let long = Task { await feed.wait(for: .sites, after: 0, timeout: .seconds(3600)) }
        await Task.yield()
        // ... and shorter ones, set after it, still end at theirs (the timer is set earlier).
        let started = clock.now
        await withTaskGroup(of: Duration.self) { group in
            for ms in [300, 100, 200] {
                group.addTask {
                    let t0 = clock.now
                    await feed.wait(for: .capacity, after: 0, timeout: .milliseconds(ms))
                    return t0.duration(to: clock.now) - .milliseconds(ms)
                }
            }
            for await late in group { #expect(late >= .zero, "a waiter ended \(late) before its deadline") }
        }
        #expect(started.duration(to: clock.now) >= .milliseconds(300))
        // The long one still waits; its cancellation ends it.
        long.cancel()
        await long.value
        #expect(feed.generation(of: .sites) == 0 && feed.generation(of: .capacity) == 0)
    }
}

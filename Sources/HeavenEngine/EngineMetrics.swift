import Dispatch
import HeavenCore
import Metrics
import Synchronization

/// What the engine reports through swift-metrics (a no-op unless a backend is
/// bootstrapped, as `heaven serve` does with Prometheus):
///
/// - `heaven_task_attempts_total{status}`: attempts ended, by how they ended;
/// - `heaven_tasks_running`: attempts running now;
/// - `heaven_task_duration_seconds{status}`: how long attempts ran;
/// - `heaven_task_queue_wait_seconds`: from a task being ready to its slot being taken.
///
/// The handles are made once (per status) on first use, after the backend is chosen.
enum EngineMetrics {
    static let running = Meter(label: "heaven_tasks_running")
    static let queueWait = Timer(label: "heaven_task_queue_wait_seconds", preferredDisplayUnit: .seconds)
    private static let byStatus = Mutex<[String: (Counter, Timer)]>([:])

    static func started() { running.increment() }

    static func ended(_ status: AttemptStatus, seconds: Double) {
        running.decrement()
        let (counter, timer) = byStatus.withLock { m in
            if let h = m[status.rawValue] { return h }
            let h = (
                Counter(label: "heaven_task_attempts_total", dimensions: [("status", status.rawValue)]),
                Timer(
                    label: "heaven_task_duration_seconds", dimensions: [("status", status.rawValue)],
                    preferredDisplayUnit: .seconds)
            )
            m[status.rawValue] = h
            return h
        }
        counter.increment()
        timer.recordSeconds(seconds)
    }

    static func waited(since start: UInt64) {
        queueWait.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
    }
}

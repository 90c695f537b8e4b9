import HeavenConnectors

/// Whether a recorded process is still alive.
enum ProcessProbeBridge {
    static func isAlive(_ pid: Int32, _ start: String?) -> Bool { ProcessProbe.isAlive(pid: pid, startTime: start) }
}

public import Foundation
public import HeavenModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// This machine: the embedded default site, and what it has.
public enum ThisMachine {
    /// Cores of this machine usable by this process (read once: every run of a server
    /// asks).
    public static let cores: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Physical memory of this machine in bytes (read once).
    public static let memory: Double = Double(ProcessInfo.processInfo.physicalMemory)

    /// The embedded default site: this machine, owned by `owner`, with its cores,
    /// memory and architecture. Of the `software` asked for, it offers what it can
    /// find on `PATH`: a program of that name or beginning with it (`gdal` is there
    /// when `gdalinfo` is).
    public static func site(owner: String, software wanted: [String]) -> Site {
        Site(
            name: "local", connector: .local, owner: Principal(.user, owner),
            nodes: [
                NodeSpec(
                    name: "machine", cores: cores, memory: memory, arch: architecture,
                    software: installed(Array(Set(wanted)).sorted()), tags: ["local"])
            ],
            location: SourceLocation(file: "(default)", line: 1, column: 1))
    }

    /// This machine's architecture as `uname -m` says it.
    public static let architecture: String = {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }()

    /// Which of `names` have a program on `PATH` named so, or beginning so.
    static func installed(_ names: [String]) -> [String] {
        guard !names.isEmpty else { return [] }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        var programs = Set<String>()
        for dir in path.split(separator: ":") {
            for p in (try? FileManager.default.contentsOfDirectory(atPath: String(dir))) ?? [] { programs.insert(p) }
        }
        return names.filter { n in programs.contains(n) || programs.contains { $0.hasPrefix(n) } }
    }
}

/// The sandbox of `isolation: sandbox` tasks (and of a tenant's tasks on a server).
public enum TaskSandbox {
    /// The path of bubblewrap, when installed.
    public static let bubblewrap: String? = ["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Whether tasks can be sandboxed on this machine.
    public static var isAvailable: Bool { bubblewrap != nil }
}

/// The umask of tasks outside a server's confinement: the user's own (the command
/// line sets Heaven's to 0077 to keep its state private; its tasks' files stay as the
/// user would make them).
public enum TaskUmask {
    /// -1: the process's.
    static let task = Atomic<Int32>(-1)

    /// The user's own umask, when the command line set Heaven's to 0077.
    public static var user: mode_t? {
        let m = task.load(ordering: .relaxed)
        return m < 0 ? nil : mode_t(m)
    }

    /// Sets the umask that tasks outside a server's confinement get.
    public static func set(_ mask: mode_t) { task.store(Int32(mask), ordering: .relaxed) }
}

public import HeavenModel
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension LocalConnector {
    /// The embedded default site: this machine, owned by `owner`, with its cores,
    /// memory and architecture. Of the `software` asked for, it offers what it can
    /// find on `PATH`: a program of that name or beginning with it (`gdal` is there
    /// when `gdalinfo` is).
    public static func defaultSite(owner: String, software wanted: [String]) -> Site {
        Site(
            name: "local", connector: .local, owner: Principal(.user, owner),
            nodes: [
                NodeSpec(
                    name: "machine", cores: machineCores, memory: machineMemory, arch: machineArchitecture,
                    software: installed(Array(Set(wanted)).sorted()), tags: ["local"])
            ],
            location: SourceLocation(file: "(default)", line: 1, column: 1))
    }

    /// This machine's architecture as `uname -m` says it.
    public static var machineArchitecture: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

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

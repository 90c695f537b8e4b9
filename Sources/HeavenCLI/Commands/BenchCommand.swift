import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `heaven bench`: runs `heaven-bench`, the benchmarks' own program, built beside `heaven`.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure orchestration overhead (runs heaven-bench, built beside heaven).",
        discussion: """
            The benchmarks are their own program, `heaven-bench` (`heaven-bench --help` lists \
            the workloads); this command runs it with the same arguments.
              $ swift build -c release         # every product, heaven-bench too
              $ heaven bench --write docs/performance.md
              $ heaven bench --quick            # a smoke run of a few hundred tasks
            """)

    @Argument(parsing: .captureForPassthrough, help: "Arguments of heaven-bench.")
    var arguments: [String] = []

    func run() throws {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let bench = me.deletingLastPathComponent().appendingPathComponent("heaven-bench").path
        guard FileManager.default.isExecutableFile(atPath: bench) else {
            throw CLIError(
                "`heaven bench` runs heaven-bench, which is not built beside heaven (\(bench)): swift build -c release"
            )
        }
        let argv = ([bench] + arguments).map { strdup($0) } + [nil]
        execv(bench, argv)
        throw CLIError("cannot start \(bench): \(String(cString: strerror(errno)))")
    }
}

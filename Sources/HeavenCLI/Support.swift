import ArgumentParser
import CHeavenSystem
import Foundation
import HeavenAPI
import HeavenConnectors
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel
import HeavenStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Shared helpers of the commands.
enum CLI {
    static func openStore() throws -> (HeavenHome, Stores) {
        let home = HeavenHome.fromEnvironment()
        for repair in home.secure() { error("heaven: note: state made private: \(repair)") }
        do {
            return (
                home, Stores(try SQLiteStore(path: home.database, liveness: Engine.processLiveness))
            )
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// Prints to standard error.
    static func error(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// Prints a body as the API sends it (JSON).
    static func printJSON<T: Encodable>(_ value: T) {
        print(String(decoding: (try? APICoding.encoder.encode(value)) ?? Data(), as: UTF8.self))
    }

    static func user() -> String {
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return ProcessInfo.processInfo.environment["USER"] ?? "user-\(getuid())"
    }

    static func findRun(_ runs: any RunStore, _ id: String) async throws -> RunRecord {
        do {
            guard let r = try await runs.run(id) else { throw CLIError("no run `\(id)` (see `heaven runs`)") }
            return r
        } catch {
            throw CLIError("\(error)")
        }
    }

    static var isTerminal: Bool { isatty(STDERR_FILENO) == 1 }

    /// The `--json` object: run, status, outputs (file values as plain paths), error.
    static func json(_ run: RunRecord, extra: [String: Value] = [:]) -> String {
        var object: [String: Value] = [
            "run": .string(run.id), "status": .string(run.status.rawValue),
            "outputs": .map((run.outputs ?? [:]).mapValues(\.plain)), "workflow": .string(run.workflow),
        ]
        if let e = run.error { object["error"] = .string(e) }
        for (k, v) in extra { object[k] = v }
        return Value.map(object).jsonText
    }

    /// A number for people: no `.0` on whole numbers, at most 3 decimals.
    static func number(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        var s = String(format: "%.3f", d)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    static func exitCode(_ status: RunStatus) -> Int32 { status == .succeeded ? 0 : 1 }

    /// Prints a finished run for people.
    /// The summary of a run that ended; `details` (a failed task's last lines) after its error.
    static func report(_ run: RunRecord, took given: Double? = nil, details: [String] = []) {
        let took = given ?? run.finishedAt.flatMap { f in run.startedAt.map { f.timeIntervalSince($0) } }
        var line = "run \(run.id) \(run.status.rawValue)"
        if let took { line += " in \(Wording.duration(took))" }
        print(line)
        if let e = run.error { print("  error: \(e)") }
        for line in details { print(line) }
        for (k, v) in (run.outputs ?? [:]).sorted(by: { $0.key < $1.key }) {
            print("  \(k): \(v.plain.argumentText)")
        }
        if run.status == .interrupted {
            print("  continue with: heaven resume \(run.id)")
        } else if run.status == .failed {
            print(
                """
                  continue with: heaven resume \(run.id)   (after editing the files: heaven resume \(run.id) \
                --with FILE...)
                """
            )
        }
    }

    /// Why a file input's path cannot be read: one wording for `heaven run`, `execute`
    /// and `quote`, which all take a file as `NAME=PATH` (an `@` before it, as curl
    /// writes it, is named as the likely slip).
    static func fileInputProblem(name: String, path: String) -> String {
        if path.hasPrefix("@"), FileManager.default.isReadableFile(atPath: String(path.dropFirst())) {
            return "input `\(name)` is a file: give its path without `@` (\(name)=\(path.dropFirst()))"
        }
        return "input `\(name)` is a file: no readable file at `\(path)` (give it as \(name)=PATH)"
    }

    /// Parses `NAME=VALUE` inputs.
    static func inputs(_ items: [String]) throws -> [String: Value] {
        var out: [String: Value] = [:]
        for item in items {
            guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
                throw CLIError("--input takes NAME=VALUE, not `\(item)`")
            }
            out[String(item[..<eq])] = .string(String(item[item.index(after: eq)...]))
        }
        return out
    }
}

/// Catches SIGINT, SIGTERM and SIGHUP for as long as it lives: a C handler writes each
/// signal's number to a pipe (whichever thread the kernel delivers it to: none is
/// lost, as one could be with a dispatch source, which sees a signal only in the
/// threads that block it), and a thread of its own reads the pipe and calls `handler`.
final class SignalTrap: Sendable {
    private static let signals = [SIGINT, SIGTERM, SIGHUP]
    private let active = Mutex(true)

    init(_ handler: @escaping @Sendable (Int32) -> Void) {
        var caught: Int32 = -1
        for sig in SignalTrap.signals { caught = heaven_catch_signal(sig) }
        guard caught >= 0 else { return }
        let fd = caught
        let reader = Thread { [self] in
            var byte: UInt8 = 0
            while true {
                let n = read(fd, &byte, 1)
                if n < 0 && errno == EINTR { continue }
                guard n == 1 else { return }
                if self.active.withLock({ $0 }) { handler(Int32(byte)) }
            }
        }
        reader.name = "heaven-signals"
        reader.start()
    }

    /// Signals are ignored from now on.
    func cancel() {
        active.withLock { $0 = false }
        for sig in SignalTrap.signals { heaven_ignore_signal(sig) }
    }
}

/// An error of the command line: `heaven: error: MESSAGE` on standard error, and the
/// exit status (2: invalid input or usage, the default; 1: the work failed). Every
/// command throws it; `HeavenCommand.runMain` prints it, in one place.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var code: Int32

    init(_ message: String, code: Int32 = 2) {
        self.message = message
        self.code = code
    }

    var description: String { message }
}

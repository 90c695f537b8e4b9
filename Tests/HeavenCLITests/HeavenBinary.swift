import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the real `heaven` executable (built next to the test bundle, or `$HEAVEN_BIN`)
/// against a private `$HEAVEN_HOME`.
final class HeavenBinary {
    let home: String
    let work: String

    static var path: String {
        if let p = ProcessInfo.processInfo.environment["HEAVEN_BIN"] { return p }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.lastPathComponent == "MacOS" {
            dir = dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        }
        return dir.appendingPathComponent("heaven").path
    }

    init() throws {
        work = NSTemporaryDirectory() + "heaven-cli-\(UUID().uuidString)"
        home = work + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: work) }

    func write(_ name: String, _ text: String) throws -> String {
        let p = work + "/" + name
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func process(_ args: [String]) -> (Process, Pipe, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: HeavenBinary.path)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: work)
        var env = ProcessInfo.processInfo.environment
        env["HEAVEN_HOME"] = home
        // No login of the machine's user is taken for a server (`heaven login`).
        env["XDG_CONFIG_HOME"] = work + "/config"
        p.environment = env
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        return (p, out, err)
    }

    /// Runs `heaven ARGS` to its end.
    func run(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) {
        try run(args)
    }

    func run(_ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let (p, out, err) = process(args)
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Starts `heaven ARGS` and kills it with SIGKILL as soon as `ready` holds (polled
    /// every 10 ms, for 60 s at most); true if it was still running then.
    func killed(when ready: () -> Bool, _ args: [String]) throws -> Bool {
        let (p, out, err) = process(args)
        try p.run()
        // Drain the pipes so the child never blocks on a full pipe; keep what it said.
        let said = Said()
        let drained = DispatchSemaphore(value: 0)
        let drain = Thread {
            _ = out.fileHandleForReading.readDataToEndOfFile()
            said.text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            drained.signal()
        }
        drain.start()
        lastSaid = said
        let deadline = Date().addingTimeInterval(60)
        while p.isRunning && !ready() && Date() < deadline { usleep(10_000) }
        let wasRunning = p.isRunning
        if wasRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        drained.wait()
        said.text += "(exit \(p.terminationStatus))"
        return wasRunning
    }

    /// Waits (60 s at most) until `ready` holds.
    func wait(_ what: String, until ready: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(60)
        while try !ready() {
            guard Date() < deadline else { throw Failure(description: "gave up waiting for \(what)") }
            usleep(20_000)
        }
    }

    /// What the last process `killed(when:)` started wrote on standard error.
    var lastSaid = Said()

    final class Said: @unchecked Sendable {
        // @unchecked: written by the drain thread before the process is waited for, read after.
        var text = ""
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The JSON object a command printed.
    static func json(_ text: String) -> [String: Any] {
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }
}

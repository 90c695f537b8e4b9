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

    /// Starts `heaven ARGS` and kills it with SIGKILL after `seconds`; true if it was still running.
    func killed(after seconds: Double, _ args: [String]) throws -> Bool {
        let (p, out, err) = process(args)
        try p.run()
        // Drain the pipes so the child never blocks on a full pipe.
        let drain = Thread {
            _ = out.fileHandleForReading.readDataToEndOfFile()
            _ = err.fileHandleForReading.readDataToEndOfFile()
        }
        drain.start()
        Thread.sleep(forTimeInterval: seconds)
        let wasRunning = p.isRunning
        if wasRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        return wasRunning
    }

    /// The JSON object a command printed.
    static func json(_ text: String) -> [String: Any] {
        let line = text.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }
}

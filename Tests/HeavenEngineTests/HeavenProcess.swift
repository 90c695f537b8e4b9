import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The real `heaven` executable (built beside the tests, or `$HEAVEN_BIN`), run against
/// a harness's `$HEAVEN_HOME`: for the tests that kill it mid-run.
struct HeavenProcess {
    static var path: String {
        if let p = ProcessInfo.processInfo.environment["HEAVEN_BIN"] { return p }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "heaven"
        ).path
    }

    let home: String

    /// Starts `heaven ARGS` detached (its own session, no descriptor of ours, output to
    /// files); returns its pid.
    func start(_ args: [String]) throws -> Int32 {
        let out = home + "/heaven-\(UUID().uuidString.prefix(8))"
        let quoted = ([HeavenProcess.path] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [
            "-c",
            "for fd in $(ls /proc/$$/fd); do [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\" 2>/dev/null; done; "
                + """
                HEAVEN_HOME='\(home)' XDG_CONFIG_HOME='\(home)/config' setsid \(quoted.joined(separator: " ")) > \
                \(out).out 2> \(out).err < /dev/null & echo $! > \(out).pid
                """,
        ]
        try p.run()
        p.waitUntilExit()
        return Int32(
            (try String(contentsOfFile: out + ".pid", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines))
            ?? 0
    }

    /// Kills a started process with SIGKILL and waits until it is gone.
    static func kill9(_ pid: Int32) {
        kill(pid, SIGKILL)
        for _ in 0..<200 where kill(pid, 0) == 0 { usleep(10_000) }
    }

    /// Runs `heaven ARGS` to its end; its status and standard output.
    func run(_ args: [String]) throws -> (status: Int32, stdout: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: HeavenProcess.path)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["HEAVEN_HOME"] = home
        env["XDG_CONFIG_HOME"] = home + "/config"
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

import Foundation
public import Testing

/// The parts of the testbed a suite needs (root, openssh-server, Slurm, bubblewrap).
/// `scripts/test.sh` installs them all, so CI has them: a suite whose part is missing
/// runs and fails, saying what to install. A developer who cannot install them may
/// let such suites be skipped, explicitly: `HEAVEN_TESTS_MAY_SKIP=1`.
public enum Testbed {
    /// Whether missing parts may turn tests off (never in CI).
    public static var maySkip: Bool { ProcessInfo.processInfo.environment["HEAVEN_TESTS_MAY_SKIP"] == "1" }

    /// The suite's condition: it runs where `available`, and elsewhere too (to fail
    /// saying why) unless skipping was allowed.
    public static func needs(_ available: Bool, _ what: String) -> ConditionTrait {
        .enabled(if: available || !maySkip, "needs \(what) (skipped: HEAVEN_TESTS_MAY_SKIP=1)")
    }

    /// Throws, saying what is missing and how to get it, when a part is not there.
    public static func require(_ available: Bool, _ what: String) throws {
        guard available else {
            throw Missing(
                description:
                    """
                    this test needs \(what): install it (scripts/test.sh does), or set HEAVEN_TESTS_MAY_SKIP=1 to \
                    skip such tests locally
                    """
            )
        }
    }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String
    }

    /// Runs a shell command; its standard output, or an error when it fails.
    @discardableResult
    public static func sh(_ command: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "sh", code: Int(p.terminationStatus), userInfo: [NSLocalizedDescriptionKey: command])
        }
        return String(decoding: data, as: UTF8.self)
    }
}

import Foundation
import Testing

/// The parts of the testbed a suite needs (root, openssh-server, Slurm, bubblewrap).
/// `scripts/test.sh` installs them all, so CI has them: a suite whose part is missing
/// runs and fails, saying what to install. A developer who cannot install them may
/// let such suites be skipped, explicitly: `HEAVEN_TESTS_MAY_SKIP=1`.
enum Testbed {
    /// Whether missing parts may turn tests off (never in CI).
    static var maySkip: Bool { ProcessInfo.processInfo.environment["HEAVEN_TESTS_MAY_SKIP"] == "1" }

    /// The suite's condition: it runs where `available`, and elsewhere too (to fail
    /// saying why) unless skipping was allowed.
    static func needs(_ available: Bool, _ what: String) -> ConditionTrait {
        .enabled(if: available || !maySkip, "needs \(what) (skipped: HEAVEN_TESTS_MAY_SKIP=1)")
    }

    /// Throws, saying what is missing and how to get it, when a part is not there.
    static func require(_ available: Bool, _ what: String) throws {
        guard available else {
            throw Missing(
                description:
                    "this test needs \(what): install it (scripts/test.sh does), or set HEAVEN_TESTS_MAY_SKIP=1 to skip such tests locally"
            )
        }
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String
    }
}

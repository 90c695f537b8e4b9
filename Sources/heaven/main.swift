import CHeavenSystem
import Foundation
import HeavenCLI
import HeavenConnectors

#if canImport(Glibc)
    import Glibc
#endif

// The sandbox helper a shared server starts for its tenants' tasks (zygote.c): nothing
// of the command line runs in it.
if CommandLine.arguments.count == 2, CommandLine.arguments[1] == "--sandbox-zygote" {
    exit(heaven_zygote_main(0))
}
if let me = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
    TaskConfinement.useHelper(me)
}
await HeavenCommand.runMain()

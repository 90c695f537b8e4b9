import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real single-node Slurm cluster on 127.0.0.1 (slurmctld, slurmd, a private munged),
/// started by `scripts/testbed/slurm-cluster.sh` for one test and stopped when dropped.
public final class SlurmTestCluster: @unchecked Sendable {
    // @unchecked: every stored property is a constant set in `init`.
    public let directory: String
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/testbed/slurm-cluster.sh").path

    /// Whether this machine can run the cluster (root, Slurm and munge installed).
    public static var available: Bool {
        getuid() == 0
            && ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch"]
                .allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public init(cpus: Int = 4) throws {
        try Testbed.require(SlurmTestCluster.available, "root, slurm-wlm and munge")
        directory = NSTemporaryDirectory() + "heaven-slurm-\(UUID().uuidString.prefix(8))"
        var failure: (any Error)?
        for _ in 0..<5 {
            // Below the kernel's ephemeral range (32768 and up by default), where no
            // outgoing connection of another test can hold the port, and below the SSH test
            // hosts' 20000-29999 (slurmd takes port + 1).
            let port = 10000 + 2 * Int.random(in: 0..<5000)
            do {
                try Testbed.sh("bash \(SlurmTestCluster.script) start \(directory) \(port) \(cpus) 2>&1")
                chmod(directory, 0o755)
                return
            } catch {
                failure = error
                _ = try? Testbed.sh("bash \(SlurmTestCluster.script) stop \(directory)")
            }
        }
        throw failure!
    }

    public var config: String { directory + "/slurm.conf" }

    /// slurmd dies (the node fails; its job steps outlive it, as on a real node that
    /// is cut off).
    public func killNode() { _ = try? Testbed.sh("bash \(SlurmTestCluster.script) kill-slurmd \(directory)") }

    /// Runs a Slurm client command against this cluster.
    @discardableResult
    public func command(_ c: String) throws -> String { try Testbed.sh("SLURM_CONF=\(config) \(c)") }

    deinit {
        _ = try? Testbed.sh("bash \(SlurmTestCluster.script) stop \(directory)")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A Site document for this cluster; its node declares `software`.
    public func site(
        _ name: String, owner: String, cores: Int = 4, price: Double = 0, via: String? = nil, software: [String] = []
    ) -> String {
        """
        kind: Site
        name: \(name)
        connector: {kind: slurm, partition: debug, config: \(config)\(via.map { ", via: \($0)" } ?? "")}
        owner: user:\(owner)
        price: \(price)
        nodes: [{name: n, cores: \(cores), memory: 4GiB, software: [\(software.joined(separator: ", "))]}]
        ---

        """
    }
}

import Foundation
import HeavenTestSupport
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real OpenSSH server on 127.0.0.1, for one test: its own host key, a client key,
/// key-only login as a test user whose shell is /bin/sh. Stopped when dropped.
final class SSHTestHost: @unchecked Sendable {
    // @unchecked: every stored property is a constant set in `init`.
    static let user = "heaven-ssh-test"
    /// Each isolated host of this process gets its own 10.200.N.0/30.
    static let netBase = Int.random(in: 0..<250)
    static let nextNet = Atomic<Int>(0)
    let directory: String
    let port: Int
    let config: String
    /// Where the host listens: 127.0.0.1, or its own address in its network namespace.
    let address: String
    /// The host's network namespace and the host-side end of its link, when it has one.
    let namespace: String?
    let link: String?

    /// Whether this machine can run the test host (root, sshd installed).
    static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh")
    }

    /// A host; with `sharing`, one more host reached with the same client key and config.
    /// With `isolated`, the host lives in its own network namespace, reached over a veth
    /// pair in 10.200.0.0/16 (blackholed as a whole, so nothing there can leave the
    /// machine); its link can then be cut and restored.
    init(sharing other: SSHTestHost? = nil, isolated: Bool = false) throws {
        try Testbed.require(SSHTestHost.available, "root and openssh-server")
        let tag = UUID().uuidString.prefix(8).lowercased()
        directory = NSTemporaryDirectory() + "heaven-sshd-\(tag)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Below the kernel's ephemeral range (32768-) and the test Slurm clusters' ports
        // (30000-): no client socket or other daemon of the tests can hold it.
        port = 20000 + Int.random(in: 0..<10000)
        if isolated {
            let net = 1 + (SSHTestHost.netBase + SSHTestHost.nextNet.add(1, ordering: .relaxed).oldValue) % 250
            let ns = "hv\(tag.prefix(6))"
            namespace = ns
            link = ns + "a"
            address = "10.200.\(net).2"
        } else {
            namespace = nil
            link = nil
            address = "127.0.0.1"
        }
        if getpwnam(SSHTestHost.user) == nil {
            try SSHTestHost.sh("useradd -m -s /bin/sh \(SSHTestHost.user) && usermod -p '*' \(SSHTestHost.user)")
        }
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        try SSHTestHost.sh("rm -rf ~\(SSHTestHost.user)/.heaven")
        if let other {
            try SSHTestHost.sh(
                """
                ssh-keygen -q -t ed25519 -N '' -f \(directory)/host_key && cp \(other.directory)/id.pub \
                \(directory)/authorized_keys && chmod 644 \(directory)/authorized_keys
                """
            )
        } else {
            try SSHTestHost.sh(
                """
                ssh-keygen -q -t ed25519 -N '' -f \(directory)/host_key && ssh-keygen -q -t ed25519 -N '' -f \
                \(directory)/id && cp \(directory)/id.pub \(directory)/authorized_keys && chmod 644 \
                \(directory)/authorized_keys
                """
            )
        }
        try """
        Port \(port)
        ListenAddress \(address)
        HostKey \(directory)/host_key
        PidFile \(directory)/sshd.pid
        AuthorizedKeysFile \(directory)/authorized_keys
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        StrictModes no
        AllowUsers \(SSHTestHost.user)
        LogLevel ERROR
        MaxSessions 50
        MaxStartups 50
        ForceCommand exec \(directory)/log-command
        """.write(toFile: directory + "/sshd_config", atomically: true, encoding: .utf8)
        // Every command the host is asked to run is logged (base64, one a line), then run
        // as sshd would have: the tests count what crossed the connection. `exec` at each
        // step keeps the command its session's leader, as without the wrapper.
        try """
        #!/bin/sh
        printf '%s' "$SSH_ORIGINAL_COMMAND" | base64 -w0 >> \(directory)/commands.log
        echo >> \(directory)/commands.log
        exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
        """.write(toFile: directory + "/log-command", atomically: true, encoding: .utf8)
        chmod(directory + "/log-command", 0o755)
        _ = FileManager.default.createFile(atPath: directory + "/commands.log", contents: nil)
        chmod(directory + "/commands.log", 0o666)
        chmod(directory, 0o755)
        config = other?.config ?? directory + "/ssh_config"
        if other == nil {
            try """
            Host *
              UserKnownHostsFile \(directory)/known_hosts
              StrictHostKeyChecking accept-new
              IdentityFile \(directory)/id
              IdentitiesOnly yes
              LogLevel ERROR
            """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        // sshd daemonizes itself (a long-lived child of ours would stall Foundation's
        // reaping of every other child); it is stopped through its pid file.
        if let ns = namespace {
            let net = address.split(separator: ".")[2]
            try SSHTestHost.namespaced(ns) {
                try SSHTestHost.sh(
                    """
                    ip route show type blackhole | grep -q '^blackhole 10.200.0.0/16' || ip route add blackhole \
                    10.200.0.0/16
                    ip netns add \(ns)
                    ip link add \(ns)a type veth peer name \(ns)b
                    ip link set \(ns)b netns \(ns)
                    ip addr add 10.200.\(net).1/30 dev \(ns)a
                    ip link set \(ns)a up
                    ip netns exec \(ns) ip addr add 10.200.\(net).2/30 dev \(ns)b
                    ip netns exec \(ns) ip link set \(ns)b up
                    ip netns exec \(ns) ip link set lo up
                    """)
            }
            try SSHTestHost.namespaced(ns) {
                try SSHTestHost.sh(
                    "ip netns exec \(ns) /usr/sbin/sshd -f \(directory)/sshd_config -E \(directory)/sshd.log")
            }
        } else {
            try SSHTestHost.sh("/usr/sbin/sshd -f \(directory)/sshd_config -E \(directory)/sshd.log")
        }
        setenv("HEAVEN_SSH_CONFIG", config, 1)
        for _ in 0..<200 {
            if (try? SSHTestHost.sh("ssh -F \(config) -p \(port) -o BatchMode=yes \(SSHTestHost.user)@\(address) true"))
                != nil
            {
                return
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let log = (try? String(contentsOfFile: directory + "/sshd.log", encoding: .utf8)) ?? ""
        stop()
        throw NSError(
            domain: "sshd", code: 1,
            userInfo: [NSLocalizedDescriptionKey: "the test sshd on \(address):\(port) did not answer in 10 s: \(log)"])
    }

    /// Runs `body`; if it throws, the namespace is removed before the error goes on.
    static func namespaced(_ ns: String, _ body: () throws -> Void) throws {
        do { try body() } catch {
            removeNamespace(ns)
            throw error
        }
    }

    static func removeNamespace(_ ns: String) {
        _ = try? SSHTestHost.sh("ip netns del \(ns) 2>/dev/null; ip link del \(ns)a 2>/dev/null; true")
        // The blackhole goes with the last namespace of the range.
        _ = try? SSHTestHost.sh(
            "ip netns list | grep -q '^hv' || ip route del blackhole 10.200.0.0/16 2>/dev/null; true")
    }

    /// The host dies: its listener and every live session are killed at once.
    func crash() {
        _ = try? SSHTestHost.sh("p=$(cat \(directory)/sshd.pid); pkill -KILL -P $p; kill -KILL $p; true")
    }

    func stop() {
        _ = try? SSHTestHost.sh("kill $(cat \(directory)/sshd.pid) 2>/dev/null; true")
        if let namespace { SSHTestHost.removeNamespace(namespace) }
    }

    /// The host's link goes down: the host no longer answers (connections time out).
    func cutLink() { _ = try? SSHTestHost.sh("ip link set \(link!) down") }

    /// The host's link comes back.
    func restoreLink() { _ = try? SSHTestHost.sh("ip link set \(link!) up") }

    deinit {
        stop()
        _ = try? SSHTestHost.sh("pkill -KILL -u \(SSHTestHost.user) || true; rm -rf ~\(SSHTestHost.user)/.heaven")
        _ = try? SSHTestHost.sh("pkill -f 'ControlPath=.*heaven-ssh.*-p \(port) ' || true")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A Site document for this host.
    func site(_ name: String, cores: Int = 2, price: Double = 0, software: [String] = []) -> String {
        """
        kind: Site
        name: \(name)
        connector: {kind: ssh, host: \(address), port: \(port), user: \(SSHTestHost.user)}
        owner: user:\(testUser)
        price: \(price)
        nodes: [{name: n, cores: \(cores), memory: 2GiB, software: [\(software.joined(separator: ", "))]}]
        ---

        """
    }

    /// Every command the host was asked to run so far, in order.
    var commands: [String] {
        ((try? String(contentsOfFile: directory + "/commands.log", encoding: .utf8)) ?? "").split(separator: "\n")
            .compactMap { Data(base64Encoded: String($0)).map { String(decoding: $0, as: UTF8.self) } }
    }

    /// Runs a command on the host as the test user; returns its standard output.
    @discardableResult
    func remote(_ command: String) throws -> String {
        try SSHTestHost.sh(
            "ssh -F \(config) -p \(port) -o BatchMode=yes \(SSHTestHost.user)@\(address) \(SSHTestHost.quote(command))")
    }

    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    @discardableResult
    static func sh(_ command: String) throws -> String {
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

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real OpenSSH server on 127.0.0.1, for one test: its own host key, a client key,
/// key-only login as a test user whose shell is /bin/sh. Stopped when dropped.
final class SSHTestHost: @unchecked Sendable {
    // @unchecked: every stored property is a constant set in `init`.
    static let user = "heaven-ssh-test"
    let directory: String
    let port: Int
    let config: String

    /// Whether this machine can run the test host (root, sshd installed).
    static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh")
    }

    /// A host; with `sharing`, one more host reached with the same client key and config.
    init(sharing other: SSHTestHost? = nil) throws {
        directory = NSTemporaryDirectory() + "heaven-sshd-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = 20000 + Int.random(in: 0..<20000)
        if getpwnam(SSHTestHost.user) == nil {
            try SSHTestHost.sh("useradd -m -s /bin/sh \(SSHTestHost.user) && usermod -p '*' \(SSHTestHost.user)")
        }
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        try SSHTestHost.sh("rm -rf ~\(SSHTestHost.user)/.heaven")
        if let other {
            try SSHTestHost.sh("ssh-keygen -q -t ed25519 -N '' -f \(directory)/host_key && cp \(other.directory)/id.pub \(directory)/authorized_keys && chmod 644 \(directory)/authorized_keys")
        } else {
            try SSHTestHost.sh("ssh-keygen -q -t ed25519 -N '' -f \(directory)/host_key && ssh-keygen -q -t ed25519 -N '' -f \(directory)/id && cp \(directory)/id.pub \(directory)/authorized_keys && chmod 644 \(directory)/authorized_keys")
        }
        try """
            Port \(port)
            ListenAddress 127.0.0.1
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
            """.write(toFile: directory + "/sshd_config", atomically: true, encoding: .utf8)
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
        try SSHTestHost.sh("/usr/sbin/sshd -f \(directory)/sshd_config")
        setenv("HEAVEN_SSH_CONFIG", config, 1)
        for _ in 0..<100 {
            if (try? SSHTestHost.sh("ssh -F \(config) -p \(port) -o BatchMode=yes \(SSHTestHost.user)@127.0.0.1 true")) != nil { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw NSError(domain: "sshd", code: 1, userInfo: [NSLocalizedDescriptionKey: "the test sshd did not start"])
    }

    /// The host dies: its listener and every live session are killed at once.
    func crash() {
        _ = try? SSHTestHost.sh("p=$(cat \(directory)/sshd.pid); pkill -KILL -P $p; kill -KILL $p; true")
    }

    func stop() {
        _ = try? SSHTestHost.sh("kill $(cat \(directory)/sshd.pid) 2>/dev/null; true")
    }

    deinit {
        stop()
        try? SSHTestHost.sh("pkill -KILL -u \(SSHTestHost.user) || true; rm -rf ~\(SSHTestHost.user)/.heaven")
        try? SSHTestHost.sh("pkill -f 'ControlPath=.*heaven-ssh.*-p \(port) ' || true")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A Site document for this host.
    func site(_ name: String, cores: Int = 2, price: Double = 0) -> String {
        """
        kind: Site
        name: \(name)
        connector: {kind: ssh, host: 127.0.0.1, port: \(port), user: \(SSHTestHost.user)}
        owner: user:\(testUser)
        price: \(price)
        nodes: [{name: n, cores: \(cores), memory: 2GiB}]
        ---

        """
    }

    /// Runs a command on the host as the test user; returns its standard output.
    @discardableResult
    func remote(_ command: String) throws -> String {
        try SSHTestHost.sh("ssh -F \(config) -p \(port) -o BatchMode=yes \(SSHTestHost.user)@127.0.0.1 \(SSHTestHost.quote(command))")
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

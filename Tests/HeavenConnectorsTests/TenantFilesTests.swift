import Foundation
import Testing

@testable import HeavenConnectors

#if canImport(Glibc)
    import Glibc
#endif

/// A directory of a test's own (removed at the end), with a file outside it that a
/// hostile tenant would aim at.
final class Plot: @unchecked Sendable {
    // @unchecked: set once in init, read after.
    let base: String
    var root: String { base + "/run" }
    var outside: String { base + "/outside" }

    init() throws {
        base = "/var/tmp/heaven-files-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base + "/run/work/t", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/outside/tree", withIntermediateDirectories: true)
        try "SECRET".write(toFile: outside + "/secret", atomically: false, encoding: .utf8)
        try "KEEP".write(toFile: outside + "/tree/keep", atomically: false, encoding: .utf8)
        chmod(outside + "/secret", 0o600)
        chmod(base, 0o755)
    }

    deinit { try? FileManager.default.removeItem(atPath: base) }

    func write(_ rel: String, _ text: String) throws {
        try text.write(toFile: root + "/" + rel, atomically: false, encoding: .utf8)
    }

    func link(_ rel: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/" + rel, withDestinationPath: target)
    }
}

@Suite("A tenant's files, reached beneath their directory and never through a link", .timeLimit(.minutes(2)))
struct TenantFilesTests {
    @Test("a chain of two links, a link to a directory, `..`, an absolute path elsewhere: all refused")
    func links() throws {
        let p = try Plot()
        try p.write("work/t/out.txt", "fine")
        // `ln -s b a; ln -s /…/secret b`: Foundation's resolvingSymlinksInPath leaves it unresolved.
        try p.link("work/t/b", to: p.outside + "/secret")
        try p.link("work/t/a", to: "b")
        try p.link("work/t/d", to: p.outside)
        let files = TenantFiles.server
        #expect(
            String(decoding: try files.contents(p.root + "/work/t/out.txt", beneath: p.root), as: UTF8.self) == "fine")
        #expect(throws: TenantFileError.link(p.root + "/work/t/a")) {
            try files.contents(p.root + "/work/t/a", beneath: p.root)
        }
        #expect(throws: TenantFileError.link(p.root + "/work/t/d/secret")) {
            try files.contents(p.root + "/work/t/d/secret", beneath: p.root)
        }
        #expect(throws: TenantFileError.outside(p.root + "/../outside/secret")) {
            try files.contents(p.root + "/../outside/secret", beneath: p.root)
        }
        #expect(throws: TenantFileError.outside(p.root + "/work/../../outside/secret")) {
            try files.contents(p.root + "/work/../../outside/secret", beneath: p.root)
        }
        #expect(throws: TenantFileError.outside("/etc/shadow")) { try files.contents("/etc/shadow", beneath: p.root) }
        #expect(files.kind(p.root + "/work/t/a", beneath: p.root) == nil)
        #expect(files.kind(p.root + "/work/t", beneath: p.root) == .directory)
        #expect(files.kind(p.root + "/work/t/out.txt", beneath: p.root) == .file(size: 4))
    }

    @Test("a FIFO, a device, a directory are not regular files: refused at once, never waited on")
    func notRegular() throws {
        let p = try Plot()
        #expect(mkfifo(p.root + "/work/t/fifo", 0o600) == 0)
        #expect(throws: TenantFileError.notRegular(p.root + "/work/t/fifo")) {
            try TenantFiles.server.contents(p.root + "/work/t/fifo", beneath: p.root)
        }
        #expect(throws: TenantFileError.notRegular(p.root + "/work/t")) {
            try TenantFiles.server.contents(p.root + "/work/t", beneath: p.root)
        }
        #expect(mknod(p.root + "/work/t/zero", S_IFCHR | 0o600, dev_t((1 << 8) | 5)) == 0)
        #expect(throws: TenantFileError.notRegular(p.root + "/work/t/zero")) {
            try TenantFiles.server.contents(p.root + "/work/t/zero", beneath: p.root)
        }
        #expect(throws: TenantFileError.notRegular("/dev/zero")) { try TenantFiles.openOwn("/dev/zero") }
        // A file larger than what may be read into memory is refused, not cut.
        try p.write("work/t/big", String(repeating: "x", count: 100))
        #expect(throws: TenantFileError.tooLarge(p.root + "/work/t/big", limit: 10)) {
            try TenantFiles.server.contents(p.root + "/work/t/big", beneath: p.root, limit: 10)
        }
    }

    @Test("removing beneath a run removes a link itself and a tree without following a link inside it")
    func removal() throws {
        let p = try Plot()
        try p.link("work/t/b", to: p.outside + "/secret")
        try p.link("work/t/a", to: "b")
        try p.link("work/t/d", to: p.outside + "/tree")
        try FileManager.default.createDirectory(
            atPath: p.root + "/work/t/sub/deeper", withIntermediateDirectories: true)
        try p.link("work/t/sub/deeper/up", to: p.outside)
        try p.write("work/t/sub/deeper/f", "x")
        try TenantFiles.server.remove(p.root + "/work/t/a", beneath: p.root)
        #expect(FileManager.default.fileExists(atPath: p.outside + "/secret"))
        // Through a link to a directory: refused, the target untouched.
        #expect(throws: TenantFileError.link(p.root + "/work/t/d/keep")) {
            try TenantFiles.server.remove(p.root + "/work/t/d/keep", beneath: p.root)
        }
        try TenantFiles.server.remove(p.root + "/work/t", beneath: p.root)
        #expect(!FileManager.default.fileExists(atPath: p.root + "/work/t"))
        #expect(FileManager.default.fileExists(atPath: p.outside + "/secret"))
        #expect(FileManager.default.fileExists(atPath: p.outside + "/tree/keep"))
        // Nothing there: no error. The root itself: never.
        try TenantFiles.server.remove(p.root + "/work/t", beneath: p.root)
        #expect(throws: TenantFileError.outside(p.root)) { try TenantFiles.server.remove(p.root, beneath: p.root) }
    }

    @Test("as a tenant (through the sandbox helper): their own files only, whoever the server is")
    func asTenant() throws {
        guard geteuid() == 0 else { return }
        let p = try Plot()
        let uid = UInt32(210_000 + Int.random(in: 0..<10_000))
        let other = uid + 1
        // The run's directory is the tenant's, as the engine makes it.
        chown(p.root, uid, uid)
        chown(p.root + "/work", uid, uid)
        chown(p.root + "/work/t", uid, uid)
        chmod(p.root, 0o700)
        try p.write("work/t/mine", "MINE")
        chown(p.root + "/work/t/mine", uid, uid)
        chmod(p.root + "/work/t/mine", 0o600)
        // A file of the server's in the tenant's directory (root's, 0600): not theirs to read.
        try p.write("work/t/servers", "SERVER")
        chmod(p.root + "/work/t/servers", 0o600)
        // A file of the server's group, readable by it: the helper has no supplementary group.
        try p.write("work/t/group", "GROUP")
        chmod(p.root + "/work/t/group", 0o640)
        let tenant = TenantFiles(.tenant(uid: uid, gid: uid))
        #expect(
            String(decoding: try tenant.contents(p.root + "/work/t/mine", beneath: p.root), as: UTF8.self) == "MINE")
        #expect(throws: TenantFileError.denied(p.root + "/work/t/servers")) {
            try tenant.contents(p.root + "/work/t/servers", beneath: p.root)
        }
        #expect(throws: TenantFileError.denied(p.root + "/work/t/group")) {
            try tenant.contents(p.root + "/work/t/group", beneath: p.root)
        }
        // Another tenant reaches nothing of theirs.
        #expect(throws: TenantFileError.denied(p.root + "/work/t/mine")) {
            try TenantFiles(.tenant(uid: other, gid: other)).contents(p.root + "/work/t/mine", beneath: p.root)
        }
        // Links refused as for the server; a FIFO refused at once.
        try p.link("work/t/a", to: p.outside + "/secret")
        #expect(throws: TenantFileError.link(p.root + "/work/t/a")) {
            try tenant.contents(p.root + "/work/t/a", beneath: p.root)
        }
        #expect(mkfifo(p.root + "/work/t/fifo", 0o666) == 0)
        chown(p.root + "/work/t/fifo", uid, uid)
        #expect(throws: TenantFileError.notRegular(p.root + "/work/t/fifo")) {
            try tenant.contents(p.root + "/work/t/fifo", beneath: p.root)
        }
        // Removing as the tenant: their file goes; a directory of the server's inside
        // theirs, holding a file of the server's, stays.
        try FileManager.default.createDirectory(atPath: p.root + "/work/t/kept", withIntermediateDirectories: false)
        try p.write("work/t/kept/f", "x")
        #expect(throws: TenantFileError.denied(p.root + "/work/t/kept")) {
            try tenant.remove(p.root + "/work/t/kept", beneath: p.root)
        }
        #expect(FileManager.default.fileExists(atPath: p.root + "/work/t/kept/f"))
        try tenant.remove(p.root + "/work/t/mine", beneath: p.root)
        #expect(!FileManager.default.fileExists(atPath: p.root + "/work/t/mine"))
        #expect(FileManager.default.fileExists(atPath: p.outside + "/secret"))
    }

    @Test("the helper refuses a malformed file request and goes on serving")
    func malformed() throws {
        guard geteuid() == 0 else { return }
        let p = try Plot()
        let zygote = try SandboxZygote()
        let dir = open(p.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(dir) }
        for (uid, mode, path) in [(0 as UInt32, 0 as Int32, "x"), (5, 7, "x"), (5, 0, "/etc/shadow"), (5, -1, "x")] {
            #expect(throws: TenantFileError.self) {
                try zygote.fileRequest(kind: 3, uid: uid, gid: 5, mode: mode, path: path, directory: dir)
            }
        }
        #expect(throws: TenantFileError.self) {
            try zygote.fileRequest(kind: 4, uid: 5, gid: 5, mode: 1, path: "x", directory: dir)
        }
        try p.write("ok", "ok")
        chmod(p.root + "/ok", 0o644)
        let fd = try zygote.fileRequest(kind: 3, uid: 5, gid: 5, mode: 0, path: "ok", directory: dir)
        #expect(fd >= 0)
        close(fd)
    }
}

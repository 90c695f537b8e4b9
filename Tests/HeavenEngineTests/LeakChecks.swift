import Foundation

/// Where a secret must never be found, looked for as bytes.
enum LeakChecks {
    /// Every process's command line on this machine (and so on the test hosts, whose
    /// processes share this machine's process table), NUL-separated arguments as spaces.
    static func commandLines() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            guard Int32(name) != nil, let data = FileManager.default.contents(atPath: "/proc/\(name)/cmdline") else {
                return nil
            }
            return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        }
    }

    /// The processes whose environment holds `needle` (the task that was given it).
    static func environments(holding needle: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { name in
            guard let pid = Int32(name), let data = FileManager.default.contents(atPath: "/proc/\(name)/environ") else {
                return nil
            }
            return data.range(of: Data(needle.utf8)) != nil ? pid : nil
        }
    }

    /// The files under `root` whose bytes hold `needle`.
    static func files(holding needle: String, under root: String) -> [String] {
        var found: [String] = []
        let e = FileManager.default.enumerator(atPath: root)
        while let rel = e?.nextObject() as? String {
            let path = root + "/" + rel
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            if data.range(of: Data(needle.utf8)) != nil { found.append(path) }
        }
        return found
    }

    /// Waits until `ready` says so (a file the task made, a process it started).
    static func wait(_ what: String, seconds: Double = 60, until ready: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try await !ready() {
            guard Date() < deadline else { throw Failure(description: "gave up waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }
}

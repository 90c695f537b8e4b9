import Foundation
import HeavenConnectors
public import HeavenModel

#if canImport(Glibc)
    import Glibc
#endif

/// Copies a run's file outputs into the `--out` directory; values then name the copies.
/// (A run through a server: its downloaded files, named the same way.)
public struct OutputExporter {
    let directory: String

    /// An exporter into `directory`.
    public init(directory: String) { self.directory = directory }

    /// Copies the file outputs (lists of files into a directory named after the output);
    /// returns the outputs naming the copies.
    public func export(_ outputs: [String: Value]) throws -> [String: Value] {
        try makeDirectory(directory)
        var used = Set<String>()
        var result: [String: Value] = [:]
        for name in outputs.keys.sorted() {
            result[name] = try export(outputs[name]!, name: name, into: directory, used: &used)
        }
        return result
    }

    func export(_ v: Value, name: String, into dir: String, used: inout Set<String>) throws -> Value {
        switch v {
        case .file(let path):
            var target = dir + "/" + (path as NSString).lastPathComponent
            if used.contains(target) { target = dir + "/" + name + "-" + (path as NSString).lastPathComponent }
            var n = 2
            while used.contains(target) {
                target = dir + "/" + name + "-\(n)-" + (path as NSString).lastPathComponent
                n += 1
            }
            used.insert(target)
            try copy(path, to: target)
            return .file(target)
        case .list(let items) where items.contains(where: { if case .file = $0 { true } else { false } }):
            let sub = dir + "/" + name
            try makeDirectory(sub)
            let names = items.compactMap {
                if case .file(let p) = $0 { (p as NSString).lastPathComponent } else { nil }
            }
            let unique = Set(names).count == names.count
            var out: [Value] = []
            for (i, item) in items.enumerated() {
                if case .file(let p) = item {
                    let base = (p as NSString).lastPathComponent
                    let target = sub + "/" + (unique ? base : "\(i)-\(base)")
                    try copy(p, to: target)
                    out.append(.file(target))
                } else {
                    out.append(item)
                }
            }
            return .list(out)
        default:
            return v
        }
    }

    /// A directory of the user's, and each missing one above it, with their umask
    /// (Heaven's own is 0077), as `mkdir -p` would make them: one rule for every
    /// directory and file `--out` makes.
    func makeDirectory(_ path: String) throws {
        var missing: [String] = []
        var p = (path as NSString).standardizingPath
        while !p.isEmpty, p != "/", !FileManager.default.fileExists(atPath: p) {
            missing.append(p)
            p = (p as NSString).deletingLastPathComponent
        }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        if let mask = TaskUmask.user {
            for made in missing { chmod(made, 0o777 & ~mask) }
        }
    }

    /// Copies under a hidden name first, then renames: a process killed meanwhile leaves no
    /// partial file under the output's name (and the next resume copies it again).
    func copy(_ from: String, to: String) throws {
        let fm = FileManager.default
        let partial =
            (to as NSString).deletingLastPathComponent + "/." + (to as NSString).lastPathComponent + ".heaven-partial"
        if fm.fileExists(atPath: partial) { try fm.removeItem(atPath: partial) }
        try fm.copyItem(atPath: from, toPath: partial)
        // The user's umask, as a copy of theirs would have (executable stays executable).
        if let mask = TaskUmask.user {
            var st = stat()
            let executable = stat(from, &st) == 0 && st.st_mode & 0o111 != 0
            chmod(partial, (executable ? 0o777 : 0o666) & ~mask)
        }
        guard rename(partial, to) == 0 else {
            let reason = String(cString: strerror(errno))
            try? fm.removeItem(atPath: partial)
            throw EngineError.invalid("cannot put the output `\(to)` in place: \(reason)")
        }
    }
}

import Foundation
import HeavenConnectors
import HeavenModel

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a finished task's declared outputs from its working directory. Paths
/// must stay inside it: `..`, absolute paths and symlinks that lead out are refused.
/// A confined task's (`files` given: its tenant's rights) are reached beneath its working
/// directory with those rights, never through a link at all, regular files and
/// directories only; every file read is opened without blocking (a FIFO is refused, not
/// waited on) and bounded.
struct OutputCollector {
    let work: String
    let stdoutPath: String
    var files: TenantFiles? = nil
    /// Where `files` reach the working directory from (the run's directory: the server
    /// may search it, not the tenant's own directories).
    var root: String = ""
    static let maximumValueSize = 16 << 20

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func collect(_ outputs: [(name: String, source: OutputSource)], scope: Scope) throws -> [String: Value] {
        var values: [String: Value] = [:]
        for (name, source) in outputs {
            values[name] = try collect(name, source, scope: scope)
        }
        return values
    }

    func render(_ t: Template, _ scope: Scope) throws -> String {
        do {
            return try t.evaluate(in: scope).argumentText
        } catch {
            throw Failure(description: "output path: \(error.message)")
        }
    }

    func collect(_ name: String, _ source: OutputSource, scope: Scope) throws -> Value {
        switch source {
        case .file(let t):
            let rel = try render(t, scope)
            let path = try confined(rel, output: name)
            if let files {
                guard files.kind(path, beneath: root) != nil else {
                    throw Failure(
                        description:
                            """
                            output `\(name)`: the task did not produce `\(rel)` as a file or directory (a \
                            symbolic link is never followed)
                            """
                    )
                }
                return .file(path)
            }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw Failure(description: "output `\(name)`: the task did not produce `\(rel)`")
            }
            return .file(path)
        case .glob(let t):
            let pattern = try render(t, scope)
            _ = try confined(pattern, output: name, mustExist: false)
            if let files {
                // Listed with the tenant's rights, component by component, never through a link.
                return .list(try expand(pattern, files: files).sorted().map { Value.file(work + "/" + $0) })
            }
            var g = glob_t()
            defer { globfree(&g) }
            let full = OutputCollector.escapeGlob(work) + "/" + pattern
            let rc = glob(full, 0, nil, &g)
            guard rc == 0 || rc == GLOB_NOMATCH else {
                throw Failure(description: "output `\(name)`: cannot expand `\(pattern)`")
            }
            var files: [String] = []
            for i in 0..<Int(g.gl_pathc) {
                if let p = g.gl_pathv[i] {
                    let path = String(cString: p)
                    let rel = String(path.dropFirst(work.count + 1))
                    files.append(try confined(rel, output: name))
                    if let tenant = self.files, tenant.kind(path, beneath: root) == nil {
                        throw Failure(
                            description:
                                """
                                output `\(name)`: `\(rel)` is not a file or directory of the task's (a symbolic \
                                link is never followed)
                                """
                        )
                    }
                }
            }
            return .list(files.sorted().map(Value.file))
        case .json(let t, let at):
            let rel = try render(t, scope)
            let path = try confined(rel, output: name)
            let value = try readJSON(path, output: name)
            return try OutputCollector.navigate(value, at, output: name)
        case .stdoutText:
            let data = try read(stdoutPath, output: name)
            var s = String(decoding: data, as: UTF8.self)
            if s.hasSuffix("\n") { s.removeLast() }
            return .string(s)
        case .stdoutJSON:
            return try readJSON(stdoutPath, output: name)
        }
    }

    /// The paths (relative to the working directory) that `pattern` matches, read with the
    /// tenant's rights: each component a name or a shell pattern (`fnmatch`, hidden names
    /// only when the pattern says so), links never followed (a link is no match).
    func expand(_ pattern: String, files: TenantFiles) throws -> [String] {
        var matches = [""]
        let parts = pattern.split(separator: "/").map(String.init).filter { $0 != "." }
        for (i, part) in parts.enumerated() {
            let last = i == parts.count - 1
            var next: [String] = []
            for base in matches {
                let dir = base.isEmpty ? work : work + "/" + base
                let names: [String]
                if part.contains(where: { "*?[".contains($0) }) {
                    names = ((try? files.entries(dir, beneath: root)) ?? []).filter {
                        fnmatch(part, $0, FNM_PERIOD) == 0
                    }
                } else {
                    names = [part]
                }
                for n in names {
                    let rel = base.isEmpty ? n : base + "/" + n
                    switch files.kind(work + "/" + rel, beneath: root) {
                    case .directory: next.append(rel)
                    case .file where last: next.append(rel)
                    default: continue
                    }
                }
            }
            matches = next
            if matches.isEmpty { break }
        }
        return matches
    }

    static func escapeGlob(_ s: String) -> String {
        var out = ""
        for c in s {
            if "*?[]\\".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }

    func read(_ path: String, output: String) throws -> Data {
        let limit = OutputCollector.maximumValueSize
        do {
            if let files, path.hasPrefix(work + "/") { return try files.contents(path, beneath: root, limit: limit) }
            // The task's standard output (the server's own log), or an embedded run's file
            // (links followed: the user's own), still regular files only, opened without blocking.
            let file = try TenantFiles.openOwn(path)
            guard file.size <= limit else { throw TenantFileError.tooLarge(path, limit: limit) }
            return try file.readAll(limit: limit)
        } catch TenantFileError.tooLarge {
            throw Failure(description: "output `\(output)` is larger than 16 MiB: declare it as a file instead")
        } catch {
            throw Failure(description: "output `\(output)`: cannot read `\(path)`: \(error)")
        }
    }

    func readJSON(_ path: String, output: String) throws -> Value {
        let data = try read(path, output: output)
        do { return try Value(jsonData: data) } catch {
            // What was read, shortened: an empty output reads differently from a typo.
            let text = String(decoding: data.prefix(80), as: UTF8.self)
            let shown = data.isEmpty ? "it is empty" : "it starts `\(text)`\(data.count > 80 ? "…" : "")"
            throw Failure(
                description: "output `\(output)`: not valid JSON (\(OutputCollector.describe(error))); \(shown)")
        }
    }

    static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let c) = error {
            return (c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
                ?? c.debugDescription
        }
        return "\(error)"
    }

    /// Follows `KEY.PATH` (numbers index lists) into a JSON value.
    static func navigate(_ v: Value, _ path: String, output: String) throws -> Value {
        var cur = v
        var walked: [String] = []
        for part in path.split(separator: ".", omittingEmptySubsequences: true).map(String.init) {
            walked.append(part)
            switch cur {
            case .map(let m):
                guard let next = m[part] else {
                    throw Failure(
                        description: "output `\(output)`: no key `\(walked.joined(separator: "."))` in the JSON")
                }
                cur = next
            case .list(let items):
                guard let i = Int(part), items.indices.contains(i) else {
                    throw Failure(
                        description: "output `\(output)`: no item `\(walked.joined(separator: "."))` in the JSON")
                }
                cur = items[i]
            default:
                throw Failure(
                    description:
                        "output `\(output)`: `\(walked.dropLast().joined(separator: "."))` is not an object or list")
            }
        }
        return cur
    }

    /// The absolute path of `relative` inside the working directory, refusing escapes.
    func confined(_ relative: String, output: String, mustExist: Bool = true) throws -> String {
        if relative.hasPrefix("/") || relative.split(separator: "/").contains("..") || relative.isEmpty {
            throw Failure(description: "output `\(output)`: `\(relative)` is not a path inside the working directory")
        }
        let path = work + "/" + relative
        guard mustExist, FileManager.default.fileExists(atPath: path) else { return path }
        guard let real = realpath(path, nil) else { return path }
        defer { free(real) }
        let resolved = String(cString: real)
        guard let root = realpath(work, nil) else { return path }
        defer { free(root) }
        let rootPath = String(cString: root)
        guard resolved == rootPath || resolved.hasPrefix(rootPath + "/") else {
            throw Failure(
                description: "output `\(output)`: `\(relative)` leads outside the working directory (symbolic link)")
        }
        return path
    }
}

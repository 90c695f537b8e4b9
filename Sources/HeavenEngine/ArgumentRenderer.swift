import Foundation
import HeavenModel

/// Turns a task's command templates into argv. A whole argument that is one
/// `${ }` of a list expands to one argument per item; in `shell:` scripts every
/// interpolated value is quoted for where it lands (bare, inside `"…"` or `'…'`),
/// so values never become shell syntax.
struct ArgumentRenderer {
    /// Source path → name in the working directory, for staged inputs.
    let staged: [String: String]
    /// For a remote task: every other file an argument names is sent too, and named
    /// by its place in the working directory.
    var autoStage: AutoStage? = nil
    /// How a file that is not staged is written instead of its path (a task's
    /// fingerprint writes its content's digest).
    var fileText: ((String) -> String)? = nil

    /// Files added to a remote task's inputs as its arguments name them.
    final class AutoStage {
        var files: [(name: String, path: String)] = []
        var names: [String: String] = [:]

        func name(for path: String, avoiding taken: Set<String>) -> String {
            if let n = names[path] { return n }
            let base = (path as NSString).lastPathComponent
            var n = base
            var k = 1
            while taken.contains(n) || files.contains(where: { $0.name == n }) {
                n = "\(k)-\(base)"
                k += 1
            }
            names[path] = n
            files.append((n, path))
            return n
        }
    }

    func render(_ command: TaskStep.Command, scope: Scope, workflow: Workflow) throws -> [String] {
        switch command {
        case .argv(let templates):
            var argv: [String] = []
            for t in templates {
                if let e = t.soleExpression {
                    let v = try value(e, scope)
                    if let n = v.count {
                        for i in 0..<n { argv.append(try scalarText(v.item(at: i) ?? .null, e)) }
                    } else {
                        argv.append(try scalarText(v, e))
                    }
                } else {
                    argv.append(try text(t, scope: scope))
                }
            }
            return argv
        case .shell(let t):
            var script = ""
            var context = ShellContext.unquoted
            for p in t.parts {
                switch p {
                case .text(let s):
                    script += s
                    context = context.after(s)
                case .expression(let e):
                    let v = try value(e, scope)
                    let words: [String]
                    if let n = v.count {
                        words = try (0..<n).map { try scalarText(v.item(at: $0) ?? .null, e) }
                    } else {
                        words = [try scalarText(v, e)]
                    }
                    switch context {
                    case .unquoted: script += words.map(ArgumentRenderer.quote).joined(separator: " ")
                    case .double: script += words.map(ArgumentRenderer.escapeInDoubleQuotes).joined(separator: " ")
                    case .single:
                        script += "'" + words.map(ArgumentRenderer.quote).joined(separator: " ") + "'"
                    }
                }
            }
            return ["/bin/sh", "-c", script]
        }
    }

    /// Where an interpolation lands in a shell script.
    enum ShellContext {
        case unquoted, single, double

        /// The context after `text` (POSIX sh quoting: backslash escapes outside single quotes).
        func after(_ text: String) -> ShellContext {
            var state = self
            var escaped = false
            for c in text {
                if escaped {
                    escaped = false
                    continue
                }
                switch (state, c) {
                case (.unquoted, "\\"), (.double, "\\"): escaped = true
                case (.unquoted, "'"): state = .single
                case (.single, "'"): state = .unquoted
                case (.unquoted, "\""): state = .double
                case (.double, "\""): state = .unquoted
                default: break
                }
            }
            return state
        }
    }

    /// A value inside `"…"`: `\`, `"`, `$` and backquote escaped.
    static func escapeInDoubleQuotes(_ s: String) -> String {
        var out = ""
        for c in s {
            if c == "\\" || c == "\"" || c == "$" || c == "`" { out.append("\\") }
            out.append(c)
        }
        return out
    }

    func value(_ e: HeavenModel.Expression, _ scope: Scope) throws -> Value {
        do { return try e.evaluate(in: scope) } catch {
            throw EngineError.evaluation("\(error.message) in `\(e.source)`", at: e.location(ofOffset: error.offset))
        }
    }

    func scalarText(_ v: Value, _ e: HeavenModel.Expression) throws -> String {
        switch v {
        case .list, .range, .map:
            // Objects and nested lists become JSON text.
            return v.plain.jsonText
        case .file(let p):
            if let local = staged[p] { return local }
            if let fileText { return fileText(p) }
            if let auto = autoStage { return auto.name(for: p, avoiding: Set(staged.values)) }
            return p
        default: return v.argumentText
        }
    }

    /// A template rendered as one string (lists are refused: they cannot sit inside text).
    func text(_ t: Template, scope: Scope) throws -> String {
        var out = ""
        for p in t.parts {
            switch p {
            case .text(let s): out += s
            case .expression(let e):
                let v = try value(e, scope)
                if v.count != nil, t.parts.count > 1 {
                    throw EngineError.evaluation(
                        """
                        `\(e.source)` is a list: it cannot be embedded in text; make it a whole argument or use \
                        `join(...)`
                        """,
                        at: e.location)
                }
                if let n = v.count {
                    out += try (0..<n).map { try scalarText(v.item(at: $0) ?? .null, e) }.joined(separator: " ")
                } else {
                    out += try scalarText(v, e)
                }
            }
        }
        return out
    }

    /// `'…'` with embedded quotes escaped, for POSIX sh.
    static func quote(_ s: String) -> String {
        if !s.isEmpty,
            s.unicodeScalars.allSatisfy({
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%".unicodeScalars.contains($0)
            })
        {
            return s
        }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

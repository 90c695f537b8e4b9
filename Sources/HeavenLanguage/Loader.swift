import Foundation
public import HeavenModel
import Yams

/// What reading a set of files produced: the documents, every problem, and the
/// sources read (including files reached through `call`).
public struct LoadResult: Sendable {
    /// The documents that could be read.
    public var documents: DocumentSet
    /// Every problem, in file order.
    public var diagnostics: [Diagnostic]
    /// Every file read, in the order read.
    public var sources: [SourceFile]

    /// Whether the files are free of problems.
    public var isValid: Bool { diagnostics.isEmpty }
}

/// Reads description files (YAML, one or more documents each) into the model.
public enum Loader {
    /// The largest file read.
    public static let maximumFileSize = 4 << 20

    /// Reads files from disk. Files named by `call:` are read too.
    public static func load(paths: [String]) -> LoadResult {
        load(paths: paths, provided: [:])
    }

    /// Reads files whose text is already known (e.g. stored with a run); files
    /// named by `call:` are looked up among them first, then on disk unless `readingDisk`
    /// is false (a server never reads its own files for a client's documents: a file
    /// not among those sent is an error).
    public static func load(sources: [SourceFile], readingDisk: Bool = true) -> LoadResult {
        var provided: [String: String] = [:]
        for s in sources { provided[s.path] = s.text }
        return load(paths: sources.map(\.path), provided: provided, readingDisk: readingDisk)
    }

    /// Reads one text (for tests and the HTTP API).
    public static func load(text: String, path: String = "input.yaml") -> LoadResult {
        load(sources: [SourceFile(path: path, text: text)])
    }

    static func load(paths: [String], provided: [String: String], readingDisk: Bool = true) -> LoadResult {
        let state = LoadState(provided: provided)
        state.readingDisk = readingDisk
        for p in paths { state.readFile(p, from: nil) }
        state.resolveCalls()
        state.applyPrices()
        WorkflowChecker(documents: state.documents, sink: state.sink, sourcesOfWorkflow: state.fileOfWorkflow).check()
        return LoadResult(documents: state.documents, diagnostics: state.sink.sorted, sources: state.sources)
    }
}

/// Mutable state of one load.
final class LoadState {
    let sink = DiagnosticSink()
    var documents = DocumentSet()
    var sources: [SourceFile] = []
    var provided: [String: String]
    /// Whether files not provided are read from disk.
    var readingDisk = true
    var read: Set<String> = []
    var fileOfWorkflow: [String: String] = [:]
    var seenNames: [String: SourceLocation] = [:]
    /// `Price` documents: the workflow each prices, the price, where the name is written
    /// and each priced output's name node.
    var prices: [(workflow: String, price: Price, at: SourceLocation, outputs: [(String, SourceLocation)])] = []

    init(provided: [String: String]) { self.provided = provided }

    @discardableResult
    func readFile(_ path: String, from: SourceLocation?) -> [Workflow] {
        let key = (path as NSString).standardizingPath
        if read.contains(key) { return documents.workflows.filter { fileOfWorkflow[$0.name] == path } }
        read.insert(key)
        let text: String
        if let t = provided[path] {
            text = t
        } else if !readingDisk {
            sink.error(
                "`\(path)` is not among the files sent: send it with the others",
                at: from ?? SourceLocation(file: path, line: 1, column: 1))
            return []
        } else {
            guard let data = FileManager.default.contents(atPath: path) else {
                let exists = FileManager.default.fileExists(atPath: path)
                sink.error(
                    exists ? "cannot read `\(path)`" : "no such file `\(path)`",
                    at: from ?? SourceLocation(file: path, line: 1, column: 1))
                return []
            }
            guard data.count <= Loader.maximumFileSize else {
                sink.error(
                    "file is larger than \(Loader.maximumFileSize >> 20) MiB",
                    at: SourceLocation(file: path, line: 1, column: 1))
                return []
            }
            guard let t = String(data: data, encoding: .utf8) else {
                let bad = firstInvalidUTF8(data)
                sink.error("file is not valid UTF-8 text", at: SourceLocation(file: path, line: bad.0, column: bad.1))
                return []
            }
            text = t
        }
        sources.append(SourceFile(path: path, text: text))
        let before = documents.workflows.count
        parse(text, file: path)
        let added = Array(documents.workflows[before...])
        for w in added { fileOfWorkflow[w.name] = path }
        return added
    }

    func firstInvalidUTF8(_ data: Data) -> (Int, Int) {
        var line = 1
        var col = 1
        var i = data.startIndex
        while i < data.endIndex {
            let b = data[i]
            let len = b < 0x80 ? 1 : (b >> 5 == 0x6 ? 2 : (b >> 4 == 0xE ? 3 : (b >> 3 == 0x1E ? 4 : 0)))
            if len == 0 || i + len > data.endIndex { return (line, col) }
            for k in 1..<len where data[i + k] >> 6 != 0x2 { return (line, col) }
            if b == 0x0A {
                line += 1
                col = 1
            } else {
                col += 1
            }
            i += len
        }
        return (line, col)
    }

    func parse(_ text: String, file: String) {
        if let problem = excessiveNesting(text) {
            sink.error(
                "structure nested too deeply (more than 200 levels)",
                at: SourceLocation(file: file, line: problem.0, column: problem.1))
            return
        }
        let reader = NodeReader(file: file, sink: sink)
        do {
            let parser = try Parser(yaml: text)
            var index = 0
            while let root = try parser.nextRoot() {
                index += 1
                readDocument(root, reader: reader, index: index)
            }
            if index == 0 {
                sink.error("the file holds no document", at: SourceLocation(file: file, line: 1, column: 1))
            }
        } catch YamlError.duplicatedKeysInMapping(let keys, let context) {
            let key = keys.first ?? "?"
            let first = SourceLocation(file: file, line: context.mark.line, column: context.mark.column)
            sink.error(
                "duplicate key `\(key)` (first at line \(first.line), column \(first.column))",
                at: secondOccurrence(of: key, after: first, in: text) ?? first)
        } catch let e as YamlError {
            sink.error(yamlMessage(e), at: yamlLocation(e, file: file, text: text))
        } catch {
            sink.error("cannot read YAML: \(error)", at: SourceLocation(file: file, line: 1, column: 1))
        }
    }

    /// Where a duplicated key is written again: the same column on a later line (block
    /// style) or later on the same line (flow style).
    func secondOccurrence(of key: String, after first: SourceLocation, in text: String) -> SourceLocation? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
        let k = Array(key.unicodeScalars)
        func keyAt(_ line: [Unicode.Scalar], _ c: Int) -> Bool {
            guard c >= 0, c + k.count <= line.count, Array(line[c..<c + k.count]) == k else { return false }
            var j = c + k.count
            while j < line.count, line[j] == " " { j += 1 }
            return j < line.count && line[j] == ":"
        }
        guard first.line >= 1, first.line <= lines.count else { return nil }
        let firstLine = lines[first.line - 1]
        var c = first.column - 1 + k.count
        while c < firstLine.count {
            if keyAt(firstLine, c), c > 0, [",", " ", "{"].contains(firstLine[c - 1]) {
                return SourceLocation(file: first.file, line: first.line, column: c + 1)
            }
            c += 1
        }
        for l in first.line..<lines.count where keyAt(lines[l], first.column - 1) {
            return SourceLocation(file: first.file, line: l + 1, column: first.column)
        }
        return nil
    }

    func excessiveNesting(_ text: String) -> (Int, Int)? {
        var depth = 0
        var line = 1
        var col = 0
        var quote: Character?
        for c in text {
            col += 1
            if c == "\n" {
                line += 1
                col = 0
                quote = nil
                continue
            }
            if let q = quote {
                if c == q { quote = nil }
                continue
            }
            switch c {
            case "\"", "'": quote = c
            case "[", "{":
                depth += 1
                if depth > 200 { return (line, col) }
            case "]", "}": depth = max(0, depth - 1)
            default: break
            }
        }
        return nil
    }

    func yamlMessage(_ e: YamlError) -> String {
        switch e {
        case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
            .composer(let context, let problem, _, _):
            if let c = context { return "invalid YAML: \(problem) (\(c.text))" }
            return "invalid YAML: \(problem)"
        case .reader(let problem, _, _, _): return "invalid text: \(problem)"
        default: return "invalid YAML: \(e)"
        }
    }

    func yamlLocation(_ e: YamlError, file: String, text: String) -> SourceLocation {
        switch e {
        case .scanner(_, _, let m, _), .parser(_, _, let m, _), .composer(_, _, let m, _):
            return SourceLocation(file: file, line: m.line, column: m.column)
        case .reader(_, let offset, _, _):
            guard let offset else { return SourceLocation(file: file, line: 1, column: 1) }
            let prefix = text.utf8.prefix(offset)
            let line = prefix.filter { $0 == 0x0A }.count + 1
            let col =
                String(
                    decoding: prefix.split(separator: 0x0A, omittingEmptySubsequences: false).last ?? [], as: UTF8.self
                ).unicodeScalars.count + 1
            return SourceLocation(file: file, line: line, column: col)
        default:
            return SourceLocation(file: file, line: 1, column: 1)
        }
    }

    static let kinds = ["Site", "Grant", "Topology", "Workflow", "Price"]

    /// A `Price` document prices the workflow it names (its publisher's price, set at
    /// deploy beside the workflow's files): it replaces the workflow's own `price`.
    func applyPrices() {
        for p in prices {
            guard let i = documents.workflows.firstIndex(where: { $0.name == p.workflow }) else {
                let hint =
                    Suggestion.closest(to: p.workflow, among: documents.workflows.map(\.name)).map {
                        " (did you mean `\($0)`?)"
                    } ?? ""
                sink.error("a Price for workflow `\(p.workflow)`, which the files do not define\(hint)", at: p.at)
                continue
            }
            let declared = documents.workflows[i].outputs.map(\.name)
            var ok = true
            for (name, at) in p.outputs where !declared.contains(name) {
                ok = false
                sink.error(
                    "the Price names output `\(name)`, which workflow `\(p.workflow)` does not declare"
                        + (declared.isEmpty ? "" : "; its outputs: \(declared.joined(separator: ", "))"), at: at)
            }
            if ok { documents.workflows[i].price = p.price }
        }
    }

    func readDocument(_ root: Node, reader r: NodeReader, index: Int) {
        if r.isNull(root) { return }  // an empty document between `---` lines
        guard let entries = r.mapping(root, "a document") else { return }
        guard let kindEntry = entries.first(where: { $0.key == "kind" }) else {
            r.error("the document has no `kind` (one of \(LoadState.kinds.joined(separator: ", ")))", root)
            return
        }
        guard let kind = r.string(kindEntry.value, "`kind`") else { return }
        guard LoadState.kinds.contains(kind) else {
            let hint =
                Suggestion.closest(to: kind, among: LoadState.kinds).map { " (did you mean `\($0)`?)" }
                ?? "; expected one of \(LoadState.kinds.joined(separator: ", "))"
            r.error("unknown kind `\(kind)`\(hint)", kindEntry.value)
            return
        }
        guard let nameEntry = entries.first(where: { $0.key == "name" }) else {
            r.error("the \(kind) has no `name`", root)
            return
        }
        guard let name = r.name(nameEntry.value, "the \(kind)'s name") else { return }
        let key = "\(kind)/\(name)"
        if let first = seenNames[key] {
            r.error("duplicate \(kind) `\(name)` (first defined at \(first))", nameEntry.value)
            return
        }
        seenNames[key] = r.location(nameEntry.value)
        let location = r.location(root)
        switch kind {
        case "Site":
            if let s = SiteReader(r: r).site(entries, name: name, location: location) { documents.sites.append(s) }
        case "Grant":
            if let g = SiteReader(r: r).grant(entries, name: name, location: location) { documents.grants.append(g) }
        case "Topology":
            if let t = SiteReader(r: r).topology(entries, name: name, location: location) {
                documents.topologies.append(t)
            }
        case "Price":
            let priced = entries.filter { $0.key != "kind" && $0.key != "name" }
            if let p = WorkflowReader(r: r).price(priced, at: root) {
                let outputs = priced.first { $0.key == "outputs" }.flatMap { e -> [(String, SourceLocation)]? in
                    guard case .mapping(let m) = e.value else { return nil }
                    return m.compactMap { k, _ in k.string.map { ($0, r.location(k)) } }
                }
                prices.append((name, p, r.location(nameEntry.value), outputs ?? []))
            }
        default:
            if let w = WorkflowReader(r: r).workflow(entries, name: name, location: location) {
                documents.workflows.append(w)
            }
        }
    }

    /// Resolves `call:` targets: a workflow by name, or a file (relative to the caller's file).
    func resolveCalls() {
        var i = 0
        while i < documents.workflows.count {
            let w = documents.workflows[i]
            let file = fileOfWorkflow[w.name] ?? w.location.file
            var steps = w.steps
            resolve(&steps, callerFile: file)
            documents.workflows[i].steps = steps
            i += 1
        }
    }

    private func resolve(_ steps: inout [Step], callerFile: String) {
        for k in steps.indices {
            switch steps[k].form {
            case .call(var c):
                let isFile = c.target.contains("/") || c.target.hasSuffix(".yaml") || c.target.hasSuffix(".yml")
                if isFile {
                    let dir = (callerFile as NSString).deletingLastPathComponent
                    let path = c.target.hasPrefix("/") ? c.target : (dir.isEmpty ? c.target : dir + "/" + c.target)
                    let norm = (path as NSString).standardizingPath
                    let workflows = readFile(provided[path] != nil ? path : norm, from: steps[k].location)
                    let all = documents.workflows.filter {
                        fileOfWorkflow[$0.name] == path || fileOfWorkflow[$0.name] == norm
                    }
                    let candidates = workflows.isEmpty ? all : workflows
                    if candidates.count == 1 {
                        c.workflow = candidates[0].name
                    } else if candidates.count > 1 {
                        sink.error(
                            """
                            `\(c.target)` holds \(candidates.count) workflows \
                            (\(candidates.map(\.name).joined(separator: ", "))); call one of them by name
                            """,
                            at: steps[k].location)
                    } else if read.contains(norm) || provided[path] != nil {
                        sink.error("`\(c.target)` holds no workflow", at: steps[k].location)
                    }
                } else {
                    c.workflow = c.target
                }
                steps[k].form = .call(c)
            case .sequence(var s):
                resolve(&s, callerFile: callerFile)
                steps[k].form = .sequence(s)
            case .parallel(var s):
                resolve(&s, callerFile: callerFile)
                steps[k].form = .parallel(s)
            case .interleave(var s):
                resolve(&s, callerFile: callerFile)
                steps[k].form = .interleave(s)
            case .loop(var l):
                resolve(&l.steps, callerFile: callerFile)
                steps[k].form = .loop(l)
            case .foreach(var f):
                resolve(&f.steps, callerFile: callerFile)
                steps[k].form = .foreach(f)
            case .conditional(var c):
                resolve(&c.then, callerFile: callerFile)
                resolve(&c.otherwise, callerFile: callerFile)
                steps[k].form = .conditional(c)
            case .task:
                break
            }
        }
    }
}

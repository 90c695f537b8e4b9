public import HeavenModel
import Yams

/// Reads `Workflow` documents and their steps.
struct WorkflowReader {
    let r: NodeReader

    static let defaultLoopMax = 1000
    static let forms = ["task", "sequence", "parallel", "interleave", "loop", "foreach", "if", "call"]
    static let taskKeys = [
        "task", "run", "shell", "on", "env", "inputs", "outputs", "timeout", "retries", "resources", "isolation",
        "description",
    ]

    func workflow(_ entries: [Entry], name: String, location: SourceLocation) -> Workflow? {
        r.checkKeys(
            entries,
            allowed: [
                "kind", "name", "title", "description", "version", "keywords", "topology", "inputs", "steps", "outputs",
                "isolation", "price",
            ],
            in: "a Workflow")
        var w = Workflow(name: name, steps: [], location: location)
        var sawSteps = false
        for e in entries {
            switch e.key {
            case "topology": w.topology = r.name(e.value, "`topology`")
            case "title": w.title = r.string(e.value, "`title`")
            case "description": w.description = r.string(e.value, "`description`")
            case "version": w.version = r.string(e.value, "`version`")
            case "keywords": w.keywords = r.stringList(e.value, "`keywords`") ?? []
            case "inputs": w.inputs = inputs(e.value)
            case "steps":
                sawSteps = true
                w.steps = steps(e.value, "`steps`")
            case "outputs":
                guard let outs = r.mapping(e.value, "`outputs`") else { break }
                for o in outs {
                    guard NodeReader.isValidName(o.key) || isIdentifier(o.key) else {
                        r.error("output name `\(o.key)` is not a valid name", o.keyNode)
                        continue
                    }
                    // `NAME: TEMPLATE`, or `NAME: {value: TEMPLATE, title: ..., description: ...}`.
                    if case .mapping = o.value, let fields = r.mapping(o.value, "output `\(o.key)`") {
                        r.checkKeys(fields, allowed: ["value", "title", "description"], in: "output `\(o.key)`")
                        var info = Workflow.OutputInfo()
                        var value: Template?
                        for f in fields {
                            switch f.key {
                            case "value": value = r.template(f.value, "output `\(o.key)`")
                            case "title": info.title = r.string(f.value, "`title`")
                            case "description": info.description = r.string(f.value, "`description`")
                            default: break
                            }
                        }
                        guard let value else {
                            if !fields.contains(where: { $0.key == "value" }) {
                                r.error("output `\(o.key)` needs a `value` (the expression it is)", o.value)
                            }
                            continue
                        }
                        w.outputs.append((o.key, value))
                        w.outputInfo[o.key] = info
                    } else if let t = r.template(o.value, "output `\(o.key)`") {
                        w.outputs.append((o.key, t))
                    }
                }
            case "isolation":
                w.isolation = isolation(e.value) ?? .none
                w.isolationLocation = r.location(e.keyNode)
            case "price": w.price = price(e.value)
            default: break
            }
        }
        if !sawSteps { r.error("the Workflow has no `steps`", entries[0].keyNode) }
        // A priced output is one the workflow declares.
        if let price = entries.first(where: { $0.key == "price" }), case .mapping(let fields) = price.value,
            let priced = fields.first(where: { $0.key.string == "outputs" })?.value, case .mapping(let outputs) = priced
        {
            let declared = w.outputs.map(\.name)
            for (key, _) in outputs {
                guard let name = key.string, !declared.contains(name) else { continue }
                let hint = Suggestion.closest(to: name, among: declared).map { " (did you mean `\($0)`?)" } ?? ""
                r.error(
                    "`price` names output `\(name)`, which the workflow does not declare\(hint)"
                        + (declared.isEmpty ? "" : "; its outputs: \(declared.joined(separator: ", "))"), key)
            }
        }
        return w
    }

    /// `price: {currency, run, outputs: {NAME: {item: A} | {megabyte: A}}}`: amounts exact
    /// (at most six decimal places), none negative.
    func price(_ node: Node) -> Price? {
        guard let entries = r.mapping(node, "`price`") else { return nil }
        return price(entries, at: node)
    }

    /// A price from its entries (`currency`, `run`, `outputs`): a workflow's `price`, or a Price document's.
    func price(_ entries: [Entry], at node: Node) -> Price? {
        r.checkKeys(entries, allowed: ["currency", "run", "outputs"], in: "`price`")
        var p = Price(currency: "credits", run: .zero, location: r.location(node))
        var ok = true
        for e in entries {
            switch e.key {
            case "currency":
                guard let c = r.string(e.value, "`currency`") else {
                    ok = false
                    break
                }
                guard Price.isCurrency(c) else {
                    r.error("`currency` must be `credits` or an ISO 4217 code such as `EUR`, not `\(c)`", e.value)
                    ok = false
                    break
                }
                p.currency = c
            case "run":
                guard let m = amount(e.value, "`run`") else {
                    ok = false
                    break
                }
                p.run = m
            case "outputs":
                guard let outputs = r.mapping(e.value, "`price.outputs`") else {
                    ok = false
                    break
                }
                for o in outputs {
                    guard let fields = r.mapping(o.value, "the price of output `\(o.key)`") else {
                        ok = false
                        continue
                    }
                    r.checkKeys(
                        fields, allowed: Price.Unit.allCases.map(\.rawValue), in: "the price of output `\(o.key)`")
                    let units = fields.compactMap { f in Price.Unit(rawValue: f.key).map { (f, $0) } }
                    guard units.count == 1, let (f, unit) = units.first else {
                        if units.count > 1 || fields.isEmpty {
                            r.error(
                                """
                                the price of output `\(o.key)` is per `item` (of a list) or per `megabyte` (of a \
                                file): one of them, not \(units.count)
                                """,
                                o.value)
                        }
                        ok = false
                        continue
                    }
                    guard let m = amount(f.value, "`\(unit.rawValue)`") else {
                        ok = false
                        continue
                    }
                    p.outputs[o.key] = (unit, m)
                }
            default: break
            }
        }
        if !entries.contains(where: { $0.key == "run" }) && !entries.contains(where: { $0.key == "outputs" }) {
            r.error(
                "`price` needs `run` (per successful execution) or `outputs` (per item or megabyte delivered)", node)
            return nil
        }
        return ok ? p : nil
    }

    /// An amount of money: a number written exactly (at most six decimal places), not negative.
    func amount(_ node: Node, _ what: String) -> Money? {
        guard case .scalar(let s) = node, s.style == .plain || s.style == .any, let m = Money(s.string) else {
            r.error(
                """
                \(what) must be an amount such as 3 or 0.25 (at most six decimal places, at most \
                \(Money.maximum)), not \(r.describe(node))
                """,
                node)
            return nil
        }
        guard m >= .zero else {
            r.error("\(what) must not be negative, not \(s.string)", node)
            return nil
        }
        return m
    }

    func isIdentifier(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, (f >= "a" && f <= "z") || (f >= "A" && f <= "Z") || f == "_" else {
            return false
        }
        return s.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" || $0 == "-"
        }
    }

    func isolation(_ node: Node) -> Isolation? {
        guard let s = r.string(node, "`isolation`") else { return nil }
        guard let i = Isolation(rawValue: s) else {
            r.error("`isolation` must be `none` or `sandbox`, not `\(s)`", node)
            return nil
        }
        return i
    }

    func inputs(_ node: Node) -> [InputDeclaration] {
        guard let entries = r.mapping(node, "`inputs`") else { return [] }
        var out: [InputDeclaration] = []
        for e in entries {
            guard isIdentifier(e.key) else {
                r.error("input name `\(e.key)` is not a valid name", e.keyNode)
                continue
            }
            let loc = r.location(e.keyNode)
            if case .scalar = e.value, !r.isNull(e.value) {
                if let t = inputType(e.value) { out.append(InputDeclaration(name: e.key, type: t, location: loc)) }
                continue
            }
            guard let fields = r.mapping(e.value, "input `\(e.key)`") else { continue }
            r.checkKeys(
                fields, allowed: ["type", "default", "title", "description", "enum", "minimum", "maximum"],
                in: "input `\(e.key)`")
            var type: InputDeclaration.InputType?
            var defaultNode: Node?
            var description: String?
            var title: String?
            var enumNode: Node?
            var bounds: [(String, Node)] = []
            for f in fields {
                switch f.key {
                case "type": type = inputType(f.value)
                case "default": defaultNode = f.value
                case "description": description = r.string(f.value, "`description`")
                case "title": title = r.string(f.value, "`title`")
                case "enum": enumNode = f.value
                case "minimum", "maximum": bounds.append((f.key, f.value))
                default: break
                }
            }
            guard fields.contains(where: { $0.key == "type" }) else {
                r.error(
                    """
                    input `\(e.key)` needs a `type` \
                    (\(InputDeclaration.InputType.allCases.map(\.rawValue).joined(separator: ", ")))
                    """,
                    e.value)
                continue
            }
            guard let type else { continue }
            var declaration = InputDeclaration(name: e.key, type: type, description: description, location: loc)
            declaration.title = title
            if let enumNode, let items = r.sequence(enumNode, "`enum`") {
                var allowed: [Value] = []
                for item in items {
                    let v = yamlValue(item)
                    guard let typed = InputCoercion.coerce(v, to: type) else {
                        r.error("a value of `enum` is \(Wording.a(v.typeName)), not \(Wording.a(type.rawValue))", item)
                        continue
                    }
                    allowed.append(typed)
                }
                if items.isEmpty { r.error("`enum` lists no value", enumNode) }
                declaration.allowed = allowed
            }
            for (key, node) in bounds {
                guard type == .number || type == .integer else {
                    r.error("`\(key)` bounds a number or an integer, not \(Wording.a(type.rawValue))", node)
                    continue
                }
                guard let n = r.number(node, "`\(key)`") else { continue }
                if key == "minimum" { declaration.minimum = n } else { declaration.maximum = n }
            }
            if let lo = declaration.minimum, let hi = declaration.maximum, lo > hi {
                r.error(
                    """
                    input `\(e.key)`: `minimum` \(InputDeclaration.text(lo)) is above `maximum` \
                    \(InputDeclaration.text(hi))
                    """,
                    e.value)
            }
            var defaultValue: Value?
            if let d = defaultNode {
                defaultValue = yamlValue(d)
                if let v = defaultValue, InputCoercion.coerce(v, to: type) == nil {
                    r.error(
                        """
                        the default of input `\(e.key)` is \(v == .null ? "null" : Wording.a(v.typeName)), not \
                        \(Wording.a(type.rawValue))
                        """,
                        d)
                    defaultValue = nil
                } else if let v = defaultValue.flatMap({ InputCoercion.coerce($0, to: type) }),
                    let why = declaration.violation(v)
                {
                    r.error("the default: \(why)", d)
                    defaultValue = nil
                }
            }
            declaration.defaultValue = defaultValue
            out.append(declaration)
        }
        return out
    }

    func inputType(_ node: Node) -> InputDeclaration.InputType? {
        guard let s = r.string(node, "an input type") else { return nil }
        guard let t = InputDeclaration.InputType(rawValue: s) else {
            let names = InputDeclaration.InputType.allCases.map(\.rawValue)
            let hint =
                Suggestion.closest(to: s, among: names).map { " (did you mean `\($0)`?)" }
                ?? "; expected one of \(names.joined(separator: ", "))"
            r.error("unknown input type `\(s)`\(hint)", node)
            return nil
        }
        return t
    }

    /// A YAML value as a language value (defaults).
    func yamlValue(_ node: Node) -> Value {
        switch node {
        case .scalar(let s):
            if r.isNull(node) { return .null }
            if s.style == .plain {
                if let i = Int(s.string) { return .int(i) }
                if let d = Double(s.string), d.isFinite { return .double(d) }
                if s.string == "true" { return .bool(true) }
                if s.string == "false" { return .bool(false) }
            }
            return .string(s.string)
        case .sequence(let seq): return .list(seq.map(yamlValue))
        case .mapping(let m):
            var out: [String: Value] = [:]
            for (k, v) in m { if case .scalar(let ks) = k { out[ks.string] = yamlValue(v) } }
            return .map(out)
        case .alias: return .null
        }
    }

    func steps(_ node: Node, _ what: String) -> [Step] {
        guard let items = r.sequence(node, what) else { return [] }
        if items.isEmpty { r.error("\(what) is empty: a list of steps needs at least one step", node) }
        return items.compactMap(step)
    }

    /// A branch of `parallel`/`interleave`: a step, or a list of steps run in sequence.
    func branch(_ node: Node) -> Step? {
        if case .sequence = node {
            let s = steps(node, "a branch")
            return Step(name: nil, form: .sequence(s), location: r.location(node))
        }
        return step(node)
    }

    func step(_ node: Node) -> Step? {
        guard let entries = r.mapping(node, "a step") else { return nil }
        let hasForeach = entries.contains { $0.key == "foreach" }
        let formEntries = entries.filter {
            WorkflowReader.forms.contains($0.key) && !($0.key == "parallel" && hasForeach)
        }
        guard let formEntry = formEntries.first else {
            let unknown = entries.first { !WorkflowReader.forms.contains($0.key) && $0.key != "name" }
            if let u = unknown, let s = Suggestion.closest(to: u.key, among: WorkflowReader.forms) {
                r.error("unknown key `\(u.key)` in a step (did you mean `\(s)`?)", u.keyNode)
            } else {
                r.error("a step needs one of: \(WorkflowReader.forms.joined(separator: ", "))", node)
            }
            return nil
        }
        if formEntries.count > 1 {
            r.error(
                "a step has exactly one form, but this one has both `\(formEntry.key)` and `\(formEntries[1].key)`",
                formEntries[1].keyNode)
            return nil
        }
        let location = r.location(node)
        var name: String?
        if let n = entries.first(where: { $0.key == "name" }), formEntry.key != "task" {
            name = r.name(n.value, "the step's `name`")
        }
        switch formEntry.key {
        case "task":
            guard let t = task(entries, node: node) else { return nil }
            return Step(name: t.name, form: .task(t), location: location)
        case "sequence":
            r.checkKeys(entries, allowed: ["sequence", "name"], in: "a sequence step")
            return Step(name: name, form: .sequence(steps(formEntry.value, "`sequence`")), location: location)
        case "parallel", "interleave":
            r.checkKeys(entries, allowed: [formEntry.key, "name"], in: Wording.a("\(formEntry.key) step"))
            guard let items = r.sequence(formEntry.value, "`\(formEntry.key)`") else { return nil }
            if items.isEmpty { r.error("`\(formEntry.key)` needs at least one branch", formEntry.value) }
            let branches = items.compactMap(branch)
            return Step(
                name: name, form: formEntry.key == "parallel" ? .parallel(branches) : .interleave(branches),
                location: location)
        case "loop":
            r.checkKeys(entries, allowed: ["loop", "name"], in: "a loop step")
            guard let l = loop(formEntry.value) else { return nil }
            return Step(name: name, form: .loop(l), location: location)
        case "foreach":
            r.checkKeys(entries, allowed: ["foreach", "as", "parallel", "steps", "name"], in: "a foreach step")
            let items = r.expression(formEntry.value, "`foreach`")
            var variable: String?
            var parallel: Int?
            var body: [Step] = []
            for e in entries {
                switch e.key {
                case "as":
                    if let v = r.string(e.value, "`as`") {
                        if isIdentifier(v), !["inputs", "loop", "true", "false", "null", "in"].contains(v) {
                            variable = v
                        } else {
                            r.error("`as` must be a name, and not a reserved word: `\(v)`", e.value)
                        }
                    }
                case "parallel": parallel = r.int(e.value, "`parallel`", min: 1, max: 1_000_000)
                case "steps": body = steps(e.value, "`steps`")
                default: break
                }
            }
            if !entries.contains(where: { $0.key == "as" }) {
                r.error("a foreach needs `as: NAME` for its item", formEntry.keyNode)
            }
            if !entries.contains(where: { $0.key == "steps" }) { r.error("a foreach needs `steps`", formEntry.keyNode) }
            guard let items, let variable else { return nil }
            return Step(
                name: name, form: .foreach(Foreach(items: items, variable: variable, parallel: parallel, steps: body)),
                location: location)
        case "if":
            r.checkKeys(entries, allowed: ["if", "then", "else", "name"], in: "an if step")
            let cond = r.expression(formEntry.value, "`if`")
            var then: [Step] = []
            var otherwise: [Step] = []
            for e in entries {
                if e.key == "then" { then = steps(e.value, "`then`") }
                if e.key == "else" { otherwise = steps(e.value, "`else`") }
            }
            if !entries.contains(where: { $0.key == "then" }) { r.error("an `if` needs `then`", formEntry.keyNode) }
            guard let cond else { return nil }
            return Step(
                name: name, form: .conditional(Conditional(condition: cond, then: then, otherwise: otherwise)),
                location: location)
        default:  // call
            r.checkKeys(entries, allowed: ["call", "with", "name"], in: "a call step")
            guard let target = r.string(formEntry.value, "`call`") else { return nil }
            var with: [String: Template] = [:]
            for e in entries where e.key == "with" {
                for w in r.mapping(e.value, "`with`") ?? [] {
                    if let t = r.template(w.value, "input `\(w.key)`") { with[w.key] = t }
                }
            }
            return Step(name: name, form: .call(Call(target: target, workflow: "", with: with)), location: location)
        }
    }

    func loop(_ node: Node) -> Loop? {
        guard let entries = r.mapping(node, "`loop`") else { return nil }
        r.checkKeys(entries, allowed: ["while", "until", "max", "steps"], in: "`loop`")
        var condition: Loop.Condition?
        var max = WorkflowReader.defaultLoopMax
        var body: [Step] = []
        let tests = entries.filter { $0.key == "while" || $0.key == "until" }
        if tests.count > 1 {
            r.error("a loop has either `while` or `until`, not both", tests[1].keyNode)
        }
        for e in entries {
            switch e.key {
            case "while" where tests.count == 1: condition = r.expression(e.value, "`while`").map { .whileTrue($0) }
            case "until" where tests.count == 1: condition = r.expression(e.value, "`until`").map { .until($0) }
            case "max": max = r.int(e.value, "`max`", min: 1, max: 10_000_000) ?? max
            case "steps": body = steps(e.value, "`steps`")
            default: break
            }
        }
        if tests.isEmpty { r.error("a loop needs `while: CONDITION` or `until: CONDITION`", node) }
        if !entries.contains(where: { $0.key == "steps" }) { r.error("a loop needs `steps`", node) }
        guard let condition else { return nil }
        return Loop(condition: condition, max: max, steps: body)
    }

    func task(_ entries: [Entry], node: Node) -> TaskStep? {
        r.checkKeys(entries, allowed: WorkflowReader.taskKeys, in: "a task")
        guard let nameEntry = entries.first(where: { $0.key == "task" }),
            let name = r.name(nameEntry.value, "the task's name")
        else { return nil }
        var command: TaskStep.Command?
        var t = TaskStep(name: name, command: .argv([]), location: r.location(node))
        let commands = entries.filter { $0.key == "run" || $0.key == "shell" }
        if commands.count > 1 {
            r.error("a task has either `run` (argv, no shell) or `shell`, not both", commands[1].keyNode)
        } else if commands.isEmpty {
            r.error("task `\(name)` needs `run: [PROGRAM, ARG...]` or `shell: \"...\"`", nameEntry.keyNode)
        }
        for e in entries {
            switch e.key {
            case "run" where commands.count == 1:
                if case .scalar = e.value {
                    r.error(
                        """
                        `run` takes an argv list such as `[gdalinfo, -json, file.tif]`; for a command line use \
                        `shell:`
                        """,
                        e.value)
                    break
                }
                guard let items = r.sequence(e.value, "`run`") else { break }
                if items.isEmpty {
                    r.error("`run` is empty: it needs at least the program", e.value)
                    break
                }
                let argv = items.compactMap { r.template($0, "an argument") }
                if argv.count == items.count { command = .argv(argv) }
            case "shell" where commands.count == 1:
                if let s = r.template(e.value, "`shell`") { command = .shell(s) }
            case "on": t.on = r.name(e.value, "`on`")
            case "env":
                for v in r.mapping(e.value, "`env`") ?? [] {
                    guard isEnvName(v.key) else {
                        r.error("`\(v.key)` is not a valid environment variable name", v.keyNode)
                        continue
                    }
                    if case .mapping = v.value {
                        // `{secret: NAME}`: a secret of the run's user.
                        let entries = r.mapping(v.value, "variable `\(v.key)`") ?? []
                        r.checkKeys(entries, allowed: ["secret"], in: "a secret variable")
                        guard let s = entries.first(where: { $0.key == "secret" }) else {
                            r.error("variable `\(v.key)`: write a text, or `{secret: NAME}`", v.value)
                            continue
                        }
                        if let name = r.name(s.value, "the secret's name") { t.secrets.append((v.key, name)) }
                        continue
                    }
                    if let tv = r.template(v.value, "variable `\(v.key)`") { t.environment.append((v.key, tv)) }
                }
            case "inputs":
                if case .sequence(let seq) = e.value {
                    for item in seq {
                        if let tv = r.template(item, "a task input") { t.inputs.append(("", tv)) }
                    }
                } else {
                    for v in r.mapping(e.value, "`inputs`") ?? [] {
                        guard isSafeRelative(v.key) else {
                            r.error("input name `\(v.key)` must be a plain file name (no `/`, no `..`)", v.keyNode)
                            continue
                        }
                        if let tv = r.template(v.value, "input `\(v.key)`") { t.inputs.append((v.key, tv)) }
                    }
                }
            case "outputs":
                for o in r.mapping(e.value, "`outputs`") ?? [] {
                    guard isIdentifier(o.key) else {
                        r.error("output name `\(o.key)` is not a valid name", o.keyNode)
                        continue
                    }
                    if let s = outputSource(o.value, o.key) { t.outputs.append((o.key, s)) }
                }
            case "timeout":
                if let d = r.quantity(e.value, "`timeout`", .seconds) {
                    if d <= 0 { r.error("`timeout` must be positive", e.value) } else { t.timeout = d }
                }
            case "retries": t.retries = retries(e.value) ?? RetryPolicy()
            case "resources":
                guard let res = r.mapping(e.value, "`resources`") else { break }
                r.checkKeys(res, allowed: ["cores", "memory"], in: "`resources`")
                for x in res {
                    if x.key == "cores" { t.resources.cores = r.int(x.value, "`cores`", min: 1, max: 1_000_000) }
                    if x.key == "memory" { t.resources.memory = r.quantity(x.value, "`memory`", .bytes) }
                }
            case "isolation":
                t.isolation = isolation(e.value)
                t.isolationLocation = r.location(e.keyNode)
            default: break
            }
        }
        guard let command else { return nil }
        t.command = command
        return t
    }

    func isEnvName(_ s: String) -> Bool {
        guard let f = s.unicodeScalars.first, !(f >= "0" && f <= "9") else { return false }
        return s.unicodeScalars.allSatisfy {
            ($0 >= "A" && $0 <= "Z") || ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "_"
        }
    }

    func isSafeRelative(_ s: String) -> Bool {
        !s.isEmpty && !s.contains("/") && s != "." && s != ".." && !s.hasPrefix(".heaven")
    }

    func retries(_ node: Node) -> RetryPolicy? {
        if case .scalar = node {
            guard let n = r.int(node, "`retries`", min: 0, max: 100) else { return nil }
            return RetryPolicy(count: n)
        }
        guard let entries = r.mapping(node, "`retries`") else { return nil }
        r.checkKeys(entries, allowed: ["count", "backoff", "max-backoff"], in: "`retries`")
        var p = RetryPolicy()
        for e in entries {
            switch e.key {
            case "count": p.count = r.int(e.value, "`count`", min: 0, max: 100) ?? 0
            case "backoff": p.backoff = r.quantity(e.value, "`backoff`", .seconds) ?? p.backoff
            case "max-backoff": p.maximumBackoff = r.quantity(e.value, "`max-backoff`", .seconds) ?? p.maximumBackoff
            default: break
            }
        }
        return p
    }

    func outputSource(_ node: Node, _ name: String) -> OutputSource? {
        guard let entries = r.mapping(node, "output `\(name)`") else { return nil }
        let kinds = entries.filter { ["file", "glob", "json", "stdout"].contains($0.key) }
        r.checkKeys(entries, allowed: ["file", "glob", "json", "at", "stdout"], in: "output `\(name)`")
        guard kinds.count == 1 else {
            if kinds.isEmpty {
                r.error(
                    "output `\(name)` needs one of `file: PATH`, `glob: PATTERN`, `json: PATH`, `stdout: text|json`",
                    node)
            } else {
                r.error("output `\(name)` has both `\(kinds[0].key)` and `\(kinds[1].key)`", kinds[1].keyNode)
            }
            return nil
        }
        let k = kinds[0]
        if k.key != "json", let at = entries.first(where: { $0.key == "at" }) {
            r.error("`at` goes with `json:` only", at.keyNode)
        }
        switch k.key {
        case "file", "glob":
            guard let t = r.template(k.value, "`\(k.key)`") else { return nil }
            if let text = t.literalText, !pathIsConfined(text) {
                r.error(
                    "`\(k.key)` must be a path inside the task's working directory (relative, no `..`): `\(text)`",
                    k.value)
                return nil
            }
            return k.key == "file" ? .file(t) : .glob(t)
        case "json":
            guard let t = r.template(k.value, "`json`") else { return nil }
            if let text = t.literalText, !pathIsConfined(text) {
                r.error(
                    "`json` must be a path inside the task's working directory (relative, no `..`): `\(text)`", k.value)
                return nil
            }
            var at = ""
            if let a = entries.first(where: { $0.key == "at" }) { at = r.string(a.value, "`at`") ?? "" }
            return .json(t, at: at)
        default:
            guard let s = r.string(k.value, "`stdout`") else { return nil }
            switch s {
            case "text": return .stdoutText
            case "json": return .stdoutJSON
            default:
                r.error("`stdout` must be `text` or `json`, not `\(s)`", k.value)
                return nil
            }
        }
    }

    func pathIsConfined(_ p: String) -> Bool {
        !p.hasPrefix("/") && !p.split(separator: "/").contains("..") && !p.isEmpty
    }
}

/// Converts values to declared input types.
public enum InputCoercion {
    /// The value as the type, or nil when it is not of that type. Text from the
    /// command line is read as the type (`--input size=512`).
    public static func coerce(_ v: Value, to type: InputDeclaration.InputType) -> Value? {
        switch (type, v) {
        case (.string, .string): return v
        case (.string, .int), (.string, .double), (.string, .bool): return .string(v.argumentText)
        case (.number, .int), (.number, .double), (.integer, .int): return v
        case (.number, .string(let s)):
            if let i = Int(s) { return .int(i) }
            return Double(s).flatMap { $0.isFinite ? .double($0) : nil }
        case (.integer, .string(let s)): return Int(s).map(Value.int)
        case (.integer, .double(let d)) where d == d.rounded() && abs(d) < 9e18: return .int(Int(d))
        case (.boolean, .bool): return v
        case (.boolean, .string(let s)):
            return s == "true" ? .bool(true) : (s == "false" ? .bool(false) : nil)
        case (.file, .file): return v
        case (.file, .string(let s)) where !s.isEmpty: return .file(s)
        // An optional file (`default: null`): none given.
        case (.file, .null): return v
        case (.list, .list), (.list, .range): return v
        case (.list, .string(let s)):
            if let parsed = try? Value(json: s), case .list = parsed { return parsed }
            return nil
        case (.object, .map): return v
        case (.object, .string(let s)):
            if let parsed = try? Value(json: s), case .map = parsed { return parsed }
            return nil
        default: return nil
        }
    }
}

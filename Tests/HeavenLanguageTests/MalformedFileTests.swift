import Foundation
import HeavenLanguage
import HeavenModel
import Testing

/// One malformed file: its text, and the first diagnostic it must produce.
struct Malformed: CustomTestStringConvertible, Sendable {
    var name: String
    var yaml: String
    var position: String
    var message: String
    /// Where the first diagnostic is, when another true problem comes before this one.
    var first: String?

    var testDescription: String { name }
}

let header = "kind: Workflow\nname: w\nsteps:\n"

let malformedFiles: [Malformed] = [
    Malformed(
        name: "unknown top-level key", yaml: "kind: Workflow\nname: w\nstep:\n  - task: a\n    run: [true]\n",
        position: "3:1", message: "unknown key `step` in a Workflow (did you mean `steps`?)",
        first: "1:1"),  // the Workflow has no `steps`
    Malformed(
        name: "unknown kind", yaml: "kind: Workflw\nname: w\n", position: "1:7",
        message: "unknown kind `Workflw` (did you mean `Workflow`?)"),
    Malformed(
        name: "missing kind", yaml: "name: w\nsteps: []\n", position: "1:1", message: "the document has no `kind`"),
    Malformed(
        name: "bad name", yaml: "kind: Workflow\nname: My_Flow\nsteps:\n  - task: a\n    run: [true]\n",
        position: "2:7", message: "the Workflow's name `My_Flow` is not a valid name"),
    Malformed(
        name: "invalid YAML", yaml: "kind: Workflow\nname: w\nsteps: [\n", position: "4:1", message: "invalid YAML"),
    Malformed(
        name: "tab indentation", yaml: "kind: Workflow\nname: w\nsteps:\n\t- task: a\n", position: "4:1",
        message: "invalid YAML"),
    Malformed(
        name: "step with two forms",
        yaml: header + "  - task: a\n    run: [true]\n    loop: {while: 'true', steps: []}\n",
        position: "6:5", message: "a step has exactly one form, but this one has both `task` and `loop`"),
    Malformed(
        name: "step with no form", yaml: header + "  - name: x\n", position: "4:5", message: "a step needs one of"),
    Malformed(
        name: "typo in step form", yaml: header + "  - tsk: a\n    run: [true]\n", position: "4:5",
        message: "unknown key `tsk` in a step (did you mean `task`?)"),
    Malformed(
        name: "unknown task key", yaml: header + "  - task: a\n    run: [true]\n    timout: 5s\n", position: "6:5",
        message: "unknown key `timout` in a task (did you mean `timeout`?)"),
    Malformed(
        name: "task without command", yaml: header + "  - task: a\n    on: m\n", position: "4:5",
        message: "task `a` needs `run: [PROGRAM, ARG...]` or `shell: \"...\"`"),
    Malformed(
        name: "run and shell together", yaml: header + "  - task: a\n    run: [true]\n    shell: 'true'\n",
        position: "6:5",
        message: "a task has either `run` (argv, no shell) or `shell`, not both"),
    Malformed(
        name: "run as a string", yaml: header + "  - task: a\n    run: echo hi\n", position: "5:10",
        message: "`run` takes an argv list"),
    Malformed(
        name: "empty run", yaml: header + "  - task: a\n    run: []\n", position: "5:10", message: "`run` is empty"),
    Malformed(
        name: "bad duration", yaml: header + "  - task: a\n    run: [true]\n    timeout: 5 minutes\n", position: "6:14",
        message: "`timeout`: `5 minutes` is not a duration"),
    Malformed(
        name: "duration with a size unit", yaml: header + "  - task: a\n    run: [true]\n    timeout: 5GiB\n",
        position: "6:14",
        message: "`timeout`: `5GiB` is not a duration"),
    Malformed(
        name: "bad memory", yaml: header + "  - task: a\n    run: [true]\n    resources: {memory: 4 gigs}\n",
        position: "6:25",
        message: "`memory`: `4 gigs` is not a size"),
    Malformed(
        name: "cores not an integer", yaml: header + "  - task: a\n    run: [true]\n    resources: {cores: two}\n",
        position: "6:24",
        message: "`cores` must be an integer, not `two`"),
    Malformed(
        name: "retries out of range", yaml: header + "  - task: a\n    run: [true]\n    retries: -1\n",
        position: "6:14",
        message: "`retries` must be between 0 and 100, not -1"),
    Malformed(
        name: "unknown output of a step",
        yaml: header
            + """
              - task: split\n    run: [true]\n    outputs: {tiles: {glob: '*.tif'}}\n  - task: b\n    run: [echo, \
            '${split.tilez}']\n
            """,
        position: "8:26", message: "step `split` has no output `tilez` (did you mean `tiles`?)"),
    Malformed(
        name: "unknown step name", yaml: header + "  - task: a\n    run: [echo, '${splt.x}']\n", position: "5:20",
        message: "unknown name `splt`"),
    Malformed(
        name: "unknown input",
        yaml:
            """
            kind: Workflow\nname: w\ninputs:\n  scene: {type: file}\nsteps:\n  - task: a\n    run: [echo, \
            '${inputs.scen}']\n
            """,
        position: "7:27", message: "unknown input `scen` of workflow `w` (did you mean `scene`?)"),
    Malformed(
        name: "reference to a later step",
        yaml: header
            + "  - task: a\n    run: [echo, '${b.x}']\n  - task: b\n    run: [true]\n"
            + "    outputs: {x: {stdout: text}}\n",
        position: "5:20", message: "step `b` has not run at this point"),
    Malformed(
        name: "reference across parallel branches",
        yaml: header
            + """
              - parallel:\n      - task: a\n        run: [true]\n        outputs: {x: {stdout: text}}\n      - \
            task: b\n        run: [echo, '${a.x}']\n
            """,
        position: "9:24", message: "step `a` has not run at this point"),
    Malformed(
        name: "duplicate step names", yaml: header + "  - task: a\n    run: [true]\n  - task: a\n    run: [true]\n",
        position: "6:5",
        message: "duplicate step name `a` (first defined at 4:5)"),
    Malformed(
        name: "duplicate key", yaml: header + "  - task: a\n    run: [true]\n    run: [false]\n", position: "6:5",
        message: "duplicate key `run` (first at line 5, column 5)"),
    Malformed(
        name: "expression syntax error", yaml: header + "  - task: a\n    run: [echo, '${1 + * 2}']\n",
        position: "5:24",
        message: "expected a value, found `*`"),
    Malformed(
        name: "single equals in a condition",
        yaml: header + "  - if: inputs.x = 3\n    then:\n      - task: a\n        run: [true]\n",
        position: "4:18", message: "`=` is not an operator: use `==` to compare"),
    Malformed(
        name: "unterminated interpolation", yaml: header + "  - task: a\n    run: [echo, '${inputs.x']\n",
        position: "5:18",
        message: "`${` without a closing `}`"),
    Malformed(
        name: "unknown function", yaml: header + "  - task: a\n    run: [echo, '${lenght([1])}']\n", position: "5:20",
        message: "unknown function `lenght`"),
    Malformed(
        name: "loop with while and until",
        yaml: header
            + """
              - loop:\n      while: 'true'\n      until: 'false'\n      steps:\n        - task: a\n          run: \
            [true]\n
            """,
        position: "6:7", message: "a loop has either `while` or `until`, not both"),
    Malformed(
        name: "loop without test", yaml: header + "  - loop:\n      steps:\n        - task: a\n          run: [true]\n",
        position: "5:7", message: "a loop needs `while: CONDITION` or `until: CONDITION`"),
    Malformed(
        name: "foreach without as",
        yaml: header + "  - foreach: ${[1, 2]}\n    steps:\n      - task: a\n        run: [true]\n",
        position: "4:5", message: "a foreach needs `as: NAME` for its item"),
    Malformed(
        name: "foreach parallel zero",
        yaml: header
            + "  - foreach: ${[1]}\n    as: x\n    parallel: 0\n    steps:\n      - task: a\n        run: [true]\n",
        position: "6:15", message: "`parallel` must be between 1 and 1000000, not 0"),
    Malformed(
        name: "call of an unknown workflow", yaml: header + "  - call: nothere\n    name: c\n", position: "4:5",
        message: "call of unknown workflow `nothere`"),
    Malformed(
        name: "call cycle",
        yaml: "kind: Workflow\nname: a\nsteps:\n  - call: b\n---\nkind: Workflow\nname: b\nsteps:\n  - call: a\n",
        position: "9:5", message: "call cycle: a → b → a"),
    Malformed(
        name: "call with an unknown input",
        yaml:
            """
            kind: Workflow\nname: main\nsteps:\n  - call: sub\n    with: {wrod: x}\n---\nkind: Workflow\nname: \
            sub\ninputs: {word: {type: string}}\nsteps:\n  - task: t\n    run: [true]\n
            """,
        position: "5:18", message: "workflow `sub` has no input `wrod` (did you mean `word`?)",
        first: "4:5"),  // the call misses the required input `word`
    Malformed(
        name: "unknown input type",
        yaml: "kind: Workflow\nname: w\ninputs:\n  n: {type: intger}\nsteps:\n  - task: a\n    run: [true]\n",
        position: "4:13", message: "unknown input type `intger` (did you mean `integer`?)"),
    Malformed(
        name: "default of the wrong type",
        yaml:
            """
            kind: Workflow\nname: w\ninputs:\n  n: {type: integer, default: many}\nsteps:\n  - task: a\n    run: \
            [true]\n
            """,
        position: "4:31", message: "the default of input `n` is a string, not an integer"),
    Malformed(
        name: "bounds on a string input",
        yaml:
            "kind: Workflow\nname: w\ninputs:\n  s: {type: string, minimum: 1}\nsteps:\n  - task: a\n    run: [true]\n",
        position: "4:30", message: "`minimum` bounds a number or an integer, not a string"),
    Malformed(
        name: "default out of bounds",
        yaml:
            """
            kind: Workflow\nname: w\ninputs:\n  n: {type: integer, default: 20, maximum: 10}\nsteps:\n  - task: \
            a\n    run: [true]\n
            """,
        position: "4:31", message: "the default: input `n` must be at most 10, not 20"),
    Malformed(
        name: "enum value of another type",
        yaml:
            """
            kind: Workflow\nname: w\ninputs:\n  n: {type: integer, enum: [1, x]}\nsteps:\n  - task: a\n    run: \
            [true]\n
            """,
        position: "4:32", message: "a value of `enum` is a string, not an integer"),
    Malformed(
        name: "output without a value",
        yaml:
            "kind: Workflow\nname: w\nsteps:\n  - task: a\n    run: [true]\noutputs:\n  o: {title: nothing}\n",
        position: "7:6", message: "output `o` needs a `value` (the expression it is)"),
    Malformed(
        name: "output escaping the working directory",
        yaml: header + "  - task: a\n    run: [true]\n    outputs: {x: {file: ../../etc/passwd}}\n",
        position: "6:25", message: "`file` must be a path inside the task's working directory"),
    Malformed(
        name: "bad stdout kind", yaml: header + "  - task: a\n    run: [true]\n    outputs: {x: {stdout: xml}}\n",
        position: "6:27",
        message: "`stdout` must be `text` or `json`, not `xml`"),
    Malformed(
        name: "on without topology", yaml: header + "  - task: a\n    on: workers\n    run: [true]\n", position: "4:5",
        message: "task `a` names machine `workers` but workflow `w` has no `topology`"),
    Malformed(
        name: "unknown machine",
        yaml:
            """
            kind: Topology\nname: t\nmachines:\n  - {name: workers, cores: 2}\n---\nkind: Workflow\nname: \
            w\ntopology: t\nsteps:\n  - task: a\n    on: worker\n    run: [true]\n
            """,
        position: "10:5",
        message: "task `a` runs `on` unknown machine `worker` of topology `t` (did you mean `workers`?)"),
    Malformed(
        name: "unknown topology",
        yaml: "kind: Workflow\nname: w\ntopology: env\nsteps:\n  - task: a\n    run: [true]\n",
        position: "1:1", message: "workflow `w` names unknown topology `env`"),
    Malformed(
        name: "site node without cores", yaml: "kind: Site\nname: s\nnodes:\n  - {name: n, memory: 4GiB}\n",
        position: "4:5", message: "a node needs `cores`"),
    Malformed(
        name: "unknown connector kind",
        yaml: "kind: Site\nname: s\nconnector: {kind: sssh, host: h}\nnodes:\n  - {name: n, cores: 2}\n",
        position: "3:19", message: "unknown connector kind `sssh` (did you mean `ssh`?)"),
    Malformed(
        name: "grant with a bad principal", yaml: "kind: Grant\nname: g\nsite: s\nto: bob\n", position: "4:5",
        message: "`to` must be `user:NAME` or `group:NAME`, not `bob`"),
    Malformed(
        name: "grant with a bad date",
        yaml: "kind: Grant\nname: g\nsite: s\nto: user:bob\nvalid: {until: 2027-02-30}\n",
        position: "5:16", message: "`until` must be a date `YYYY-MM-DD`, not `2027-02-30`"),
    Malformed(
        name: "link bandwidth with a latency unit",
        yaml:
            """
            kind: Topology\nname: t\nmachines:\n  - {name: a}\n  - {name: b}\nlinks:\n  - {between: [a, b], \
            bandwidth: '>= 10ms'}\n
            """,
        position: "7:34", message: "`bandwidth`: `10ms` is not a bandwidth"),
    Malformed(
        name: "requirements with an unknown attribute",
        yaml: "kind: Topology\nname: t\nmachines:\n  - {name: a, requirements: 'arch == \"x86_64\" && corez >= 2'}\n",
        position: "4:50", message: "unknown attribute `corez` of a node (did you mean `cores`?)"),
    Malformed(
        name: "document that is a list", yaml: "- kind: Workflow\n", position: "1:1",
        message: "a document must be a mapping"),
    Malformed(
        name: "steps that are a mapping", yaml: "kind: Workflow\nname: w\nsteps:\n  task: a\n", position: "4:3",
        message: "`steps` must be a list, not a mapping"),
    Malformed(
        name: "duplicate workflow",
        yaml:
            """
            kind: Workflow\nname: w\nsteps:\n  - task: a\n    run: [true]\n---\nkind: Workflow\nname: w\nsteps:\n \
             - task: b\n    run: [true]\n
            """,
        position: "8:7", message: "duplicate Workflow `w` (first defined at t.yaml:2:7)"),
    // Prices (charging): after a workflow whose output `n` is a task's.
    Malformed(
        name: "price: a negative amount", yaml: priced + "price: {run: -3}\n", position: "8:14",
        message: "`run` must not be negative, not -3"),
    Malformed(
        name: "price: more than six decimal places", yaml: priced + "price: {run: 0.0000001}\n", position: "8:14",
        message: "`run` must be an amount such as 3 or 0.25 (at most six decimal places, at most 1000000000000)"),
    Malformed(
        name: "price: more than any amount (a 64-bit count of millionths would overflow)",
        yaml: priced + "price: {run: 9223372036854.775807}\n", position: "8:14",
        message: "`run` must be an amount such as 3 or 0.25 (at most six decimal places, at most 1000000000000)"),
    Malformed(
        name: "price: not an amount", yaml: priced + "price: {run: cheap}\n", position: "8:14",
        message: "`run` must be an amount such as 3 or 0.25"),
    Malformed(
        name: "price: an unknown currency", yaml: priced + "price: {currency: euros, run: 1}\n", position: "8:19",
        message: "`currency` must be `credits` or an ISO 4217 code such as `EUR`, not `euros`"),
    Malformed(
        name: "price: an unknown key", yaml: priced + "price: {run: 1, per-run: 2}\n", position: "8:17",
        message: "unknown key `per-run` in `price`"),
    Malformed(
        name: "price: an output the workflow does not declare", yaml: priced + "price: {outputs: {m: {item: 1}}}\n",
        position: "8:19", message: "`price` names output `m`, which the workflow does not declare"),
    Malformed(
        name: "price: an unknown unit", yaml: priced + "price: {outputs: {n: {items: 1}}}\n", position: "8:23",
        message: "unknown key `items` in the price of output `n` (did you mean `item`?)"),
    Malformed(
        name: "price: two units for one output", yaml: priced + "price: {outputs: {n: {item: 1, megabyte: 2}}}\n",
        position: "8:22", message: "the price of output `n` is per `item` (of a list) or per `megabyte` (of a file)"),
    Malformed(
        name: "price: nothing priced", yaml: priced + "price: {currency: EUR}\n", position: "8:8",
        message: "`price` needs `run` (per successful execution) or `outputs`"),
    Malformed(
        name: "a Price document for a workflow the files do not define",
        yaml: priced + "---\nkind: Price\nname: v\nrun: 1\n", position: "10:7",
        message: "a Price for workflow `v`, which the files do not define (did you mean `w`?)"),
    Malformed(
        name: "a Price document for an output the workflow does not declare",
        yaml: priced + "---\nkind: Price\nname: w\noutputs:\n  m: {item: 1}\n", position: "12:3",
        message: "the Price names output `m`, which workflow `w` does not declare; its outputs: n"),
]

/// A workflow with one output, `n`, ready for a `price`.
let priced =
    """
    kind: Workflow\nname: w\nsteps:\n  - task: a\n    run: [true]\n    outputs: {n: {stdout: json}}\noutputs: {n: \
    '${a.n}'}\n
    """

@Suite("Malformed description files", .timeLimit(.minutes(15)))
struct MalformedFileTests {
    @Test("each malformed file gets its message at the exact line and column", arguments: malformedFiles)
    func reportsProblem(_ c: Malformed) throws {
        let result = Loader.load(text: c.yaml, path: "t.yaml")
        let first = try #require(result.diagnostics.first, "no diagnostic for: \(c.name)")
        let position = "\(first.location.line):\(first.location.column)"
        #expect(
            result.diagnostics.contains {
                "\($0.location.line):\($0.location.column)" == c.position && $0.message.contains(c.message)
            },
            """
            expected \(c.position) \(c.message)\n got: \
            \(result.diagnostics.map(\.description).joined(separator: "\n      "))
            """
        )
        #expect(first.location.file == "t.yaml")
        // The problem the case is about comes first: nothing reported before it.
        #expect(position == (c.first ?? c.position), "first diagnostic: \(first)")
    }

    @Test("a file with several problems reports every one of them, in order")
    func reportsEveryProblem() {
        let yaml = header + "  - task: a\n    run: [echo, '${nope}']\n    timout: 1s\n  - task: a\n    shell: 'x'\n"
        let result = Loader.load(text: yaml, path: "t.yaml")
        #expect(result.diagnostics.map { "\($0.location.line):\($0.location.column)" } == ["5:20", "6:5", "7:5"])
    }

    @Test(
        "bytes that are not text never crash the reader",
        arguments: [
            [UInt8]([0xFF, 0xFE, 0x00, 0x41]), [0x6B, 0x69, 0x6E, 0x64, 0x3A, 0x20, 0xC3, 0x28],
            Array(repeating: 0x5B, count: 5000),
            Array("kind: Workflow\nname: w\nsteps: &a [*a]\n".utf8), Array("{{{{{{{{".utf8),
            Array(":\n:\n- - -\n".utf8),
        ])
    func survivesGarbage(_ bytes: [UInt8]) throws {
        let path = FileManager.temporaryPath("garbage.yaml")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = Loader.load(paths: [path])
        #expect(!result.isValid)
        #expect(result.diagnostics.allSatisfy { $0.location.file == path && $0.location.line >= 1 })
    }

    @Test("only a file input may default to null (an optional file); a null default of another type is an error")
    func nullDefaults() {
        let ok = Loader.load(
            text:
                """
                kind: Workflow\nname: w\ninputs: {f: {type: file, default: null}}\nsteps:\n  - task: t\n    run: \
                ['true']\n
                """,
            path: "t.yaml")
        #expect(ok.isValid, "\(ok.diagnostics)")
        let bad = Loader.load(
            text:
                """
                kind: Workflow\nname: w\ninputs: {s: {type: string, default: null}}\nsteps:\n  - task: t\n    \
                run: ['true']\n
                """,
            path: "t.yaml")
        #expect(
            bad.diagnostics.map(\.description) == ["t.yaml:3:37: error: the default of input `s` is null, not a string"]
        )
    }

    @Test("a file named by `call:` and not among the files given is not read from disk when the reader says so")
    func noDiskReads() {
        let sources = [
            SourceFile(path: "w.yaml", text: "kind: Workflow\nname: w\nsteps:\n  - call: /etc/hostname\n    name: c\n")
        ]
        let served = Loader.load(sources: sources, readingDisk: false)
        #expect(
            served.diagnostics.map(\.description).contains(
                "w.yaml:4:5: error: `/etc/hostname` is not among the files sent: send it with the others"),
            "\(served.diagnostics)")
        #expect(!served.sources.contains { $0.path == "/etc/hostname" })
    }

    @Test("a missing file is reported, not thrown")
    func missingFile() {
        let result = Loader.load(paths: ["/nonexistent/heaven.yaml"])
        #expect(
            result.diagnostics.map(\.description) == [
                "/nonexistent/heaven.yaml:1:1: error: no such file `/nonexistent/heaven.yaml`"
            ])
    }
}

extension FileManager {
    static func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "heaven-test-\(UUID().uuidString)-" + name
    }
}

import Foundation
import HeavenCore
import HeavenEngine
import HeavenModel
import Testing

@Suite("Control flow", .timeLimit(.minutes(15)))
struct ControlFlowTests {
    @Test("interleave never runs two branches at once, and runs each exactly once")
    func interleave() async throws {
        let h = try Harness()
        let sync = h.home + "/sync"
        try FileManager.default.createDirectory(atPath: sync, withIntermediateDirectories: true)
        // A branch holds a lock (mkdir is atomic) from its first task to its last: a second
        // branch running meanwhile cannot take it and fails. Each execution is counted.
        func take(_ name: String) -> String { "echo \(name) >> \(sync)/ran; mkdir \(sync)/lock || exit 3; sleep 0.2" }
        let release = "rmdir \(sync)/lock"
        let yaml =
            Harness.site(cores: 8) + """
                kind: Workflow
                name: w
                steps:
                  - interleave:
                      - task: a
                        shell: '\(take("a")); \(release)'
                      - task: b
                        shell: '\(take("b")); \(release)'
                      - - task: c1
                          shell: '\(take("c1"))'
                        - task: c2
                          shell: 'echo c2 >> \(sync)/ran; sleep 0.1; \(release)'
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(attempts.map { "\($0.taskKey): \($0.error ?? "ok")" })")
        let ran = try String(contentsOfFile: sync + "/ran", encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(ran.sorted() == ["a", "b", "c1", "c2"], "each task runs exactly once: \(ran)")
        #expect(Dictionary(grouping: attempts, by: \.taskKey).mapValues(\.count) == ["a": 1, "b": 1, "c1": 1, "c2": 1])
        // c2 follows c1 directly: the branch is one unit.
        #expect(ran.firstIndex(of: "c2") == ran.firstIndex(of: "c1").map { $0 + 1 }, "\(ran)")
    }

    @Test(
        """
        a task of the branch not taken did not run: its outputs are null to what follows; an optional file \
        (`default: null`) is null when not given
        """
    )
    func branchNotTaken() async throws {
        let h = try Harness()
        let yaml =
            Harness.site(cores: 2) + """
                kind: Workflow
                name: w
                inputs: {extra: {type: file, default: null}}
                steps:
                  - if: ${inputs.extra != null}
                    then:
                      - task: size
                        inputs: {data: '${inputs.extra}'}
                        shell: 'wc -c < data'
                        outputs: {bytes: {stdout: json}}
                    else:
                      - task: none
                        run: ['true']
                outputs: {bytes: '${size.bytes}', given: '${inputs.extra != null}'}
                """
        let (without, _) = try await h.run(yaml)
        #expect(without.status == .succeeded, "\(without.error ?? "")")
        #expect(without.outputs == ["bytes": .null, "given": .bool(false)])
        let file = h.home + "/extra.txt"
        try Data("12345".utf8).write(to: URL(fileURLWithPath: file))
        let (with, attempts) = try await h.run(yaml, inputs: ["extra": .string(file)])
        #expect(with.status == .succeeded, "\(with.error ?? "")")
        #expect(with.outputs == ["bytes": .int(5), "given": .bool(true)])
        #expect(attempts.map(\.taskKey) == ["size"])
    }

    @Test("composite steps without a name take readable names in task keys, their line only when two would clash")
    func readableKeys() async throws {
        let h = try Harness()
        let yaml =
            Harness.site(cores: 4) + """
                kind: Workflow
                name: w
                steps:
                  - foreach: ${range(2)}
                    as: tile
                    steps:
                      - task: ndvi
                        run: [echo, '${tile}']
                  - loop:
                      until: ${loop.iteration >= 1}
                      steps:
                        - task: step
                          run: [echo, '${loop.iteration}']
                  - call: score
                    with: {word: abc}
                  - foreach: ${range(1)}
                    as: part
                    steps:
                      - task: first
                        run: [echo, '${part}']
                  - foreach: ${range(1)}
                    as: part
                    steps:
                      - task: second
                        run: [echo, '${part}']
                  - name: named
                    foreach: ${range(1)}
                    as: tile
                    steps:
                      - task: third
                        run: [echo, '${tile}']
                ---
                kind: Workflow
                name: score
                inputs: {word: string}
                steps:
                  - task: count
                    run: [echo, '${inputs.word}']
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        // The two foreach over `part` clash: their lines in the file tell them apart.
        let siteLines = Harness.site(cores: 4).split(separator: "\n", omittingEmptySubsequences: false).count - 1
        #expect(
            Set(attempts.map(\.taskKey)) == [
                "tile#0/ndvi", "tile#1/ndvi", "loop@0/step", "loop@1/step", "score/count",
                "part-\(siteLines + 16)#0/first", "part-\(siteLines + 21)#0/second", "named#0/third",
            ], "\(attempts.map(\.taskKey))")
    }

    @Test("parallel runs its branches at the same time")
    func parallel() async throws {
        let h = try Harness()
        let sync = h.home + "/sync"
        try FileManager.default.createDirectory(atPath: sync, withIntermediateDirectories: true)
        // A barrier: each branch arrives, then waits for the other two; run one after
        // another, the first would wait in vain (and fail after 20 s).
        func branch(_ name: String) -> String {
            "touch \(sync)/\(name); \(Harness.waitUntil("[ -e \(sync)/a ] && [ -e \(sync)/b ] && [ -e \(sync)/c ]"))"
        }
        let yaml =
            Harness.site(cores: 8) + """
                kind: Workflow
                name: w
                steps:
                  - parallel:
                      - task: a
                        shell: '\(branch("a"))'
                      - task: b
                        shell: '\(branch("b"))'
                      - task: c
                        shell: '\(branch("c"))'
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(attempts.map { "\($0.taskKey): \($0.error ?? "ok")" })")
        #expect(attempts.count == 3)
    }

    @Test("foreach keeps at most `parallel` items in flight, and reaches that cap")
    func foreachCap() async throws {
        let h = try Harness()
        let sync = h.home + "/sync"
        try FileManager.default.createDirectory(atPath: sync + "/started", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: sync + "/ended", withIntermediateDirectories: true)
        // Item i stays in flight until items up to i+2 have started: with fewer than 3 in
        // flight that never happens (the item fails after 20 s). Each item counts, as it
        // starts, the items in flight (started, not ended): never more than 3.
        let yaml =
            Harness.site(cores: 8) + """
                kind: Workflow
                name: w
                steps:
                  - foreach: ${range(8)}
                    as: i
                    parallel: 3
                    steps:
                      - task: work
                        shell: 'touch \(sync)/started/${i}; echo $(( $(ls \(sync)/started | wc -l) - $(ls \
                \(sync)/ended | wc -l) )); n=$(( ${i} + 3 )); [ $n -gt 8 ] && n=8; \
                \(Harness.waitUntil("[ $(ls \(sync)/started | wc -l) -ge $n ]")); touch \(sync)/ended/${i}'
                        outputs: {inFlight: {stdout: json}}
                outputs: {inFlight: '${work.inFlight}'}
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(attempts.map { "\($0.taskKey): \($0.error ?? "ok")" })")
        #expect(attempts.count == 8)
        guard case .list(let counts)? = run.outputs?["inFlight"] else {
            Issue.record("no counts: \(String(describing: run.outputs))")
            return
        }
        let seen = counts.compactMap { if case .int(let n) = $0 { n } else { nil } }
        #expect(seen.count == 8 && seen.allSatisfy { $0 >= 1 && $0 <= 3 }, "\(seen)")
        #expect(seen.max() == 3, "\(seen)")
    }

    @Test("foreach items flow through the body independently: no barrier between body steps")
    func foreachNoBarrier() async throws {
        let h = try Harness()
        let sync = h.home + "/sync"
        try FileManager.default.createDirectory(atPath: sync, withIntermediateDirectories: true)
        // Item 0's first step ends only once item 1 has finished its whole body: with a
        // barrier between body steps, item 1's second step would wait for item 0's first.
        let yaml =
            Harness.site(cores: 8) + """
                kind: Workflow
                name: w
                steps:
                  - foreach: ${[0, 1]}
                    as: d
                    name: each
                    steps:
                      - task: first
                        shell: 'if [ ${d} = 0 ]; then \(Harness.waitUntil("[ -e \(sync)/second-1 ]")); fi'
                      - task: second
                        shell: 'touch \(sync)/second-${d}'
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(attempts.map { "\($0.taskKey): \($0.error ?? "ok")" })")
        #expect(attempts.count == 4)
    }

    @Test("loops count iterations: while before, until after, max caps, and they nest")
    func loops() async throws {
        let h = try Harness()
        let yaml = """
            kind: Workflow
            name: w
            steps:
              - name: w3
                loop:
                  while: loop.iteration < 3
                  steps:
                    - task: a
                      run: [echo, '${loop.iteration}']
              - name: never
                loop:
                  while: 'false'
                  steps:
                    - task: b
                      run: [echo, nope]
              - name: once
                loop:
                  until: 'true'
                  steps:
                    - task: c
                      run: [echo, once]
              - name: capped
                loop:
                  while: 'true'
                  max: 4
                  steps:
                    - task: d
                      run: [echo, capped]
              - name: outer
                loop:
                  while: outer.iteration < 2
                  steps:
                    - name: inner
                      loop:
                        until: inner.iteration >= 2
                        steps:
                          - task: tick
                            run: [echo, '${outer.iteration}.${inner.iteration}']
                            outputs: {v: {stdout: text}}
            outputs:
              counts: ${[w3.count, never.count, once.count, capped.count, outer.count]}
              last: ${tick.v}
            """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["counts"] == .list([.int(3), .int(0), .int(1), .int(4), .int(2)]))
        #expect(run.outputs?["last"] == .string("1.2"))
        let ticks = attempts.filter { $0.task == "tick" }.map(\.taskKey)
        #expect(
            ticks == [
                "outer@0/inner@0/tick", "outer@0/inner@1/tick", "outer@0/inner@2/tick",
                "outer@1/inner@0/tick", "outer@1/inner@1/tick", "outer@1/inner@2/tick",
            ])
    }

    @Test("if runs then or else, from the values of earlier steps")
    func conditional() async throws {
        let h = try Harness()
        let yaml = """
            kind: Workflow
            name: w
            inputs: {n: {type: integer}}
            steps:
              - task: measure
                run: [echo, '${inputs.n * 2}']
                outputs: {v: {stdout: json}}
              - if: measure.v > 10
                then:
                  - task: big
                    run: [echo, big]
                else:
                  - task: small
                    run: [echo, small]
            """
        let (big, bigAttempts) = try await h.run(yaml, inputs: ["n": .string("6")])
        let (small, smallAttempts) = try await h.run(yaml, inputs: ["n": .int(2)])
        #expect(big.status == .succeeded && small.status == .succeeded)
        #expect(bigAttempts.map(\.task) == ["measure", "big"])
        #expect(smallAttempts.map(\.task) == ["measure", "small"])
    }

    @Test("call runs a sub-workflow by name and by file; its outputs appear under the step's name")
    func call() async throws {
        let h = try Harness()
        try """
        kind: Workflow
        name: twice
        inputs: {x: {type: number}}
        steps:
          - task: double
            run: [echo, '${inputs.x * 2}']
            outputs: {v: {stdout: json}}
        outputs: {result: '${double.v}'}
        """.write(toFile: h.home + "/twice.yaml", atomically: true, encoding: .utf8)
        let yaml = """
            kind: Workflow
            name: main
            steps:
              - call: inc
                name: byname
                with: {x: 41}
              - call: twice.yaml
                name: byfile
                with: {x: '${byname.result}'}
            outputs:
              a: ${byname.result}
              b: ${byfile.result}
            ---
            kind: Workflow
            name: inc
            inputs: {x: {type: integer}, step: {type: integer, default: 1}}
            steps:
              - task: add
                run: [echo, '${inputs.x + inputs.step}']
                outputs: {v: {stdout: json}}
            outputs: {result: '${add.v}'}
            """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["a"] == .int(42))
        #expect(run.outputs?["b"] == .int(84))
        #expect(attempts.map(\.taskKey) == ["byname/add", "byfile/double"])
    }

    @Test("a list-valued argument expands to one argument per item; in shell scripts values are quoted")
    func listArguments() async throws {
        let h = try Harness()
        let yaml = """
            kind: Workflow
            name: w
            steps:
              - task: args
                run: [sh, -c, 'for a in "$@"; do echo "[$a]"; done', sh, '${["a b", "c"]}', 'x${1 + 1}']
                outputs: {v: {stdout: text}}
              - task: quoted
                shell: |
                  printf '%s|' ${["it's", "$HOME", "; rm -rf /"]}
                  printf "<%s>" "in ${"\\"quotes\\" $HOME `x`"}"
                  printf '<%s>' 'in ${"single's"}'
                outputs: {v: {stdout: text}}
            outputs: {args: '${args.v}', quoted: '${quoted.v}'}
            """
        let (run, _) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["args"] == .string("[a b]\n[c]\n[x2]"))
        #expect(run.outputs?["quoted"] == .string("it's|$HOME|; rm -rf /|<in \"quotes\" $HOME `x`><in single's>"))
    }

    @Test("every output source yields a typed value")
    func outputs() async throws {
        let h = try Harness()
        let yaml = """
            kind: Workflow
            name: w
            steps:
              - task: make
                shell: 'echo "{\\"a\\": {\\"b\\": [10, 20]}}" > r.json; touch c.txt a.txt b.txt; echo "{\\"k\\": true}\
            "; echo hi > f'
                outputs:
                  deep: {json: r.json, at: a.b.1}
                  whole: {json: r.json}
                  files: {glob: '*.txt'}
                  out: {stdout: json}
                  one: {file: f}
            outputs:
              deep: ${make.deep}
              whole: ${make.whole}
              names: ${[basename(make.files[0]), basename(make.files[2])]}
              out: ${make.out.k}
            """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded, "\(run.error ?? "")")
        #expect(run.outputs?["deep"] == .int(20))
        #expect(run.outputs?["whole"] == .map(["a": .map(["b": .list([.int(10), .int(20)])])]))
        #expect(run.outputs?["names"] == .list([.string("a.txt"), .string("c.txt")]))
        #expect(run.outputs?["out"] == .bool(true))
        if case .file(let p)? = attempts[0].outputs?["one"] {
            #expect(p.hasSuffix("/work/make/f"))
        } else {
            Issue.record("`one` is not a file")
        }
    }

    @Test("a declared output the task did not produce fails the task, saying which")
    func missingOutput() async throws {
        let h = try Harness()
        let (run, attempts) = try await h.run(
            "kind: Workflow\nname: w\nsteps:\n  - task: a\n    run: [true]\n    outputs: {x: {file: nothere.txt}}\n")
        #expect(run.status == .failed)
        #expect(attempts[0].error == "output `x`: the task did not produce `nothere.txt`")
    }

    @Test("an output that is a symbolic link out of the working directory is refused")
    func symlinkEscape() async throws {
        let h = try Harness()
        let (run, attempts) = try await h.run(
            """
            kind: Workflow\nname: w\nsteps:\n  - task: a\n    run: [ln, -s, /etc/passwd, p]\n    outputs: {x: \
            {file: p}}\n
            """
        )
        #expect(run.status == .failed)
        #expect(attempts[0].error?.contains("leads outside the working directory") == true)
    }
}

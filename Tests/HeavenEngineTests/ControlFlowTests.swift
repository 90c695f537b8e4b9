import Foundation
import HeavenEngine
import HeavenModel
import HeavenStore
import Testing

@Suite("Control flow")
struct ControlFlowTests {
    @Test("interleave never runs two branches at once, and runs each exactly once")
    func interleave() async throws {
        let h = try Harness()
        let yaml =
            Harness.site(cores: 8) + """
                kind: Workflow
                name: w
                steps:
                  - interleave:
                      - task: a
                        \(timed(0.2))
                      - task: b
                        \(timed(0.2))
                      - - task: c1
                          \(timed(0.1))
                        - task: c2
                          \(timed(0.1))
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded)
        #expect(Set(attempts.map(\.taskKey)) == ["a", "b", "c1", "c2"])
        let a = try #require(h.interval(run, attempts.first { $0.taskKey == "a" }!))
        let b = try #require(h.interval(run, attempts.first { $0.taskKey == "b" }!))
        let c1 = try #require(h.interval(run, attempts.first { $0.taskKey == "c1" }!))
        let c2 = try #require(h.interval(run, attempts.first { $0.taskKey == "c2" }!))
        let c = (start: c1.start, end: c2.end)
        #expect(Harness.maximumOverlap([a, b, c]) == 1)
    }

    @Test("parallel runs its branches at the same time")
    func parallel() async throws {
        let h = try Harness()
        let yaml =
            Harness.site(cores: 8) + """
                kind: Workflow
                name: w
                steps:
                  - parallel:
                      - task: a
                        \(timed(0.6))
                      - task: b
                        \(timed(0.6))
                      - task: c
                        \(timed(0.6))
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded)
        #expect(Harness.maximumOverlap(attempts.compactMap { h.interval(run, $0) }) == 3)
    }

    @Test("foreach keeps at most `parallel` items in flight, and reaches that cap")
    func foreachCap() async throws {
        let h = try Harness()
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
                        \(timed(0.2))
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded)
        #expect(attempts.count == 8)
        #expect(Harness.maximumOverlap(attempts.compactMap { h.interval(run, $0) }) == 3)
    }

    @Test("foreach items flow through the body independently: no barrier between body steps")
    func foreachNoBarrier() async throws {
        let h = try Harness()
        let yaml =
            Harness.site(cores: 8) + """
                kind: Workflow
                name: w
                steps:
                  - foreach: ${[1.0, 0.05]}
                    as: d
                    name: each
                    steps:
                      - task: first
                        shell: 'date +%s.%N; sleep ${d}; date +%s.%N'
                      - task: second
                        \(timed(0.01))
                """
        let (run, attempts) = try await h.run(yaml)
        #expect(run.status == .succeeded)
        let slowFirst = try #require(h.interval(run, attempts.first { $0.taskKey == "each#0/first" }!))
        let fastSecond = try #require(h.interval(run, attempts.first { $0.taskKey == "each#1/second" }!))
        #expect(fastSecond.end < slowFirst.end, "item 1 finished its body while item 0 was still in its first step")
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
                shell: 'echo "{\\"a\\": {\\"b\\": [10, 20]}}" > r.json; touch c.txt a.txt b.txt; echo "{\\"k\\": true}"; echo hi > f'
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
            "kind: Workflow\nname: w\nsteps:\n  - task: a\n    run: [ln, -s, /etc/passwd, p]\n    outputs: {x: {file: p}}\n"
        )
        #expect(run.status == .failed)
        #expect(attempts[0].error?.contains("leads outside the working directory") == true)
    }
}

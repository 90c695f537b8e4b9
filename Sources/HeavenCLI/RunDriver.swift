import ArgumentParser
import Foundation
import HeavenCore
import HeavenEngine
import HeavenLanguage
import HeavenModel

/// Executes a run in this process with live progress and signal handling, then
/// prints the result; shared by `run` and `resume`.
struct RunDriver {
    let engine: Engine
    let stores: Stores
    let json: Bool
    let quiet: Bool

    /// Drives a run to its end (a new run with its files as parsed), then exits.
    func drive(_ runID: String, load: LoadResult? = nil) async throws -> Never {
        let controller = RunController()
        let trap = SignalTrap { sig in
            Task {
                let cancel = (try? await stores.runs.run(runID))?.cancelRequested ?? false
                if cancel { controller.cancel() } else { controller.interrupt("interrupted by signal \(sig)") }
            }
        }
        let started = Date()
        let printer = Task.detached { await RunDriver.showProgress(controller, started: started, quiet: quiet) }
        let final: RunRecord
        do {
            final = try await engine.execute(runID: runID, load: load, controller: controller)
        } catch let e as DiagnosticsError {
            printer.cancel()
            throw CLIError("the run's stored description is invalid:\n\(e)")
        } catch let e as EngineError {
            printer.cancel()
            if case .invalid(let m) = e { throw CLIError(m) }
            throw CLIError("\(e)", code: 1)
        } catch {
            printer.cancel()
            throw CLIError("\(error)", code: 1)
        }
        printer.cancel()
        _ = await printer.value
        trap.cancel()
        if json {
            print(CLI.json(final))
        } else {
            // The time of this execution: a resumed run's pause is not counted.
            CLI.report(
                final, took: Date().timeIntervalSince(started),
                details: final.status == .failed ? await failedOutput(final) : [])
        }
        throw ExitCode(CLI.exitCode(final.status))
    }

    /// The last lines a failed task wrote (standard error, or its combined log), under
    /// the summary: why it failed, without `heaven logs`.
    func failedOutput(_ run: RunRecord) async -> [String] {
        var out: [String] = []
        let attempts = (try? await stores.runs.attempts(run: run.id)) ?? []
        let layout = engine.home.layout(run.id)
        var shown = Set<String>()
        for a in attempts.reversed() where a.status == .failed || a.status == .timedOut {
            guard shown.insert(a.taskKey).inserted, shown.count <= 3 else { continue }
            let text = ["err", "log"].lazy.compactMap {
                try? String(contentsOfFile: layout.log(a.taskKey, attempt: a.number, $0), encoding: .utf8)
            }.first { !$0.isEmpty }
            guard let text else { continue }
            let lines = text.split(separator: "\n", omittingEmptySubsequences: true).suffix(5)
            out.append("  last lines of `\(a.taskKey)` (attempt \(a.number)):")
            out += lines.map { "    " + String($0.prefix(300)) }
        }
        return out
    }

    static func showProgress(_ controller: RunController, started: Date, quiet: Bool) async {
        if quiet { return }
        let tty = CLI.isTerminal
        var last = ""
        var lastPrint = Date.distantPast
        let spinner = Array("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
        var tick = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(tty ? 150 : 1000))
            guard let p = controller.progress else { continue }
            let elapsed = Date().timeIntervalSince(started)
            var line =
                """
                \(p.succeeded + p.reused) done · \(p.running.count) running · \(p.retriedAttempts) retried · \
                \(p.pending) pending
                """
            if p.reused > 0 { line += " (\(p.reused) kept from before)" }
            if tty {
                let names = p.running.prefix(3).map(\.key).joined(separator: ", ") + (p.running.count > 3 ? ", …" : "")
                tick += 1
                var text = "\(spinner[tick % spinner.count]) \(Wording.duration(elapsed)) \(line)"
                if !names.isEmpty { text += " · \(names)" }
                let width = 120
                if text.count > width { text = String(text.prefix(width - 1)) + "…" }
                CLI.error("\u{1B}[2K\r" + text, newline: false)
            } else if line != last, Date().timeIntervalSince(lastPrint) >= 1 {
                CLI.error("[\(Wording.duration(elapsed))] \(line)")
                last = line
                lastPrint = Date()
            }
        }
        if tty { CLI.error("\u{1B}[2K\r", newline: false) }
    }
}

extension CLI {
    static func error(_ message: String, newline: Bool) {
        FileHandle.standardError.write(Data((message + (newline ? "\n" : "")).utf8))
    }
}

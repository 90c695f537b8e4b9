import Foundation
import HeavenLanguage
import HeavenModel
import Testing

/// Docs that run: every YAML example of README.md and docs/ is a complete file that
/// `heaven validate` accepts, and every workflow among them runs.
@Suite("The documentation's examples", .serialized, .timeLimit(.minutes(15)))
struct DocsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// A YAML block of a Markdown file: its file, the line its text starts on, its text,
    /// and whether it may run here (not when the line before it says
    /// `<!-- validated, not run: WHY -->`, e.g. for hosts of its own).
    struct Block: CustomStringConvertible {
        var file: String
        var line: Int
        var text: String
        var runnable: Bool
        var description: String { "\(file):\(line)" }
    }

    /// Every ```yaml block of README.md and docs/*.md.
    static func blocks() throws -> [Block] {
        let docs = try FileManager.default.contentsOfDirectory(atPath: repository + "/docs").filter {
            $0.hasSuffix(".md")
        }
        var out: [Block] = []
        for file in ["README.md"] + docs.sorted().map({ "docs/" + $0 }) {
            let lines = try String(contentsOfFile: repository + "/" + file, encoding: .utf8)
                .components(separatedBy: "\n")
            var i = 0
            while i < lines.count {
                if lines[i].trimmingCharacters(in: .whitespaces) == "```yaml" {
                    let start = i + 1
                    var j = start
                    while j < lines.count, lines[j].trimmingCharacters(in: .whitespaces) != "```" { j += 1 }
                    let before = lines[..<i].last { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? ""
                    out.append(
                        Block(
                            file: file, line: start + 1, text: lines[start..<j].joined(separator: "\n") + "\n",
                            runnable: !before.hasPrefix("<!-- validated, not run:")))
                    i = j
                }
                i += 1
            }
        }
        return out
    }

    /// A value for each required input of the file's main workflow: a real GeoTIFF for
    /// a file (the showcase's Landsat-8 red band), 1 for numbers, `x` for text.
    static func inputs(_ path: String) -> [String] {
        let load = Loader.load(paths: [path])
        var called = Set<String>()
        for w in load.documents.workflows {
            for s in w.steps.depthFirst { if case .call(let c) = s.form { called.insert(c.workflow) } }
        }
        guard let main = load.documents.workflows.first(where: { !called.contains($0.name) }) else { return [] }
        return main.inputs.filter { $0.defaultValue == nil }.flatMap { d -> [String] in
            let value =
                switch d.type {
                case .file: repository + "/examples/eo/data/landsat8/l8_B4.tif"
                case .integer, .number: "1"
                case .boolean: "true"
                case .list: "[]"
                case .object: "{}"
                case .string: "x"
                }
            return ["--input", "\(d.name)=\(value)"]
        }
    }

    @Test("every YAML example is a complete file that validates, and every workflow among them runs")
    func examplesRun() throws {
        let gdal = FileManager.default.isExecutableFile(atPath: "/usr/bin/gdal_retile.py")
        try #require(gdal, "the examples run GDAL's tools: install gdal-bin (scripts/test.sh does)")
        let blocks = try DocsTests.blocks()
        #expect(blocks.count >= 15, "\(blocks)")
        let h = try HeavenBinary()
        var ran = 0
        for (n, block) in blocks.enumerated() {
            let path = try h.write("example-\(n).yaml", block.text)
            let checked = try h.run("validate", path)
            #expect(checked.status == 0, "\(block): \(checked.stdout)\(checked.stderr)")
            guard checked.status == 0, block.runnable, block.text.contains("kind: Workflow") else { continue }
            let run = try h.run(["run", "-q", "--json", path] + DocsTests.inputs(path))
            let result = HeavenBinary.json(run.stdout)
            #expect(
                run.status == 0 && result["status"] as? String == "succeeded",
                "\(block): \(run.stdout)\(run.stderr)")
            ran += 1
        }
        // The README's and language.md's seven (sites.md's names hosts of its own).
        #expect(ran >= 8, "only \(ran) workflows ran")
    }
}

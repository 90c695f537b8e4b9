import Foundation
import HeavenModel
import Hummingbird
import MultipartKit
import NIOCore

/// The form that starts a run from the console, generated from a workflow's typed inputs:
/// a number field with its bounds, a choice among listed values, true or false, a file
/// to upload, JSON for a list or an object, text otherwise. Every field is named after
/// its input; the form's own fields start with a dot (`.csrf`, `.from`), which no
/// input's name can.
enum SubmissionForm {
    static let csrfField = ".csrf"
    static let fromField = ".from"
    static let budgetField = ".budget"
    static let actionField = ".action"

    /// The fields for `inputs`, filled with `values` (as sent, or as an earlier run had
    /// them; a default otherwise). A file input listed in `kept` (its file's name) is
    /// taken again from the earlier run when no other file is chosen.
    static func fields(_ inputs: [InputDeclaration], values: [String: String], kept: [String: String]) -> FieldsView {
        FieldsView(
            fields: inputs.map { field($0, value: values[$0.name], kept: kept[$0.name]) }, noInputs: inputs.isEmpty)
    }

    static func field(_ d: InputDeclaration, value sent: String?, kept: String?) -> FieldView {
        let required = d.defaultValue == nil && kept == nil
        let value = sent ?? (d.type == .file ? nil : d.defaultValue.map(text))
        var notes: [String] = [d.type.rawValue]
        if let m = d.minimum { notes.append("at least \(InputDeclaration.text(m))") }
        if let m = d.maximum { notes.append("at most \(InputDeclaration.text(m))") }
        if !required, d.type != .file, let v = d.defaultValue, v != .null { notes.append("default \(text(v))") }
        if !required, d.type == .file, kept == nil { notes.append("optional") }
        var f = FieldView(
            id: "in-" + d.name, name: d.name, label: d.title ?? d.name, titled: d.title != nil, required: required)
        func choice(_ options: [String]) -> FieldView.Select {
            FieldView.Select(
                choose: required && !options.contains(value ?? "\u{0}"),
                options: options.map { .init(value: $0, selected: $0 == value) })
        }
        if let allowed = d.allowed, !allowed.isEmpty {
            f.select = choice(allowed.map(text))
        } else {
            switch d.type {
            case .integer, .number:
                f.number = .init(
                    step: d.type == .integer ? "1" : "any", min: d.minimum.map(InputDeclaration.text),
                    max: d.maximum.map(InputDeclaration.text), value: value)
            case .boolean: f.select = choice(["true", "false"])
            case .file: f.file = .init(kept: kept)
            case .list, .object:
                f.textarea = .init(
                    placeholder: d.type == .list ? "[\"a\", \"b\"]" : "{\"key\": \"value\"}", value: value ?? "")
                notes.append("as JSON")
            case .string: f.text = .init(value: value)
            }
        }
        f.about = [d.description, notes.joined(separator: " · ")].compactMap { $0 }.joined(separator: " — ")
        return f
    }

    /// A value as a field shows it: text as itself, lists and objects as JSON.
    static func text(_ v: Value) -> String {
        switch v {
        case .string(let s): s
        case .null: ""
        case .list, .range, .map: v.plain.jsonText
        case .file(let p): (p as NSString).lastPathComponent
        default: v.argumentText
        }
    }
}

/// A `multipart/form-data` form as received: its text fields, and its files, written
/// while they arrive (never held whole in memory) into `inputs/NAME/FILE` under a
/// submission's directory.
struct SentForm {
    var fields: [String: String] = [:]
    /// Input name → the file's path relative to the submission's directory.
    var files: [String: String] = [:]

    /// Reads the form. Files only for `fileInputs`, at most `limit` bytes in all; a text
    /// field at most 1 MiB, all of them 4 MiB; a part's headers at most 64 KiB.
    static func read(_ request: Request, into directory: String, fileInputs: Set<String>, limit: Int) async throws
        -> SentForm
    {
        let type = request.headers[.contentType] ?? ""
        guard type.lowercased().hasPrefix("multipart/form-data"),
            let boundary = Disposition.parameter("boundary", in: type),
            !boundary.isEmpty, boundary.utf8.count <= 200
        else {
            throw Problem(.unsupportedMediaType, "this form is sent as multipart/form-data (with its boundary)")
        }
        let parser = MultipartParser(boundary: boundary)
        let reception = Reception(directory: directory, fileInputs: fileInputs)
        parser.onHeader = { name, value in reception.header(name, value) }
        parser.onBody = { buffer in reception.body(&buffer) }
        parser.onPartComplete = { reception.complete() }
        var total = 0
        do {
            for try await chunk in request.body {
                total += chunk.readableBytes
                guard total <= limit else {
                    throw Problem(
                        .contentTooLarge,
                        """
                        the form is larger than this server takes \
                        (\(ByteCountFormatter.string(fromByteCount: Int64(limit), countStyle: .binary)), its \
                        --fetch-limit)
                        """
                    )
                }
                reception.sinceBoundary += chunk.readableBytes
                try parser.execute(chunk)
                if let failure = reception.failure { throw failure }
                // Headers are held in memory until they end: a part's are bounded.
                if !reception.begun, reception.sinceBoundary > 65536 {
                    throw Problem(.badRequest, "a part of the form has more than 64 KiB of headers")
                }
            }
        } catch let p as Problem {
            reception.abandon()
            throw p
        } catch {
            reception.abandon()
            throw Problem(.badRequest, "the form cannot be read: it is not well-formed multipart/form-data")
        }
        guard reception.ended else {
            reception.abandon()
            throw Problem(.badRequest, "the form ended before its last part")
        }
        return reception.form
    }

    /// The state of one form being received: the part being read and what was kept.
    final class Reception {
        let directory: String
        let fileInputs: Set<String>
        var form = SentForm()
        var failure: Problem?
        var ended = false
        var parts = 0
        /// Bytes received since the last part's headers ended (or it ended).
        var sinceBoundary = 0
        /// Bytes of every text field so far.
        var textBytes = 0
        // The part being read.
        var headers: [(String, String)] = []
        var begun = false
        var name = ""
        var fileName: String?
        var text: [UInt8] = []
        var handle: FileHandle?
        var path: String?
        var written = 0

        init(directory: String, fileInputs: Set<String>) {
            self.directory = directory
            self.fileInputs = fileInputs
        }

        func header(_ name: String, _ value: String) {
            headers.append((name.lowercased(), value))
        }

        /// The part's headers are all there: what it is, and where it goes.
        func begin() {
            begun = true
            sinceBoundary = 0
            parts += 1
            guard failure == nil else { return }
            guard parts <= 1000 else {
                failure = Problem(.badRequest, "the form has more than 1,000 fields")
                return
            }
            let disposition = headers.first { $0.0 == "content-disposition" }?.1 ?? ""
            guard let n = Disposition.parameter("name", in: disposition) else {
                failure = Problem(
                    .badRequest, "a part of the form has no name (Content-Disposition: form-data; name=...)")
                return
            }
            name = n
            fileName = Disposition.parameter("filename", in: disposition)
            guard let fileName else { return }
            guard fileInputs.contains(name) else {
                failure = Problem(.badRequest, "field `\(name)` is not a file input: it cannot take a file")
                return
            }
            // No file chosen: an empty part with an empty name.
            if fileName.isEmpty { return }
            let base = fileName.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
            let mediaType = headers.first { $0.0 == "content-type" }?.1
            let file = JobRoutes.fileName(base, fallback: name, mediaType: mediaType)
            let folder = directory + "/inputs/" + name
            let target = folder + "/" + file
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                guard FileManager.default.createFile(atPath: target, contents: nil) else {
                    throw CocoaError(.fileWriteUnknown)
                }
                handle = try FileHandle(forWritingTo: URL(fileURLWithPath: target))
                path = "inputs/\(name)/\(file)"
            } catch {
                failure = Problem(.internalServerError, "cannot store the file of input `\(name)`")
            }
        }

        func body(_ buffer: inout ByteBuffer) {
            if !begun { begin() }
            guard failure == nil else { return }
            if let handle {
                do {
                    try handle.write(contentsOf: buffer.readableBytesView)
                    written += buffer.readableBytes
                } catch {
                    failure = Problem(.internalServerError, "cannot store the file of input `\(name)`: \(error)")
                }
            } else if fileName == nil {
                text.append(contentsOf: buffer.readableBytesView)
                textBytes += buffer.readableBytes
                if text.count > 1 << 20 { failure = Problem(.contentTooLarge, "field `\(name)` is longer than 1 MiB") }
                if textBytes > 4 << 20 {
                    failure = Problem(.contentTooLarge, "the form's text fields are longer than 4 MiB in all")
                }
            }
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        }

        func complete() {
            if !begun { begin() }
            if failure == nil {
                if let path {
                    try? handle?.close()
                    form.files[name] = path
                } else if fileName == nil {
                    form.fields[name] = String(decoding: text, as: UTF8.self)
                }
            }
            headers = []
            begun = false
            fileName = nil
            text = []
            handle = nil
            path = nil
            written = 0
            sinceBoundary = 0
            ended = true
        }

        /// Gives up: the open file closed (the submission's directory is removed by the caller).
        func abandon() {
            try? handle?.close()
            handle = nil
        }
    }
}

/// Parameters of a header such as `Content-Disposition: form-data; name="a"; filename="b.tif"`
/// or `Content-Type: multipart/form-data; boundary=x`: quoted or plain, `\` escapes in quotes.
enum Disposition {
    static func parameter(_ wanted: String, in header: String) -> String? {
        var scalars = Array(header.unicodeScalars)[...]
        // Past the first `;` (the value itself).
        guard let semicolon = scalars.firstIndex(of: ";") else { return nil }
        scalars = scalars[(semicolon + 1)...]
        while !scalars.isEmpty {
            while let f = scalars.first, f == " " || f == "\t" || f == ";" { scalars.removeFirst() }
            var key = ""
            while let f = scalars.first, f != "=", f != ";" {
                key.unicodeScalars.append(f)
                scalars.removeFirst()
            }
            var value = ""
            if scalars.first == "=" {
                scalars.removeFirst()
                if scalars.first == "\"" {
                    scalars.removeFirst()
                    while let f = scalars.first, f != "\"" {
                        scalars.removeFirst()
                        if f == "\\", let next = scalars.first {
                            value.unicodeScalars.append(next)
                            scalars.removeFirst()
                        } else {
                            value.unicodeScalars.append(f)
                        }
                    }
                    if !scalars.isEmpty { scalars.removeFirst() }
                } else {
                    while let f = scalars.first, f != ";" {
                        value.unicodeScalars.append(f)
                        scalars.removeFirst()
                    }
                    value = value.trimmingCharacters(in: .whitespaces)
                }
            }
            if key.trimmingCharacters(in: .whitespaces).lowercased() == wanted { return value }
        }
        return nil
    }
}

/// A form's fields, as the `field` template draws each.
struct FieldsView: Sendable {
    let fields: [FieldView]
    let noInputs: Bool
}

/// One input's field: its label, its control (exactly one of select, number, file,
/// textarea, text), and what it takes.
struct FieldView: Sendable {
    struct Select: Sendable {
        struct Option: Sendable {
            let value: String
            let selected: Bool
        }
        /// A first, empty choice: the field is required and nothing is chosen yet.
        let choose: Bool
        let options: [Option]
    }
    struct Number: Sendable {
        let step: String
        let min: String?
        let max: String?
        let value: String?
    }
    struct File: Sendable {
        /// The earlier run's file, taken again when no other is chosen.
        let kept: String?
    }
    struct Textarea: Sendable {
        let placeholder: String
        let value: String
    }
    struct Text: Sendable {
        let value: String?
    }
    let id: String
    let name: String
    let label: String
    let titled: Bool
    let required: Bool
    var about = ""
    var select: Select?
    var number: Number?
    var file: File?
    var textarea: Textarea?
    var text: Text?

    init(id: String, name: String, label: String, titled: Bool, required: Bool) {
        (self.id, self.name, self.label, self.titled, self.required) = (id, name, label, titled, required)
    }
}

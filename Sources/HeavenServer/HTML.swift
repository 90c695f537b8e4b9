import Foundation
import HTTPTypes
import HeavenAPI
import Hummingbird

/// The HTML of OGC API - Processes' resources (the `html` conformance class): the same
/// JSON a client gets, laid out for a person in a browser: objects as definition
/// lists, lists of objects as tables, links as links (to their HTML pages). No script.
enum HTMLPage {
    /// Whether the caller asks for HTML: `?f=html` (or `f=json` for JSON), else an
    /// `Accept` header that prefers `text/html` to JSON (as a browser's does).
    static func wanted(_ request: Request) throws -> Bool {
        let f = request.uri.queryParameters.getAll("f")
        if let form = f.first {
            guard f.count == 1, form == "html" || form == "json" else {
                throw Problem(
                    .badRequest,
                    "query parameter `f` is `json` or `html`, once (got \(f.map { "`\($0)`" }.joined(separator: ", ")))"
                )
            }
            return form == "html"
        }
        guard let accept = request.headers[.accept]?.lowercased() else { return false }
        func quality(_ type: String) -> Double {
            var best = 0.0
            for part in accept.split(separator: ",") {
                let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                guard let media = fields.first, media == type else { continue }
                let q = fields.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
                best = max(best, q)
            }
            return best
        }
        let html = quality("text/html")
        return html > 0 && html > quality("application/json")
    }

    /// A page showing `value` under `title`.
    static func response(_ value: JSONValue, title: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'none'; style-src 'unsafe-inline'"
        return Response(
            status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: page(value, title: title))))
    }

    static func page(_ value: JSONValue, title: String) -> String {
        let heading: String
        if case .object(let o) = value, case .string(let t)? = o["title"] ?? o["id"] ?? o["jobID"] {
            heading = t
        } else {
            heading = title
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(heading)) — Heaven</title>
            <style>
            body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1d2a33}
            h1{font-size:1.4rem}nav a{margin-right:1rem}dl{display:grid;grid-template-columns:max-content 1fr;\
            gap:.2rem 1rem}
            dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}table{border-collapse:collapse;width:100%}
            td,th{border-bottom:1px solid #d5dde2;padding:.3rem;text-align:left;vertical-align:top}code{font-size:.9em}
            </style></head><body>
            <nav><a href="/?f=html">Heaven</a><a href="/processes?f=html">Processes</a><a href="/jobs?f=html">Jobs</a>\
            <a href="/conformance?f=html">Conformance</a><a href="/api">API</a></nav>
            <h1>\(escape(heading))</h1>
            \(render(value))
            </body></html>
            """
    }

    static func render(_ value: JSONValue) -> String {
        switch value {
        case .null: return "<em>none</em>"
        case .bool(let b): return b ? "yes" : "no"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return text(s)
        case .object(let o):
            if case .string(let href)? = o["href"] { return link(o, href) }
            let keys = o.keys.sorted { order($0) < order($1) || (order($0) == order($1) && $0 < $1) }
            return "<dl>" + keys.map { "<dt>\(escape($0))</dt><dd>\(render(o[$0]!))</dd>" }.joined() + "</dl>"
        case .array(let items):
            if items.isEmpty { return "<em>none</em>" }
            let objects = items.compactMap { if case .object(let o) = $0 { o } else { nil } }
            if objects.count == items.count, !objects.contains(where: { $0["href"] != nil }) {
                let columns = Array(Set(objects.flatMap(\.keys))).sorted {
                    order($0) < order($1) || (order($0) == order($1) && $0 < $1)
                }
                let head = "<tr>" + columns.map { "<th>\(escape($0))</th>" }.joined() + "</tr>"
                let rows = objects.map { o in
                    "<tr>" + columns.map { "<td>\(o[$0].map(render) ?? "")</td>" }.joined() + "</tr>"
                }
                return "<table>\(head)\(rows.joined())</table>"
            }
            return "<ul>" + items.map { "<li>\(render($0))</li>" }.joined() + "</ul>"
        }
    }

    /// The keys people look for first come first.
    static func order(_ key: String) -> Int {
        ["id", "jobID", "title", "status", "processID", "version", "description", "message", "progress", "links"]
            .firstIndex(of: key) ?? 50
    }

    /// A link; one to a JSON resource of this server leads to its HTML page.
    static func link(_ o: [String: JSONValue], _ href: String) -> String {
        var target = href
        if case .string(let type)? = o["type"], type == "application/json" {
            target += (href.contains("?") ? "&" : "?") + "f=html"
        }
        var label = href
        if case .string(let t)? = o["title"] { label = t } else if case .string(let r)? = o["rel"] { label = r }
        return "<a href=\"\(escape(target))\">\(escape(label))</a>"
    }

    static func text(_ s: String) -> String {
        if s.hasPrefix("http://") || s.hasPrefix("https://") {
            return "<a href=\"\(escape(s))\">\(escape(s))</a>"
        }
        return s.contains("\n") ? "<pre>\(escape(s))</pre>" : escape(s)
    }

    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}

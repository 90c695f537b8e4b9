import Foundation
import HTTPTypes
import HeavenAPI
import Hummingbird
import Mustache

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
        return HTMLPage.library.render(PageView(heading: heading, value: [view(value)]), withTemplate: "page") ?? ""
    }

    /// The page and the value's partial (which draws itself for nested values), escaped by
    /// Mustache.
    static let library: MustacheLibrary = {
        var library = MustacheLibrary()
        do {
            try library.register(HTMLPage.pageTemplate, named: "page")
            try library.register(HTMLPage.valueTemplate, named: "value")
        } catch {
            preconditionFailure("the OGC pages' templates do not parse: \(error)")
        }
        return library
    }()

    static let pageTemplate = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{heading}} — Heaven</title>
        <style>
        body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#1d2a33}
        h1{font-size:1.4rem}nav a{margin-right:1rem}dl{display:grid;grid-template-columns:max-content 1fr;\
        gap:.2rem 1rem}
        dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}table{border-collapse:collapse;width:100%}
        td,th{border-bottom:1px solid #d5dde2;padding:.3rem;text-align:left;vertical-align:top}code{font-size:.9em}
        </style></head><body>
        <nav><a href="/?f=html">Heaven</a><a href="/processes?f=html">Processes</a><a href="/jobs?f=html">Jobs</a>\
        <a href="/conformance?f=html">Conformance</a><a href="/api">API</a></nav>
        <h1>{{heading}}</h1>
        {{#value}}{{> value}}{{/value}}
        </body></html>
        """

    /// One value: exactly one of its flags is set (`ValueView`).
    static let valueTemplate = """
        {{#isNone}}<em>none</em>{{/isNone}}{{#isText}}{{text}}{{/isText}}\
        {{#isURL}}<a href="{{text}}">{{text}}</a>{{/isURL}}{{#isPre}}<pre>{{text}}</pre>{{/isPre}}\
        {{#isLink}}<a href="{{href}}">{{text}}</a>{{/isLink}}\
        {{#isObject}}<dl>{{#entries}}<dt>{{name}}</dt><dd>{{#value}}{{> value}}{{/value}}</dd>{{/entries}}</dl>\
        {{/isObject}}\
        {{#isTable}}<table><tr>{{#columns}}<th>{{name}}</th>{{/columns}}</tr>{{#rows}}<tr>{{#cells}}<td>\
        {{#value}}{{> value}}{{/value}}</td>{{/cells}}</tr>{{/rows}}</table>{{/isTable}}\
        {{#isList}}<ul>{{#items}}<li>{{> value}}</li>{{/items}}</ul>{{/isList}}
        """

    struct PageView {
        let heading: String
        let value: [ValueView]
    }

    /// A JSON value as the `value` partial draws it. Every field stored, none optional: a
    /// name Mustache does not find here it looks up in the enclosing values.
    struct ValueView: MustacheParent {
        struct Entry: MustacheParent {
            let name: String
            let value: [ValueView]
            func child(named key: String) -> Any? {
                switch key {
                case "name": name
                case "value": value
                default: nil
                }
            }
        }
        struct Row: MustacheParent {
            let cells: [Entry]
            func child(named key: String) -> Any? { key == "cells" ? cells : nil }
        }
        var isNone = false
        var isText = false
        var isURL = false
        var isPre = false
        var isLink = false
        var isObject = false
        var isTable = false
        var isList = false
        var text = ""
        var href = ""
        var entries: [Entry] = []
        var columns: [Entry] = []
        var rows: [Row] = []
        var items: [ValueView] = []

        func child(named key: String) -> Any? {
            switch key {
            case "isNone": isNone
            case "isText": isText
            case "isURL": isURL
            case "isPre": isPre
            case "isLink": isLink
            case "isObject": isObject
            case "isTable": isTable
            case "isList": isList
            case "text": text
            case "href": href
            case "entries": entries
            case "columns": columns
            case "rows": rows
            case "items": items
            default: nil
            }
        }
    }

    /// The view of a value: objects as definition lists, lists of objects (not links) as
    /// tables, other lists as lists, links as links (to their HTML pages), URLs as links,
    /// text of several lines as preformatted.
    static func view(_ value: JSONValue) -> ValueView {
        var v = ValueView()
        func keyed(_ a: String, _ b: String) -> Bool { order(a) < order(b) || (order(a) == order(b) && a < b) }
        switch value {
        case .null: v.isNone = true
        case .bool(let b): (v.isText, v.text) = (true, b ? "yes" : "no")
        case .int(let i): (v.isText, v.text) = (true, String(i))
        case .double(let d): (v.isText, v.text) = (true, String(d))
        case .string(let s):
            v.text = s
            if s.hasPrefix("http://") || s.hasPrefix("https://") {
                v.isURL = true
            } else if s.contains("\n") {
                v.isPre = true
            } else {
                v.isText = true
            }
        case .object(let o):
            if case .string(let href)? = o["href"] {
                (v.isLink, v.href, v.text) = (true, href, href)
                if case .string(let type)? = o["type"], type == "application/json" {
                    v.href += (href.contains("?") ? "&" : "?") + "f=html"
                }
                if case .string(let t)? = o["title"] {
                    v.text = t
                } else if case .string(let r)? = o["rel"] {
                    v.text = r
                }
                return v
            }
            v.isObject = true
            v.entries = o.keys.sorted(by: keyed).map { ValueView.Entry(name: $0, value: [view(o[$0]!)]) }
        case .array(let items):
            if items.isEmpty {
                v.isNone = true
                return v
            }
            let objects = items.compactMap { if case .object(let o) = $0 { o } else { nil } }
            if objects.count == items.count, !objects.contains(where: { $0["href"] != nil }) {
                let columns = Array(Set(objects.flatMap(\.keys))).sorted(by: keyed)
                v.isTable = true
                v.columns = columns.map { ValueView.Entry(name: $0, value: []) }
                v.rows = objects.map { o in
                    ValueView.Row(
                        cells: columns.map { ValueView.Entry(name: $0, value: o[$0].map { [view($0)] } ?? []) })
                }
            } else {
                v.isList = true
                v.items = items.map(view)
            }
        }
        return v
    }

    /// The keys people look for first come first.
    static func order(_ key: String) -> Int {
        ["id", "jobID", "title", "status", "processID", "version", "description", "message", "progress", "links"]
            .firstIndex(of: key) ?? 50
    }
}

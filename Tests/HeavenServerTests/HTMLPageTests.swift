import Foundation
import HeavenAPI
import Testing

@testable import HeavenServer

@Suite("OGC API - Processes' HTML pages (HTMLPage, from templates)")
struct HTMLPageTests {
    @Test(
        """
        a value laid out for a person: objects as definition lists (the keys people look for first), lists of objects \
        as tables, links to their HTML pages, URLs as links, lines as preformatted, every text escaped
        """
    )
    func layout() {
        let value = JSONValue.object([
            "title": .string("<b>Echo</b> & co"),
            "id": .string("echo"),
            "count": .int(3),
            "ratio": .double(0.5),
            "open": .bool(true),
            "none": .null,
            "empty": .array([]),
            "site": .string("https://example.org/a?b=1&c=2"),
            "lines": .string("one\ntwo <i>"),
            "links": .array([
                .object(["href": .string("/jobs/1"), "type": .string("application/json"), "rel": .string("self")]),
                .object(["href": .string("/jobs/1?x=1"), "type": .string("application/json"), "title": .string("T")]),
            ]),
            "rows": .array([.object(["b": .int(2), "a": .string("x\"y")]), .object(["a": .string("z")])]),
            "mixed": .array([.int(1), .string("two")]),
        ])
        let page = HTMLPage.page(value, title: "fallback")
        #expect(page.contains("<title>&lt;b&gt;Echo&lt;/b&gt; &amp; co — Heaven</title>"), "\(page)")
        #expect(page.contains("<h1>&lt;b&gt;Echo&lt;/b&gt; &amp; co</h1>"))
        // The keys people look for first, then the others by name.
        let order = ["<dt>id</dt>", "<dt>title</dt>", "<dt>links</dt>", "<dt>count</dt>", "<dt>empty</dt>"]
        let places = order.map { page.range(of: $0)?.lowerBound }
        #expect(places.allSatisfy { $0 != nil } && places.map { $0! } == places.map { $0! }.sorted(), "\(page)")
        #expect(page.contains("<dt>count</dt><dd>3</dd>") && page.contains("<dt>ratio</dt><dd>0.5</dd>"))
        #expect(page.contains("<dt>open</dt><dd>yes</dd>") && page.contains("<dt>none</dt><dd><em>none</em></dd>"))
        #expect(page.contains("<dt>empty</dt><dd><em>none</em></dd>"))
        #expect(page.contains("<a href=\"https://example.org/a?b=1&amp;c=2\">https://example.org/a?b=1&amp;c=2</a>"))
        #expect(page.contains("<pre>one\ntwo &lt;i&gt;</pre>"))
        // Links lead to their HTML pages, labelled by title, else rel.
        #expect(page.contains("<li><a href=\"/jobs/1?f=html\">self</a></li>"), "\(page)")
        #expect(page.contains("<li><a href=\"/jobs/1?x=1&amp;f=html\">T</a></li>"))
        // Objects in a list: a table, its columns every key of them.
        #expect(page.contains("<table><tr><th>a</th><th>b</th></tr><tr><td>x&quot;y</td><td>2</td></tr>"), "\(page)")
        #expect(page.contains("<tr><td>z</td><td></td></tr></table>"))
        #expect(page.contains("<dt>mixed</dt><dd><ul><li>1</li><li>two</li></ul></dd>"))
        #expect(!page.contains("<b>") && !page.contains("<i>"))
        // Without a title, id or job id: the page's own.
        #expect(HTMLPage.page(.array([]), title: "Jobs").contains("<h1>Jobs</h1>"))
    }
}

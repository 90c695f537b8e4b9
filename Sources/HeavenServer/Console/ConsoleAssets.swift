/// The web console's templates (Mustache), style sheet and script, in the binary:
/// nothing is fetched from anywhere, no build step. The script is a file of its own
/// (the Content-Security-Policy allows no inline script).
enum ConsoleAssets {
    static let layout = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} — Heaven</title>
        <link rel="stylesheet" href="/console/static/console.css">
        <script src="/console/static/console.js" defer></script>
        </head><body>
        <header><a class="brand" href="/console">Heaven</a>
        {{#user}}<nav><a href="/console">Runs</a><a href="/console/processes">Processes</a><a href="/console/sites">\
        Sites</a><a href="/console/account">Account</a></nav>
        <form class="logout" method="post" action="/console/logout"><input type="hidden" name="csrf" value="{{csrf}}">\
        <span>{{user}}</span> <button>Sign out</button></form>{{/user}}
        </header>
        <main{{#run}} data-run="{{run}}" data-status="{{status}}"{{/run}}{{#process}} \
        data-process="{{process}}"{{/process}}>
        {{{body}}}
        </main></body></html>
        """

    static let login = """
        <h1>Sign in</h1>
        {{#error}}<p class="error">{{error}}</p>{{/error}}
        <form method="post" action="/console/login" class="login">
        <label>API token <input type="password" name="token" autocomplete="off" required autofocus></label>
        <button>Sign in</button>
        </form>
        <p class="hint">A token comes from <code>heaven users add NAME</code> (or <code>heaven users token NAME</code>\
        ) on the server's machine.</p>
        """

    static let runs = """
        <h1>Runs</h1>
        <p class="counts" id="counts">{{> counts}}</p>
        <form method="get" action="/console" class="filters">
        <label>Status <select name="status"><option value="">any</option>{{#statuses}}<option value="{{value}}\
        "{{#selected}} selected{{/selected}}>{{value}}</option>{{/statuses}}</select></label>
        <label>Workflow <input name="workflow" value="{{workflow}}"></label>
        <button>Filter</button>
        </form>
        <div id="runs" data-live="{{live}}">{{#table}}{{> runsTable}}{{/table}}</div>
        """

    /// Partials: the pieces of pages (and the fragments a page refreshes), each drawn
    /// from a view of ConsoleViews.swift.
    static let runsTable = """
        {{#empty}}<p class="hint">No runs here yet: submit one with <code>heaven run FILE --server URL</code>, or \
        run a process.</p>{{/empty}}{{^empty}}<table><tr><th>Run</th><th>Workflow</th><th>Status</th><th>User</th>\
        <th>Created</th><th>Duration</th></tr>{{#rows}}<tr data-run="{{id}}" data-status="{{status}}"><td><a \
        href="/console/runs/{{id}}">{{id}}</a></td><td>{{workflow}}</td><td><span class="status" \
        data-status="{{status}}">{{status}}</span></td><td>{{user}}</td><td>{{created}}</td><td>{{duration}}</td>\
        </tr>{{/rows}}</table>{{/empty}}
        """

    static let placement = """
        <p class="hint">topology {{topology}}, availability {{availability}}</p><table><tr><th>Machine</th>\
        <th>Site</th><th>Node</th><th>Cores</th><th>Grant</th></tr>{{#machines}}<tr data-machine="{{machine}}" \
        data-site="{{site}}"><td>{{machine}}[{{instance}}]</td><td>{{site}}</td><td>{{node}}</td><td>{{cores}}</td>\
        <td>{{grant}}</td></tr>{{/machines}}</table>{{#hasLinks}}<h3>Links</h3><table><tr><th>Link</th>\
        <th>Between</th><th>Bandwidth</th><th>Asked</th></tr>{{#links}}<tr data-link="{{key}}"><td>{{label}}</td>\
        <td>{{between}}</td><td>{{has}}</td><td>{{asked}}</td></tr>{{/links}}</table>{{/hasLinks}}
        """

    static let outputs = """
        {{#empty}}<p class="hint">{{hint}}</p>{{/empty}}{{^empty}}<table>{{#rows}}<tr><th>{{name}}</th><td>\
        {{#items}}{{^first}}<br>{{/first}}{{#text}}{{text}}{{/text}}{{#code}}<code>{{code}}</code>{{/code}}\
        {{#file}}<a href="{{href}}" download>{{name}}</a>{{#png}}<br><img class="preview" src="{{href}}" \
        alt="{{name}}">{{/png}}{{#preview}}<br><img class="preview" src="{{preview}}" alt="{{name}} (preview)">\
        <br><img class="legend" src="{{legend}}" alt="the preview's legend">{{/preview}}{{/file}}{{/items}}\
        </td></tr>{{/rows}}</table>{{/empty}}
        """

    /// The runs' counts by status (the runs page, and its live refresh).
    static let counts = """
        {{#counts}}<span class="count" data-status="{{status}}">{{status}} <b>{{count}}</b></span> {{/counts}}
        """

    /// A run's workflow as a graph (the run's page, and its live refresh).
    static let graph = """
        {{#graph}}{{> node}}{{/graph}}{{^graph}}<p class="hint">The run's workflow cannot be read back.</p>{{/graph}}
        """

    /// What a preview's colours mean (a PreviewLegend): SVG, drawn from numbers.
    static let legend = """
        <svg xmlns="http://www.w3.org/2000/svg" width="420" height="56" viewBox="0 0 420 56" font-family="sans-serif" \
        font-size="12" fill="#1e1e1e" data-legend="{{kind}}"><defs><linearGradient id="ramp">{{#stops}}<stop \
        offset="{{offset}}" stop-color="{{colour}}"/>{{/stops}}</linearGradient></defs><text x="10" y="11">\
        {{caption}}</text><rect x="10" y="16" width="300" height="14" fill="url(#ramp)" stroke="#5a5a5a"/>\
        {{#labels}}<line x1="{{x}}" x2="{{x}}" y1="30" y2="35" stroke="#3c3c3c"/><text x="{{x}}" y="48" \
        text-anchor="{{anchor}}" data-value="{{value}}">{{text}}</text>{{/labels}}{{#hasNoData}}<rect x="330" \
        y="16" width="14" height="14" fill="{{noData}}" stroke="#5a5a5a"/><text x="350" y="28">no data</text>\
        {{/hasNoData}}\
        </svg>
        """

    /// A node of a run's workflow (a GraphNode), and those it holds.
    static let node = """
        {{#isTask}}{{#task}}<div class="task" data-task="{{key}}" data-state="{{state}}" title="{{title}}"><span \
        class="n">{{name}}</span>{{#hasLog}}<a href="{{log}}">log</a>{{/hasLog}}{{#hasWhy}}<span \
        class="why">{{why}}</span>{{/hasWhy}}</div>{{/task}}{{/isTask}}\
        {{#isSeq}}<div class="seq">{{#nodes}}{{> node}}{{/nodes}}</div>{{/isSeq}}\
        {{#isPar}}<div class="{{cls}}" title="{{title}}">{{#nodes}}{{> node}}{{/nodes}}</div>{{/isPar}}\
        {{#isCond}}<div class="box cond"><div class="label">{{label}}</div><div class="branch"><div \
        class="label">then</div><div class="seq">{{#then}}{{> node}}{{/then}}</div></div>{{#hasOtherwise}}<div \
        class="branch"><div class="label">else</div><div class="seq">{{#otherwise}}{{> node}}{{/otherwise}}</div>\
        </div>{{/hasOtherwise}}</div>{{/isCond}}\
        {{#isCall}}<div class="box call"><div class="label">{{label}}</div>{{#hasBody}}<div class="seq">{{#nodes}}\
        {{> node}}{{/nodes}}</div>{{/hasBody}}</div>{{/isCall}}\
        {{#isGroup}}{{#group}}<div class="group {{kind}}" data-task="{{head}}*" data-state="{{state}}"><div \
        class="label">{{label}}</div><div class="tally">{{#tallies}}<span data-state="{{state}}">{{count}} {{state}}\
        </span>{{/tallies}}</div><a href="?expand={{expand}}">expand</a></div>{{/group}}{{/isGroup}}\
        {{#isInstances}}<div class="box {{cls}}"><div class="label">{{label}}</div>{{#pager}}<p class="hint \
        pager">{{label}}{{#hasPrevious}} · <a href="{{previous}}">previous</a>{{/hasPrevious}}{{#hasNext}} · <a \
        href="{{next}}">next</a>{{/hasNext}}</p>{{/pager}}<div class="par">{{#boxes}}<div \
        class="box"><div class="label">{{label}}</div><div class="seq">{{#nodes}}{{> node}}{{/nodes}}</div></div>\
        {{/boxes}}</div></div>{{/isInstances}}
        """

    /// A run's attempts by site (a GanttView): SVG with attributes, not inline styles (the
    /// Content-Security-Policy allows none), and its time axis.
    static let gantt = """
        {{#none}}<p class="hint">No attempt yet.</p>{{/none}}{{^none}}<div class="gantt">{{#lanes}}<div \
        class="lane"><div class="site" title="{{name}}">{{name}} ({{count}})</div><svg class="track" width="100%" \
        height="{{height}}">{{#bars}}{{#isSlice}}<rect class="bar" data-site="{{site}}" data-state="running" \
        x="{{x}}%" y="{{y}}" width="1%" height="14" fill-opacity="{{opacity}}"><title>{{title}}</title></rect>\
        {{/isSlice}}{{#isQueued}}<rect class="queued" data-queued="{{attempt}}" data-site="{{site}}" x="{{x}}%" \
        y="{{y}}" width="{{width}}%" height="14"><title>{{title}}</title></rect>{{/isQueued}}{{#isAttempt}}<rect \
        class="bar" data-attempt="{{attempt}}" data-site="{{site}}" data-state="{{state}}" x="{{x}}%" y="{{y}}" \
        width="{{width}}%" height="14"><title>{{title}}</title></rect>{{/isAttempt}}{{/bars}}</svg></div>{{/lanes}}\
        <div class="lane axis"><div class="site">since start</div><svg class="track" width="100%" height="20">\
        {{#ticks}}<line class="tick" x1="{{x}}%" x2="{{x}}%" y1="0" y2="5"/><text data-tick="{{t}}" x="{{x}}%" \
        y="16" text-anchor="{{anchor}}">{{label}}</text>{{/ticks}}</svg></div></div><p class="hint">{{summary}}</p>\
        {{/none}}
        """

    /// One input's field of a form (a FieldView).
    static let field = """
        <div class="field" data-input="{{name}}"><label for="{{id}}">{{label}}{{#titled}} <code>{{name}}</code>\
        {{/titled}}</label>{{#select}}<select id="{{id}}" name="{{name}}"{{#required}} required{{/required}} \
        aria-describedby="{{id}}-about">{{#choose}}<option value="">choose…</option>{{/choose}}{{#options}}<option \
        value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/options}}</select>{{/select}}\
        {{#number}}<input id="{{id}}" name="{{name}}" type="number" step="{{step}}"{{#min}} min="{{min}}"{{/min}}\
        {{#max}} max="{{max}}"{{/max}}{{#value}} value="{{value}}"{{/value}}{{#required}} required{{/required}} \
        aria-describedby="{{id}}-about">{{/number}}{{#file}}<input id="{{id}}" name="{{name}}" type="file"\
        {{#required}} required{{/required}} aria-describedby="{{id}}-about">{{#kept}} <span class="kept">leave empty \
        to use <code>{{kept}}</code> again</span>{{/kept}}{{/file}}{{#textarea}}<textarea id="{{id}}" name="{{name}}" \
        rows="3" placeholder="{{placeholder}}"{{#required}} required{{/required}} aria-describedby="{{id}}-about">\
        {{value}}</textarea>{{/textarea}}{{#text}}<input id="{{id}}" name="{{name}}" type="text"{{#value}} \
        value="{{value}}"{{/value}}{{#required}} required{{/required}} aria-describedby="{{id}}-about">{{/text}}<p \
        class="hint" id="{{id}}-about">{{about}}</p></div>
        """

    static let costs = """
        <p id="costs">value <b>{{value}} {{currency}}</b> (fee {{fee}}) · resources {{resources}} {{currency}} · \
        budget {{budget}} {{currency}} · {{#settled}}settled{{/settled}}{{^settled}}budget held until it ends\
        {{/settled}} · paid by {{payer}} to {{publisher}}</p><table><tr><th>Movement</th><th>What</th>\
        <th>Lines</th></tr>{{#movements}}<tr data-movement="{{kind}}"><td>{{kind}}</td><td>{{memo}}</td><td>\
        {{#lines}}{{^first}}<br>{{/first}}{{text}}{{/lines}}</td></tr>{{/movements}}</table>
        """

    static let run = """
        <h1><span class="status" data-status="{{status}}">{{status}}</span> {{workflow}} <small>{{id}}</small></h1>
        <p class="meta">by {{user}} · created {{created}}{{#duration}} · {{duration}}{{/duration}}{{#error}} · <span \
        class="error">{{error}}</span>{{/error}}</p>
        <div class="actions">
        {{#cancellable}}<form method="post" action="/console/runs/{{id}}/cancel"><input type="hidden" name="csrf" \
        value="{{csrf}}"><button class="danger">Cancel</button></form>{{/cancellable}}
        {{#resumable}}<form method="post" action="/console/runs/{{id}}/resume"><input type="hidden" name="csrf" \
        value="{{csrf}}"><button>Resume</button></form>{{/resumable}}
        {{#again}}<a class="button" href="{{again}}">Run again with other inputs</a>{{/again}}
        </div>
        <section><h2>Workflow</h2><div id="graph" class="graph">{{> graph}}</div></section>
        <section><h2>Attempts by site</h2><div id="gantt">{{#gantt}}{{> gantt}}{{/gantt}}</div></section>
        {{#placement}}<section><h2>Where it runs</h2>{{> placement}}</section>{{/placement}}
        <section><h2>Outputs</h2>{{#outputs}}{{> outputs}}{{/outputs}}</section>
        {{#costs}}<section><h2>Costs</h2>{{> costs}}</section>{{/costs}}
        """

    static let processes = """
        <h1>Processes</h1>
        <p class="hint">Workflows published as processes (OGC API - Processes): run one with the form on its page.</p>
        {{#empty}}<p class="hint">No process is published yet: publish a workflow with <code>heaven processes \
        deploy FILE --server URL</code>.</p>{{/empty}}{{^empty}}<table><tr><th>Process</th><th>Id</th>\
        <th>Version</th><th>Publisher</th><th>Visibility</th><th>Price</th><th>About</th></tr>{{#rows}}<tr \
        data-process="{{id}}"><td><a href="/console/processes/{{segment}}">{{title}}</a></td><td><code>{{id}}</code>\
        </td><td>{{version}}</td><td>{{owner}}</td><td>{{visibility}}</td><td>{{price}}</td><td>{{about}}</td></tr>\
        {{/rows}}</table>{{/empty}}
        """

    /// A form that starts a run: a process's page, or "run again".
    static let submit = """
        <h1>{{heading}}{{#id}} <small>{{id}} · version {{version}}</small>{{/id}}</h1>
        {{#owner}}<p class="meta">published by {{owner}} · {{visibility}}{{#keywords}} · {{keywords}}{{/keywords}} · \
        <a href="/processes/{{segment}}">description (JSON)</a> · <a href="/processes/{{segment}}/package">package \
        (YAML)</a></p>{{/owner}}
        {{#description}}<p>{{description}}</p>{{/description}}
        {{#price}}<p class="price" id="price">Price: {{price}}</p>{{/price}}
        <section><h2>Inputs</h2>
        {{#error}}<pre class="error" id="submit-error">{{error}}</pre>{{/error}}
        {{#notice}}<p class="notice" id="submit-notice">{{notice}}</p>{{/notice}}
        <form method="post" action="{{action}}" enctype="multipart/form-data" class="submit" id="submit">
        <input type="hidden" name=".csrf" value="{{csrf}}">
        {{#from}}<input type="hidden" name=".from" value="{{from}}"><p class="hint">Filled with the inputs of run <a \
        href="/console/runs/{{from}}">{{from}}</a>.</p>{{/from}}
        {{#fields}}{{#noInputs}}<p class="hint">It takes no inputs.</p>{{/noInputs}}{{#fields}}{{> field}}{{/fields}}\
        {{/fields}}
        {{#budget}}<div class="field" data-input=".budget"><label for="in-budget">Budget ({{currency}})</label><input \
        id="in-budget" name="{{name}}" type="number" step="any" min="{{minimum}}" value="{{value}}" required \
        aria-describedby="in-budget-about"><p class="hint" id="in-budget-about">the most this job may cost: held \
        from your balance ({{balance}} {{currency}}) until it ends; you pay the price of what it delivers, the rest \
        comes back</p></div>{{/budget}}
        <button>Run</button>
        {{#priced}}<button name=".action" value="quote" formnovalidate>Estimate the cost</button>{{/priced}}
        </form></section>
        {{#hasOutputs}}<section><h2>Outputs</h2><table>{{#outputs}}<tr><th>{{title}}</th><td><code>{{name}}</code>\
        </td><td>{{type}}</td><td>{{about}}</td></tr>{{/outputs}}</table></section>{{/hasOutputs}}
        {{#accounts}}<section><h2>Its accounts</h2><p id="accounts">{{jobs}} priced {{jobsWord}}, {{succeeded}} \
        paid for · value {{value}} − fee {{fee}} − resources {{resources}} = margin <b>{{margin}}</b></p></section>\
        {{/accounts}}
        {{#jobs}}<section><h2>Jobs</h2>{{> runsTable}}</section>{{/jobs}}
        """

    static let log = """
        <h1>Log of {{task}} <small>attempt {{attempt}} · {{status}}{{#site}} on {{site}}{{/site}}</small></h1>
        <p><a href="/console/runs/{{run}}">← run {{run}}</a></p>
        <pre id="log" data-source="{{source}}" data-follow="{{follow}}">{{text}}</pre>
        """

    static let sites = """
        <h1>Sites</h1>
        {{#noSites}}<p class="hint">No site is registered: tasks run on the server's machine.</p>{{/noSites}}\
        {{^noSites}}<table><tr><th>Site</th><th>Kind</th><th>Nodes</th><th>Health</th></tr>{{#sites}}<tr \
        data-site="{{name}}" data-state="{{state}}"><td>{{name}}</td><td>{{kind}}</td><td>{{nodes}}</td>\
        <td>{{health}}</td></tr>{{/sites}}</table>{{/noSites}}
        <h2>Grants</h2>
        {{#noGrants}}<p class="hint">No grants.</p>{{/noGrants}}{{^noGrants}}<table><tr><th>Grant</th><th>Site</th>\
        <th>To</th><th>Used</th></tr>{{#grants}}<tr><td>{{name}}</td><td>{{site}}</td><td>{{to}}</td><td>{{used}}</td>\
        </tr>{{/grants}}</table>{{/noGrants}}
        """

    static let account = """
        <h1>Account</h1>
        {{#notice}}<p class="notice" id="notice">{{notice}}</p>{{/notice}}
        <h2>Balances</h2>
        <table><tr><th>Account</th><th>Balance</th></tr>{{#accounts}}<tr data-account="{{account}}"><td>{{account}}\
        </td><td>{{balance}}</td></tr>{{/accounts}}</table>
        <h2>Bills</h2>
        {{#noBills}}<p class="hint">No bills: priced jobs you run or publish appear here.</p>{{/noBills}}\
        {{^noBills}}<table><tr><th>Job</th><th>Process</th><th>Payer</th><th>Publisher</th><th>Value</th><th>Fee</th>\
        <th>Resources</th><th>Budget</th><th></th></tr>{{#bills}}<tr data-bill="{{job}}"><td><a \
        href="/console/runs/{{job}}">{{job}}</a></td><td>{{process}}</td><td>{{payer}}</td><td>{{publisher}}</td>\
        <td>{{value}}</td><td>{{fee}}</td><td>{{resources}}</td><td>{{budget}}</td><td>{{state}}</td></tr>{{/bills}}\
        </table>{{/noBills}}
        {{#admin}}<h2>Every account</h2>
        <table><tr><th>Account</th><th>Balance</th></tr>{{#everyone}}<tr data-account="{{account}}"><td>{{account}}\
        </td><td>{{balance}}</td></tr>{{/everyone}}</table><p class="hint" id="totals">totals: {{totals}} (the \
        ledger balances: always zero)</p>
        <form method="post" action="/console/accounts/credit" class="submit" id="credit">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <div class="field"><label for="credit-account">Account</label><input id="credit-account" name="account" \
        placeholder="carol, user:carol, group:eo or operator" required></div>
        <div class="field"><label for="credit-amount">Amount</label><input id="credit-amount" name="amount" \
        type="number" step="any" min="0.000001" required></div>
        <div class="field"><label for="credit-currency">Currency</label><input id="credit-currency" name="currency" \
        value="credits"></div>
        <button>Credit</button>
        </form>{{/admin}}
        """

    static let notFound = """
        <h1>Not found</h1><p>{{detail}}</p><p><a href="/console">Runs</a></p>
        """

    static let css = """
        :root{--ok:#2e7d32;--bad:#c62828;--run:#1565c0;--wait:#8a8f98;--lost:#6d4c41;--line:#d5dde2;--ink:#1d2a33}
        *{box-sizing:border-box}body{font:15px/1.45 system-ui,sans-serif;margin:0;color:var(--ink);background:#f7f9fa}
        header{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;padding:.6rem 1rem;background:#1d2a33;color:#fff}
        header a{color:#fff;text-decoration:none;margin-right:1rem}.brand{font-weight:700}.logout{margin-left:auto}
        main{padding:1rem;max-width:80rem;margin:0 auto}h1{font-size:1.35rem}h1 small{font-weight:400;color:#5b6770;\
        font-size:.8em}
        table{border-collapse:collapse;width:100%;background:#fff}td,th{border-bottom:1px solid var(--line);\
        padding:.35rem .5rem;text-align:left}
        .error{color:var(--bad)}.hint,.meta{color:#5b6770}
        [data-status=succeeded],[data-state=succeeded]{--c:var(--ok)}[data-status=failed],\
        [data-state=failed]{--c:var(--bad)}[data-state=timed-out]{--c:#8e0038}
        [data-status=running],[data-state=running]{--c:var(--run)}[data-status=pending],[data-state=pending],\
        [data-state=waiting]{--c:var(--wait)}
        [data-status=cancelled],[data-state=cancelled],[data-status=interrupted]{--c:#ef6c00}\
        [data-state=lost]{--c:var(--lost)}
        .status,.count{display:inline-block;border-left:.35rem solid var(--c,#999);padding:0 .4rem;background:#fff}
        .graph{overflow-x:auto;padding:.5rem;background:#fff;border:1px solid var(--line)}
        .seq{display:flex;flex-direction:column;align-items:flex-start;gap:.5rem}
        .par{display:flex;flex-wrap:wrap;gap:.5rem;border:1px solid var(--line);padding:.4rem;border-radius:.3rem}
        .par.interleave{border-style:dashed}.box{border:1px solid var(--line);border-radius:.3rem;padding:.3rem .4rem}
        .box>.label{font-size:.8rem;color:#5b6770;margin-bottom:.3rem}.box.call{background:#f3f6fb}.box.cond \
        .branch{border-top:1px dotted var(--line);padding-top:.3rem}
        .task{border:2px solid var(--c,#999);border-radius:.3rem;padding:.15rem .5rem;background:#fff;min-width:6rem}
        .task a{font-size:.75rem;margin-left:.4rem}.task .n{font-weight:600}
        .task .why{display:block;font-size:.75rem;color:var(--c);max-width:18rem;overflow-wrap:anywhere}
        .group{border:2px double var(--c,#999);border-radius:.3rem;padding:.25rem .5rem;background:#fff}
        .group .tally span{margin-right:.5rem;font-size:.8rem}
        .gantt{position:relative;background:#fff;border:1px solid var(--line)}.lane{display:flex;border-bottom:1px \
        solid var(--line);min-height:1.6rem}
        .lane .site{width:9rem;flex:none;padding:.2rem .4rem;font-size:.8rem;overflow:hidden;text-overflow:ellipsis}
        .lane .track{flex:1}.bar{fill:var(--c,#999)}.queued{fill:var(--wait);fill-opacity:.35}
        .axis .track text{font-size:.7rem;fill:#5b6770}.axis .tick{stroke:#5b6770}.lane.axis{border-bottom:0}
        pre{background:#101820;color:#e8eef2;padding:.6rem;overflow:auto;max-height:70vh;white-space:pre-wrap}
        .actions form{display:inline}button{font:inherit;padding:.25rem .7rem}button.danger{color:#fff;\
        background:var(--bad);border:0}
        .login label{display:block;margin:.6rem 0}.login input{width:100%;max-width:30rem}
        img.preview{max-width:100%;border:1px solid var(--line)}img.legend{max-width:100%}
        a.button{display:inline-block;padding:.25rem .7rem;border:1px solid #767676;border-radius:.2rem;\
        background:#efefef;color:inherit;text-decoration:none}
        .submit{background:#fff;border:1px solid var(--line);padding:.6rem .8rem;max-width:46rem}.field{margin:.2rem 0 \
        .7rem}
        .field label{display:block;font-weight:600}.field input:not([type=file]),.field select,.field \
        textarea{width:100%;max-width:30rem;font:inherit;padding:.2rem}
        .field .hint{margin:.15rem 0;font-size:.85rem}pre.error{background:#fdecea;color:var(--bad);\
        white-space:pre-wrap}
        .notice{background:#e8f1fb;padding:.4rem .6rem}
        @media (max-width:40rem){.lane .site{width:5rem}main{padding:.5rem}table{display:block;overflow-x:auto}
        code{word-break:break-all}header a{margin-right:.6rem}}
        """

    static let script = """
        'use strict';
        // The console's only script: live updates from the server's own event streams.
        (function () {
          const main = document.querySelector('main');
          function refresh(id, url) {
            const el = document.getElementById(id);
            if (!el) return;
            fetch(url, {credentials: 'same-origin'}).then(r => r.ok ? r.text() : null).then(t => {
              if (t !== null) { el.innerHTML = t; }
            });
          }
          let pending = null;
          function later(fn) { if (!pending) { pending = setTimeout(() => { pending = null; fn(); }, 400); } }
          const run = main && main.dataset.run;
          const ended = main && ['succeeded', 'failed', 'cancelled'].includes(main.dataset.status);
          if (run && !ended) {
            const base = '/console/runs/' + encodeURIComponent(run);
            const source = new EventSource(base + '/events');
            const fragments = () => { refresh('graph', base + '/graph' + location.search); refresh('gantt', base + \
        '/gantt'); };
            const onTask = e => {
              const v = JSON.parse(e.data);
              const state = v.status;
              document.querySelectorAll('[data-task]').forEach(n => { if (n.dataset.task === v.task && state) { \
        n.dataset.state = state; } });
              later(fragments);
            };
            source.addEventListener('task-started', onTask);
            source.addEventListener('task-ended', onTask);
            ['waiting', 'retry', 'lost', 'substitution', 'placed'].forEach(kind => source.addEventListener(kind, () => \
        later(fragments)));
            ['succeeded', 'failed', 'cancelled', 'interrupted'].forEach(kind => source.addEventListener(kind, () => {
              main.dataset.status = kind;
              source.close();
              setTimeout(() => location.reload(), 300);
            }));
          }
          const runs = document.getElementById('runs');
          if (runs && runs.dataset.live) {
            const source = new EventSource('/console/runs.events' + location.search);
            source.addEventListener('changed', () => {
              refresh('runs', '/console/runs.table' + location.search);
              refresh('counts', '/console/runs.counts' + location.search);
            });
          }
          const log = document.getElementById('log');
          if (log && log.dataset.follow === 'true') {
            const follow = () => fetch(log.dataset.source, {credentials: 'same-origin'}).then(r => r.json()).then(v => {
              log.textContent = v.text;
              if (v.running) { setTimeout(follow, 1000); } else { log.dataset.follow = 'false'; }
            });
            setTimeout(follow, 1000);
          }
        })();
        """
}

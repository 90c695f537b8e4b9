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
        <main{{#attributes}} {{{attributes}}}{{/attributes}}>
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
        <p class="counts" id="counts">{{#counts}}<span class="count" data-status="{{status}}">{{status}} <b>{{count}}\
        </b></span> {{/counts}}</p>
        <form method="get" action="/console" class="filters">
        <label>Status <select name="status"><option value="">any</option>{{#statuses}}<option value="{{value}}\
        "{{#selected}} selected{{/selected}}>{{value}}</option>{{/statuses}}</select></label>
        <label>Workflow <input name="workflow" value="{{workflow}}"></label>
        <button>Filter</button>
        </form>
        <div id="runs" data-live="{{live}}">{{{table}}}</div>
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
        <section><h2>Workflow</h2><div id="graph" class="graph">{{{graph}}}</div></section>
        <section><h2>Attempts by site</h2><div id="gantt">{{{gantt}}}</div></section>
        {{#placement}}<section><h2>Where it runs</h2>{{{placement}}}</section>{{/placement}}
        <section><h2>Outputs</h2>{{{outputs}}}</section>
        {{#costs}}<section><h2>Costs</h2>{{{costs}}}</section>{{/costs}}
        """

    static let processes = """
        <h1>Processes</h1>
        <p class="hint">Workflows published as processes (OGC API - Processes): run one with the form on its page.</p>
        {{{table}}}
        """

    /// A form that starts a run: a process's page, or "run again".
    static let submit = """
        <h1>{{heading}}{{#id}} <small>{{id}} · version {{version}}</small>{{/id}}</h1>
        {{#owner}}<p class="meta">published by {{owner}} · {{visibility}}{{#keywords}} · {{keywords}}{{/keywords}} · \
        {{{links}}}</p>{{/owner}}
        {{#description}}<p>{{description}}</p>{{/description}}
        {{#price}}<p class="price" id="price">Price: {{price}}</p>{{/price}}
        <section><h2>Inputs</h2>
        {{#error}}<pre class="error" id="submit-error">{{error}}</pre>{{/error}}
        {{#notice}}<p class="notice" id="submit-notice">{{notice}}</p>{{/notice}}
        <form method="post" action="{{action}}" enctype="multipart/form-data" class="submit" id="submit">
        <input type="hidden" name=".csrf" value="{{csrf}}">
        {{#from}}<input type="hidden" name=".from" value="{{from}}"><p class="hint">Filled with the inputs of run <a \
        href="/console/runs/{{from}}">{{from}}</a>.</p>{{/from}}
        {{{fields}}}
        {{{budgetField}}}
        <button>Run</button>
        {{#priced}}<button name=".action" value="quote" formnovalidate>Estimate the cost</button>{{/priced}}
        </form></section>
        {{#outputs}}<section><h2>Outputs</h2>{{{outputs}}}</section>{{/outputs}}
        {{#accounts}}<section><h2>Its accounts</h2>{{{accounts}}}</section>{{/accounts}}
        {{#jobs}}<section><h2>Jobs</h2>{{{jobs}}}</section>{{/jobs}}
        """

    static let log = """
        <h1>Log of {{task}} <small>attempt {{attempt}} · {{status}}{{#site}} on {{site}}{{/site}}</small></h1>
        <p><a href="/console/runs/{{run}}">← run {{run}}</a></p>
        <pre id="log" data-source="{{source}}" data-follow="{{follow}}">{{text}}</pre>
        """

    static let sites = """
        <h1>Sites</h1>
        {{{table}}}
        <h2>Grants</h2>
        {{{grants}}}
        """

    static let account = """
        <h1>Account</h1>
        {{#notice}}<p class="notice" id="notice">{{notice}}</p>{{/notice}}
        <h2>Balances</h2>
        {{{accounts}}}
        <h2>Bills</h2>
        {{{bills}}}
        {{#admin}}<h2>Every account</h2>
        {{{admin}}}
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

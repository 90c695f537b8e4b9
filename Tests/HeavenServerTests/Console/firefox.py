"""The web console in Firefox (Debian's firefox-esr, headless, driven through its own
Marionette protocol by Mozilla's marionette_driver: no WebDriver binary): run by
ConsoleTests inside a network namespace of its own with the server (`unshare -n`).

    firefox.py URL HEAVEN_HOME ARTIFACTS BOB_TOKEN DAVE_TOKEN

The checks that depend on the browser: signing in, a run's graph and Gantt chart, a
node turning running to succeeded from the event stream, a log's markup kept as
text, a process's form with a file upload, and every page readable on a narrow
screen (nothing wider than the window). Prints the report as browser.py does.
"""
import base64
import os

from marionette_driver.by import By
from marionette_driver.marionette import Marionette

from common import (SCALE, artifacts, attempts, bob, check, deploy, example, gate, home, nodes, release,
                    report, run, shots, submit, until, url)

client = Marionette(bin="/usr/bin/firefox-esr", headless=True, gecko_log=os.path.join(artifacts, "gecko.log"))


def shot(name):
    path = os.path.join(artifacts, name + ".png")
    with open(path, "wb") as f:
        f.write(base64.b64decode(client.screenshot()))
    shots.append(path)


def page(script):
    """Runs a script in the page's own global (not a sandbox: what the page's scripts
    set is seen, and what this sets stays until the page is reloaded)."""
    return client.execute_script(script, sandbox=None)


def text(css):
    found = client.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def narrow(path):
    """Whether the page fits a 360-pixel-wide window (nothing scrolls sideways but the
    boxes made to: the graph and the log)."""
    client.navigate(url + path)
    return page("return document.documentElement.scrollWidth <= window.innerWidth + 1")


try:
    client.start_session()
    client.set_window_rect(width=1280, height=1000)
    client.navigate(url + "/console/login")
    client.find_element(By.NAME, "token").send_keys("hv_00000000_" + "0" * 64)
    client.find_element(By.CSS_SELECTOR, "form.login button").click()
    check("firefox: a wrong token is refused", until(lambda: "not a valid one" in client.page_source, 10))
    client.find_element(By.NAME, "token").send_keys(bob)
    client.find_element(By.CSS_SELECTOR, "form.login button").click()
    until(lambda: client.get_url().rstrip("/").endswith("/console"), 10)
    cookie = [c for c in client.get_cookies() if c.get("name") == "heaven_session"]
    check("firefox: signed in with a token, the cookie HttpOnly",
          client.title.startswith("Runs") and cookie and cookie[0].get("httpOnly"), cookie)

    # A finished run: each task in its recorded state, one Gantt bar per attempt on its site.
    done = submit(example("fan-out.yaml"))
    until(lambda: run(done)["status"] in ("succeeded", "failed"), 60)
    client.navigate(url + "/console/runs/" + done)
    shown = nodes(client)
    recorded = {a["task"]: a["status"] for a in attempts(done)}
    check("firefox: the graph shows every task in its recorded state",
          recorded and all(shown.get(k) == v for k, v in recorded.items()), {"shown": shown, "recorded": recorded})
    bars = {b.get_attribute("data-attempt"): b.get_attribute("data-site")
            for b in client.find_elements(By.CSS_SELECTOR, "#gantt [data-attempt]")}
    expected = {"%s#%d" % (a["task"], a["attempt"]): a.get("site") for a in attempts(done)}
    check("firefox: the Gantt chart has one bar per attempt, on its site", bars == expected, bars)
    shot("firefox-run")

    # Live: a node turns from running to succeeded without a reload.
    live = submit("kind: Workflow\nname: live\nsteps:\n  - task: gate\n    shell: '%s'\n  - task: hold\n    shell: '%s'\n"
                  % (gate("release1"), gate("release2")))
    until(lambda: any(a["task"] == "gate" for a in attempts(live)), 30)
    client.navigate(url + "/console/runs/" + live)
    until(lambda: nodes(client).get("gate") == "running", 10)
    page("window.__noReload = 1")
    before = nodes(client).get("gate")
    release(live, "release1")
    turned = until(lambda: nodes(client).get("gate") == "succeeded", 20)
    check("firefox: a node turns from running to succeeded without a reload",
          before == "running" and turned and page("return window.__noReload") == 1,
          {"before": before, "after": nodes(client).get("gate")})
    release(live, "release2")

    # A log's markup is text.
    talk = submit("kind: Workflow\nname: talk\nsteps:\n  - task: talk\n    shell: 'echo \"<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>\"'\n")
    until(lambda: run(talk)["status"] == "succeeded", 30)
    client.navigate(url + "/console/runs/%s/logs/talk" % talk)
    page("window.__probe = 7")
    injected = page("return [window.__pwned || 0, document.querySelectorAll('#log script, #log img').length]")
    seen = page("return window.__probe")
    check("firefox: markup in a log is shown as text, not run",
          "<script>window.__pwned=1</script>" in text("#log") and injected == [0, 0] and seen == 7,
          {"injected": injected, "page globals seen": seen})

    # A process's form: a file chosen and uploaded, a number typed, a choice made.
    deploy(SCALE)
    client.navigate(url + "/console/processes/scale")
    words = os.path.join(os.path.dirname(home), "firefox-words.txt")
    with open(words, "w") as f:
        f.write("one two three four\n")
    client.find_element(By.NAME, "text").send_keys(words)
    factor = client.find_element(By.NAME, "factor")
    factor.clear()
    factor.send_keys("2")
    client.find_element(By.CSS_SELECTOR, 'select[name="unit"] option[value="lines"]').click()
    client.find_element(By.CSS_SELECTOR, "#submit button").click()
    until(lambda: "/console/runs/" in client.get_url(), 10)
    job = client.get_url().split("/console/runs/")[-1].split("?")[0]
    until(lambda: run(job)["status"] in ("succeeded", "failed"), 30)
    check("firefox: a process's form uploads a file and starts a job with the inputs given",
          (run(job).get("outputs") or {}).get("n") == "8 lines", run(job))

    # A narrow screen: no page wider than the window.
    client.set_window_rect(width=360, height=800)
    wide = [p for p in ["/console", "/console/runs/" + done, "/console/runs/%s/logs/talk" % talk,
                        "/console/processes", "/console/processes/scale", "/console/sites"] if not narrow(p)]
    client.navigate(url + "/console/runs/" + done)
    shot("firefox-narrow")
    check("firefox: every page fits a narrow screen", not wide, wide)
finally:
    try:
        client.cleanup()
    except Exception:  # noqa: BLE001 - the report matters more than a clean exit
        pass

report()

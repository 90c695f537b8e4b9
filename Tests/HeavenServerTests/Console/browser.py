"""The web console in a real browser (Debian's chromium, driven by selenium): run by
ConsoleTests inside a network namespace of its own with the server (`unshare -n`), so
that nothing can leave the machine.

    browser.py URL HEAVEN_HOME ARTIFACTS BOB_TOKEN DAVE_TOKEN

Submits runs through the API as bob, drives the console, and prints one JSON object:
`checks` (name -> [passed, detail]) and `screenshots` (files written into ARTIFACTS).
"""
import json
import os

os.environ["SE_AVOID_STATS"] = "true"
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

from common import (SCALE, artifacts, attempts, bob, check, dave, deploy, example, gate, home,  # noqa: E402
                    nodes, processes_of, release, report, run, shots, submit, until, url)


def shot(name):
    path = os.path.join(artifacts, name + ".png")
    driver.save_screenshot(path)
    shots.append(path)


options = webdriver.ChromeOptions()
options.binary_location = "/usr/bin/chromium"
for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
    options.add_argument(a)
options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
requested = []


def collect():
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])


def sign_in(token):
    driver.delete_all_cookies()
    driver.get(url + "/console/login")
    driver.find_element(By.NAME, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    until(lambda: driver.current_url.rstrip("/").endswith("/console"), 10)


try:
    # Sign in with a token; a wrong one is refused.
    driver.get(url + "/console/login")
    driver.find_element(By.NAME, "token").send_keys("hv_00000000_" + "0" * 64)
    driver.find_element(By.CSS_SELECTOR, "form.login button").click()
    check("a wrong token is refused", until(lambda: "not a valid one" in driver.page_source, 10))
    sign_in(bob)
    check("signed in with a token", driver.title.startswith("Runs") and "bob" in driver.page_source, driver.title)
    cookie = driver.get_cookie("heaven_session") or {}
    check("the session cookie is HttpOnly and SameSite=Strict",
          cookie.get("httpOnly") and cookie.get("sameSite") == "Strict", cookie)

    # A finished run: every task in its recorded state, one Gantt bar per attempt on its site.
    fan = example("fan-out.yaml")
    done = submit(fan)
    until(lambda: run(done)["status"] in ("succeeded", "failed"), 60)
    driver.get(url + "/console/runs/" + done)
    shown = nodes(driver)
    recorded = {}
    for a in attempts(done):
        recorded[a["task"]] = a
    wrong = [k for k, a in recorded.items() if shown.get(k) != a["status"]]
    check("the graph shows every task in its recorded state",
          recorded and not wrong and set(recorded) <= set(shown), {"wrong": wrong, "shown": shown})
    main = driver.find_element(By.TAG_NAME, "main")
    check("the page's root says the run and its status",
          main.get_attribute("data-run") == done and main.get_attribute("data-status") == run(done)["status"])
    bars = {b.get_attribute("data-attempt"): b.get_attribute("data-site")
            for b in driver.find_elements(By.CSS_SELECTOR, "#gantt [data-attempt]")}
    expected = {"%s#%d" % (a["task"], a["attempt"]): a.get("site") for a in attempts(done)}
    check("the Gantt chart has one bar per attempt, on its site", bars == expected, {"bars": bars, "expected": expected})
    shot("run")

    # A failed and a timed-out task: each node in its own state (the API's words), with
    # its reason; their Gantt bars in the same states; the chart's axis in seconds.
    broken = submit("kind: Workflow\nname: broken\nsteps:\n  - parallel:\n"
                    "      - task: fail\n        shell: 'sleep 3; echo no scene here >&2; exit 3'\n"
                    "      - task: slow\n        run: [sleep, '60']\n        timeout: 1s\n"
                    "      - task: fine\n        run: ['true']\n")
    until(lambda: run(broken)["status"] == "failed", 60)
    driver.get(url + "/console/runs/" + broken)
    states = driver.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('#graph [data-task]')).map(n => "
        "[n.dataset.task, [n.dataset.state, (n.querySelector('.why') || {}).textContent || '']]))")
    check("a failed and a timed-out task each show their own state and why",
          states.get("fail", [""])[0] == "failed" and "exited with status 3" in states["fail"][1]
          and "no scene here" in states["fail"][1]
          and states.get("slow", [""])[0] == "timed-out" and "timed out after 1s" in states["slow"][1]
          and states.get("fine") == ["succeeded", ""], states)
    bars = driver.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('#gantt [data-attempt]')).map(b => "
        "[b.getAttribute('data-attempt'), b.getAttribute('data-state')]))")
    ticks = driver.execute_script(
        "return Array.from(document.querySelectorAll('#gantt [data-tick]')).map(t => t.textContent)")
    check("the Gantt chart shows those states and a time axis from the run's start",
          bars == {"fail#1": "failed", "slow#1": "timed-out", "fine#1": "succeeded"}
          and ticks[:1] == ["0 s"] and len(ticks) >= 3 and all(t.endswith(" s") for t in ticks),
          {"bars": bars, "ticks": ticks})
    shot("failed")

    # A node turns from running to succeeded without a reload.
    live = submit("kind: Workflow\nname: live\nsteps:\n  - task: gate\n    shell: '%s'\n  - task: hold\n    shell: '%s'\n"
                  % (gate("release1"), gate("release2")))
    until(lambda: any(a["task"] == "gate" for a in attempts(live)), 30)
    driver.get(url + "/console/runs/" + live)
    until(lambda: nodes(driver).get("gate") == "running", 10)
    driver.execute_script("window.__noReload = 1")
    running = nodes(driver).get("gate")
    release(live, "release1")
    turned = until(lambda: nodes(driver).get("gate") == "succeeded", 20)
    same_page = driver.execute_script("return window.__noReload") == 1
    check("a node turns from running to succeeded without a reload", running == "running" and turned and same_page,
          {"before": running, "after": nodes(driver).get("gate"), "same page": same_page})
    release(live, "release2")
    until(lambda: run(live)["status"] == "succeeded", 20)

    # Cancelling from the page stops the run: its processes are gone.
    long = submit("kind: Workflow\nname: long\nsteps:\n  - task: wait\n    run: [sleep, '300']\n")
    until(lambda: processes_of(long), 30)
    driver.get(url + "/console/runs/" + long)
    driver.find_element(By.CSS_SELECTOR, ".actions button.danger").click()
    until(lambda: run(long)["status"] == "cancelled", 20)
    gone = until(lambda: not processes_of(long), 20)
    driver.get(url + "/console/runs/" + long)
    check("cancelling from the page stops the run and its processes",
          run(long)["status"] == "cancelled" and gone
          and driver.find_element(By.TAG_NAME, "main").get_attribute("data-status") == "cancelled",
          {"status": run(long)["status"], "left": processes_of(long)})

    # A log opens and follows; what it holds is text, never markup (the CSP holds).
    talk = submit("kind: Workflow\nname: talk\nsteps:\n  - task: talk\n    shell: 'i=0; %s; echo \"<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>\"; echo finished'\n"
                  % ('while [ ! -e "$HEAVEN_WORKDIR/../../release" ]; do i=$((i+1)); echo line $i; sleep 0.2; done'))
    until(lambda: any(a["task"] == "talk" for a in attempts(talk)), 30)
    driver.get(url + "/console/runs/" + talk)
    until(lambda: driver.find_elements(By.CSS_SELECTOR, '[data-task="talk"] a'), 10)
    driver.find_element(By.CSS_SELECTOR, '[data-task="talk"] a').click()
    until(lambda: "line 2" in driver.find_element(By.ID, "log").text, 10)
    first = driver.find_element(By.ID, "log").text
    grew = until(lambda: len(driver.find_element(By.ID, "log").text) > len(first) + 10, 10)
    shot("log")
    release(talk, "release")
    finished = until(lambda: "finished" in driver.find_element(By.ID, "log").text, 20)
    check("a log opens and follows while the task runs", grew and finished, driver.find_element(By.ID, "log").text[-300:])
    text = driver.find_element(By.ID, "log").text
    injected = driver.execute_script(
        "return [window.__pwned || 0, document.querySelectorAll('#log script, #log img').length]")
    check("markup in a log is shown as text, not run", "<script>window.__pwned=1</script>" in text and injected == [0, 0],
          injected)

    # The list of runs: newest first, each linked; its counts and rows follow new runs.
    driver.get(url + "/console")
    rows = [r.get_attribute("data-run") for r in driver.find_elements(By.CSS_SELECTOR, "#runs tr[data-run]")]
    check("the runs page lists the caller's runs, newest first", rows[:5] == [talk, long, live, broken, done], rows)
    extra = submit("kind: Workflow\nname: extra\nsteps:\n  - task: t\n    run: ['true']\n")
    appeared = until(lambda: driver.find_elements(By.CSS_SELECTOR, '#runs tr[data-run="%s"]' % extra), 15)
    check("a new run appears on the runs page without a reload", appeared)
    shot("runs")

    # A process's page: a form from its inputs; a file chosen and uploaded; the job runs.
    check("a workflow is published as a process", deploy(SCALE) == 201)
    driver.get(url + "/console/processes")
    driver.find_element(By.CSS_SELECTOR, 'tr[data-process="scale"] a').click()
    until(lambda: driver.find_elements(By.ID, "submit"), 10)
    words = os.path.join(os.path.dirname(home), "words.txt")
    with open(words, "w") as f:
        f.write("one two three\n")
    driver.find_element(By.NAME, "text").send_keys(words)
    factor = driver.find_element(By.NAME, "factor")
    bounds = (factor.get_attribute("min"), factor.get_attribute("max"), factor.get_attribute("value"))
    factor.clear()
    factor.send_keys("3")
    Select(driver.find_element(By.NAME, "unit")).select_by_value("words")
    shot("process")
    driver.find_element(By.CSS_SELECTOR, "#submit button").click()
    until(lambda: "/console/runs/" in driver.current_url, 10)
    job = driver.current_url.split("/console/runs/")[-1].split("?")[0]
    until(lambda: run(job)["status"] in ("succeeded", "failed"), 30)
    check("a process's form uploads a file and starts a job with the inputs given",
          bounds == ("1", "10", "2") and run(job)["status"] == "succeeded"
          and (run(job).get("outputs") or {}).get("n") == "9 words", {"bounds": bounds, "job": run(job)})
    # Run again with other inputs: the form filled with the job's, its file kept.
    driver.get(url + "/console/runs/" + job)
    driver.find_element(By.LINK_TEXT, "Run again with other inputs").click()
    until(lambda: driver.find_elements(By.ID, "submit"), 10)
    factor = driver.find_element(By.NAME, "factor")
    filled = (factor.get_attribute("value"), Select(driver.find_element(By.NAME, "unit")).first_selected_option.text)
    factor.clear()
    factor.send_keys("4")
    driver.find_element(By.CSS_SELECTOR, "#submit button").click()
    until(lambda: "/console/runs/" in driver.current_url and job not in driver.current_url, 10)
    again = driver.current_url.split("/console/runs/")[-1].split("?")[0]
    until(lambda: run(again)["status"] in ("succeeded", "failed"), 30)
    check("run again fills the form with the job's inputs and takes its file again",
          filled == ("3", "words") and (run(again).get("outputs") or {}).get("n") == "12 words",
          {"filled": filled, "run": run(again)})

    # Another user's session: the run is not found, its fragments neither.
    sign_in(dave)
    driver.get(url + "/console/runs/" + done)
    check("another user's session gets 404 for the run", "Not found" in driver.find_element(By.TAG_NAME, "h1").text,
          driver.find_element(By.TAG_NAME, "h1").text)
    status = driver.execute_async_script(
        "const done = arguments[0]; fetch('/console/runs/%s/graph').then(r => done(r.status))" % done)
    check("another user's session gets 404 for the run's fragments", status == 404, status)

    # Nothing was asked of anyone but this server.
    collect()
    outside = [u for u in requested if not (u.startswith(url + "/") or u.startswith("data:") or u == url)]
    check("no page loads anything from outside the server", requested and not outside, outside[:10])
finally:
    driver.quit()

report()

"""What the console's browser tests share (chromium through selenium in browser.py,
Firefox through Marionette in firefox.py): their arguments, their report, the API
calls that make runs and processes, and waiting for a state.

    SCRIPT URL HEAVEN_HOME ARTIFACTS BOB_TOKEN DAVE_TOKEN
"""
import json
import os
import sys
import time
import urllib.request

url, home, artifacts, bob, dave = sys.argv[1:6]
checks = {}
shots = []


def check(name, passed, detail=""):
    checks[name] = [bool(passed), str(detail)[:2000]]


def api(method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(url + path, data=data, method=method)
    r.add_header("Authorization", "Bearer " + token)
    if data is not None:
        r.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(r, timeout=30) as reply:
        return json.loads(reply.read() or b"null")


def deploy(yaml):
    r = urllib.request.Request(url + "/processes", data=yaml.encode(), method="POST")
    r.add_header("Authorization", "Bearer " + bob)
    r.add_header("Content-Type", "application/yaml")
    with urllib.request.urlopen(r, timeout=30) as reply:
        return reply.status


# A process with a file, a bounded integer and a choice (scale.yaml).
with open(os.path.join(os.path.dirname(__file__), "scale.yaml")) as f:
    SCALE = f.read()


def submit(yaml):
    return api("POST", "/v1/runs", bob, {"documents": [{"path": "w.yaml", "text": yaml}]})["id"]


def run(id):
    return api("GET", "/v1/runs/" + id, bob)


def attempts(id):
    return api("GET", "/v1/runs/%s/logs" % id, bob)["logs"]


def until(what, seconds=30, step=0.1):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    return what()


def release(id, name):
    open(os.path.join(home, "runs", id, name), "w").close()


def processes_of(id):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                if ("HEAVEN_RUN=" + id).encode() in f.read().split(b"\0"):
                    found.append(pid)
        except OSError:
            pass
    return found


def gate(name, then=""):
    wait = 'while [ ! -e "$HEAVEN_WORKDIR/../../%s" ]; do sleep 0.1; done' % name
    return wait + then


def nodes(driver):
    """Each task node of the run page's graph: its key and state, read at once in the
    page (the graph is replaced as the run goes on: elements found one by one go stale)."""
    pairs = driver.execute_script(
        "return Array.from(document.querySelectorAll('#graph [data-task]'))"
        ".map(n => [n.getAttribute('data-task'), n.getAttribute('data-state')])")
    return {k: v for k, v in pairs or []}


def example(name):
    return open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", name)).read()


def report():
    print(json.dumps({"checks": checks, "screenshots": shots}))

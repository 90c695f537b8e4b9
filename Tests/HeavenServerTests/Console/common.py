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


SCALE = """kind: Workflow
name: scale
title: Scale a count
description: Counts the words of a text and multiplies the count.
inputs:
  text: {type: file, title: The text}
  factor: {type: integer, minimum: 1, maximum: 10, default: 2}
  unit: {type: string, enum: [words, lines]}
steps:
  - task: count
    inputs: {t.txt: '${inputs.text}'}
    run: [sh, -c, 'echo $(( $(wc -w < t.txt) * $1 )) $2', sh, '${inputs.factor}', '${inputs.unit}']
    outputs: {n: {stdout: text}}
outputs: {n: '${count.n}'}
"""


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
    """Each task node of the run page's graph: its key and state."""
    return {n.get_attribute("data-task"): n.get_attribute("data-state")
            for n in driver.find_elements("css selector", "#graph [data-task]")}


def example(name):
    return open(os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", name)).read()


def report():
    print(json.dumps({"checks": checks, "screenshots": shots}))

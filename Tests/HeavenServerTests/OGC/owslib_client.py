"""OWSLib, a real OGC API - Processes client, against a Heaven server.

    owslib_client.py URL TOKEN echo
        lists, describes and executes the `echo` process, synchronously and
        asynchronously (polling the Location it gets), and prints what it saw as JSON.
    owslib_client.py URL TOKEN ndvi RED.tif NIR_URL
        executes the `ndvi` process with the red band inline (base64) and the
        near-infrared one by reference, asynchronously, and downloads the COG it makes
        and its statistics into ndvi.tif and stats.json (the current directory).

Exits 1 with the reason on anything unexpected.
"""
import base64
import json
import sys
import time

import requests
from owslib.ogcapi.processes import Processes

url, token, what = sys.argv[1], sys.argv[2], sys.argv[3]
headers = {"Authorization": "Bearer " + token}
p = Processes(url, headers=headers)


def fail(why):
    print(why, file=sys.stderr)
    sys.exit(1)


def wait(location):
    """Polls a job's status until it ends."""
    for _ in range(1200):
        status = requests.get(location, headers=headers, timeout=30).json()
        if status["status"] in ("successful", "failed", "dismissed"):
            return status
        time.sleep(0.1)
    fail("the job did not end: " + location)


if what == "echo":
    seen = {}
    seen["processes"] = [x["id"] for x in p.processes()]
    description = p.process("echo")
    seen["inputs"] = sorted(description["inputs"])
    seen["sync"] = p.execute("echo", inputs={"message": "hello from OWSLib"})
    started = p.execute("echo", inputs={"message": "later"}, async_=True)
    location = p.response_headers["Location"]
    seen["async_status"] = started["status"]
    status = wait(location)
    seen["async_final"] = status["status"]
    results = next(l["href"] for l in status["links"] if l["rel"].endswith("/results"))
    seen["async_results"] = requests.get(results, headers=headers, timeout=30).json()
    print(json.dumps(seen))
elif what == "ndvi":
    red, nir_url = sys.argv[4], sys.argv[5]
    with open(red, "rb") as f:
        inline = base64.b64encode(f.read()).decode()
    inputs = {
        "red": {"value": inline, "encoding": "base64", "mediaType": "image/tiff; application=geotiff"},
        "nir": {"href": nir_url, "type": "image/tiff; application=geotiff"},
        "tile": 256,
    }
    p.execute("ndvi", inputs=inputs, async_=True)
    status = wait(p.response_headers["Location"])
    if status["status"] != "successful":
        fail("the job ended " + status["status"] + ": " + status.get("message", ""))
    results = next(l["href"] for l in status["links"] if l["rel"].endswith("/results"))
    document = requests.get(results, headers=headers, timeout=30).json()
    cog = document["ndvi"]
    reply = requests.get(cog["href"], headers=headers, timeout=60)
    if reply.status_code != 200:
        fail("the COG: HTTP %d" % reply.status_code)
    with open("ndvi.tif", "wb") as f:
        f.write(reply.content)
    stats = requests.get(document["stats"]["href"], headers=headers, timeout=30)
    with open("stats.json", "wb") as f:
        f.write(stats.content)
    print(json.dumps({"type": cog.get("type"), "tiles": document.get("tiles"), "mean": document.get("mean"),
                      "bytes": len(reply.content)}))
else:
    fail("what? " + what)

"""A loopback HTTP server for the tests of OGC API - Processes: it serves the files of
a directory, answers `/redirect?to=URL` with a 302 to URL, accepts POSTs (callbacks),
and records every request it gets (method, path, body) as JSON lines in a log, so
that a test can tell what the server under test fetched or sent, and what it did not.

    recorder.py DIRECTORY LOG PORTFILE

It binds 127.0.0.1 on a free port, writes the port to PORTFILE, and serves until killed.
"""
import http.server
import json
import os
import sys
import urllib.parse

directory, log, portfile = sys.argv[1], sys.argv[2], sys.argv[3]


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=directory, **kwargs)

    def record(self, body=b""):
        with open(log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "body": body.decode("utf-8", "replace")}) + "\n")

    def do_GET(self):
        self.record()
        url = urllib.parse.urlparse(self.path)
        if url.path == "/redirect":
            target = urllib.parse.parse_qs(url.query)["to"][0]
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.record(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()

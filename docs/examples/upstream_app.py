#!/usr/bin/python3
"""upstream_app.py - the API that apache-oauth2.conf protects. Apache has already asked
Warrant whether the bearer token is active; it passes the token's claims in OAUTH2_CLAIM_*
request headers (and removes any such header a client sent), so the API only reads them.
Bind it to loopback: only Apache may reach it.

Usage: upstream_app.py 127.0.0.1:9000"""
import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        claim = lambda name: self.headers.get("OAUTH2_CLAIM_" + name)
        if not claim("sub"):
            return self.reply(403, {"error": "not through the gateway"})
        # who is calling, on whose behalf, in which run: the token's claims
        self.reply(200, {"path": self.path, "agent": claim("sub"), "owner": claim("owner_id"),
                         "workspace": claim("ws"), "scope": claim("scope"), "run_id": claim("run_id")})

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    host, port = sys.argv[1].rsplit(":", 1)
    http.server.ThreadingHTTPServer((host, int(port)), Handler).serve_forever()

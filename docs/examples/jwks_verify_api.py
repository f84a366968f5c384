#!/usr/bin/python3
"""jwks_verify_api.py - an API that verifies Warrant access tokens itself, against the
issuer's published keys (/jwks), without calling Warrant per request.

It checks what RFC 9068 asks of a resource server: the JWT header's typ is at+jwt, the
signature verifies with a key from the issuer's JWKS (looked up by kid; the algorithm is
never taken from the token alone), iss is the issuer, aud contains this API's audience,
and exp has not passed (with a leeway for clock skew).

The trade-off: it cannot see revocations. A token revoked at Warrant, or minted by an agent
that has since been suspended, keeps working here until its exp (300 s by default). Use
introspection where that matters.

Usage:
  jwks_verify_api.py --listen 127.0.0.1:9001 --issuer https://auth.example.com \\
                     --audience https://orders.example.com [--leeway 60]
Needs: python3-jwt (PyJWT 2) and python3-cryptography."""
import argparse
import http.server
import json
import urllib.request

import jwt

ALGORITHMS = ["ES256", "RS256"]  # what Warrant signs with
TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068 §4
REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"]


class Verifier:
    def __init__(self, issuer, audience, leeway):
        meta_url = issuer.rstrip("/") + "/.well-known/oauth-authorization-server"
        with urllib.request.urlopen(meta_url, timeout=10) as r:
            meta = json.load(r)
        if meta.get("issuer") != issuer:
            raise SystemExit("metadata names issuer %r, not %r" % (meta.get("issuer"), issuer))
        # caches the key set for 5 minutes; fetches it again when a token names an unknown kid
        self.jwks = jwt.PyJWKClient(meta["jwks_uri"])
        self.issuer, self.audience, self.leeway = issuer, audience, leeway

    def verify(self, token):
        """Returns the token's claims, or raises jwt.PyJWTError."""
        header = jwt.get_unverified_header(token)
        if str(header.get("typ", "")).lower() not in TYPES:
            raise jwt.InvalidTokenError("not an access token (typ %r)" % header.get("typ"))
        key = self.jwks.get_signing_key(header.get("kid"))
        return jwt.decode(token, key.key, algorithms=ALGORITHMS, issuer=self.issuer,
                          audience=self.audience, leeway=self.leeway,
                          options={"require": REQUIRED})


class Handler(http.server.BaseHTTPRequestHandler):
    verifier = None

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self.reply(401, {"error": "invalid_request"}, 'Bearer realm="api"')
        try:
            claims = self.verifier.verify(auth[len("Bearer "):].strip())
        except jwt.PyJWTError:
            return self.reply(401, {"error": "invalid_token"}, 'Bearer realm="api", error="invalid_token"')
        self.reply(200, {"path": self.path, "agent": claims["sub"], "owner": claims.get("owner_id"),
                         "workspace": claims.get("ws"), "scope": claims["scope"],
                         "run_id": claims.get("run_id"), "exp": claims["exp"]})

    def reply(self, status, obj, challenge=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        if challenge:
            self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", default="127.0.0.1:9001")
    p.add_argument("--issuer", required=True, help="Warrant's issuer URL")
    p.add_argument("--audience", help="this API's audience (default: the issuer, Warrant's default)")
    p.add_argument("--leeway", type=int, default=60, help="seconds of clock skew allowed (default 60)")
    a = p.parse_args()
    Handler.verifier = Verifier(a.issuer, a.audience or a.issuer, a.leeway)
    host, port = a.listen.rsplit(":", 1)
    http.server.ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()

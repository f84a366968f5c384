#!/usr/bin/env python3
"""dpop_resource_server.py - a resource server that accepts Warrant's DPoP-bound access
tokens (RFC 9449 §7) and nothing else: python3 standard library plus python3-jwt and
python3-cryptography.

    python3 dpop_resource_server.py --issuer https://warrant.example.com \
        [--audience URI] [--port 8081] [--public-url https://api.example.com]

Each request must carry `Authorization: DPoP <access token>` and one `DPoP` header holding
a proof made for this very request. The server checks, in order:

  1. the access token (RFC 9068): signature by a key of the issuer's /jwks, header typ
     "at+jwt", iss, aud, exp/nbf; and a cnf.jkt claim: the token is DPoP-bound;
  2. the proof (RFC 9449 §4.3): typ "dpop+jwt"; alg ES256, RS256, PS256 or EdDSA (never
     none or an HMAC); a public jwk (no private members) whose signature verifies; htm the
     request's method; htu this request's URL without query or fragment; iat within 60 s;
     a jti not seen in the last 5 minutes (remembered in memory: one process; several
     replicas need a shared store);
  3. the binding (RFC 9449 §7.1): ath is the base64url SHA-256 of the access token, and the
     proof key's RFC 7638 thumbprint equals the token's cnf.jkt.

Any failure is 401 with `WWW-Authenticate: DPoP error="..."`; GET /orders answers the
token's subject on success, GET /healthz is open."""
import argparse
import base64
import hashlib
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt

PROOF_ALGS = ["ES256", "RS256", "PS256", "EdDSA"]
IAT_WINDOW = 60  # seconds a proof's iat may be from now, either way
JTI_MEMORY = 300  # seconds a proof's jti is remembered
PROOF_MAX = 8192  # bytes of a DPoP header
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


class Refused(Exception):
    def __init__(self, error, why):
        super().__init__(why)
        self.error = error
        self.why = why


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def thumbprint(jwk):
    """RFC 7638 §3: the required members in lexicographic order, no whitespace, SHA-256."""
    members = THUMBPRINT_MEMBERS.get(jwk.get("kty"))
    if not members or any(not isinstance(jwk.get(m), str) for m in members):
        raise Refused("invalid_dpop_proof", "unsupported jwk")
    canon = json.dumps({m: jwk[m] for m in members}, sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(canon.encode()).digest())


class Checker:
    def __init__(self, issuer, audience):
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwt.PyJWKClient(issuer + "/jwks", cache_keys=True)
        self.seen = {}  # jti -> when it may be forgotten
        self.lock = threading.Lock()

    def access_token(self, token):
        """Step 1: the token's claims, or Refused."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("typ") != "at+jwt":
                raise Refused("invalid_token", "not an access token")
            key = self.jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=PROOF_ALGS, audience=self.audience, issuer=self.issuer,
                                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except Refused:
            raise
        except Exception as e:  # noqa: BLE001 - any failure of the token is the same answer
            raise Refused("invalid_token", "token: %s" % type(e).__name__)
        cnf = claims.get("cnf")
        if not isinstance(cnf, dict) or not isinstance(cnf.get("jkt"), str):
            raise Refused("invalid_token", "the token is not DPoP-bound")
        return claims

    def proof(self, proof, method, url, token):
        """Steps 2 and 3: the proof's key thumbprint, or Refused."""
        if not proof or len(proof) > PROOF_MAX:
            raise Refused("invalid_dpop_proof", "missing or oversized proof")
        try:
            header = jwt.get_unverified_header(proof)
        except Exception:  # noqa: BLE001
            raise Refused("invalid_dpop_proof", "malformed proof")
        jwk = header.get("jwk")
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in PROOF_ALGS or not isinstance(jwk, dict):
            raise Refused("invalid_dpop_proof", "bad proof header")
        if PRIVATE_MEMBERS & set(jwk):
            raise Refused("invalid_dpop_proof", "private key material in the proof")
        try:
            key = jwt.PyJWK(jwk, header["alg"]).key
            claims = jwt.decode(proof, key, algorithms=[header["alg"]],
                                options={"verify_aud": False, "verify_exp": False, "verify_iat": False})
        except Exception as e:  # noqa: BLE001
            raise Refused("invalid_dpop_proof", "proof signature: %s" % type(e).__name__)
        now = time.time()
        iat, jti = claims.get("iat"), claims.get("jti")
        if claims.get("htm") != method or claims.get("htu") != url:
            raise Refused("invalid_dpop_proof", "proof made for another request")
        if not isinstance(iat, int) or abs(now - iat) > IAT_WINDOW:
            raise Refused("invalid_dpop_proof", "proof too old or from the future")
        if not isinstance(jti, str) or not jti or len(jti) > 128:
            raise Refused("invalid_dpop_proof", "bad jti")
        ath = b64u(hashlib.sha256(token.encode()).digest())
        if claims.get("ath") != ath:
            raise Refused("invalid_dpop_proof", "proof for another access token")
        jkt = thumbprint(jwk)
        with self.lock:
            for k in [k for k, t in self.seen.items() if t < now]:
                del self.seen[k]
            key_jti = jkt + ":" + jti
            if key_jti in self.seen:
                raise Refused("invalid_dpop_proof", "proof replayed")
            self.seen[key_jti] = now + JTI_MEMORY
        return jkt

    def check(self, method, url, authorization, proofs):
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "dpop" or not token:
            # a DPoP-bound token presented as Bearer is refused (RFC 9449 §7.2)
            raise Refused("invalid_token", "DPoP authorization required")
        if len(proofs) != 1:
            raise Refused("invalid_dpop_proof", "exactly one DPoP header")
        claims = self.access_token(token)
        jkt = self.proof(proofs[0], method, url, token)
        if jkt != claims["cnf"]["jkt"]:
            raise Refused("invalid_dpop_proof", "proof key is not the token's key")
        return claims


def handler_for(checker, public_url):
    class Handler(BaseHTTPRequestHandler):
        def answer(self, status, body, challenge=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            if challenge:
                self.send_header("WWW-Authenticate", 'DPoP algs="%s", error="%s"' % (" ".join(PROOF_ALGS),
                                                                                     challenge))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.handle_api("GET")

        def do_POST(self):
            self.handle_api("POST")

        def handle_api(self, method):
            path = urllib.parse.urlsplit(self.path).path
            if path == "/healthz":
                return self.answer(200, {"status": "ok"})
            # RFC 9449 §4.3: htu without query and fragment
            base = public_url or "http://" + (self.headers.get("Host") or "")
            url = base.rstrip("/") + path
            try:
                claims = checker.check(method, url, self.headers.get("Authorization"),
                                       self.headers.get_all("DPoP") or [])
            except Refused as r:
                return self.answer(401, {"error": r.error, "error_description": r.why}, r.error)
            if path != "/orders":
                return self.answer(404, {"error": "not_found"})
            return self.answer(200, {"sub": claims["sub"], "scope": claims.get("scope", ""), "orders": []})

        def log_message(self, fmt, *args):
            pass

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--issuer", required=True, help="Warrant's issuer URL")
    ap.add_argument("--audience", help="the aud this API expects (default: the issuer)")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--public-url", help="this API's URL as clients see it (default: from Host)")
    a = ap.parse_args()
    checker = Checker(a.issuer.rstrip("/"), a.audience or a.issuer.rstrip("/"))
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), handler_for(checker, a.public_url))
    srv.serve_forever()


if __name__ == "__main__":
    main()

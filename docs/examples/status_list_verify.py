#!/usr/bin/python3
"""status_list_verify.py - verifies a Warrant access token locally, revocation included:
the signature against the issuer's /jwks, then the token's bit in its Token Status List
(draft-ietf-oauth-status-list), fetched from the issuer and cached for the list's `ttl`.

Access token (RFC 9068): header typ at+jwt; signature by a key of the issuer's JWKS, looked
up by kid (the algorithm is never taken from the token alone); iss is the issuer; aud
contains this API's audience; exp not passed (with a leeway for clock skew); a `status`
claim {"status_list": {"idx", "uri"}} whose uri is under the issuer.

Status List Token (draft §5): fetched from that uri (Accept: application/statuslist+jwt),
header typ statuslist+jwt; signed by a key of the same JWKS; sub equal to the uri; iat,
exp (not passed) and ttl present; status_list.bits is 1; lst is base64url of a zlib stream;
the token's bit (bit idx % 8, least significant first, of byte idx // 8) must be 0. A list
that cannot be fetched or checked refuses the token: fail closed.

What it buys over plain JWKS verification: a token revoked at Warrant (or whose agent,
owner, run or credential was killed) is refused within ttl (5 s) plus a second, not at exp.

Usage:
  status_list_verify.py --issuer https://auth.example.com --audience https://orders.example.com \\
                        [--leeway 60] TOKEN            # or the token on stdin
  exit 0 and the claims as JSON when the token is good; exit 1 and the reason otherwise.
Needs: python3-jwt (PyJWT 2) and python3-cryptography. As a module: Verifier(...).verify(t)."""
import argparse
import base64
import json
import sys
import time
import urllib.request
import zlib

import jwt

ALGORITHMS = ["ES256", "RS256"]  # what Warrant signs with
AT_TYPES = ("at+jwt", "application/at+jwt")  # RFC 9068 §4
SL_TYPES = ("statuslist+jwt", "application/statuslist+jwt")  # draft §5.1
REQUIRED = ["iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope", "status"]
MAX_LIST_BYTES = 4 << 20  # a list larger than this once decompressed is refused


class Refused(Exception):
    """The token is not to be accepted; str() says why."""


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Verifier:
    def __init__(self, issuer, audience, leeway=60):
        meta_url = issuer.rstrip("/") + "/.well-known/oauth-authorization-server"
        with urllib.request.urlopen(meta_url, timeout=10) as r:
            meta = json.load(r)
        if meta.get("issuer") != issuer:
            raise SystemExit("metadata names issuer %r, not %r" % (meta.get("issuer"), issuer))
        # caches the key set; fetches it again when a token names an unknown kid
        self.jwks = jwt.PyJWKClient(meta["jwks_uri"])
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self.lists = {}  # uri -> (bits, fetched_at, ttl, exp)

    def _key(self, token):
        try:
            return self.jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWTError as e:
            raise Refused("no key for this token: %s" % e)

    def _status_list(self, uri):
        """The bytes of the list at uri: from the cache while younger than its ttl."""
        now = time.time()
        hit = self.lists.get(uri)
        if hit and now < hit[1] + hit[2] and now < hit[3]:
            return hit[0]
        req = urllib.request.Request(uri, headers={"Accept": "application/statuslist+jwt"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                doc = r.read().decode("ascii")
        except (OSError, ValueError) as e:
            raise Refused("status list unavailable: %s" % e)
        try:
            header = jwt.get_unverified_header(doc)
            if str(header.get("typ", "")).lower() not in SL_TYPES:
                raise Refused("not a status list (typ %r)" % header.get("typ"))
            claims = jwt.decode(doc, self._key(doc), algorithms=ALGORITHMS, leeway=self.leeway,
                                options={"require": ["sub", "iat", "exp"], "verify_aud": False})
        except jwt.PyJWTError as e:
            raise Refused("status list rejected: %s" % e)
        sl = claims.get("status_list") or {}
        ttl = claims.get("ttl")
        if claims["sub"] != uri or sl.get("bits") != 1 or not isinstance(sl.get("lst"), str) \
                or not isinstance(ttl, int) or ttl < 0:
            raise Refused("status list claims are not as expected")
        try:
            d = zlib.decompressobj()
            bits = d.decompress(b64url(sl["lst"]), MAX_LIST_BYTES)
            if d.unconsumed_tail:
                raise Refused("status list too large")
        except (zlib.error, ValueError):
            raise Refused("status list does not decode")
        self.lists[uri] = (bits, now, ttl, claims["exp"])
        return bits

    def verify(self, token):
        """Returns the token's claims, or raises Refused."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise Refused("malformed: %s" % e)
        if str(header.get("typ", "")).lower() not in AT_TYPES:
            raise Refused("not an access token (typ %r)" % header.get("typ"))
        try:
            claims = jwt.decode(token, self._key(token), algorithms=ALGORITHMS, issuer=self.issuer,
                                audience=self.audience, leeway=self.leeway, options={"require": REQUIRED})
        except jwt.PyJWTError as e:
            raise Refused("invalid token: %s" % e)
        ref = (claims.get("status") or {}).get("status_list") or {}
        idx, uri = ref.get("idx"), ref.get("uri")
        if not isinstance(idx, int) or idx < 0 or not isinstance(uri, str) \
                or not uri.startswith(self.issuer.rstrip("/") + "/"):
            raise Refused("no usable status claim")
        bits = self._status_list(uri)
        if idx // 8 >= len(bits):
            raise Refused("index outside the status list")
        if bits[idx // 8] >> (idx % 8) & 1:
            raise Refused("revoked")
        return claims


def main():
    ap = argparse.ArgumentParser(description="verify a Warrant access token with its status list")
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--audience", required=True)
    ap.add_argument("--leeway", type=int, default=60)
    ap.add_argument("token", nargs="?")
    a = ap.parse_args()
    token = (a.token or sys.stdin.read()).strip()
    try:
        claims = Verifier(a.issuer, a.audience, a.leeway).verify(token)
    except Refused as e:
        print("refused: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps(claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""dpop_proofs.py N HTU OUT - writes N DPoP proofs (RFC 9449 §4.2) for POST HTU, one a line,
each with its own jti and iat now, signed ES256 by one P-256 key, for bench/dpop.lua to
use each once. Made with python3-cryptography, never Warrant's code; the proofs must be
used within a minute (the server's iat window), so run.sh makes them right before a point."""
import base64
import json
import os
import sys
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def main():
    n, htu, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64u(pub.x.to_bytes(32, "big")), "y": b64u(pub.y.to_bytes(32, "big"))}
    header = b64u(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, separators=(",", ":")).encode())
    iat = int(time.time())
    prefix = os.urandom(6).hex()
    algo = ec.ECDSA(hashes.SHA256())
    with open(out, "w") as f:
        for i in range(n):
            claims = '{"htm":"POST","htu":%s,"iat":%d,"jti":"%s-%d"}' % (json.dumps(htu), iat, prefix, i)
            signing_input = header + "." + b64u(claims.encode())
            r, s = decode_dss_signature(key.sign(signing_input.encode(), algo))
            f.write(signing_input + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big")) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""assertions.py - pre-signs private_key_jwt client assertions for the bench (python3-jwt,
never Warrant's code): for each agent of $1 (lines "agt_ID<TAB>private JWK file"), N
assertions with unique jtis, iat now and exp now + 300 (the longest SPEC allows), spread
over T files $2-1.txt .. $2-T.txt (one per wrk thread), one form body a line.

usage: assertions.py AGENTS OUT_PREFIX COUNT THREADS ISSUER"""
import json
import sys
import time
import urllib.parse

import jwt

agents_file, prefix, count, threads, issuer = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
agents = []
for line in open(agents_file):
    aid, path = line.split()
    with open(path) as f:
        jwk = json.load(f)
    agents.append((aid, jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(jwk)), jwk.get("kid")))
outs = [open("%s-%d.txt" % (prefix, t + 1), "w") for t in range(threads)]
now = int(time.time())
T = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
for i in range(count):
    aid, key, kid = agents[i % len(agents)]
    a = jwt.encode({"iss": aid, "sub": aid, "aud": issuer, "iat": now, "exp": now + 300,
                    "jti": "b%d-%d" % (now, i)}, key, algorithm="ES256", headers={"kid": kid} if kid else None)
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_assertion_type": T,
                                   "client_assertion": a})
    outs[i % threads].write(body + "\n")
for f in outs:
    f.close()

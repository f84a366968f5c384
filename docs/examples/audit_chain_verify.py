#!/usr/bin/python3
"""audit_chain_verify.py - checks an export of Warrant's audit trail (`warrant audit --json`,
`GET /v1/audit`, or the rows of webhook batches, one JSON object a line) without Warrant's
code: every chain's seq is gapless and every row's hash is SHA-256 of the previous row's
hash and the row's canonical JSON (docs/integrations.md, "Audit verification and
streaming"). Also the check of a webhook batch's X-Warrant-Signature.

usage: audit_chain_verify.py EXPORT.jsonl   (exit 0 and a summary, or 1 and the first bad row)"""
import hashlib, json

KEYS = ("chain", "seq", "time_ms", "event", "actor", "agent_id", "owner_id", "run_id", "ws",
        "jti", "client_addr", "outcome", "request_id", "detail")

def s(v):
    out = ['"']
    for ch in v:
        c = ord(ch)
        out.append({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
                   or ("\\u%04x" % c if c < 0x20 or c == 0x7f else ch))
    return "".join(out) + '"'

def canon(v):
    if v is None: return "null"
    if v is True: return "true"
    if v is False: return "false"
    if isinstance(v, int): return str(v)
    if isinstance(v, str): return s(v)
    if isinstance(v, list): return "[" + ",".join(map(canon, v)) + "]"
    return "{" + ",".join(s(k) + ":" + canon(x) for k, x in v.items()) + "}"

def verify(lines):
    prev = {}
    for r in sorted((json.loads(l) for l in lines if l.strip()), key=lambda r: (r["chain"], r["seq"])):
        p = prev.get(r["chain"], (0, bytes(32)))
        assert r["seq"] == p[0] + 1, ("missing or inserted", r["chain"], r["seq"])
        text = "{" + ",".join(s(k) + ":" + canon(r[k]) for k in KEYS) + "}"
        h = hashlib.sha256(p[1] + text.encode()).hexdigest()
        assert h == r["hash"], ("altered", r["chain"], r["seq"])
        prev[r["chain"]] = (r["seq"], bytes.fromhex(h))


import hashlib, hmac
def authentic(body: bytes, header: str, secret: bytes) -> bool:
    return hmac.compare_digest(header, "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest())


if __name__ == "__main__":
    import sys
    with open(sys.argv[1]) as f:
        lines = f.readlines()
    try:
        verify(lines)
    except AssertionError as e:
        print("not verified: %s" % (e.args[0],))
        sys.exit(1)
    print("verified: %d rows" % sum(1 for line in lines if line.strip()))

"""test_status_list.py - the Token Status List (draft-ietf-oauth-status-list; SPEC "Resource
servers"): every access token carries {"status":{"status_list":{"idx","uri"}}}; GET
/statuslists/K answers a Status List Token decoded here independently (python3-jwt against
/jwks, python3 zlib): typ statuslist+jwt, sub, iat, exp, ttl, bits 1; ETag and 304,
Cache-Control max-age equal to ttl; unknown K is 404. Every kill switch sets its token's
bit within one second of the command's return while the other tokens' bits stay 0, and
every bit agrees with /introspect. docs/examples/status_list_verify.py accepts a live
token and refuses it once revoked. With WARRANT_TEST_PG, three nodes on one database: lists
numbered apart, every node serves every list, a revocation made anywhere is in every
node's list within a second.

One database and one server serve the module (the three nodes have their own)."""
import base64
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.parse
import zlib

import jwt

import harness
from harness import Env, basic_header, close_module_env, jwt_parts, module_env

FORM = "application/x-www-form-urlencoded"
SEEN = 1.0  # SPEC: a bit is set within one second of what makes the token inactive
SLACK = 0.25  # the test's own fetch and decoding of the list, on a shared machine
TTL = 5  # SPEC: ttl is 5 s by default
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
VERIFIER = os.path.join(ROOT, "docs", "examples", "status_list_verify.py")
PY = "/usr/bin/python3"  # python3-jwt is a Debian package

_state = {}
_cluster = {}


def _setup(env, st):
    st["gw"] = env.cli("resource", "add", "gateway")
    st["srv"] = env.serve()


def ctx():
    return module_env(_state, _setup)


def teardown_module():
    close_module_env(_state)
    close_module_env(_cluster, ("env", "restart_env"))


# ---- helpers ----

def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def new_token(srv, agent, secret=None, **params):
    st, _, body = srv.token(agent["client_id"], secret or agent["client_secret"], **params)
    assert st == 200, (st, body)
    return body["access_token"]


def status_ref(token):
    ref = jwt_parts(token)[1]["status"]["status_list"]
    return ref["uri"], ref["idx"]


def fetch_list(srv, uri, headers=None):
    """GETs the list at uri from srv (any node: the path is what counts); returns
    (status, headers, body)."""
    path = urllib.parse.urlsplit(uri).path
    return srv.request("GET", path, headers=headers)


def decode_list(srv, uri, body):
    """Verifies a Status List Token independently; returns its bit array."""
    doc = body.decode("ascii")
    header = jwt.get_unverified_header(doc)
    assert header["typ"] == "statuslist+jwt", header
    st, _, jwks = srv.get_json("/jwks")
    assert st == 200
    keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
    assert header["kid"] in keys, header
    claims = jwt.decode(doc, keys[header["kid"]].key, algorithms=["ES256", "RS256"],
                        options={"require": ["sub", "iat", "exp"], "verify_aud": False})
    assert claims["sub"] == uri, claims
    assert claims["ttl"] == TTL, claims
    assert claims["iat"] <= time.time() + 1 and claims["exp"] >= claims["iat"] + TTL, claims
    assert claims["status_list"]["bits"] == 1, claims
    return zlib.decompress(b64url(claims["status_list"]["lst"]))


def bit(srv, token):
    uri, idx = status_ref(token)
    st, _, body = fetch_list(srv, uri)
    assert st == 200, (st, uri, body)
    bits = decode_list(srv, uri, body)
    return bits[idx // 8] >> (idx % 8) & 1


def introspect_active(srv, token):
    gw = ctx()["gw"]
    st, _, b = srv.request("POST", "/introspect", urllib.parse.urlencode({"token": token}),
                           {"Content-Type": FORM, "Authorization": basic_header(gw["client_id"], gw["client_secret"])})
    assert st == 200, (st, b)
    return json.loads(b)["active"]


def wait_bits(srv, victims, since):
    """Polls until every token of victims (name -> token) has bit 1; each must within SEEN
    of since (the return of what killed it). Returns the seconds it took."""
    left = dict(victims)
    while left:
        now = time.monotonic()
        for name, tok in list(left.items()):
            if bit(srv, tok):
                del left[name]
        assert now - since <= SEEN + SLACK, "bit not set after %.2f s: %s" % (now - since, sorted(left))
        if left:
            time.sleep(0.05)
    return now - since


def scenario(env, verbs="tickets:read tickets:note"):
    o = env.owner()
    ws = env.workspace()
    env.member(ws["id"], o["id"], verbs)
    return o, ws


# ---- the list itself ----

def test_token_status_claim_and_list_document():
    s = ctx()
    env, srv = s["env"], s["srv"]
    o, _ = scenario(env)
    a = env.agent(o["id"], "tickets:read")
    t1, t2 = new_token(srv, a), new_token(srv, a)
    uri, idx = status_ref(t1)
    uri2, idx2 = status_ref(t2)
    assert uri.startswith(srv.base + "/statuslists/") and isinstance(idx, int) and idx >= 0
    assert (uri, idx) != (uri2, idx2), "two tokens share a bit"
    st, h, body = fetch_list(srv, uri)
    assert st == 200, (st, body)
    assert h["content-type"] == "application/statuslist+jwt", h
    assert h["cache-control"] == "public, max-age=%d" % TTL, h
    etag = h["etag"]
    assert etag.startswith('"') and etag.endswith('"'), etag
    bits = decode_list(srv, uri, body)
    assert len(bits) * 8 > max(idx, idx2)
    assert bits[idx // 8] >> (idx % 8) & 1 == 0 and bits[idx2 // 8] >> (idx2 % 8) & 1 == 0
    # RFC 9110 §13.1.2: the same representation is not sent again
    st, h2, b = fetch_list(srv, uri, {"If-None-Match": etag})
    assert st == 304 and b == b"" and h2["etag"] == etag, (st, h2, b)
    st, _, _ = fetch_list(srv, uri, {"If-None-Match": '"other"'})
    assert st == 200
    st, h, _ = srv.request("HEAD", urllib.parse.urlsplit(uri).path)
    assert st == 200 and h["etag"] == etag
    for bad in ("/statuslists/999999", "/statuslists/0", "/statuslists/abc", "/statuslists/",
                "/statuslists/1x", "/statuslists/-1", "/statuslists/99999999999999999999999"):
        st, _, b = srv.request("GET", bad)
        assert st == 404, (bad, st, b)
    st, _, _ = srv.request("POST", urllib.parse.urlsplit(uri).path, "", {"Content-Type": FORM})
    assert st == 405


def test_every_kill_switch_sets_its_bit_within_a_second():
    s = ctx()
    env, srv = s["env"], s["srv"]
    o1, ws1 = scenario(env)
    ag = {n: env.agent(o1["id"], "tickets:read tickets:note", name=n)
          for n in ("jti", "http", "run", "agent", "suspend", "retire", "cred", "control")}
    o2, ws2 = scenario(env)  # member remove
    b_rm = env.agent(o2["id"], "tickets:read")
    o3, ws3 = scenario(env)  # member set: narrowed to tickets:read
    c_set = env.agent(o3["id"], "tickets:read tickets:note")
    o4, _ = scenario(env)  # owner deactivate
    d_own = env.agent(o4["id"], "tickets:read")
    rotated = env.cli("agent", "rotate", ag["cred"]["id"], "--grace", "600")

    victims = {
        "revoke --jti": new_token(srv, ag["jti"]),
        "/revoke": new_token(srv, ag["http"]),
        "revoke --run": new_token(srv, ag["run"], run_id="doomed"),
        "revoke --agent": new_token(srv, ag["agent"]),
        "agent suspend": new_token(srv, ag["suspend"]),
        "agent retire": new_token(srv, ag["retire"]),
        "credential revoke": new_token(srv, ag["cred"]),  # the old secret, in its grace
        "member remove": new_token(srv, b_rm),
        "member set": new_token(srv, c_set, scope="tickets:note"),
        "owner deactivate": new_token(srv, d_own),
    }
    bystanders = {
        "same agent as revoke --jti": new_token(srv, ag["jti"]),
        "same agent as /revoke": new_token(srv, ag["http"]),
        "another run": new_token(srv, ag["run"], run_id="kept"),
        "another credential": new_token(srv, ag["cred"], secret=rotated["client_secret"]),
        "scope still allowed": new_token(srv, c_set, scope="tickets:read"),
        "control": new_token(srv, ag["control"]),
    }
    for name, tok in list(victims.items()) + list(bystanders.items()):
        assert bit(srv, tok) == 0, name
    cred_id = jwt_parts(victims["credential revoke"])[1]["cred_id"]

    switches = [
        ("revoke --jti", lambda: env.cli("revoke", "--jti", jwt_parts(victims["revoke --jti"])[1]["jti"])),
        ("/revoke", lambda: srv.post_form("/revoke", {"token": victims["/revoke"]},
                                          basic=(ag["http"]["client_id"], ag["http"]["client_secret"]))),
        ("revoke --run", lambda: env.cli("revoke", "--run", "doomed", "--agent", ag["run"]["id"])),
        ("revoke --agent", lambda: env.cli("revoke", "--agent", ag["agent"]["id"])),
        ("agent suspend", lambda: env.cli("agent", "suspend", ag["suspend"]["id"])),
        ("agent retire", lambda: env.cli("agent", "retire", ag["retire"]["id"])),
        ("credential revoke", lambda: env.cli("credential", "revoke", cred_id)),
        ("member remove", lambda: env.member(ws2["id"], o2["id"], None, op="remove")),
        ("member set", lambda: env.member(ws3["id"], o3["id"], "tickets:read", op="set")),
        ("owner deactivate", lambda: env.cli("owner", "deactivate", o4["id"])),
    ]
    took = []
    for name, act in switches:
        act()
        took.append("%s %d ms" % (name, 1000 * wait_bits(srv, {name: victims[name]}, time.monotonic())))
    print("  bit set after: " + ", ".join(took))
    for name, tok in bystanders.items():
        assert bit(srv, tok) == 0, "bystander's bit set: " + name
        assert introspect_active(srv, tok), name
    for name, tok in victims.items():
        assert not introspect_active(srv, tok), name  # the bit agrees with /introspect

    # suspended, then resumed: the old tokens stay inactive (SPEC), so their bits stay 1
    env.cli("agent", "resume", ag["suspend"]["id"])
    fresh = new_token(srv, ag["suspend"])
    after_kill = new_token(srv, ag["agent"])  # revoke --agent: new tokens are allowed
    time.sleep(SEEN)
    assert bit(srv, victims["agent suspend"]) == 1
    assert not introspect_active(srv, victims["agent suspend"])
    assert bit(srv, fresh) == 0 and introspect_active(srv, fresh)
    assert bit(srv, after_kill) == 0 and introspect_active(srv, after_kill)


def test_delegation_chain_sets_downstream_bits():
    """When token exchange (RFC 8693) is served: revoking the subject token sets the bit of
    the token exchanged for it."""
    s = ctx()
    env, srv = s["env"], s["srv"]
    _, _, meta = srv.get_json("/.well-known/oauth-authorization-server")
    grant = "urn:ietf:params:oauth:grant-type:token-exchange"
    if grant not in meta.get("grant_types_supported", []):
        raise harness.Skip("token exchange is not served")
    o, _ = scenario(env)
    a = env.agent(o["id"], "tickets:read", name="orchestrator")
    b = env.agent(o["id"], "tickets:read", name="sub-agent")
    env.cli("agent", "delegate", a["id"], "--to", b["id"])
    upstream = new_token(srv, a)
    st, _, body = srv.post_form("/token", {
        "grant_type": grant, "subject_token": upstream,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
        basic=(b["client_id"], b["client_secret"]))
    assert st == 200, (st, body)
    exchanged = body["access_token"]
    assert status_ref(exchanged) != status_ref(upstream)
    assert bit(srv, exchanged) == 0
    # a second exchange, kept alive by its chain until the delegation goes
    upstream2 = new_token(srv, a)
    st, _, body = srv.post_form("/token", {
        "grant_type": grant, "subject_token": upstream2,
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
        basic=(b["client_id"], b["client_secret"]))
    assert st == 200, (st, body)
    exchanged2 = body["access_token"]
    env.cli("revoke", "--jti", jwt_parts(upstream)[1]["jti"])
    wait_bits(srv, {"exchanged": exchanged}, time.monotonic())
    assert not introspect_active(srv, exchanged)
    assert bit(srv, exchanged2) == 0 and bit(srv, upstream2) == 0
    env.cli("agent", "undelegate", a["id"], "--to", b["id"])
    wait_bits(srv, {"exchanged after undelegation": exchanged2}, time.monotonic())
    assert not introspect_active(srv, exchanged2)
    assert bit(srv, upstream2) == 0  # the delegating agent's own token lives on


def test_example_verifier_accepts_then_refuses_revoked():
    s = ctx()
    env, srv = s["env"], s["srv"]
    o, _ = scenario(env)
    a = env.agent(o["id"], "tickets:read")
    tok = new_token(srv, a)

    def verify():
        return subprocess.run([PY, VERIFIER, "--issuer", srv.base, "--audience", srv.base, tok],
                              capture_output=True, text=True, timeout=30)

    p = verify()
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["sub"] == a["id"]
    # a token whose signature was tampered with is refused before any list is read
    h, pl, sig = tok.split(".")
    p2 = subprocess.run([PY, VERIFIER, "--issuer", srv.base, "--audience", srv.base,
                         h + "." + pl + "." + sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")],
                        capture_output=True, text=True, timeout=30)
    assert p2.returncode == 1 and "refused" in p2.stderr, p2.stderr
    env.cli("revoke", "--jti", jwt_parts(tok)[1]["jti"])
    deadline = time.monotonic() + SEEN + SLACK
    while True:
        p = verify()
        if p.returncode == 1:
            break
        assert time.monotonic() < deadline, "the verifier still accepts a revoked token"
        time.sleep(0.1)
    assert "revoked" in p.stderr, p.stderr


def test_concurrent_tokens_get_distinct_bits_and_a_restart_keeps_serving_old_lists():
    env = Env()
    _cluster["restart_env"] = env
    srv = env.serve()
    o, _ = scenario(env)
    a = env.agent(o["id"], "tickets:read")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        toks = list(pool.map(lambda _: new_token(srv, a), range(64)))
    refs = [status_ref(t) for t in toks]
    assert len(set(refs)) == len(refs), "two tokens share a bit"
    old, revoked = toks[0], toks[1]
    env.cli("revoke", "--jti", jwt_parts(revoked)[1]["jti"])
    wait_bits(srv, {"revoked": revoked}, time.monotonic())
    srv.stop()
    srv2 = env.serve("--issuer", srv.base)  # a new process, same issuer: a list of its own, the old one from the ledger
    fresh = new_token(srv2, a)
    assert status_ref(fresh)[0] != status_ref(old)[0]
    assert bit(srv2, revoked) == 1 and bit(srv2, old) == 0 and bit(srv2, fresh) == 0


# ---- several nodes on one PostgreSQL database ----

def test_three_nodes_serve_every_list():
    if not harness.PG:
        raise harness.Skip("several nodes need PostgreSQL (WARRANT_TEST_PG)")
    env = Env()
    _cluster["env"] = env
    nodes = env.serve_nodes(3)
    o, _ = scenario(env)
    a = env.agent(o["id"], "tickets:read")
    toks = [new_token(n, a) for n in nodes]
    uris = {status_ref(t)[0] for t in toks}
    assert len(uris) == 3, "each node hands out indices of a list of its own: %s" % uris
    deadline = time.monotonic() + SEEN + SLACK
    for n in nodes:  # every node serves every node's list (a list claimed at start: seen within a second)
        for t in toks:
            while True:
                st, _, _ = fetch_list(n, status_ref(t)[0])
                if st == 200:
                    break
                assert st == 503 and time.monotonic() < deadline, st
                time.sleep(0.05)
            assert bit(n, t) == 0
    # a token of node A revoked through node B, and one of node C from the command line
    st, _, _ = nodes[1].post_form("/revoke", {"token": toks[0]}, basic=(a["client_id"], a["client_secret"]))
    assert st == 200
    t0 = time.monotonic()
    env.cli("revoke", "--jti", jwt_parts(toks[2])[1]["jti"])
    t1 = time.monotonic()
    for n in nodes:
        wait_bits(n, {"node A's token": toks[0]}, t0)
        wait_bits(n, {"node C's token": toks[2]}, t1)
        assert bit(n, toks[1]) == 0

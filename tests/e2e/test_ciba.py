"""test_ciba.py - human approval for high-risk verbs (SPEC "Human approval for high-risk
verbs (OpenID CIBA, poll mode)") against a real `warrant serve`: approval-required verbs,
/bc-authorize, owners' approvals over /v1 and the command line, the CIBA grant at /token,
the audit trail, and one run of openid-client (tests/interop/ciba) as an independent client.

One database and one server serve the module; each test makes its own agents and requests."""
import calendar
import json
import os
import shutil
import subprocess
import threading
import time

import jwt

from harness import Env, basic_header, close_module_env, jwt_parts, module_env

CIBA = "urn:openid:params:grant-type:ciba"
HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP = os.path.normpath(os.path.join(HERE, "..", "interop", "ciba"))
APPROVAL_FIELDS = {"auth_req_id", "agent_id", "run_id", "ws", "scope", "binding_message", "expires_at"}
PW = "correct horse battery staple"

_state = {}


def _setup(env, _state):
    n = time.time_ns()
    o_email, o2_email = "approver-%d@example.com" % n, "other-%d@example.com" % n
    o = env.owner(email=o_email, password=PW)
    o2 = env.owner(email=o2_email, password=PW)
    ws = env.workspace()
    for who in (o, o2):
        env.member(ws["id"], who["id"], "tickets:read refunds:issue")
    out = env.cli("workspace", "approval", ws["id"], "--verbs", "refunds:issue")
    assert out["id"] == ws["id"], out
    _state.update(o=o, o2=o2, ws=ws, o_email=o_email, o2_email=o2_email)
    _state["srv"] = env.serve()


def ctx():
    """Owner O (the approver) and a second owner O2, both members of one workspace whose
    refunds:issue needs approval; a running server."""
    return module_env(_state, _setup)


def teardown_module():
    close_module_env(_state)


# ---- helpers ----

def agent(owner=None, verbs="tickets:read refunds:issue", name="agent"):
    s = ctx()
    a = s["env"].agent((owner or s["o"])["id"], verbs, name=name)
    return {"id": a["client_id"], "secret": a["client_secret"], "agent": a}


def owner_auth(which="o"):
    s = ctx()
    return {"Authorization": basic_header(s[which + "_email"], PW, form=False)}


def v1(method, path, which="o", body=b""):
    st, h, b = ctx()["srv"].request(method, path, body if method == "POST" else None, owner_auth(which))
    return st, h, (json.loads(b) if b else None)


def bc(a, scope="refunds:issue", binding_message="refund order 42", **fields):
    s = ctx()
    f = {"scope": scope, "workspace": s["ws"]["id"], "binding_message": binding_message}
    f.update(fields)
    f = {k: v for k, v in f.items() if v is not None}
    return s["srv"].post_form("/bc-authorize", f, basic=(a["id"], a["secret"]))


def start(a, **fields):
    st, h, b = bc(a, **fields)
    assert st == 200, (st, b)
    return b["auth_req_id"]


def poll(a, rid):
    return ctx()["srv"].post_form("/token", {"grant_type": CIBA, "auth_req_id": rid},
                                  basic=(a["id"], a["secret"]))


def assert_error(resp, status, code):
    st, h, b = resp
    assert (st, (b or {}).get("error")) == (status, code), (st, b)
    assert "no-store" in h.get("cache-control", ""), h
    assert isinstance(b.get("error_description", ""), str)
    return b


def approvals_http(which="o"):
    st, _, b = v1("GET", "/v1/approvals", which)
    assert st == 200, (st, b)
    assert isinstance(b.get("approvals"), list), b
    return {x["auth_req_id"]: x for x in b["approvals"]}


def approvals_cli(owner_id):
    rows = ctx()["env"].cli("approval", "list", "--owner", owner_id)
    if isinstance(rows, dict):  # the harness unwraps a single JSON line
        rows = [rows]
    return {x["auth_req_id"]: x for x in rows}


def verify(tok):
    """Checks tok with pyjwt against the server's /jwks; returns the claims."""
    srv = ctx()["srv"]
    hdr = jwt.get_unverified_header(tok)
    assert hdr.get("typ") == "at+jwt" and hdr.get("kid"), hdr
    key = jwt.PyJWKClient(srv.base + "/jwks").get_signing_key_from_jwt(tok)
    return jwt.decode(tok, key.key, algorithms=["ES256"], audience=srv.base, issuer=srv.base,
                      options={"require": ["exp", "iat", "sub", "jti", "iss", "aud"]})


def assert_approved_token(resp, a, rid, scope="refunds:issue", run_id=None):
    st, h, b = resp
    assert st == 200, (st, b)
    assert "no-store" in h.get("cache-control", ""), h
    assert b["token_type"] == "Bearer", b
    assert 0 < b["expires_in"] <= 60, b
    assert b["scope"] == scope, b
    c = verify(b["access_token"])
    s = ctx()
    assert c["exp"] - c["iat"] <= 60, c
    assert c["sub"] == a["id"] and c["client_id"] == a["id"], c
    assert c["approved_by"] == a["agent"]["owner_id"], c
    assert c["approval_id"] == rid, c
    assert c["scope"] == scope, c
    assert c["ws"] == s["ws"]["id"], c
    if run_id:
        assert c["run_id"] == run_id and b["run_id"] == run_id, (c, b)
    return c


def rfc3339(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def audit_events(agent_id, name=None):
    rows = ctx()["env"].audit("--agent", agent_id)
    return [e for e in rows if name is None or e["event"] == name]


def wait_for(cond, timeout, step=0.05):
    t0 = time.time()
    while True:
        v = cond()
        if v or time.time() - t0 > timeout:
            return v
        time.sleep(step)


# ---- approval-required verbs and plain client_credentials ----

def test_plain_client_credentials_refuses_an_approval_required_verb():
    s = ctx()
    srv = s["srv"]
    a = agent()
    for scope in ("refunds:issue", "tickets:read refunds:issue"):
        b = assert_error(srv.token(a["id"], a["secret"], scope=scope), 400, "invalid_scope")
        assert "approval" in b["error_description"].lower(), b
    # without scope: every effective verb but the ones that need a human
    st, _, b = srv.token(a["id"], a["secret"])
    assert st == 200, (st, b)
    assert b["scope"].split() == ["tickets:read"], b
    assert jwt_parts(b["access_token"])[1]["scope"] == "tickets:read"
    st, _, b = srv.token(a["id"], a["secret"], scope="tickets:read")
    assert st == 200 and b["scope"] == "tickets:read", (st, b)


def test_nothing_left_without_approval_is_invalid_scope():
    s = ctx()
    a = agent(verbs="refunds:issue")
    b = assert_error(s["srv"].token(a["id"], a["secret"]), 400, "invalid_scope")
    assert "approval" in b["error_description"].lower(), b


def test_workspace_approval_applies_to_a_running_server():
    s = ctx()
    env, srv = s["env"], s["srv"]
    ws = env.workspace()
    env.member(ws["id"], s["o"]["id"], "tickets:read tickets:note")
    a = agent(verbs="tickets:read tickets:note")
    # let the server take in the set-up changes above, then use the verb once
    time.sleep(1.2)
    st, _, b = srv.token(a["id"], a["secret"], workspace=ws["id"], scope="tickets:note")
    assert st == 200, (st, b)
    env.cli("workspace", "approval", ws["id"], "--verbs", "tickets:note")
    t0 = time.time()
    r = wait_for(lambda: srv.token(a["id"], a["secret"], workspace=ws["id"], scope="tickets:note")[0] == 400, 1.0)
    if not r:
        r2 = wait_for(lambda: srv.token(a["id"], a["secret"], workspace=ws["id"], scope="tickets:note")[0] == 400, 3.0)
        raise AssertionError("`workspace approval` on a running server: the verb was still issued by "
                             "plain client_credentials 1 s after the change (%s after %.1f s)"
                             % ("refused" if r2 else "still issued", time.time() - t0))
    b = assert_error(srv.token(a["id"], a["secret"], workspace=ws["id"], scope="tickets:note"), 400, "invalid_scope")
    assert "approval" in b["error_description"].lower(), b
    out = env.cli("workspace", "approval", ws["id"], "--verbs", "")
    assert out["approval_verbs"] == "", out
    r = wait_for(lambda: srv.token(a["id"], a["secret"], workspace=ws["id"], scope="tickets:note")[0] == 200, 1.0)
    assert r, "clearing the approval list did not apply within 1 s"
    p = env.run("workspace", "approval", "ws_nosuchworkspace000000000", "--verbs", "refunds:issue")
    assert p.returncode != 0, p.stdout


def test_discovery_advertises_ciba_poll_mode():
    srv = ctx()["srv"]
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        st, _, d = srv.get_json(path)
        assert st == 200, (path, st)
        assert d["backchannel_authentication_endpoint"] == srv.base + "/bc-authorize", d
        assert d["backchannel_token_delivery_modes_supported"] == ["poll"], d
        assert CIBA in d["grant_types_supported"], d
        assert "client_credentials" in d["grant_types_supported"], d


# ---- /bc-authorize and the owner's list ----

def test_bc_authorize_answer_and_the_owners_pending_list():
    s = ctx()
    a = agent()
    run = "refund-run-%d" % time.time_ns()
    t0 = time.time()
    st, h, b = bc(a, run_id=run, binding_message="Refund 12.50 EUR on order 42")
    assert st == 200, (st, b)
    assert "no-store" in h.get("cache-control", ""), h
    assert set(b) == {"auth_req_id", "expires_in", "interval"}, b
    assert b["expires_in"] == 300 and b["interval"] == 2, b
    rid = b["auth_req_id"]
    assert isinstance(rid, str) and len(rid) >= 20, rid
    want = {"auth_req_id": rid, "agent_id": a["id"], "run_id": run, "ws": s["ws"]["id"],
            "scope": "refunds:issue", "binding_message": "Refund 12.50 EUR on order 42"}
    for name, listed in (("GET /v1/approvals", approvals_http()), ("approval list", approvals_cli(s["o"]["id"]))):
        assert rid in listed, (name, listed)
        item = listed[rid]
        assert APPROVAL_FIELDS <= set(item), (name, item)
        assert {k: item[k] for k in want} == want, (name, item)
        exp = rfc3339(item["expires_at"])
        assert t0 + 300 - 3 <= exp <= time.time() + 300 + 1, (name, item["expires_at"])
    # nobody else's list shows it
    assert rid not in approvals_http("o2")
    assert rid not in approvals_cli(s["o2"]["id"])
    # a server-minted run id when none is given
    rid2 = start(a)
    assert approvals_http()[rid2]["run_id"], approvals_http()[rid2]


def test_bc_authorize_authenticates_the_client_and_checks_the_scope():
    s = ctx()
    srv = s["srv"]
    a = agent()
    f = {"scope": "refunds:issue", "workspace": s["ws"]["id"]}
    st, h, b = srv.post_form("/bc-authorize", f)
    assert (st, b["error"]) == (401, "invalid_client"), (st, b)
    st, h, b = srv.post_form("/bc-authorize", f, basic=(a["id"], a["secret"] + "x"))
    assert (st, b["error"]) == (401, "invalid_client"), (st, b)
    assert "basic" in h.get("www-authenticate", "").lower(), h
    # client_secret_post works as at /token
    st, _, b = srv.post_form("/bc-authorize", dict(f, client_id=a["id"], client_secret=a["secret"]))
    assert st == 200 and b["auth_req_id"], (st, b)
    assert_error(bc(a, scope="payments:send"), 400, "invalid_scope")
    assert_error(bc(a, scope=None), 400, "invalid_scope")
    st, _, b = bc(a, scope="refunds:issue refunds:issue", run_id="bad run!")
    assert (st, b["error"]) == (400, "invalid_request"), (st, b)
    assert len([x for x in approvals_http().values() if x["agent_id"] == a["id"]]) == 1


# ---- polling ----

def test_polling_pending_then_slow_down():
    a = agent()
    rid = start(a)
    assert_error(poll(a, rid), 400, "authorization_pending")
    time.sleep(2.1)  # polling at the interval is fine
    assert_error(poll(a, rid), 400, "authorization_pending")
    assert_error(poll(a, rid), 400, "slow_down")  # at once: faster than the interval
    assert rid in approvals_http()  # polling changed nothing


def test_approve_over_http_gives_one_short_token_once():
    s = ctx()
    a = agent()
    run = "approved-run-%d" % time.time_ns()
    rid = start(a, run_id=run)
    assert_error(poll(a, rid), 400, "authorization_pending")
    st, _, b = v1("POST", "/v1/approvals/%s/approve" % rid)
    assert st == 200, (st, b)
    assert b["auth_req_id"] == rid and b["status"] == "approved", b
    assert rid not in approvals_http()
    c = assert_approved_token(poll(a, rid), a, rid, run_id=run)
    assert c["approved_by"] == s["o"]["id"]
    # single use
    assert_error(poll(a, rid), 400, "invalid_grant")
    assert_error(poll(a, rid), 400, "invalid_grant")
    # a decision cannot be made twice
    st, _, b = v1("POST", "/v1/approvals/%s/approve" % rid)
    assert st != 200, (st, b)
    st, _, b = v1("POST", "/v1/approvals/%s/deny" % rid)
    assert st != 200, (st, b)
    issued = audit_events(a["id"], "token.issued")
    assert len(issued) == 1 and issued[0]["jti"] == c["jti"], issued


def test_concurrent_redemptions_yield_exactly_one_token():
    a = agent()
    rid = start(a)
    assert v1("POST", "/v1/approvals/%s/approve" % rid)[0] == 200
    n = 8
    barrier = threading.Barrier(n)
    results, lock = [], threading.Lock()

    def worker():
        barrier.wait(10)
        r = poll(a, rid)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == n
    ok = [r for r in results if r[0] == 200]
    assert len(ok) == 1, [(st, b.get("error")) for st, _, b in results]
    assert_approved_token(ok[0], a, rid)
    for r in results:
        if r[0] != 200:
            assert_error(r, 400, "invalid_grant")
    assert len(audit_events(a["id"], "token.issued")) == 1


def test_approve_from_the_command_line():
    s = ctx()
    env = s["env"]
    a = agent()
    rid = start(a)
    assert_error(poll(a, rid), 400, "authorization_pending")
    out = env.cli("approval", "approve", rid, "--owner", s["o"]["id"])
    assert out["auth_req_id"] == rid and out["status"] == "approved", out
    assert rid not in approvals_cli(s["o"]["id"])
    # the server reads the decision written by another process
    resp = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(poll(a, rid)), 1.0, step=0.2)
    assert resp, poll(a, rid)
    assert_approved_token(resp, a, rid)
    assert_error(poll(a, rid), 400, "invalid_grant")


def test_deny_gives_access_denied():
    s = ctx()
    env = s["env"]
    a = agent()
    rid = start(a)
    st, _, b = v1("POST", "/v1/approvals/%s/deny" % rid)
    assert st == 200 and b["status"] == "denied", (st, b)
    assert_error(poll(a, rid), 400, "access_denied")
    assert_error(poll(a, rid), 400, "access_denied")
    st, _, b = v1("POST", "/v1/approvals/%s/approve" % rid)
    assert st != 200, (st, b)
    assert_error(poll(a, rid), 400, "access_denied")
    rid2 = start(a)
    out = env.cli("approval", "deny", rid2, "--owner", s["o"]["id"])
    assert out["status"] == "denied", out
    assert_error(poll(a, rid2), 400, "access_denied")
    assert not audit_events(a["id"], "token.issued")


def test_expired_request_gives_expired_token():
    s = ctx()
    env = s["env"]
    a = agent()
    rid = start(a)
    assert_error(poll(a, rid), 400, "authorization_pending")
    # 300 s is too long to wait: move the expiry into the past in the database the server reads
    moved = env.sql("UPDATE approvals SET expires_at = ? WHERE id = ? RETURNING id",
                   (int(time.time() * 1000) - 1000, rid))
    assert len(moved) == 1, "approval row not found"
    time.sleep(2.1)
    assert_error(poll(a, rid), 400, "expired_token")
    assert rid not in approvals_http()
    assert rid not in approvals_cli(s["o"]["id"])
    st, _, b = v1("POST", "/v1/approvals/%s/approve" % rid)
    assert st != 200, (st, b)
    p = env.run("approval", "approve", rid, "--owner", s["o"]["id"])
    assert p.returncode != 0, p.stdout
    assert_error(poll(a, rid), 400, "expired_token")


def test_an_approval_not_redeemed_before_expiry_expires():
    """expires_in bounds the auth_req_id itself (CIBA Core §7.3, §11): an approval the agent
    never collected must not stay redeemable for ever."""
    s = ctx()
    a = agent()
    rid = start(a)
    assert v1("POST", "/v1/approvals/%s/approve" % rid)[0] == 200
    moved = s["env"].sql("UPDATE approvals SET expires_at = ? WHERE id = ? RETURNING id",
                        (int(time.time() * 1000) - 1000, rid))
    assert len(moved) == 1, "approval row not found"
    st, _, b = poll(a, rid)
    assert (st, (b or {}).get("error")) == (400, "expired_token"), \
        ("an approved request past its expiry was still redeemed", st, b if st != 200 else "a token")
    assert not audit_events(a["id"], "token.issued")


def test_another_owner_cannot_decide():
    s = ctx()
    env = s["env"]
    a = agent()
    rid = start(a)
    for verb in ("approve", "deny"):
        st, _, b = v1("POST", "/v1/approvals/%s/%s" % (rid, verb), "o2")
        assert st == 404, (verb, st, b)
    st, _, b = v1("POST", "/v1/approvals/areq_doesnotexist0000000000/approve")
    assert st == 404, (st, b)
    for verb in ("approve", "deny"):
        p = env.run("approval", verb, rid, "--owner", s["o2"]["id"])
        assert p.returncode != 0 and p.stderr.strip(), (verb, p.returncode, p.stdout)
    # still pending, still the owner's to decide
    assert rid in approvals_http()
    assert_error(poll(a, rid), 400, "authorization_pending")
    assert not [e for e in audit_events(a["id"]) if e["event"] in ("approval.approved", "approval.denied")]
    st, _, b = v1("POST", "/v1/approvals/%s/approve" % rid)
    assert st == 200, (st, b)
    assert_approved_token(poll(a, rid), a, rid)


def test_another_agent_cannot_redeem_someone_elses_request():
    s = ctx()
    a = agent()
    thief = agent(owner=s["o2"], name="thief")
    sibling = agent(name="sibling")  # same owner: still not its request
    rid = start(a)
    for other in (thief, sibling):
        assert_error(poll(other, rid), 400, "invalid_grant")
    st, _, b = v1("POST", "/v1/approvals/%s/approve" % rid)
    assert st == 200, (st, b)
    for other in (thief, sibling):
        assert_error(poll(other, rid), 400, "invalid_grant")
    assert_approved_token(poll(a, rid), a, rid)
    assert not audit_events(thief["id"], "token.issued")
    assert not audit_events(sibling["id"], "token.issued")


def test_unknown_or_missing_auth_req_id():
    a = agent()
    assert_error(poll(a, "areq_doesnotexist0000000000"), 400, "invalid_grant")
    st, _, b = ctx()["srv"].post_form("/token", {"grant_type": CIBA}, basic=(a["id"], a["secret"]))
    assert (st, b["error"]) == (400, "invalid_request"), (st, b)


# ---- audit ----

def test_audit_rows_carry_the_agent_and_the_approving_owner():
    s = ctx()
    env = s["env"]
    o = s["o"]["id"]
    a = agent()
    run = "audited-run-%d" % time.time_ns()
    rid = start(a, run_id=run)
    assert v1("POST", "/v1/approvals/%s/approve" % rid)[0] == 200
    c = assert_approved_token(poll(a, rid), a, rid)
    rid2 = start(a, run_id=run)
    env.cli("approval", "deny", rid2, "--owner", o)
    rows = audit_events(a["id"])
    by = {}
    for e in rows:
        by.setdefault(e["event"], []).append(e)
    req = by.get("approval.requested", [])
    assert len(req) == 2, rows
    for e in req:
        assert (e["actor"], e["agent_id"], e["owner_id"]) == (a["id"], a["id"], o), e
        assert e["run_id"] == run and e["ws"] == s["ws"]["id"] and e["outcome"] == "ok", e
    for name in ("approval.approved", "approval.denied"):
        got = by.get(name, [])
        assert len(got) == 1, (name, rows)
        e = got[0]
        assert (e["actor"], e["agent_id"], e["owner_id"]) == (o, a["id"], o), e
        assert e["run_id"] == run and e["ws"] == s["ws"]["id"], e
    issued = by.get("token.issued", [])
    assert len(issued) == 1, rows
    e = issued[0]
    assert (e["actor"], e["agent_id"], e["owner_id"]) == (a["id"], a["id"], o), e
    assert e["jti"] == c["jti"] and e["run_id"] == run and e["ws"] == s["ws"]["id"], e
    # the owner's own view of the trail shows the same rows
    mine = {(x["event"], x.get("jti") or x.get("run_id")) for x in env.audit("--owner", o)
            if x.get("agent_id") == a["id"]}
    assert ("approval.approved", run) in mine and ("token.issued", c["jti"]) in mine, mine
    st, _, b = v1("GET", "/v1/audit?agent=%s" % a["id"])
    assert st == 200, (st, b)
    assert {"approval.requested", "approval.approved", "approval.denied", "token.issued"} <= \
        {x["event"] for x in b["events"]}, b


# ---- an independent client: openid-client ----

def _npm_ci():
    if os.path.isdir(os.path.join(INTEROP, "node_modules", "openid-client")):
        return
    npm = shutil.which("npm")
    assert npm, "npm is not installed (Debian packages nodejs and npm)"
    p = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=INTEROP,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "npm ci failed:\n" + p.stdout + p.stderr


def test_openid_client_ciba_poll_mode_end_to_end():
    s = ctx()
    node = shutil.which("node")
    assert node, "node is not installed (Debian package nodejs)"
    _npm_ci()
    a = agent(name="openid-client")
    run = "interop-run-%d" % time.time_ns()
    env = dict(os.environ, WARRANT_ISSUER=s["srv"].base, WARRANT_CLIENT_ID=a["id"],
               WARRANT_CLIENT_SECRET=a["secret"], CIBA_SCOPE="refunds:issue",
               CIBA_WORKSPACE=s["ws"]["id"], CIBA_RUN_ID=run,
               CIBA_BINDING_MESSAGE="interop refund 7")
    p = subprocess.Popen([node, os.path.join(INTEROP, "ciba.mjs")], cwd=INTEROP, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(90, p.kill)
    killer.start()
    try:
        steps = []
        while True:
            line = p.stdout.readline()
            if not line:
                break
            steps.append(json.loads(line))
            if steps[-1]["step"] in ("initiated", "error"):
                break
        assert steps and steps[-1]["step"] == "initiated", (steps, p.stderr.read() if p.poll() is not None else "")
        disc = steps[0]
        assert disc["step"] == "discovered" and disc["backchannel_authentication_endpoint"] == s["srv"].base + "/bc-authorize", disc
        rid = steps[-1]["auth_req_id"]
        assert steps[-1]["expires_in"] == 300 and steps[-1]["interval"] == 2, steps[-1]
        # the owner finds the request in their list while the client polls, and approves it
        listed = wait_for(lambda: approvals_http().get(rid), 5)
        assert listed, "the client's request is not in the owner's list"
        assert listed["binding_message"] == "interop refund 7" and listed["run_id"] == run, listed
        time.sleep(2.5)  # let the client see authorization_pending at least once
        st, _, b = v1("POST", "/v1/approvals/%s/approve" % rid)
        assert st == 200, (st, b)
        out, err = p.communicate(timeout=60)
    finally:
        killer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
    steps += [json.loads(l) for l in out.splitlines() if l.strip()]
    assert p.returncode == 0, (p.returncode, steps, err)
    last = steps[-1]
    assert last["step"] == "token", (last, err)
    assert "authorization_pending" in last["errors"], last
    assert last["token_type"].lower() == "bearer" and 0 < last["expires_in"] <= 60, last
    assert last["scope"] == "refunds:issue", last
    c = verify(last["access_token"])
    assert c["approved_by"] == s["o"]["id"] and c["approval_id"] == rid, c
    assert c["sub"] == a["id"] and c["run_id"] == run and c["exp"] - c["iat"] <= 60, c
    assert_error(poll(a, rid), 400, "invalid_grant")

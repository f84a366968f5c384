"""test_revoke.py - POST /revoke (RFC 7009) against a real `warrant serve`: the agent
revokes its own tokens; unknown, invalid, already revoked or someone else's tokens all get
the same empty 200 (and someone else's token stays active); client authentication as at
/token; durability across a SIGKILL; and the audit rows that revocations and kill switches
leave, which never contain a token string.

One database and one server serve the module (the durability test has its own); each test
makes its own owners and agents."""
import json
import time
import urllib.parse

from harness import Env, basic_header, close_module_env, jwt_parts, module_env

FORM = "application/x-www-form-urlencoded"
INACTIVE = b'{"active":false}'

_state = {}


def _setup(env, _state):
    _state["gw"] = env.cli("resource", "add", "gateway")
    _state["srv"] = env.serve()


def ctx():
    return module_env(_state, _setup)


def teardown_module():
    close_module_env(_state, ("durable_env", "env"))


# ---- helpers ----

def revoke(fields, basic=None, srv=None, auth=None):
    """POSTs fields to /revoke; returns (status, headers, raw body)."""
    srv = srv or ctx()["srv"]
    h = {"Content-Type": FORM}
    if basic:
        h["Authorization"] = basic_header(*basic)
    if auth:
        h["Authorization"] = auth
    return srv.request("POST", "/revoke", urllib.parse.urlencode(fields), h)


def assert_empty_200(resp):
    st, _, b = resp
    assert st == 200, (st, b)
    assert b == b"", b


def introspect(token, srv=None):
    s = ctx()
    srv = srv or s["srv"]
    st, _, b = srv.request("POST", "/introspect", urllib.parse.urlencode({"token": token}),
                           {"Content-Type": FORM,
                            "Authorization": basic_header(s["gw"]["client_id"], s["gw"]["client_secret"])})
    assert st == 200, (st, b)
    return b


def assert_inactive(token, srv=None):
    assert introspect(token, srv) == INACTIVE


def assert_active(token, srv=None):
    b = introspect(token, srv)
    assert b != INACTIVE, "token unexpectedly inactive"
    assert json.loads(b)["active"] is True, b


def new_token(sc, srv=None, **params):
    st, _, body = (srv or ctx()["srv"]).token(sc["id"], sc["secret"], **params)
    assert st == 200, (st, body)
    return body["access_token"]


def creds(sc):
    return (sc["id"], sc["secret"])


def fresh():
    return ctx()["env"].scenario()


def assert_invalid_client(resp, challenge):
    st, h, b = resp
    assert st == 401, (st, b)
    assert json.loads(b)["error"] == "invalid_client", b
    if challenge:
        assert h.get("www-authenticate") == 'Basic realm="warrant"', h


def wait_inactive(token, limit=1.0):
    t0 = time.monotonic()
    while introspect(token) != INACTIVE:
        assert time.monotonic() - t0 <= limit, "still active after %.1f s" % limit
        time.sleep(0.01)


# ---- RFC 7009 ----

def test_own_token_revoked_empty_200():
    sc = fresh()
    tok, other = new_token(sc), new_token(sc)
    assert_active(tok)
    assert_empty_200(revoke({"token": tok}, basic=creds(sc)))
    assert_inactive(tok)
    assert_active(other)
    # the revoked token cannot revoke or be used to get anything either: still 200 here
    assert_empty_200(revoke({"token": tok, "token_type_hint": "access_token"}, basic=creds(sc)))
    assert_inactive(tok)


def test_unknown_and_garbage_tokens_empty_200():
    sc = fresh()
    tok = new_token(sc)
    h, p, s = tok.split(".")
    for junk in ("garbage", "a.b.c", h + "." + p + "." + s[::-1], "x" * 5000):
        assert_empty_200(revoke({"token": junk}, basic=creds(sc)))
    # a token-shaped hint of an unknown type changes nothing
    assert_empty_200(revoke({"token": "garbage", "token_type_hint": "refresh_token"}, basic=creds(sc)))
    assert_active(tok)


def test_another_agents_token_is_not_revoked():
    victim, attacker = fresh(), fresh()
    tok = new_token(victim)
    assert_active(tok)
    resp = revoke({"token": tok}, basic=creds(attacker))
    assert_empty_200(resp)  # the answer never reveals that the token exists
    time.sleep(0.05)
    assert_active(tok)
    # indistinguishable from revoking garbage
    junk = revoke({"token": "garbage"}, basic=creds(attacker))
    assert (junk[0], junk[2]) == (resp[0], resp[2])
    # and a sibling agent of the same owner cannot revoke it either
    env = ctx()["env"]
    sib = env.agent(victim["owner"]["id"], "tickets:read", name="sibling")
    assert_empty_200(revoke({"token": tok}, basic=(sib["client_id"], sib["client_secret"])))
    assert_active(tok)
    jti = jwt_parts(tok)[1]["jti"]
    ok_rows = [e for e in env.audit("--owner", victim["owner"]["id"])
               if e["event"] == "token.revoked" and e["jti"] == jti and e["outcome"] == "ok"]
    assert ok_rows == [], ok_rows


def test_already_revoked_token_empty_200():
    sc = fresh()
    tok = new_token(sc)
    assert_empty_200(revoke({"token": tok}, basic=creds(sc)))
    assert_empty_200(revoke({"token": tok}, basic=creds(sc)))
    assert_inactive(tok)
    # revoked by the command line first, then by the agent
    tok2 = new_token(sc)
    ctx()["env"].cli("revoke", "--jti", jwt_parts(tok2)[1]["jti"])
    assert_empty_200(revoke({"token": tok2}, basic=creds(sc)))
    assert_inactive(tok2)


def test_bad_client_credentials_401():
    sc = fresh()
    tok = new_token(sc)
    gw = ctx()["gw"]
    assert_invalid_client(revoke({"token": tok}, basic=(sc["id"], sc["secret"][:-2] + "xx")), True)
    assert_invalid_client(revoke({"token": tok}, basic=("agt_aaaaaaaaaaaaaaaaaaaaaaaaaa", sc["secret"])), True)
    assert_invalid_client(revoke({"token": tok}), False)
    assert_invalid_client(revoke({"token": tok, "client_id": sc["id"],
                                  "client_secret": sc["secret"][:-2] + "xx"}), False)
    # a resource server is not an agent: it cannot revoke
    assert_invalid_client(revoke({"token": tok}, basic=(gw["client_id"], gw["client_secret"])), True)
    assert_active(tok)


def test_missing_token_400():
    sc = fresh()
    st, _, b = revoke({"token_type_hint": "access_token"}, basic=creds(sc))
    assert st == 400, (st, b)
    assert json.loads(b)["error"] == "invalid_request", b


def test_client_secret_post():
    sc = fresh()
    tok = new_token(sc)
    assert_active(tok)
    assert_empty_200(revoke({"token": tok, "client_id": sc["id"], "client_secret": sc["secret"]}))
    assert_inactive(tok)


def test_revocation_survives_sigkill():
    env = Env()
    _state["durable_env"] = env
    sc = env.scenario()
    gw = env.cli("resource", "add", "gw")
    srv = env.serve()
    tok, control = new_token(sc, srv=srv), new_token(sc, srv=srv)
    st, _, b = revoke({"token": tok}, basic=creds(sc), srv=srv)
    assert (st, b) == (200, b"")
    srv.kill9()  # right after the 200: the revocation must already be on disk
    # same issuer, so the tokens verify at the new process and only revocation can kill them
    srv2 = env.serve("--issuer", srv.base)

    def look(t):
        st, _, b = srv2.request("POST", "/introspect", urllib.parse.urlencode({"token": t}),
                                {"Content-Type": FORM, "Authorization": basic_header(gw["client_id"], gw["client_secret"])})
        assert st == 200, (st, b)
        return b

    assert look(tok) == INACTIVE
    assert json.loads(look(control))["active"] is True
    env.close()
    _state.pop("durable_env", None)


# ---- audit ----

def events(owner_id, name):
    return [e for e in ctx()["env"].audit("--owner", owner_id) if e["event"] == name]


def test_audit_token_revoked_by_agent():
    sc = fresh()
    run = "audit-%d" % time.time_ns()
    tok = new_token(sc, run_id=run)
    claims = jwt_parts(tok)[1]
    assert_empty_200(revoke({"token": tok}, basic=creds(sc)))
    rows = [e for e in events(sc["owner"]["id"], "token.revoked") if e["jti"] == claims["jti"]]
    assert len(rows) == 1, rows
    r = rows[0]
    assert r["actor"] == sc["id"], r
    assert r["owner_id"] == sc["owner"]["id"], r
    assert r["outcome"] == "ok", r
    assert r["run_id"] == run, r
    assert r["client_addr"] == "127.0.0.1", r
    assert r["time"].endswith("Z"), r


def test_audit_run_revoked_and_lifecycle():
    env = ctx()["env"]
    sc = fresh()
    run = "audit-run-%d" % time.time_ns()
    new_token(sc, run_id=run)
    env.cli("revoke", "--run", run, "--agent", sc["id"])
    rows = events(sc["owner"]["id"], "run.revoked")
    assert len(rows) == 1, rows
    assert rows[0]["run_id"] == run and rows[0]["owner_id"] == sc["owner"]["id"], rows[0]
    assert rows[0]["detail"].get("agent_id") == sc["id"], rows[0]

    env.cli("revoke", "--agent", sc["id"])
    rows = [e for e in events(sc["owner"]["id"], "token.revoked") if e["detail"].get("agent_id") == sc["id"]]
    assert len(rows) == 1, rows

    for op, name in (("suspend", "agent.suspended"), ("resume", "agent.resumed"), ("retire", "agent.retired")):
        env.cli("agent", op, sc["id"])
        rows = events(sc["owner"]["id"], name)
        assert len(rows) == 1, (name, rows)
        assert rows[0]["detail"].get("agent_id") == sc["id"], rows[0]
        assert rows[0]["owner_id"] == sc["owner"]["id"], rows[0]


def test_audit_owner_deactivated_suspends_agents():
    env = ctx()["env"]
    sc = fresh()
    a2 = env.agent(sc["owner"]["id"], "tickets:read", name="two")
    env.cli("owner", "deactivate", sc["owner"]["id"])
    assert len(events(sc["owner"]["id"], "owner.deactivated")) == 1
    suspended = {e["detail"].get("agent_id") for e in events(sc["owner"]["id"], "agent.suspended")}
    assert suspended == {sc["id"], a2["id"]}, suspended


def test_audit_run_revoked_for_every_agent_that_used_it():
    env = ctx()["env"]
    a, b = fresh(), fresh()
    run = "audit-shared-%d" % time.time_ns()
    new_token(a, run_id=run)
    new_token(b, run_id=run)
    env.cli("revoke", "--run", run)
    for sc in (a, b):
        rows = events(sc["owner"]["id"], "run.revoked")
        assert [r["detail"].get("agent_id") for r in rows] == [sc["id"]], rows
        assert rows[0]["run_id"] == run


def test_audit_never_contains_tokens_or_secrets():
    env = ctx()["env"]
    sc = fresh()
    tokens = [new_token(sc), new_token(sc, run_id="leak-check")]
    assert_empty_200(revoke({"token": tokens[0]}, basic=creds(sc)))
    assert_empty_200(revoke({"token": "not-a-token-but-secretish"}, basic=creds(sc)))
    other = fresh()
    assert_empty_200(revoke({"token": tokens[1]}, basic=creds(other)))  # someone else's token
    st, _, _ = ctx()["srv"].token(sc["id"], sc["secret"] + "x")  # a failed attempt is audited
    assert st == 401
    introspect(tokens[1])
    for args in (("audit",), ("audit", "--json"), ("audit", "--owner", sc["owner"]["id"], "--json")):
        p = env.run(*args)
        assert p.returncode == 0, p.stderr
        out = p.stdout + p.stderr
        assert out.strip(), "empty audit output"
        for t in tokens:
            for part in t.split("."):
                assert part not in out, "a token part appears in `warrant %s`" % " ".join(args)
        assert sc["secret"] not in out and sc["secret"][4:] not in out
        assert "not-a-token-but-secretish" not in out

"""test_credentials.py - agent credential rotation and revocation from the command line,
against a real `warrant serve` on the same database: the grace window of `agent rotate`
(new secret at once, old secret until the grace ends, then 401 invalid_client), at most two
live secrets, tokens that outlive the end of a grace, `credential revoke` (the credential
and the tokens it minted die at once, the other credential's tokens live on), the audit
rows credential.rotated / credential.expired / credential.revoked, and the grace limit.

One database and one server serve the module; each test makes its own agents."""
import calendar
import json
import time
import urllib.parse

from harness import CliError, Env, basic_header, close_module_env, jwt_parts, module_env

FORM = "application/x-www-form-urlencoded"
TTL = 6

_state = {}


def _setup(env, _state):
    _state["gw"] = env.cli("resource", "add", "gateway")
    _state["srv"] = env.serve("--token-ttl", str(TTL))


def ctx():
    return module_env(_state, _setup)


def teardown_module():
    close_module_env(_state)


# ---- helpers ----

def wait_until(fn, timeout, interval=0.02):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() >= deadline:
            return None
        time.sleep(interval)


def token(client_id, secret, **params):
    return ctx()["srv"].token(client_id, secret, **params)


def works(client_id, secret):
    st, _, b = token(client_id, secret)
    return st == 200


def assert_works(client_id, secret):
    st, _, b = token(client_id, secret)
    assert st == 200, (st, b)
    return b["access_token"]


def assert_invalid_client(client_id, secret):
    st, h, b = token(client_id, secret)
    assert st == 401, (st, b)
    assert b["error"] == "invalid_client", b
    assert h.get("www-authenticate", "").startswith("Basic"), h
    return b


def introspect(tok):
    s = ctx()
    st, _, b = s["srv"].request("POST", "/introspect", urllib.parse.urlencode({"token": tok}),
                                {"Content-Type": FORM,
                                 "Authorization": basic_header(s["gw"]["client_id"], s["gw"]["client_secret"])})
    assert st == 200, (st, b)
    return json.loads(b)


def active(tok):
    return introspect(tok).get("active") is True


def rotate(agent_id, grace, settle=True):
    """`warrant agent rotate AGT --grace N --json`. With settle, waits (at most 1 s) until the
    running server accepts the new secret; test_rotation_from_the_command_line_applies_at_once
    holds the server to doing that at once."""
    r = ctx()["env"].cli("agent", "rotate", agent_id, "--grace", str(grace))
    if settle:
        assert wait_until(lambda: works(agent_id, r["client_secret"]), 1.0), \
            "the new secret is refused 1 s after `agent rotate`"
    return r


def rfc3339_s(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def live_credentials(agent_id):
    now = int(time.time() * 1000)
    return [r[0] for r in ctx()["env"].sql(
        "SELECT id FROM credentials WHERE agent_id = ? AND revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > ?) ORDER BY created_at", (agent_id, now))]


def events(name, agent_id):
    return [e for e in ctx()["env"].audit("--agent", agent_id) if e["event"] == name]


# ---- tests ----

def test_rotation_from_the_command_line_applies_at_once():
    """The new secret works at once and the old one keeps working, with no window in
    which a running server refuses either."""
    s = ctx()["env"].scenario()
    agent, old = s["id"], s["secret"]
    assert_works(agent, old)
    r = rotate(agent, 60, settle=False)
    st_new, _, b_new = token(agent, r["client_secret"])
    st_old, _, b_old = token(agent, old)
    assert (st_new, st_old) == (200, 200), \
        "right after `agent rotate`: new secret %d %s, old secret (inside its grace) %d %s" % (
            st_new, b_new, st_old, b_old)


def test_rotate_with_grace_old_secret_until_grace_ends_then_invalid_client():
    s = ctx()["env"].scenario()
    agent, old = s["id"], s["secret"]
    old_cred = s["agent"]["credential_id"]
    assert_works(agent, old)
    t0 = time.time()
    r = rotate(agent, 2)
    assert r["id"] == agent and r["client_id"] == agent
    assert r["client_secret"].startswith("wsk_") and len(r["client_secret"]) == 47, r
    assert r["client_secret"] != old
    assert r["credential_id"].startswith("cred_") and r["credential_id"] != old_cred
    assert r["old_credential_id"] == old_cred
    exp = rfc3339_s(r["old_expires_at"])
    assert t0 + 1 <= exp <= t0 + 2.5, (r["old_expires_at"], t0)
    new = r["client_secret"]

    tok_new = assert_works(agent, new)  # at once
    assert jwt_parts(tok_new)[1]["cred_id"] == r["credential_id"]
    tok_old = assert_works(agent, old)  # inside the grace
    assert jwt_parts(tok_old)[1]["cred_id"] == old_cred
    assert time.time() < t0 + 1.5, "too slow to check inside the grace"

    # the grace ends (old_expires_at is truncated to the second: allow one more)
    assert wait_until(lambda: not works(agent, old), exp + 1.5 - time.time(), 0.05), \
        "old secret still works after its grace"
    assert time.time() >= t0 + 2 - 0.05, "old secret failed before its grace ended"
    assert_invalid_client(agent, old)
    assert_works(agent, new)
    assert live_credentials(agent) == [r["credential_id"]]


def test_second_rotation_inside_a_grace_ends_the_older_grace_at_once():
    s = ctx()["env"].scenario()
    agent, c0 = s["id"], s["secret"]
    r1 = rotate(agent, 600)
    c1 = r1["client_secret"]
    assert live_credentials(agent) == [s["agent"]["credential_id"], r1["credential_id"]]
    assert works(agent, c0) and works(agent, c1)

    r2 = rotate(agent, 600)
    c2 = r2["client_secret"]
    assert r2["old_credential_id"] == r1["credential_id"], r2
    t = time.time()
    assert abs(rfc3339_s(r2["old_expires_at"]) - (t + 600)) < 3, r2
    # at most two live: the oldest ended now (the server sees the command line within 1 s)
    assert live_credentials(agent) == [r1["credential_id"], r2["credential_id"]]
    assert wait_until(lambda: not works(agent, c0), 1.0), "oldest secret still works after a second rotation"
    assert_invalid_client(agent, c0)
    assert_works(agent, c1)
    assert_works(agent, c2)

    r3 = rotate(agent, 600)
    assert live_credentials(agent) == [r2["credential_id"], r3["credential_id"]]
    assert wait_until(lambda: not works(agent, c1), 1.0)
    assert_works(agent, c2)
    assert_works(agent, r3["client_secret"])


def test_tokens_minted_by_the_old_credential_outlive_its_grace():
    s = ctx()["env"].scenario()
    agent, old = s["id"], s["secret"]
    tok = assert_works(agent, old)
    claims = jwt_parts(tok)[1]
    assert claims["cred_id"] == s["agent"]["credential_id"]
    r = rotate(agent, 1)
    exp = rfc3339_s(r["old_expires_at"])
    assert wait_until(lambda: not works(agent, old), exp + 1.5 - time.time(), 0.05), "grace never ended"
    assert time.time() < claims["exp"] - 0.5, "too slow: the token expired first"
    # the end of a grace is not a revocation
    got = introspect(tok)
    assert got["active"] is True and got["jti"] == claims["jti"], got
    assert not [e for e in ctx()["env"].audit("--agent", agent) if e["event"] == "token.revoked"]
    # ... and the token still dies at its own exp
    time.sleep(max(0.0, claims["exp"] - time.time()) + 0.2)
    assert introspect(tok) == {"active": False}


def test_credential_revoke_kills_the_credential_and_its_tokens_only():
    env = ctx()["env"]
    s = env.scenario()
    agent, c0 = s["id"], s["secret"]
    cred0 = s["agent"]["credential_id"]
    r = rotate(agent, 600)
    c1, cred1 = r["client_secret"], r["credential_id"]
    a0 = [assert_works(agent, c0) for _ in range(2)]
    a1 = [assert_works(agent, c1) for _ in range(2)]
    assert {jwt_parts(t)[1]["cred_id"] for t in a0} == {cred0}
    assert {jwt_parts(t)[1]["cred_id"] for t in a1} == {cred1}
    assert all(active(t) for t in a0 + a1)

    out = env.cli("credential", "revoke", cred0)
    t_rev = time.time()
    assert out == {"id": cred0, "agent_id": agent, "revoked": True}, out
    assert wait_until(lambda: not works(agent, c0), 1.0), "revoked secret still works after 1 s"
    assert wait_until(lambda: not any(active(t) for t in a0), 1.0), \
        "tokens of a revoked credential still active after 1 s"
    assert time.time() - t_rev < 1.5
    assert_invalid_client(agent, c0)
    for t in a0:
        assert introspect(t) == {"active": False}
    for t in a1:
        assert active(t), "a token of the other credential was revoked"
    assert_works(agent, c1)
    assert live_credentials(agent) == [cred1]

    # again: nothing changes; unknown credential: refused
    assert env.cli("credential", "revoke", cred0)["revoked"] is True
    assert len(events("credential.revoked", agent)) == 1
    try:
        env.cli("credential", "revoke", "cred_doesnotexist0000000000000")
        raise AssertionError("revoking an unknown credential succeeded")
    except CliError as e:
        assert e.rc != 0 and "cred_doesnotexist" in e.stderr, e.stderr


def test_credential_audit_rows_carry_agent_and_owner():
    env = ctx()["env"]
    s = env.scenario()
    agent, owner = s["id"], s["owner"]["id"]
    r = rotate(agent, 1)
    exp = rfc3339_s(r["old_expires_at"])
    rot = events("credential.rotated", agent)
    assert len(rot) == 1, rot
    e = rot[0]
    assert e["agent_id"] == agent and e["owner_id"] == owner and e["outcome"] == "ok", e
    assert e["detail"]["credential_id"] == r["credential_id"]
    assert e["detail"]["old_credential_id"] == s["agent"]["credential_id"]
    assert e["detail"]["grace_seconds"] == 1

    # the server notices the end of the grace on its own
    exp_rows = wait_until(lambda: events("credential.expired", agent), exp + 1 + 2.5 - time.time(), 0.1)
    assert exp_rows, "no credential.expired row ~2 s after the grace ended"
    assert len(exp_rows) == 1, exp_rows
    e = exp_rows[0]
    assert e["agent_id"] == agent and e["owner_id"] == owner, e
    assert e["detail"]["credential_id"] == s["agent"]["credential_id"], e

    out = env.cli("credential", "revoke", r["credential_id"])
    assert out["revoked"] is True
    rev = events("credential.revoked", agent)
    assert len(rev) == 1, rev
    assert rev[0]["agent_id"] == agent and rev[0]["owner_id"] == owner
    assert rev[0]["detail"]["credential_id"] == r["credential_id"]
    # also queryable by owner, and no secret is ever written
    by_owner = {x["event"] for x in env.audit("--owner", owner)}
    assert {"credential.created", "credential.rotated", "credential.expired", "credential.revoked"} <= by_owner
    raw = env.run("audit", "--agent", agent).stdout
    assert s["secret"] not in raw and r["client_secret"] not in raw
    assert "wsk_" not in raw


def test_grace_above_a_day_is_refused():
    env = ctx()["env"]
    s = env.scenario()
    agent = s["id"]
    for bad in ("86401", "-1", "soon"):
        p = env.run("agent", "rotate", agent, "--grace", bad, "--json")
        assert p.returncode != 0, (bad, p.stdout)
        assert p.stdout == "" and "grace" in p.stderr, p.stderr
    assert live_credentials(agent) == [s["agent"]["credential_id"]]
    assert not events("credential.rotated", agent)
    assert_works(agent, s["secret"])
    r = rotate(agent, 86400)  # the limit itself is allowed
    assert abs(rfc3339_s(r["old_expires_at"]) - (time.time() + 86400)) < 3, r
    assert works(agent, s["secret"]) and works(agent, r["client_secret"])

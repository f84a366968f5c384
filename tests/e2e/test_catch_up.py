"""test_catch_up.py - a server that is behind a change another process made catches up and
answers from the current state: never 503 (SPEC, introspection section), and never a token
a committed change has taken away. Also the token ledger: a membership cascade finds every
live token, however large its record (the largest scope and audiences the limits allow),
and fails closed on a token whose scope is unknown."""
import threading
import time

from harness import Env, jwt_parts

_state = {}


def setup_module_state():
    if "env" not in _state:
        env = Env()
        _state["env"] = env
        _state["srv"] = env.serve()
    return _state["env"], _state["srv"]


def teardown_module():
    env = _state.get("env")
    if env:
        env.close()
    _state.clear()


def _introspector(env):
    r = env.cli("resource", "add", "rs-%d" % time.time_ns())
    return r["client_id"], r["client_secret"]


def _active(srv, rs, token):
    st, _, body = srv.post_form("/introspect", {"token": token}, basic=rs)
    assert st == 200, (st, body)
    return body["active"]


def test_rotation_from_the_command_line_is_seen_at_once_old_and_new_secret():
    env, srv = setup_module_state()
    sc = env.scenario()
    cid, old = sc["id"], sc["secret"]
    assert srv.token(cid, old)[0] == 200  # the server has the agent in its caches
    for i in range(5):
        rot = env.cli("agent", "rotate", cid, "--grace", "900")
        new = rot["client_secret"]
        # right after the command returns: both secrets work, nothing answers 503
        st_new, _, b_new = srv.token(cid, new)
        st_old, _, b_old = srv.token(cid, old)
        assert st_new == 200, (i, st_new, b_new)
        assert st_old == 200, (i, st_old, b_old)
        old = new


def test_suspend_from_the_command_line_refuses_at_once_with_unauthorized_client():
    env, srv = setup_module_state()
    sc = env.scenario()
    cid, secret = sc["id"], sc["secret"]
    for i in range(5):
        assert srv.token(cid, secret)[0] == 200
        env.cli("agent", "suspend", cid)
        st, h, body = srv.token(cid, secret)
        assert st == 400 and body["error"] == "unauthorized_client", (i, st, body)
        env.cli("agent", "resume", cid)
        st, _, body = srv.token(cid, secret)
        assert st == 200, (i, st, body)


def test_issuance_racing_changes_from_the_command_line_never_answers_503():
    """Tokens requested while the command line narrows and widens the owner's verbs: every
    answer is 200 or a spec-shaped refusal, never 503, and no token handed out holds a verb
    the owner did not have at the moment it was answered (checked by introspection after
    the last narrowing)."""
    env, srv = setup_module_state()
    o = env.owner()
    ws = env.workspace()
    env.member(ws["id"], o["id"], "tickets:read tickets:note")
    a = env.agent(o["id"], "tickets:read tickets:note")
    cid, secret = a["client_id"], a["client_secret"]
    rs = _introspector(env)
    statuses, tokens, stop = {}, [], threading.Event()

    def client():
        while not stop.is_set():
            st, _, body = srv.token(cid, secret, workspace=ws["id"])
            statuses[st] = statuses.get(st, 0) + 1
            if st == 200:
                tokens.append(body["access_token"])

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            env.member(ws["id"], o["id"], "tickets:read", op="set")
            env.member(ws["id"], o["id"], "tickets:read tickets:note", op="set")
        env.member(ws["id"], o["id"], "tickets:read", op="set")
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert 503 not in statuses, statuses
    assert statuses.get(200, 0) > 0, statuses
    # after the last narrowing, no token that holds tickets:note may be active (the server
    # applies the command line's changes within one second)
    time.sleep(1.2)
    leaked = [t for t in tokens if "tickets:note" in jwt_parts(t)[1]["scope"].split() and _active(srv, rs, t)]
    assert not leaked, "%d tokens with a verb taken away are still active" % len(leaked)


def _long_verbs(n):
    # verbs of the longest length allowed (64 bytes each)
    return " ".join("v%02d%s:%s" % (i, "x" * 26, "y" * 34) for i in range(n))


def test_cascade_revokes_the_largest_tokens_the_limits_allow():
    env, srv = setup_module_state()
    verbs = _long_verbs(60)
    assert all(len(v) == 64 for v in verbs.split())
    o = env.owner()
    ws = env.workspace()
    env.member(ws["id"], o["id"], verbs)
    a = env.agent(o["id"], verbs)
    auds = []
    for i in range(7):
        aud = "https://api-%d.example.com/%s" % (i, "p" * 470)
        env.cli("resource", "add", "big-%d-%d" % (i, time.time_ns()), "--audience", aud)
        auds.append(aud)
    rs = _introspector(env)
    fields = [("grant_type", "client_credentials"), ("workspace", ws["id"])] + [("resource", x) for x in auds]
    st, _, body = srv.post_form("/token", fields, basic=(a["client_id"], a["client_secret"]))
    assert st == 200, body
    token = body["access_token"]
    assert len(jwt_parts(token)[1]["scope"].split()) == 60
    # the audit row holds the whole record, uncut
    rows = [r for r in env.audit("--agent", a["client_id"]) if r["event"] == "token.issued"]
    assert rows and rows[-1]["detail"]["scope"] == jwt_parts(token)[1]["scope"]
    assert rows[-1]["detail"]["aud"] == sorted(auds) or set(rows[-1]["detail"]["aud"]) == set(auds)
    assert _active(srv, rs, token)
    # take one verb away: the token must die at once
    env.member(ws["id"], o["id"], " ".join(verbs.split()[1:]), op="set")
    deadline = time.time() + 1.0
    while _active(srv, rs, token):
        assert time.time() < deadline, "the largest token survived the cascade"
        time.sleep(0.05)


def test_cascade_fails_closed_on_a_token_whose_scope_is_unknown():
    """A ledger row without a scope (carried over from an audit trail that did not hold it)
    is revoked by any narrowing of its agent's access in its workspace."""
    env, srv = setup_module_state()
    sc = env.scenario(owner_verbs="tickets:read tickets:note", agent_verbs="tickets:read tickets:note")
    rs = _introspector(env)
    st, _, body = srv.token(sc["id"], sc["secret"], scope="tickets:read")
    assert st == 200
    token = body["access_token"]
    jti = jwt_parts(token)[1]["jti"]
    env.sql("UPDATE tokens SET scope = NULL WHERE jti = ?", (jti,))
    # tickets:read stays allowed; only tickets:note goes: a known-scope token would stay
    env.member(sc["ws"]["id"], sc["owner"]["id"], "tickets:read", op="set")
    deadline = time.time() + 1.0
    while _active(srv, rs, token):
        assert time.time() < deadline, "a token of unknown scope survived the cascade"
        time.sleep(0.05)


def test_every_issued_token_is_in_the_ledger_with_its_record():
    env, srv = setup_module_state()
    sc = env.scenario()
    st, _, body = srv.token(sc["id"], sc["secret"], scope="tickets:read", run_id="ledger-run-1")
    assert st == 200
    claims = jwt_parts(body["access_token"])[1]
    rows = env.sql("SELECT agent_id, owner_id, cred_id, run_id, ws, scope, aud, iat, exp FROM tokens WHERE jti = ?",
                   (claims["jti"],))
    assert len(rows) == 1, rows
    row = rows[0]
    assert row[0] == claims["sub"] and row[1] == claims["owner_id"] and row[2] == claims["cred_id"]
    assert row[3] == "ledger-run-1" and row[4] == claims["ws"] and row[5] == claims["scope"]
    assert row[7] // 1000 == claims["iat"] and row[8] == claims["exp"]

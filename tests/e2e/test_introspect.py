"""test_introspect.py - POST /introspect (RFC 7662) against a real `warrant serve`:
resource-server authentication, the exact inactive answer for every way a token can be
dead, the active answer's fields, the audience filter, and that every kill switch of
SPEC.md is reflected at once (in-process) or within one second (the command line, another
process on the same database), even for tokens the server has already seen and cached.

One database and one server serve the module; each test makes its own owners and agents,
so tests do not depend on each other's order."""
import base64
import json
import time
import urllib.parse

from harness import Env, basic_header, close_module_env, jwt_parts, module_env

FORM = "application/x-www-form-urlencoded"
INACTIVE = b'{"active":false}'
ACTIVE_FIELDS = {"active", "scope", "client_id", "sub", "aud", "iss", "exp", "iat", "nbf", "jti",
                 "token_type", "owner_id", "org_id", "ws", "run_id"}
CROSS_PROCESS_LIMIT = 1.0  # SPEC: live state written by the command line is seen within 1 s
AUD_X = "https://orders.example.com/api"
AUD_Y = "urn:example:billing"

_state = {}
LATENCY = {}


def _setup(env, _state):
    _state["gw"] = env.cli("resource", "add", "gateway")          # no audience: sees all
    _state["rs_x"] = env.cli("resource", "add", "orders", "--audience", AUD_X)
    _state["rs_y"] = env.cli("resource", "add", "billing", "--audience", AUD_Y)
    _state["srv"] = env.serve()


def ctx():
    """The module's database, server and resource servers, made on first use."""
    return module_env(_state, _setup)


def teardown_module():
    if LATENCY:
        print("  cross-process flips (command line -> /introspect): " +
              ", ".join("%s %.0f ms" % (k, v * 1000) for k, v in sorted(LATENCY.items())))
    close_module_env(_state, ("other_env", "env"))


# ---- helpers ----

def introspect(token, rs=None, srv=None, fields=None, auth=None):
    """POSTs to /introspect as resource server rs (default: the gateway); returns
    (status, headers, raw body bytes)."""
    s = ctx()
    srv = srv or s["srv"]
    rs = rs or s["gw"]
    f = {"token": token} if fields is None else fields
    h = {"Content-Type": FORM}
    if auth is None:
        h["Authorization"] = basic_header(rs["client_id"], rs["client_secret"])
    elif auth:
        h["Authorization"] = auth
    return srv.request("POST", "/introspect", urllib.parse.urlencode(f), h)


def assert_inactive(token, rs=None, srv=None):
    st, h, b = introspect(token, rs, srv)
    assert st == 200, (st, b)
    assert b == INACTIVE, b
    assert h.get("content-type", "").startswith("application/json"), h
    assert h.get("cache-control") == "no-store", h


def assert_active(token, rs=None, srv=None):
    st, h, b = introspect(token, rs, srv)
    assert st == 200, (st, b)
    assert b != INACTIVE, "token unexpectedly inactive"
    body = json.loads(b)
    assert body["active"] is True, body
    assert h.get("cache-control") == "no-store", h
    return body


def is_active(token, rs=None):
    st, _, b = introspect(token, rs)
    assert st == 200, (st, b)
    if b == INACTIVE:
        return False
    body = json.loads(b)
    assert body.get("active") is True, b
    return True


def wait_inactive(token, label, limit=CROSS_PROCESS_LIMIT, t0=None):
    """Polls /introspect until token is inactive; fails if that takes more than limit
    seconds from t0 (default: now). Records and returns the time it took."""
    t0 = t0 or time.monotonic()
    while True:
        if not is_active(token):
            took = time.monotonic() - t0
            LATENCY[label] = max(took, LATENCY.get(label, 0.0))
            assert_inactive(token)  # and the answer is exactly {"active":false}
            return took
        took = time.monotonic() - t0
        assert took <= limit, "%s: token still active %.2f s after the change" % (label, took)
        time.sleep(0.01)


def new_token(sc, **params):
    st, _, body = ctx()["srv"].token(sc["id"], sc["secret"], **params)
    assert st == 200, (st, body)
    return body["access_token"]


def token_resp(sc, **params):
    return ctx()["srv"].token(sc["id"], sc["secret"], **params)


def refused(sc, status, code, limit=CROSS_PROCESS_LIMIT, **params):
    """Asserts that /token refuses sc with (status, code), allowing limit seconds for a
    change made by another process to be seen."""
    t0 = time.monotonic()
    while True:
        st, _, body = token_resp(sc, **params)
        if st == status and body and body.get("error") == code:
            return body
        assert time.monotonic() - t0 <= limit, ("not refused", st, body)
        time.sleep(0.02)


def active_and_cached(token):
    """Introspects twice: the second answer comes from the server's verified-token cache."""
    assert_active(token)
    assert_active(token)


def second_agent(sc, name="second"):
    env = ctx()["env"]
    a = env.agent(sc["owner"]["id"], "tickets:read", name=name)
    return dict(sc, agent=a, id=a["client_id"], secret=a["client_secret"])


def fresh():
    return ctx()["env"].scenario()


def cli(*args):
    return ctx()["env"].cli(*args)


def flip_sig(token):
    """Changes one character in the middle of the signature (the last characters may
    carry only padding bits)."""
    h, p, s = token.split(".")
    i = len(s) // 2
    c = "A" if s[i] != "A" else "B"
    return ".".join((h, p, s[:i] + c + s[i + 1:]))


# ---- resource-server authentication ----

def test_no_credentials_401():
    st, h, b = introspect("x", auth=False)
    assert st == 401, (st, b)
    assert json.loads(b)["error"] == "invalid_client", b
    assert h.get("www-authenticate", "").startswith("Basic"), h
    assert b"active" not in b


def test_wrong_secret_and_unknown_id_401_alike():
    gw = ctx()["gw"]
    answers = []
    for cid, secret in ((gw["client_id"], gw["client_secret"][:-2] + "xx"),
                        ("rs_aaaaaaaaaaaaaaaaaaaaaaaaaa", gw["client_secret"]),
                        (gw["client_id"], "")):
        st, h, b = introspect("x", auth=basic_header(cid, secret))
        assert st == 401, (cid, st, b)
        body = json.loads(b)
        assert body["error"] == "invalid_client", body
        assert h.get("www-authenticate", "").startswith("Basic"), h
        answers.append(body)
    # the answer never says which of id or secret was wrong
    assert answers[0] == answers[1], answers


def test_agent_credentials_403():
    sc = fresh()
    tok = new_token(sc)
    st, _, b = introspect(tok, auth=basic_header(sc["id"], sc["secret"]))
    assert st == 403, (st, b)
    assert b"active" not in b, b
    # an agent with a wrong secret is simply not authenticated
    st, h, b = introspect(tok, auth=basic_header(sc["id"], sc["secret"][:-2] + "xx"))
    assert st == 401, (st, b)
    assert json.loads(b)["error"] == "invalid_client"


def test_client_secret_post_like_basic():
    """RFC 7662 §2.1 with client_secret_post (openid-client and oauth4webapi send it): the
    same answers as Basic; a wrong secret is 401 without a Basic challenge; two methods at
    once are 400."""
    s = ctx()
    gw, rs_x = s["gw"], s["rs_x"]
    sc = fresh()
    tok = new_token(sc)
    st, _, b = introspect(None, auth="", fields={"token": tok, "client_id": gw["client_id"],
                                                 "client_secret": gw["client_secret"]})
    assert st == 200 and json.loads(b)["active"] is True, (st, b)
    # an audience-bound resource server sees only its own tokens, as with Basic
    st, _, b = introspect(None, auth="", fields={"token": tok, "client_id": rs_x["client_id"],
                                                 "client_secret": rs_x["client_secret"]})
    assert st == 200 and b == INACTIVE, (st, b)
    st, h, b = introspect(None, auth="", fields={"token": tok, "client_id": gw["client_id"],
                                                 "client_secret": gw["client_secret"][:-2] + "xx"})
    assert st == 401 and json.loads(b)["error"] == "invalid_client", (st, b)
    assert "www-authenticate" not in h, h
    st, _, b = introspect(None, auth=basic_header(gw["client_id"], gw["client_secret"]),
                          fields={"token": tok, "client_secret": gw["client_secret"]})
    assert st == 400 and json.loads(b)["error"] == "invalid_request", (st, b)
    # an agent's valid credentials in the body are 403 as in Basic
    st, _, b = introspect(None, auth="", fields={"token": tok, "client_id": sc["id"], "client_secret": sc["secret"]})
    assert st == 403, (st, b)


def test_missing_token_400():
    st, _, b = introspect(None, fields={"token_type_hint": "access_token"})
    assert st == 400, (st, b)
    assert json.loads(b)["error"] == "invalid_request", b


# ---- the exact inactive answer ----

def test_garbage_tokens_inactive():
    for garbage in ("abc", "a.b.c", "x" * 300, "eyJhbGciOiJub25lIn0.e30.",
                    "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0."):
        assert_inactive(garbage)


def test_bad_signature_and_tampered_payload_inactive():
    sc = fresh()
    tok = new_token(sc)
    active_and_cached(tok)
    assert_inactive(flip_sig(tok))
    # a payload changed (scope widened) under the original signature
    h, p, s = tok.split(".")
    _, claims = jwt_parts(tok)
    claims["scope"] = "tickets:read refunds:issue"
    p2 = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    assert_inactive(".".join((h, p2, s)))
    assert_active(tok)  # the original is untouched


def test_token_signed_by_another_database_inactive():
    s = ctx()
    other = Env()
    s["other_env"] = other
    osc = other.scenario()
    # same issuer string, different signing keys: only the key tells them apart
    osrv = other.serve("--issuer", s["srv"].base)
    st, _, body = osrv.token(osc["id"], osc["secret"])
    assert st == 200, body
    foreign = body["access_token"]
    hdr, claims = jwt_parts(foreign)
    assert claims["iss"] == s["srv"].base
    st, _, jwks = s["srv"].get_json("/jwks")
    assert hdr["kid"] not in [k["kid"] for k in jwks["keys"]]
    assert_inactive(foreign)
    other.close()
    s.pop("other_env", None)


def test_expired_token_inactive_without_leeway():
    s = ctx()
    sc = fresh()
    short = s["env"].serve("--token-ttl", "1")
    try:
        st, _, body = short.token(sc["id"], sc["secret"])
        assert st == 200, body
        assert body["expires_in"] == 1, body
        tok = body["access_token"]
        _, claims = jwt_parts(tok)
        assert claims["exp"] - claims["iat"] == 1, claims
        if time.time() < claims["exp"] - 0.3:
            assert_active(tok, srv=short)
        # no leeway on exp: inactive from the second exp on
        while time.time() < claims["exp"] + 0.05:
            time.sleep(0.05)
        assert_inactive(tok, srv=short)
    finally:
        short.stop()


def test_revoked_jti_via_revoke_endpoint_immediately():
    s = ctx()
    sc = fresh()
    tok, other = new_token(sc), new_token(sc)
    active_and_cached(tok)
    st, _, b = s["srv"].request("POST", "/revoke", urllib.parse.urlencode({"token": tok}),
                                {"Content-Type": FORM, "Authorization": basic_header(sc["id"], sc["secret"])})
    assert st == 200, (st, b)
    assert_inactive(tok)  # in-process: no wait at all
    assert_active(other)


def test_revoked_jti_via_cli_within_one_second():
    sc = fresh()
    tok, other = new_token(sc), new_token(sc)
    active_and_cached(tok)
    _, claims = jwt_parts(tok)
    out = cli("revoke", "--jti", claims["jti"])
    assert out["id"] == claims["jti"], out
    wait_inactive(tok, "revoke --jti")
    assert_active(other)


def test_revoke_run_with_agent():
    sc = fresh()
    sc2 = second_agent(sc)
    run = "job-%d" % time.time_ns()
    t1, t2 = new_token(sc, run_id=run), new_token(sc, run_id=run)
    keep = new_token(sc, run_id=run + "-other")
    same_run_other_agent = new_token(sc2, run_id=run)
    for t in (t1, t2, keep, same_run_other_agent):
        active_and_cached(t)
    out = cli("revoke", "--run", run, "--agent", sc["id"])
    assert out["id"] == run, out
    t0 = time.monotonic()
    wait_inactive(t1, "revoke --run --agent", t0=t0)
    wait_inactive(t2, "revoke --run --agent", t0=t0)
    assert_active(keep)
    assert_active(same_run_other_agent)  # --agent limits the switch to that agent
    refused(sc, 400, "invalid_request", run_id=run)
    assert_active(new_token(sc, run_id=run + "-next"))
    assert_active(new_token(sc2, run_id=run))


def test_revoke_run_without_agent_kills_every_agent_that_used_it():
    env = ctx()["env"]
    a, b = fresh(), fresh()  # two agents of two different owners
    run = "shared-run-%d" % time.time_ns()
    ta, tb = new_token(a, run_id=run), new_token(b, run_id=run)
    keep = new_token(a, run_id=run + "-x")
    for t in (ta, tb, keep):
        active_and_cached(t)
    out = cli("revoke", "--run", run)
    n = out.get("agents", out.get("count"))
    assert n == 2, out
    t0 = time.monotonic()
    wait_inactive(ta, "revoke --run", t0=t0)
    wait_inactive(tb, "revoke --run", t0=t0)
    assert_active(keep)
    for sc in (a, b):
        refused(sc, 400, "invalid_request", run_id=run)
    # the text form reports how many agents it acted on
    p = env.run("revoke", "--run", run)
    assert p.returncode == 0, p.stderr
    assert "2" in p.stdout, p.stdout


def test_revoke_agent_old_tokens_inactive_new_ones_active():
    sc = fresh()
    olds = [new_token(sc), new_token(sc, run_id="r-%d" % time.time_ns())]
    for t in olds:
        active_and_cached(t)
    out = cli("revoke", "--agent", sc["id"])
    assert out["id"] == sc["id"], out
    t0 = time.monotonic()
    for t in olds:
        wait_inactive(t, "revoke --agent", t0=t0)
    fresh_tok = new_token(sc)
    assert_active(fresh_tok)
    time.sleep(0.3)  # past a poll of the server: the old ones stay dead, the new one alive
    for t in olds:
        assert_inactive(t)
    assert_active(fresh_tok)


def wait_active_new_token(sc, limit=CROSS_PROCESS_LIMIT):
    """After a change that allows tokens again: within limit, /token answers 200 and the
    new token is active."""
    t0 = time.monotonic()
    while True:
        st, _, body = token_resp(sc)
        if st == 200 and is_active(body["access_token"]):
            return body["access_token"]
        assert time.monotonic() - t0 <= limit, ("no active new token", st, body)
        time.sleep(0.02)


def test_agent_suspend_then_resume():
    sc = fresh()
    tok = new_token(sc)
    active_and_cached(tok)
    out = cli("agent", "suspend", sc["id"])
    assert out["status"] == "suspended", out
    wait_inactive(tok, "agent suspend")
    refused(sc, 400, "unauthorized_client")
    out = cli("agent", "resume", sc["id"])
    assert out["status"] == "active", out
    new = wait_active_new_token(sc)
    time.sleep(0.3)
    assert_inactive(tok)  # suspension killed it for good
    assert_active(new)


def test_agent_retire_is_final():
    env = ctx()["env"]
    sc = fresh()
    tok = new_token(sc)
    active_and_cached(tok)
    out = cli("agent", "retire", sc["id"])
    assert out["status"] == "retired", out
    wait_inactive(tok, "agent retire")
    refused(sc, 400, "unauthorized_client")
    p = env.run("agent", "resume", sc["id"])
    assert p.returncode != 0, p.stdout
    assert p.stderr.strip(), "no error message"
    time.sleep(0.3)
    refused(sc, 400, "unauthorized_client", limit=0)
    assert_inactive(tok)


def test_owner_deactivate_kills_all_their_agents():
    sc = fresh()
    sc2 = second_agent(sc, "helper")
    bystander = fresh()  # another owner's agent
    toks = [new_token(sc), new_token(sc), new_token(sc2)]
    other = new_token(bystander)
    for t in toks + [other]:
        active_and_cached(t)
    out = cli("owner", "deactivate", sc["owner"]["id"])
    assert out["id"] == sc["owner"]["id"], out
    t0 = time.monotonic()
    for t in toks:
        wait_inactive(t, "owner deactivate", t0=t0)
    for a in (sc, sc2):
        refused(a, 400, "unauthorized_client")
    assert_active(other)
    time.sleep(0.3)
    for t in toks:
        assert_inactive(t)


# ---- the active answer ----

def test_active_body_fields_match_claims():
    sc = fresh()
    run = "fields-%d" % time.time_ns()
    tok = new_token(sc, run_id=run, scope="tickets:read")
    _, claims = jwt_parts(tok)
    st, h, b = introspect(tok)
    assert st == 200, (st, b)
    assert h.get("content-type", "").startswith("application/json"), h
    assert h.get("cache-control") == "no-store", h
    body = json.loads(b)
    assert set(body) == ACTIVE_FIELDS, sorted(set(body) ^ ACTIVE_FIELDS)
    assert body["active"] is True
    assert body["token_type"] == "Bearer"
    for k in ACTIVE_FIELDS - {"active", "token_type"}:
        assert body[k] == claims[k], (k, body[k], claims.get(k))
    assert body["sub"] == body["client_id"] == sc["id"]
    assert body["owner_id"] == sc["owner"]["id"]
    assert body["ws"] == sc["ws"]["id"]
    assert body["run_id"] == run
    assert body["scope"] == "tickets:read"
    assert body["iss"] == ctx()["srv"].base
    assert isinstance(body["exp"], int) and body["exp"] > time.time()


def test_active_body_audience_array():
    s = ctx()
    sc = fresh()
    st, _, resp = s["srv"].post_form("/token", [("grant_type", "client_credentials"), ("resource", AUD_X),
                                                ("resource", AUD_Y)], basic=(sc["id"], sc["secret"]))
    assert st == 200, resp
    tok = resp["access_token"]
    _, claims = jwt_parts(tok)
    body = assert_active(tok)
    assert body["aud"] == claims["aud"] == [AUD_X, AUD_Y], body
    # each audience's resource server sees it
    assert_active(tok, rs=s["rs_x"])
    assert_active(tok, rs=s["rs_y"])


def test_audience_filter():
    s = ctx()
    sc = fresh()
    for_x = new_token(sc, resource=AUD_X)
    default = new_token(sc)
    _, cx = jwt_parts(for_x)
    _, cd = jwt_parts(default)
    assert cx["aud"] in (AUD_X, [AUD_X]), cx
    assert AUD_X not in (cd["aud"] if isinstance(cd["aud"], list) else [cd["aud"]])
    body = assert_active(for_x, rs=s["rs_x"])
    assert body["sub"] == sc["id"]
    assert_inactive(default, rs=s["rs_x"])  # not meant for X: exactly {"active":false}
    assert_inactive(for_x, rs=s["rs_y"])
    # a resource server without an audience (a trusted gateway) sees all of them
    assert_active(for_x)
    assert_active(default)


def test_inactive_also_for_dead_token_meant_for_the_caller():
    """The audience filter does not let a dead token through: revoked + right audience."""
    s = ctx()
    sc = fresh()
    tok = new_token(sc, resource=AUD_X)
    assert_active(tok, rs=s["rs_x"])
    _, claims = jwt_parts(tok)
    cli("revoke", "--jti", claims["jti"])
    t0 = time.monotonic()
    while is_active(tok, rs=s["rs_x"]):
        assert time.monotonic() - t0 <= CROSS_PROCESS_LIMIT, "still active for its own audience"
        time.sleep(0.01)
    assert_inactive(tok, rs=s["rs_x"])


def test_cross_process_changes_seen_within_one_second_without_traffic():
    """Requests that write (every introspection is audited) may pick up pending changes
    early; here the server gets no request at all for one second after the command line
    changed the state, so only its own background poll can have applied the changes."""
    env = ctx()["env"]
    by_jti, by_run, by_agent, suspended, owner_gone = fresh(), fresh(), fresh(), fresh(), fresh()
    run = "quiet-%d" % time.time_ns()
    toks = {
        "jti": new_token(by_jti),
        "run": new_token(by_run, run_id=run),
        "agent": new_token(by_agent),
        "suspend": new_token(suspended),
        "owner": new_token(owner_gone),
    }
    alive = new_token(fresh())
    for t in list(toks.values()) + [alive]:
        active_and_cached(t)
    cli("revoke", "--jti", jwt_parts(toks["jti"])[1]["jti"])
    cli("revoke", "--run", run, "--agent", by_run["id"])
    cli("revoke", "--agent", by_agent["id"])
    cli("agent", "suspend", suspended["id"])
    env.cli("owner", "deactivate", owner_gone["owner"]["id"])
    time.sleep(CROSS_PROCESS_LIMIT)
    for kind, t in toks.items():
        st, _, b = introspect(t)
        assert (st, b) == (200, INACTIVE), (kind, st, b)
    assert_active(alive)


def test_owner_api_run_revoke_immediately_and_only_their_agents():
    """/v1/runs/{R}/revoke runs in the server: no wait at all. Another owner's agent that
    chose the same run id is not touched."""
    s = ctx()
    env = s["env"]
    email, pw = "runrevoke-%d@example.com" % time.time_ns(), "correct horse battery staple"
    owner = env.owner(email=email, password=pw)
    ws = env.workspace()
    env.member(ws["id"], owner["id"], "tickets:read")
    a = env.agent(owner["id"], "tickets:read", name="mine")
    mine = {"id": a["client_id"], "secret": a["client_secret"]}
    theirs = fresh()
    run = "owner-run-%d" % time.time_ns()
    t_mine, t_theirs = new_token(mine, run_id=run), new_token(theirs, run_id=run)
    active_and_cached(t_mine)
    active_and_cached(t_theirs)
    st, _, b = s["srv"].request("POST", "/v1/runs/%s/revoke" % run, b"",
                                {"Authorization": basic_header(email, pw, form=False)})
    assert st == 200, (st, b)
    assert_inactive(t_mine)
    assert_active(t_theirs)
    refused(mine, 400, "invalid_request", limit=0, run_id=run)
    assert_active(new_token(theirs, run_id=run))

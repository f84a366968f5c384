"""test_delegation.py - delegation between agents (SPEC "Delegation between agents", RFC 8693
token exchange): the policy (`agent delegate`, /v1/agents/{id}/delegates), the exchange at
/token with every claim of the new token verified by an independent JWT library, two- and
three-hop chains, attenuation, each cascade (anything upstream and the actor's own kill
switches) seen at /introspect within one second, the refusals, the audit rows of both owners,
and the race of an exchange against a revocation of its subject token.

One server for the module. Changes are made mostly with the command line, another process:
the server sees them within one second (SPEC), so a cascade is polled for at most
WINDOW seconds after the command returned."""
import json
import threading
import time
import urllib.parse

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from harness import PG, Env, Skip, basic_header, close_module_env, jwt_parts, module_env

FORM = "application/x-www-form-urlencoded"
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
AT = "urn:ietf:params:oauth:token-type:access_token"
INACTIVE = {"active": False}
WINDOW = 1.0  # SPEC: within one second
R, N, I = "tickets:read", "tickets:note", "refunds:issue"
PW = "correct horse battery staple"

_state = {}


def _setup(env, st):
    st["gw"] = env.cli("resource", "add", "gateway")  # no audience: sees every token
    st["srv"] = env.serve()
    st["jwks"] = jwt.PyJWKClient(st["srv"].base + "/jwks")
    st["ws"] = env.workspace()
    env.cli("workspace", "approval", st["ws"]["id"], "--verbs", I)


def ctx():
    return module_env(_state, _setup)


def teardown_module():
    close_module_env(_state)


# ---- helpers ----

def owner(verbs=R + " " + N, password=None):
    s = ctx()
    o = s["env"].owner(password=password)
    s["env"].member(s["ws"]["id"], o["id"], verbs)
    return o


def agent(o, verbs=R + " " + N + " " + I):
    return ctx()["env"].agent(o["id"], verbs)


def delegate(a, b, depth=None, op="delegate"):
    args = ["agent", op, a["id"], "--to", b["id"]]
    if depth:
        args += ["--max-depth", str(depth)]
    return ctx()["env"].cli(*args)


def token(a, scope=None, run_id=None):
    st, _, body = ctx()["srv"].token(a["client_id"], a["client_secret"], workspace=ctx()["ws"]["id"],
                                     scope=scope, run_id=run_id)
    assert st == 200, (st, body)
    return body["access_token"]


def exchange(actor, subject, srv=None, **extra):
    f = {"grant_type": GRANT, "subject_token": subject, "subject_token_type": AT}
    f.update({k: v for k, v in extra.items() if v is not None})
    return (srv or ctx()["srv"]).post_form("/token", f, basic=(actor["client_id"], actor["client_secret"]))


def exchanged(actor, subject, **extra):
    st, h, body = exchange(actor, subject, **extra)
    assert st == 200, (st, body)
    assert h.get("cache-control") == "no-store"
    return body


def introspect(tok, srv=None):
    s = ctx()
    st, _, b = (srv or s["srv"]).request(
        "POST", "/introspect", urllib.parse.urlencode({"token": tok}),
        {"Content-Type": FORM, "Authorization": basic_header(s["gw"]["client_id"], s["gw"]["client_secret"])})
    assert st == 200, (st, b)
    return json.loads(b)


def active(tok, srv=None):
    r = introspect(tok, srv)
    if r == INACTIVE:
        return False
    assert r.get("active") is True, r
    return True


def inactive_within(tokens, since, srv=None):
    """Every token in tokens is inactive no later than WINDOW s after since (when the change
    was committed: a command returned, or an HTTP call answered)."""
    left = list(tokens)
    while left:
        left = [t for t in left if active(t, srv)]
        if left:
            assert time.time() - since < WINDOW, "still active %.2f s after the change" % (time.time() - since)
            time.sleep(0.05)


def verify(tok):
    """RFC 9068 verification with pyjwt against /jwks: signature, typ, iss, aud, exp."""
    s = ctx()
    assert jwt.get_unverified_header(tok)["typ"] == "at+jwt"
    key = s["jwks"].get_signing_key_from_jwt(tok)
    return jwt.decode(tok, key.key, algorithms=["ES256"], audience=s["srv"].base, issuer=s["srv"].base,
                      options={"require": ["exp", "iat", "nbf", "jti", "sub", "aud", "iss"]})


def chain(depth=1, owners=None):
    """A (owner uA) -> B (owner uB): A's token and B's exchanged one. owners: (uA, uB) to
    share, else new ones."""
    ua, ub = owners or (owner(), owner())
    a, b = agent(ua), agent(ub)
    delegate(a, b, depth)
    t1 = token(a)
    t2 = exchanged(b, t1)["access_token"]
    return {"ua": ua, "ub": ub, "a": a, "b": b, "t1": t1, "t2": t2}


def refused(actor, subject, reason, **extra):
    st, h, body = exchange(actor, subject, **extra)
    assert st == 400 and body["error"] == "invalid_request", (st, body)
    assert body["error_description"], body
    assert h.get("cache-control") == "no-store"
    rows = [r for r in ctx()["env"].audit("--agent", actor["id"]) if r["event"] == "token.refused"]
    assert rows and rows[-1]["detail"]["reason"] == reason, rows[-1:] or rows
    return body


# ---- the grant and its token ----

def test_discovery_lists_the_grant():
    st, _, doc = ctx()["srv"].get_json("/.well-known/oauth-authorization-server")
    assert st == 200 and GRANT in doc["grant_types_supported"]


def test_two_hop_token_claims_verify_independently():
    ua, ub = owner(R + " " + N), owner(R)  # B's owner reads only: attenuation
    a, b = agent(ua), agent(ub)
    delegate(a, b)
    t1 = token(a, run_id="run-orchestrate-1")
    c1 = verify(t1)
    time.sleep(0.01)
    body = exchanged(b, t1)
    assert body["issued_token_type"] == AT and body["token_type"] == "Bearer"
    assert body["scope"] == R and 0 < body["expires_in"] <= 300
    c = verify(body["access_token"])
    assert c["sub"] == a["id"] and c["client_id"] == b["id"] and c["owner_id"] == ua["id"]
    assert c["act"] == {"sub": b["id"], "owner_id": ub["id"]}
    assert c["ws"] == c1["ws"] == ctx()["ws"]["id"] and c["run_id"] == "run-orchestrate-1"
    assert c["scope"] == R and c["exp"] <= c1["exp"] and c["aud"] == ctx()["srv"].base
    assert c["org_id"] == c1["org_id"] and c["jti"] != c1["jti"]
    assert c["cred_id"] != c1["cred_id"]  # the actor's credential
    r = introspect(body["access_token"])
    assert r["active"] and r["act"] == c["act"] and r["sub"] == a["id"] and r["client_id"] == b["id"]
    assert r["scope"] == R and r["run_id"] == "run-orchestrate-1"
    # a scope asked for is narrowed to what both may do; approval-required never
    assert exchanged(b, t1, scope=R + " " + N)["scope"] == R


def test_three_hop_chain_nests_act_and_checks_every_depth():
    ua, ub, uc = owner(), owner(), owner()
    a, b, c = agent(ua), agent(ub), agent(uc)
    delegate(a, b)  # max_depth 1
    delegate(b, c, 2)
    t1 = token(a)
    t2 = exchanged(b, t1)["access_token"]
    refused(c, t2, "depth_exceeded")  # A -> B allows one level only
    delegate(a, b, 2)
    body = exchanged(c, t2, scope=R)
    t3 = body["access_token"]
    claims = verify(t3)
    assert claims["sub"] == a["id"] and claims["client_id"] == c["id"] and claims["owner_id"] == ua["id"]
    assert claims["act"] == {"sub": c["id"], "owner_id": uc["id"], "act": {"sub": b["id"], "owner_id": ub["id"]}}
    assert claims["exp"] <= verify(t2)["exp"] and claims["run_id"] == verify(t1)["run_id"]
    assert introspect(t3)["act"] == claims["act"]
    rows = ctx()["env"].audit("--agent", c["id"])
    ex = [r for r in rows if r["event"] == "token.exchanged" and r["jti"] == claims["jti"]]
    assert ex and ex[0]["detail"]["depth"] == 2 and ex[0]["detail"]["subject_jti"] == verify(t2)["jti"]
    # narrowing a delegation below a chain's depth ends it
    delegate(a, b, 1)
    inactive_within([t3], time.time())
    assert active(t2)


def test_delegation_over_v1_only_by_the_delegating_agents_owner():
    s = ctx()
    ua, ub = owner(password=PW), owner(password=PW)
    a, b = agent(ua), agent(ub)

    def v1(who, method, path, body=None):
        h = {"Authorization": basic_header(who["email"], PW, form=False), "Content-Type": "application/json"}
        st, _, raw = s["srv"].request(method, path, json.dumps(body) if body is not None else None, h)
        return st, json.loads(raw) if raw else None

    st, _ = v1(ub, "POST", "/v1/agents/%s/delegates" % a["id"], {"agent": b["id"]})
    assert st == 404  # not ub's agent
    st, _ = v1(ua, "POST", "/v1/agents/%s/delegates" % a["id"], {"agent": b["id"], "max_depth": 6})
    assert st == 400
    st, body = v1(ua, "POST", "/v1/agents/%s/delegates" % a["id"], {"agent": b["id"]})
    assert st == 201 and body["max_depth"] == 1 and body["delegate_id"] == b["id"], body
    st, body = v1(ua, "GET", "/v1/agents/%s/delegates" % a["id"])
    assert st == 200 and [d["agent"] for d in body] == [b["id"]]
    t2 = exchanged(b, token(a))["access_token"]
    t = time.time()
    st, body = v1(ua, "DELETE", "/v1/agents/%s/delegates/%s" % (a["id"], b["id"]))
    assert st == 200 and body["removed"] is True
    inactive_within([t2], t)
    assert v1(ua, "DELETE", "/v1/agents/%s/delegates/%s" % (a["id"], b["id"]))[0] == 404
    rows = s["env"].audit("--owner", ua["id"])
    events = [(r["event"], r["actor"]) for r in rows if r["event"].startswith("delegation.")]
    assert events == [("delegation.added", ua["id"]), ("delegation.removed", ua["id"])], events


def test_cli_delegate_refuses_bad_input():
    env = ctx()["env"]
    ua = owner()
    a = agent(ua)
    for args in (["--to", a["id"]], ["--to", "agt_nobody"], ["--to", a["id"], "--max-depth", "6"]):
        p = env.run("agent", "delegate", a["id"], *args)
        assert p.returncode != 0 and p.stderr.strip(), (args, p.stderr)
    p = env.run("agent", "undelegate", a["id"], "--to", agent(ua)["id"])
    assert p.returncode != 0 and "does not delegate" in p.stderr


# ---- refusals ----

def test_refusals_are_invalid_request_and_audited():
    x = chain()
    a, b = x["a"], x["b"]
    stranger = agent(x["ub"])
    refused(stranger, x["t1"], "no_delegation")  # A never delegated to it
    refused(b, x["t1"], "actor_token", actor_token=x["t1"], actor_token_type=AT)
    refused(b, x["t1"], "requested_token_type", requested_token_type="urn:ietf:params:oauth:token-type:id_token")
    refused(b, x["t1"], "subject_token_type", subject_token_type="urn:ietf:params:oauth:token-type:jwt")
    refused(b, x["t1"], "nothing_left", scope=I)  # approval-required: never exchanged
    body = refused(b, x["t2"], "no_delegation")  # B -> B: no such delegation
    assert "already" in body["error_description"] and "has not delegated" not in body["error_description"], body
    # a token of another issuer, signed with a key of its own
    key = ec.generate_private_key(ec.SECP256R1())
    claims = dict(jwt_parts(x["t1"])[1], jti="forged-jti")
    forged = jwt.encode(claims, key, algorithm="ES256", headers={"typ": "at+jwt", "kid": jwt_parts(x["t1"])[0]["kid"]})
    refused(b, forged, "subject_token_invalid")
    refused(b, "not-a-jwt", "subject_token_invalid")
    # an inactive subject
    st, _, _ = ctx()["srv"].post_form("/revoke", {"token": x["t1"]}, basic=(a["client_id"], a["client_secret"]))
    assert st == 200
    refused(b, x["t1"], "subject_inactive")
    # depth: an exchanged token of depth 5 cannot be exchanged again
    o = owner()
    agents = [agent(o) for _ in range(6)]
    for p, q in zip(agents, agents[1:]):
        delegate(p, q, 5)
    t = token(agents[0])
    for q in agents[1:]:
        t = exchanged(q, t)["access_token"]
    assert len(json.dumps(verify(t)["act"]).split('"act"')) == 5  # five levels
    delegate(agents[-1], agents[0], 5)
    refused(agents[0], t, "depth_exceeded")


# ---- the chain is live ----

def test_every_cascade_is_seen_within_one_second():
    env = ctx()["env"]
    srv = ctx()["srv"]
    cases = {}
    shared = (owner(), owner())  # for the changes that leave the owners alone
    for name in ("revoke_subject", "run", "run_any_agent", "suspend_a", "retire_a", "revoke_agent_a", "owner_a",
                 "cred_a", "narrow_a", "undelegate", "suspend_b", "revoke_agent_b", "owner_b", "cred_b", "run_b",
                 "narrow_b"):
        cases[name] = chain(owners=None if name.startswith(("owner_", "narrow_")) else shared)
    for x in cases.values():
        assert active(x["t1"]) and active(x["t2"])

    def run_of(x):
        return verify(x["t1"])["run_id"]
    changes = {
        "revoke_subject": lambda x: srv.post_form("/revoke", {"token": x["t1"]},
                                                  basic=(x["a"]["client_id"], x["a"]["client_secret"])),
        "run": lambda x: env.cli("revoke", "--run", run_of(x), "--agent", x["a"]["id"]),
        "run_any_agent": lambda x: env.cli("revoke", "--run", run_of(x)),
        "suspend_a": lambda x: env.cli("agent", "suspend", x["a"]["id"]),
        "retire_a": lambda x: env.cli("agent", "retire", x["a"]["id"]),
        "revoke_agent_a": lambda x: env.cli("revoke", "--agent", x["a"]["id"]),
        "owner_a": lambda x: env.cli("owner", "deactivate", x["ua"]["id"]),
        "cred_a": lambda x: env.cli("credential", "revoke", verify(x["t1"])["cred_id"]),
        "narrow_a": lambda x: env.member(ctx()["ws"]["id"], x["ua"]["id"], N, op="set"),
        "narrow_b": lambda x: env.member(ctx()["ws"]["id"], x["ub"]["id"], N, op="set"),
        "undelegate": lambda x: delegate(x["a"], x["b"], op="undelegate"),
        "suspend_b": lambda x: env.cli("agent", "suspend", x["b"]["id"]),
        "revoke_agent_b": lambda x: env.cli("revoke", "--agent", x["b"]["id"]),
        "owner_b": lambda x: env.cli("owner", "deactivate", x["ub"]["id"]),
        "cred_b": lambda x: env.cli("credential", "revoke", verify(x["t2"])["cred_id"]),
        "run_b": lambda x: env.cli("revoke", "--run", run_of(x), "--agent", x["b"]["id"]),
    }
    for name, x in cases.items():
        changes[name](x)
        t = time.time()  # committed: seen within one second from now
        try:
            inactive_within([x["t2"]], t)
        except AssertionError as e:
            raise AssertionError("%s: %s" % (name, e))
    # the actor's own switches leave the subject token alone
    for name in ("undelegate", "suspend_b", "revoke_agent_b", "owner_b", "cred_b", "run_b", "narrow_b"):
        assert active(cases[name]["t1"]), name
    # a delegation given again does not bring back tokens exchanged under the old one
    x = cases["undelegate"]
    delegate(x["a"], x["b"])
    time.sleep(0.3)
    assert not active(x["t2"])
    assert active(exchanged(x["b"], x["t1"])["access_token"])


def test_run_kill_switch_kills_the_whole_tree():
    ua, ub, uc = owner(), owner(), owner()
    a, b, c = agent(ua), agent(ub), agent(uc)
    delegate(a, b, 2)
    delegate(b, c, 2)
    delegate(a, c, 1)
    t1 = token(a)
    t2 = exchanged(b, t1)["access_token"]
    t3 = exchanged(c, t2)["access_token"]
    t4 = exchanged(c, t1)["access_token"]
    run = verify(t1)["run_id"]
    assert all(verify(t)["run_id"] == run for t in (t2, t3, t4))
    other = token(a)  # another run of A
    out = ctx()["env"].cli("revoke", "--run", run)
    inactive_within([t1, t2, t3, t4], time.time())
    assert active(other), out
    # and new exchanges in that run are refused
    st, _, body = exchange(b, t1)
    assert st == 400 and body["error"] == "invalid_request"


def test_revoke_endpoint_takes_an_exchanged_token_from_its_actor_only():
    """RFC 7009 §2.1: the token was issued to the actor (client_id), not to the subject."""
    x = chain()
    srv = ctx()["srv"]
    st, _, _ = srv.post_form("/revoke", {"token": x["t2"]}, basic=(x["a"]["client_id"], x["a"]["client_secret"]))
    assert st == 200 and active(x["t2"])  # not A's token
    st, _, _ = srv.post_form("/revoke", {"token": x["t2"]}, basic=(x["b"]["client_id"], x["b"]["client_secret"]))
    assert st == 200 and not active(x["t2"]) and active(x["t1"])
    rows = [r for r in ctx()["env"].audit("--agent", x["b"]["id"]) if r["event"] == "token.revoked"]
    assert rows and rows[-1]["owner_id"] == x["ub"]["id"] and rows[-1]["jti"] == verify(x["t2"])["jti"]


def test_actors_owner_kills_the_run_of_its_agent_over_v1():
    """/v1/runs/{R}/revoke by B's owner: B's exchanged tokens of run R die, A's do not."""
    ua, ub = owner(), owner(password=PW)
    a, b = agent(ua), agent(ub)
    delegate(a, b)
    t1 = token(a)
    t2 = exchanged(b, t1)["access_token"]
    run = verify(t1)["run_id"]
    t = time.time()
    st, _, body = ctx()["srv"].request("POST", "/v1/runs/%s/revoke" % run, b"",
                                       {"Authorization": basic_header(ub["email"], PW, form=False)})
    assert st == 200, body
    inactive_within([t2], t)
    assert active(t1)
    st, _, body = exchange(b, t1)
    assert st == 400 and body["error"] == "invalid_request", body


def test_audit_rows_found_by_both_owners():
    x = chain()
    jti = verify(x["t2"])["jti"]
    env = ctx()["env"]
    for o, agent_id in ((x["ub"], x["b"]["id"]), (x["ua"], x["a"]["id"])):
        rows = [r for r in env.audit("--owner", o["id"]) if r["event"] == "token.exchanged"]
        assert len(rows) == 1, (o["id"], rows)
        r = rows[0]
        assert r["actor"] == x["b"]["id"] and r["owner_id"] == o["id"] and r["agent_id"] == agent_id
        assert r["jti"] == jti and r["outcome"] == "ok" and r["run_id"] == verify(x["t1"])["run_id"]
        d = r["detail"]
        assert d["subject_jti"] == verify(x["t1"])["jti"] and d["subject_agent"] == x["a"]["id"]
        assert d["subject_owner"] == x["ua"]["id"] and d["depth"] == 1
        assert x["t1"] not in json.dumps(r) and x["t2"] not in json.dumps(r)


def test_dpop_proof_binds_the_exchanged_token():
    import uuid
    x = chain()
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key().public_numbers()

    def b64(n):
        import base64
        return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64(pub.x), "y": b64(pub.y)}
    srv = ctx()["srv"]
    proof = jwt.encode({"htm": "POST", "htu": srv.base + "/token", "iat": int(time.time()), "jti": str(uuid.uuid4())},
                       key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": jwk})
    f = {"grant_type": GRANT, "subject_token": x["t1"], "subject_token_type": AT}
    st, _, body = srv.post_form("/token", f, basic=(x["b"]["client_id"], x["b"]["client_secret"]),
                                headers={"DPoP": proof})
    assert st == 200 and body["token_type"] == "DPoP", body
    c = verify(body["access_token"])
    assert "jkt" in c["cnf"] and c["act"]["sub"] == x["b"]["id"]
    r = introspect(body["access_token"])
    assert r["token_type"] == "DPoP" and r["cnf"] == c["cnf"] and r["act"] == c["act"]


def test_actor_authenticates_with_a_public_key_and_revoking_that_key_ends_the_token():
    """private_key_jwt (RFC 7523): the actor has no secret at all."""
    import base64
    import os
    env, srv = ctx()["env"], ctx()["srv"]
    ua, ub = owner(), owner()
    a = agent(ua)
    key = ec.generate_private_key(ec.SECP256R1())
    n = key.public_key().public_numbers()

    def b64(i):
        return base64.urlsafe_b64encode(i.to_bytes(32, "big")).rstrip(b"=").decode()
    path = os.path.join(env.dir, "b-%d.jwk" % time.time_ns())
    with open(path, "w") as f:
        json.dump({"kty": "EC", "crv": "P-256", "x": b64(n.x), "y": b64(n.y)}, f)
    b = env.cli("agent", "add", "--owner", ub["id"], "--name", "keyed", "--verbs", R + " " + N, "--jwk-file", path)
    assert "client_secret" not in b
    delegate(a, b)
    now = int(time.time())
    asr = jwt.encode({"iss": b["id"], "sub": b["id"], "aud": srv.base, "iat": now, "exp": now + 60,
                      "jti": "x-%d" % time.time_ns()}, key, algorithm="ES256")
    st, _, body = srv.post_form("/token", {
        "grant_type": GRANT, "subject_token": token(a), "subject_token_type": AT,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": asr})
    assert st == 200, body
    c = verify(body["access_token"])
    assert c["client_id"] == b["id"] and c["cred_id"] == b["credential_id"] and c["act"]["sub"] == b["id"]
    env.cli("credential", "revoke", b["credential_id"])
    inactive_within([body["access_token"]], time.time())


def test_exchange_racing_a_revocation_of_its_subject():
    """Exchanges of A's token hammer /token while A revokes that token. No exchanged token
    stays active once the revocation is done (plus the one second), and every exchange
    that started after the revocation answered is refused."""
    srv = ctx()["srv"]
    owners = (owner(), owner())
    for rnd in range(4):
        x = chain(owners=owners)
        a, b = x["a"], x["b"]
        issued, late = [], []
        stop = threading.Event()
        done_at = [None]
        lock = threading.Lock()

        def hammer():
            while not stop.is_set():
                started = time.time()
                st, _, body = exchange(b, x["t1"])
                with lock:
                    if st == 200:
                        issued.append(body["access_token"])
                    if done_at[0] is not None and started > done_at[0]:
                        late.append(st)
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for th in threads:
            th.start()

        def wait_for(cond):
            deadline = time.time() + 10
            while not cond() and time.time() < deadline:
                time.sleep(0.005)
        wait_for(lambda: issued)  # exchanges are under way
        time.sleep(0.01 * rnd)
        st, _, _ = srv.post_form("/revoke", {"token": x["t1"]}, basic=(a["client_id"], a["client_secret"]))
        done_at[0] = time.time()
        assert st == 200
        wait_for(lambda: len(late) >= 8)  # and go on after the revocation
        stop.set()
        for th in threads:
            th.join()
        assert issued and late and all(s == 400 for s in late), (len(issued), late)
        inactive_within(issued + [x["t2"]], done_at[0])


def test_a_node_sees_what_another_issued_and_undelegation():
    if not PG:
        raise Skip("several nodes share a PostgreSQL database only")
    env = Env()
    try:
        env.cli("resource", "add", "gw2")
        gw = env.cli("resource", "add", "gw")
        n1, n2 = env.serve_nodes(2)
        ws = env.workspace()
        ua, ub = env.owner(), env.owner()
        env.member(ws["id"], ua["id"], R)
        env.member(ws["id"], ub["id"], R)
        a, b = env.agent(ua["id"], R), env.agent(ub["id"], R)
        env.cli("agent", "delegate", a["id"], "--to", b["id"])
        st, _, body = n1.token(a["client_id"], a["client_secret"], workspace=ws["id"])
        t1 = body["access_token"]
        st, _, body = exchange(b, t1, srv=n1)
        assert st == 200, body
        t2 = body["access_token"]

        def act_at(node):
            st, _, raw = node.request("POST", "/introspect", urllib.parse.urlencode({"token": t2}),
                                      {"Content-Type": FORM,
                                       "Authorization": basic_header(gw["client_id"], gw["client_secret"])})
            return json.loads(raw).get("act")
        assert act_at(n2) == {"sub": b["id"], "owner_id": ub["id"]}
        # a revocation of the subject at one node ends the exchanged token at the other
        st, _, body = n1.token(a["client_id"], a["client_secret"], workspace=ws["id"])
        s1 = body["access_token"]
        st, _, body = exchange(b, s1, srv=n2)
        assert st == 200, body
        s2 = body["access_token"]
        st, _, _ = n1.post_form("/revoke", {"token": s1}, basic=(a["client_id"], a["client_secret"]))
        t = time.time()
        while True:
            st, _, raw = n2.request("POST", "/introspect", urllib.parse.urlencode({"token": s2}),
                                    {"Content-Type": FORM,
                                     "Authorization": basic_header(gw["client_id"], gw["client_secret"])})
            if json.loads(raw) == INACTIVE:
                break
            assert time.time() - t < WINDOW
            time.sleep(0.05)
        env.cli("agent", "undelegate", a["id"], "--to", b["id"])
        t = time.time()
        while act_at(n2) is not None or act_at(n1) is not None:
            assert time.time() - t < WINDOW
            time.sleep(0.05)
    finally:
        env.close()


def test_activity_counts_an_exchanged_token_once_as_its_actors():
    """`warrant activity`: the delegate obtained a token; the delegating agent did not (the
    copy of the row keyed to its owner is not a second token)."""
    x = chain()
    env = ctx()["env"]
    for o, agent_id, tokens in ((x["ub"], x["b"]["id"], 1), (x["ua"], x["a"]["id"], 1)):
        out = env.cli("activity", "--owner", o["id"], "--json")
        rows = out if isinstance(out, list) else [out]
        mine = [r for r in rows if r["id"] == agent_id]
        assert len(mine) == 1 and mine[0]["tokens"] == tokens, (agent_id, rows)
        # nobody else is credited with the exchange under this owner
        assert sum(r["tokens"] for r in rows) == tokens, rows

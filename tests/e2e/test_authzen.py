"""test_authzen.py - OpenID AuthZEN Authorization API 1.0 against a real `warrant serve`:
POST /access/v1/evaluation and /access/v1/evaluations (defaults, evaluations_semantic, the
batch bound), GET /.well-known/authzen-configuration, resource-server authentication as at
/introspect, a true and a false decision for each rule of SPEC (token active for this
resource server, sub is the subject, scope holds the action), the action trail
(action.allowed / action.denied rows, dual-keyed, at /v1/audit too) and `warrant activity`
as text and --json.

One database and one server serve the module; each test makes its own agents."""
import base64
import json
import time

from harness import basic_header, close_module_env, module_env

AUD_X = "https://orders.example.com/api"
PASSWORD = "correct horse battery staple"
_state = {}


def _setup(env, s):
    s["gw"] = env.cli("resource", "add", "gateway")  # no audience: sees every token
    s["rs_x"] = env.cli("resource", "add", "orders", "--audience", AUD_X)
    s["srv"] = env.serve()


def ctx():
    return module_env(_state, _setup)


def teardown_module():
    close_module_env(_state)


def new_agent(password=None, agent_verbs="tickets:read refunds:issue"):
    """An owner (with a /v1 password when asked), a workspace, an agent with tickets:read."""
    env = ctx()["env"]
    email = "az%d@example.com" % time.time_ns()
    o = env.owner(email=email, password=password) if password else env.owner(email=email)
    ws = env.workspace()
    env.member(ws["id"], o["id"], "tickets:read tickets:note")
    a = env.agent(o["id"], agent_verbs)
    return {"owner": o, "email": email, "ws": ws, "agent": a, "id": a["client_id"], "secret": a["client_secret"]}


def mint(a, **params):
    st, _, body = ctx()["srv"].token(a["id"], a["secret"], **params)
    assert st == 200, body
    return body


def call(path, body, rs=None, auth=None):
    """POSTs JSON to path as resource server rs (default: the gateway)."""
    rs = rs or ctx()["gw"]
    h = {"Content-Type": "application/json",
         "Authorization": auth if auth is not None else basic_header(rs["client_id"], rs["client_secret"])}
    if auth == "":
        del h["Authorization"]
    st, hd, b = ctx()["srv"].request("POST", path, json.dumps(body) if not isinstance(body, bytes) else body, h)
    return st, hd, json.loads(b) if b else None


def req(sub, action, token, rid="T-1042"):
    r = {"subject": {"type": "agent", "id": sub}, "action": {"name": action},
         "resource": {"type": "ticket", "id": rid}}
    if token is not None:
        r["context"] = {"access_token": token}
    return r


def evaluate(sub, action, token, rs=None, rid="T-1042"):
    st, hd, b = call("/access/v1/evaluation", req(sub, action, token, rid), rs)
    assert st == 200, (st, b)
    assert hd.get("content-type", "").startswith("application/json"), hd
    return b


def rows(event=None, **filters):
    env = ctx()["env"]
    args = []
    for k, v in filters.items():
        args += ["--" + k, v]
    return [r for r in env.audit(*args) if event is None or r["event"] == event]


# ---- metadata ----

def test_metadata_publishes_the_endpoints():
    srv = ctx()["srv"]
    st, h, doc = srv.get_json("/.well-known/authzen-configuration")
    assert st == 200, doc
    iss = srv.base if hasattr(srv, "base") else doc["policy_decision_point"]
    assert doc["policy_decision_point"] == iss
    assert doc["access_evaluation_endpoint"] == iss + "/access/v1/evaluation"
    assert doc["access_evaluations_endpoint"] == iss + "/access/v1/evaluations"
    st, _, _ = srv.request("HEAD", "/.well-known/authzen-configuration")
    assert st == 200


# ---- decisions, one rule at a time ----

def test_allowed_when_active_subject_and_scope_hold():
    a = new_agent()
    t = mint(a)
    assert evaluate(a["id"], "tickets:read", t["access_token"]) == {"decision": True}


def test_each_rule_denies_with_its_reason():
    a, b = new_agent(), new_agent()
    t = mint(a)["access_token"]
    assert evaluate(a["id"], "tickets:read", None) == {"decision": False, "context": {"reason": "token_missing"}}
    assert evaluate(a["id"], "tickets:read", "not.a.token") == {
        "decision": False, "context": {"reason": "token_inactive"}}
    # another agent's id as the subject
    assert evaluate(b["id"], "tickets:read", t) == {"decision": False, "context": {"reason": "subject_mismatch"}}
    # a verb the token does not hold, though the agent's grant has it
    assert evaluate(a["id"], "refunds:issue", t) == {
        "decision": False, "context": {"reason": "action_not_in_scope"}}
    assert evaluate(a["id"], "tickets:note", t) == {
        "decision": False, "context": {"reason": "action_not_in_scope"}}
    # a resource server registered with an audience sees only tokens meant for it
    rs_x = ctx()["rs_x"]
    assert evaluate(a["id"], "tickets:read", t, rs=rs_x) == {"decision": False, "context": {"reason": "audience"}}
    tx = mint(a, resource=AUD_X)["access_token"]
    assert evaluate(a["id"], "tickets:read", tx, rs=rs_x) == {"decision": True}
    # revoked: inactive as /introspect says, at once
    st, _, _ = ctx()["srv"].post_form("/revoke", {"token": t}, basic=(a["id"], a["secret"]))
    assert st == 200
    assert evaluate(a["id"], "tickets:read", t) == {"decision": False, "context": {"reason": "token_inactive"}}
    # the reason never carries token contents
    r = evaluate(a["id"], "tickets:read", t)
    assert a["id"] not in json.dumps(r) and t not in json.dumps(r)


def test_suspended_agent_is_denied():
    a = new_agent()
    t = mint(a)["access_token"]
    ctx()["env"].cli("agent", "suspend", a["id"])
    deadline = time.time() + 2
    while True:
        r = evaluate(a["id"], "tickets:read", t)
        if r["decision"] is False or time.time() > deadline:
            break
        time.sleep(0.05)
    assert r == {"decision": False, "context": {"reason": "token_inactive"}}


# ---- the caller ----

def test_caller_authenticates_as_at_introspect():
    a = new_agent()
    t = mint(a)["access_token"]
    body = req(a["id"], "tickets:read", t)
    st, h, b = call("/access/v1/evaluation", body, auth="")
    assert st == 401 and b["error"] == "invalid_client", (st, b)
    gw = ctx()["gw"]
    st, h, b = call("/access/v1/evaluation", body, auth=basic_header(gw["client_id"], "wsk_wrong"))
    assert st == 401 and b["error"] == "invalid_client", (st, b)
    assert h.get("www-authenticate", "").startswith("Basic"), h
    # an agent's valid credentials are not a resource server's
    st, h, b = call("/access/v1/evaluation", body, auth=basic_header(a["id"], a["secret"]))
    assert st == 403, (st, b)
    st, h, b = call("/access/v1/evaluations", body, auth=basic_header(a["id"], a["secret"]))
    assert st == 403, (st, b)


def test_malformed_requests_are_400():
    a = new_agent()
    t = mint(a)["access_token"]
    good = req(a["id"], "tickets:read", t)
    for bad in (b"not json", b"[]", {"action": good["action"], "resource": good["resource"]},
                dict(good, subject={"type": "agent"}), dict(good, action={}), dict(good, resource="T-1"),
                dict(good, context={"access_token": 7}), dict(good, subject={"type": "agent", "id": "x" * 300})):
        st, _, b = call("/access/v1/evaluation", bad)
        assert st == 400 and b["error"] == "invalid_request", (bad, st, b)


# ---- the batch form ----

def test_batch_defaults_and_execute_all():
    a = new_agent()
    t = mint(a)["access_token"]
    body = {"subject": {"type": "agent", "id": a["id"]}, "context": {"access_token": t},
            "resource": {"type": "ticket", "id": "T-1"},
            "evaluations": [{"action": {"name": "tickets:read"}},
                            {"action": {"name": "refunds:issue"}, "resource": {"type": "refund", "id": "R-9"}},
                            {"action": {"name": "tickets:read"}, "subject": {"type": "agent", "id": "agt_other"}},
                            {"action": {"name": "tickets:read"}, "context": {}}]}
    st, _, b = call("/access/v1/evaluations", body)
    assert st == 200, b
    assert b == {"evaluations": [
        {"decision": True},
        {"decision": False, "context": {"reason": "action_not_in_scope"}},
        {"decision": False, "context": {"reason": "subject_mismatch"}},
        {"decision": False, "context": {"reason": "token_missing"}}]}, b
    # each evaluation is its own row, with the item's resource
    mine = rows(agent=a["id"])
    acts = [r for r in mine if r["event"].startswith("action.")]
    assert len(acts) == 3, acts  # the fourth had no token: no agent to key it to
    refund = [r for r in acts if r["detail"].get("resource", {}).get("id") == "R-9"]
    assert len(refund) == 1 and refund[0]["event"] == "action.denied", refund


def test_batch_semantics_and_single_form():
    a = new_agent()
    t = mint(a)["access_token"]
    items = [{"action": {"name": "tickets:read"}}, {"action": {"name": "refunds:issue"}},
             {"action": {"name": "tickets:read"}}]
    base = {"subject": {"type": "agent", "id": a["id"]}, "context": {"access_token": t},
            "resource": {"type": "ticket", "id": "T-2"}, "evaluations": items}
    st, _, b = call("/access/v1/evaluations", dict(base, options={"evaluations_semantic": "deny_on_first_deny"}))
    assert st == 200 and [e["decision"] for e in b["evaluations"]] == [True, False], b
    st, _, b = call("/access/v1/evaluations",
                    dict(base, options={"evaluations_semantic": "permit_on_first_permit"}))
    assert st == 200 and [e["decision"] for e in b["evaluations"]] == [True], b
    st, _, b = call("/access/v1/evaluations", dict(base, options={"evaluations_semantic": "execute_all"}))
    assert st == 200 and [e["decision"] for e in b["evaluations"]] == [True, False, True], b
    st, _, b = call("/access/v1/evaluations", dict(base, options={"evaluations_semantic": "most_of_them"}))
    assert st == 400 and b["error"] == "invalid_request", b
    # without items: a single evaluation, answered as one
    single = req(a["id"], "tickets:read", t)
    st, _, b = call("/access/v1/evaluations", single)
    assert st == 200 and b == {"decision": True}, b
    # the bound: 64 items are fine, 65 are refused with a clear 400
    st, _, b = call("/access/v1/evaluations", dict(base, evaluations=[items[0]] * 64))
    assert st == 200 and len(b["evaluations"]) == 64, b
    st, _, b = call("/access/v1/evaluations", dict(base, evaluations=[items[0]] * 65))
    assert st == 400 and "64" in b["error_description"], b
    # an item missing what nothing supplies
    st, _, b = call("/access/v1/evaluations", {"evaluations": [{"action": {"name": "tickets:read"}}]})
    assert st == 400 and "evaluations[0]" in b["error_description"], b


# ---- the action trail ----

def test_action_rows_are_dual_keyed_and_at_v1_audit():
    a = new_agent(password=PASSWORD)
    tok = mint(a, run_id="trail-%d" % time.time_ns())
    t = tok["access_token"]
    evaluate(a["id"], "tickets:read", t, rid="T-7")
    evaluate(a["id"], "refunds:issue", t, rid="R-7")
    claims = json.loads(base64.urlsafe_b64decode(t.split(".")[1] + "=="))
    got = rows(agent=a["id"])
    allowed = [r for r in got if r["event"] == "action.allowed"]
    denied = [r for r in got if r["event"] == "action.denied"]
    assert len(allowed) == 1 and len(denied) == 1, got
    for r, verb, rid in ((allowed[0], "tickets:read", "T-7"), (denied[0], "refunds:issue", "R-7")):
        assert r["actor"] == a["id"] and r["agent_id"] == a["id"], r
        assert r["owner_id"] == a["owner"]["id"] and r["run_id"] == tok["run_id"], r
        assert r["ws"] == claims["ws"] and r["jti"] == claims["jti"], r
        d = r["detail"]
        assert d["resource_server"] == ctx()["gw"]["id"] and d["action"] == verb, d
        assert d["resource"] == {"type": "ticket", "id": rid}, d
        assert t not in json.dumps(r)
    assert allowed[0]["outcome"] == "allowed" and denied[0]["outcome"] == "denied"
    assert denied[0]["detail"]["reason"] == "action_not_in_scope"
    # the owner reads them at /v1/audit
    auth = "Basic " + base64.b64encode(("%s:%s" % (a["email"], PASSWORD)).encode()).decode()
    st, _, b = ctx()["srv"].request("GET", "/v1/audit?agent=" + a["id"], None, {"Authorization": auth})
    assert st == 200, b
    events = [e["event"] for e in json.loads(b)["events"]]
    assert "action.allowed" in events and "action.denied" in events, events


def test_activity_summarizes_per_agent():
    a, other = new_agent(), new_agent()
    env = ctx()["env"]
    t1 = mint(a, run_id="act-1")["access_token"]
    mint(a, run_id="act-2")
    for verb in ("tickets:read", "tickets:read", "refunds:issue"):
        evaluate(a["id"], verb, t1)
    mint(other)
    got = env.cli("activity", "--agent", a["id"])
    assert got["id"] == a["id"] and got["owner_id"] == a["owner"]["id"], got
    assert got["tokens"] == 2 and got["runs"] == 2, got
    assert got["allowed"] == 2 and got["denied"] == 1, got
    assert got["actions"] == {"tickets:read": {"allowed": 2, "denied": 0},
                              "refunds:issue": {"allowed": 0, "denied": 1}}, got
    assert got["approvals"] == {"requested": 0, "approved": 0, "denied": 0}, got
    # by owner: only that owner's agents; --since in the future: nothing
    byowner = env.cli("activity", "--owner", a["owner"]["id"])
    byowner = byowner if isinstance(byowner, list) else [byowner]
    assert [x["id"] for x in byowner] == [a["id"]], byowner
    p = env.run("activity", "--agent", a["id"], "--since", "2999-01-01T00:00:00Z")
    assert p.returncode == 0 and "no activity" in p.stdout, p
    # text
    p = env.run("activity", "--agent", a["id"], "--since", "7d")
    assert p.returncode == 0, p.stderr
    assert a["id"] in p.stdout and "tokens 2, runs 2" in p.stdout, p.stdout
    assert "tickets:read" in p.stdout and "allowed 2, denied 0" in p.stdout, p.stdout
    p = env.run("activity", "--since", "yesterday-ish")
    assert p.returncode == 2 and "--since" in p.stderr, p


# ---- delegation ----

def test_exchanged_token_decides_for_its_actor_and_its_principal():
    """RFC 8693: A delegates to B, B exchanges A's token. The subject may be B (act.sub) or A
    (sub), nobody else; the row is keyed to B and B's owner and names A; /check says both."""
    env, srv = ctx()["env"], ctx()["srv"]
    ws = env.workspace()
    ua, ub, uc = env.owner(), env.owner(), env.owner()
    for o in (ua, ub, uc):
        env.member(ws["id"], o["id"], "tickets:read tickets:note")
    a, b, c = (env.agent(o["id"], "tickets:read tickets:note") for o in (ua, ub, uc))
    env.cli("agent", "delegate", a["id"], "--to", b["id"])
    st, _, t1 = srv.token(a["client_id"], a["client_secret"], workspace=ws["id"])
    assert st == 200, t1
    st, _, x = srv.post_form("/token", {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                                        "subject_token": t1["access_token"],
                                        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token"},
                             basic=(b["client_id"], b["client_secret"]))
    assert st == 200, x
    t2 = x["access_token"]
    claims = json.loads(base64.urlsafe_b64decode(t2.split(".")[1] + "=="))
    assert claims["sub"] == a["id"] and claims["act"]["sub"] == b["id"], claims
    run = "deleg-%d" % time.time_ns()
    assert evaluate(b["id"], "tickets:read", t2, rid=run) == {"decision": True}
    assert evaluate(a["id"], "tickets:read", t2, rid=run) == {"decision": True}
    assert evaluate(c["id"], "tickets:read", t2, rid=run) == {
        "decision": False, "context": {"reason": "subject_mismatch"}}
    # the trail: keyed to the acting agent B and B's owner, naming the principal A
    acts = [r for r in rows(agent=b["id"]) if r["event"].startswith("action.")
            and r["detail"].get("resource", {}).get("id") == run]
    assert len(acts) == 3, acts
    for r in acts:
        assert r["actor"] == b["id"] and r["agent_id"] == b["id"] and r["owner_id"] == ub["id"], r
        assert r["detail"]["on_behalf_of"] == a["id"], r
        assert r["jti"] == claims["jti"] and t2 not in json.dumps(r), r
    assert sorted(r["outcome"] for r in acts) == ["allowed", "allowed", "denied"], acts
    denied = [r for r in acts if r["outcome"] == "denied"][0]
    assert denied["detail"]["subject"] == c["id"] and denied["detail"]["reason"] == "subject_mismatch", denied
    assert not [r for r in rows(agent=a["id"]) if r["event"].startswith("action.")]
    # /check: the principal as X-Warrant-Agent, the acting agent as X-Warrant-Actor
    gw = ctx()["gw"]
    h = {"Authorization": "Bearer " + t2, "X-Warrant-Action": "tickets:read",
         "X-Warrant-Resource-Authorization": basic_header(gw["client_id"], gw["client_secret"])}
    st, hd, body = srv.request("GET", "/check", None, h)
    assert st == 200, (st, body)
    assert hd["x-warrant-agent"] == a["id"] and hd["x-warrant-owner"] == ua["id"], hd
    assert hd["x-warrant-actor"] == b["id"], hd
    # a token without act: the agent acts for itself
    h["Authorization"] = "Bearer " + t1["access_token"]
    st, hd, body = srv.request("GET", "/check", None, h)
    assert st == 200 and hd["x-warrant-agent"] == a["id"] and hd["x-warrant-actor"] == a["id"], (st, hd)

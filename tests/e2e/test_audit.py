"""test_audit.py - the audit trail (SPEC "Audit"): the rows a full scenario leaves, field by
field; the JSON-lines export; the filters of `warrant audit`; GET /v1/audit scoped to the
caller's agents; and that no secret, client secret, password, token string or token
signature is ever written to it (every column of every row of audit_events is scanned, and
every byte of the exports).

Each row is dual-keyed: actor (agent, owner, resource server or "system") and owner_id
(the accountable human), plus run_id, ws and jti where they apply, the time, the client
address and the outcome. Rows are written before the response that reports them."""
import base64
import json
import re
import time
import urllib.parse
from datetime import datetime, timezone

from harness import Env, basic_header, jwt_parts

FORM = "application/x-www-form-urlencoded"
R, N, I = "tickets:read", "tickets:note", "refunds:issue"
EXPORT_KEYS = {"time", "event", "actor", "owner_id", "run_id", "ws", "jti", "client_addr", "outcome", "detail"}
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
FIELDS = ("event", "actor", "agent_id", "owner_id", "run_id", "ws", "jti", "client_addr", "outcome")
ANY = object()  # a field whose value the check does not pin (beyond being present)
LOCAL = "127.0.0.1"

_state = {}


def teardown_module():
    for v in _state.values():
        if isinstance(v, Env):
            v.close()
    _state.clear()


def owner_auth(email, password):
    return "Basic " + base64.b64encode(("%s:%s" % (email, password)).encode()).decode()


def introspect(srv, rs, token):
    st, _, b = srv.request("POST", "/introspect", urllib.parse.urlencode({"token": token}),
                           {"Content-Type": FORM, "Authorization": basic_header(rs["client_id"], rs["client_secret"])})
    assert st == 200, (st, b)
    return json.loads(b)


def row_problems(i, row, want):
    """Compares one exported row with an expectation dict; returns problems."""
    out = []
    for f in FIELDS:
        if f not in want or want[f] is ANY:
            continue
        if row.get(f) != want[f]:
            out.append("row %d (%s): %s is %r, expected %r" % (i, want.get("event"), f, row.get(f), want[f]))
    for k, v in want.get("detail", {}).items():
        got = row.get("detail", {}).get(k)
        if got != v:
            out.append("row %d (%s): detail.%s is %r, expected %r" % (i, want.get("event"), k, got, v))
    return out


# ---- a full scenario, row by row ----

def scenario():
    """Runs the scenario once per module and returns what the tests check."""
    if "scn" in _state:
        return _state["scn"]
    if "scenario" in _state:
        raise AssertionError("the scenario failed earlier in this module; see the first failure")
    env = Env()
    _state["scenario"] = env
    s = {"env": env, "expect": [], "secrets": [], "tokens": []}
    exp = s["expect"]
    pw = "correct horse battery staple 42"
    owner = env.owner(email="ursula@example.com", password=pw)
    s.update(owner=owner, pw=pw)
    s["secrets"].append(pw)
    U = owner["id"]
    exp.append(dict(event="owner.created", actor="system", agent_id=None, owner_id=U, run_id=None, ws=None,
                    jti=None, client_addr=None, outcome="ok", detail={"password": True}))
    ws = env.workspace(name="support")
    W = ws["id"]
    env.member(W, U, R + " " + N)
    exp.append(dict(event="member.added", actor="system", agent_id=None, owner_id=U, run_id=None, ws=W, jti=None,
                    client_addr=None, outcome="ok", detail={"verbs_after": "tickets:note tickets:read"}))
    agent = env.agent(U, R + " " + N, name="triage")
    A = agent["client_id"]
    s["secrets"].append(agent["client_secret"])
    for ev in ("agent.created", "credential.created"):
        exp.append(dict(event=ev, actor="system", agent_id=A, owner_id=U, run_id=None, ws=None, jti=None,
                        client_addr=None, outcome="ok", detail={"agent_id": A}))
    rs = env.cli("resource", "add", "helpdesk-api")
    s["secrets"].append(rs["client_secret"])
    srv = env.serve()
    s.update(ws=W, agent=agent, rs=rs, srv=srv)

    # token issued (Basic), and its row is there before the response reached us
    st, _, b = srv.token(A, agent["client_secret"], workspace=W, run_id="run-audit-1", scope=R + " " + N)
    assert st == 200, (st, b)
    j1 = jwt_parts(b["access_token"])[1]["jti"]
    s["tokens"].append(b["access_token"])
    s["written_before_response"] = [r["event"] for r in env.audit("--run", "run-audit-1")]
    exp.append(dict(event="token.issued", actor=A, agent_id=A, owner_id=U, run_id="run-audit-1", ws=W, jti=j1,
                    client_addr=LOCAL, outcome="ok",
                    detail={"scope": "tickets:note tickets:read", "auth_method": "client_secret_basic",
                            "expires_in": 300}))
    # token issued (client_secret_post)
    st, _, b = srv.post_form("/token", {"grant_type": "client_credentials", "client_id": A,
                                        "client_secret": agent["client_secret"], "scope": R,
                                        "run_id": "run-audit-2"})
    assert st == 200, (st, b)
    j2 = jwt_parts(b["access_token"])[1]["jti"]
    s["tokens"].append(b["access_token"])
    exp.append(dict(event="token.issued", actor=A, agent_id=A, owner_id=U, run_id="run-audit-2", ws=W, jti=j2,
                    client_addr=LOCAL, outcome="ok", detail={"scope": R, "auth_method": "client_secret_post"}))
    # token refused: a verb outside the effective set
    st, _, b = srv.token(A, agent["client_secret"], workspace=W, run_id="run-audit-3", scope=I)
    assert (st, b["error"]) == (400, "invalid_scope"), (st, b)
    exp.append(dict(event="token.refused", actor=A, agent_id=A, owner_id=U, run_id="run-audit-3", ws=W, jti=None,
                    client_addr=LOCAL, outcome="refused",
                    detail={"error": "invalid_scope", "reason": "scope_not_allowed"}))
    # token refused: wrong secret (the wrong secret must not be written either)
    wrong = agent["client_secret"][:-6] + "AAAAAA"
    s["secrets"].append(wrong)
    st, _, b = srv.token(A, wrong)
    assert (st, b["error"]) == (401, "invalid_client"), (st, b)
    exp.append(dict(event="token.refused", actor=A, agent_id=A, owner_id=U, run_id=None, ws=None, jti=None,
                    client_addr=LOCAL, outcome="refused", detail={"error": "invalid_client"}))
    # token refused: unknown client (no owner: not in this owner's trail)
    st, _, b = srv.token("agt_nosuchagent00000000000000", "wsk_" + "B" * 43)
    s["secrets"].append("wsk_" + "B" * 43)
    assert (st, b["error"]) == (401, "invalid_client"), (st, b)
    # introspection, active
    assert introspect(srv, rs, s["tokens"][0])["active"] is True
    exp.append(dict(event="token.introspected", actor=rs["client_id"], agent_id=A, owner_id=U, run_id="run-audit-1",
                    ws=W, jti=j1, client_addr=LOCAL, outcome="active"))
    # revocation by the agent (RFC 7009)
    st, _, body = srv.request("POST", "/revoke", urllib.parse.urlencode({"token": s["tokens"][0]}),
                              {"Content-Type": FORM, "Authorization": basic_header(A, agent["client_secret"])})
    assert (st, body) == (200, b""), (st, body)
    exp.append(dict(event="token.revoked", actor=A, agent_id=A, owner_id=U, run_id="run-audit-1", ws=W, jti=j1,
                    client_addr=LOCAL, outcome="ok"))
    # introspection, inactive
    assert introspect(srv, rs, s["tokens"][0]) == {"active": False}
    exp.append(dict(event="token.introspected", actor=rs["client_id"], agent_id=A, owner_id=U, run_id="run-audit-1",
                    ws=W, jti=j1, client_addr=LOCAL, outcome="inactive", detail={"reason": "revoked"}))
    # one more token with both verbs, then narrow the owner: the cascade revokes it
    st, _, b = srv.token(A, agent["client_secret"], workspace=W, run_id="run-audit-4")
    assert st == 200, (st, b)
    j3 = jwt_parts(b["access_token"])[1]["jti"]
    s["tokens"].append(b["access_token"])
    exp.append(dict(event="token.issued", actor=A, agent_id=A, owner_id=U, run_id="run-audit-4", ws=W, jti=j3,
                    client_addr=LOCAL, outcome="ok"))
    env.member(W, U, R, op="set")
    exp.append(dict(event="member.changed", actor="system", agent_id=None, owner_id=U, run_id=None, ws=W, jti=None,
                    client_addr=None, outcome="ok",
                    detail={"verbs_before": "tickets:note tickets:read", "verbs_after": R}))
    exp.append(dict(event="member.changed", actor="system", agent_id=A, owner_id=U, run_id=None, ws=W, jti=None,
                    client_addr=None, outcome="ok",
                    detail={"cause": "member.changed", "agent_id": A, "tokens_revoked": 1}))
    # kill switch for a run, from the command line
    env.cli("revoke", "--run", "run-audit-2", "--agent", A)
    exp.append(dict(event="run.revoked", actor="system", agent_id=A, owner_id=U, run_id="run-audit-2", ws=None,
                    jti=None, client_addr=None, outcome="ok"))
    # rotation: the new secret must not be written
    rot = env.cli("agent", "rotate", A)
    s["secrets"].append(rot["client_secret"])
    exp.append(dict(event="credential.rotated", actor="system", agent_id=A, owner_id=U, run_id=None, ws=None,
                    jti=None, client_addr=None, outcome="ok", detail={"credential_id": rot["credential_id"]}))
    # suspend, then a refused request once the server has seen it
    env.cli("agent", "suspend", A)
    exp.append(dict(event="agent.suspended", actor="system", agent_id=A, owner_id=U, run_id=None, ws=None, jti=None,
                    client_addr=None, outcome="ok", detail={"from": "active", "to": "suspended"}))
    time.sleep(1.1)
    st, _, b = srv.token(A, rot["client_secret"], workspace=W)
    assert (st, b["error"]) == (400, "unauthorized_client"), (st, b)
    exp.append(dict(event="token.refused", actor=A, agent_id=A, owner_id=U, run_id=ANY, ws=ANY, jti=None,
                    client_addr=LOCAL, outcome="refused", detail={"error": "unauthorized_client"}))
    # an owner's failed login at /v1 (the wrong password must not be written)
    bad_pw = "not the password at all 99"
    s["secrets"].append(bad_pw)
    st, _, _ = srv.request("GET", "/v1/agents", headers={"Authorization": owner_auth(owner["email"], bad_pw)})
    assert st == 401, st
    exp.append(dict(event="owner.login_failed", actor=U, agent_id=None, owner_id=U, run_id=None, ws=None, jti=None,
                    client_addr=LOCAL, outcome="refused"))
    _state["scn"] = s
    return s


def test_audit_scenario_rows_field_by_field():
    s = scenario()
    rows = s["env"].audit("--owner", s["owner"]["id"])
    exp = s["expect"]
    problems = []
    got_events = [r["event"] for r in rows]
    want_events = [e["event"] for e in exp]
    if got_events != want_events:
        problems.append("events of the owner, in order:\n    got      %s\n    expected %s" % (got_events, want_events))
    for i, (row, want) in enumerate(zip(rows, exp)):
        if row["event"] == want["event"]:
            problems += row_problems(i, row, want)
    assert not problems, "audit rows differ from SPEC:\n  " + "\n  ".join(problems)


def test_audit_row_written_before_response():
    s = scenario()
    assert "token.issued" in s["written_before_response"], \
        "the token.issued row was not in the audit when /token had answered: %r" % s["written_before_response"]


def test_audit_unknown_client_refusal_names_nobody():
    """An unknown client's refusal is counted in its minute's summary row (SPEC "Audit"),
    appended when the minute ends or at shutdown."""
    s = scenario()
    s["srv"].stop()  # SIGTERM: the current minute's summaries are appended
    s["srv"] = s["env"].serve()
    rows = [r for r in s["env"].audit() if r["event"] == "token.refused" and r["actor"] == "anonymous"]
    assert len(rows) == 1, rows
    r = rows[0]
    assert r["owner_id"] is None and r["agent_id"] is None and r["client_addr"] == LOCAL, r
    assert r["outcome"] == "refused" and r["detail"]["error"] == "invalid_client", r
    assert r["detail"]["reason"] == "unknown_client" and r["detail"]["count"] == 1, r
    assert r["detail"]["summary"] is True, r
    assert "agt_nosuchagent" not in json.dumps(r), "an unknown client id is input, not an actor: %r" % r


def test_audit_export_json_lines_shape():
    s = scenario()
    p = s["env"].run("audit", "--json")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) >= len(s["expect"]), "export has %d lines" % len(lines)
    for n, line in enumerate(lines):
        obj = json.loads(line)   # one JSON object a line, nothing else
        assert isinstance(obj, dict), "line %d is not an object: %r" % (n, line)
        missing = EXPORT_KEYS - set(obj)
        assert not missing, "line %d lacks %s: %r" % (n, sorted(missing), line)
        assert TIME_RE.match(obj["time"]), "line %d: time %r is not RFC 3339 UTC" % (n, obj["time"])
        assert isinstance(obj["detail"], dict), "line %d: detail must be an object: %r" % (n, line)
        assert obj["event"] in SPEC_EVENTS, "line %d: event %r is not a SPEC event name" % (n, obj["event"])
        assert isinstance(obj["outcome"], str) and obj["outcome"], line
        assert isinstance(obj["actor"], str) and obj["actor"], line
    times = [json.loads(l)["time"] for l in lines]
    assert times == sorted(times), "the export is in time order"


SPEC_EVENTS = {"token.issued", "token.refused", "token.introspected", "token.revoked", "credential.created",
               "credential.rotated", "credential.expired", "credential.revoked", "key.rotated", "agent.created",
               "agent.suspended", "agent.resumed", "agent.retired", "owner.created", "owner.deactivated",
               "owner.login_failed", "member.added", "member.changed", "member.removed", "run.revoked",
               "quota.exceeded", "approval.requested", "approval.approved", "approval.denied"}


def test_audit_scenario_filters_agent_run_workspace():
    s = scenario()
    env, A, W = s["env"], s["agent"]["client_id"], s["ws"]
    by_agent = env.audit("--agent", A)
    assert by_agent and all(r["agent_id"] == A for r in by_agent), by_agent
    assert {"agent.created", "token.issued", "token.refused", "token.introspected", "token.revoked",
            "member.changed", "run.revoked", "agent.suspended"} <= {r["event"] for r in by_agent}
    by_run = env.audit("--run", "run-audit-1")
    assert [r["event"] for r in by_run] == ["token.issued", "token.introspected", "token.revoked",
                                            "token.introspected"], [r["event"] for r in by_run]
    by_ws = env.audit("--workspace", W)
    assert by_ws and all(r["ws"] == W for r in by_ws), by_ws
    assert "member.added" in [r["event"] for r in by_ws]
    both = env.audit("--agent", A, "--run", "run-audit-4")
    assert [r["event"] for r in both] == ["token.issued"], both


# ---- secrets never reach the trail ----

def test_audit_never_holds_secrets_or_tokens():
    s = scenario()
    env = s["env"]
    needles = []
    for sec in s["secrets"]:
        needles.append(("secret", sec))
    for tok in s["tokens"]:
        h, p, sig = tok.split(".")
        needles += [("token", tok), ("token signature", sig), ("token header.payload", h + "." + p),
                    ("token payload", p)]
    # every column of every row, straight from the table
    cols = env.sql_columns("audit_events")
    rows = env.sql("SELECT * FROM audit_events")
    assert len(rows) >= len(s["expect"])
    leaks = []
    for row in rows:
        for col, val in zip(cols, row):
            text = val.decode("latin-1") if isinstance(val, bytes) else str(val)
            for what, needle in needles:
                if needle in text:
                    leaks.append("%s in audit_events.%s (row id %s)" % (what, col, row[0]))
            if "wsk_" in text:
                leaks.append("something secret-shaped (wsk_) in audit_events.%s (row id %s)" % (col, row[0]))
            if re.search(r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}", text):
                leaks.append("something JWT-shaped in audit_events.%s (row id %s)" % (col, row[0]))
    # and the exports: CLI, and the owner's API
    out = env.run("audit", "--json").stdout + env.run("audit").stdout
    st, _, body = s["srv"].request("GET", "/v1/audit", headers={"Authorization": owner_auth(s["owner"]["email"],
                                                                                          s["pw"])})
    assert st == 200, (st, body)
    for where, text in (("warrant audit", out), ("GET /v1/audit", body.decode())):
        for what, needle in needles:
            if needle in text:
                leaks.append("%s in the output of %s" % (what, where))
        if "wsk_" in text:
            leaks.append("wsk_ in the output of %s" % where)
    assert not leaks, "secrets in the audit trail:\n  " + "\n  ".join(sorted(set(leaks)))


# ---- time filters, over rows at known times ----

def timed_env():
    """A database whose audit trail holds rows at known times (written directly), for the
    --since/--until checks. Returns (env, now_ms, {tag: time_ms})."""
    if "timed" in _state:
        return _state["timed_info"]
    env = Env()
    _state["timed"] = env
    now = int(time.time() * 1000)
    day, hour = 86400000, 3600000
    at = {"d8": now - 8 * day, "d6": now - 6 * day, "d3": now - 3 * day, "h2": now - 2 * hour,
          "m10": now - 10 * 60000, "m1": now - 60000}
    rows = [  # tag, owner, agent, run, ws
        ("d8", "usr_u1", "agt_a1", "run_r1", "ws_w1"),
        ("d6", "usr_u1", "agt_a1", "run_r2", "ws_w1"),
        ("d3", "usr_u1", "agt_a2", "run_r3", "ws_w2"),
        ("h2", "usr_u2", "agt_b1", "run_r4", "ws_w1"),
        ("m10", "usr_u1", "agt_a1", "run_r2", "ws_w2"),
        ("m1", "usr_u2", "agt_b1", "run_r4", "ws_w2"),
    ]
    for t, u, a, r, w in rows:
        env.sql("INSERT INTO audit_events(time, event, actor, agent_id, owner_id, run_id, ws, jti, client_addr,"
                " outcome, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (at[t], "token.issued", a, a, u, r, w, "jti-" + t, "127.0.0.1", "ok", json.dumps({"tag": t})))
    _state["timed_info"] = (env, now, at)
    return _state["timed_info"]


def iso(ms, date_only=False):
    d = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return d.strftime("%Y-%m-%d") if date_only else d.strftime("%Y-%m-%dT%H:%M:%SZ")


def tags(env, *args):
    return [r["detail"].get("tag") for r in env.audit(*args) if "tag" in r["detail"]]


def test_audit_filters_since_until():
    env, now, at = timed_env()
    day = 86400000
    cases = [
        ((), ["d8", "d6", "d3", "h2", "m10", "m1"]),
        (("--owner", "usr_u1"), ["d8", "d6", "d3", "m10"]),
        (("--agent", "agt_a1"), ["d8", "d6", "m10"]),
        (("--run", "run_r2"), ["d6", "m10"]),
        (("--workspace", "ws_w2"), ["d3", "m10", "m1"]),
        (("--since", "7d"), ["d6", "d3", "h2", "m10", "m1"]),
        (("--since", "1h"), ["m10", "m1"]),
        (("--since", "30m"), ["m10", "m1"]),
        (("--since", "5m"), ["m1"]),
        (("--since", "3h"), ["h2", "m10", "m1"]),
        (("--since", iso(now - 4 * day)), ["d3", "h2", "m10", "m1"]),
        (("--since", iso(at["d6"] - 1000)), ["d6", "d3", "h2", "m10", "m1"]),
        (("--until", iso(now - 4 * day)), ["d8", "d6"]),
        (("--since", iso(now - 7 * day), "--until", iso(now - day)), ["d6", "d3"]),
        (("--since", iso(now - 7 * day), "--until", "1h"), ["d6", "d3", "h2"]),
        (("--until", "7d"), ["d8"]),
        (("--since", iso(now - 10 * day, date_only=True), "--until", iso(now - 7 * day)), ["d8"]),
        (("--owner", "usr_u1", "--since", "7d"), ["d6", "d3", "m10"]),
        (("--owner", "usr_u2", "--since", "1h"), ["m1"]),
        (("--agent", "agt_a1", "--since", "7d", "--until", "1h"), ["d6"]),
        (("--run", "run_r4", "--since", "1h"), ["m1"]),
        (("--owner", "usr_nobody"), []),
        (("--since", iso(now + day)), []),
    ]
    problems = []
    for args, want in cases:
        got = tags(env, *args)
        if got != want:
            problems.append("warrant audit %s: got %s, expected %s" % (" ".join(args), got, want))
    assert not problems, "\n  ".join(problems)


def test_audit_filters_reject_bad_times():
    env, _, _ = timed_env()
    for bad in ("yesterday", "7 days", "-7d", "2026-13-45T00:00:00Z", "7w"):
        p = env.run("audit", "--since", bad, "--json")
        assert p.returncode != 0, "--since %r must be refused, got rows: %r" % (bad, p.stdout[:200])
        assert p.stderr.strip() and len(p.stderr.strip().splitlines()) == 1, \
            "one-line message on stderr for --since %r: %r" % (bad, p.stderr)
        assert p.stdout == "", "nothing on stdout for a refused command: %r" % p.stdout


def test_audit_owner_week_is_one_command():
    """"What did this owner's agents do this week" is `warrant audit --owner U --since 7d`."""
    env, _, at = timed_env()
    p = env.run("audit", "--owner", "usr_u1", "--since", "7d", "--json")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    assert [r["detail"]["tag"] for r in rows] == ["d6", "d3", "m10"], rows
    assert {r["agent_id"] for r in rows} == {"agt_a1", "agt_a2"}
    assert all(r["owner_id"] == "usr_u1" for r in rows)
    # and on a live trail: the scenario owner's week has its agent's token events
    s = scenario()
    week = s["env"].audit("--owner", s["owner"]["id"], "--since", "7d")
    assert len(week) == len(s["expect"]), (len(week), len(s["expect"]))
    assert [r["event"] for r in week if r["agent_id"] == s["agent"]["client_id"]].count("token.issued") == 3


# ---- GET /v1/audit: the caller's agents only ----

def test_v1_audit_only_the_callers_agents():
    env = Env()
    _state["v1"] = env
    pw_a, pw_b = "alpha password 123456", "bravo password 654321"
    oa = env.owner(email="alpha@example.com", password=pw_a)
    ob = env.owner(email="bravo@example.com", password=pw_b)
    w = env.workspace(name="shared")
    env.member(w["id"], oa["id"], R)
    env.member(w["id"], ob["id"], R)
    aa = env.agent(oa["id"], R, name="alpha-bot")
    ab = env.agent(ob["id"], R, name="bravo-bot")
    srv = env.serve()
    for ag, run in ((aa, "run-alpha"), (ab, "run-bravo"), (ab, "run-alpha")):  # run ids may collide
        st, _, b = srv.token(ag["client_id"], ag["client_secret"], run_id=run)
        assert st == 200, (st, b)
    st, _, b = srv.token("agt_unknownunknownunknown00", "wsk_x")
    assert st == 401

    def get(email, pw, query=""):
        st, h, body = srv.request("GET", "/v1/audit" + query, headers={"Authorization": owner_auth(email, pw)})
        return st, (json.loads(body) if body else None)

    st, body = get("alpha@example.com", pw_a)
    assert st == 200, (st, body)
    ev = body["events"]
    assert ev, "alpha sees its own events"
    assert all(e["owner_id"] == oa["id"] for e in ev), \
        "alpha sees only rows it is accountable for: %r" % [e for e in ev if e["owner_id"] != oa["id"]]
    assert {e["agent_id"] for e in ev if e["agent_id"]} == {aa["client_id"]}, ev
    assert [e["run_id"] for e in ev if e["event"] == "token.issued"] == ["run-alpha"], ev
    assert not [e for e in ev if e["actor"] == "anonymous"], "no anonymous rows for an owner"
    for e in ev:
        assert EXPORT_KEYS <= set(e), e

    st, body = get("alpha@example.com", pw_a, "?agent=" + ab["client_id"])
    assert (st, body["events"]) == (200, []), "another owner's agent: nothing (%d %r)" % (st, body)
    st, body = get("alpha@example.com", pw_a, "?run=run-alpha")
    assert st == 200 and [(e["agent_id"], e["event"]) for e in body["events"]] == \
        [(aa["client_id"], "token.issued")], "run-alpha, alpha's agent only: %r" % body
    st, body = get("alpha@example.com", pw_a, "?agent=" + aa["client_id"] + "&since=1h")
    assert st == 200 and {e["agent_id"] for e in body["events"]} == {aa["client_id"]}, body
    st, body = get("alpha@example.com", pw_a, "?since=" + iso(int(time.time() * 1000) + 86400000))
    assert (st, body["events"]) == (200, []), body
    st, body = get("alpha@example.com", pw_a, "?since=yesterday")
    assert st == 400 and body["error"] == "invalid_request", (st, body)

    st, body = get("bravo@example.com", pw_b)
    assert st == 200 and body["events"]
    assert all(e["owner_id"] == ob["id"] for e in body["events"])
    assert sorted(e["run_id"] for e in body["events"] if e["event"] == "token.issued") == ["run-alpha", "run-bravo"]

    st, body = get("alpha@example.com", pw_b)
    assert st == 401, "bravo's password does not open alpha's trail: %d" % st
    st, _, _ = srv.request("GET", "/v1/audit")
    assert st == 401

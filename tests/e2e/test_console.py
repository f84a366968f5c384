"""test_console.py - the owners' console's sessions and browser-security rules over plain
HTTP against a real `warrant serve`, on both engines (the browser suite, tests/console/,
runs the pages themselves once, in chromium): sessions stored hashed, idle and absolute
expiry, a deactivated owner's session ended, sign-out on the server, CSRF refusals, a
sign-in only as JSON from this origin and throttled with /v1, security headers, another
owner's agent 404, delegations by /v1's rules, and on PostgreSQL a session shared by two
nodes.

One database and one server serve the module (the throttle test fails one owner's
sign-in five times: well under the per-address limit)."""
import json
import os
import time

import harness
from harness import Env, close_module_env, module_env

PASSWORD = "correct horse battery staple"
CSP = "default-src 'self'; frame-ancestors 'none'"
_state = {}
_seq = [0]


def _setup(env, st):
    st["srv"] = env.serve()


def ctx():
    return module_env(_state, _setup)


def teardown_module():
    close_module_env(_state)


def owner(env):
    _seq[0] += 1
    email = "c%d-%d@example.com" % (time.time_ns() % 10**10, _seq[0])
    o = env.owner(email=email, password=PASSWORD)
    o["email"] = email
    return o


def sign_in(srv, email, password=PASSWORD, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    st, hd, body = srv.request("POST", "/console/api/signin", json.dumps({"email": email, "password": password}), h)
    return st, hd, json.loads(body) if body else None


def cookie_of(hd):
    return hd["set-cookie"].split(";")[0]


def session(srv, cookie):
    st, hd, body = srv.request("GET", "/console/api/session", headers={"Cookie": cookie})
    return st, json.loads(body) if body else None


def signed_in(srv, env):
    o = owner(env)
    st, hd, body = sign_in(srv, o["email"])
    assert st == 200, body
    return o, cookie_of(hd), body["csrf"]


def test_sign_in_sets_a_strict_httponly_cookie_and_stores_only_a_hash():
    c = ctx()
    o = owner(c["env"])
    st, hd, body = sign_in(c["srv"], o["email"])
    assert st == 200 and body["owner_id"] == o["id"], body
    sc = hd["set-cookie"]
    assert sc.startswith("warrant_console=") and "; HttpOnly" in sc and "SameSite=Strict" in sc, sc
    assert "Path=/console" in sc and "Secure" not in sc, sc  # plain http on loopback: no __Host-
    assert hd["cache-control"] == "no-store" and hd["content-security-policy"] == CSP, hd
    token = cookie_of(hd).split("=", 1)[1]
    assert len(token) == 43
    rows = c["env"].sql("SELECT id, method FROM console_sessions WHERE owner_id = ?", (o["id"],))
    assert len(rows) == 1 and rows[0][1] == "password" and token not in rows[0][0], rows
    assert token.encode() not in c["env"].dump()
    st, s = session(c["srv"], cookie_of(hd))
    assert st == 200 and s["email"] == o["email"] and s["csrf"] == body["csrf"], s
    assert any(e["event"] == "owner.login" and e["detail"]["method"] == "password"
               for e in c["env"].audit("--owner", o["id"]))


def test_wrong_password_is_refused_without_a_basic_dialog():
    c = ctx()
    o = owner(c["env"])
    st, hd, body = sign_in(c["srv"], o["email"], "not the password")
    assert st == 401 and body["error"] == "invalid_client", body
    assert "www-authenticate" not in hd and "set-cookie" not in hd, hd
    rows = [e for e in c["env"].audit("--owner", o["id"]) if e["event"] == "owner.login_failed"]
    assert rows and rows[-1]["detail"]["reason"] == "bad_password", rows


def test_sign_in_only_as_json_from_this_origin():
    c = ctx()
    o = owner(c["env"])
    form = "email=%s&password=x" % o["email"]
    st, _, _ = c["srv"].request("POST", "/console/api/signin", form,
                                {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 400
    st, _, body = sign_in(c["srv"], o["email"], headers={"Origin": "https://evil.example"})
    assert st == 403 and body["error"] == "csrf", body
    st, _, _ = sign_in(c["srv"], o["email"], headers={"Origin": c["srv"].base})
    assert st == 200


def test_state_changes_need_the_csrf_token_and_this_origin():
    c = ctx()
    env, srv = c["env"], c["srv"]
    o, cookie, csrf = signed_in(srv, env)
    a = env.agent(o["id"], "tickets:read", name="csrf-target")
    path = "/console/api/agents/%s/suspend" % a["client_id"]
    base = {"Cookie": cookie, "Content-Type": "application/json"}
    for h in ({}, {"X-CSRF-Token": "x" * 43}, {"X-CSRF-Token": csrf[:-1]},
              {"X-CSRF-Token": csrf, "Origin": "http://127.0.0.1:1"}):
        st, _, body = srv.request("POST", path, "{}", dict(base, **h))
        assert st == 403 and json.loads(body)["error"] == "csrf", (h, body)
    assert env.cli("agent", "list", "--owner", o["id"])["status"] == "active"
    st, _, body = srv.request("POST", path, "{}", dict(base, **{"X-CSRF-Token": csrf, "Origin": srv.base}))
    assert st == 200 and json.loads(body)["status"] == "suspended", body
    # a GET changes nothing and needs no token
    st, _, _ = srv.request("GET", "/console/api/agents", headers={"Cookie": cookie})
    assert st == 200


def test_another_owners_agent_is_404_and_untouched():
    c = ctx()
    env, srv = c["env"], c["srv"]
    o, cookie, csrf = signed_in(srv, env)
    other = owner(env)
    theirs = env.agent(other["id"], "tickets:read", name="not-yours")
    h = {"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"}
    for m, p in (("GET", ""), ("POST", "/suspend"), ("POST", "/rotate"), ("POST", "/retire")):
        st, _, body = srv.request(m, "/console/api/agents/" + theirs["client_id"] + p, "{}" if m == "POST" else None, h)
        assert st == 404, (p, body)
    assert env.cli("agent", "list", "--owner", other["id"])["status"] == "active"
    st, _, body = srv.request("GET", "/console/api/agents", headers={"Cookie": cookie})
    assert theirs["client_id"] not in body.decode()


def test_delegations_follow_the_v1_rules_and_show_both_ways():
    c = ctx()
    env, srv = c["env"], c["srv"]
    o, cookie, csrf = signed_in(srv, env)
    other, ocookie, _ = signed_in(srv, env)
    a = env.agent(o["id"], "tickets:read", name="orchestrator")["client_id"]
    b = env.agent(other["id"], "tickets:read", name="sub-agent")["client_id"]  # any agent id, as /v1
    path = "/console/api/agents/%s/delegates" % a
    h = {"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"}
    v1h = {"Authorization": harness.basic_header(o["email"], PASSWORD, form=False), "Content-Type": "application/json"}

    def show(ck, agent):
        st, _, body = srv.request("GET", "/console/api/agents/" + agent, headers={"Cookie": ck})
        return st, json.loads(body)

    for m, p in (("POST", path), ("DELETE", path + "/" + b)):
        st, _, body = srv.request(m, p, json.dumps({"agent": b}), {"Cookie": cookie, "Content-Type": "application/json"})
        assert st == 403 and json.loads(body)["error"] == "csrf", body
    # the body rule is /v1's (authz/delegation.c): a depth far out of range must not wrap to 1
    for bad in ({"agent": b, "max_depth": -4294967295}, {"agent": b, "max_depth": 4294967297}, {"agent": b, "max_depth": 6},
                {"agent": b, "max_depth": "2"}, {"agent": b, "more": 1}, {}, {"agent": a}):
        st, _, body = srv.request("POST", path, json.dumps(bad), h)
        assert st == 400 and json.loads(body)["error"] == "invalid_request", (bad, body)
        st, _, body = srv.request("POST", "/v1/agents/%s/delegates" % a, json.dumps(bad), v1h)
        assert st == 400 and json.loads(body)["error"] == "invalid_request", ("v1", bad, body)
    assert show(cookie, a)[1]["delegates"] == []
    st, _, body = srv.request("POST", "/console/api/agents/%s/delegates" % b, json.dumps({"agent": a}), h)
    assert st == 404, body  # not o's agent
    st, _, body = srv.request("POST", path, json.dumps({"agent": b, "max_depth": 2}), h)
    assert st == 201 and json.loads(body)["max_depth"] == 2, body
    st, ag = show(cookie, a)
    assert [(d["agent"], d["max_depth"]) for d in ag["delegates"]] == [(b, 2)] and ag["delegated_by"] == [], ag
    st, ag = show(ocookie, b)  # the delegate's owner sees, read-only, who may have it act for them
    assert st == 200 and [(d["agent"], d["max_depth"]) for d in ag["delegated_by"]] == [(a, 2)], ag
    rows = [e for e in env.audit("--owner", o["id"]) if e["event"] == "delegation.added"]
    assert rows and rows[-1]["actor"] == o["id"] and rows[-1]["detail"]["delegate_id"] == b, rows
    st, _, body = srv.request("DELETE", path + "/" + b, None, h)
    assert st == 200 and json.loads(body)["removed"] is True, body
    st, _, body = srv.request("DELETE", path + "/" + b, None, h)
    assert st == 404, body
    assert show(cookie, a)[1]["delegates"] == [] and show(ocookie, b)[1]["delegated_by"] == []


def test_idle_and_absolute_expiry_and_a_deactivated_owner_end_sessions():
    c = ctx()
    env, srv = c["env"], c["srv"]
    now = int(time.time() * 1000)
    o1, k1, _ = signed_in(srv, env)
    env.sql("UPDATE console_sessions SET last_seen = ? WHERE owner_id = ?", (now - 3601 * 1000, o1["id"]))
    assert session(srv, k1)[0] == 401
    o2, k2, _ = signed_in(srv, env)
    env.sql("UPDATE console_sessions SET last_seen = ? WHERE owner_id = ?", (now - 3500 * 1000, o2["id"]))
    assert session(srv, k2)[0] == 200  # within the idle hour, and the use is recorded
    seen = env.sql("SELECT last_seen FROM console_sessions WHERE owner_id = ?", (o2["id"],))[0][0]
    assert seen >= now, seen
    env.sql("UPDATE console_sessions SET expires_at = ? WHERE owner_id = ?", (now - 1, o2["id"]))
    assert session(srv, k2)[0] == 401
    o3, k3, _ = signed_in(srv, env)
    env.cli("owner", "deactivate", o3["id"])
    assert session(srv, k3)[0] == 401


def test_polling_does_not_keep_a_session_alive():
    c = ctx()
    env, srv = c["env"], c["srv"]
    o, cookie, _ = signed_in(srv, env)
    old = int(time.time() * 1000) - 600 * 1000
    env.sql("UPDATE console_sessions SET last_seen = ? WHERE owner_id = ?", (old, o["id"]))
    st, _, _ = srv.request("GET", "/console/api/approvals", headers={"Cookie": cookie, "X-Console-Poll": "1"})
    assert st == 200
    assert env.sql("SELECT last_seen FROM console_sessions WHERE owner_id = ?", (o["id"],))[0][0] == old


def test_sign_out_ends_the_session_on_the_server():
    c = ctx()
    env, srv = c["env"], c["srv"]
    o, cookie, csrf = signed_in(srv, env)
    st, hd, _ = srv.request("POST", "/console/api/signout", "{}", {"Cookie": cookie, "X-CSRF-Token": csrf})
    assert st == 200 and "Max-Age=0" in hd["set-cookie"], hd
    assert session(srv, cookie)[0] == 401
    assert env.sql("SELECT count(*) FROM console_sessions WHERE owner_id = ?", (o["id"],))[0][0] == 0
    assert any(e["event"] == "owner.logout" for e in env.audit("--owner", o["id"]))


def test_pages_and_assets_carry_the_security_headers():
    srv = ctx()["srv"]
    for p in ("/console/", "/console/signin", "/console/agents/agt_x", "/console/assets/app.js",
              "/console/assets/console.css", "/console/nothing", "/console/api/session"):
        st, hd, body = srv.request("GET", p)
        assert hd.get("content-security-policy") == CSP, (p, hd)
        assert hd.get("x-frame-options") == "DENY" and hd.get("referrer-policy") == "no-referrer", (p, hd)
        assert hd.get("x-content-type-options") == "nosniff", (p, hd)
    st, hd, body = srv.request("GET", "/console/")
    assert st == 200 and hd["content-type"].startswith("text/html") and b"<script" in body
    assert b"<script>" not in body and b"style=" not in body  # nothing inline: the CSP holds
    st, hd, _ = srv.request("GET", "/console/assets/app.js")
    st2, _, _ = srv.request("GET", "/console/assets/app.js", headers={"If-None-Match": hd["etag"]})
    assert st == 200 and st2 == 304 and hd["content-type"].startswith("text/javascript")
    st, hd, _ = srv.request("GET", "/console")
    assert st == 302 and hd["location"] == "/console/"
    st, _, body = srv.request("GET", "/console/api/config")
    assert json.loads(body) == {"oidc": False}
    st, _, _ = srv.request("GET", "/console/oidc/start")
    assert st == 404


def test_console_sign_in_shares_the_v1_throttle():
    c = ctx()
    env, srv = c["env"], c["srv"]
    o = owner(env)
    # the throttle counts per UTC minute: the six attempts must fall within one
    left = 60 - time.time() % 60
    if left < 15:
        time.sleep(left + 0.2)
    for _ in range(5):
        assert sign_in(srv, o["email"], "wrong")[0] == 401
    st, hd, body = sign_in(srv, o["email"])
    assert st == 429 and int(hd["retry-after"]) > 0, body
    st, _, _ = srv.request("GET", "/v1/agents", headers={"Authorization": harness.basic_header(
        o["email"], PASSWORD, form=False)})
    assert st == 429


def test_a_session_holds_on_every_node_and_ends_on_every_node():
    if not harness.PG:
        raise harness.Skip("one server per SQLite file: several nodes need PostgreSQL")
    env = Env()
    try:
        a, b = env.serve_nodes(2)
        o, cookie, csrf = signed_in(a, env)
        assert session(b, cookie)[0] == 200
        st, _, _ = b.request("POST", "/console/api/signout", "{}", {"Cookie": cookie, "X-CSRF-Token": csrf})
        assert st == 200
        assert session(a, cookie)[0] == 401
    finally:
        env.close()


def test_over_tls_a_host_prefixed_secure_cookie_and_oidc_refusals():
    """https: the __Host- cookie (Secure, Path=/); an unreachable provider answers 503 at
    once and keeps answering so without waiting again; a callback without this browser's
    sign-in cookie is refused and audited; half an OpenID Connect configuration, or an
    unreadable client secret file, stops serve at start. Nothing here depends on the
    engine: it runs on SQLite only, to keep the PostgreSQL pass short."""
    if harness.PG:
        raise harness.Skip("engine-independent (cookies over TLS, serve's flags): run on SQLite")
    env = Env()
    try:
        o = owner(env)
        secret = os.path.join(env.dir, "oidc-secret")
        with open(secret, "w") as f:
            f.write("s3cret\n")
        p = env.run("serve", "--listen", "127.0.0.1:%d" % harness.free_port(), "--owner-oidc-issuer",
                    "http://127.0.0.1:9")
        assert p.returncode != 0 and "go together" in p.stderr, p.stderr
        p = env.run("serve", "--listen", "127.0.0.1:%d" % harness.free_port(), "--owner-oidc-issuer",
                    "http://127.0.0.1:9", "--owner-oidc-client-id", "c", "--owner-oidc-client-secret-file",
                    os.path.join(env.dir, "missing"))
        assert p.returncode != 0 and "cannot read" in p.stderr, p.stderr
        cert, key = harness.make_cert(env.dir)
        srv = harness.TlsServer(env, cert, key, "--owner-oidc-issuer", "http://127.0.0.1:%d" % harness.free_port(),
                                "--owner-oidc-client-id", "warrant-console", "--owner-oidc-client-secret-file", secret)
        env.servers.append(srv)
        st, hd, body = srv.request("POST", "/console/api/signin", json.dumps({"email": o["email"], "password": PASSWORD}),
                                   {"Content-Type": "application/json", "Origin": srv.base})
        assert st == 200, body
        sc = hd["set-cookie"]
        assert sc.startswith("__Host-warrant_console=") and "Path=/;" in sc and "; Secure" in sc, sc
        assert "HttpOnly" in sc and "SameSite=Strict" in sc, sc
        token = cookie_of(hd).split("=", 1)[1]
        assert srv.request("GET", "/console/api/session", headers={"Cookie": cookie_of(hd)})[0] == 200
        # the unprefixed name is not this server's cookie over https
        assert srv.request("GET", "/console/api/session", headers={"Cookie": "warrant_console=" + token})[0] == 401
        assert json.loads(srv.request("GET", "/console/api/config")[2]) == {"oidc": True}
        for _ in range(2):
            t0 = time.time()
            st, _, body = srv.request("GET", "/console/oidc/start")
            assert st == 503 and b"cannot be reached" in body, (st, body)
        assert time.time() - t0 < 1, "the second start did not wait for the provider again"
        st, hd, body = srv.request("GET", "/console/oidc/callback?code=abc&state=xyz")
        assert st == 403 and hd["content-type"].startswith("text/html") and "set-cookie" in hd
        assert "__Host-warrant_console" not in hd["set-cookie"], hd
        rows = [e for e in env.audit() if e["event"] == "owner.login_failed" and e["detail"].get("method") == "oidc"]
        assert rows and rows[-1]["detail"]["reason"] == "no_login_cookie", rows
    finally:
        env.close()

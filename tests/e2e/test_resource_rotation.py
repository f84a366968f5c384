"""test_resource_rotation.py - `warrant resource rotate RS [--grace S]` and `warrant resource
disable|enable RS` against a running server (SPEC "Command line": seen within one second):
the new secret works at once, the old one during the grace only, a disabled resource server
gets 401 and its audience can no longer be requested at /token (invalid_target) unless
another active resource server has it, enabling restores both, and the command line refuses
ids it does not know. Each change is an audit row."""
import time

from harness import Env, jwt_parts

LIMIT = 1.0  # SPEC: a change from the command line is seen by a running server within 1 s
AUD = "https://ledger.example.com/api"
ISS = "http://warrant.test"  # one issuer across restarts: tokens stay valid


def introspect(srv, rs_id, secret, token):
    st, _, b = srv.post_form("/introspect", {"token": token}, basic=(rs_id, secret))
    return st, b


def until(pred, limit):
    """Polls pred until it is true or limit seconds pass; returns the seconds it took or None."""
    t0 = time.time()
    while True:
        if pred():
            return time.time() - t0
        if time.time() - t0 > limit:
            return None
        time.sleep(0.02)


def setup(audience=None):
    """A database, a scenario, a resource server, a server and a token; on failure the
    database and the server are gone too (the callers close them only after this returns)."""
    env = Env()
    try:
        sc = env.scenario()
        rs = env.cli("resource", "add", "ledger", *(["--audience", audience] if audience else []))
        srv = env.serve("--issuer", ISS)
        st, _, b = srv.token(sc["id"], sc["secret"], **({"resource": audience} if audience else {}))
        assert st == 200, b
    except Exception:
        env.close()
        raise
    return env, sc, rs, srv, b["access_token"]


def test_rotate_without_grace_new_secret_at_once_old_refused_within_a_second():
    env, sc, rs, srv, tok = setup()
    try:
        old = rs["client_secret"]
        st, b = introspect(srv, rs["id"], old, tok)
        assert st == 200 and b["active"] is True, (st, b)
        r = env.cli("resource", "rotate", rs["id"])
        assert set(r) == {"id", "client_id", "client_secret", "audience", "old_expires_at"}, r
        assert r["id"] == r["client_id"] == rs["id"] and r["old_expires_at"] is None and r["audience"] is None, r
        assert r["client_secret"].startswith("wsk_") and r["client_secret"] != old
        st, b = introspect(srv, rs["id"], r["client_secret"], tok)   # the very first try
        assert st == 200 and b["active"] is True, (st, b)
        took = until(lambda: introspect(srv, rs["id"], old, tok)[0] == 401, LIMIT)
        assert took is not None, "the old secret still works %.1f s after a rotation without grace" % LIMIT
        st, b = introspect(srv, rs["id"], old, tok)
        assert (st, b["error"]) == (401, "invalid_client"), (st, b)
        rows = [e for e in env.audit() if e["event"] == "credential.rotated"]
        assert len(rows) == 1 and rows[0]["detail"]["resource_server"] == rs["id"], rows
        assert rows[0]["detail"]["grace_seconds"] == 0 and rows[0]["actor"] == "system", rows
        assert r["client_secret"] not in env.run("audit", "--json").stdout
        # a server started afterwards knows only the new secret too
        srv.stop()
        srv = env.serve("--issuer", ISS)
        assert introspect(srv, rs["id"], old, tok)[0] == 401
        assert introspect(srv, rs["id"], r["client_secret"], tok)[0] == 200
    finally:
        env.close()


def test_rotate_with_grace_old_secret_works_until_the_grace_ends():
    env, sc, rs, srv, tok = setup()
    try:
        old = rs["client_secret"]
        assert introspect(srv, rs["id"], old, tok)[0] == 200  # cached by the server now
        t0 = time.time()
        r = env.cli("resource", "rotate", rs["id"], "--grace", "3")
        exp = time.mktime(time.strptime(r["old_expires_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        assert abs(exp - (t0 + 3)) <= 1.5, (r, t0)
        assert introspect(srv, rs["id"], r["client_secret"], tok)[0] == 200
        # both work during the grace, seen after the server has applied the change
        time.sleep(0.6)
        while time.time() < exp - 0.6:
            assert introspect(srv, rs["id"], old, tok)[0] == 200, "the old secret refused during its grace"
            assert introspect(srv, rs["id"], r["client_secret"], tok)[0] == 200
            time.sleep(0.3)
        took = until(lambda: introspect(srv, rs["id"], old, tok)[0] == 401, exp - time.time() + LIMIT)
        assert took is not None and time.time() >= exp - 1.0, "the old secret outlived its grace"
        assert introspect(srv, rs["id"], r["client_secret"], tok)[0] == 200
        # a second rotation ends the first one's old secret at once, whatever its grace
        r2 = env.cli("resource", "rotate", rs["id"], "--grace", "60")
        assert introspect(srv, rs["id"], r2["client_secret"], tok)[0] == 200
        assert until(lambda: introspect(srv, rs["id"], old, tok)[0] == 401, LIMIT) is not None
        assert introspect(srv, rs["id"], r["client_secret"], tok)[0] == 200  # its own grace
        rows = [e for e in env.audit() if e["event"] == "credential.rotated"]
        assert [e["detail"]["grace_seconds"] for e in rows] == [3, 60], rows
    finally:
        env.close()


def test_disable_refuses_within_a_second_and_enable_restores():
    env, sc, rs, srv, tok = setup(AUD)
    try:
        sec = rs["client_secret"]
        assert introspect(srv, rs["id"], sec, tok)[0] == 200
        d = env.cli("resource", "disable", rs["id"])
        assert d == {"id": rs["id"], "status": "disabled", "changed": True, "audience": AUD}, d
        took = until(lambda: introspect(srv, rs["id"], sec, tok)[0] == 401, LIMIT)
        assert took is not None, "a disabled resource server still authenticates after %.1f s" % LIMIT
        st, b = introspect(srv, rs["id"], sec, tok)
        assert (st, b["error"]) == (401, "invalid_client"), (st, b)
        # its audience is no longer one a token can be requested for
        st, _, b = srv.token(sc["id"], sc["secret"], resource=AUD)
        assert (st, b["error"]) == (400, "invalid_target"), (st, b)
        # the refusal of a known resource server is its own audit row, with the reason
        refused = [e for e in env.audit() if e["event"] == "token.introspected" and e["outcome"] == "refused"]
        assert refused and refused[-1]["detail"]["reason"] == "resource_disabled", refused
        assert not refused[-1]["detail"].get("summary"), refused
        # a restarted server still refuses it
        srv.stop()
        srv = env.serve("--issuer", ISS)
        assert introspect(srv, rs["id"], sec, tok)[0] == 401
        assert srv.token(sc["id"], sc["secret"], resource=AUD)[0] == 400
        again = env.cli("resource", "disable", rs["id"])
        assert again["changed"] is False, again
        e = env.cli("resource", "enable", rs["id"])
        assert e == {"id": rs["id"], "status": "active", "changed": True, "audience": AUD}, e
        st, b = introspect(srv, rs["id"], sec, tok)   # the very first try
        assert st == 200 and b["active"] is True, (st, b)
        st, _, b = srv.token(sc["id"], sc["secret"], resource=AUD)
        assert st == 200 and jwt_parts(b["access_token"])[1]["aud"] in (AUD, [AUD]), (st, b)
        events = [(x["event"], x["detail"]) for x in env.audit() if x["event"].startswith("resource.")]
        assert [ev for ev, _ in events] == ["resource.disabled", "resource.enabled"], events
        assert all(det["resource_server"] == rs["id"] for _, det in events), events
    finally:
        env.close()


def test_an_audience_two_resource_servers_share_stays_while_one_is_active():
    env, sc, rs, srv, tok = setup(AUD)
    try:
        twin = env.cli("resource", "add", "ledger-replica", "--audience", AUD)
        env.cli("resource", "disable", rs["id"])
        time.sleep(LIMIT)
        st, _, b = srv.token(sc["id"], sc["secret"], resource=AUD)
        assert st == 200, (st, b)
        assert introspect(srv, twin["id"], twin["client_secret"], b["access_token"])[0] == 200
        env.cli("resource", "disable", twin["id"])
        assert until(lambda: srv.token(sc["id"], sc["secret"], resource=AUD)[0] == 400, LIMIT) is not None
        env.cli("resource", "enable", twin["id"])
        st, _, b = srv.token(sc["id"], sc["secret"], resource=AUD)   # at once: checked again before refusing
        assert st == 200, (st, b)
    finally:
        env.close()


def test_command_line_refuses_unknown_ids_and_bad_grace():
    env = Env()
    try:
        sc = env.scenario()
        rs = env.cli("resource", "add", "x")
        for args in (("rotate", "rs_nosuchresource00000000000"), ("disable", "rs_nosuchresource00000000000"),
                     ("enable", "rs_nosuchresource00000000000"), ("rotate", sc["id"]), ("disable", sc["id"])):
            p = env.run("resource", *args)
            assert p.returncode == 1 and "no resource server" in p.stderr, (args, p.returncode, p.stderr)
        for args in (("rotate", rs["id"], "--grace", "-1"), ("rotate", rs["id"], "--grace", "86401"),
                     ("rotate", rs["id"], "--grace", "soon"), ("rotate",), ("disable",), ("enable",),
                     ("rotate", rs["id"], "--bogus", "1")):
            p = env.run("resource", *args)
            assert p.returncode == 2 and p.stderr.startswith("warrant: "), (args, p.returncode, p.stderr)
        # nothing changed: the original secret still authenticates
        srv = env.serve("--issuer", ISS)
        st, _, b = srv.token(sc["id"], sc["secret"])
        assert introspect(srv, rs["id"], rs["client_secret"], b["access_token"])[0] == 200
        assert not [e for e in env.audit() if e["event"] in ("credential.rotated", "resource.disabled")]
    finally:
        env.close()

"""test_keys.py - signing-key rotation against a real `warrant serve` and the command line:
a running server always publishes a next key; `keys rotate` waits for JWKS caches unless
forced; a rotation from the command line reaches the server within a second; a retiring
key keeps verifying (through /jwks with PyJWT and at /introspect) until its tokens have
expired plus leeway, then leaves /jwks; `keys retire` ends a leaked key at once; exactly
one key is current at all times, even under concurrent rotations; scheduled rotation;
the JWKS cache header; no private key material in /jwks; key.rotated audit rows; RS256.

Short windows keep it fast: --jwks-max-age 1, --leeway 0 and token lifetimes of seconds.
Each test has its own database and servers."""
import calendar
import json
import subprocess
import threading
import time
import urllib.parse

import jwt

from harness import BIN, Env, basic_header, jwt_parts

FORM = "application/x-www-form-urlencoded"
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
FAST = ("--jwks-max-age", "1", "--leeway", "0")


# ---- helpers ----

def wait_until(fn, timeout, interval=0.02):
    """Calls fn until it returns something true; returns that, or None at the deadline."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() >= deadline:
            return None
        time.sleep(interval)


def jwks(srv):
    """GET /jwks: asserts 200, JSON and no private members; returns (headers, keys)."""
    st, h, b = srv.request("GET", "/jwks")
    assert st == 200, (st, b)
    assert h.get("content-type", "").startswith("application/json"), h
    doc = json.loads(b)
    for k in doc["keys"]:
        leaked = [m for m in PRIVATE_MEMBERS if m in k]
        assert not leaked, "private members %s published in /jwks: %s" % (leaked, k)
        assert k.get("use") == "sig" and k.get("kid"), k
    return h, doc["keys"]


def jwks_kids(srv):
    return {k["kid"] for k in jwks(srv)[1]}


def keys_list(env):
    """`warrant keys list --json` as {kid: row}."""
    rows = env.cli("keys", "list")
    return {r["kid"]: r for r in rows}


def states(env):
    return {kid: r["state"] for kid, r in keys_list(env).items()}


def db_query(env, sql, *params):
    return env.sql(sql, params)


def db_current_count(env):
    return db_query(env, "SELECT count(*) FROM signing_keys WHERE state = 'current'")[0][0]


def assert_one_current(env):
    st = states(env)
    cur = [k for k, s in st.items() if s == "current"]
    assert len(cur) == 1, st
    assert db_current_count(env) == 1
    return cur[0]


def token_kid(srv, s, **params):
    st, _, b = srv.token(s["id"], s["secret"], **params)
    assert st == 200, (st, b)
    return jwt_parts(b["access_token"])[0]["kid"], b["access_token"]


def introspect(srv, rs, token):
    st, _, b = srv.request("POST", "/introspect", urllib.parse.urlencode({"token": token}),
                           {"Content-Type": FORM,
                            "Authorization": basic_header(rs["client_id"], rs["client_secret"])})
    assert st == 200, (st, b)
    return json.loads(b)


def rotate(env, *flags):
    """`warrant keys rotate [flags] --json` raw: CompletedProcess."""
    return env.run("keys", "rotate", *flags, "--json")


def rotate_ok(env, *flags):
    p = rotate(env, *flags)
    assert p.returncode == 0, (p.returncode, p.stderr)
    return json.loads(p.stdout)


def rfc3339_s(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


class CountingJWKClient(jwt.PyJWKClient):
    """PyJWKClient that counts how often it fetched /jwks."""

    def __init__(self, uri):
        super().__init__(uri, cache_keys=False, cache_jwk_set=True, lifespan=3600)
        self.fetches = 0

    def fetch_data(self):
        self.fetches += 1
        return super().fetch_data()


def verify(srv, token, alg="ES256", client=None):
    """Verifies token through /jwks with PyJWT the way a resource server would."""
    client = client or jwt.PyJWKClient(srv.base + "/jwks", cache_keys=False, cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=[alg], audience=srv.base, issuer=srv.base)


def key_events(env):
    return [e for e in env.audit() if e["event"] == "key.rotated"]


# ---- tests ----

def test_server_publishes_current_and_next_and_always_keeps_a_next_key():
    env = Env()
    try:
        init = env.init
        assert init["kid"] != init["next_kid"], init
        assert states(env) == {init["kid"]: "current", init["next_kid"]: "next"}
        srv = env.serve(*FAST)
        s = env.scenario()
        assert jwks_kids(srv) == {init["kid"], init["next_kid"]}
        kid, _ = token_kid(srv, s)
        assert kid == init["kid"], "the next key must not sign before a rotation"
        # the next key leaks: retire it; the server publishes a fresh one on its own
        p = env.run("keys", "retire", init["next_kid"], "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["state"] == "retired"

        def fresh_next():
            nxt = [k for k, st in states(env).items() if st == "next"]
            return nxt[0] if nxt and nxt[0] != init["next_kid"] else None
        new_next = wait_until(fresh_next, 3)
        assert new_next, "no new next key within 3 s: %s" % states(env)
        assert wait_until(lambda: jwks_kids(srv) == {init["kid"], new_next}, 1.5), jwks_kids(srv)
        assert states(env)[init["next_kid"]] == "retired"
        reasons = [e["detail"].get("reason") for e in key_events(env)]
        assert "retired_at_once" in reasons and "next_key_published" in reasons, reasons
        assert token_kid(srv, s)[0] == init["kid"]
    finally:
        env.close()


def test_jwks_cache_control_is_jwks_max_age_and_has_no_private_members():
    env = Env()
    try:
        a = env.serve("--jwks-max-age", "7")
        h, keys = jwks(a)
        assert h.get("cache-control") == "public, max-age=7", h
        assert len(keys) == 2
        for k in keys:
            assert k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256", k
            assert set(k) == {"kty", "crv", "x", "y", "kid", "use", "alg"}, k
        b = env.serve()  # second process on the same database, defaults
        assert jwks(b)[0].get("cache-control") == "public, max-age=300"
        c = env.serve("--jwks-max-age", "0")
        assert jwks(c)[0].get("cache-control") == "public, max-age=0"
        # nothing private in the command line's key listing either
        for row in keys_list(env).values():
            assert not any(m in row for m in PRIVATE_MEMBERS + ("private_der", "private")), row
    finally:
        env.close()


def test_rotate_refused_while_next_key_younger_than_jwks_cache_and_force_overrides():
    env = Env()
    try:
        env.serve("--jwks-max-age", "60")  # records the 60 s cache lifetime for the command line
        before = states(env)
        p = rotate(env)
        assert p.returncode != 0, p.stdout
        assert p.stdout == ""
        msg = p.stderr.strip()
        assert len(msg.splitlines()) == 1, msg
        assert "JWKS cache lifetime (60s)" in msg and "--force" in msg, msg
        assert states(env) == before, "a refused rotation changed the keys"
        assert not [e for e in key_events(env) if e["detail"].get("reason") == "on_demand"]

        out = rotate_ok(env, "--force")
        assert out["kid"] == env.init["next_kid"] and out["retiring"] == env.init["kid"], out
        after = states(env)
        assert after[env.init["next_kid"]] == "current" and after[env.init["kid"]] == "retiring"
        assert after[out["next"]] == "next"
        # the new next key is young again: refused again
        p = rotate(env)
        assert p.returncode != 0 and "--force" in p.stderr, (p.returncode, p.stderr)
        assert states(env) == after
    finally:
        env.close()


def test_cli_rotation_reaches_running_server_and_retiring_key_verifies_until_tokens_expire():
    ttl = 4
    env = Env()
    t_init = time.time()  # init (in Env) made the next key before this
    try:
        rs = env.cli("resource", "add", "gateway")
        srv = env.serve(*FAST, "--token-ttl", str(ttl))
        s = env.scenario()
        k0, k1 = env.init["kid"], env.init["next_kid"]
        time.sleep(max(0.0, t_init + 1.3 - time.time()))  # the next key is older than max-age 1

        # a downstream verifier that fetched /jwks before the rotation
        cached = CountingJWKClient(srv.base + "/jwks")
        kid, t0 = token_kid(srv, s)
        assert kid == k0
        assert verify(srv, t0, client=cached)["jti"]
        assert cached.fetches == 1
        t0_exp = jwt_parts(t0)[1]["exp"]

        out = rotate_ok(env)  # no --force: the next key has been published long enough
        t_rot = time.time()
        assert (out["id"], out["kid"], out["state"], out["retiring"]) == (k1, k1, "current", k0), out
        k2 = out["next"]
        assert k2 not in (k0, k1)

        got = wait_until(lambda: token_kid(srv, s)[0] == k1, 1.0, interval=0.01)
        assert got, "a running server still signs with %s 1 s after `keys rotate`" % k0
        assert time.time() - t_rot < 1.2
        kid, t1 = token_kid(srv, s)
        assert kid == k1 and jwt_parts(t1)[0]["alg"] == "ES256"
        assert wait_until(lambda: jwks_kids(srv) == {k0, k1, k2}, 1.0), jwks_kids(srv)
        assert states(env) == {k0: "retiring", k1: "current", k2: "next"}
        assert_one_current(env)

        # the verifier's cached set already held k1: no refetch needed for new tokens
        assert verify(srv, t1, client=cached)["jti"] == jwt_parts(t1)[1]["jti"]
        assert cached.fetches == 1, "the new signing key was not published before it signed"
        # a token of the retiring key still verifies through /jwks and at /introspect
        assert time.time() < t0_exp, "too slow: the old token expired before it could be checked"
        assert verify(srv, t0)["sub"] == s["id"]
        assert introspect(srv, rs, t0)["active"] is True
        assert introspect(srv, rs, t1)["active"] is True

        # retire_after = rotation + token lifetime + leeway (0)
        retire_after = rfc3339_s(out["retire_after"])
        assert t_rot - 1.5 <= retire_after - ttl <= t_rot + 0.5, (out, t_rot)
        assert retire_after >= t0_exp
        row = keys_list(env)[k0]
        assert row["retire_after"] == out["retire_after"] and row["retiring_at"], row

        # after exp + leeway the retiring key leaves /jwks and is retired
        gone = wait_until(lambda: k0 not in jwks_kids(srv), retire_after + 1 + 2.5 - time.time(), 0.05)
        assert gone, "retiring key %s still in /jwks %.1f s after retire_after" % (k0, time.time() - retire_after)
        assert time.time() >= t0_exp, "key left /jwks before its last token expired"
        assert states(env) == {k0: "retired", k1: "current", k2: "next"}
        assert db_query(env, "SELECT length(private_der) FROM signing_keys WHERE kid = ?", k0)[0][0] == 0
        assert introspect(srv, rs, t0) == {"active": False}
        try:
            verify(srv, t0)
            raise AssertionError("a token of a retired key still verified through /jwks")
        except jwt.PyJWKClientError:
            pass
        reasons = [e["detail"].get("reason") for e in key_events(env)]
        assert reasons[:2] == ["init", "on_demand"] and "retire_after_passed" in reasons, reasons
        rot = [e for e in key_events(env) if e["detail"].get("reason") == "on_demand"][0]
        assert rot["actor"] == "system" and rot["outcome"] == "ok"
        assert rot["detail"]["current"] == k1 and rot["detail"]["retiring"] == k0 and rot["detail"]["next"] == k2
    finally:
        env.close()


def test_keys_retire_removes_a_retiring_key_at_once_and_refuses_the_current_key():
    env = Env()
    try:
        rs = env.cli("resource", "add", "gateway")
        srv = env.serve(*FAST, "--token-ttl", "60")
        s = env.scenario()
        k0 = env.init["kid"]
        kid, t0 = token_kid(srv, s)
        assert kid == k0
        out = rotate_ok(env, "--force")
        k1 = out["kid"]
        assert wait_until(lambda: token_kid(srv, s)[0] == k1, 1.0), "rotation not seen within 1 s"
        _, t1 = token_kid(srv, s)
        assert introspect(srv, rs, t0)["active"] is True
        assert k0 in jwks_kids(srv)

        p = env.run("keys", "retire", k0, "--json")
        t_ret = time.time()
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == {"id": k0, "kid": k0, "state": "retired"}
        assert wait_until(lambda: k0 not in jwks_kids(srv), 1.0), "retired key still in /jwks after 1 s"
        assert wait_until(lambda: introspect(srv, rs, t0) == {"active": False}, 1.0), \
            "token of a retired key still active 1 s after `keys retire`"
        assert time.time() - t_ret < 1.5
        assert introspect(srv, rs, t1)["active"] is True
        assert states(env)[k0] == "retired"
        assert db_query(env, "SELECT length(private_der) FROM signing_keys WHERE kid = ?", k0)[0][0] == 0
        retired = [e for e in key_events(env) if e["detail"].get("reason") == "retired_at_once"]
        assert retired and retired[-1]["detail"]["kid"] == k0, retired

        # the current key cannot be retired
        p = env.run("keys", "retire", k1)
        assert p.returncode != 0
        assert "current" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert states(env)[k1] == "current"
        assert_one_current(env)
        time.sleep(0.4)
        assert k1 in jwks_kids(srv) and token_kid(srv, s)[0] == k1
        assert introspect(srv, rs, t1)["active"] is True
        # an unknown kid is refused; retiring a retired key again changes nothing
        p = env.run("keys", "retire", "no-such-kid")
        assert p.returncode != 0 and p.stderr.strip(), p.stderr
        assert env.run("keys", "retire", k0).returncode == 0
        assert states(env)[k0] == "retired"
    finally:
        env.close()


def test_exactly_one_current_key_even_under_concurrent_forced_rotations():
    env = Env()
    try:
        srv = env.serve(*FAST, "--token-ttl", "30")
        s = env.scenario()
        samples, stop = [], threading.Event()

        def sampler():
            while not stop.is_set():
                samples.append(db_current_count(env))
                time.sleep(0.002)
        th = threading.Thread(target=sampler)
        th.start()
        try:
            seen_current = set()
            for _ in range(3):
                procs = [subprocess.Popen([BIN, "keys", "rotate", "--force", "--json", "--db", env.db],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                         for _ in range(2)]
                outs = [p.communicate(timeout=30) for p in procs]
                for p, (o, e) in zip(procs, outs):
                    assert p.returncode == 0, (p.returncode, e)
                kids = [json.loads(o)["kid"] for o, _ in outs]
                assert kids[0] != kids[1], "two concurrent rotations promoted the same key: %s" % kids
                cur = assert_one_current(env)
                assert cur in kids
                seen_current.update(kids)
                st, _, b = srv.request("GET", "/readyz")
                assert st == 200, b
                assert wait_until(lambda: token_kid(srv, s)[0] == cur, 1.0), "server not on %s" % cur
        finally:
            stop.set()
            th.join()
        assert samples and set(samples) == {1}, "current-key count seen: %s" % sorted(set(samples))
        st = states(env)
        assert list(st.values()).count("current") == 1 and list(st.values()).count("next") == 1, st
        assert len(seen_current) == 6
        rotations = [e for e in key_events(env) if e["detail"].get("reason") == "on_demand"]
        assert len(rotations) == 6, len(rotations)
    finally:
        env.close()


def test_scheduled_rotation():
    sched = Env()
    still = Env()
    try:
        srv = sched.serve(*FAST, "--token-ttl", "2", "--key-rotation", "2")
        off = still.serve(*FAST, "--token-ttl", "2", "--key-rotation", "0")
        s = sched.scenario()
        k0 = sched.init["kid"]
        seen = [token_kid(srv, s)[0]]

        def rotated_twice():
            k = token_kid(srv, s)[0]
            if k != seen[-1]:
                seen.append(k)
            return len(seen) >= 3
        assert wait_until(rotated_twice, 9, 0.05), "scheduled rotations seen: %s" % seen
        assert seen[0] == k0
        sched_rows = [e for e in key_events(sched) if e["detail"].get("reason") == "schedule"]
        assert len(sched_rows) >= 2, key_events(sched)
        assert sched_rows[0]["detail"]["retiring"] == k0 and sched_rows[0]["detail"]["current"] == seen[1]
        assert_one_current(sched)
        # the first key's tokens lived 2 s: it is retired on its own by now or soon
        assert wait_until(lambda: states(sched)[k0] == "retired", 4), states(sched)
        assert k0 not in jwks_kids(srv)
        # --key-rotation 0: no scheduled rotation in the same time
        assert states(still)[still.init["kid"]] == "current"
        assert [e["detail"]["reason"] for e in key_events(still)] == ["init"]
        assert jwks_kids(off) == {still.init["kid"], still.init["next_kid"]}
    finally:
        sched.close()
        still.close()


def test_rs256_database_rotation():
    env = Env(alg="RS256")
    try:
        assert env.init["alg"] == "RS256"
        rs = env.cli("resource", "add", "gateway")
        srv = env.serve(*FAST, "--token-ttl", "60")
        s = env.scenario()
        _, keys = jwks(srv)
        assert len(keys) == 2
        for k in keys:
            assert k["kty"] == "RSA" and k["alg"] == "RS256" and set(k) == {"kty", "n", "e", "kid", "use", "alg"}, k
        kid, t0 = token_kid(srv, s)
        assert kid == env.init["kid"] and jwt_parts(t0)[0]["alg"] == "RS256"
        assert verify(srv, t0, alg="RS256")["sub"] == s["id"]

        out = rotate_ok(env, "--force")
        assert out["kid"] == env.init["next_kid"]
        assert wait_until(lambda: token_kid(srv, s)[0] == out["kid"], 1.0), "RS256 rotation not seen"
        _, t1 = token_kid(srv, s)
        assert jwt_parts(t1)[0]["alg"] == "RS256"
        rows = keys_list(env)
        assert {r["alg"] for r in rows.values()} == {"RS256"}, rows
        assert rows[out["next"]]["state"] == "next"
        assert wait_until(lambda: jwks_kids(srv) == {env.init["kid"], out["kid"], out["next"]}, 1.0)
        for k in jwks(srv)[1]:
            assert k["kty"] == "RSA", k
        assert verify(srv, t1, alg="RS256")["jti"] == jwt_parts(t1)[1]["jti"]
        assert verify(srv, t0, alg="RS256")["jti"] == jwt_parts(t0)[1]["jti"]
        assert introspect(srv, rs, t0)["active"] is True and introspect(srv, rs, t1)["active"] is True
        assert env.run("keys", "retire", env.init["kid"]).returncode == 0
        assert wait_until(lambda: introspect(srv, rs, t0) == {"active": False}, 1.0)
        assert introspect(srv, rs, t1)["active"] is True
    finally:
        env.close()

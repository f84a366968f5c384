"""test_limits.py - memory stays bounded when clients choose the keys of the server's
in-memory maps, and the limits on what one agent may hold are enforced.

A flood of /token requests naming distinct made-up workspaces must not grow the server's
resident memory (VmRSS from /proc) past a bound, and every answer of the flood and after it
must still be right."""
import http.client
import json
import os
import secrets
import threading
import time
import urllib.parse

import harness
from harness import SANITIZED, Env, basic_header

# ASan keeps freed memory in quarantine: a sanitizer build's server gets a small quarantine
# (see serve_small_quarantine) and a wider bound
GROWTH_BOUND_KIB = int(os.environ.get("WARRANT_LIMITS_RSS_MIB") or (96 if SANITIZED else 40)) * 1024


def serve_small_quarantine(env):
    """env.serve(), with ASan's quarantine cut to 16 MiB for a sanitizer build (the server
    inherits the environment), so that memory figures still say something."""
    if not SANITIZED:
        return env.serve()
    old = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = ((old + ":") if old else "") + "quarantine_size_mb=16"
    try:
        return env.serve()
    finally:
        if old is None:
            del os.environ["ASAN_OPTIONS"]
        else:
            os.environ["ASAN_OPTIONS"] = old


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def flood(port, auth, make_body, seconds, threads=4):
    """Sends POST /token with make_body() on keep-alive connections from several threads
    for the given time. Returns (count, {(status, error): n})."""
    counts = {}
    total = [0]
    lock = threading.Lock()
    stop = time.time() + seconds

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        seen = {}
        n = 0
        try:
            while time.time() < stop:
                c.request("POST", "/token", body=make_body(),
                          headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth})
                r = c.getresponse()
                data = r.read()
                try:
                    err = json.loads(data).get("error")
                except ValueError:
                    err = "not json"
                seen[(r.status, err)] = seen.get((r.status, err), 0) + 1
                n += 1
        finally:
            c.close()
            with lock:
                total[0] += n
                for k, v in seen.items():
                    counts[k] = counts.get(k, 0) + v

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return total[0], counts


def test_token_flood_with_made_up_workspaces_keeps_memory_bounded():
    env = Env()
    try:
        sc = env.scenario()
        srv = serve_small_quarantine(env)
        auth = basic_header(sc["id"], sc["secret"])
        ws = sc["ws"]["id"]
        # warm up: the caches of the legitimate path are filled before the baseline
        for _ in range(50):
            st, _, body = srv.token(sc["id"], sc["secret"], scope="tickets:read", workspace=ws)
            assert st == 200, body
        before = rss_kib(srv.pid)

        def body():
            return urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "tickets:read",
                                           "workspace": "ws_" + secrets.token_hex(20)})
        n, counts = flood(srv.port, auth, body, 5.0)
        after = rss_kib(srv.pid)
        # each refusal of a known agent is an audit row: on PostgreSQL a write across loopback
        least = 2500 if harness.PG else 5000
        assert n >= least, "the flood was too slow to mean anything: %d requests" % n
        # a workspace that does not exist gives nothing: invalid_scope, nothing else
        assert set(counts) == {(400, "invalid_scope")}, counts
        assert after - before <= GROWTH_BOUND_KIB, \
            "VmRSS grew by %d KiB over %d requests (bound %d KiB)" % (after - before, n, GROWTH_BOUND_KIB)
        # answers stay right after the flood: the real workspace still issues, a made-up one not
        st, _, tok = srv.token(sc["id"], sc["secret"], scope="tickets:read", workspace=ws)
        assert st == 200 and tok["scope"] == "tickets:read", tok
        st, _, err = srv.token(sc["id"], sc["secret"], scope="tickets:read", workspace="ws_" + secrets.token_hex(8))
        assert st == 400 and err["error"] == "invalid_scope", err
        st, _, err = srv.token(sc["id"], sc["secret"], scope="refunds:issue", workspace=ws)
        assert st == 400 and err["error"] == "invalid_scope", err
        assert srv.proc.poll() is None
    finally:
        env.close()


def test_an_agent_may_have_at_most_20_pending_approval_requests():
    env = Env()
    try:
        o = env.owner()
        ws = env.workspace()
        env.member(ws["id"], o["id"], "tickets:read refunds:issue")
        env.cli("workspace", "approval", ws["id"], "--verbs", "refunds:issue")
        a = env.agent(o["id"], "tickets:read refunds:issue", name="asker")
        b = env.agent(o["id"], "tickets:read refunds:issue", name="other")
        srv = env.serve()

        def ask(ag, i):
            return srv.post_form("/bc-authorize", {"scope": "refunds:issue", "workspace": ws["id"],
                                                   "binding_message": "refund %d" % i},
                                 basic=(ag["client_id"], ag["client_secret"]))
        # asked concurrently, still exactly 20: the count is taken in the writer's transaction
        results = [None] * 26

        def worker(i):
            results[i] = ask(a, i)
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(26)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ok = [r for r in results if r[0] == 200]
        refused = [r for r in results if r[0] != 200]
        assert len(ok) == 20, [r[0] for r in results]
        for st, _, body in refused:
            assert st == 400 and body["error"] == "invalid_request" and "pending" in body["error_description"], body
        # another agent of the same owner is not affected
        assert ask(b, 0)[0] == 200
        # a decision makes room for one more
        env.cli("approval", "deny", ok[0][2]["auth_req_id"], "--owner", o["id"])
        assert ask(a, 100)[0] == 200
        st, _, body = ask(a, 101)
        assert st == 400 and body["error"] == "invalid_request", body
        rows = [r for r in env.audit("--agent", a["client_id"]) if r["event"] == "approval.requested"]
        assert sum(1 for r in rows if r["outcome"] == "ok") == 21, rows
        too_many = [r for r in rows if r["outcome"] == "refused"]
        assert len(too_many) == 7 and all(r["detail"]["reason"] == "too_many_pending" for r in too_many), too_many
    finally:
        env.close()

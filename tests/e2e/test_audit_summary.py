"""test_audit_summary.py - SPEC "Audit": refusals of an unknown client and requests refused by
a throttle are summarized per client address and reason, one row a minute with the count in
its detail, appended when the minute ends or at shutdown; a crash loses at most the minute
that had not ended; every refusal of a known agent, owner or resource server is still its
own row; and the summaries' memory stays bounded however many addresses call.

Floods go through real HTTP connections (kept alive, from several threads); distinct client
addresses are real source addresses of 127.0.0.0/8 bound by the client socket."""
import base64
import http.client
import re
import socket
import threading
import time

from harness import PG, SANITIZED, Env, Skip, basic_header

FORM = "application/x-www-form-urlencoded"
MINUTE_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\dZ$")
# audit/summary.h: AUDIT_SUMMARY_BYTES / sizeof(struct slot) slots, three quarters usable,
# AUDIT_SUMMARY_OVERFLOW_SLOTS of them kept for the overflow buckets
SLOTS = (1 << 20) // 112
KEYS_MAX = SLOTS * 3 // 4 - 256


def flood(port, requests, threads=4, source=None):
    """Sends each (method, path, body, headers) of requests over kept-alive connections from
    several threads; returns the list of statuses."""
    out = [None] * len(requests)

    def worker(k):
        c = None
        for i in range(k, len(requests), threads):
            method, path, body, headers = requests[i]
            for attempt in range(3):
                try:
                    if c is None:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                                       source_address=(source, 0) if source else None)
                    c.request(method, path, body=body, headers=headers)
                    r = c.getresponse()
                    r.read()
                    out[i] = r.status
                    if r.getheader("Connection", "").lower() == "close":
                        c.close()
                        c = None
                    break
                except (OSError, http.client.HTTPException):
                    if c:
                        c.close()
                    c = None
                    if attempt == 2:
                        raise
        if c:
            c.close()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def unknown_token(i):
    return ("POST", "/token", "grant_type=client_credentials",
            {"Content-Type": FORM, "Authorization": basic_header("agt_nosuch%022d" % i, "wsk_" + "Q" * 43)})


def unknown_introspect(i):
    return ("POST", "/introspect", "token=x.y.z",
            {"Content-Type": FORM, "Authorization": basic_header("rs_nosuch%020d" % i, "wsk_" + "R" * 43)})


def rows(env, sql="SELECT event, actor, client_addr, outcome, detail, agent_id FROM audit_events", args=()):
    return env.sql(sql, args)


def short(x, n=600):
    r = repr(x)
    return r if len(r) <= n else r[:n] + "... (%d chars)" % len(r)


def summaries(env):
    """The summary rows as dicts: event, client_addr, outcome, actor and the detail's keys."""
    out = []
    for e in env.audit():
        if e["detail"].get("summary") is True:
            d = dict(e["detail"])
            d.update(event=e["event"], client_addr=e["client_addr"], outcome=e["outcome"], actor=e["actor"],
                     agent_id=e["agent_id"], owner_id=e["owner_id"])
            out.append(d)
    return out


def counted(summ, event, reason, addr="127.0.0.1"):
    return sum(s["count"] for s in summ
               if s["event"] == event and s["reason"] == reason and s["client_addr"] == addr)


def test_unknown_client_flood_is_a_handful_of_rows_and_known_refusals_stay_rows():
    env = Env()
    try:
        sc = env.scenario()
        rs = env.cli("resource", "add", "flood-api")
        srv = env.serve()
        before = rows(env, "SELECT coalesce(max(id), 0) FROM audit_events")[0][0]
        reqs = [unknown_token(i) for i in range(2000)]
        reqs += [unknown_introspect(i) for i in range(1000)]
        # no credentials at all, and unknown clients at /revoke and /bc-authorize
        reqs += [("POST", "/token", "grant_type=client_credentials", {"Content-Type": FORM})] * 300
        reqs += [("POST", "/revoke", "token=abc", {"Content-Type": FORM,
                  "Authorization": basic_header("agt_ghost%021d" % i, "wsk_" + "S" * 43)}) for i in range(200)]
        reqs += [("POST", "/bc-authorize", "scope=tickets:read", {"Content-Type": FORM,
                  "Authorization": basic_header("agt_ghost%021d" % i, "wsk_" + "T" * 43)}) for i in range(200)]
        statuses = flood(srv.port, reqs)
        assert statuses.count(401) == len(reqs), sorted(set(statuses))
        # a known agent's wrong secret and a known resource server's wrong secret: a row each, now
        for i in range(3):
            st, _, b = srv.token(sc["id"], sc["secret"][:-4] + "ZZZZ")
            assert (st, b["error"]) == (401, "invalid_client"), (st, b)
            st, _, b = srv.post_form("/introspect", {"token": "x"},
                                     basic=(rs["client_id"], rs["client_secret"][:-4] + "ZZZZ"))
            assert st == 401, (st, b)
        mine = [r for r in rows(env) if r[0] == "token.refused" and r[5] == sc["id"]]
        assert len(mine) == 3 and all(r[1] == sc["id"] and r[3] == "refused" for r in mine), short(mine)
        known_rs = [r for r in rows(env) if r[0] == "token.introspected" and '"summary"' not in (r[4] or "")]
        assert len(known_rs) == 3, short(known_rs)
        # while the server runs, the flood has not written a row per request
        during = rows(env, "SELECT count(*) FROM audit_events WHERE id > ?", (before,))[0][0]
        assert during <= 6 + 10, "the flood wrote %d rows while the server ran" % during

        assert srv.stop() == 0, srv.logs()  # SIGTERM: the current minute's summaries are appended
        summ = summaries(env)
        # one row per minute, event, address and reason: a handful (a minute may end mid-flood)
        assert 5 <= len(summ) <= 10, short(summ)
        refusals = rows(env, "SELECT count(*) FROM audit_events WHERE id > ? AND outcome = 'refused'",
                        (before,))[0][0]
        assert refusals == 6 + len(summ), (refusals, len(summ))
        assert counted(summ, "token.refused", "unknown_client") == 2000, short(summ)
        assert counted(summ, "token.refused", "no_credentials") == 300, short(summ)
        assert counted(summ, "token.introspected", "bad_resource_credentials") == 1000, short(summ)
        assert counted(summ, "token.revoked", "unknown_client") == 200, short(summ)
        assert counted(summ, "approval.requested", "unknown_client") == 200, short(summ)
        assert sum(s["count"] for s in summ) == len(reqs), short(summ)
        for s in summ:
            assert s["actor"] == "anonymous" and s["outcome"] == "refused", short(s)
            assert s["client_addr"] == "127.0.0.1", short(s)
            assert s["agent_id"] is None and s["owner_id"] is None, short(s)
            assert s["error"] == "invalid_client" and MINUTE_RE.match(s["minute"]), short(s)
            assert "overflow" not in s, short(s)
        keys = [(s["event"], s["reason"], s["minute"]) for s in summ]
        assert len(keys) == len(set(keys)), "two rows for one key and minute: %r" % summ
        # nothing secret or attacker-chosen in them
        text = env.run("audit", "--json").stdout
        assert "agt_nosuch" not in text and "rs_nosuch" not in text and "Q" * 43 not in text
    finally:
        env.close()


def test_throttled_logins_are_summarized_and_bad_passwords_stay_rows():
    env = Env()
    try:
        pw = "correct horse battery staple 7"
        o = env.owner(email="throttle@example.com", password=pw)
        srv = env.serve()
        if time.time() % 60 > 50:
            time.sleep(60 - time.time() % 60 + 0.2)  # the throttle counts per UTC minute
        auth = "Basic " + base64.b64encode(b"throttle@example.com:not the password").decode()
        reqs = [("GET", "/v1/agents", None, {"Authorization": auth})] * 400
        statuses = flood(srv.port, reqs, threads=1)
        assert statuses.count(401) == 5 and statuses.count(429) == 395, sorted(set(statuses))
        assert srv.stop() == 0
        bad = [e for e in env.audit() if e["event"] == "owner.login_failed" and not e["detail"].get("summary")]
        assert len(bad) == 5 and all(e["actor"] == o["id"] and e["detail"]["reason"] == "bad_password"
                                     for e in bad), short(bad)
        summ = summaries(env)
        got = [(s["event"], s["reason"], s["error"]) for s in summ]
        assert got == [("owner.login_failed", "throttled", "rate_limited")], short(summ)
        assert summ[0]["count"] == 395 and summ[0]["client_addr"] == "127.0.0.1", short(summ)
        assert "not the password" not in env.run("audit").stdout
    finally:
        env.close()


def test_minute_summary_appended_while_running_and_a_crash_loses_only_the_current_minute():
    # waits for a minute to end (up to 75 s): run once, on SQLite without sanitizers. The
    # minute's table and its flush are the same on either engine (the rows go through the
    # writer, whose PostgreSQL path every other test of this module takes), and a kill -9
    # leaves a sanitizer nothing to report.
    if PG or SANITIZED:
        raise Skip("waits for a minute's end: run once, on SQLite without sanitizers")
    env = Env()
    try:
        srv = env.serve()
        # start late in a minute so that the next one begins soon after the first burst
        sec = time.time() % 60
        time.sleep(45 - sec if sec < 45 else 0 if sec < 55 else 60 - sec + 45)
        t0 = time.time()
        first = flood(srv.port, [unknown_token(i) for i in range(300)])
        assert first.count(401) == 300 and int(time.time() // 60) == int(t0 // 60), "the burst crossed a minute"
        minute = time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(t0))
        # the minute ends; the housekeeping tick appends its summary while the server runs
        time.sleep(60 - time.time() % 60 + 1.5)
        summ = summaries(env)
        got = [(s["minute"], s["reason"], s["count"]) for s in summ]
        assert got == [(minute, "unknown_client", 300)], short(summ)
        # a second burst in the new minute, then a crash: that minute's summary is lost, no more
        second = flood(srv.port, [unknown_token(i) for i in range(200)])
        assert second.count(401) == 200
        srv.kill9()
        summ = summaries(env)
        got = [(s["minute"], s["reason"], s["count"]) for s in summ]
        assert got == [(minute, "unknown_client", 300)], short(summ)
        # the rows are never rewritten: a restart appends, it does not add to the old row
        srv = env.serve()
        flood(srv.port, [unknown_token(i) for i in range(7)])
        srv.stop()
        summ = summaries(env)
        assert [s["count"] for s in summ] == [300, 7], short(summ)
    finally:
        env.close()


def process_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


def test_many_addresses_stay_within_the_table_and_the_rest_is_counted_in_the_overflow():
    env = Env()
    try:
        srv = env.serve()
        if time.time() % 60 > 30:
            time.sleep(60 - time.time() % 60 + 0.2)  # all of it in one minute
        # warm up: the server's threads and caches have their memory
        flood(srv.port, [unknown_token(i) for i in range(500)])
        rss0 = process_kib(srv.pid, "VmRSS")
        n_addr = KEYS_MAX + 1500
        addrs = ["127.%d.%d.%d" % (1 + i // 62500, (i // 250) % 250, 1 + i % 250) for i in range(n_addr)]
        sent = [0]
        lock = threading.Lock()

        def one_each(part):
            body = "grant_type=client_credentials"
            for a in part:
                s = socket.create_connection(("127.0.0.1", srv.port), timeout=10, source_address=(a, 0))
                try:
                    auth = basic_header("agt_nosuchagent%015d" % 1, "wsk_" + "U" * 43)
                    s.sendall(("POST /token HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: %s\r\n"
                               "Authorization: %s\r\nContent-Length: %d\r\n\r\n%s" % (FORM, auth, len(body), body))
                              .encode())
                    data = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    assert data.startswith(b"HTTP/1.1 401"), data[:100]
                finally:
                    s.close()
                with lock:
                    sent[0] += 1

        parts = [addrs[k::4] for k in range(4)]
        ts = [threading.Thread(target=one_each, args=(p,)) for p in parts]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sent[0] == n_addr, sent
        rss1 = process_kib(srv.pid, "VmRSS")
        # the table is fixed (1 MiB); allow for the allocator and the connections' buffers
        # (the sanitizers' allocator keeps freed memory in quarantine: no bound to check there)
        assert SANITIZED or rss1 - rss0 < 24 * 1024, "RSS grew by %d KiB with %d addresses" % (rss1 - rss0, n_addr)
        assert srv.stop() == 0
        summ = [s for s in summaries(env) if s["event"] == "token.refused"]
        own = [s for s in summ if s["client_addr"] is not None]
        over = [s for s in summ if s["client_addr"] is None]
        total = sum(s["count"] for s in summ)
        assert total == n_addr + 500, "events lost: %d" % (n_addr + 500 - total)
        assert len(own) <= KEYS_MAX, len(own)
        assert len(own) >= KEYS_MAX - 10, "the table should have filled before the overflow: %d" % len(own)
        assert len(over) == 1 and over[0]["overflow"] is True and over[0]["count"] >= 1500 - 10, short(over)
        assert over[0]["reason"] == "unknown_client" and over[0]["actor"] == "anonymous", short(over)
        assert "audit summary full" not in srv.logs()
    finally:
        env.close()

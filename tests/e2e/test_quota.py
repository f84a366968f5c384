"""test_quota.py - per-agent token quotas (SPEC "Quotas") against a real `warrant serve`.

Windows are fixed and aligned to the UTC minute and the UTC day, so several tests first make
sure the current minute has enough seconds left for what they do (they wait for the next
minute when it has not). The test that watches a minute window roll over starts at module
set-up: it exhausts an agent's minute quota then, and checks the reset last, so its wait
overlaps the other tests and the whole file stays well under 90 s."""
import http.client
import json
import threading
import time
import urllib.parse

from harness import SANITIZED, Env, Skip, basic_header, jwt_parts

_state = {}


def ctx():
    """The module's database, one owner with a workspace, and a server; made on first use.
    Also starts the minute-rollover observation (see test_window_rolls_...)."""
    if not _state:
        env = Env()
        _state["env"] = env
        try:
            o = env.owner()
            ws = env.workspace()
            env.member(ws["id"], o["id"], "tickets:read tickets:note")
            _state["owner"], _state["ws"] = o, ws
            srv = env.serve()
            _state["srv"] = srv
        except Exception:
            env.close()
            _state.clear()
            raise
        try:
            _start_rollover(env, srv, o, ws)
        except Exception as e:  # reported by the rollover test alone
            _state["rollover_error"] = e
    return _state


def teardown_module():
    env = _state.get("env")
    if env:
        env.close()
    _state.clear()


# ---- helpers ----

def secs_left_in_minute():
    return 60.0 - (time.time() % 60.0)


def secs_to_utc_midnight():
    return 86400.0 - (time.time() % 86400.0)


def fresh_minute_if_needed(need):
    """Makes sure at least `need` seconds of the current UTC minute remain, waiting for the
    next minute otherwise. Returns the minute number we are now in."""
    left = secs_left_in_minute()
    if left < need:
        time.sleep(left + 0.25)
    return int(time.time() // 60)


def new_agent(env, owner=None, verbs="tickets:read", **limits):
    s = _state
    a = env.agent((owner or s["owner"])["id"], verbs, **limits)
    return a


def tok(srv, a, **params):
    return srv.token(a["client_id"], a["client_secret"], **params)


def short(body):
    """body without the token string, for failure messages."""
    if isinstance(body, dict) and "access_token" in body:
        return dict(body, access_token="...")
    return body


def assert_ok(resp):
    st, h, body = resp
    assert st == 200, (st, body)
    assert body and body.get("access_token"), body
    return body


def assert_rate_limited(resp, window):
    """A 429 as SPEC "Quotas" says; returns Retry-After as an int."""
    st, h, body = resp
    assert st == 429, ("expected 429 rate_limited", st, short(body))
    assert h.get("content-type", "").startswith("application/json"), h
    assert "no-store" in h.get("cache-control", ""), h
    assert h.get("pragma") == "no-cache", h
    assert isinstance(body, dict) and set(body) == {"error", "error_description"}, body
    assert body["error"] == "rate_limited", body
    assert isinstance(body["error_description"], str) and body["error_description"], body
    ra = h.get("retry-after")
    assert ra is not None and ra.isdigit(), ("Retry-After must be whole seconds", h)
    ra = int(ra)
    assert ra >= 1, ra
    if window == "minute":
        assert ra <= 60, ra
        # a client that waits Retry-After must land in the next window, and not much later
        left = secs_left_in_minute()
        assert left - 0.2 <= ra <= left + 2.5, ("a client that waits Retry-After must land in the next minute", ra, left)
    else:
        left = secs_to_utc_midnight()
        assert ra <= 86400, ra
        assert left - 0.2 <= ra <= left + 3, ("Retry-After should reach the next UTC midnight", ra, left)
    return ra


def events(env, agent_id, name):
    return [e for e in env.audit("--agent", agent_id) if e["event"] == name]


def wait_for(cond, timeout, step=0.05):
    """Calls cond() until it returns a true value or timeout passes; returns that value
    (or the last false one) and the seconds it took."""
    t0 = time.time()
    while True:
        v = cond()
        if v or time.time() - t0 > timeout:
            return v, time.time() - t0
        time.sleep(step)


# ---- exactly at the limit ----

def test_exactly_n_tokens_per_minute_then_429_with_retry_after():
    s = ctx()
    env, srv = s["env"], s["srv"]
    a = new_agent(env, per_minute=5)
    fresh_minute_if_needed(5)
    minute = int(time.time() // 60)
    jtis = set()
    for i in range(5):
        b = assert_ok(tok(srv, a))
        jtis.add(jwt_parts(b["access_token"])[1]["jti"])
    assert len(jtis) == 5
    assert_rate_limited(tok(srv, a), "minute")
    assert_rate_limited(tok(srv, a), "minute")
    assert int(time.time() // 60) == minute, "the minute rolled over mid-test; rerun"
    issued = events(env, a["id"], "token.issued")
    assert len(issued) == 5, [e["event"] for e in env.audit("--agent", a["id"])]
    assert len(events(env, a["id"], "quota.exceeded")) == 2


def test_refused_requests_do_not_count():
    s = ctx()
    env, srv, ws = s["env"], s["srv"], s["ws"]
    a = new_agent(env, per_minute=3)
    fresh_minute_if_needed(5)
    refusals = [
        tok(srv, a, scope="payments:send"),             # not in the grant: invalid_scope
        tok(srv, a, scope="tickets:note"),              # not the agent's: invalid_scope
        tok(srv, a, scope="tickets:read", workspace="ws_doesnotexist00000000000"),
        tok(srv, a, scope="not a verb"),                 # malformed
        tok(srv, a, run_id="bad run id!"),               # invalid_request
        srv.token(a["client_id"], a["client_secret"] + "x"),  # invalid_client
        srv.post_form("/token", {"grant_type": "password"}, basic=(a["client_id"], a["client_secret"])),
    ]
    for st, _, body in refusals:
        assert st in (400, 401), (st, body)
        assert body["error"] != "rate_limited", body
    for _ in range(3):
        assert_ok(tok(srv, a, scope="tickets:read", workspace=ws["id"]))
    assert_rate_limited(tok(srv, a), "minute")
    assert len(events(env, a["id"], "token.issued")) == 3
    refused = events(env, a["id"], "token.refused")
    assert len(refused) >= 6, refused  # the unknown-grant refusal may be logged before auth


def test_per_day_limit_retry_after_reaches_utc_midnight():
    s = ctx()
    env, srv = s["env"], s["srv"]
    a = new_agent(env, per_minute=100, per_day=4)
    for _ in range(4):
        assert_ok(tok(srv, a))
    st, h, body = tok(srv, a)
    ra = assert_rate_limited((st, h, body), "day")
    if secs_to_utc_midnight() > 120:
        assert ra > 60, ("a per-day refusal must not send the client back after a minute", ra)
    # the refusal is stable: the day does not reset with the minute counter
    assert_rate_limited(tok(srv, a), "day")
    ex = events(env, a["id"], "quota.exceeded")
    assert len(ex) == 2 and len(events(env, a["id"], "token.issued")) == 4, ex


# ---- concurrency ----

def test_concurrent_requests_never_overshoot_the_minute_quota():
    s = ctx()
    env, srv = s["env"], s["srv"]
    limit, nthreads, per_thread = 50, 16, 8
    a = new_agent(env, per_minute=limit)
    auth = basic_header(a["client_id"], a["client_secret"])
    body = urllib.parse.urlencode({"grant_type": "client_credentials"})
    results = []
    lock = threading.Lock()
    errors = []
    barrier = threading.Barrier(nthreads)

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
        mine = []
        try:
            barrier.wait(10)
            for _ in range(per_thread):
                c.request("POST", "/token", body=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded", "Authorization": auth})
                r = c.getresponse()
                data = r.read()
                mine.append((r.status, r.getheader("Retry-After"), json.loads(data)))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
        finally:
            c.close()
            with lock:
                results.extend(mine)

    fresh_minute_if_needed(10)
    minute = int(time.time() // 60)
    threads = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert int(time.time() // 60) == minute, "the minute rolled over during the race; rerun"
    assert not errors, errors
    assert len(results) == nthreads * per_thread
    ok = [b for st, _, b in results if st == 200]
    limited = [(st, ra, b) for st, ra, b in results if st == 429]
    other = [(st, b) for st, _, b in results if st not in (200, 429)]
    assert not other, other[:5]
    assert len(ok) == limit, ("exactly the quota must be issued", len(ok), len(limited))
    assert len(limited) == nthreads * per_thread - limit
    assert all(b["error"] == "rate_limited" and ra and 1 <= int(ra) <= 60 for _, ra, b in limited)
    assert len({jwt_parts(b["access_token"])[1]["jti"] for b in ok}) == limit
    assert len(events(env, a["id"], "token.issued")) == limit
    assert len(events(env, a["id"], "quota.exceeded")) == nthreads * per_thread - limit


# ---- restart ----

def test_daily_window_survives_a_restart():
    env = Env()
    try:
        o = env.owner()
        ws = env.workspace()
        env.member(ws["id"], o["id"], "tickets:read")
        day = env.agent(o["id"], "tickets:read", per_day=6)
        minute = env.agent(o["id"], "tickets:read", per_minute=3)
        fresh_minute_if_needed(15)
        srv = env.serve()
        for _ in range(4):
            assert_ok(tok(srv, day))
        for _ in range(2):
            assert_ok(tok(srv, minute))
        assert srv.stop() == 0
        srv = env.serve()
        assert_ok(tok(srv, day))
        # a crash (no clean shutdown) forgets nothing either
        assert srv.kill9() != 0
        srv = env.serve()
        assert_ok(tok(srv, day))
        assert_rate_limited(tok(srv, day), "day")
        # the minute window too is counted from what was issued, not from the restart
        assert_ok(tok(srv, minute))
        assert_rate_limited(tok(srv, minute), "minute")
        assert len(events(env, day["id"], "token.issued")) == 6
    finally:
        env.close()


# ---- changing limits on a running server ----

def test_agent_limit_applies_to_a_running_server_within_one_second():
    s = ctx()
    env, srv = s["env"], s["srv"]
    a = new_agent(env)  # no quota unless asked for
    assert a["per_minute"] == 0 and a["per_day"] == 0, a
    fresh_minute_if_needed(20)
    minute = int(time.time() // 60)
    issued = 0
    for _ in range(3):
        assert_ok(tok(srv, a))
        issued += 1

    def set_limit(*args):
        out = env.cli("agent", "limit", a["id"], *args)
        assert out["id"] == a["id"], out
        return out, time.time()

    def probe(want):
        nonlocal issued
        r = tok(srv, a)
        if r[0] == 200:
            issued += 1
        return r if r[0] == want else None

    # lower: 3 already issued this minute, a limit of 3 refuses the next one
    out, t0 = set_limit("--per-minute", "3")
    assert out["per_minute"] == 3 and out["per_day"] == 0, out
    r, took = wait_for(lambda: probe(429), 1.0)
    assert r, "lowering the limit did not apply within 1 s (%d issued)" % issued
    assert_rate_limited(r, "minute")
    assert issued <= 6, issued

    # raise: up to 6 in this minute, then 429 again
    out, t0 = set_limit("--per-minute", "6")
    assert out["per_minute"] == 6, out
    r, took = wait_for(lambda: probe(200), 1.0)
    assert r, "raising the limit did not apply within 1 s"
    while issued < 6:
        assert_ok(tok(srv, a))
        issued += 1
    assert_rate_limited(tok(srv, a), "minute")

    # 0 means unlimited
    out, t0 = set_limit("--per-minute", "0")
    assert out["per_minute"] == 0, out
    r, took = wait_for(lambda: probe(200), 1.0)
    assert r, "--per-minute 0 did not lift the limit within 1 s"
    for _ in range(10):
        assert_ok(tok(srv, a))
        issued += 1

    # the day limit the same way, and only the option given changes
    out, t0 = set_limit("--per-day", "2")
    assert out["per_day"] == 2 and out["per_minute"] == 0, out
    r, took = wait_for(lambda: probe(429), 1.0)
    assert r, "--per-day did not apply within 1 s"
    assert_rate_limited(r, "day")
    out, t0 = set_limit("--per-day", "0")
    r, took = wait_for(lambda: probe(200), 1.0)
    assert r, "--per-day 0 did not lift the limit within 1 s"
    assert int(time.time() // 60) == minute, "the minute rolled over mid-test; rerun"
    assert len(events(env, a["id"], "token.issued")) == issued


def test_zero_means_unlimited():
    s = ctx()
    env, srv = s["env"], s["srv"]
    a = new_agent(env, per_minute=0, per_day=0)
    assert a["per_minute"] == 0 and a["per_day"] == 0, a
    for i in range(60):
        st, _, body = tok(srv, a)
        assert st == 200, (i, st, body)
    assert not events(env, a["id"], "quota.exceeded")


def test_agent_add_and_list_show_the_limits():
    s = ctx()
    env = s["env"]
    o = env.owner()
    a = env.agent(o["id"], "tickets:read", per_minute=7, per_day=1000)
    assert a["per_minute"] == 7 and a["per_day"] == 1000, a
    b = env.agent(o["id"], "tickets:read")
    listed = {x["id"]: x for x in env.cli("agent", "list", "--owner", o["id"])}
    assert set(listed) == {a["id"], b["id"]}, listed
    assert (listed[a["id"]]["per_minute"], listed[a["id"]]["per_day"]) == (7, 1000)
    assert (listed[b["id"]]["per_minute"], listed[b["id"]]["per_day"]) == (0, 0)
    env.cli("agent", "limit", a["id"], "--per-day", "50")
    listed = {x["id"]: x for x in env.cli("agent", "list", "--owner", o["id"])}
    assert (listed[a["id"]]["per_minute"], listed[a["id"]]["per_day"]) == (7, 50)
    # bad values are refused and change nothing
    for bad in (["--per-minute", "-1"], ["--per-minute", "many"], ["--per-day", "1.5"], []):
        p = env.run("agent", "limit", a["id"], *bad)
        assert p.returncode != 0 and p.stderr.strip(), (bad, p.returncode, p.stdout)
    p = env.run("agent", "limit", "agt_nosuchagent0000000000000", "--per-minute", "3")
    assert p.returncode != 0, p.stdout
    p = env.run("agent", "add", "--owner", o["id"], "--name", "x", "--verbs", "tickets:read",
                "--per-minute", "-5")
    assert p.returncode != 0, p.stdout
    listed = {x["id"]: x for x in env.cli("agent", "list", "--owner", o["id"])}
    assert (listed[a["id"]]["per_minute"], listed[a["id"]]["per_day"]) == (7, 50)
    assert len(listed) == 2


def test_quota_exceeded_audit_rows_name_the_agent_and_its_owner():
    s = ctx()
    env, srv, o, ws = s["env"], s["srv"], s["owner"], s["ws"]
    a = new_agent(env, per_minute=1)
    fresh_minute_if_needed(3)
    assert_ok(tok(srv, a, run_id="run-quota-audit"))
    assert_rate_limited(tok(srv, a, run_id="run-quota-audit"), "minute")
    rows = events(env, a["id"], "quota.exceeded")
    assert len(rows) == 1, rows
    e = rows[0]
    assert e["actor"] == a["id"], e
    assert e.get("agent_id", a["id"]) == a["id"], e
    assert e["owner_id"] == o["id"], e
    assert e["outcome"] != "ok", e
    assert e["ws"] == ws["id"], e
    assert e["client_addr"] == "127.0.0.1", e
    assert not e.get("jti"), e
    assert e["time"].endswith("Z"), e
    # the owner's view of the trail has it too
    by_owner = [x for x in env.audit("--owner", o["id"]) if x["event"] == "quota.exceeded"
                and x["actor"] == a["id"]]
    assert len(by_owner) == 1, by_owner


def test_one_agent_at_its_ceiling_leaves_other_agents_alone():
    s = ctx()
    env, srv, ws = s["env"], s["srv"], s["ws"]
    o = env.owner()
    env.member(ws["id"], o["id"], "tickets:read")
    runaway = env.agent(o["id"], "tickets:read", per_minute=2)
    sibling = env.agent(o["id"], "tickets:read", per_minute=2)
    unlimited = env.agent(o["id"], "tickets:read")
    stranger = new_agent(env, per_minute=2)  # another owner's agent
    fresh_minute_if_needed(5)
    for _ in range(2):
        assert_ok(tok(srv, runaway))
    for _ in range(5):
        assert_rate_limited(tok(srv, runaway), "minute")
    for _ in range(2):
        assert_ok(tok(srv, sibling))
    assert_rate_limited(tok(srv, sibling), "minute")
    for _ in range(10):
        assert_ok(tok(srv, unlimited))
    for _ in range(2):
        assert_ok(tok(srv, stranger))
    assert_rate_limited(tok(srv, runaway), "minute")
    assert len(events(env, unlimited["id"], "quota.exceeded")) == 0
    assert len(events(env, sibling["id"], "quota.exceeded")) == 1


# ---- the window rolls over at the UTC minute ----

def _start_rollover(env, srv, o, ws):
    """At set-up: an agent with 2 tokens a minute uses them and is refused; an agent at its
    day limit is refused too. test_window_rolls_... checks both after the minute ends."""
    if secs_left_in_minute() < 3:
        time.sleep(secs_left_in_minute() + 0.25)
    roll = env.agent(o["id"], "tickets:read", per_minute=2)
    day = env.agent(o["id"], "tickets:read", per_day=1)
    minute = int(time.time() // 60)
    assert_ok(tok(srv, roll))
    assert_ok(tok(srv, roll))
    assert_ok(tok(srv, day))
    r = tok(srv, roll)
    t_refused = time.time()
    ra = assert_rate_limited(r, "minute")
    assert int(t_refused // 60) == minute, "set-up crossed a minute boundary"
    assert_rate_limited(tok(srv, day), "day")
    _state["rollover"] = {"roll": roll, "day": day, "minute": minute, "retry_at": t_refused + ra}


def test_window_rolls_over_at_the_next_utc_minute():
    if SANITIZED:  # waits for the next minute; the same code runs unsanitized on both engines
        raise Skip("waits for the next minute: run without sanitizers")
    s = ctx()
    if "rollover_error" in s:
        raise s["rollover_error"]
    env, srv, ro = s["env"], s["srv"], s["rollover"]
    roll = ro["roll"]
    if time.time() < (ro["minute"] + 1) * 60 - 0.5:
        # still the same minute: still refused, then wait for the boundary
        assert_rate_limited(tok(srv, roll), "minute")
    # a client that honours Retry-After gets through; the wait is bounded by the header
    wait = ro["retry_at"] - time.time()
    assert wait <= 61
    if wait > 0:
        time.sleep(wait + 0.1)
    assert int(time.time() // 60) > ro["minute"]
    fresh_minute_if_needed(3)
    assert_ok(tok(srv, roll))
    assert_ok(tok(srv, roll))
    assert_rate_limited(tok(srv, roll), "minute")
    # the day window does not roll with the minute
    assert_rate_limited(tok(srv, ro["day"]), "day")
    assert len(events(env, roll["id"], "token.issued")) == 4

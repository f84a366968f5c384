"""test_crash.py - crash safety of a real `warrant serve`: while several clients issue,
revoke and introspect tokens, the server is killed with SIGKILL at a random moment, then
restarted on the same database. Four rounds, one database.

After each crash:
  * a SQLite database passes PRAGMA integrity_check and foreign_key_check;
  * every revocation answered 200 is still in force: the token introspects inactive
    (RFC 7009: the revocation is durable before the 200), and its token.revoked row exists;
  * every token handed out with a 200 from /token has its token.issued audit row (the row
    commits before the answer), in the audit_events table and in `warrant audit --json`;
  * tokens that nobody tried to revoke are still active (nothing else was lost or mixed up).

The kill moment is drawn from a seeded generator; WARRANT_CRASH_SEED replays a run."""
import base64
import http.client
import json
import os
import random
import threading
import time
import urllib.parse

from harness import Env, basic_header

FORM = "application/x-www-form-urlencoded"
ROUNDS = 4
WORKERS = 3              # each issues and revokes with its own agent
LOAD_SECONDS_MAX = 20    # a round's load never runs longer than this
INACTIVE = {"active": False}
# every server here has the same issuer, so that tokens of one run are tokens of the next
ISSUER = "http://warrant-crash.test"


def jti_of(tok):
    p = tok.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["jti"]


class Client:
    """One keep-alive connection; raises OSError/HTTPException when the server is gone."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def post(self, path, fields, auth):
        self.c.request("POST", path, urllib.parse.urlencode(fields),
                       {"Content-Type": FORM, "Authorization": auth})
        r = self.c.getresponse()
        return r.status, r.read()

    def close(self):
        self.c.close()


class Record:
    def __init__(self):
        self.lock = threading.Lock()
        self.issued = []         # tokens answered 200 at /token
        self.revoked = []        # tokens whose /revoke was answered 200
        self.attempted = set()   # tokens sent to /revoke (answered or not)
        self.live_violations = []  # revoked (200) but introspected active before the crash
        self.errors = []


def worker(port, agent, rec, stop, deadline):
    auth = basic_header(agent["client_id"], agent["client_secret"])
    c = Client(port)
    mine = []
    try:
        for i in range(100000):
            if stop.is_set() or time.time() > deadline:
                return
            st, body = c.post("/token", {"grant_type": "client_credentials"}, auth)
            if st == 200:
                tok = json.loads(body)["access_token"]
                mine.append(tok)
                with rec.lock:
                    rec.issued.append(tok)
            else:
                with rec.lock:
                    rec.errors.append(("token", st, body[:200]))
                return
            if i % 2 == 1 and mine:
                tok = mine.pop(random.randrange(len(mine)))
                with rec.lock:
                    rec.attempted.add(tok)
                st, body = c.post("/revoke", {"token": tok, "token_type_hint": "access_token"}, auth)
                if st == 200:
                    with rec.lock:
                        rec.revoked.append(tok)
                else:
                    with rec.lock:
                        rec.errors.append(("revoke", st, body[:200]))
                    return
    except (OSError, http.client.HTTPException):
        return  # the server was killed
    finally:
        c.close()


def introspector(port, gw, rec, stop, deadline):
    auth = basic_header(gw["client_id"], gw["client_secret"])
    c = Client(port)
    rnd = random.Random()
    try:
        while not stop.is_set() and time.time() < deadline:
            with rec.lock:
                pool = rec.revoked[-50:] if rec.revoked and rnd.random() < 0.5 else rec.issued[-50:]
                revoked = set(rec.revoked)
            if not pool:
                time.sleep(0.01)
                continue
            tok = rnd.choice(pool)
            st, body = c.post("/introspect", {"token": tok}, auth)
            if st != 200:
                with rec.lock:
                    rec.errors.append(("introspect", st, body[:200]))
                return
            if tok in revoked and json.loads(body) != INACTIVE:
                with rec.lock:
                    rec.live_violations.append(jti_of(tok))
    except (OSError, http.client.HTTPException):
        return
    finally:
        c.close()


def db_checks(env):
    if not env.pg:  # PostgreSQL keeps its own consistency: these checks are the SQLite file's
        ic = [r[0] for r in env.sql("PRAGMA integrity_check")]
        assert ic == ["ok"], "integrity_check: %r" % ic[:10]
        fk = env.sql("PRAGMA foreign_key_check")
        assert fk == [], "foreign_key_check: %r" % fk[:10]
    issued = {r[0] for r in env.sql("SELECT jti FROM audit_events WHERE event = 'token.issued'")}
    revoked_rows = {r[0] for r in env.sql(
        "SELECT jti FROM audit_events WHERE event = 'token.revoked' AND jti IS NOT NULL")}
    revoked_tab = {r[0] for r in env.sql("SELECT jti FROM revoked_tokens")}
    return issued, revoked_rows, revoked_tab


def introspect_all(port, gw, tokens):
    auth = basic_header(gw["client_id"], gw["client_secret"])
    c = Client(port)
    out = {}
    try:
        for tok in tokens:
            st, body = c.post("/introspect", {"token": tok}, auth)
            assert st == 200, (st, body)
            out[tok] = json.loads(body)
    finally:
        c.close()
    return out


def test_sigkill_under_load_loses_no_acknowledged_write():
    seed = int(os.environ.get("WARRANT_CRASH_SEED") or time.time_ns() % 1000000)
    rnd = random.Random(seed)
    env = Env()
    try:
        o = env.owner()
        ws = env.workspace()
        env.member(ws["id"], o["id"], "tickets:read tickets:note")
        agents = [env.agent(o["id"], "tickets:read", name="crash%d" % i) for i in range(WORKERS)]
        gw = env.cli("resource", "add", "gateway")
        all_issued, all_revoked, all_attempted = [], [], set()
        kill_delays = []
        for rnd_no in range(ROUNDS):
            # a 1 MiB write-ahead log starts over every few hundred commits, so kills land
            # around its checkpoints and restarts too
            srv = env.serve("--issuer", ISSUER, "--wal-restart", "1")
            rec = Record()
            stop = threading.Event()
            deadline = time.time() + LOAD_SECONDS_MAX
            threads = [threading.Thread(target=worker, args=(srv.port, a, rec, stop, deadline)) for a in agents]
            threads.append(threading.Thread(target=introspector, args=(srv.port, gw, rec, stop, deadline)))
            for th in threads:
                th.start()
            # under load first, then a random moment
            t_wait = time.time() + 10
            while time.time() < t_wait:
                with rec.lock:
                    if len(rec.issued) >= 40 and len(rec.revoked) >= 15:
                        break
                time.sleep(0.01)
            delay = rnd.uniform(0.05, 1.2)
            kill_delays.append(round(delay, 3))
            time.sleep(delay)
            srv.kill9()
            stop.set()
            for th in threads:
                th.join(15)
                assert not th.is_alive(), "a client thread hung after the kill"
            label = "round %d (seed %d, kill after %.3fs)" % (rnd_no + 1, seed, delay)
            assert not rec.errors, "%s: errors before the kill: %r" % (label, rec.errors[:5])
            assert len(rec.issued) >= 40 and len(rec.revoked) >= 15, "%s: too little load: %d issued, %d revoked" % (
                label, len(rec.issued), len(rec.revoked))
            assert not rec.live_violations, "%s: revoked with 200 but still active: %r" % (
                label, rec.live_violations[:5])
            all_issued += rec.issued
            all_revoked += rec.revoked
            all_attempted |= rec.attempted

            # the database after the crash, before anyone else opens it
            issued_rows, revoked_rows, revoked_tab = db_checks(env)
            missing = [jti_of(t) for t in all_issued if jti_of(t) not in issued_rows]
            assert not missing, "%s: %d tokens answered 200 have no token.issued row: %r" % (
                label, len(missing), missing[:5])
            lost = [jti_of(t) for t in all_revoked if jti_of(t) not in revoked_tab]
            assert not lost, "%s: %d acknowledged revocations are gone: %r" % (label, len(lost), lost[:5])
            unaudited = [jti_of(t) for t in all_revoked if jti_of(t) not in revoked_rows]
            assert not unaudited, "%s: acknowledged revocations without a token.revoked row: %r" % (
                label, unaudited[:5])

            # restart on the same database: revocations in force, the rest alive
            srv2 = env.serve("--issuer", ISSUER)
            try:
                now = introspect_all(srv2.port, gw, rec.revoked)
                active = [jti_of(t) for t, v in now.items() if v != INACTIVE]
                assert not active, "%s: %d revoked tokens active after restart: %r" % (label, len(active), active[:5])
                untouched = [t for t in rec.issued if t not in all_attempted][:60]
                assert untouched, label
                now = introspect_all(srv2.port, gw, untouched)
                dead = [jti_of(t) for t, v in now.items() if v.get("active") is not True]
                assert not dead, "%s: tokens never revoked are inactive after restart: %r" % (label, dead[:5])
            finally:
                srv2.stop()

        # at the end: every round's revocations still hold, and the audit export agrees
        srv = env.serve("--issuer", ISSUER)
        try:
            now = introspect_all(srv.port, gw, all_revoked)
            active = [jti_of(t) for t, v in now.items() if v != INACTIVE]
            assert not active, "seed %d: %d revoked tokens active at the end: %r" % (seed, len(active), active[:5])
        finally:
            srv.stop()
        exported = {e["jti"] for e in env.audit() if e.get("event") == "token.issued"}
        missing = [jti_of(t) for t in all_issued if jti_of(t) not in exported]
        assert not missing, "seed %d: `warrant audit --json` lacks %d issued tokens: %r" % (
            seed, len(missing), missing[:5])
        db_checks(env)
        assert len(set(kill_delays)) > 1, kill_delays  # the kills landed at different moments
    finally:
        env.close()

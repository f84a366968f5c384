"""test_retention.py - --audit-retention prunes rows older than the window, and only those."""
import sqlite3
import time

from harness import Env


def test_retention_prunes_only_old_rows():
    env = Env()
    try:
        sc = env.scenario()
        now_ms = int(time.time() * 1000)
        con = sqlite3.connect(env.db)
        with con:
            con.executemany(
                "INSERT INTO audit_events(time, event, actor, outcome) VALUES (?, 'token.issued', 'agt_old', 'ok')",
                [(now_ms - 5 * 86400000 - i,) for i in range(7000)])  # more than one prune chunk
            con.execute("INSERT INTO audit_events(time, event, actor, outcome) VALUES (?, 'token.issued', 'agt_recent', 'ok')",
                        (now_ms - 1 * 86400000,))
        con.close()
        srv = env.serve("--audit-retention", "2")
        st, _, body = srv.token(sc["id"], sc["secret"])
        assert st == 200, body
        deadline = time.time() + 5
        old = None
        while time.time() < deadline:
            con = sqlite3.connect(env.db)
            old = con.execute("SELECT count(*) FROM audit_events WHERE actor = 'agt_old'").fetchone()[0]
            con.close()
            if old == 0:
                break
            time.sleep(0.2)
        assert old == 0, "%d old rows left" % old
        con = sqlite3.connect(env.db)
        recent = con.execute("SELECT count(*) FROM audit_events WHERE actor = 'agt_recent'").fetchone()[0]
        issued = con.execute("SELECT count(*) FROM audit_events WHERE event = 'token.issued' AND actor = ?",
                             (sc["id"],)).fetchone()[0]
        con.close()
        assert recent == 1 and issued == 1
        deadline = time.time() + 2
        while '"audit pruned"' not in srv.logs() and time.time() < deadline:
            time.sleep(0.1)  # log lines are flushed four times a second
        assert '"audit pruned"' in srv.logs()
    finally:
        env.close()


def test_retention_of_one_day_is_refused():
    env = Env()
    try:
        p = env.run("serve", "--audit-retention", "1", "--check-config")
        assert p.returncode == 2 and "audit-retention" in p.stderr
    finally:
        env.close()

"""test_retention.py - --audit-retention prunes rows older than the window, and only those."""
import time

from harness import Env


def test_retention_prunes_only_old_rows():
    env = Env()
    try:
        sc = env.scenario()
        now_ms = int(time.time() * 1000)
        # more than one prune chunk of old rows, and one recent row
        env.sql("INSERT INTO audit_events(time, event, actor, outcome)"
                " SELECT ? - i, 'token.issued', 'agt_old', 'ok'"
                " FROM (WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 6999)"
                " SELECT i FROM n) AS rows_", (now_ms - 5 * 86400000,))
        env.sql("INSERT INTO audit_events(time, event, actor, outcome) VALUES (?, 'token.issued', 'agt_recent', 'ok')",
                (now_ms - 1 * 86400000,))
        srv = env.serve("--audit-retention", "2")
        st, _, body = srv.token(sc["id"], sc["secret"])
        assert st == 200, body
        deadline = time.time() + 5
        old = None
        while time.time() < deadline:
            old = env.sql("SELECT count(*) FROM audit_events WHERE actor = 'agt_old'")[0][0]
            if old == 0:
                break
            time.sleep(0.2)
        assert old == 0, "%d old rows left" % old
        recent = env.sql("SELECT count(*) FROM audit_events WHERE actor = 'agt_recent'")[0][0]
        issued = env.sql("SELECT count(*) FROM audit_events WHERE event = 'token.issued' AND actor = ?",
                         (sc["id"],))[0][0]
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

#!/usr/bin/env python3
"""audit_query.py - how fast `warrant audit` answers over a large audit trail.

Creates a database with `warrant init`, fills audit_events with a million rows (by
default) spread over the last 7 days with realistic owner / agent / run / workspace
distributions, then times these commands, RUNS runs each, and prints the median:

    warrant audit --owner U --since 7d --limit 100      (a busy owner and a quiet one)
    warrant audit --agent A --since 7d --limit 100
    warrant audit --run R
    warrant audit --since T1 --until T2 --limit 100     (one hour, three days ago)

and prints EXPLAIN QUERY PLAN for the statement audit/audit.c uses (read from the source,
so the plan shown is the plan of the code as it is), with each filter combination bound,
so one can see which indexes the queries use.

This is a benchmark, not a test: it is not part of the test command.

    bench/audit_query.py [--rows N] [--runs 5] [--bin ./warrant] [--keep]

The binary defaults to $WARRANT_BIN, else ./warrant at the repository root."""
import argparse
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DAY_MS = 86400000


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--bin", default=os.environ.get("WARRANT_BIN") or os.path.join(ROOT, "warrant"))
    p.add_argument("--dir", default=None, help="where to put the database (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the database afterwards")
    p.add_argument("--seed", type=int, default=20261123)
    return p.parse_args()


def b32id(rng, prefix):
    return prefix + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(26))


def export_sql(owner=None, agent=None, run=None, ws=None):
    """The SELECT that audit_export() in audit/audit.c prepares for this combination of
    filters: its snprintf format (adjacent C string literals) with each given filter's
    clause in place of its %s, as the C code does."""
    src = open(os.path.join(ROOT, "audit", "audit.c")).read()
    m = re.search(r"snprintf\(sql, sizeof sql,\s*((?:\s*\"(?:[^\"\\]|\\.)*\")+)\s*,((?:[^;])*?)\);", src)
    if not m:
        sys.exit("cannot find the audit_export SQL in audit/audit.c")
    fmt = "".join(re.findall(r"\"((?:[^\"\\]|\\.)*)\"", m.group(1)))
    clauses = re.findall(r"\?\s*\"([^\"]*)\"\s*:\s*\"\"", m.group(2))
    if len(clauses) != 4:
        sys.exit("unexpected filter clauses in audit/audit.c")
    given = (owner, agent, run, ws)
    return fmt % tuple(c if v is not None else "" for c, v in zip(clauses, given))


def cascade_sql():
    """The audit_events scan of the membership cascade in authz/model.c (cascade_agent)."""
    src = open(os.path.join(ROOT, "authz", "model.c")).read()
    m = re.search(r"sqlite3_prepare_v2\(db->h,\s*((?:\s*\"(?:[^\"\\]|\\.)*\")+)\s*,\s*-1,\s*&q", src)
    if not m or "token.issued" not in m.group(1):
        return None
    return "".join(re.findall(r"\"((?:[^\"\\]|\\.)*)\"", m.group(1)))


def fill(db, n, seed):
    """Inserts n audit rows over the last 7 days. Returns the population used."""
    rng = random.Random(seed)
    owners = [b32id(rng, "usr_") for _ in range(300)]
    workspaces = [b32id(rng, "ws_") for _ in range(60)]
    # some owners have many agents, most a few (Zipf-like over owners)
    owner_of = rng.choices(owners, weights=[1.0 / (i + 1) ** 0.8 for i in range(len(owners))], k=3000)
    agents = [(b32id(rng, "agt_"), o, rng.sample(workspaces, rng.randint(1, 3))) for o in owner_of]
    # activity: a few agents are very busy (Zipf-like), most are quiet
    weights = [1.0 / (i + 1) ** 0.9 for i in range(len(agents))]
    rng.shuffle(weights)
    rss = [b32id(rng, "rs_") for _ in range(8)]
    now = int(time.time() * 1000)
    start = now - 7 * DAY_MS + 60000
    events = (["token.issued"] * 55 + ["token.introspected"] * 35 + ["token.refused"] * 6 +
              ["token.revoked"] * 2 + ["run.revoked"] + ["quota.exceeded"])
    picks = rng.choices(range(len(agents)), weights=weights, k=n)
    times = sorted(start + int(rng.random() * (now - start - 120000)) for _ in range(n))
    rows = []
    for k in range(n):
        ai = picks[k]
        aid, oid, wss = agents[ai]
        t = times[k]
        ev = rng.choice(events)
        run = "run_%s_%d" % (aid[4:16], t // (2 * 3600000))  # one run per agent per 2 hours
        ws = wss[(t // (6 * 3600000)) % len(wss)]
        jti = "%022x" % rng.getrandbits(88) if ev != "run.revoked" and ev != "quota.exceeded" else None
        addr = "10.%d.%d.%d" % (ai % 250, (ai // 250) % 250, 1 + ai % 200)
        if ev == "token.issued":
            actor, outcome = aid, "ok"
            detail = ('{"scope":"tickets:note tickets:read","aud":["https://api.example.com"],"expires_in":300,'
                      '"credential_id":"cred_%s","auth_method":"client_secret_basic"}' % aid[4:30])
        elif ev == "token.introspected":
            actor, outcome = rss[ai % len(rss)], "active" if rng.random() < 0.9 else "inactive"
            detail = '{"agent_id":"%s"}' % aid
        elif ev == "token.refused":
            actor, outcome = aid, "refused"
            detail = '{"reason":"scope_not_allowed","error":"invalid_scope","auth_method":"client_secret_basic"}'
        else:
            actor, outcome = "system" if ev == "run.revoked" else aid, "ok"
            detail = '{"agent_id":"%s"}' % aid
        rows.append((t, ev, actor, aid, oid, run, ws, jti, addr, outcome, detail, "%024x" % k))
    con = sqlite3.connect(db)
    con.execute("PRAGMA synchronous=OFF")
    # bulk load without the audit indexes, then build them again from their own SQL
    idx = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events'"
                      " AND sql IS NOT NULL").fetchall()
    with con:
        for name, _ in idx:
            con.execute('DROP INDEX "%s"' % name)
        con.executemany("INSERT INTO audit_events(time, event, actor, agent_id, owner_id, run_id, ws, jti,"
                        " client_addr, outcome, detail, request_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        for _, sql in idx:
            con.execute(sql)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    per_owner, per_agent, per_run = {}, {}, {}
    for r in rows:
        per_owner[r[4]] = per_owner.get(r[4], 0) + 1
        per_agent[r[3]] = per_agent.get(r[3], 0) + 1
        per_run[r[5]] = per_run.get(r[5], 0) + 1
    return {"now": now, "per_owner": per_owner, "per_agent": per_agent, "per_run": per_run,
            "indexes": [n for n, _ in idx]}


def median_of(runs, cmd):
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if p.returncode != 0:
            sys.exit("%s failed: %s" % (" ".join(cmd), p.stderr.strip()))
        out = p.stdout
    return statistics.median(times), min(times), max(times), len(out.splitlines())


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def main():
    a = parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit("no warrant binary at %s (build it, or pass --bin / set WARRANT_BIN)" % a.bin)
    d = a.dir or tempfile.mkdtemp(prefix="warrant-bench-")
    os.makedirs(d, exist_ok=True)
    db = os.path.join(d, "bench.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    try:
        subprocess.run([a.bin, "init", "--db", db, "--json"], check=True, capture_output=True)
        t0 = time.perf_counter()
        pop = fill(db, a.rows, a.seed)
        fill_s = time.perf_counter() - t0
        size = os.path.getsize(db)
        print("filled %d audit rows in %.1f s (%.0f MB; indexes rebuilt: %s)" % (
            a.rows, fill_s, size / 1e6, ", ".join(pop["indexes"])))

        by_owner = sorted(pop["per_owner"].items(), key=lambda kv: kv[1])
        busy_owner, quiet_owner = by_owner[-1], by_owner[len(by_owner) // 10]
        by_agent = sorted(pop["per_agent"].items(), key=lambda kv: kv[1])
        agent = by_agent[len(by_agent) * 9 // 10]     # a fairly active agent
        runs_of_agent = sorted((r for r in pop["per_run"] if r[4:16] == agent[0][4:16]),
                               key=lambda r: pop["per_run"][r])
        run = runs_of_agent[len(runs_of_agent) // 2]
        t1 = pop["now"] - 3 * DAY_MS
        t2 = t1 + 3600000
        print("owners %d, agents %d, runs %d; busy owner %s (%d rows), quiet owner %s (%d rows),"
              " agent %s (%d rows), run %s (%d rows)" % (
                  len(pop["per_owner"]), len(pop["per_agent"]), len(pop["per_run"]), busy_owner[0], busy_owner[1],
                  quiet_owner[0], quiet_owner[1], agent[0], agent[1], run, pop["per_run"][run]))

        queries = [
            ("--owner U --since 7d --limit 100 (busy owner)",
             ["--owner", busy_owner[0], "--since", "7d", "--limit", "100"], (busy_owner[0], None, None, None)),
            ("--owner U --since 7d --limit 100 (quiet owner)",
             ["--owner", quiet_owner[0], "--since", "7d", "--limit", "100"], (quiet_owner[0], None, None, None)),
            ("--agent A --since 7d --limit 100",
             ["--agent", agent[0], "--since", "7d", "--limit", "100"], (None, agent[0], None, None)),
            ("--agent A (all of its rows)", ["--agent", agent[0]], (None, agent[0], None, None)),
            ("--run R", ["--run", run], (None, None, run, None)),
            ("--since T1 --until T2 --limit 100 (one hour)",
             ["--since", iso(t1), "--until", iso(t2), "--limit", "100"], (None, None, None, None)),
        ]
        print("\n%-48s %10s %10s %10s %8s" % ("warrant audit ... --json", "median s", "min s", "max s", "rows"))
        for label, args, _ in queries:
            med, lo, hi, nrows = median_of(a.runs, [a.bin, "audit", "--db", db, "--json"] + args)
            print("%-48s %10.3f %10.3f %10.3f %8d" % (label, med, lo, hi, nrows))

        print("\nEXPLAIN QUERY PLAN of audit_export() (audit/audit.c), per filter combination:")
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        print("  (SQLite %s; the plan is chosen when the statement is prepared, before values are bound)"
              % sqlite3.sqlite_version)
        for label, args, (o, ag, r, w) in queries:
            since = pop["now"] - 7 * DAY_MS if "7d" in args else (t1 if "--since" in args else 0)
            until = t2 if "--until" in args else 2 ** 63 - 1
            params = {"1": o, "2": ag, "3": r, "4": w, "5": since, "6": until,
                      "7": 100 if "--limit" in args else -1}
            sql = export_sql(o, ag, r, w)
            # ?N parameters: SQLite counts up to the highest N, so pass all seven in order
            plan = con.execute("EXPLAIN QUERY PLAN " + sql, [params[str(i)] for i in range(1, 8)]).fetchall()
            print("  %s:\n    %s" % (label, sql))
            for row in plan:
                print("    " + row[-1])
        csql = cascade_sql()
        if csql:
            print("\nEXPLAIN QUERY PLAN of the membership cascade's scan (authz/model.c cascade_agent):\n  %s" % csql)
            for row in con.execute("EXPLAIN QUERY PLAN " + csql, (agent[0], pop["now"] - 3660000, "ws_x",
                                                                  pop["now"] // 1000)).fetchall():
                print("    " + row[-1])
        con.close()
    finally:
        if a.keep:
            print("\ndatabase kept: %s" % db)
        elif not a.dir:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()

"""test_migrate.py - `warrant migrate --to postgresql://...` (SPEC "Storage: one file, or
PostgreSQL for several nodes"): a SQLite database with owners, agents, tokens, revocations,
CIBA approvals, rotated keys and an audit trail is copied into an empty PostgreSQL database
and checked; a server on the copy keeps every promise of the original. Needs
WARRANT_TEST_PG (skipped otherwise)."""
import json
import os
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse

import jwt

import harness
from harness import BIN, Env, basic_header, free_port

ISSUER = "https://auth.example.test"  # the same before and after: tokens outlive the move
PW = "correct horse battery staple"
CIBA = "urn:openid:params:grant-type:ciba"
FORM = "application/x-www-form-urlencoded"
INACTIVE = b'{"active":false}'


def need_pg():
    if not harness.PG:
        raise harness.Skip("needs a PostgreSQL server (WARRANT_TEST_PG)")


def no_key_env(key=None):
    e = dict(os.environ)
    e.pop("WARRANT_KEY_FILE", None)
    if key:
        e["WARRANT_KEY_FILE"] = key
    return e


class Lite(Env):
    """A SQLite database even when the harness runs on PostgreSQL: in the clear, or sealed
    under a key file of its own (made by init) when sealed; never the harness's key."""

    def __init__(self, sealed=False):
        os.makedirs(harness.TMP_ROOT, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="m-", dir=harness.TMP_ROOT)
        self.pg_name = None
        self.db = os.path.join(self.dir, "warrant.db")
        self.key = os.path.join(self.dir, "kek") if sealed else None
        self.servers = []
        self.init = self.cli("init")

    def run(self, *args, stdin=None, env=None):
        cmd = [BIN] + list(args) + ["--db", self.db]
        e = no_key_env(self.key)
        if env:
            e.update(env)
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, env=e)

    def serve(self, *extra, wait=True):
        saved = os.environ.pop("WARRANT_KEY_FILE", None)  # the server inherits the environment
        try:
            if self.key:
                extra = ("--key-file", self.key) + extra
            return super().serve("--issuer", ISSUER, *extra, wait=wait)
        finally:
            if saved is not None:
                os.environ["WARRANT_KEY_FILE"] = saved


class Pg(Env):
    """An empty PostgreSQL database (no init): the target; commands get --key-file key."""

    def __init__(self, key):
        os.makedirs(harness.TMP_ROOT, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="p-", dir=harness.TMP_ROOT)
        self.pg_name = "t_" + os.path.basename(self.dir).replace("-", "_").lower()
        self.db = harness.pg_database(self.pg_name)
        self.key = key
        self.servers = []

    def run(self, *args, stdin=None, env=None):
        cmd = [BIN] + list(args) + ["--db", self.db]
        e = no_key_env(self.key)
        if env:
            e.update(env)
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, env=e)

    def serve(self, *extra, wait=True):
        return super().serve("--key-file", self.key, "--issuer", ISSUER, *extra, wait=wait)

    def psql(self, sql):
        p = subprocess.run(["psql", self.db, "-qAtX", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return [l.split("|") for l in p.stdout.splitlines() if l]


def migrate(src, dst, key, *extra):
    cmd = [BIN, "migrate", "--db", src.db, "--to", dst.db] + (["--key-file", key] if key else []) + list(extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=no_key_env())


def lite_rows(db, sql):
    c = sqlite3.connect(db)
    try:
        return c.execute(sql).fetchall()
    finally:
        c.close()


def introspect(srv, rs, token):
    st, _, b = srv.request("POST", "/introspect", urllib.parse.urlencode({"token": token}),
                           {"Content-Type": FORM, "Authorization": basic_header(rs["client_id"], rs["client_secret"])})
    assert st == 200, (st, b)
    return b


def wait_inactive(srv, rs, token, limit=3.0):
    """A change made by a command reaches a running server within a second (SPEC)."""
    deadline = time.time() + limit
    while introspect(srv, rs, token) != INACTIVE:
        assert time.time() < deadline, "the token is still active after %.0f s" % limit
        time.sleep(0.05)


def verify(srv, tok):
    key = jwt.PyJWKClient(srv.base + "/jwks").get_signing_key_from_jwt(tok)
    alg = jwt.get_unverified_header(tok)["alg"]
    return jwt.decode(tok, key.key, algorithms=[alg], audience=ISSUER, issuer=ISSUER)


def populate(src):
    """Owners, a workspace with an approval verb, agents, a resource server, tokens (one
    revoked), an approved and a pending CIBA request, a forced key rotation; returns what
    the checks need."""
    n = time.time_ns()
    o = src.owner(email="o%d@example.com" % n, password=PW)
    o2 = src.owner(email="O2-%d@Example.com" % n)
    ws = src.workspace()
    src.member(ws["id"], o["id"], "tickets:read refunds:issue")
    src.member(ws["id"], o2["id"], "tickets:read")
    src.cli("workspace", "approval", ws["id"], "--verbs", "refunds:issue")
    a = src.agent(o["id"], "tickets:read refunds:issue", name="triage", workspaces=[ws["id"]], per_minute=100)
    b = src.agent(o2["id"], "tickets:read", name="other")
    rs = src.cli("resource", "add", "gateway")
    srv = src.serve()
    tok = lambda ag: srv.token(ag["client_id"], ag["client_secret"], scope="tickets:read",  # noqa: E731
                               workspace=ws["id"])
    st, _, kept = tok(a)
    assert st == 200, kept
    st, _, dead = tok(a)
    assert st == 200, dead
    st, _, other = tok(b)
    assert st == 200, other
    rid = {}
    for which in ("approved", "pending"):
        st, _, r = srv.post_form("/bc-authorize", {"scope": "refunds:issue", "workspace": ws["id"],
                                                   "binding_message": "refund " + which},
                                 basic=(a["client_id"], a["client_secret"]))
        assert st == 200, r
        rid[which] = r["auth_req_id"]
    src.cli("approval", "approve", rid["approved"], "--owner", o["id"])
    dead_jti = jwt.decode(dead["access_token"], options={"verify_signature": False})["jti"]
    src.cli("revoke", "--jti", dead_jti)
    wait_inactive(srv, rs, dead["access_token"])
    rotated = src.cli("keys", "rotate", "--force")[0]
    b2 = src.cli("agent", "rotate", b["client_id"])  # a rotated secret, with its grace
    srv.stop()
    return {"a": a, "b": b, "b2": b2, "o": o, "ws": ws, "rs": rs, "kept": kept["access_token"],
            "dead": dead["access_token"], "other": other["access_token"], "rid": rid, "rotated": rotated}


def test_migrate_a_clear_sqlite_database_and_serve_it_from_postgresql():
    need_pg()
    src = Lite()
    dst = None
    try:
        s = populate(src)
        key = os.path.join(src.dir, "kek")  # made by migrate
        dst = Pg(key)
        before_audit = src.run("audit", "--json").stdout.splitlines()
        counts = {t: lite_rows(src.db, 'SELECT count(*) FROM "%s"' % t)[0][0]
                  for (t,) in lite_rows(src.db, "SELECT name FROM sqlite_master WHERE type = 'table'"
                                                " AND name NOT LIKE 'sqlite_%'")}
        assert counts["approvals"] == 2 and counts["revoked_tokens"] == 1 and counts["signing_keys"] == 3

        # a missing key file is refused before anything is touched
        p = migrate(src, dst, None)
        assert p.returncode != 0 and "--key-file" in p.stderr, p.stderr
        assert dst.psql("SELECT to_regclass('signing_keys') IS NULL") == [["t"]]

        p = migrate(src, dst, key, "--json")
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["ok"] is True and out["secrets"] == "sealed on the way", out
        assert out["id"] == dst.db and out["from"] == src.db
        tables = {t["table"]: t for t in out["tables"]}
        assert set(tables) == set(counts), (set(tables) ^ set(counts))
        for t, n in counts.items():
            assert tables[t]["rows"] == n and tables[t]["target_rows"] == n and tables[t]["ok"], tables[t]
            assert tables[t]["sha256"] == tables[t]["target_sha256"]
        assert os.stat(key).st_mode & 0o777 == 0o600 and os.path.getsize(key) == 32

        # every secret sealed; the ids, the change log's counter and the audit ids carried over
        for kid, head in dst.psql("SELECT kid, encode(substr(private_der, 1, 4), 'escape') FROM signing_keys"
                                  " WHERE state != 'retired'"):
            assert head == "kek1", (kid, head)
        assert dst.psql("SELECT encode(substr(value, 1, 4), 'escape'), length(value) FROM settings"
                        " WHERE key = 'secret_pepper'") == [["kek1", "64"]]
        seq = lite_rows(src.db, "SELECT max(seq) FROM state_changes")[0][0]
        assert dst.psql("SELECT v FROM change_counter") == [[str(seq)]]
        ids = [str(i) for (i,) in lite_rows(src.db, "SELECT id FROM audit_events ORDER BY id")]
        assert [r[0] for r in dst.psql("SELECT id FROM audit_events ORDER BY id")] == ids
        # the audit trail reads the same through warrant
        after = dst.run("audit", "--json", "--limit", "100000")
        assert after.returncode == 0, after.stderr
        assert after.stdout.splitlines() == before_audit

        # the target is no longer empty: a second migrate is refused and changes nothing
        p = migrate(src, dst, key)
        assert p.returncode != 0 and "not empty" in p.stderr, p.stderr
        assert dst.psql("SELECT count(*) FROM agents") == [[str(counts["agents"])]]

        # a wrong, a missing and an open key file are refused by commands and the server
        wrong = os.path.join(src.dir, "wrong")
        with open(wrong, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(wrong, 0o600)
        assert "does not match" in dst.run("keys", "list", "--key-file", wrong).stderr
        p = subprocess.run([BIN, "keys", "list", "--db", dst.db], capture_output=True, text=True, timeout=60,
                           env=no_key_env())
        assert p.returncode != 0 and "WARRANT_KEY_FILE" in p.stderr, p.stderr
        p = subprocess.run([BIN, "serve", "--db", dst.db, "--listen", "127.0.0.1:%d" % free_port(),
                            "--key-file", wrong], capture_output=True, text=True, timeout=20, env=no_key_env())
        assert p.returncode != 0 and "does not match" in p.stderr, p.stderr

        srv = dst.serve()
        # tokens signed before the move verify against the new server's keys
        assert verify(srv, s["kept"])["sub"] == s["a"]["client_id"]
        assert verify(srv, s["other"])["sub"] == s["b"]["client_id"]
        jwks = srv.get_json("/jwks")[2]
        assert s["rotated"]["kid"] in {k["kid"] for k in jwks["keys"]}
        # the revoked one stays revoked; the others are active
        assert introspect(srv, s["rs"], s["dead"]) == INACTIVE
        assert json.loads(introspect(srv, s["rs"], s["kept"]))["active"] is True
        # agents keep their secrets (the rotated one's new secret too), their limits and workspaces
        st, _, body = srv.token(s["a"]["client_id"], s["a"]["client_secret"], scope="tickets:read",
                                workspace=s["ws"]["id"])
        assert st == 200, body
        claims = verify(srv, body["access_token"])
        assert claims["scope"] == "tickets:read" and jwt.get_unverified_header(body["access_token"])["kid"] == \
            s["rotated"]["kid"]
        st, _, body = srv.token(s["b"]["client_id"], s["b2"]["client_secret"])
        assert st == 200, body
        st, _, body = srv.token(s["b"]["client_id"], "wsk_" + "A" * 43)
        assert st == 401, body
        # the approved CIBA request is redeemed once on the new server; the pending one is pending
        st, _, body = srv.post_form("/token", {"grant_type": CIBA, "auth_req_id": s["rid"]["approved"]},
                                    basic=(s["a"]["client_id"], s["a"]["client_secret"]))
        assert st == 200, body
        assert verify(srv, body["access_token"])["scope"] == "refunds:issue"
        st, _, body = srv.post_form("/token", {"grant_type": CIBA, "auth_req_id": s["rid"]["pending"]},
                                    basic=(s["a"]["client_id"], s["a"]["client_secret"]))
        assert st == 400 and body["error"] == "authorization_pending", body
        # the change log goes on from the copied counter: a revocation reaches the server
        jti = jwt.decode(s["kept"], options={"verify_signature": False})["jti"]
        assert dst.cli("revoke", "--jti", jti)
        wait_inactive(srv, s["rs"], s["kept"])
        # new audit rows follow the copied ones
        n = dst.psql("SELECT count(*), min(id) > %s FROM audit_events WHERE id > %s" % (ids[-1], ids[-1]))
        assert int(n[0][0]) > 0, n
    finally:
        src.close()
        if dst:
            dst.close()


def test_migrate_a_sealed_sqlite_database_keeps_its_key_and_refuses_another():
    need_pg()
    src = None
    dst = None
    try:
        src = Lite(sealed=True)
        key = src.key
        assert lite_rows(src.db, "SELECT count(*) FROM settings WHERE key = 'kek_check'") == [(1,)]
        sc = src.scenario()
        a = sc["agent"]
        srv = src.serve()
        st, _, body = srv.token(a["client_id"], a["client_secret"])
        assert st == 200, body
        before = body["access_token"]
        srv.stop()
        sealed = lite_rows(src.db, "SELECT kid, private_der FROM signing_keys")
        dst = Pg(key)
        other = os.path.join(src.dir, "other")
        with open(other, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(other, 0o600)
        p = migrate(src, dst, other)
        assert p.returncode != 0 and "does not match" in p.stderr, p.stderr
        assert dst.psql("SELECT to_regclass('signing_keys') IS NULL") == [["t"]]
        p = migrate(src, dst, key, "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["secrets"] == "copied sealed"
        # copied as they were, byte for byte
        for kid, der in sealed:
            (row,) = dst.psql("SELECT encode(private_der, 'hex') FROM signing_keys WHERE kid = '%s'" % kid)
            assert bytes.fromhex(row[0]) == der
        srv = dst.serve()
        assert verify(srv, before)["sub"] == a["client_id"]
        st, _, body = srv.token(a["client_id"], a["client_secret"])
        assert st == 200, body
    finally:
        for e in (src, dst):
            if e:
                e.close()


def test_a_failed_copy_leaves_the_target_empty_and_an_unknown_table_is_refused():
    need_pg()
    src = Lite()
    dst = None
    try:
        o = src.owner()
        a = src.agent(o["id"], "tickets:read")
        dst = Pg(os.path.join(src.dir, "kek"))
        # a name PostgreSQL cannot store (not UTF-8): the copy fails half way and rolls back
        c = sqlite3.connect(src.db)
        c.execute("UPDATE agents SET name = CAST(x'ff00ff' AS TEXT) WHERE id = ?", (a["client_id"],))
        c.commit()
        c.close()
        p = migrate(src, dst, dst.key)
        assert p.returncode != 0 and "nothing was copied" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr
        assert not os.path.exists(dst.key)  # made for a copy that did not happen: removed
        assert dst.psql("SELECT (SELECT count(*) FROM signing_keys) + (SELECT count(*) FROM owners)"
                        " + (SELECT count(*) FROM settings)") == [["0"]]
        # fixed, the same target takes the copy
        c = sqlite3.connect(src.db)
        c.execute("UPDATE agents SET name = 'fixed' WHERE id = ?", (a["client_id"],))
        c.commit()
        c.execute("CREATE TABLE notes (x TEXT)")
        c.commit()
        c.close()
        p = migrate(src, dst, dst.key)
        assert p.returncode != 0 and "notes" in p.stderr, p.stderr
        c = sqlite3.connect(src.db)
        c.execute("DROP TABLE notes")
        c.commit()
        c.close()
        p = migrate(src, dst, dst.key)
        assert p.returncode == 0, p.stderr
        assert "every table checked" in p.stdout, p.stdout
        assert dst.psql("SELECT name FROM agents") == [["fixed"]]
    finally:
        src.close()
        if dst:
            dst.close()

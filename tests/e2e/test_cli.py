"""test_cli.py - the `warrant` command line: --json output shapes, one-line errors with
non-zero exits, the database file (mode 0600, argon2id password hashes, agent secrets kept
only as 32-byte verifiers) and the audit trail of /token (who, for whom, which run,
where from, with what outcome; never a secret or a token)."""
import http.client
import json
import os
import re
import stat
import subprocess
import tempfile
import time

from harness import BIN, Env, TMP_ROOT, basic_header, close_module_env, free_port, jwt_parts, module_env, sqlite_only

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SECRET_RE = re.compile(r"^wsk_[A-Za-z0-9_-]{43}$")  # 256 bits in base64url
PASSWORD = "correct horse battery staple 42"

_state = {}


def _setup(env, _state):
    _state["sc"] = env.scenario()


def ctx():
    """The module's database with one owner, workspace and agent; a server on demand."""
    return module_env(_state, _setup)


def server():
    s = ctx()
    if "srv" not in s:
        s["srv"] = s["env"].serve()
    return s["srv"]


def teardown_module():
    close_module_env(_state)


# ---- helpers ----

def ordered(line):
    """Parses one JSON object keeping its key order; returns (keys, dict)."""
    pairs = json.loads(line, object_pairs_hook=lambda p: p)
    assert isinstance(pairs, list), line
    return [k for k, _ in pairs], json.loads(line)


def run_json(env, *args, stdin=None):
    """Runs a command with --json; checks exit 0, nothing on stderr and that every stdout
    line is one JSON object with "id" first. Returns the parsed objects."""
    p = env.run(*(list(args) + ["--json"]), stdin=stdin)
    assert p.returncode == 0, (args, p.returncode, p.stderr)
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    objs = []
    for line in lines:
        keys, obj = ordered(line)
        assert keys and keys[0] == "id", (args, line)
        assert len(keys) == len(set(keys)), line
        for k, v in obj.items():
            if k.endswith("_at") and v is not None:
                assert RFC3339_UTC.match(v), (k, v)
        objs.append(obj)
    return objs


def run_one(env, *args, stdin=None):
    objs = run_json(env, *args, stdin=stdin)
    assert len(objs) == 1, (args, objs)
    return objs[0]


def assert_fails(p, *needles):
    """A refusal: non-zero exit, nothing on stdout, exactly one line on stderr."""
    assert p.returncode != 0, (p.returncode, p.stdout, p.stderr)
    assert p.stdout.strip() == "", p.stdout
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, p.stderr
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])
    return lines[0]


def db_bytes(env):
    """What the database holds as bytes (the SQLite file with its -wal and -journal, or a
    dump of the PostgreSQL database)."""
    return env.dump()


def query(env, sql, *params):
    return env.sql(sql, params)


def id_ok(value, prefix):
    """Prefix plus at least 96 random bits in base32 or base64url (16+ characters)."""
    return (isinstance(value, str) and value.startswith(prefix) and len(value) - len(prefix) >= 16
            and re.match(r"^[A-Za-z0-9_-]+$", value[len(prefix):]) is not None)


# ---- --json output ----

def test_json_output_id_first_for_every_command():
    with tempfile.TemporaryDirectory(dir=_tmp_root()) as d:
        env = _bare_env(d)
        init = run_one(env, "init")
        assert id_ok(init["id"], "org_")
        org = run_one(env, "org", "add", "acme")
        assert id_ok(org["id"], "org_") and org["name"] == "acme"
        o = run_one(env, "owner", "add", "--email", "ann@example.com", "--name", "Ann", "--org", org["id"])
        assert id_ok(o["id"], "usr_")
        assert o["email"] == "ann@example.com" and o["org_id"] == org["id"]
        # options in any order after the command words
        ws = run_one(env, "workspace", "add", "--org", org["id"], "support")
        assert id_ok(ws["id"], "ws_") and ws["org_id"] == org["id"]
        vis = run_one(env, "workspace", "add", "lobby", "--verbs", "kb:search", "--org-visible", "--org", org["id"])
        assert vis["org_visible"] is True
        m = run_one(env, "member", "add", "--verbs", "tickets:read tickets:note", "--owner", o["id"],
                    "--workspace", ws["id"])
        assert m["workspace_id"] == ws["id"] and m["owner_id"] == o["id"]
        assert m["verbs"] == "tickets:note tickets:read"
        m = run_one(env, "member", "set", "--workspace", ws["id"], "--owner", o["id"], "--verbs", "tickets:read")
        assert m["verbs"] == "tickets:read"
        a = run_one(env, "agent", "add", "--owner", o["id"], "--name", "triage", "--verbs",
                    "tickets:read refunds:issue", "--workspaces", ws["id"], "--per-minute", "7")
        assert id_ok(a["id"], "agt_") and a["client_id"] == a["id"]
        assert SECRET_RE.match(a["client_secret"]), a["client_secret"]
        assert a["owner_id"] == o["id"] and a["org_id"] == org["id"]
        assert a["per_minute"] == 7 and a["per_day"] == 0
        assert a["workspaces"] == [ws["id"]]
        a2 = run_one(env, "agent", "add", "--owner", o["id"], "--name", "second", "--verbs", "kb:search")
        assert a2["per_minute"] == 0 and a2["per_day"] == 0  # no quota unless asked for
        r = run_one(env, "resource", "add", "helpdesk", "--audience", "https://helpdesk.example.com")
        assert id_ok(r["id"], "rs_") and r["client_id"] == r["id"]
        assert SECRET_RE.match(r["client_secret"]) and r["audience"] == "https://helpdesk.example.com"
        # lists are JSON lines, one object each, id first; a listing never shows a secret
        agents = run_json(env, "agent", "list")
        assert sorted(x["id"] for x in agents) == sorted([a["id"], a2["id"]]), agents
        assert all("client_secret" not in x for x in agents)
        mine = run_json(env, "agent", "list", "--owner", o["id"])
        assert len(mine) == 2
        keys = run_json(env, "keys", "list")
        assert len(keys) >= 2
        assert sorted(k["state"] for k in keys) == ["current", "next"], keys
        assert {k["id"] for k in keys} == {init["kid"], init["next_kid"]}
        for k in keys:
            assert "private_der" not in k and "d" not in k
        m = run_one(env, "member", "remove", "--workspace", ws["id"], "--owner", o["id"])
        assert m["owner_id"] == o["id"]


def test_json_output_of_lifecycle_rotation_and_revocation_commands():
    with tempfile.TemporaryDirectory(dir=_tmp_root()) as d:
        env = _bare_env(d)
        run_one(env, "init")
        o = run_one(env, "owner", "add", "--email", "lc@example.com")
        ws = run_one(env, "workspace", "add", "lc")
        run_one(env, "member", "add", "--workspace", ws["id"], "--owner", o["id"], "--verbs", "tickets:read")
        a = run_one(env, "agent", "add", "--owner", o["id"], "--name", "lc", "--verbs", "tickets:read")
        r = run_one(env, "agent", "rotate", a["id"], "--grace", "60")
        assert r["id"] == a["id"]
        assert SECRET_RE.match(r["client_secret"]) and r["client_secret"] != a["client_secret"]
        assert id_ok(r["credential_id"], "cred_") and r["credential_id"] != a["credential_id"]
        assert RFC3339_UTC.match(r["old_expires_at"]), r
        assert r["client_secret"].encode() not in db_bytes(env)
        for op, status in (("suspend", "suspended"), ("resume", "active"), ("retire", "retired")):
            x = run_one(env, "agent", op, a["id"])
            assert x["id"] == a["id"] and x["status"] == status, (op, x)
            assert "client_secret" not in x
        a2 = run_one(env, "agent", "add", "--owner", o["id"], "--name", "lc2", "--verbs", "tickets:read")
        x = run_one(env, "revoke", "--agent", a2["id"])
        assert x["id"] == a2["id"]
        x = run_one(env, "revoke", "--run", "some-run", "--agent", a2["id"])
        assert x["id"] == "some-run"
        x = run_one(env, "revoke", "--jti", "AAAAAAAAAAAAAAAAAAAAAA")
        assert x["id"] == "AAAAAAAAAAAAAAAAAAAAAA"
        k = run_one(env, "keys", "rotate", "--force")
        assert k["id"] and k["id"] in {x["id"] for x in run_json(env, "keys", "list")}
        d2 = run_one(env, "owner", "deactivate", o["id"])
        assert d2["id"] == o["id"] and d2["status"] == "deactivated"
        st = {x["id"]: x["status"] for x in run_json(env, "agent", "list")}
        assert st[a2["id"]] == "suspended" and st[a["id"]] == "retired", st  # retired stays retired
        # refusals
        assert_fails(env.run("agent", "suspend", "agt_doesnotexist000000000000"))
        assert_fails(env.run("agent", "rotate", a2["id"], "--grace", "86401"))
        assert_fails(env.run("agent", "rotate", a2["id"], "--grace", "soon"))
        assert_fails(env.run("owner", "deactivate", "usr_doesnotexist0000000000"))
        assert_fails(env.run("agent", "resume", a["id"]))  # retired is final
        assert_fails(env.run("revoke"))
        assert_fails(env.run("revoke", "--jti", "x", "--agent", a2["id"]))
        assert_fails(env.run("agent", "add", "--owner", o["id"], "--name", "late", "--verbs", "tickets:read"))


def test_warrant_db_environment_variable():
    with tempfile.TemporaryDirectory(dir=_tmp_root()) as d:
        path = os.path.join(d, "via-env.db")
        e = dict(os.environ, WARRANT_DB=path)
        p = subprocess.run([BIN, "init", "--json"], capture_output=True, text=True, env=e, timeout=60)
        assert p.returncode == 0, p.stderr
        assert os.path.exists(path)
        p = subprocess.run([BIN, "org", "add", "viaenv", "--json"], capture_output=True, text=True, env=e,
                           timeout=60)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["name"] == "viaenv"


# ---- errors ----

def test_unknown_option_and_command():
    s = ctx()
    env = s["env"]
    assert_fails(env.run("owner", "add", "--email", "x@example.com", "--bogus", "1"), "bogus")
    assert_fails(env.run("agent", "list", "--frobnicate", "1"), "frobnicate")
    assert_fails(env.run("frob"), "frob")
    assert_fails(env.run("owner", "frob", "--email", "x@example.com"))
    assert_fails(env.run("owner", "add", "--email"))  # option without its value
    # nothing was created by the refused commands
    assert query(env, "SELECT count(*) FROM owners WHERE email = 'x@example.com'") == [(0,)]


def test_missing_required_option():
    s = ctx()
    env, sc = s["env"], s["sc"]
    o, ws = sc["owner"]["id"], sc["ws"]["id"]
    for args in (("owner", "add"),
                 ("org", "add"),
                 ("workspace", "add"),
                 ("member", "add", "--workspace", ws, "--owner", o),
                 ("member", "add", "--workspace", ws, "--verbs", "a:b"),
                 ("member", "add", "--owner", o, "--verbs", "a:b"),
                 ("agent", "add", "--owner", o, "--name", "x"),
                 ("agent", "add", "--owner", o, "--verbs", "a:b"),
                 ("agent", "add", "--name", "x", "--verbs", "a:b"),
                 ("resource", "add")):
        assert_fails(env.run(*args))
        assert_fails(env.run(*(args + ("--json",))))


def test_bad_verbs():
    s = ctx()
    env, sc = s["env"], s["sc"]
    o, ws = sc["owner"]["id"], sc["ws"]["id"]
    before = len(run_json(env, "agent", "list"))
    for verbs in ("tickets", "tickets:read bad", ":read", "tickets:", "a:b:c", "tick ets:read x"):
        assert_fails(env.run("agent", "add", "--owner", o, "--name", "v", "--verbs", verbs))
    assert len(run_json(env, "agent", "list")) == before
    w2 = env.workspace()
    assert_fails(env.run("member", "add", "--workspace", w2["id"], "--owner", o, "--verbs", "notaverb"))
    assert_fails(env.run("member", "set", "--workspace", ws, "--owner", o, "--verbs", "a:b nope"))
    assert_fails(env.run("workspace", "add", "vis-bad", "--org-visible", "--verbs", "nope"))
    # the membership kept its verbs
    assert query(env, "SELECT verbs FROM memberships WHERE workspace_id = ? AND owner_id = ?", ws, o) == \
        [("tickets:note tickets:read",)]


def test_unknown_owner_workspace_org():
    s = ctx()
    env, sc = s["env"], s["sc"]
    o, ws = sc["owner"]["id"], sc["ws"]["id"]
    before = len(run_json(env, "agent", "list"))
    assert_fails(env.run("agent", "add", "--owner", "usr_doesnotexist0000000000", "--name", "x", "--verbs", "a:b"),
                 "usr_doesnotexist0000000000")
    assert_fails(env.run("agent", "add", "--owner", o, "--name", "x", "--verbs", "a:b",
                         "--workspaces", "ws_doesnotexist000000000000"), "ws_doesnotexist000000000000")
    assert len(run_json(env, "agent", "list")) == before  # no half-made agent
    assert_fails(env.run("member", "add", "--workspace", "ws_doesnotexist000000000000", "--owner", o,
                         "--verbs", "a:b"))
    assert_fails(env.run("member", "add", "--workspace", ws, "--owner", "usr_doesnotexist0000000000",
                         "--verbs", "a:b"))
    assert_fails(env.run("member", "remove", "--workspace", ws, "--owner", "usr_doesnotexist0000000000"))
    assert_fails(env.run("owner", "add", "--email", "orgless@example.com", "--org", "org_doesnotexist000000000"))
    assert_fails(env.run("workspace", "add", "nowhere", "--org", "org_doesnotexist000000000"))
    assert query(env, "SELECT count(*) FROM owners WHERE email = 'orgless@example.com'") == [(0,)]
    assert query(env, "SELECT count(*) FROM workspaces WHERE name = 'nowhere'") == [(0,)]


def test_duplicate_email_and_member():
    s = ctx()
    env, sc = s["env"], s["sc"]
    run_one(env, "owner", "add", "--email", "dup@example.com")
    assert_fails(env.run("owner", "add", "--email", "dup@example.com"))
    assert_fails(env.run("owner", "add", "--email", "DUP@Example.com", "--json"))  # emails ignore case
    assert query(env, "SELECT count(*) FROM owners WHERE email = 'dup@example.com'") == [(1,)]
    assert_fails(env.run("owner", "add", "--email", "not-an-email"))
    # adding the same member twice
    assert_fails(env.run("member", "add", "--workspace", sc["ws"]["id"], "--owner", sc["owner"]["id"],
                         "--verbs", "a:b"))


def test_token_ttl_out_of_range_refused():
    s = ctx()
    env = s["env"]
    for ttl in ("3601", "0", "-5", "abc", "300s"):
        # an unusable --listen: a server that took the ttl would fail on that instead
        p = env.run("serve", "--listen", "not-an-address", "--token-ttl", ttl)
        assert_fails(p, "token-ttl")


def test_database_file_mode_0600():
    sqlite_only("the modes of the database file and its -wal and -shm")
    s = ctx()
    env = s["env"]
    server()  # a running server has its -wal and -shm open
    for suffix in ("", "-wal", "-shm"):
        path = env.db + suffix
        if os.path.exists(path):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            assert mode == 0o600, (path, oct(mode))
    # regardless of the caller's umask
    with tempfile.TemporaryDirectory(dir=_tmp_root()) as d:
        path = os.path.join(d, "w.db")
        p = subprocess.run(["/bin/sh", "-c", 'umask 022 && exec "$0" init --db "$1"', BIN, path],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_init_twice_fails():
    with tempfile.TemporaryDirectory(dir=_tmp_root()) as d:
        env = _bare_env(d)
        first = run_one(env, "init")
        before = query(env, "SELECT kid, state FROM signing_keys ORDER BY kid")
        line = assert_fails(env.run("init"))
        assert "init" in line.lower() or env.db in line or "exist" in line.lower(), line
        assert_fails(env.run("init", "--json"))
        assert query(env, "SELECT kid, state FROM signing_keys ORDER BY kid") == before
        assert query(env, "SELECT count(*) FROM orgs") == [(1,)]
        assert query(env, "SELECT id FROM orgs") == [(first["id"],)]


def test_missing_database_fails_clearly():
    with tempfile.TemporaryDirectory(dir=_tmp_root()) as d:
        env = _bare_env(d)
        for args in (("owner", "add", "--email", "a@example.com"), ("agent", "list"), ("audit",),
                     ("keys", "list"), ("org", "add", "x"), ("serve", "--listen", "127.0.0.1:%d" % free_port())):
            line = assert_fails(env.run(*args))
            assert env.db in line or "warrant init" in line, line
            assert not os.path.exists(env.db), args  # not created behind the user's back
        bad = os.path.join(d, "no", "such", "dir", "w.db")
        p = subprocess.run([BIN, "init", "--db", bad], capture_output=True, text=True, timeout=60)
        assert_fails(p)


# ---- what the database holds ----

def test_owner_password_stored_as_argon2id():
    s = ctx()
    env = s["env"]
    o = run_one(env, "owner", "add", "--email", "pw@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    assert "password_hash" not in o and PASSWORD not in json.dumps(o)
    (h,), = query(env, "SELECT password_hash FROM owners WHERE id = ?", o["id"])
    assert h.startswith("$argon2id$"), h
    m = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]{16,}\$[A-Za-z0-9+/]{32,}$", h)
    assert m, h
    params = tuple(int(x) for x in m.groups())
    # RFC 9106 §4: the first (2 GiB, t=1) or second (64 MiB, t=3) recommended option, 4 lanes
    assert params in ((2 * 1024 * 1024, 1, 4), (64 * 1024, 3, 4)), params
    # the same password again gets another salt
    o2 = run_one(env, "owner", "add", "--email", "pw2@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    (h2,), = query(env, "SELECT password_hash FROM owners WHERE id = ?", o2["id"])
    assert h2 != h
    assert PASSWORD.encode() not in db_bytes(env)
    # an owner without --password-stdin has no password
    o3 = run_one(env, "owner", "add", "--email", "nopw@example.com")
    assert query(env, "SELECT password_hash FROM owners WHERE id = ?", o3["id"]) == [(None,)]


def test_agent_secrets_stored_only_as_verifiers():
    s = ctx()
    env, sc = s["env"], s["sc"]
    srv = server()
    r = run_one(env, "resource", "add", "verifier-check", "--audience", "https://verifier.example.com")
    a = env.agent(sc["owner"]["id"], "tickets:read", name="verifier")
    st, _, body = srv.token(a["client_id"], a["client_secret"])
    assert st == 200, body
    wrong = "wsk_" + "Q" * 43
    st, _, _ = srv.token(a["client_id"], wrong)
    assert st == 401
    for label, rows in (("credentials", query(env, "SELECT verifier FROM credentials")),
                        ("resource_servers", query(env, "SELECT verifier FROM resource_servers"))):
        assert rows, label
        for (v,) in rows:
            assert isinstance(v, bytes) and len(v) == 32, (label, v)
    # the verifier is keyed: it is not a bare SHA-256 of the secret
    import hashlib
    (v,), = query(env, "SELECT verifier FROM credentials WHERE agent_id = ?", a["id"])
    assert v != hashlib.sha256(a["client_secret"].encode()).digest()
    # while the server runs (WAL not yet checkpointed) and after it stops
    for phase in ("running", "stopped"):
        raw = db_bytes(env)
        for secret in (a["client_secret"], sc["secret"], r["client_secret"], wrong):
            assert secret.encode() not in raw, (phase, secret)
            assert secret[4:].encode() not in raw, (phase, "secret body")
        assert body["access_token"].encode() not in raw
        assert body["access_token"].split(".")[2].encode() not in raw  # the signature either
        if phase == "running":
            srv.stop()
            del _state["srv"]


# ---- audit ----

def test_audit_rows_for_token_issued_and_refused():
    s = ctx()
    env, sc = s["env"], s["sc"]
    srv = server()
    aid, oid, ws = sc["id"], sc["owner"]["id"], sc["ws"]["id"]
    run = "cli-audit-%d" % (time.time_ns() % 10**9)
    st, _, ok = srv.token(aid, sc["secret"], run_id=run, workspace=ws)
    assert st == 200, ok
    _, claims = jwt_parts(ok["access_token"])
    wrong = "wsk_" + "W" * 43
    b = env.agent(oid, "tickets:read", name="audit-wrong-secret")
    st, _, _ = srv.token(b["client_id"], wrong, run_id=run)
    assert st == 401
    st, _, bad_scope = srv.token(aid, sc["secret"], run_id=run + "-2", workspace=ws, scope="refunds:issue")
    assert st == 400 and bad_scope["error"] == "invalid_scope"

    # written before the response: no waiting
    rows = env.audit("--agent", aid)
    issued = [r for r in rows if r["event"] == "token.issued" and r.get("jti") == claims["jti"]]
    assert len(issued) == 1, rows
    r = issued[0]
    assert r["actor"] == aid and r["owner_id"] == oid
    assert r["run_id"] == run and r["ws"] == ws
    assert r["client_addr"] == "127.0.0.1"
    assert r["outcome"] == "ok"
    assert RFC3339_UTC.match(r["time"]), r["time"]
    assert isinstance(r.get("detail"), dict)

    refused = [r for r in rows if r["event"] == "token.refused"]
    wrong_rows = [r for r in env.audit("--agent", b["client_id"]) if r["event"] == "token.refused"]
    assert len(wrong_rows) == 1, wrong_rows
    w = wrong_rows[0]
    assert w["actor"] == b["client_id"] and w["owner_id"] == oid
    assert w["client_addr"] == "127.0.0.1"
    assert w["outcome"] and w["outcome"] != "ok"
    assert w["detail"].get("reason"), w  # refused with a reason
    assert not w.get("jti")
    scope_rows = [r for r in refused if r["run_id"] == run + "-2"]
    assert len(scope_rows) == 1, refused
    sr = scope_rows[0]
    assert sr["actor"] == aid and sr["owner_id"] == oid and sr["ws"] == ws
    assert sr["outcome"] != "ok" and sr["detail"].get("reason")
    assert sr["detail"]["reason"] != w["detail"]["reason"]

    # an unknown client is counted in its minute's summary (SPEC "Audit"), with no owner to
    # account for it; a source address of its own tells its row apart
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10, source_address=("127.0.0.77", 0))
    c.request("POST", "/token", "grant_type=client_credentials",
              {"Content-Type": "application/x-www-form-urlencoded",
               "Authorization": basic_header("agt_nobodyhere00000000000000", wrong)})
    assert c.getresponse().status == 401
    c.close()
    srv.stop()  # SIGTERM appends the minute's summaries
    del ctx()["srv"]
    after = [r for r in env.audit() if r["event"] == "token.refused" and r["client_addr"] == "127.0.0.77"]
    assert len(after) == 1 and after[0]["detail"]["count"] == 1, "no audit row for an unknown client: %r" % after
    assert after[0]["owner_id"] is None and after[0]["outcome"] != "ok" and after[0]["detail"]["summary"] is True
    assert after[0]["actor"] not in (aid, b["client_id"])


def test_audit_filters():
    s = ctx()
    env, sc = s["env"], s["sc"]
    srv = server()
    run = "cli-filter-%d" % (time.time_ns() % 10**9)
    st, _, _ = srv.token(sc["id"], sc["secret"], run_id=run)
    assert st == 200
    other = env.scenario()
    st, _, _ = srv.token(other["id"], other["secret"], run_id=run)
    assert st == 200

    by_run = env.audit("--run", run)
    assert len(by_run) == 2 and {r["actor"] for r in by_run} == {sc["id"], other["id"]}, by_run
    both = env.audit("--run", run, "--agent", other["id"])
    assert len(both) == 1 and both[0]["actor"] == other["id"]
    by_owner = env.audit("--owner", other["owner"]["id"])
    assert by_owner and all(r["owner_id"] == other["owner"]["id"] for r in by_owner)
    assert {"agent.created", "token.issued"} <= {r["event"] for r in by_owner}
    by_agent = env.audit("--agent", other["id"])
    # every row is about that agent: it acted, or it is the subject (agent.created by system)
    assert by_agent and all(other["id"] in (r["actor"], r.get("agent_id")) for r in by_agent), by_agent
    assert sc["id"] not in {r["actor"] for r in by_agent}
    assert {"agent.created", "token.issued"} <= {r["event"] for r in by_agent}
    assert any(r["run_id"] == run for r in env.audit("--since", "1h"))
    assert env.audit("--until", "2000-01-01T00:00:00Z") == []
    assert env.audit("--run", run, "--since", "2099-01-01T00:00:00Z") == []
    assert_fails(env.run("audit", "--since", "yesterday-ish"))


def test_audit_never_shows_secrets_or_tokens():
    s = ctx()
    env, sc = s["env"], s["sc"]
    srv = server()
    a = env.agent(sc["owner"]["id"], "tickets:read", name="leakcheck")
    st, _, ok = srv.token(a["client_id"], a["client_secret"])
    assert st == 200
    wrong = "wsk_" + "L" * 43
    srv.token(a["client_id"], wrong)
    # client_secret_post, and a secret in the body beside Basic
    srv.post_form("/token", {"grant_type": "client_credentials", "client_id": a["client_id"],
                             "client_secret": a["client_secret"], "scope": "nope"})
    srv.post_form("/token", {"grant_type": "client_credentials", "client_secret": a["client_secret"]},
                  basic=(a["client_id"], a["client_secret"]))
    # a malformed request that carries the secret in a parameter the server does not know
    srv.post_form("/token", {"grant_type": "password", "password": a["client_secret"]},
                  basic=(a["client_id"], a["client_secret"]))
    env.owner(email="audit-pw@example.com", password=PASSWORD)
    secrets = [a["client_secret"], a["client_secret"][4:], wrong, sc["secret"], ok["access_token"],
               ok["access_token"].split(".")[2], basic_header(a["client_id"], a["client_secret"]).split()[1],
               PASSWORD]
    for args in (("--json",), ()):
        p = env.run("audit", *args)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip(), "empty audit"
        for sec in secrets:
            assert sec not in p.stdout, (args, sec[:12])
    # the rows exist, so the check above looked at something
    rows = env.audit("--agent", a["client_id"])
    assert sum(r["event"] == "token.refused" for r in rows) >= 2, rows
    assert sum(r["event"] == "token.issued" for r in rows) == 1


# ---- local helpers that build bare databases ----

def _tmp_root():
    os.makedirs(TMP_ROOT, exist_ok=True)
    return TMP_ROOT


class _BareEnv(Env):
    """An Env whose database is not initialised yet (for init and missing-db tests)."""

    def __init__(self, d):  # noqa: no super().__init__: that would run init
        self.dir = d
        self.db = os.path.join(d, "warrant.db")
        self.servers = []


def _bare_env(d):
    return _BareEnv(d)

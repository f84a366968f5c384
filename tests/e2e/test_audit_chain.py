"""test_audit_chain.py - the tamper-evident audit (SPEC "Tamper-evident audit"): hash chains
recomputed here from an export by code of this file alone (the canonical JSON of
docs/integrations.md), signed checkpoints verified with pyjwt against /jwks and listed at
/audit/checkpoints, `warrant audit verify` naming the first altered, removed or inserted
row in the database and in an export, retention that keeps the chains verifiable,
`warrant audit --follow`, and several nodes on PostgreSQL."""
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import jwt

from harness import BIN, PG, Env, Skip, basic_header, close_module_env, module_env

EXAMPLE_VERIFIER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "examples",
                                "audit_chain_verify.py")

_state = {}
CANON_KEYS = ("chain", "seq", "time_ms", "event", "actor", "agent_id", "owner_id", "run_id", "ws", "jti",
              "client_addr", "outcome", "request_id", "detail")
PASSWORD = "correct horse battery staple"


def teardown_module():
    close_module_env(_state, ("env", "renv", "nenv", "senv"))


# ---- an independent verifier: docs/integrations.md, "Audit verification and streaming" ----

def canon_str(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif c < 0x20 or c == 0x7F:
            out.append("\\u%04x" % c)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canon(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return canon_str(v)
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(canon_str(k) + ":" + canon(x) for k, x in v.items()) + "}"
    raise ValueError("not in a canonical detail: %r" % (v,))


def row_hash(prev, row):
    text = "{" + ",".join(canon_str(k) + ":" + canon(row[k]) for k in CANON_KEYS) + "}"
    return hashlib.sha256(prev + text.encode("utf-8")).hexdigest()


def recompute(rows):
    """{chain: [(seq, hash)]} after checking every chain from seq 1; raises on a mismatch."""
    chains = {}
    for r in sorted(rows, key=lambda r: (r["chain"], r["seq"])):
        chains.setdefault(r["chain"], []).append(r)
    out = {}
    for name, rs in chains.items():
        prev = bytes(32)
        for i, r in enumerate(rs):
            assert r["seq"] == i + 1, (name, i, r["seq"])
            h = row_hash(prev, r)
            assert h == r["hash"], (name, r["seq"], h, r["hash"])
            prev = bytes.fromhex(h)
        out[name] = [(r["seq"], r["hash"]) for r in rs]
    return out


# ---- the module's database and server ----

def setup(env, st):
    sc = env.scenario()
    owner = env.owner(password=PASSWORD)
    st["sc"], st["owner"] = sc, owner
    st["rs"] = env.cli("resource", "add", "api")
    st["srv"] = env.serve("--audit-checkpoint-interval", "1")
    for _ in range(3):
        code, _, body = st["srv"].token(sc["id"], sc["secret"])
        assert code == 200, body


def state():
    return module_env(_state, setup)


def verify(env, *args):
    p = env.run("audit", "verify", *args)
    return p.returncode, p.stdout + p.stderr


def wait_checkpoints(srv, rs, chains, timeout=6):
    """The checkpoint list once every chain in chains has one at its current head."""
    deadline = time.time() + timeout
    while True:
        code, _, body = srv.request("GET", "/audit/checkpoints",
                                    headers={"Authorization": basic_header(rs["client_id"], rs["client_secret"])})
        assert code == 200, body
        cps = json.loads(body)["checkpoints"]
        top = {}
        for c in cps:
            top[c["chain"]] = max(top.get(c["chain"], 0), c["seq"])
        if all(top.get(ch, 0) >= seq for ch, seq in chains.items()) or time.time() > deadline:
            return cps
        time.sleep(0.2)


def heads(rows):
    out = {}
    for r in rows:
        out[r["chain"]] = max(out.get(r["chain"], 0), r["seq"])
    return out


def test_a_export_chains_recompute_independently():
    st = state()
    env = st["env"]
    rows = env.audit()
    assert rows and all({"chain", "seq", "hash", "time_ms"} <= set(r) for r in rows), rows[:1]
    chains = recompute(rows)
    issued = [r for r in rows if r["event"] == "token.issued"]
    server = issued[0]["chain"]
    assert server != "cli" and {r["chain"] for r in issued} == {server}
    assert (server == "server") == (not PG), server  # one chain for the server on SQLite
    assert "cli" in chains and len(chains[server]) >= 3
    # /v1/audit carries them too
    auth = "Basic " + base64.b64encode(("%s:%s" % (st["owner"]["email"], PASSWORD)).encode()).decode()
    code, _, body = st["srv"].request("GET", "/v1/audit", headers={"Authorization": auth})
    assert code == 200, body
    assert all("hash" in e and "seq" in e and "chain" in e for e in json.loads(body)["events"])


def test_b_checkpoints_are_signed_listed_and_verify_with_jwks():
    st = state()
    env, srv, rs = st["env"], st["srv"], st["rs"]
    rows = env.audit()
    want = heads(rows)
    cps = wait_checkpoints(srv, rs, want)
    by_seq = {(r["chain"], r["seq"]): r["hash"] for r in rows}
    jwks = jwt.PyJWKClient(srv.base + "/jwks")
    top = {}
    for c in cps:
        hdr = jwt.get_unverified_header(c["jws"])
        assert hdr["typ"] == "audit-checkpoint+jwt" and hdr["alg"] == "ES256", hdr
        claims = jwt.decode(c["jws"], jwks.get_signing_key_from_jwt(c["jws"]).key, algorithms=["ES256"],
                            options={"verify_aud": False, "require": ["iss", "iat"]})
        assert claims["iss"] == srv.base
        assert (claims["chain"], claims["seq"], claims["hash"]) == (c["chain"], c["seq"], c["hash"])
        assert by_seq[(c["chain"], c["seq"])] == c["hash"]
        top[c["chain"]] = max(top.get(c["chain"], 0), c["seq"])
    assert top == want, (top, want)  # both chains, the command line's by the scheduling node
    # an owner may list them too; nobody else
    auth = "Basic " + base64.b64encode(("%s:%s" % (st["owner"]["email"], PASSWORD)).encode()).decode()
    code, _, body = srv.request("GET", "/audit/checkpoints?since=2000-01-01T00:00:00Z", headers={"Authorization": auth})
    assert code == 200 and len(json.loads(body)["checkpoints"]) == len(cps), body
    code, _, body = srv.request("GET", "/audit/checkpoints?since=1m",
                                headers={"Authorization": basic_header(rs["client_id"], rs["client_secret"])})
    assert code == 200 and all(c["iat"] >= time.time() - 70 for c in json.loads(body)["checkpoints"])
    code, h, _ = srv.request("GET", "/audit/checkpoints")
    assert code == 401 and h.get("www-authenticate", "").startswith("Basic")
    sc = st["sc"]
    code, _, _ = srv.request("GET", "/audit/checkpoints", headers={"Authorization": basic_header(sc["id"], sc["secret"])})
    assert code in (401, 403)
    code, _, _ = srv.request("GET", "/audit/checkpoints",
                             headers={"Authorization": basic_header(rs["client_id"], "wsk_wrong")})
    assert code == 401


def tamper_export(lines, i, fn):
    out = list(lines)
    fn(out, i)
    return out


def test_c_verify_names_the_first_tampered_line_of_an_export():
    st = state()
    env = st["env"]
    code, out = verify(env)
    assert code == 0 and "audit verified" in out, out
    p = env.run("audit", "--json")
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    rows = [json.loads(l) for l in lines]
    server = next(r["chain"] for r in rows if r["event"] == "token.issued")
    i = next(k for k, r in enumerate(rows) if r["chain"] == server and r["seq"] == 2)
    path = os.path.join(env.dir, "export.jsonl")

    def check(lines_, want_code, *want):
        with open(path, "w") as f:
            f.write("\n".join(lines_) + "\n")
        code_, out_ = verify(env, "--file", path)
        assert code_ == want_code and all(w in out_ for w in want), out_
        # the documented verifier, independent of Warrant's code, agrees
        ex = subprocess.run(["/usr/bin/python3", EXAMPLE_VERIFIER, path], capture_output=True, text=True)
        assert ex.returncode == want_code, (ex.stdout, ex.stderr)

    check(lines, 0, "audit verified")

    def edit(ls, k):
        r = json.loads(ls[k])
        r["detail"]["scope"] = "refunds:issue everything"
        ls[k] = json.dumps(r)
    check(tamper_export(lines, i, edit), 1, "chain %s seq 2: altered" % server)

    def delete(ls, k):
        del ls[k]
    check(tamper_export(lines, i, delete), 1, "chain %s seq 2: missing" % server)

    def insert(ls, k):
        r = json.loads(ls[k])
        r["outcome"] = "refused"
        ls.insert(k + 1, json.dumps(r))
    check(tamper_export(lines, i, insert), 1, "chain %s seq 2: inserted" % server)

    def reorder(ls, k):  # a reordered file still verifies: seq, not line order, is the chain
        ls[k], ls[k + 1] = ls[k + 1], ls[k]
    check(tamper_export(lines, i, reorder), 0, "audit verified")


def test_d_verify_names_the_first_tampered_row_of_the_database():
    st = state()
    env = st["env"]
    rows = env.audit()
    server = next(r["chain"] for r in rows if r["event"] == "token.issued")
    cols = "id, time, event, actor, agent_id, owner_id, run_id, ws, jti, client_addr, outcome, detail, request_id," \
           " chain, seq, hash"
    saved = env.sql("SELECT %s FROM audit_events WHERE chain = ? AND seq = 2" % cols, (server,))[0]
    # edit a row's detail
    env.sql("UPDATE audit_events SET detail = ? WHERE chain = ? AND seq = 2", ('{"scope":"everything"}', server))
    code, out = verify(env)
    assert code == 1 and "chain %s seq 2: altered" % server in out, out
    env.sql("UPDATE audit_events SET detail = ? WHERE chain = ? AND seq = 2", (saved[11], server))
    assert verify(env)[0] == 0
    # delete a row
    env.sql("DELETE FROM audit_events WHERE chain = ? AND seq = 2", (server,))
    code, out = verify(env)
    assert code == 1 and "chain %s seq 2: missing" % server in out, out
    env.sql("INSERT INTO audit_events(%s) VALUES (%s)" % (cols, ",".join("?" * len(saved))), saved)
    assert verify(env)[0] == 0
    # insert a row: a second seq 2 (past the unique index), and a row without chain
    env.sql("DROP INDEX audit_chain_seq")
    forged = list(saved[1:])
    forged[9] = "refused"
    env.sql("INSERT INTO audit_events(%s) VALUES (%s)" % (cols.replace("id, ", "", 1), ",".join("?" * len(forged))),
            forged)
    code, out = verify(env)
    assert code == 1 and "chain %s seq 2: inserted" % server in out, out
    env.sql("DELETE FROM audit_events WHERE chain = ? AND seq = 2 AND outcome = 'refused'", (server,))
    env.sql("CREATE UNIQUE INDEX audit_chain_seq ON audit_events(chain, seq)")
    env.sql("INSERT INTO audit_events(time, event, actor, outcome) VALUES (?, 'token.revoked', 'agt_x', 'ok')",
            (saved[1],))
    code, out = verify(env)
    assert code == 1 and "inserted" in out and "without chain" in out, out
    env.sql("DELETE FROM audit_events WHERE chain IS NULL")
    # a checkpoint whose signature was tampered with
    want = heads(env.audit())
    wait_checkpoints(st["srv"], st["rs"], want)
    chain, seq, jws = env.sql("SELECT chain, seq, jws FROM audit_checkpoints ORDER BY iat LIMIT 1")[0]
    h, p, sig = jws.split(".")
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    claims["hash"] = "0" * 64
    forged = ".".join((h, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), sig))
    env.sql("UPDATE audit_checkpoints SET jws = ? WHERE chain = ? AND seq = ?", (forged, chain, seq))
    code, out = verify(env)
    assert code == 1 and "chain %s seq %d: checkpoint" % (chain, seq) in out and "signature" in out, out
    env.sql("UPDATE audit_checkpoints SET jws = ? WHERE chain = ? AND seq = ?", (jws, chain, seq))
    assert verify(env)[0] == 0
    # rewriting a row and every hash after it: the signed checkpoint disagrees
    last = env.sql("SELECT max(seq) AS m FROM audit_checkpoints WHERE chain = ?", (server,))[0][0]
    chain_rows = sorted((r for r in env.audit() if r["chain"] == server), key=lambda r: r["seq"])
    prev, hashes = bytes(32), []
    for r in chain_rows[:last]:
        if r["seq"] == 1:
            r["outcome"] = "refused"
        h = row_hash(prev, r)
        hashes.append("WHEN %d THEN '%s'" % (r["seq"], h))
        prev = bytes.fromhex(h)
    env.sql("UPDATE audit_events SET outcome = CASE seq WHEN 1 THEN 'refused' ELSE outcome END,"
            " hash = CASE seq %s END WHERE chain = ? AND seq <= ?" % " ".join(hashes), (server, last))
    first = env.sql("SELECT min(seq) AS m FROM audit_checkpoints WHERE chain = ?", (server,))[0][0]
    code, out = verify(env)
    assert code == 1 and "chain %s seq %d: altered" % (server, first) in out and "checkpoint" in out, out


def test_e_follow_streams_new_rows_and_stops_cleanly():
    st = state()
    env, srv, sc = st["env"], st["srv"], st["sc"]
    p = subprocess.Popen([BIN, "audit", "--follow", "--db", env.db], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        time.sleep(0.4)
        code, _, body = srv.token(sc["id"], sc["secret"], run_id="follow-run")
        assert code == 200, body
        deadline = time.time() + 5
        seen = None
        while time.time() < deadline and not seen:
            line = p.stdout.readline()
            if line:
                r = json.loads(line)
                if r.get("run_id") == "follow-run":
                    seen = r
        assert seen and seen["event"] == "token.issued" and seen["hash"], seen
    finally:
        p.send_signal(signal.SIGINT)
        rc = p.wait(5)
    assert rc == 0, p.stderr.read()


def test_f_retention_prunes_whole_prefixes_and_chains_stay_verifiable():
    env = Env()
    _state["renv"] = env
    sc = env.scenario()
    srv = env.serve("--audit-checkpoint-interval", "1", "--audit-retention", "2")
    for _ in range(4):
        assert srv.token(sc["id"], sc["secret"])[0] == 200
    rows = env.audit()
    wait_checkpoints(srv, env.cli("resource", "add", "r"), heads(rows))
    server = next(r["chain"] for r in rows if r["event"] == "token.issued")
    for _ in range(2):
        assert srv.token(sc["id"], sc["secret"])[0] == 200
    cut = env.sql("SELECT max(seq) AS m FROM audit_checkpoints WHERE chain = ?", (server,))[0][0]
    # the checkpoint (and so every row it covers) as if signed three days ago
    env.sql("UPDATE audit_checkpoints SET iat = iat - 259200 WHERE chain = ? AND seq = ?", (server, cut))
    deadline = time.time() + 6
    while time.time() < deadline:
        left = env.sql("SELECT min(seq) AS m FROM audit_events WHERE chain = ?", (server,))[0][0]
        if left and left > cut:
            break
        time.sleep(0.2)
    assert left == cut + 1, (left, cut)
    assert env.sql("SELECT count(*) AS n FROM audit_events WHERE chain = 'cli'")[0][0] > 0  # not due: kept
    code, out = verify(env)
    assert code == 0 and "audit verified" in out, out
    # an export of what is kept verifies from the same checkpoint
    path = os.path.join(env.dir, "kept.jsonl")
    with open(path, "w") as f:
        f.write(env.run("audit", "--json").stdout)
    code, out = verify(env, "--file", path)
    assert code == 0, out
    # and removing the kept chain's first row is seen
    env.sql("DELETE FROM audit_events WHERE chain = ? AND seq = ?", (server, cut + 1))
    code, out = verify(env)
    assert code == 1 and "chain %s seq %d: missing" % (server, cut + 1) in out, out


def test_g_nodes_on_postgresql_have_chains_of_their_own():
    if not PG:
        raise Skip("several nodes need PostgreSQL")
    env = Env()
    _state["nenv"] = env
    sc = env.scenario()
    nodes = env.serve_nodes(2, "--audit-checkpoint-interval", "1")
    for n in nodes * 3:
        assert n.token(sc["id"], sc["secret"])[0] == 200
    rows = env.audit()
    chains = recompute(rows)
    issued = {r["chain"] for r in rows if r["event"] == "token.issued"}
    assert len(issued) == 2 and all(c.startswith("node_") for c in issued), issued
    assert set(chains) == issued | {"cli"}
    wait_checkpoints(nodes[0], env.cli("resource", "add", "r"), heads(env.audit()))
    # a restarted node starts a chain of its own
    nodes[1].stop()
    again = env.serve("--audit-checkpoint-interval", "1", "--issuer", nodes[0].base)
    assert again.token(sc["id"], sc["secret"])[0] == 200
    issued2 = {r["chain"] for r in env.audit() if r["event"] == "token.issued"}
    assert len(issued2) == 3, issued2
    for n in (nodes[0], again):
        n.stop()  # each signs its chain's last rows as it stops
    code, out = verify(env)
    assert code == 0 and "0 rows not yet under a checkpoint" in out, out


def test_h_a_migrated_copy_stays_verifiable():
    if not PG:
        raise Skip("migrate needs PostgreSQL")
    import harness
    d = tempfile.mkdtemp(prefix="mig-", dir=harness.TMP_ROOT)
    lite = os.path.join(d, "warrant.db")
    env = {k: v for k, v in os.environ.items() if k != "WARRANT_KEY_FILE"}

    def run(*args):
        p = subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=60, env=env)
        assert p.returncode == 0, p.stderr
        return p.stdout

    name = "t_" + os.path.basename(d).replace("-", "_").lower()
    try:
        run("init", "--db", lite)
        run("owner", "add", "--email", "m@example.com", "--db", lite)
        port = harness.free_port()
        srv = subprocess.Popen([BIN, "serve", "--db", lite, "--listen", "127.0.0.1:%d" % port,
                                "--audit-checkpoint-interval", "1"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(10) == 0
        kek = harness.new_key_file(os.path.join(d, "kek"))
        url = harness.pg_database(name)
        run("migrate", "--db", lite, "--to", url, "--key-file", kek)
        out = run("audit", "verify", "--db", url, "--key-file", kek)
        assert "audit verified" in out and " 0 checkpoints" not in out, out
    finally:
        harness.pg_admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
        shutil.rmtree(d, ignore_errors=True)


def test_i_two_servers_on_one_sqlite_file_share_its_chain_without_a_gap():
    """On SQLite every server appends to the one chain "server": a second process on the same
    file (a rolling restart, a second listener) must continue it, not collide with it."""
    if PG:
        raise Skip("the shared server chain is SQLite's")
    env = Env()
    _state["senv"] = env
    sc = env.scenario()
    a, b = env.serve(), env.serve()
    for _ in range(5):
        for s in (a, b):
            code, _, body = s.token(sc["id"], sc["secret"])
            assert code == 200, body
    rows = env.audit()
    issued = [r for r in rows if r["event"] == "token.issued"]
    assert len(issued) == 10 and {r["chain"] for r in issued} == {"server"}, issued
    recompute(rows)
    for s in (a, b):
        s.stop()
    code, out = verify(env)
    assert code == 0, out

"""test_secrets.py - where secrets may and may not end up, after a full end-to-end run
against a real `warrant serve --log-file F --metrics-token T`.

Collected: every agent client_secret (command line and /v1), every rotated secret, every
resource-server secret, the owners' passwords (and a wrong one that was tried), the
/metrics token, every access token issued and each token's signature. None of them may
appear, as exact bytes, in the server's stderr, its --log-file, the audit trail (`warrant
audit --json`, /v1/audit, the audit_events table), any error body, or the raw bytes of the
database, its -wal and -shm files, or a backup. Agent and resource-server secrets exist only
as 32-byte HMAC-SHA256 verifiers under the pepper, passwords only as argon2id hashes.

Also: private signing keys are in no log and no JWKS (no "d" or other private member), the
database, the --log-file and `warrant backup --to FILE` are mode 0600, the server process
has a core-file limit of 0 and leaves no core file when it aborts."""
import base64
import glob
import hashlib
import hmac
import json
import os
import re
import resource
import secrets
import signal
import sqlite3
import subprocess
import time
import urllib.parse

from cryptography.hazmat.primitives import serialization

from harness import Env, basic_header, sqlite_only

FORM = "application/x-www-form-urlencoded"
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def mode(path):
    return os.stat(path).st_mode & 0o777


class Run:
    """Everything one end-to-end run leaves behind."""

    def __init__(self):
        self.secrets = {}       # label -> secret string
        self.tokens = []
        self.error_bodies = []
        self.audit_bodies = []  # /v1/audit answers

    def secret(self, label, value):
        assert value and value not in self.secrets.values(), label
        self.secrets[label] = value
        return value

    def needles(self):
        """(label, bytes) to look for: each secret, its random part, each token and signature."""
        out = []
        for label, s in self.secrets.items():
            out.append((label, s.encode()))
            if s.startswith("wsk_"):
                raw = base64.urlsafe_b64decode(s[4:] + "=" * (-len(s[4:]) % 4))
                assert len(raw) == 32, (label, len(raw))
                out.append((label + " (random bytes)", raw))
                out.append((label + " (form-encoded)", urllib.parse.quote_plus(s).encode()))
        for i, t in enumerate(self.tokens):
            out.append(("token %d" % i, t.encode()))
            out.append(("signature of token %d" % i, t.rsplit(".", 1)[1].encode()))
        return out


def find_leaks(run, blobs):
    """blobs: (where, bytes). Returns 'label in where' for every needle found."""
    leaks = []
    for label, needle in run.needles():
        for where, blob in blobs:
            if needle in blob:
                leaks.append("%s in %s" % (label, where))
    return leaks


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def db_files(db):
    return [(os.path.basename(p), read(p)) for p in (db, db + "-wal", db + "-shm") if os.path.exists(p)]


def audit_table(db):
    con = sqlite3.connect(db, timeout=10)
    try:
        rows = con.execute("SELECT * FROM audit_events").fetchall()
    finally:
        con.close()
    return "\n".join(repr(r) for r in rows).encode()


def exercise(env, srv, run, o1, o1_pw, ws):
    """The end-to-end run: every kind of secret used, right and wrong, at every endpoint."""

    def post(path, fields, auth=None, expect=None):
        st, h, b = srv.request("POST", path, urllib.parse.urlencode(fields),
                               dict({"Content-Type": FORM}, **({"Authorization": auth} if auth else {})))
        if st >= 400:
            run.error_bodies.append(b)
        if expect is not None:
            assert st == expect, (path, st, b)
        return st, b

    def token_basic(cid, secret):
        st, b = post("/token", {"grant_type": "client_credentials"}, basic_header(cid, secret), 200)
        tok = json.loads(b)["access_token"]
        run.tokens.append(tok)
        return tok

    def token_post(cid, secret):
        st, b = post("/token", {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
                     None, 200)
        tok = json.loads(b)["access_token"]
        run.tokens.append(tok)
        return tok

    def v1(method, path, body=None, pw=o1_pw, expect=None):
        st, h, b = srv.request(method, path, json.dumps(body) if body is not None else None,
                               {"Authorization": basic_header(o1["email"], pw, form=False),
                                "Content-Type": "application/json"})
        if st >= 400:
            run.error_bodies.append(b)
        if expect is not None:
            assert st == expect, (method, path, st, b)
        return st, json.loads(b) if b else None

    a1, a2, a3 = run.a1, run.a2, run.a3
    gw, api = run.gw, run.api
    # agent secrets, old and new, both methods
    toks = [token_basic(a1["client_id"], run.secrets["agent 1 secret"]),
            token_basic(a1["client_id"], run.secrets["agent 1 rotated secret"]),
            token_post(a2["client_id"], run.secrets["agent 2 secret"]),
            token_basic(a2["client_id"], run.secrets["agent 2 secret"])]
    # an agent made over /v1, rotated over /v1
    st, made = v1("POST", "/v1/agents", {"name": "v1-agent", "verbs": ["tickets:read"]}, expect=201)
    run.secret("v1 agent secret", made["client_secret"])
    toks.append(token_basic(made["client_id"], made["client_secret"]))
    st, rot = v1("POST", "/v1/agents/%s/rotate" % made["id"], {"grace_seconds": 600}, expect=200)
    run.secret("v1 rotated secret", rot["client_secret"])
    toks.append(token_post(made["client_id"], rot["client_secret"]))
    toks.append(token_basic(a3["client_id"], run.secrets["agent 3 secret"]))
    # wrong secrets: real secrets in the wrong places, and the other kinds of secret
    wrong = [(a1["client_id"], run.secrets["agent 2 secret"]), (a2["client_id"], run.secrets["gateway secret"]),
             ("agt_doesnotexist", run.secrets["agent 1 rotated secret"]),
             (a1["client_id"], run.secrets["metrics token"]), (a2["client_id"], o1_pw),
             (made["client_id"], run.secrets["v1 agent secret"] + "x")]
    for cid, sec in wrong:
        post("/token", {"grant_type": "client_credentials"}, basic_header(cid, sec), 401)
        post("/token", {"grant_type": "client_credentials", "client_id": cid, "client_secret": sec}, None, 401)
        post("/revoke", {"token": toks[0]}, basic_header(cid, sec), 401)
    # two methods at once, a duplicated secret: refused before any lookup
    post("/token", {"grant_type": "client_credentials", "client_secret": run.secrets["agent 2 secret"]},
         basic_header(a2["client_id"], run.secrets["agent 2 secret"]), 400)
    post("/token", [("grant_type", "client_credentials"), ("client_id", a2["client_id"]),
                    ("client_secret", run.secrets["agent 2 secret"]),
                    ("client_secret", run.secrets["agent 2 secret"])], None, 400)
    # introspection: right resource servers, wrong secrets, an agent's credentials
    for tok in toks:
        st, b = post("/introspect", {"token": tok}, basic_header(gw["client_id"], run.secrets["gateway secret"]), 200)
        assert json.loads(b)["active"] is True, b
        post("/introspect", {"token": tok}, basic_header(api["client_id"], run.secrets["api secret"]), 200)
        post("/introspect", {"token": tok}, basic_header(gw["client_id"], run.secrets["api secret"]), 401)
        post("/introspect", {"token": tok}, basic_header(gw["client_id"], run.secrets["agent 1 secret"]), 401)
        post("/introspect", {"token": tok}, basic_header(a2["client_id"], run.secrets["agent 2 secret"]), 403)
    # bad tokens: a token with its signature broken, a token of ours sent as a secret
    broken = toks[0][:-4] + ("AAAA" if not toks[0].endswith("AAAA") else "BBBB")
    post("/introspect", {"token": broken}, basic_header(gw["client_id"], run.secrets["gateway secret"]), 200)
    post("/token", {"grant_type": "client_credentials"}, basic_header(a1["client_id"], toks[1]), 401)
    post("/token", {"grant_type": "client_credentials"}, "Bearer " + toks[2], 401)
    # revocation, by the agent and from the command line
    post("/revoke", {"token": toks[0]}, basic_header(a1["client_id"], run.secrets["agent 1 rotated secret"]), 200)
    post("/revoke", {"token": toks[2]}, basic_header(a1["client_id"], run.secrets["agent 1 rotated secret"]), 200)
    post("/revoke", {"token": toks[3], "client_id": a2["client_id"], "client_secret": run.secrets["agent 2 secret"]},
         None, 200)
    jti = json.loads(base64.urlsafe_b64decode(toks[4].split(".")[1] + "==="))["jti"]
    p = env.run("revoke", "--jti", jti)
    assert p.returncode == 0, p.stderr
    # the owner: right password, wrong password, the audit view
    v1("GET", "/v1/agents", expect=200)
    v1("GET", "/v1/agents", pw=run.secrets["owner 1 wrong password"], expect=401)
    st, h, b = srv.request("GET", "/v1/audit", None, {"Authorization": basic_header(o1["email"], o1_pw, form=False)})
    assert st == 200, (st, b)
    run.audit_bodies.append(b)
    # /metrics with its token, a wrong one, and a secret of another kind
    st, h, b = srv.request("GET", "/metrics", None, {"Authorization": "Bearer " + run.secrets["metrics token"]})
    assert st == 200, (st, b)
    for wrong_token in (run.secrets["metrics token"][:-1], run.secrets["gateway secret"]):
        st, h, b = srv.request("GET", "/metrics", None, {"Authorization": "Bearer " + wrong_token})
        assert st == 401, (st, b)
        run.error_bodies.append(b)
    # a burst of tokens, so the logs and the WAL have seen many
    for _ in range(20):
        token_basic(a3["client_id"], run.secrets["agent 3 secret"])
    assert run.error_bodies, "no error bodies collected"


def test_secrets_never_stored_logged_or_echoed():
    sqlite_only("the database file, its -wal and -shm, a backup file, and the pepper and keys as SQLite holds them")
    old_umask = os.umask(0)  # file modes must come from warrant itself
    try:
        env = Env()
    finally:
        os.umask(old_umask)
    run = Run()
    try:
        o1_pw = run.secret("owner 1 password", "pw1-" + secrets.token_urlsafe(18))
        o2_pw = run.secret("owner 2 password", "pw2-" + secrets.token_urlsafe(18))
        run.secret("owner 1 wrong password", "pw1-" + secrets.token_urlsafe(18))
        run.secret("metrics token", "mt-" + secrets.token_urlsafe(24))
        o1 = env.owner(password=o1_pw)
        env.owner(password=o2_pw)
        ws = env.workspace()
        env.member(ws["id"], o1["id"], "tickets:read tickets:note")
        run.a1 = env.agent(o1["id"], "tickets:read", name="one")
        run.a2 = env.agent(o1["id"], "tickets:read", name="two")
        run.a3 = env.agent(o1["id"], "tickets:read", name="three")
        run.secret("agent 1 secret", run.a1["client_secret"])
        run.secret("agent 2 secret", run.a2["client_secret"])
        run.secret("agent 3 secret", run.a3["client_secret"])
        rot = env.cli("agent", "rotate", run.a1["id"], "--grace", "900")
        run.secret("agent 1 rotated secret", rot["client_secret"])
        run.gw = env.cli("resource", "add", "gateway")
        run.api = env.cli("resource", "add", "api", "--audience", "https://api.example.test")
        run.secret("gateway secret", run.gw["client_secret"])
        run.secret("api secret", run.api["client_secret"])
        for label, s in run.secrets.items():
            if "secret" in label:
                assert re.fullmatch(r"wsk_[A-Za-z0-9_-]{43}", s), (label, s)

        log_file = os.path.join(env.dir, "warrant.log")
        old_umask = os.umask(0)
        try:
            srv = env.serve("--log-file", log_file, "--log-level", "debug",
                            "--metrics-token", run.secrets["metrics token"])
        finally:
            os.umask(old_umask)
        exercise(env, srv, run, o1, o1_pw, ws)

        # ---- while the server runs (the WAL holds the recent writes) ----
        time.sleep(0.6)  # the log is flushed every 250 ms
        live_files = db_files(env.db)
        assert any(n.endswith("-wal") for n, _ in live_files), [n for n, _ in live_files]
        for name, _ in live_files:
            assert mode(os.path.join(env.dir, name)) == 0o600, (name, oct(mode(os.path.join(env.dir, name))))
        assert mode(log_file) == 0o600, oct(mode(log_file))

        # private keys: never in JWKS, discovery or logs
        con = sqlite3.connect(env.db, timeout=10)
        try:
            ders = [r[0] for r in con.execute("SELECT private_der FROM signing_keys WHERE length(private_der) > 0")]
            pepper = con.execute("SELECT value FROM settings WHERE key = 'secret_pepper'").fetchone()[0]
            cred_verifiers = [r[0] for r in con.execute("SELECT verifier FROM credentials")]
            rs_verifiers = [r[0] for r in con.execute("SELECT verifier FROM resource_servers")]
            hashes = [r[0] for r in con.execute("SELECT password_hash FROM owners WHERE password_hash IS NOT NULL")]
        finally:
            con.close()
        assert ders, "no private keys found"
        key_needles = []
        for i, der in enumerate(ders):
            key = serialization.load_der_private_key(bytes(der), None)
            scalar = key.private_numbers().private_value
            raw = scalar.to_bytes((scalar.bit_length() + 7) // 8, "big")
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
            pem_body = b"".join(pem.splitlines()[1:-1])
            key_needles += [("key %d DER" % i, bytes(der)), ("key %d d" % i, b64url(raw)),
                            ("key %d d (padded)" % i, base64.urlsafe_b64encode(raw)),
                            ("key %d PEM" % i, pem_body[:64]), ("key %d hex" % i, raw.hex().encode())]
        st, h, jwks = srv.get_json("/jwks")
        assert st == 200 and jwks["keys"], jwks
        for k in jwks["keys"]:
            present = [m for m in PRIVATE_JWK_MEMBERS if m in k]
            assert not present, "JWKS key %s has private members %r" % (k.get("kid"), present)
        st, h, jwks_raw = srv.request("GET", "/jwks")
        st, h, disco = srv.request("GET", "/.well-known/openid-configuration")
        logs_now = [("server stderr", read(srv.log_path)), ("--log-file", read(log_file))]
        for label, needle in key_needles:
            for where, blob in logs_now + [("JWKS", jwks_raw), ("discovery", disco)] + [
                    ("error body %d" % i, b) for i, b in enumerate(run.error_bodies)]:
                assert needle not in blob, "private %s found in %s" % (label, where)
        assert read(log_file), "the --log-file is empty"

        # verifiers: exactly HMAC-SHA256(pepper, secret), 32 bytes; argon2id for passwords
        assert len(pepper) == 32, len(pepper)
        for v in cred_verifiers + rs_verifiers:
            assert isinstance(v, bytes) and len(v) == 32, (type(v), len(v))
        for label, s in run.secrets.items():
            if not s.startswith("wsk_"):
                continue
            mac = hmac.new(bytes(pepper), s.encode(), hashlib.sha256).digest()
            pool = rs_verifiers if label in ("gateway secret", "api secret") else cred_verifiers
            assert mac in [bytes(v) for v in pool], "%s: no verifier HMAC-SHA256(pepper, secret) stored" % label
        assert len(hashes) == 2, hashes
        for h_ in hashes:
            assert re.fullmatch(r"\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}", h_), h_

        # the server process: no core files
        limits = read("/proc/%d/limits" % srv.pid).decode()
        m = re.search(r"^Max core file size\s+(\S+)\s+(\S+)", limits, re.M)
        assert m and m.group(1) == "0", "core limit of the server: %r" % (m and m.group(0))

        leaks = find_leaks(run, live_files + logs_now + [("error body %d" % i, b) for i, b in
                                                          enumerate(run.error_bodies)] +
                           [("/v1/audit", b) for b in run.audit_bodies] + [("audit_events", audit_table(env.db))])
        assert not leaks, "secrets found while serving:\n" + "\n".join(leaks)

        # ---- a backup, and everything after a clean stop ----
        backup = os.path.join(env.dir, "backup.db")
        old_umask = os.umask(0)
        try:
            p = env.run("backup", "--to", backup)
        finally:
            os.umask(old_umask)
        assert p.returncode == 0, p.stderr
        assert mode(backup) == 0o600, oct(mode(backup))
        assert srv.stop() == 0
        audit_json = env.run("audit", "--json")
        assert audit_json.returncode == 0 and audit_json.stdout.strip(), audit_json.stderr
        events = [json.loads(l) for l in audit_json.stdout.splitlines() if l.strip()]
        assert {"token.issued", "token.refused", "token.introspected", "token.revoked",
                "owner.login_failed"} <= {e["event"] for e in events}, {e["event"] for e in events}
        blobs = db_files(env.db) + [("backup", read(backup)), ("backup-journal", read(backup + "-journal")),
                                    ("server stderr", read(srv.log_path)), ("--log-file", read(log_file)),
                                    ("warrant audit --json", audit_json.stdout.encode()),
                                    ("audit_events", audit_table(env.db))]
        leaks = find_leaks(run, blobs)
        assert not leaks, "secrets found after stop:\n" + "\n".join(leaks)
        for name, _ in db_files(env.db):
            assert mode(os.path.join(env.dir, name)) == 0o600, name
        # --check-config shows the metrics token masked
        p = env.run("serve", "--check-config", "--metrics-token", run.secrets["metrics token"])
        assert p.returncode == 0, p.stderr
        assert run.secrets["metrics token"] not in p.stdout + p.stderr, p.stdout
    finally:
        env.close()


def test_server_leaves_no_core_file_when_it_aborts():
    """RLIMIT_CORE 0 and PR_SET_DUMPABLE 0: an abort of the server writes no core, where
    a control process under the same limits does (when this machine writes cores at all)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    pattern = read("/proc/sys/kernel/core_pattern").decode().strip()
    env = Env()
    here = os.getcwd()
    try:
        cores = lambda: glob.glob(os.path.join(env.dir, "core*"))
        # raise our own core limit so the server would inherit it, and start it in env.dir
        if hard != 0:
            resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
        os.chdir(env.dir)
        try:
            srv = env.serve()
            control = subprocess.Popen(["/bin/sleep", "30"])
        finally:
            os.chdir(here)
            resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))
        limits = read("/proc/%d/limits" % srv.pid).decode()
        assert re.search(r"^Max core file size\s+0\s", limits, re.M), limits
        st, _, _ = srv.request("GET", "/healthz")
        assert st == 200
        os.kill(control.pid, signal.SIGABRT)
        control.wait(10)
        time.sleep(0.5)
        control_cored = bool(cores())
        for c in cores():
            os.unlink(c)
        os.kill(srv.pid, signal.SIGABRT)
        srv.proc.wait(10)
        assert srv.proc.returncode == -signal.SIGABRT, srv.proc.returncode
        time.sleep(0.5)
        assert not cores(), "the server left a core file: %r" % cores()
        if hard != 0 and pattern.startswith("core") and not pattern.startswith("|"):
            assert control_cored, "control process left no core: the check above proves nothing here"
    finally:
        env.close()

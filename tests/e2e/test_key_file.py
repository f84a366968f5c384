"""test_key_file.py - private keys and the pepper sealed under the key-encryption key
(--key-file / WARRANT_KEY_FILE), on SQLite and, with WARRANT_TEST_PG, on PostgreSQL: the rows
hold no plaintext (checked by opening them with `cryptography` and the key file), every
command and the server refuse a missing, wrong or group-readable key file, tokens verify
with PyJWT against /jwks, secrets survive a restart and rotation seals the new key."""
import hashlib
import hmac
import json
import os
import sqlite3
import stat
import subprocess
import tempfile
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_der_private_key

import harness
from harness import BIN, CliError, Env, free_port

ENGINES = ["sqlite"] + (["pg"] if harness.PG else [])
MAGIC = b"kek1"
ISSUER = "https://auth.example.test"  # the same across restarts: tokens outlive a server


class KeyEnv(Env):
    """An Env initialised with a key file of its own (made by `warrant init --key-file`),
    handed to every command; engine is "sqlite" or "pg"."""

    def __init__(self, engine, alg=None):
        os.makedirs(harness.TMP_ROOT, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="k-", dir=harness.TMP_ROOT)
        self.engine = engine
        self.pg_name = None
        if engine == "pg":
            self.pg_name = "t_" + os.path.basename(self.dir).replace("-", "_").lower()
            self.db = harness.pg_database(self.pg_name)
        else:
            self.db = os.path.join(self.dir, "warrant.db")
        self.key = os.path.join(self.dir, "kek")
        self.servers = []
        self.init = self.cli(*(["init"] + (["--alg", alg] if alg else [])))

    def run(self, *args, stdin=None, env=None, key="default"):
        """key: "default" hands self.key through WARRANT_KEY_FILE, None hands no key."""
        cmd = [BIN] + list(args) + ["--db", self.db]
        e = dict(os.environ)
        e.pop("WARRANT_KEY_FILE", None)
        if key == "default":
            e["WARRANT_KEY_FILE"] = self.key
        elif key:
            e["WARRANT_KEY_FILE"] = key
        if env:
            e.update(env)
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, env=e)

    def serve(self, *extra, wait=True):
        return super().serve("--key-file", self.key, "--issuer", ISSUER, *extra, wait=wait)

    def serve_refused(self, key):
        """Runs serve with key (None: no key) and returns (exit code, stderr); it must not start."""
        cmd = [BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:%d" % free_port()]
        e = dict(os.environ)
        e.pop("WARRANT_KEY_FILE", None)
        if key:
            cmd += ["--key-file", key]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=e)
        return p.returncode, p.stderr

    def rows(self, sqlite_sql, pg_sql):
        """Rows of a query on the database itself (sqlite3 / psql), text columns; blobs as hex."""
        if self.engine == "pg":
            p = subprocess.run(["psql", self.db, "-qAtX", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", pg_sql],
                               capture_output=True, text=True, timeout=60, check=True)
            return [tuple(l.split("|")) for l in p.stdout.splitlines() if l]
        c = sqlite3.connect(self.db)
        try:
            return [tuple(str(v) for v in r) for r in c.execute(sqlite_sql)]
        finally:
            c.close()

    def private_keys(self):
        """{kid: stored private_der bytes} of keys not retired."""
        rows = self.rows("SELECT kid, hex(private_der) FROM signing_keys WHERE state != 'retired'",
                         "SELECT kid, encode(private_der, 'hex') FROM signing_keys WHERE state != 'retired'")
        return {kid: bytes.fromhex(h) for kid, h in rows}

    def setting(self, key):
        rows = self.rows("SELECT hex(value) FROM settings WHERE key = '%s'" % key,
                         "SELECT encode(value, 'hex') FROM settings WHERE key = '%s'" % key)
        return bytes.fromhex(rows[0][0]) if rows else None


def kek_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def unseal(kek, value, purpose):
    """Opens a sealed value as SPEC'd: magic, 12-byte nonce, AES-256-GCM ciphertext and tag,
    the purpose as associated data (independently of warrant's code)."""
    assert value[:4] == MAGIC, value[:8]
    return AESGCM(kek).decrypt(value[4:16], value[16:], purpose.encode())


def key_file(dirpath, name, content, mode=0o600):
    path = os.path.join(dirpath, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    os.chmod(path, mode)
    return path


def token_verifies(srv, tok):
    key = jwt.PyJWKClient(srv.base + "/jwks").get_signing_key_from_jwt(tok)
    hdr = jwt.get_unverified_header(tok)
    return jwt.decode(tok, key.key, algorithms=[hdr["alg"]], audience=ISSUER, issuer=ISSUER)


def each_engine(fn):
    for engine in ENGINES:
        env = KeyEnv(engine)
        try:
            fn(env)
        except Exception as e:
            raise AssertionError("on %s: %r" % (engine, e)) from e
        finally:
            env.close()


def test_init_makes_a_private_32_byte_key_file_and_rows_hold_no_plaintext():
    def check(env):
        st = os.stat(env.key)
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_size == 32, oct(st.st_mode)
        kek = kek_bytes(env.key)
        sc = env.scenario()
        srv = env.serve()
        _, _, jwks = srv.get_json("/jwks")
        public = {k["kid"]: k for k in jwks["keys"]}
        stored = env.private_keys()
        assert set(stored) == set(public) and len(stored) == 2
        for kid, blob in stored.items():
            # sealed for its own row: another purpose does not open it
            der = unseal(kek, blob, "signing-key:" + kid)
            assert der not in blob and der[:1] == b"\x30"
            try:
                unseal(kek, blob, "signing-key:other")
                assert False, "a sealed key opened for another row"
            except Exception as e:
                assert "InvalidTag" in type(e).__name__, e
            pub = load_der_private_key(der, None).public_key()
            assert isinstance(pub, ec.EllipticCurvePublicKey)
            nums = pub.public_numbers()
            x = jwt.utils.base64url_decode(public[kid]["x"])
            assert int.from_bytes(x, "big") == nums.x
        # the pepper: sealed, and the one that keys the stored verifier of the agent's secret
        sealed = env.setting("secret_pepper")
        assert len(sealed) == 32 + 32 and sealed[:4] == MAGIC
        pepper = unseal(kek, sealed, "pepper")
        assert len(pepper) == 32 and pepper not in sealed
        (verifier,) = env.rows("SELECT hex(verifier) FROM credentials WHERE agent_id = '%s'" % sc["id"],
                               "SELECT encode(verifier, 'hex') FROM credentials WHERE agent_id = '%s'" % sc["id"])
        mine = hmac.new(pepper, sc["secret"].encode(), hashlib.sha256).digest()
        assert bytes.fromhex(verifier[0]) == mine
        st_, _, body = srv.token(sc["id"], sc["secret"])
        assert st_ == 200, body
        claims = token_verifies(srv, body["access_token"])
        assert claims["sub"] == sc["id"]
    each_engine(check)


def test_commands_and_serve_refuse_a_missing_wrong_or_open_key_file():
    def check(env):
        kek = kek_bytes(env.key)
        wrong = key_file(env.dir, "wrong", os.urandom(32))
        open_ = key_file(env.dir, "open", kek, 0o640)
        short = key_file(env.dir, "short", kek[:31])
        hexed = key_file(env.dir, "hex", kek.hex().encode() + b"\n")
        missing = os.path.join(env.dir, "nothing-here")
        cases = [
            (None, "--key-file"),
            (wrong, "does not match this database"),
            (open_, "open to group or others (mode 0640)"),
            (short, "must hold 32 random bytes"),
            (missing, "cannot read the key file"),
        ]
        for key, msg in cases:
            p = env.run("keys", "list", "--json", key=key)
            assert p.returncode != 0 and msg in p.stderr, (key, p.stderr)
            assert len(p.stderr.strip().splitlines()) == 1, p.stderr
            rc, err = env.serve_refused(key)
            assert rc != 0 and msg in err, (key, rc, err)
            assert "Traceback" not in err and "Sanitizer" not in err
        if env.engine == "pg":
            p = env.run("keys", "list", key=None)
            assert "WARRANT_KEY_FILE" in p.stderr, p.stderr
        # the same key as 64 hex digits is the same key
        p = env.run("keys", "list", "--json", key=hexed)
        assert p.returncode == 0, p.stderr
        # a flag wins over the environment
        p = env.run("keys", "list", "--json", "--key-file", env.key, key=wrong)
        assert p.returncode == 0, p.stderr
        # init with someone else's database refuses and leaves no key file behind
        fresh = os.path.join(env.dir, "fresh-kek")
        p = env.run("init", "--key-file", fresh, key=None)
        assert p.returncode != 0 and "already initialised" in p.stderr, p.stderr
        assert not os.path.exists(fresh)
    each_engine(check)


def test_sqlite_without_a_key_file_is_unchanged_and_refuses_one():
    env = Env() if not harness.PG else None
    if env is None:
        # the harness hands every process a key on PostgreSQL: a SQLite file made here
        env = KeyEnv("sqlite")
        os.unlink(env.db)
        p = env.run("init", key=None)
        assert p.returncode == 0, p.stderr
        run = lambda *a: env.run(*a, key=None)  # noqa: E731
        with_key = lambda *a: env.run(*a)  # noqa: E731
    else:
        key = key_file(env.dir, "kek", os.urandom(32))
        run = env.run
        with_key = lambda *a: env.run(*a, env={"WARRANT_KEY_FILE": key})  # noqa: E731
    try:
        c = sqlite3.connect(env.db)
        ders = [r[0] for r in c.execute("SELECT private_der FROM signing_keys")]
        names = [r[0] for r in c.execute("SELECT key FROM settings")]
        c.close()
        assert all(d[:1] == b"\x30" for d in ders) and "kek_check" not in names
        assert run("keys", "list").returncode == 0
        p = with_key("keys", "list")
        assert p.returncode != 0 and "in the clear" in p.stderr, p.stderr
    finally:
        env.close()


def test_pg_init_needs_a_key_file():
    if not harness.PG:
        raise harness.Skip("PostgreSQL only (WARRANT_TEST_PG)")
    name = "t_kek_nokey_%d" % os.getpid()
    url = harness.pg_database(name)
    try:
        e = dict(os.environ)
        e.pop("WARRANT_KEY_FILE", None)
        p = subprocess.run([BIN, "init", "--db", url], capture_output=True, text=True, timeout=60, env=e)
        assert p.returncode != 0 and "--key-file" in p.stderr, p.stderr
        p = subprocess.run(["psql", url, "-qAtX", "-c", "SELECT to_regclass('signing_keys') IS NULL"],
                           capture_output=True, text=True, timeout=60)
        assert p.stdout.strip() == "t", p.stdout
    finally:
        harness.pg_admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)


def test_secrets_survive_a_restart_and_rotation_seals_the_new_key():
    def check(env):
        kek = kek_bytes(env.key)
        sc = env.scenario()
        srv = env.serve()
        st, _, body = srv.token(sc["id"], sc["secret"])
        assert st == 200, body
        before = body["access_token"]
        token_verifies(srv, before)
        srv.stop()
        srv = env.serve()
        # the secret made before the restart still works; the old token still verifies
        st, _, body = srv.token(sc["id"], sc["secret"])
        assert st == 200, body
        token_verifies(srv, before)
        old_kid = jwt.get_unverified_header(body["access_token"])["kid"]
        out = env.cli("keys", "rotate", "--force")
        assert out[0]["kid"] != old_kid, out
        srv.stop()
        srv = env.serve()
        st, _, body = srv.token(sc["id"], sc["secret"])
        assert st == 200, body
        new_kid = jwt.get_unverified_header(body["access_token"])["kid"]
        assert new_kid == out[0]["kid"] and new_kid != old_kid
        token_verifies(srv, body["access_token"])
        token_verifies(srv, before)  # the retiring key still verifies
        stored = env.private_keys()
        assert out[0]["next"] in stored
        for kid, blob in stored.items():
            assert load_der_private_key(unseal(kek, blob, "signing-key:" + kid), None)
        # the agent's secret rotated under the KEK works too
        rot = env.cli("agent", "rotate", sc["id"])
        st, _, body = srv.token(sc["id"], rot["client_secret"])
        assert st == 200, body
    each_engine(check)


def test_check_config_names_the_key_file():
    env = KeyEnv("sqlite")
    try:
        e = dict(os.environ)
        e["WARRANT_KEY_FILE"] = env.key
        p = subprocess.run([BIN, "serve", "--db", env.db, "--check-config"], capture_output=True, text=True,
                           timeout=60, env=e)
        assert p.returncode == 0, p.stderr
        line = [l for l in p.stdout.splitlines() if l.startswith("key-file")]
        assert line and env.key in line[0] and "environment" in line[0], p.stdout
        # and from the configuration file of serve
        conf = os.path.join(env.dir, "warrant.conf")
        with open(conf, "w") as f:
            f.write("key-file = %s\n" % env.key)
        e.pop("WARRANT_KEY_FILE")
        p = subprocess.run([BIN, "serve", "--db", env.db, "--config", conf, "--check-config"], capture_output=True,
                           text=True, timeout=60, env=e)
        assert p.returncode == 0, p.stderr
        line = [l for l in p.stdout.splitlines() if l.startswith("key-file")]
        assert line and env.key in line[0] and "# file" in line[0], p.stdout
    finally:
        env.close()


def test_cli_error_is_one_line_without_key_content():
    env = KeyEnv("sqlite")
    try:
        bad = key_file(env.dir, "bad", b"\x00" * 40)
        p = env.run("keys", "list", key=bad)
        assert p.returncode == 1 and p.stderr.count("\n") == 1, p.stderr
        try:
            env.cli("keys", "list")
        except CliError as e:
            raise AssertionError(e)
        assert json.dumps(kek_bytes(env.key).hex()) not in p.stderr
    finally:
        env.close()


def test_scheduled_rotation_in_the_server_seals_the_keys_it_makes():
    def check(env):
        kek = kek_bytes(env.key)
        sc = env.scenario()
        srv = env.serve("--jwks-max-age", "1", "--leeway", "0", "--token-ttl", "2", "--key-rotation", "2")
        seen = []
        deadline = time.time() + 12
        while len(seen) < 3 and time.time() < deadline:
            st, _, body = srv.token(sc["id"], sc["secret"])
            assert st == 200, body
            kid = jwt.get_unverified_header(body["access_token"])["kid"]
            token_verifies(srv, body["access_token"])
            if not seen or seen[-1] != kid:
                seen.append(kid)
            time.sleep(0.05)
        assert len(seen) >= 3, "scheduled rotations seen: %s" % seen
        stored = env.private_keys()
        assert seen[-1] in stored
        for kid, blob in stored.items():
            assert load_der_private_key(unseal(kek, blob, "signing-key:" + kid), None)
    each_engine(check)


def test_rs256_keys_are_sealed_too():
    for engine in ENGINES:
        env = KeyEnv(engine, alg="RS256")
        try:
            kek = kek_bytes(env.key)
            for kid, blob in env.private_keys().items():
                key = load_der_private_key(unseal(kek, blob, "signing-key:" + kid), None)
                assert key.key_size == 3072
            sc = env.scenario()
            srv = env.serve()
            st, _, body = srv.token(sc["id"], sc["secret"])
            assert st == 200, body
            assert token_verifies(srv, body["access_token"])["sub"] == sc["id"]
        finally:
            env.close()

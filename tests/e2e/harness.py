"""harness.py - drives the real `warrant` binary: a fresh SQLite file (or, with
WARRANT_TEST_PG, a fresh PostgreSQL database), `warrant serve` on 127.0.0.1 (stopped by its
pid), the command line, and plain HTTP clients.

Everything runs against real parts; nothing here fakes a server or a result."""
import atexit
import base64
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import time
import urllib.parse

BIN = os.environ.get("WARRANT_BIN") or os.path.join(os.path.dirname(__file__), "..", "..", "warrant")
BIN = os.path.abspath(BIN)


def _sanitized():
    try:
        with open(BIN, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# a build under AddressSanitizer: freed memory stays in quarantine, so memory figures of
# such a build say little
SANITIZED = _sanitized()
TMP_ROOT = os.environ.get("WARRANT_TEST_TMP") or os.path.join(os.path.dirname(__file__), "..", "out", "tmp")


# WARRANT_TEST_PG: the URL of a PostgreSQL server's maintenance database (scripts/pg.sh);
# every Env then gets a database of its own there instead of a SQLite file
PG = os.environ.get("WARRANT_TEST_PG")


def new_key_file(path):
    """A key-encryption key file (32 random bytes, mode 0600) at path; returns path."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(32))
    return path


# on PostgreSQL every command and server needs the key-encryption key: one file for the run,
# handed to every process through the environment (an explicit WARRANT_KEY_FILE wins)
if PG and not os.environ.get("WARRANT_KEY_FILE"):
    os.makedirs(TMP_ROOT, exist_ok=True)
    _kek_dir = tempfile.mkdtemp(prefix="kek-", dir=TMP_ROOT)
    atexit.register(shutil.rmtree, _kek_dir, True)
    os.environ["WARRANT_KEY_FILE"] = new_key_file(os.path.join(_kek_dir, "kek"))


class Skip(Exception):
    """Raised by a test that does not apply to the engine under test (run.py counts it
    apart, neither passed nor failed)."""


def sqlite_only(why):
    """A test that reads or writes the SQLite file itself: skipped on PostgreSQL."""
    if PG:
        raise Skip("SQLite only: " + why)


def pg_admin(sql, pg=None):
    """Runs sql on the PostgreSQL server's maintenance database (psql); returns stdout."""
    return subprocess.run(["psql", pg or PG, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                          capture_output=True, text=True, timeout=60).stdout


def pg_database(name, pg=None):
    """A fresh, empty database on the PostgreSQL server; returns its URL."""
    pg_admin('DROP DATABASE IF EXISTS "%s"' % name, pg)
    pg_admin('CREATE DATABASE "%s"' % name, pg)
    u = urllib.parse.urlsplit(pg or PG)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CliError(Exception):
    def __init__(self, rc, stderr):
        super().__init__("exit %d: %s" % (rc, stderr.strip()))
        self.rc = rc
        self.stderr = stderr


def _pg_value(v):
    """A JSON value of row_to_json as sqlite3 would give it: bytea ("\\x...") as bytes."""
    if isinstance(v, str) and re.fullmatch(r"\\x(?:[0-9a-f]{2})*", v):
        return bytes.fromhex(v[2:])
    return v


def sql_literal(v):
    """v as an SQL literal both engines read alike (for Env.sql over psql)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


class Env:
    """A database in its own temporary folder, with helpers for the command line.
    pg: the maintenance URL of another PostgreSQL server than WARRANT_TEST_PG's."""

    pg = None  # SQLite, also for a subclass that makes its own file

    def __init__(self, alg=None, pg=None):
        os.makedirs(TMP_ROOT, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="w-", dir=TMP_ROOT)
        self.pg_name = None
        self.pg = pg or PG
        if self.pg:
            self.pg_name = "t_" + os.path.basename(self.dir).replace("-", "_").lower()
            self.db = pg_database(self.pg_name, self.pg)
        else:
            self.db = os.path.join(self.dir, "warrant.db")
        args = ["init"] + (["--alg", alg] if alg else [])
        self.init = self.cli(*args)
        self.servers = []

    def run(self, *args, stdin=None, env=None):
        """Runs warrant with args and --db; returns CompletedProcess (no check)."""
        cmd = [BIN] + list(args) + ["--db", self.db]
        e = dict(os.environ)
        if env:
            e.update(env)
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, env=e)

    def cli(self, *args, stdin=None):
        """Runs warrant ... --json; returns the parsed object (or list for JSON lines)."""
        p = self.run(*(list(args) + ["--json"]), stdin=stdin)
        if p.returncode != 0:
            raise CliError(p.returncode, p.stderr)
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        objs = [json.loads(l) for l in lines]
        if len(objs) == 1 and args and args[-1] not in ("list",) and args[0] not in ("audit", "keys"):
            return objs[0]
        return objs

    def owner(self, email=None, org=None, password=None, name=None):
        email = email or "o%d@example.com" % (time.time_ns() % 10**12)
        args = ["owner", "add", "--email", email]
        if org:
            args += ["--org", org]
        if name:
            args += ["--name", name]
        if password:
            args += ["--password-stdin"]
            return self.cli(*args, stdin=password + "\n")
        return self.cli(*args)

    def workspace(self, name=None, org=None, org_visible=False, verbs=None):
        name = name or "ws%d" % (time.time_ns() % 10**12)
        args = ["workspace", "add", name]
        if org:
            args += ["--org", org]
        if org_visible:
            args += ["--org-visible"]
        if verbs is not None:
            args += ["--verbs", verbs]
        return self.cli(*args)

    def member(self, ws, owner, verbs, op="add"):
        args = ["member", op, "--workspace", ws, "--owner", owner]
        if op != "remove":
            args += ["--verbs", verbs]
        return self.cli(*args)

    def agent(self, owner, verbs, name="agent", workspaces=None, **limits):
        args = ["agent", "add", "--owner", owner, "--name", name, "--verbs", verbs]
        if workspaces:
            args += ["--workspaces", ",".join(workspaces)]
        for k, v in limits.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        return self.cli(*args)

    def scenario(self, owner_verbs="tickets:read tickets:note", agent_verbs="tickets:read refunds:issue"):
        """One owner, one workspace (owner a member), one agent: the common setup."""
        o = self.owner()
        ws = self.workspace()
        self.member(ws["id"], o["id"], owner_verbs)
        a = self.agent(o["id"], agent_verbs)
        return {"owner": o, "ws": ws, "agent": a, "id": a["client_id"], "secret": a["client_secret"]}

    def audit(self, *args):
        p = self.run("audit", *args, "--json")
        if p.returncode != 0:
            raise CliError(p.returncode, p.stderr)
        return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]

    def serve(self, *extra, wait=True):
        s = Server(self, list(extra))
        self.servers.append(s)
        if wait:
            s.wait_ready()
        return s

    def serve_nodes(self, n, *extra):
        """n servers on this one database, started together, all with the first one's
        issuer (the nodes of one deployment behind one name); returns them ready."""
        first = Server(self, list(extra))
        self.servers.append(first)
        nodes = [first] + [self.serve(*extra, "--issuer", first.base, wait=False) for _ in range(n - 1)]
        for s in nodes:
            s.wait_ready()
        return nodes

    def sql(self, query, params=()):
        """Runs one statement on the database, whichever the engine; `?` placeholders (and
        no other question mark) take params. Returns the rows as tuples of Python values (on PostgreSQL through JSON:
        numbers, strings, None, and bytea as bytes; give result columns distinct names).
        For tests that look at or set a row the product has no command for."""
        if not self.pg:
            con = sqlite3.connect(self.db, timeout=10)
            try:
                rows = con.execute(query, tuple(params)).fetchall()
                con.commit()
                return rows
            finally:
                con.close()
        parts = query.strip().rstrip(";").split("?")
        assert len(parts) == len(params) + 1, "placeholders and params differ: %r" % query
        text = parts[0] + "".join(sql_literal(v) + rest for v, rest in zip(params, parts[1:]))
        rows = re.match(r"\s*(SELECT|WITH|VALUES)\b", text, re.I) or re.search(r"\bRETURNING\b", text, re.I)
        if rows:
            text = "WITH t AS (%s) SELECT coalesce(json_agg(row_to_json(t)), '[]') FROM t" % text
        out = subprocess.run(["psql", self.db, "-qAtX", "-v", "ON_ERROR_STOP=1", "-c", text],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError("psql: " + out.stderr.strip())
        return [tuple(_pg_value(v) for v in r.values()) for r in json.loads(out.stdout)] if rows else []

    def dump(self):
        """Everything the database holds, as bytes: the SQLite file with its -wal and
        -journal, or PostgreSQL's data through pg_dump (bytea values decoded and appended)."""
        if not self.pg:
            out = b""
            for suffix in ("", "-wal", "-journal"):
                if os.path.exists(self.db + suffix):
                    with open(self.db + suffix, "rb") as f:
                        out += f.read()
            return out
        text = subprocess.run(["pg_dump", "--data-only", self.db], capture_output=True, check=True,
                              timeout=60).stdout
        return text + b"".join(bytes.fromhex(h.decode()) for h in re.findall(rb"\\\\x((?:[0-9a-f]{2})+)", text))

    def sql_columns(self, table):
        """The column names of table, in order, whichever the engine."""
        if not self.pg:
            return [r[1] for r in self.sql("PRAGMA table_info(%s)" % table)]
        return [r[0] for r in self.sql("SELECT column_name AS c FROM information_schema.columns WHERE table_name = ?"
                                       " ORDER BY ordinal_position", (table,))]

    def close(self):
        for s in self.servers:
            s.stop()
        if not os.environ.get("WARRANT_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.pg_name:
                try:
                    pg_admin('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % self.pg_name, self.pg)
                except subprocess.SubprocessError:
                    pass


class Server:
    def __init__(self, env, extra):
        self.env = env
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(env.dir, "serve-%d.log" % self.port)
        self.log = open(self.log_path, "wb")
        args = [BIN, "serve", "--db", env.db, "--listen", "127.0.0.1:%d" % self.port]
        if "--issuer" not in extra:
            args += ["--issuer", self.base]
        self.proc = subprocess.Popen(args + extra, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited %d: %s" % (self.proc.returncode, self.logs()))
            try:
                st, _, _ = self.request("GET", "/healthz")
                if st == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("server did not start: " + self.logs())

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def request(self, method, path, body=None, headers=None, timeout=10):
        """Returns (status, headers dict with lower-case names, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, str):
                body = body.encode()
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def get_json(self, path):
        st, h, b = self.request("GET", path)
        return st, h, json.loads(b) if b else None

    def post_form(self, path, fields, basic=None, headers=None, raw_auth=None):
        """fields: dict or list of (name, value) pairs. basic: (id, secret), encoded per
        RFC 6749 §2.3.1 (form-urlencoded inside Basic)."""
        body = urllib.parse.urlencode(fields)
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        if basic:
            h["Authorization"] = basic_header(*basic)
        if raw_auth:
            h["Authorization"] = raw_auth
        if headers:
            h.update(headers)
        st, hd, b = self.request("POST", path, body, h)
        try:
            obj = json.loads(b) if b else None
        except ValueError:
            obj = None
        return st, hd, obj

    def token(self, client_id, secret, **params):
        f = {"grant_type": "client_credentials"}
        f.update({k: v for k, v in params.items() if v is not None})
        return self.post_form("/token", f, basic=(client_id, secret))


def basic_header(cid, secret, form=True):
    q = urllib.parse.quote_plus if form else (lambda s: s)
    raw = ("%s:%s" % (q(cid), q(secret))).encode()
    return "Basic " + base64.b64encode(raw).decode()


def b64url_json(part):
    pad = "=" * (-len(part) % 4)
    return json.loads(base64.urlsafe_b64decode(part + pad))


def jwt_parts(token):
    h, p, _ = token.split(".")
    return b64url_json(h), b64url_json(p)


def module_env(state, setup):
    """The Env one test module shares, made on first use: setup(env, state) adds what the
    module needs (servers, resource servers...). A failed setup closes the env and leaves
    state empty, so the next test tries again. Returns state."""
    if not state:
        env = Env()
        state["env"] = env
        try:
            setup(env, state)
        except Exception:
            env.close()
            state.clear()
            raise
    return state


def close_module_env(state, keys=("env",)):
    """teardown_module's half of module_env: closes the envs under keys and forgets state."""
    for key in keys:
        env = state.get(key)
        if env:
            env.close()
    state.clear()


# ---- raw HTTP/1.1 over a socket: for requests no client library would send ----

def connect(port, source=None, timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def exchange(port, data, timeout=6.0, source=None):
    """Sends data, reads until the server closes or timeout; returns (bytes, closed)."""
    s = connect(port, source)
    out = b""
    closed = False
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may refuse before reading it all: read what it said
        deadline = time.time() + timeout
        while time.time() < deadline:
            r, _, _ = select.select([s], [], [], max(0.0, deadline - time.time()))
            if not r:
                break
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            out += d
    finally:
        s.close()
    return out, closed


def parse_responses(data):
    """Splits pipelined HTTP/1.1 responses: a list of (status, headers, body)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
        assert m, "not an HTTP response: %r" % data[:200]
        h = {}
        for l in lines[1:]:
            k, _, v = l.partition(b":")
            h[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        n = int(h.get("content-length", "0"))
        out.append((int(m.group(1)), h, rest[:n]))
        data = rest[n:]
    return out


# ---- a server over TLS ----

class TlsServer:
    """`warrant serve` over https with its default issuer (https://127.0.0.1:PORT): the
    Server above always passes an http:// issuer, which is what must not be needed here."""

    def __init__(self, env, cert, key, *extra):
        self.port = free_port()
        self.base = "https://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(env.dir, "tls-%d.log" % self.port)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([BIN, "serve", "--db", env.db, "--listen", "127.0.0.1:%d" % self.port,
                                      "--tls-cert", cert, "--tls-key", key] + list(extra),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.ctx = ssl.create_default_context(cafile=cert)
        deadline = time.time() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("TLS server exited %d: %s" % (self.proc.returncode, self.logs()))
            try:
                if self.request("GET", "/healthz", timeout=2)[0] == 200:
                    break
            except (OSError, ssl.SSLError, http.client.HTTPException):
                pass
            if time.time() > deadline:
                raise RuntimeError("TLS server did not start: " + self.logs())
            time.sleep(0.03)

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, headers=None, timeout=10):
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def get_json(self, path):
        st, h, b = self.request("GET", path)
        return st, h, json.loads(b)

    def post_form(self, path, fields, basic=None, raw_auth=None):
        """As Server.post_form: basic is (id, secret), raw_auth a whole header value."""
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        if basic:
            h["Authorization"] = basic_header(*basic)
        if raw_auth:
            h["Authorization"] = raw_auth
        st, h, b = self.request("POST", path, urllib.parse.urlencode(fields), h)
        return st, h, json.loads(b) if b else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def make_cert(folder):
    """A self-signed P-256 certificate for 127.0.0.1 in folder: (cert path, key path)."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return cert, key

"""test_ops.py - what an operator relies on: settings from a --config file, WARRANT_*
variables and flags (with --check-config); help texts; Prometheus /metrics; JSON request
logs with SIGHUP reopening; SIGTERM draining under load; online backup and restore; and
`make install` / `make uninstall` with DESTDIR and PREFIX.

Every server here is a real `warrant serve` on 127.0.0.1 (one test also binds a
non-loopback address of this machine, when it has one), stopped by its pid."""
import collections
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import tempfile
import threading
import time
import types

from harness import BIN, TMP_ROOT, Env, Server, basic_header, free_port, jwt_parts, sqlite_only

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

_state = {}


def teardown_module():
    for p in _state.pop("procs", []):
        p.stop()
    for env in _state.pop("envs", []):
        env.close()


def new_env():
    env = Env()
    _state.setdefault("envs", []).append(env)
    return env


# ---- helpers ----

def run(*args, env=None, cwd=None, stdin=None, timeout=60):
    e = dict(os.environ)
    for k in list(e):
        # the key file stays: on PostgreSQL every command needs it (harness.py)
        if k.startswith("WARRANT_") and k not in ("WARRANT_BIN", "WARRANT_TEST_TMP", "WARRANT_KEEP_TMP",
                                                  "WARRANT_KEY_FILE"):
            del e[k]
    if env:
        e.update(env)
    return subprocess.run([BIN] + list(args), capture_output=True, text=True, env=e, cwd=cwd,
                          input=stdin, timeout=timeout)


def wait_for(cond, timeout=3.0, step=0.05):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def secs_left_in_minute():
    return 60.0 - (time.time() % 60.0)


def get(port, path, headers=None, host="127.0.0.1", source=None):
    c = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0) if source else None)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


class Proc:
    """A `warrant serve` started with exactly the given arguments and environment (the
    harness's Server always passes --listen and --issuer flags, which would hide the
    configuration file and the environment)."""

    def __init__(self, args, env, port, logdir, host="127.0.0.1"):
        self.port, self.host = port, host
        self.log_path = os.path.join(logdir, "proc-%d.log" % port)
        self.log = open(self.log_path, "wb")
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("WARRANT_") and k not in ("WARRANT_BIN", "WARRANT_TEST_TMP", "WARRANT_KEY_FILE"):
                del e[k]
        e.update(env)
        self.proc = subprocess.Popen([BIN] + args, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        _state.setdefault("procs", []).append(self)

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited %d: %s" % (self.proc.returncode, self.logs()))
            try:
                if get(self.port, "/healthz", host=self.host)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError("server did not start: " + self.logs())

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def form_post(port, path, body, auth=None, timeout=10):
    h = {"Content-Type": "application/x-www-form-urlencoded"}
    if auth:
        h["Authorization"] = auth
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


# ---- Prometheus text format (exposition format 0.0.4) ----

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?[ \t]+(\S+)([ \t]+-?\d+)?$')
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"\s*(,|$)')


def parse_labels(s):
    out, pos = {}, 0
    while pos < len(s):
        m = LABEL_RE.match(s, pos)
        assert m and m.end() > pos, "bad label set %r" % s
        name, val = m.group(1), m.group(2)
        assert name not in out, "label %s repeated in %r" % (name, s)
        out[name] = val.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        pos = m.end()
    return out


def parse_value(v):
    if v in ("+Inf", "Inf"):
        return float("inf")
    if v == "-Inf":
        return float("-inf")
    if v == "NaN":
        return float("nan")
    return float(v)  # raises on anything else


class Metrics:
    """families: name -> type; samples: (name, frozenset(labels.items())) -> value."""

    def __init__(self, text):
        self.types, self.samples, self.order = {}, {}, []
        assert text.endswith("\n"), "exposition must end with a newline"
        seen_families, current = set(), None
        for line in text.split("\n")[:-1]:
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 2 and parts[1] == "TYPE":
                    assert len(parts) == 4, line
                    name, typ = parts[2], parts[3].strip()
                    assert typ in ("counter", "gauge", "histogram", "summary", "untyped"), line
                    assert name not in self.types, "second TYPE line for %s" % name
                    assert name not in seen_families, "TYPE of %s after its samples" % name
                    self.types[name] = typ
                elif len(parts) >= 2 and parts[1] == "HELP":
                    assert len(parts) >= 3, line
                continue
            m = SAMPLE_RE.match(line)
            assert m, "malformed sample line %r" % line
            name, labels, value = m.group(1), parse_labels(m.group(3) or ""), parse_value(m.group(4))
            family = self.family_of(name)
            assert family in self.types, "sample %s without a TYPE line" % name
            if family != current:
                assert family not in seen_families, "samples of %s are not contiguous" % family
                seen_families.add(family)
                current = family
            key = (name, frozenset(labels.items()))
            assert key not in self.samples, "duplicate sample %r" % line
            self.samples[key] = value
            self.order.append(key)

    def family_of(self, name):
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and self.types.get(base) == "histogram":
                return base
        return name

    def get(self, name, default=None, **labels):
        return self.samples.get((name, frozenset(labels.items())), default)

    def series(self, name):
        return {k[1]: v for k, v in self.samples.items() if k[0] == name}

    def histogram(self, name, **labels):
        """{le: cumulative count} in exposition order, plus (sum, count)."""
        buckets = []
        for (n, ls) in self.order:
            d = dict(ls)
            if n == name + "_bucket" and all(d.get(k) == v for k, v in labels.items()):
                buckets.append((parse_value(d["le"]), self.samples[(n, ls)]))
        return buckets, self.get(name + "_sum", **labels), self.get(name + "_count", **labels)


def hist_count(m, route):
    return m.get("warrant_http_request_duration_seconds_count", 0, route=route)


def scrape_until(port, cond, timeout=3.0):
    """Scrapes until cond(metrics) holds: a request is observed by the latency histogram
    when its connection completes, a moment after the client has its answer."""
    deadline = time.time() + timeout
    while True:
        m = scrape(port)
        if cond(m) or time.time() > deadline:
            return m
        time.sleep(0.05)


def scrape(port, token=None):
    h = {"Authorization": "Bearer " + token} if token else {}
    st, hd, body = get(port, "/metrics", headers=h)
    assert st == 200, (st, body)
    assert hd["content-type"].startswith("text/plain"), hd
    assert "version=0.0.4" in hd["content-type"], hd
    return Metrics(body.decode())


# ---- configuration ----

def test_check_config_shows_each_value_and_its_source_by_precedence():
    env = new_env()
    conf = os.path.join(env.dir, "warrant.conf")
    with open(conf, "w") as f:
        f.write("# settings for the test\n"
                "listen = 127.0.0.1:18081\n"
                "token-ttl = 120      # from the file, overridden by the environment\n"
                "leeway = 30\n"
                "timeout = 20\n"
                "max-body = 4096\n"
                "\n"
                "metrics-token = file-metrics-secret-1\n"
                "log-level = warn\n"
                "sync-full = true\n")
    p = run("serve", "--db", env.db, "--config", conf, "--leeway", "5", "--check-config",
            env={"WARRANT_TOKEN_TTL": "200", "WARRANT_LEEWAY": "10", "WARRANT_TIMEOUT": "25",
                 "WARRANT_JWKS_MAX_AGE": "120"})
    assert p.returncode == 0, p.stderr
    rows = {}
    for line in p.stdout.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^(\S+)\s+=\s?(.*?)\s+#\s+(\w+)$", line)
        assert m, "unparsable line %r" % line
        rows[m.group(1)] = (m.group(2).strip(), m.group(3))
    want = {
        "db": (env.db, "flag"),
        "leeway": ("5", "flag"),                 # flag > environment > file
        "token-ttl": ("200", "environment"),     # environment > file
        "timeout": ("25", "environment"),
        "jwks-max-age": ("120", "environment"),  # environment > default
        "listen": ("127.0.0.1:18081", "file"),   # file > default
        "max-body": ("4096", "file"),
        "log-level": ("warn", "file"),
        "sync-full": ("true", "file"),
        "issuer": ("http://127.0.0.1:18081", "default"),
        "audience": ("http://127.0.0.1:18081", "default"),
        "key-rotation": ("86400", "default"),
        "threads": ("0", "default"),
        "max-connections": ("4096", "default"),
        "max-per-ip": ("1024", "default"),
        "insecure-http": ("false", "default"),
        "metrics-token": ("********", "file"),
        "log-file": ("-", "default"),
        "audit-retention": ("400", "default"),
    }
    for k, v in want.items():
        assert rows.get(k) == v, (k, rows.get(k), v, p.stdout)
    for k in ("tls-cert", "tls-key"):
        assert rows.get(k, ("?", ""))[1] == "default", (k, rows.get(k))
    # the secret is masked everywhere
    assert "file-metrics-secret-1" not in p.stdout + p.stderr
    assert "database" in p.stdout and "opens" in p.stdout

    # WARRANT_CONFIG names the file when --config is absent; a flag still wins
    p = run("serve", "--db", env.db, "--token-ttl", "77", "--check-config",
            env={"WARRANT_CONFIG": conf, "WARRANT_METRICS_TOKEN": "env-metrics-secret-2"})
    assert p.returncode == 0, p.stderr
    assert re.search(r"^token-ttl\s+=\s+77\s+#\s+flag$", p.stdout, re.M), p.stdout
    assert re.search(r"^listen\s+=\s+127\.0\.0\.1:18081\s+#\s+file$", p.stdout, re.M), p.stdout
    assert re.search(r"^metrics-token\s+=\s+\*{8}\s+#\s+environment$", p.stdout, re.M), p.stdout
    assert "env-metrics-secret-2" not in p.stdout + p.stderr

    # nothing given: all defaults
    p = run("serve", "--db", env.db, "--check-config")
    assert p.returncode == 0, p.stderr
    assert re.search(r"^token-ttl\s+=\s+300\s+#\s+default$", p.stdout, re.M), p.stdout
    assert re.search(r"^listen\s+=\s+127\.0\.0\.1:8080\s+#\s+default$", p.stdout, re.M), p.stdout
    assert re.search(r"^metrics-token\s+=\s+#\s+default$", p.stdout, re.M), p.stdout


def test_unknown_key_and_bad_values_are_refused():
    env = new_env()
    conf = os.path.join(env.dir, "bad.conf")
    with open(conf, "w") as f:
        f.write("listen = 127.0.0.1:18082\n# fine so far\ntoken-tll = 300\n")
    p = run("serve", "--db", env.db, "--config", conf, "--check-config")
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "token-tll" in p.stderr and "bad.conf:3" in p.stderr, p.stderr
    assert p.stdout == "", p.stdout
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr

    cases = [
        # a bad number is named the way it was given
        (["--token-ttl", "3601"], {}, None, "--token-ttl must be"),
        ([], {"WARRANT_TOKEN_TTL": "3601"}, None, "WARRANT_TOKEN_TTL must be"),
        ([], {}, "token-ttl = 3601\n", "config key token-ttl must be"),
        (["--log-level", "loud"], {}, None, "log-level"),
        ([], {"WARRANT_LOG_LEVEL": "loud"}, None, "log-level"),
        ([], {}, "log-level = loud\n", "log-level"),
        ([], {}, "sync-full = maybe\n", "sync-full"),
        ([], {}, "listen\n", "key = value"),
        (["--leeway", "301"], {}, None, "leeway"),
        ([], {"WARRANT_AUDIT_RETENTION": "1"}, None, "audit-retention"),
        (["--wal-restart", "0"], {}, None, "--wal-restart must be a whole number from 1 to 4096"),
        ([], {}, "wal-restart = 4097\n", "config key wal-restart must be"),
        ([], {}, "issuer = ftp://example.com\n", "issuer"),
    ]
    for i, (flags, envv, text, needle) in enumerate(cases):
        args = ["serve", "--db", env.db] + flags
        if text is not None:
            path = os.path.join(env.dir, "case%d.conf" % i)
            with open(path, "w") as f:
                f.write(text)
            args += ["--config", path]
        p = run(*(args + ["--check-config"]), env=envv)
        assert p.returncode == 2, (flags, envv, text, p.returncode, p.stdout, p.stderr)
        assert needle in p.stderr, (flags, envv, text, p.stderr)
        assert p.stdout == "", p.stdout

    # a file that is not there
    p = run("serve", "--db", env.db, "--config", os.path.join(env.dir, "missing.conf"), "--check-config")
    assert p.returncode != 0 and "missing.conf" in p.stderr, p.stderr
    # and a bad value stops a real start too, before it listens
    port = free_port()
    p = run("serve", "--db", env.db, "--listen", "127.0.0.1:%d" % port, env={"WARRANT_TOKEN_TTL": "3601"},
            timeout=10)
    assert p.returncode != 0 and "WARRANT_TOKEN_TTL" in p.stderr, (p.returncode, p.stderr)


def test_a_server_started_from_a_config_file_uses_it():
    env = new_env()
    sc = env.scenario(owner_verbs="tickets:read", agent_verbs="tickets:read")
    port = free_port()
    conf = os.path.join(env.dir, "serve.conf")
    with open(conf, "w") as f:
        # the port in the file is overridden by WARRANT_LISTEN; a server that used it
        # would not answer on `port`
        f.write("listen = 127.0.0.1:%d\ntoken-ttl = 123\nthreads = 1\nlog-level = info\n" % free_port())
    srv = Proc(["serve", "--db", env.db, "--config", conf], {"WARRANT_LISTEN": "127.0.0.1:%d" % port},
               port, env.dir).wait_ready()
    try:
        st, _, body = form_post(port, "/token", "grant_type=client_credentials",
                                auth=basic_header(sc["id"], sc["secret"]))
        assert st == 200, body
        tok = json.loads(body)
        assert tok["expires_in"] == 123, tok
        _, claims = jwt_parts(tok["access_token"])
        assert claims["exp"] - claims["iat"] == 123, claims
        assert claims["iss"] == "http://127.0.0.1:%d" % port, claims  # issuer follows the listen address
        st, _, body = get(port, "/.well-known/oauth-authorization-server")
        assert json.loads(body)["issuer"] == "http://127.0.0.1:%d" % port
        # the log is written out by the housekeeping thread, every 250 ms
        deadline = time.time() + 3
        while True:
            listening = [json.loads(l) for l in srv.logs().splitlines() if '"listening"' in l]
            if listening or time.time() > deadline:
                break
            time.sleep(0.05)
        assert listening and listening[0]["threads"] == 1, srv.logs()
    finally:
        rc = srv.stop()
    assert rc == 0, srv.logs()


# ---- help ----

def command_words():
    p = run("--help")
    assert p.returncode == 0, p.stderr
    assert "usage:" in p.stdout
    words = []
    for line in p.stdout.splitlines():
        m = re.match(r"^  warrant ([a-z]+)", line)
        if m and m.group(1) not in words:
            words.append(m.group(1))
    return p.stdout, words


def test_help_for_every_command_shows_usage_and_an_example():
    top, words = command_words()
    for w in ("init", "serve", "org", "owner", "workspace", "member", "agent", "credential", "resource",
              "keys", "approval", "revoke", "backup", "restore", "audit"):
        assert w in words, (w, words)
    assert "--db PATH" in top and "--json" in top
    p = run("help")
    assert p.returncode == 0 and p.stdout == top, p.stderr
    for w in words:
        usage_lines = [l for l in top.splitlines() if l.startswith("  warrant %s" % w)]
        a, b = run("help", w), run(w, "--help")
        for p in (a, b):
            assert p.returncode == 0, (w, p.returncode, p.stderr)
            assert p.stderr == "", (w, p.stderr)
            text = p.stdout
            assert "\nusage:\n" in text, (w, text)
            guide, usage = text.split("\nusage:\n", 1)
            for l in usage_lines:
                assert l in usage, (w, l, usage)
            # a one-line description and at least one concrete example before the usage
            examples = [l for l in guide.splitlines()[1:] if ("warrant %s" % w) in l]
            assert examples, (w, guide)
            for ex in examples:
                assert "[" not in ex.split("warrant %s" % w, 1)[1], (w, ex)
        assert a.stdout == b.stdout, w
    p = run("frobnicate")
    assert p.returncode == 2 and "frobnicate" in p.stderr and p.stdout == "", (p.returncode, p.stderr)
    p = run("help", "frobnicate")
    assert p.returncode == 2 and "frobnicate" in p.stderr, (p.returncode, p.stderr)
    p = run("agent", "frobnicate")
    assert p.returncode == 2 and "agent frobnicate" in p.stderr, (p.returncode, p.stderr)
    p = run()
    assert p.returncode == 2 and "usage:" in p.stderr and p.stdout == ""


# ---- metrics ----

def test_metrics_counters_histogram_and_gauges_move_with_traffic():
    env = new_env()
    sc = env.scenario(owner_verbs="tickets:read tickets:note", agent_verbs="tickets:read refunds:issue")
    limited = env.agent(sc["owner"]["id"], "tickets:read", name="limited", per_minute=1)
    rs = env.cli("resource", "add", "metrics-rs")
    srv = env.serve("--key-rotation", "7200")
    rs_auth = basic_header(rs["client_id"], rs["client_secret"])

    st, _, body = srv.token(sc["id"], sc["secret"])
    assert st == 200, body
    m1 = scrape_until(srv.port, lambda m: hist_count(m, "/token") >= 1)
    assert m1.types.get("warrant_tokens_issued_total") == "counter"
    assert m1.types.get("warrant_http_request_duration_seconds") == "histogram"
    for g in ("warrant_signing_key_age_seconds", "warrant_signing_key_next_rotation_seconds",
              "warrant_credential_grace_windows_open", "warrant_audit_writer_queue"):
        assert m1.types.get(g) == "gauge", (g, m1.types.get(g))
    issued1 = m1.get("warrant_tokens_issued_total")
    assert issued1 == 1, issued1
    tok1 = m1.histogram("warrant_http_request_duration_seconds", route="/token")
    assert tok1[2] == 1, tok1

    # traffic between two scrapes, and exactly how much of each
    if secs_left_in_minute() < 4:
        time.sleep(secs_left_in_minute() + 0.2)
    tokens = []
    for _ in range(3):
        st, _, body = srv.token(sc["id"], sc["secret"])
        assert st == 200, body
        tokens.append(body["access_token"])
    st, _, body = srv.token(sc["id"], "wsk_" + "A" * 43)
    assert st == 401, body
    st, _, body = srv.token(sc["id"], "wsk_" + "B" * 43)
    assert st == 401, body
    st, _, body = srv.token(sc["id"], sc["secret"], scope="refunds:issue")
    assert st == 400 and body["error"] == "invalid_scope", body
    st, _, body = srv.token(limited["client_id"], limited["client_secret"])
    assert st == 200, body
    st, hd, body = srv.token(limited["client_id"], limited["client_secret"])
    assert st == 429 and body["error"] == "rate_limited" and int(hd["retry-after"]) >= 1, (st, body)
    for t, want in ((tokens[0], True), (tokens[1], True), ("not.a.token", False)):
        st, _, body = srv.post_form("/introspect", {"token": t}, raw_auth=rs_auth)
        assert st == 200 and body["active"] is want, body
    st, _, body = srv.post_form("/revoke", {"token": tokens[2]}, basic=(sc["id"], sc["secret"]))
    assert st == 200, body
    st, _, body = srv.post_form("/revoke", {"token": "garbage"}, basic=(sc["id"], sc["secret"]))
    assert st == 200, body  # nothing revoked: not counted
    st, _, body = srv.post_form("/introspect", {"token": tokens[2]}, raw_auth=rs_auth)
    assert st == 200 and body == {"active": False}, body
    for _ in range(4):
        assert srv.request("GET", "/healthz")[0] == 200
    grace_before = m1.get("warrant_credential_grace_windows_open")
    rot = env.cli("agent", "rotate", sc["id"], "--grace", "60")
    assert rot["old_expires_at"], rot

    m2 = scrape_until(srv.port, lambda m: hist_count(m, "/token") >= hist_count(m1, "/token") + 8 and
                      hist_count(m, "/healthz") >= hist_count(m1, "/healthz") + 4 and
                      hist_count(m, "/revoke") >= 2 and hist_count(m, "/introspect") >= 4)
    assert m2.get("warrant_tokens_issued_total") - issued1 == 4, m2.get("warrant_tokens_issued_total")
    refused = {dict(k)["reason"]: v for k, v in m2.series("warrant_tokens_refused_total").items()}
    refused1 = {dict(k)["reason"]: v for k, v in m1.series("warrant_tokens_refused_total").items()}
    assert refused.get("bad_secret", 0) - refused1.get("bad_secret", 0) == 2, refused
    assert refused.get("scope_not_allowed", 0) - refused1.get("scope_not_allowed", 0) == 1, refused
    assert "rate_limited" not in refused and "quota_minute" not in refused, refused
    assert m2.get("warrant_rate_limited_total", 0) - m1.get("warrant_rate_limited_total", 0) == 1
    assert m2.get("warrant_introspections_total", 0, result="active") == 2 + \
        m1.get("warrant_introspections_total", 0, result="active")
    assert m2.get("warrant_introspections_total", 0, result="inactive") == 2 + \
        m1.get("warrant_introspections_total", 0, result="inactive")
    assert m2.get("warrant_revocations_total", 0) - m1.get("warrant_revocations_total", 0) == 1
    assert m2.get("warrant_credential_grace_windows_open") == grace_before + 1, \
        m2.get("warrant_credential_grace_windows_open")
    assert m2.get("warrant_audit_writer_queue") >= 0

    # the latency histogram: cumulative, monotone, count == +Inf bucket, per route
    routes = set()
    for (name, labels) in m2.samples:
        if name == "warrant_http_request_duration_seconds_bucket":
            routes.add(dict(labels)["route"])
    assert {"/token", "/introspect", "/revoke", "/healthz", "/metrics"} <= routes, routes
    for route in routes:
        buckets, total, count = m2.histogram("warrant_http_request_duration_seconds", route=route)
        les = [le for le, _ in buckets]
        assert les == sorted(les) and les[-1] == float("inf"), (route, les)
        assert len(set(les)) == len(les), les
        counts = [c for _, c in buckets]
        assert all(a <= b for a, b in zip(counts, counts[1:])), (route, counts)
        assert counts[-1] == count, (route, counts, count)
        assert total >= 0 and (count == 0 or total > 0), (route, total)
    b1, _, c1 = m1.histogram("warrant_http_request_duration_seconds", route="/token")
    b2, _, c2 = m2.histogram("warrant_http_request_duration_seconds", route="/token")
    assert c2 - c1 == 8, (c1, c2)  # 3 issued + 2 bad secret + 1 bad scope + 1 + 1 rate limited
    assert all(y >= x for (_, x), (_, y) in zip(b1, b2)), (b1, b2)
    _, _, h1 = m1.histogram("warrant_http_request_duration_seconds", route="/healthz")
    _, _, h2 = m2.histogram("warrant_http_request_duration_seconds", route="/healthz")
    assert (h2 or 0) - (h1 or 0) == 4, (h1, h2)
    assert m2.get("warrant_http_responses_total", route="/token", code="4xx") - \
        m1.get("warrant_http_responses_total", 0, route="/token", code="4xx") == 4

    # gauges read now: the key's age and the next scheduled rotation (--key-rotation 7200)
    keys = env.cli("keys", "list")
    cur = [k for k in keys if k["state"] == "current"][0]
    activated = time.mktime(time.strptime(cur["activated_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    age = m2.get("warrant_signing_key_age_seconds")
    assert abs(age - (time.time() - activated)) <= 3, (age, cur)
    nxt = m2.get("warrant_signing_key_next_rotation_seconds")
    assert abs(nxt - (7200 - age)) <= 2, (nxt, age)
    srv.stop()


def test_metrics_token_is_required_when_configured():
    env = new_env()
    srv = env.serve("--metrics-token", "scrape-me-7f3a")
    for hdr in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer scrape-me-7f3a "},
                {"Authorization": "Basic c2NyYXBlLW1lLTdmM2E6"}, {"Authorization": "bearer scrape-me-7f3a"}):
        st, h, body = get(srv.port, "/metrics", headers=hdr)
        assert st == 401, (hdr, st, body)
        assert json.loads(body)["error"] == "invalid_token", body
        assert b"warrant_" not in body
    st, h, body = get(srv.port, "/metrics", headers={"Authorization": "Bearer scrape-me-7f3a"})
    assert st == 200, body
    Metrics(body.decode())
    assert "scrape-me-7f3a" not in srv.logs()
    srv.stop()


def non_loopback_address():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("192.0.2.123", 9))
        addr = s.getsockname()[0]
        s.close()
    except OSError:
        return None
    return None if addr.startswith("127.") else addr


def test_metrics_are_loopback_only_without_a_token():
    addr = non_loopback_address()
    if not addr:
        print("    (no non-loopback IPv4 address: skipped)")
        return
    env = new_env()
    for extra, want in (([], 403), (["--metrics-token", "t0k3n-for-remote"], 200)):
        port = free_port()
        srv = Proc(["serve", "--db", env.db, "--listen", "%s:%d" % (addr, port), "--insecure-http"] + extra, {},
                   port, env.dir, host=addr).wait_ready()
        try:
            hdr = {"Authorization": "Bearer t0k3n-for-remote"} if extra else {}
            st, _, body = get(port, "/metrics", headers=hdr, host=addr)
            assert st == want, (extra, st, body)
            if want == 403:
                assert json.loads(body)["error"] == "access_denied", body
        finally:
            rc = srv.stop()
        assert rc == 0, srv.logs()


# ---- logs ----

def read_json_lines(path):
    with open(path) as f:
        text = f.read()
    out = []
    for line in text.splitlines():
        obj = json.loads(line)  # every line is one JSON object
        assert isinstance(obj, dict), line
        out.append(obj)
    assert text == "" or text.endswith("\n")
    return out


def test_request_log_lines_match_headers_and_audit_rows_and_reopen_on_sighup():
    env = new_env()
    sc = env.scenario(owner_verbs="tickets:read", agent_verbs="tickets:read")
    rs = env.cli("resource", "add", "log-rs")
    log = os.path.join(env.dir, "requests.log")
    srv = env.serve("--log-file", log, "--metrics-token", "log-metrics-tok")
    sent = []  # (method, route, status, request id, agent id or "")
    st, hd, body = srv.token(sc["id"], sc["secret"])
    assert st == 200, body
    tok = body["access_token"]
    sent.append(("POST", "/token", 200, hd["x-request-id"], sc["id"]))
    st, hd, body = srv.token(sc["id"], "wsk_" + "a" * 43)  # a known agent's refusal: a row of its own
    assert st == 401, body
    sent.append(("POST", "/token", 401, hd["x-request-id"], None))
    st, hd, body = srv.post_form("/introspect", {"token": tok}, basic=(rs["client_id"], rs["client_secret"]))
    assert st == 200 and body["active"], body
    sent.append(("POST", "/introspect", 200, hd["x-request-id"], None))
    st, hd, _ = srv.request("GET", "/jwks")
    sent.append(("GET", "/jwks", 200, hd["x-request-id"], ""))
    st, hd, _ = srv.request("GET", "/no-such-thing")
    assert st == 404
    sent.append(("GET", "other", 404, hd["x-request-id"], ""))
    st, hd, _ = srv.request("GET", "/metrics", headers={"Authorization": "Bearer log-metrics-tok"})
    assert st == 200
    sent.append(("GET", "/metrics", 200, hd["x-request-id"], ""))
    ids = [s[3] for s in sent]
    assert len(set(ids)) == len(ids) and all(re.match(r"^[0-9a-f]{24}$", i) for i in ids), ids

    def lines():
        return [l for l in read_json_lines(log) if l.get("msg") == "request"]
    assert wait_for(lambda: len(lines()) >= len(sent), 3), lines()
    by_id = {l["request_id"]: l for l in lines()}
    for method, route, status, rid, agent in sent:
        l = by_id.get(rid)
        assert l, (rid, lines())
        for k in ("time", "level", "msg", "method", "route", "status", "latency_ms", "client_addr", "agent_id",
                  "request_id"):
            assert k in l, (k, l)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", l["time"]), l
        assert l["level"] == "info" and l["method"] == method and l["route"] == route, l
        assert l["status"] == status and l["client_addr"] == "127.0.0.1", l
        assert isinstance(l["latency_ms"], (int, float)) and 0 <= l["latency_ms"] < 5000, l
        if agent is not None:
            assert l["agent_id"] == agent, (l, agent)

    # the request id of /token is the request_id of its audit row
    rows = env.audit("--agent", sc["id"])
    issued = [r for r in rows if r["event"] == "token.issued"]
    assert len(issued) == 1 and issued[0]["request_id"] == sent[0][3], issued
    refused = [r for r in env.audit() if r["event"] == "token.refused"]
    assert [r["request_id"] for r in refused] == [sent[1][3]], refused
    intro = [r for r in env.audit() if r["event"] == "token.introspected"]
    assert [r["request_id"] for r in intro] == [sent[2][3]], intro

    # nothing secret in the log
    with open(log) as f:
        text = f.read()
    for secret in (sc["secret"], rs["client_secret"], tok, tok.split(".")[2], "log-metrics-tok"):
        assert secret not in text, secret
    assert stat.S_IMODE(os.stat(log).st_mode) & 0o077 == 0, oct(os.stat(log).st_mode)

    # logrotate: rename, SIGHUP, and the server writes to a new file at the old path
    rotated = log + ".1"
    os.rename(log, rotated)
    os.kill(srv.pid, signal.SIGHUP)
    assert wait_for(lambda: os.path.exists(log), 3), "no new log file after SIGHUP"
    st, hd, _ = srv.request("GET", "/healthz")
    rid = hd["x-request-id"]
    assert wait_for(lambda: any(l["request_id"] == rid for l in lines()), 3), read_json_lines(log)
    assert not any(l.get("request_id") == rid for l in read_json_lines(rotated))
    assert any(l["msg"] == "log reopened" and l["ok"] is True for l in read_json_lines(log)), read_json_lines(log)
    assert srv.stop() == 0
    tail = read_json_lines(log)
    assert [l["msg"] for l in tail][-2:] == ["draining", "stopped"], tail

    # --log-level warn: no request lines
    quiet = os.path.join(env.dir, "quiet.log")
    srv = env.serve("--log-file", quiet, "--log-level", "warn")
    assert srv.token(sc["id"], sc["secret"])[0] == 200
    assert srv.request("GET", "/healthz")[0] == 200
    time.sleep(0.6)  # longer than the 250 ms flush interval
    assert srv.stop() == 0
    assert not [l for l in read_json_lines(quiet) if l["level"] in ("debug", "info")], read_json_lines(quiet)


# ---- SIGTERM ----

class Load:
    """Threads that ask for tokens continuously, each request on a new connection."""

    def __init__(self, srv, sc, threads=6):
        self.port = srv.port
        self.auth = basic_header(sc["id"], sc["secret"])
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.jtis, self.statuses, self.errors = [], collections.Counter(), []
        self.refused = 0
        self.threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def worker(self):
        while not self.stop.is_set():
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            connected = None
            try:
                c.connect()
                connected = time.time()
                c.request("POST", "/token", body="grant_type=client_credentials",
                          headers={"Content-Type": "application/x-www-form-urlencoded", "Authorization": self.auth})
                r = c.getresponse()
                body = r.read()
                with self.lock:
                    self.statuses[r.status] += 1
                    if r.status == 200:
                        self.jtis.append(jwt_parts(json.loads(body)["access_token"])[1]["jti"])
            except ConnectionRefusedError:
                with self.lock:
                    self.refused += 1
                time.sleep(0.005)
            except Exception as e:  # reset, closed mid-way, timeout
                with self.lock:
                    self.errors.append((type(e).__name__, connected))
            finally:
                c.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)


def sigterm_under_load(env, sc):
    """One round: a server under load gets SIGTERM. Returns what went wrong (a list)."""
    before = {r["jti"] for r in env.audit("--agent", sc["id"], "--since", "%dm" % 5) if r["event"] == "token.issued"}
    srv = env.serve()
    load = Load(srv, sc)
    assert wait_for(lambda: len(load.jtis) >= 300, 10), load.statuses
    t0 = time.time()
    os.kill(srv.pid, signal.SIGTERM)
    rc = srv.proc.wait(10)
    took = time.time() - t0
    time.sleep(0.2)
    load.finish()
    load_errors = collections.Counter(e[0] for e in load.errors)
    assert rc == 0, "exit status %s after SIGTERM under load (%s): %s" % (
        rc, dict(load_errors), "\n".join(l for l in srv.logs().splitlines() if not l.startswith("{")))
    assert took < 5.5, took
    # a request that reaches an open connection once the drain began is answered 503 with
    # Retry-After (nothing issued); everything else gets its token
    assert set(load.statuses) <= {200, 503} and load.statuses[200] > 0, load.statuses
    problems = []

    # every token a client received has its token.issued row
    rows = env.audit("--agent", sc["id"], "--since", "%dm" % 5)
    issued = {r["jti"] for r in rows if r["event"] == "token.issued"}
    got = set(load.jtis)
    assert len(got) == len(load.jtis), "a jti was issued twice"
    assert got <= issued, ("tokens without an audit row", list(got - issued)[:5])
    logs = [json.loads(l) for l in srv.logs().splitlines() if l.startswith("{")]
    msgs = [l["msg"] for l in logs if l.get("msg") != "request"]
    assert msgs[-2:] == ["draining", "stopped"], msgs
    stopped = [l for l in logs if l.get("msg") == "stopped"][0]
    reqs = [l for l in logs if l.get("msg") == "request" and l["route"] == "/token"]
    # every request the server began was answered: a status for each, none cut off
    cut = [l for l in reqs if l["status"] not in (200, 503) or l.get("aborted")]
    if cut:
        problems.append("requests cut off mid-way by the shutdown: %s" % cut[:3])
    # no token was issued (and audited) that its client never received (the writer's other
    # jobs, such as the audit checkpoint signed at shutdown, are not tokens)
    undelivered = issued - before - got
    if undelivered:
        problems.append("%d tokens issued and audited but never delivered (%d received, writer jobs %d)"
                        % (len(undelivered), len(got), stopped["writer_jobs"]))
    # a client that connected well before SIGTERM and got no answer was dropped in flight
    # (connections made around and after it are test_sigterm_refuses_new_connections_...)
    dropped = [e for e in load.errors if e[1] is not None and e[1] < t0 - 0.05]
    if dropped:
        problems.append("connections dropped in flight: %s" % dropped[:3])
    return problems


def test_sigterm_under_load_answers_in_flight_requests_and_commits_their_audit_rows():
    env = new_env()
    sc = env.scenario(owner_verbs="tickets:read", agent_verbs="tickets:read")
    problems = []
    for _ in range(3):  # the window for a request to be cut off is short: look three times
        problems += sigterm_under_load(env, sc)
    assert not problems, problems


def test_the_write_ahead_log_starts_over_under_sustained_load():
    """Without a checkpoint the writer completes itself, SQLite never reuses the -wal file
    while commits keep coming, and it grows by every page ever written."""
    sqlite_only("SQLite's write-ahead log file and its restarts")
    env = new_env()
    sc = env.scenario(owner_verbs="tickets:read", agent_verbs="tickets:read")
    other = env.agent(sc["owner"]["id"], "tickets:read", name="other")
    rs = env.cli("resource", "add", "wal-rs")
    srv = env.serve("--wal-restart", "1")
    wal_inode = lambda: os.stat(env.db + "-wal").st_ino if os.path.exists(env.db + "-wal") else None
    first_inode = wal_inode()
    load = Load(srv, sc)
    try:
        # each committed batch writes at least seven pages (the audit table and its four
        # indexes, the token ledger and its index): 2000 batches are 56 MiB of log if it
        # never started over
        m = scrape_until(srv.port, lambda m: m.get("warrant_wal_restarts_total", 0) >= 3 and
                         m.get("warrant_audit_writer_batches_total", 0) >= 2000, 90)
        assert m.get("warrant_wal_restarts_total") >= 3 and m.get("warrant_audit_writer_batches_total") >= 2000, (
            m.get("warrant_wal_restarts_total"), m.get("warrant_audit_writer_batches_total"), load.statuses)
        # other processes open and close the database meanwhile: none may take the server's
        # log away (a process that believes it is the last one checkpoints and deletes it)
        # and their writes reach the running server
        st, _, body = srv.token(other["client_id"], other["client_secret"])
        assert st == 200, body
        tok = body["access_token"]
        for _ in range(5):
            env.cli("agent", "list")
        env.cli("revoke", "--agent", other["id"])
        assert wal_inode() == first_inode, "the -wal file was deleted or replaced under the server"
        auth = basic_header(rs["client_id"], rs["client_secret"])
        assert wait_for(lambda: srv.post_form("/introspect", {"token": tok}, raw_auth=auth)[2] == {"active": False},
                        1.0), "a revocation from the command line did not reach the server within a second"
    finally:
        load.finish()
    wal = os.path.getsize(env.db + "-wal")
    assert wal < 8 << 20, "the -wal file is %d bytes after %s commits" % (wal, m.get("warrant_audit_writer_batches_total"))
    # the writer checkpoints unasked at four times --wal-restart (256 pages of 4 KiB here), a
    # restart's worth later when a reader (the command line above) held it back, and a batch
    # may add its pages first: at most about five times, never growing without bound
    assert 0 <= m.get("warrant_wal_frames") < 6 * 256, m.get("warrant_wal_frames")
    assert set(load.statuses) == {200}, load.statuses
    assert srv.stop() == 0
    con = sqlite3.connect("file:%s?mode=ro" % env.db, uri=True)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        issued = {r[0] for r in con.execute("SELECT jti FROM audit_events WHERE event = 'token.issued'")}
    finally:
        con.close()
    assert set(load.jtis) <= issued, "tokens without an audit row after the log started over"
    stopped = [json.loads(l) for l in srv.logs().splitlines() if l.startswith("{") and '"stopped"' in l][-1]
    assert stopped["wal_restarts"] >= 3, stopped


def test_a_long_reader_delays_the_start_over_and_it_resumes_after():
    """A snapshot held open by another process keeps SQLite from reusing the log; the server
    goes on answering, and starts the log over once the reader is gone."""
    sqlite_only("SQLite's write-ahead log file and a reader of the file")
    env = new_env()
    sc = env.scenario(owner_verbs="tickets:read", agent_verbs="tickets:read")
    srv = env.serve("--wal-restart", "1")
    load = Load(srv, sc)
    reader = sqlite3.connect("file:%s?mode=ro" % env.db, uri=True, isolation_level=None)
    try:
        assert scrape_until(srv.port, lambda m: m.get("warrant_wal_restarts_total", 0) >= 1, 60).get(
            "warrant_wal_restarts_total") >= 1
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM audit_events").fetchone()  # holds this snapshot
        held = scrape(srv.port).get("warrant_wal_restarts_total")
        before = len(load.jtis)
        # 1 MiB of log is 256 pages; past four times that the writer tries by itself
        m = scrape_until(srv.port, lambda m: m.get("warrant_wal_frames", 0) > 6 * 256, 60)
        assert m.get("warrant_wal_frames") > 6 * 256, m.get("warrant_wal_frames")
        assert m.get("warrant_wal_restarts_total") <= held + 1, (held, m.get("warrant_wal_restarts_total"))
        assert len(load.jtis) > before and set(load.statuses) == {200}, load.statuses
        reader.execute("COMMIT")
        m = scrape_until(srv.port, lambda m: m.get("warrant_wal_restarts_total", 0) >= held + 2 and
                         m.get("warrant_wal_frames", 1 << 30) < 4 * 256, 60)
        assert m.get("warrant_wal_restarts_total") >= held + 2 and m.get("warrant_wal_frames") < 4 * 256, (
            held, m.get("warrant_wal_restarts_total"), m.get("warrant_wal_frames"))
    finally:
        reader.close()
        load.finish()
    assert srv.stop() == 0


def test_sigterm_refuses_new_connections_while_it_drains():
    """While an in-flight request keeps the server draining, a new connection must be
    refused (or answered), not accepted and then reset when the process exits."""
    env = new_env()
    srv = env.serve("--threads", "1")
    slow = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    slow.sendall(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 40\r\n\r\ngrant_type=client_")
    time.sleep(0.3)
    os.kill(srv.pid, signal.SIGTERM)
    time.sleep(0.3)
    outcome = None
    try:
        n = socket.create_connection(("127.0.0.1", srv.port), timeout=8)
        n.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        # finish the in-flight request: the server answers it, then exits
        slow.sendall(b"credentials&scope=x:yyy")
        answer = slow.recv(4096)
        assert answer.startswith(b"HTTP/1.1 "), answer
        try:
            data = n.recv(4096)
            outcome = "answered" if data.startswith(b"HTTP/1.1 200") else "closed without an answer (%r)" % data[:30]
        except ConnectionResetError:
            outcome = "accepted during the drain, then reset"
        n.close()
    except ConnectionRefusedError:
        outcome = "refused"
        slow.sendall(b"credentials&scope=x:yyy")
        assert slow.recv(4096).startswith(b"HTTP/1.1 ")
    slow.close()
    assert srv.proc.wait(10) == 0
    assert outcome in ("refused", "answered"), \
        "a connection made during the drain was %s (the listening socket stays open after SIGTERM)" % outcome


# ---- backup and restore ----

def integrity(path):
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return c.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        c.close()


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_backup_under_load_then_serve_and_restore_the_copy():
    sqlite_only("`warrant backup` and `restore` copy the SQLite file (PostgreSQL has pg_dump)")
    load_threads = 4
    env = new_env()
    sc = env.scenario(owner_verbs="tickets:read", agent_verbs="tickets:read")
    other = env.agent(sc["owner"]["id"], "tickets:read", name="second")
    srv = env.serve()
    load = Load(srv, sc, threads=load_threads)
    try:
        assert wait_for(lambda: len(load.jtis) >= 200, 10), load.statuses
        copy = os.path.join(env.dir, "backup.db")
        p = env.run("backup", "--to", copy, "--json")
        n_at_backup = len(load.jtis)
        assert wait_for(lambda: len(load.jtis) >= n_at_backup + 100, 10)
    finally:
        load.finish()
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["id"] == copy and out["from"] == env.db and out["bytes"] == os.path.getsize(copy), out
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600, oct(os.stat(copy).st_mode)
    assert integrity(copy) == "ok"
    assert not os.path.exists(copy + "-wal")
    # a consistent snapshot: the tokens of the backup are a prefix of what was issued
    p2 = run("audit", "--db", copy, "--agent", sc["id"], "--json")
    assert p2.returncode == 0, p2.stderr
    in_copy = [json.loads(l)["jti"] for l in p2.stdout.splitlines() if '"token.issued"' in l]
    assert 0 < len(in_copy) <= len(load.jtis), (len(in_copy), len(load.jtis))
    assert set(in_copy) <= set(load.jtis), "the backup holds tokens no client received"
    in_db = [r["jti"] for r in env.audit("--agent", sc["id"]) if r["event"] == "token.issued"]
    assert in_db[:len(in_copy)] == in_copy, "the backup is not a prefix of the database's history"
    # a second copy may not overwrite the first
    p = env.run("backup", "--to", copy)
    assert p.returncode == 1 and "exists" in p.stderr, p.stderr

    # a second server on the copy serves the same agents with the same keys
    shim = types.SimpleNamespace(db=copy, dir=env.dir, servers=[])
    srv2 = Server(shim, [])
    try:
        srv2.wait_ready()
        for a_id, a_secret in ((sc["id"], sc["secret"]), (other["client_id"], other["client_secret"])):
            st, _, body = srv2.token(a_id, a_secret)
            assert st == 200, body
            assert jwt_parts(body["access_token"])[1]["sub"] == a_id
        _, _, j1 = srv.get_json("/jwks")
        _, _, j2 = srv2.get_json("/jwks")
        assert sorted(k["kid"] for k in j1["keys"]) == sorted(k["kid"] for k in j2["keys"]), (j1, j2)
        assert sorted(json.dumps(k, sort_keys=True) for k in j1["keys"]) == \
            sorted(json.dumps(k, sort_keys=True) for k in j2["keys"])
    finally:
        assert srv2.stop() == 0
        srv.stop()

    # restore into a new path, with and without --force
    target = os.path.join(env.dir, "restored.db")
    p = run("restore", "--from", copy, "--db", target, "--force", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["id"] == target
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert integrity(target) == "ok"
    keys = run("keys", "list", "--db", target, "--json")
    keys_copy = run("keys", "list", "--db", copy, "--json")
    assert keys.returncode == 0 and keys.stdout == keys_copy.stdout, (keys.stderr, keys.stdout)
    agents = [json.loads(l)["id"] for l in run("agent", "list", "--db", target).stdout.splitlines()]
    assert sc["id"] in agents and other["client_id"] in agents, agents

    before = sha(target)
    p = run("restore", "--from", env.db, "--db", target)
    assert p.returncode == 1 and "--force" in p.stderr, (p.returncode, p.stderr)
    assert sha(target) == before
    fresh = os.path.join(env.dir, "fresh.db")
    p = run("restore", "--from", copy, "--db", fresh)
    assert p.returncode == 0 and integrity(fresh) == "ok", p.stderr
    # a file that is not a database is refused and nothing is created
    junk = os.path.join(env.dir, "junk.db")
    with open(junk, "w") as f:
        f.write("not a database\n" * 100)
    p = run("restore", "--from", junk, "--db", os.path.join(env.dir, "never.db"))
    assert p.returncode != 0 and not os.path.exists(os.path.join(env.dir, "never.db")), p.stderr


# ---- make install ----

def test_make_install_and_uninstall_with_destdir_and_prefix():
    if not shutil.which("make"):
        print("    (no make: skipped)")
        return
    work = tempfile.mkdtemp(prefix="install-", dir=TMP_ROOT)
    try:
        # Stage the tree's Makefile and docs with the binary under test as build/warrant:
        # the install target installs $(BUILD)/warrant; -o keeps make from rebuilding it.
        stage = os.path.join(work, "src")
        os.makedirs(os.path.join(stage, "docs"))
        shutil.copy(os.path.join(REPO, "Makefile"), stage)
        for f in ("warrant.1", "warrant.service", "warrant.conf.example"):
            shutil.copy(os.path.join(REPO, "docs", f), os.path.join(stage, "docs", f))
        os.makedirs(os.path.join(stage, "build"))
        shutil.copy(BIN, os.path.join(stage, "build", "warrant"))
        dest = os.path.join(work, "dest")
        menv = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        p = subprocess.run(["make", "-s", "-o", "build/warrant", "install", "DESTDIR=" + dest, "PREFIX=/usr"],
                           cwd=stage, capture_output=True, text=True, timeout=60, env=menv)
        assert p.returncode == 0, p.stdout + p.stderr
        want = {
            "usr/bin/warrant": 0o755,
            "usr/share/man/man1/warrant.1": 0o644,
            "usr/share/doc/warrant/warrant.service": 0o644,
            "usr/share/doc/warrant/warrant.conf.example": 0o644,
        }
        for rel, mode in want.items():
            path = os.path.join(dest, rel)
            assert os.path.isfile(path), rel
            assert stat.S_IMODE(os.stat(path).st_mode) == mode, (rel, oct(os.stat(path).st_mode))
        assert sha(os.path.join(dest, "usr/bin/warrant")) == sha(BIN)
        p = subprocess.run([os.path.join(dest, "usr/bin/warrant"), "--help"], capture_output=True, text=True)
        assert p.returncode == 0 and "usage:" in p.stdout
        # the man page renders without a warning
        man = os.path.join(dest, "usr/share/man/man1/warrant.1")
        if shutil.which("groff"):
            p = subprocess.run(["groff", "-man", "-ww", "-z", man], capture_output=True, text=True, timeout=60)
            assert p.returncode == 0 and p.stderr == "", p.stderr
        if shutil.which("man"):
            p = subprocess.run(["man", "--warnings", "-l", man], capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80"))
            assert p.returncode == 0 and p.stderr == "", p.stderr
            for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT", "FILES", "EXIT STATUS",
                            "SIGNALS", "EXAMPLES", "SEE ALSO"):
                assert re.search(r"^%s$" % section, p.stdout, re.M), section
            for word in ("--check-config", "WARRANT_DB", "WARRANT_CONFIG", "WARRANT_TOKEN_TTL", "SIGHUP", "SIGTERM"):
                assert word in p.stdout, word
            # every command and every option of `warrant --help` is in the page
            top, words = command_words()
            for w in words:
                assert "warrant %s" % w in p.stdout, w
            for opt in sorted(set(re.findall(r"--[a-z][a-z-]+", top))):
                assert opt in p.stdout, opt
        p = subprocess.run(["make", "-s", "uninstall", "DESTDIR=" + dest, "PREFIX=/usr"], cwd=stage,
                           capture_output=True, text=True, timeout=60, env=menv)
        assert p.returncode == 0, p.stdout + p.stderr
        for rel in want:
            assert not os.path.exists(os.path.join(dest, rel)), rel
        assert not os.path.exists(os.path.join(dest, "usr/share/doc/warrant"))
    finally:
        if not os.environ.get("WARRANT_KEEP_TMP"):
            shutil.rmtree(work, ignore_errors=True)

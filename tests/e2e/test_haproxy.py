"""test_haproxy.py - three `warrant serve` nodes on one PostgreSQL database behind Debian's
HAProxy, configured by docs/examples/haproxy.cfg itself (addresses, ports and paths put in
place of the example's): tokens issued through the balancer are active everywhere, a
revocation is seen by every node within a second, the balancer's URL is the issuer of all,
a node killed with SIGKILL is taken out while requests keep succeeding, and with the
database away the nodes answer for themselves through the balancer. PostgreSQL only
(WARRANT_TEST_PG)."""
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

import jwt

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "docs", "examples", "haproxy.cfg")
# the health check's pace in the example (inter 1s fall 2): a dead node is out within two
# checks, plus one interval for the check that was under way
DOWN_BOUND_S = 3.0
CLIENTS = 4  # keep-alive connections issuing tokens through the balancer while a node dies


def render(example, lb_port, pem, sock, node_ports, as_root):
    """The example with loopback in place of its addresses; every replaced line must be
    there exactly as many times as expected, so the test follows the example."""
    text = open(example).read()

    def sub(pattern, repl, count):
        nonlocal text
        text, n = re.subn(pattern, repl, text, flags=re.M)
        assert n == count, "%r replaced %d times in %s, expected %d" % (pattern, n, example, count)

    sub(r"^(\tbind ):443 ssl crt \S+", r"\g<1>127.0.0.1:%d ssl crt %s" % (lb_port, pem), 1)
    sub(r"^(\tstats socket )\S+", r"\g<1>" + sock, 1)
    for i, port in enumerate(node_ports, 1):
        sub(r"^(\tserver node%d )10\.0\.0\.1%d:8080$" % (i, i), r"\g<1>127.0.0.1:%d" % port, 2)
    if not as_root:
        sub(r"^\t(user|group) haproxy\n", "", 2)
    return text


class Balancer:
    """haproxy -db (in the foreground) as a child process, stopped by its pid."""

    def __init__(self, env, port, node_ports):
        self.dir = env.dir
        self.port = port
        self.base = "https://127.0.0.1:%d" % self.port
        cert, key = harness.make_cert(env.dir)
        self.ctx = ssl.create_default_context(cafile=cert)
        pem = os.path.join(env.dir, "haproxy.pem")
        with open(pem, "w") as f:
            f.write(open(cert).read() + open(key).read())
        self.sock = os.path.join(env.dir, "haproxy.sock")
        cfg = os.path.join(env.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(render(EXAMPLE, self.port, pem, self.sock, node_ports, os.geteuid() == 0))
        p = subprocess.run(["haproxy", "-c", "-f", cfg], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, "haproxy refuses the example: " + p.stdout + p.stderr
        self.log_path = os.path.join(env.dir, "haproxy.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def command(self, cmd):
        """A command on the stats socket; its answer."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        try:
            s.connect(self.sock)
            s.sendall(cmd.encode() + b"\n")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    return out.decode()
                out += b
        finally:
            s.close()

    def stat(self, backend, field="status"):
        """{server name: field} of a backend's servers (status: "UP", "DOWN", "UP 1/2"...;
        stot: requests sent to it)."""
        lines = self.command("show stat").splitlines()
        head = lines[0].lstrip("# ").split(",")
        out = {}
        for line in lines[1:]:
            row = dict(zip(head, line.split(",")))
            if row.get("pxname") == backend and row.get("svname", "").startswith("node"):
                out[row["svname"]] = row[field]
        return out

    def status(self, backend):
        return self.stat(backend)

    def wait_status(self, backend, want, timeout=10):
        deadline = time.time() + timeout
        while True:
            try:
                st = self.status(backend)
                if all(want(v) for v in st.values()) and len(st) == 3:
                    return st
            except OSError:
                st = None
            if self.proc.poll() is not None:
                raise RuntimeError("haproxy exited: " + self.logs())
            if time.time() > deadline:
                raise AssertionError("%s not as wanted after %ss: %s" % (backend, timeout, st))
            time.sleep(0.05)

    def connection(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=10):
        c = self.connection(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def post_form(self, path, fields, basic):
        h = {"Content-Type": "application/x-www-form-urlencoded",
             "Authorization": harness.basic_header(*basic)}
        st, hd, b = self.request("POST", path, urllib.parse.urlencode(fields), h)
        try:
            return st, hd, json.loads(b) if b else None
        except ValueError:
            return st, hd, None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, 9)
                self.proc.wait()
        self.log.close()


class Cluster:
    """A database, three nodes whose issuer is the balancer's URL, and the balancer."""

    def __init__(self):
        if not harness.PG:
            raise harness.Skip("needs PostgreSQL (WARRANT_TEST_PG)")
        if not shutil.which("haproxy"):
            raise AssertionError("haproxy is not installed (scripts/deps.sh installs it)")
        self.env = harness.Env()
        self.lb = None
        try:
            self.sc = self.env.scenario()
            self.rs = self.env.cli("resource", "add", "gateway")
            lb_port = harness.free_port()
            self.nodes = [self.env.serve("--issuer", "https://127.0.0.1:%d" % lb_port) for _ in range(3)]
            self.lb = Balancer(self.env, lb_port, [n.port for n in self.nodes])
            self.lb.wait_status("warrant_ready", lambda s: s == "UP")
        except BaseException:
            self.close()
            raise

    def agent(self):
        return (self.sc["id"], self.sc["secret"])

    def resource(self):
        return (self.rs["client_id"], self.rs["client_secret"])

    def token(self):
        st, _, body = self.lb.post_form("/token", {"grant_type": "client_credentials"}, self.agent())
        assert st == 200, (st, body)
        return body["access_token"]

    def introspect_at(self, srv, token):
        st, _, body = srv.post_form("/introspect", {"token": token}, self.resource())
        assert st == 200, (st, body)
        return body

    def close(self):
        if self.lb:
            self.lb.stop()
        self.env.close()


class Load:
    """CLIENTS keep-alive connections issuing tokens through the balancer until stopped;
    results: (time, 200 for a token, another status, or 0 for a connection that failed)."""

    def __init__(self, c):
        self.c = c
        self.results = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run) for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def run(self):
        conn = self.c.lb.connection(timeout=10)
        h = {"Content-Type": "application/x-www-form-urlencoded",
             "Authorization": harness.basic_header(*self.c.agent())}
        while not self.stopping.is_set():
            try:
                conn.request("POST", "/token", "grant_type=client_credentials", h)
                r = conn.getresponse()
                body = r.read()
                ok = r.status == 200 and b'"access_token"' in body
                self.results.append((time.time(), 200 if ok else r.status))
            except (OSError, http.client.HTTPException):
                self.results.append((time.time(), 0))
                conn.close()
                conn = self.c.lb.connection(timeout=10)
        conn.close()

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(15)
        return self.results


def restart(env, srv, issuer):
    """`warrant serve` again on a stopped node's port (the one the balancer knows)."""
    node = harness.Server.__new__(harness.Server)
    node.env, node.port, node.base, node.log_path = env, srv.port, srv.base, srv.log_path
    node.log = open(node.log_path, "ab")
    node.proc = subprocess.Popen([harness.BIN, "serve", "--db", env.db, "--listen", "127.0.0.1:%d" % srv.port,
                                  "--issuer", issuer], stdout=node.log, stderr=subprocess.STDOUT)
    node.pid = node.proc.pid
    env.servers.append(node)
    node.wait_ready()
    return node


def test_tokens_through_the_balancer_are_active_at_every_node():
    c = Cluster()
    try:
        tokens = [c.token() for _ in range(9)]
        for t in tokens:
            assert c.introspect_at(c.lb, t)["active"] is True
            for n in c.nodes:
                assert c.introspect_at(n, t)["active"] is True, n.base
        # the balancer spread the requests over the three nodes
        sent = c.lb.stat("warrant_ready", "stot")
        assert len(sent) == 3 and sum(map(int, sent.values())) == 18, sent
        assert all(int(v) >= 5 for v in sent.values()), sent
    finally:
        c.close()


def test_revocation_through_the_balancer_is_seen_by_every_node_within_a_second():
    c = Cluster()
    try:
        for _ in range(3):
            t = c.token()
            for n in c.nodes:
                assert c.introspect_at(n, t)["active"] is True
            st, _, _ = c.lb.post_form("/revoke", {"token": t}, c.agent())
            assert st == 200
            t0 = time.time()
            waiting = list(c.nodes)
            while waiting:
                waiting = [n for n in waiting if c.introspect_at(n, t)["active"]]
                assert time.time() - t0 <= 1.0, "still active after 1 s at %s" % [n.base for n in waiting]
                if waiting:
                    time.sleep(0.02)
            assert c.introspect_at(c.lb, t)["active"] is False
    finally:
        c.close()


def test_the_balancer_is_the_issuer_and_tokens_verify_against_its_jwks():
    c = Cluster()
    try:
        for srv in [c.lb] + c.nodes:
            st, _, body = srv.request("GET", "/.well-known/oauth-authorization-server")
            assert st == 200
            meta = json.loads(body)
            assert meta["issuer"] == c.lb.base, (srv.base if hasattr(srv, "base") else "", meta["issuer"])
            assert meta["jwks_uri"] == c.lb.base + "/jwks"
            assert meta["token_endpoint"] == c.lb.base + "/token"
        st, _, body = c.lb.request("GET", "/jwks")
        assert st == 200
        keys = jwt.PyJWKSet.from_json(body.decode())
        by_kid = {k.key_id: k for k in keys.keys}
        for _ in range(9):
            t = c.token()
            kid = jwt.get_unverified_header(t)["kid"]
            claims = jwt.decode(t, by_kid[kid].key, algorithms=["ES256"], audience=c.lb.base,
                                issuer=c.lb.base)
            assert claims["client_id"] == c.sc["id"]
        # /metrics stays off the public door
        st, _, _ = c.lb.request("GET", "/metrics")
        assert st == 404
    finally:
        c.close()


def test_a_node_killed_is_taken_out_and_requests_keep_succeeding():
    c = Cluster()
    try:
        load = Load(c)
        time.sleep(1.0)
        victim = c.nodes[1]
        t_kill = time.time()
        victim.kill9()
        st = {}
        deadline = t_kill + 10
        while time.time() < deadline:
            st = c.lb.status("warrant_ready")
            if st["node2"].startswith("DOWN") or st["node2"].startswith("MAINT"):
                break
            time.sleep(0.02)
        t_down = time.time()
        time.sleep(1.5)
        results = load.stop()
        took = t_down - t_kill
        before = [s for (t, s) in results if t_kill <= t < t_down]
        after = [s for (t, s) in results if t >= t_down]
        print("    node2 %s %.2f s after SIGKILL; requests until then %d (failed %d), after %d (failed %d)"
              % (st["node2"], took, len(before), sum(1 for s in before if s != 200), len(after),
                 sum(1 for s in after if s != 200)))
        assert st["node2"].startswith("DOWN"), st
        assert took <= DOWN_BOUND_S, "node2 out only %.2f s after SIGKILL" % took
        assert st["node1"].startswith("UP") and st["node3"].startswith("UP"), st
        assert len(after) >= 20, len(after)
        assert all(s == 200 for s in after), "failures after the node was out: %s" % after
        # until then, at most the request each client had in flight at the dying node: its
        # connection to the balancer closed without an answer (HAProxy's safe reuse of
        # kept-alive node connections) or, rarely, the balancer's 502; nothing else
        failed = [s for s in before if s != 200]
        assert len(failed) <= CLIENTS and all(s in (0, 502) for s in failed), \
            "while the node was dying: %s" % before
    finally:
        c.close()


def test_database_away_nodes_answer_for_themselves_through_the_balancer():
    c = Cluster()
    name = c.env.pg_name
    try:
        t = c.token()
        # the database refuses connections, and the nodes' own are ended
        harness.pg_admin('ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % name)
        harness.pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'" % name)
        t0 = time.time()
        c.lb.wait_status("warrant_ready", lambda s: s.startswith("DOWN"), timeout=10)
        print("    every node out of warrant_ready %.2f s after the database went away" % (time.time() - t0))
        st, _, body = c.lb.post_form("/token", {"grant_type": "client_credentials"}, c.agent())
        assert st == 503 and body and body["error"] == "temporarily_unavailable", (st, body)
        st, _, body = c.lb.post_form("/introspect", {"token": t}, c.resource())
        assert st == 503 and body and body["error"] == "temporarily_unavailable", (st, body)
        st, _, body = c.lb.request("GET", "/jwks")
        assert st == 200 and json.loads(body)["keys"], (st, body)
        st, _, body = c.lb.request("GET", "/.well-known/openid-configuration")
        assert st == 200 and json.loads(body)["issuer"] == c.lb.base
        st, _, _ = c.lb.request("GET", "/readyz")
        assert st == 503
        # back: the nodes reconnect by themselves and return to warrant_ready
        harness.pg_admin('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % name)
        t0 = time.time()
        c.lb.wait_status("warrant_ready", lambda s: s == "UP", timeout=15)
        print("    every node back in warrant_ready %.2f s after the database came back" % (time.time() - t0))
        # each of a node's connections finds out it was cut by failing once (a 503, which
        # the client retries); then every node serves again
        refused, deadline = 0, time.time() + 5
        ok = 0
        while ok < 9:
            assert time.time() < deadline, "still refusing 5 s after the nodes were ready again"
            st, _, body = c.lb.post_form("/token", {"grant_type": "client_credentials"}, c.agent())
            if st == 200:
                st, _, body = c.lb.post_form("/introspect", {"token": body["access_token"]}, c.resource())
            if st == 200 and body["active"] is True:
                ok += 1
                continue
            assert st == 503 and body["error"] == "temporarily_unavailable", (st, body)
            refused += 1
            ok = 0
            time.sleep(0.05)
        print("    then %d answers 503 before nine issuances and introspections in a row" % refused)
    finally:
        try:
            harness.pg_admin('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % name)
        except subprocess.SubprocessError:
            pass
        c.close()


def test_a_node_restarted_out_of_the_balancer_costs_no_request():
    c = Cluster()
    try:
        load = Load(c)
        time.sleep(0.5)
        # out of both backends (the example's stats socket is at level admin), then a stop
        # with SIGTERM, which drains
        c.lb.command("set server warrant_ready/node1 state maint; set server warrant_alive/node1 state maint")
        deadline = time.time() + 5
        while not c.lb.status("warrant_ready")["node1"].startswith("MAINT"):
            assert time.time() < deadline, c.lb.status("warrant_ready")
            time.sleep(0.02)
        assert c.nodes[0].stop() == 0, c.nodes[0].logs()
        time.sleep(0.5)
        c.nodes[0] = restart(c.env, c.nodes[0], c.lb.base)
        sent = int(c.lb.stat("warrant_ready", "stot")["node1"])
        c.lb.command("set server warrant_ready/node1 state ready; set server warrant_alive/node1 state ready")
        c.lb.wait_status("warrant_ready", lambda s: s == "UP", timeout=10)
        time.sleep(0.5)
        results = load.stop()
        assert len(results) >= 50, len(results)
        assert all(s == 200 for _, s in results), [s for _, s in results if s != 200]
        # and the restarted node serves again
        assert int(c.lb.stat("warrant_ready", "stot")["node1"]) > sent
    finally:
        c.close()

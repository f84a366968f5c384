"""test_audit_webhook.py - `serve --audit-webhook` (SPEC "Tamper-evident audit"): a receiver
on loopback that fails for a while then accepts gets every row, in order within each chain,
each batch signed with HMAC-SHA256 of its body (checked here with Python's hmac); the
acknowledged seq survives a restart; the lag is a /metrics gauge; a receiver that hangs
does not slow /token; a secret file open to others is refused."""
import hashlib
import hmac
import http.server
import json
import os
import statistics
import threading
import time

from harness import Env, close_module_env

_state = {}
SECRET = b"webhook-secret-for-tests"


def teardown_module():
    rx = _state.get("rx")
    if rx:
        rx.close()
    close_module_env(_state)


class Receiver:
    """An HTTP receiver on 127.0.0.1: answers 500 to the first `fail` POSTs, then 200; in
    hang mode it holds each request for `hang` seconds first."""

    def __init__(self, fail):
        self.fail = fail
        self.hang = 0
        self.posts = []  # (status answered, body bytes, signature header)
        self.lock = threading.Lock()
        rx = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if rx.hang:
                    time.sleep(rx.hang)
                with rx.lock:
                    status = 500 if rx.fail > 0 else 200
                    rx.fail -= 1
                    rx.posts.append((status, body, self.headers.get("X-Warrant-Signature")))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d/audit" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def accepted(self):
        """Rows of the acknowledged batches, in arrival order."""
        with self.lock:
            return [r for st, body, _ in self.posts if st == 200 for r in json.loads(body)]

    def close(self):
        self.hang = 0
        self.httpd.shutdown()
        self.httpd.server_close()


def secret_file(env, mode=0o600):
    path = os.path.join(env.dir, "hook-%o" % mode)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(SECRET + b"\n")
    os.chmod(path, mode)
    return path


def metric(srv, name):
    code, _, body = srv.request("GET", "/metrics")
    assert code == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def wait_delivered(env, rx, timeout=12):
    """Every row of the database among the accepted ones; returns the exported rows."""
    deadline = time.time() + timeout
    while True:
        rows = env.audit()
        got = {(r["chain"], r["seq"]) for r in rx.accepted()}
        if all((r["chain"], r["seq"]) in got for r in rows):
            return rows
        assert time.time() < deadline, "undelivered: %r" % sorted(
            {(r["chain"], r["seq"]) for r in rows} - got)[:5]
        time.sleep(0.2)


def serve(env, rx):
    return env.serve("--audit-webhook", rx.url, "--audit-webhook-secret-file", secret_file(env),
                     "--audit-checkpoint-interval", "1")


def test_a_failing_receiver_gets_every_row_signed_in_order_and_the_cursor_survives_a_restart():
    env = Env()
    _state["env"] = env
    rx = Receiver(fail=3)
    _state["rx"] = rx
    sc = env.scenario()
    srv = serve(env, rx)
    for _ in range(5):
        assert srv.token(sc["id"], sc["secret"])[0] == 200
    rows = wait_delivered(env, rx)
    with rx.lock:
        posts = list(rx.posts)
    assert [p[0] for p in posts[:3]] == [500, 500, 500], [p[0] for p in posts]
    for _, body, sig in posts:
        want = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        assert sig and hmac.compare_digest(sig, want), (sig, want)
    # in order within each chain: each acknowledged batch goes on from the one before
    last = {}
    for r in rx.accepted():
        assert r["seq"] == last.get(r["chain"], 0) + 1, (r["chain"], r["seq"], last.get(r["chain"]))
        last[r["chain"]] = r["seq"]
    exported = {(r["chain"], r["seq"]): r["hash"] for r in rows}
    assert all(exported[(r["chain"], r["seq"])] == r["hash"] for r in rx.accepted())
    deadline = time.time() + 3
    while metric(srv, "warrant_audit_webhook_lag_rows") != 0 and time.time() < deadline:
        time.sleep(0.1)
    assert metric(srv, "warrant_audit_webhook_lag_rows") == 0
    assert metric(srv, "warrant_audit_webhook_failures_total") >= 3
    srv.stop()
    cursor = dict(env.sql("SELECT chain, seq FROM audit_webhook_cursor"))
    heads = {}
    for r in env.audit():
        heads[r["chain"]] = max(heads.get(r["chain"], 0), r["seq"])
    assert all(cursor.get(c, 0) >= h - 1 for c, h in heads.items()), (cursor, heads)
    # rows written while the server is down, then a restart: it resumes after the cursor
    env.cli("owner", "add", "--email", "later@example.com")
    before = len(rx.accepted())
    srv = serve(env, rx)
    wait_delivered(env, rx)
    again = rx.accepted()[before:]
    assert again and all(r["seq"] > cursor.get(r["chain"], 0) for r in again), (cursor, again[:2])
    assert any(r["event"] == "owner.created" and r["chain"] == "cli" for r in again)
    _state["srv"], _state["sc"] = srv, sc


def test_b_a_hanging_receiver_does_not_slow_token():
    env, rx = _state["env"], _state["rx"]
    srv, sc = _state["srv"], _state["sc"]
    rx.hang = 8
    n_before = len(rx.posts)
    times = []
    for _ in range(30):
        t0 = time.monotonic()
        assert srv.token(sc["id"], sc["secret"])[0] == 200
        times.append(time.monotonic() - t0)
    # the webhook is stuck in a delivery meanwhile (its POST is held by the receiver)
    time.sleep(0.5)
    assert len(rx.posts) == n_before and metric(srv, "warrant_audit_webhook_lag_rows") > 0
    assert statistics.median(times) < 0.05 and max(times) < 0.5, times
    rx.hang = 0
    srv.stop(timeout=5)  # an exchange in flight does not hold the shutdown
    assert srv.proc.returncode == 0


def test_c_a_secret_file_open_to_others_is_refused():
    env = _state["env"]
    p = env.run("serve", "--audit-webhook", "http://127.0.0.1:9/x", "--audit-webhook-secret-file",
                secret_file(env, 0o644), "--listen", "127.0.0.1:0")
    assert p.returncode != 0 and "open to group or others" in p.stderr, p.stderr
    p = env.run("serve", "--audit-webhook", "http://127.0.0.1:9/x", "--check-config")
    assert p.returncode == 2 and "go together" in p.stderr, p.stderr

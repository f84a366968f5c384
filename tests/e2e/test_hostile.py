"""test_hostile.py - hostile clients against a real `warrant serve` on 127.0.0.1, through raw
sockets and curl: malformed request lines, broken percent-encoding, NUL and control bytes,
overlong values, too many parameters, oversized bodies and headers, duplicate parameters,
wrong content types, truncated bodies, pipelined garbage, slow clients, thousands of idle
connections, the per-address connection limit, floods of stalled partial requests, garbage
JSON and invalid UTF-8 at /v1, huge or malformed Authorization headers, request framing
(RFC 9112), NUL in header values, and what error bodies and log lines may contain.

After every case the server must still issue a token that verifies against /jwks, its
resident memory (VmRSS) must stay within a margin of what it was at the start, and no
request may have been answered with a 5xx."""
import base64
import http.client
import json
import os
import re
import resource
import select
import selectors
import socket
import subprocess
import time
import urllib.parse

import jwt

from harness import SANITIZED, Env, basic_header, connect, exchange, parse_responses

FORM = "application/x-www-form-urlencoded"
TIMEOUT = 2          # --timeout of the servers here
MAX_BODY = 32768     # --max-body of the module's server
FORM_MAX_PARAMS = 32
FORM_MAX_NAME = 64
FORM_MAX_VALUE = 16384
HEADER_LIMIT = 32 * 1024
PASSWORD = "hostile-test-password-1"


# AddressSanitizer keeps freed memory in quarantine (256 MiB by default): memory figures
# of such a build say little, so its margin is wider and growth is not compared
RSS_MARGIN_KIB = int(os.environ.get("WARRANT_RSS_MARGIN_MIB") or (384 if SANITIZED else 64)) * 1024

_state = {}


def raise_nofile(n):
    """Raises this process's open-files limit to at least n (servers started later inherit
    it); returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        want = n if hard == resource.RLIM_INFINITY else min(n, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


class Target:
    """A server with one agent, a gateway resource server and an owner with a password;
    knows how to check that the server is still healthy."""

    def __init__(self, *serve_args):
        self.env = Env()
        try:
            self.sc = self.env.scenario()
            self.gw = self.env.cli("resource", "add", "gateway")
            self.owner = self.env.owner(password=PASSWORD)
            self.srv = self.env.serve(*serve_args)
        except Exception:
            self.env.close()
            raise
        self.port = self.srv.port
        self.keys = {}
        self.log_offset = 0
        for _ in range(20):  # warm the caches before taking the baseline
            self.token_ok()
        self.rss0 = rss_kib(self.srv.pid)
        self.rss_max = self.rss0

    def close(self):
        self.env.close()

    def agent_auth(self):
        return basic_header(self.sc["id"], self.sc["secret"])

    def gw_auth(self):
        return basic_header(self.gw["client_id"], self.gw["client_secret"])

    def owner_auth(self):
        return basic_header(self.owner["email"], PASSWORD, form=False)

    def verify(self, tok):
        kid = jwt.get_unverified_header(tok)["kid"]
        if kid not in self.keys:
            st, _, jwks = self.srv.get_json("/jwks")
            assert st == 200, st
            self.keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
        assert kid in self.keys, kid
        return jwt.decode(tok, self.keys[kid].key, algorithms=["ES256"], audience=self.srv.base,
                          issuer=self.srv.base)

    def token_ok(self, source=None):
        """A valid client_credentials request: 200 and a token that verifies."""
        body = urllib.parse.urlencode({"grant_type": "client_credentials"})
        h = {"Content-Type": FORM, "Authorization": self.agent_auth()}
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                       source_address=(source, 0) if source else None)
        try:
            c.request("POST", "/token", body=body, headers=h)
            r = c.getresponse()
            st, data = r.status, r.read()
        finally:
            c.close()
        assert st == 200, (st, data)
        tok = json.loads(data)["access_token"]
        claims = self.verify(tok)
        assert claims["sub"] == self.sc["id"], claims
        return tok

    def healthy(self, label):
        """The checks after every hostile case."""
        assert self.srv.proc.poll() is None, "server died after %s (exit %s): %s" % (
            label, self.srv.proc.returncode, self.srv.logs()[-3000:])
        self.token_ok()
        rss = rss_kib(self.srv.pid)
        self.rss_max = max(self.rss_max, rss)
        assert rss <= self.rss0 + RSS_MARGIN_KIB, "after %s: VmRSS %d KiB, started at %d KiB" % (
            label, rss, self.rss0)

    def new_log_lines(self):
        """Log lines written since the last call (the server flushes every 250 ms)."""
        time.sleep(0.4)
        with open(self.srv.log_path, "rb") as f:
            f.seek(self.log_offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.log_offset += end
        return data[:end].splitlines()

    def assert_no_5xx_logged(self, label):
        for line in self.new_log_lines():
            m = re.search(rb'"status":(\d+)', line)
            if m:
                assert int(m.group(1)) < 500, "%s: a request was answered %s: %r" % (label, m.group(1), line)


def ctx():
    if "t" not in _state:
        _state["t"] = Target("--timeout", str(TIMEOUT), "--max-body", str(MAX_BODY), "--threads", "2")
    return _state["t"]


def teardown_module():
    t = _state.pop("t", None)
    if t:
        t.close()


# ---- raw HTTP ----

def build(method, path, headers=(), body=b"", content_length=True, close=True):
    """An HTTP/1.1 request as bytes; headers is a list of (name, value) (str or bytes)."""
    b = lambda v: v if isinstance(v, bytes) else v.encode("latin-1")
    out = b(method) + b" " + b(path) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    for k, v in headers:
        out += b(k) + b": " + b(v) + b"\r\n"
    if content_length and body is not None:
        out += b"Content-Length: %d\r\n" % len(body)
    if close:
        out += b"Connection: close\r\n"
    return out + b"\r\n" + (body or b"")


def one(port, data, timeout=6.0):
    """The first response to data, or None when the server closed without answering."""
    raw, _ = exchange(port, data, timeout)
    rs = parse_responses(raw)
    return rs[0] if rs else None


def json_error(resp, status, code):
    assert resp is not None, "no response (connection closed)"
    st, h, body = resp
    assert st == status, (st, body)
    assert h.get("content-type", "").startswith("application/json"), h
    obj = json.loads(body)
    assert obj.get("error") == code, obj
    return obj


def form_post(t, path, body, auth=None, ctype=FORM):
    headers = []
    if ctype is not None:
        headers.append(("Content-Type", ctype))
    if auth:
        headers.append(("Authorization", auth))
    return one(t.port, build("POST", path, headers, body))


def curl(t, path, *args, data=None, timeout=10):
    """curl against the server: (status or 0, body bytes, curl exit code)."""
    cmd = ["curl", "-s", "-S", "--max-time", str(timeout), "-o", "-", "-w", "\n%{http_code}"]
    cmd += list(args)
    if data is not None:
        cmd += ["--data-binary", "@-"]
    cmd.append("http://127.0.0.1:%d%s" % (t.port, path))
    p = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout + 5)
    body, _, code = p.stdout.rpartition(b"\n")
    return int(code or b"0"), body, p.returncode


def assert_refused_or_4xx(resp, label, allowed=(400, 404, 405, 413, 414, 431, 501, 505)):
    if resp is None:
        return  # closed without an answer: acceptable for garbage
    assert resp[0] in allowed, "%s: status %d: %r" % (label, resp[0], resp[2][:200])


# ---- malformed requests ----

def test_malformed_request_lines():
    t = ctx()
    cases = {
        "garbage": b"\x16\x03\x01\x02\x00garbage\r\n\r\n",
        "no version": b"GET /healthz\r\n\r\n",
        "only a method": b"GET\r\n\r\n",
        "empty line": b"\r\n\r\n\r\n",
        "absurd method": b"X" * 4000 + b" /token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "method with bytes": b"G\x00E\xffT /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "very long url": b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "long query": b"GET /jwks?" + b"a=b&" * 6000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "bad version": b"GET /healthz HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n",
        "bad version 2": b"GET /healthz HTTX/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "header without colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nNoColonHere\r\nConnection: close\r\n\r\n",
        "binary noise": bytes(range(256)) * 8,
        "percent garbage path": b"GET /%zz%00%ff/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "absolute-form": b"GET http://evil.example/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "bad content-length": b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\nConnection: close\r\n\r\n",
        "hex content-length": b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\nConnection: close\r\n\r\n",
        "bad chunk size": b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM.encode() +
                          b"\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    }
    for label, data in cases.items():
        resp = one(t.port, data)
        assert_refused_or_4xx(resp, label)
        t.healthy(label)
    # the same through curl: an absurd method and a 100 KB URL
    st, body, rc = curl(t, "/token", "-X", "Z" * 3000)
    assert st in (0, 400, 405, 431, 501), (st, body[:200], rc)
    t.healthy("curl absurd method")
    st, body, rc = curl(t, "/" + "b" * 100000)
    assert st in (0, 400, 404, 414, 431), (st, body[:200], rc)
    t.healthy("curl long url")
    t.assert_no_5xx_logged("malformed request lines")


def test_bad_percent_encoding():
    t = ctx()
    bodies = [b"grant_type=client_credentials&scope=%zz", b"grant_type=client_credentials&scope=%4",
              b"grant_type=client_credentials&scope=abc%", b"grant_type=client_credentials&scope=%G0",
              b"grant_type=client_%%41credentials", b"%=x&grant_type=client_credentials",
              b"grant_type=client_credentials&sc%ope=x"]
    for body in bodies:
        for path, auth in (("/token", t.agent_auth()), ("/introspect", t.gw_auth()), ("/revoke", t.agent_auth())):
            obj = json_error(form_post(t, path, body, auth), 400, "invalid_request")
            assert "percent" in obj["error_description"], obj
            t.healthy("bad escape %r at %s" % (body, path))
    st, body, rc = curl(t, "/token", "-H", "Content-Type: " + FORM, "-H", "Authorization: " + t.agent_auth(),
                        data=b"grant_type=client_credentials&scope=%Z1")
    assert st == 400 and json.loads(body)["error"] == "invalid_request", (st, body, rc)
    t.healthy("curl bad escape")
    t.assert_no_5xx_logged("bad percent-encoding")


def test_nul_and_control_bytes_in_values():
    t = ctx()
    pre = b"grant_type=client_credentials&"
    for value in (b"a\x00b", b"a%00b", b"%00", b"a%0ab", b"a%0Db", b"a\rb", b"a\nb", b"a%1Fb", b"\x1b[31m",
                  b"a%7Fb", b"a\x7fb", b"a%09b"):
        for name in (b"scope", b"run_id", b"workspace", b"x"):
            obj = json_error(form_post(t, "/token", pre + name + b"=" + value, t.agent_auth()), 400,
                             "invalid_request")
            assert "control" in obj["error_description"], obj
        # in a parameter name too
        json_error(form_post(t, "/token", pre + b"sc" + value + b"pe=x", t.agent_auth()), 400, "invalid_request")
        json_error(form_post(t, "/introspect", b"token=" + value, t.gw_auth()), 400, "invalid_request")
        json_error(form_post(t, "/revoke", b"token=" + value, t.agent_auth()), 400, "invalid_request")
        t.healthy("control bytes %r" % value)
    # NUL inside the form-encoded Basic credentials: malformed, not a lookup of a truncated id
    bad = "Basic " + base64.b64encode(("%s%%00x:%s" % (t.sc["id"], t.sc["secret"])).encode()).decode()
    json_error(form_post(t, "/token", b"grant_type=client_credentials", bad), 401, "invalid_client")
    bad = "Basic " + base64.b64encode(("%s:%s%%00" % (t.sc["id"], t.sc["secret"])).encode()).decode()
    json_error(form_post(t, "/token", b"grant_type=client_credentials", bad), 401, "invalid_client")
    # through curl, raw bytes in the body
    st, body, rc = curl(t, "/token", "-H", "Content-Type: " + FORM, "-H", "Authorization: " + t.agent_auth(),
                        data=b"grant_type=client_credentials&scope=tickets:read\x00refunds:issue")
    assert st == 400 and json.loads(body)["error"] == "invalid_request", (st, body, rc)
    t.healthy("control bytes in Basic and via curl")
    t.assert_no_5xx_logged("control bytes")


def test_overlong_values_and_too_many_parameters():
    t = ctx()
    pre = b"grant_type=client_credentials"
    # at the limits: accepted (unknown parameters are ignored)
    ok = [pre + b"&x=" + b"v" * FORM_MAX_VALUE,
          # escapes count decoded: a quarter escaped keeps the body under --max-body
          pre + b"&x=" + b"%41" * (FORM_MAX_VALUE // 4) + b"v" * (FORM_MAX_VALUE * 3 // 4),
          pre + b"&" + b"n" * FORM_MAX_NAME + b"=1",
          pre + b"".join(b"&p%d=1" % i for i in range(FORM_MAX_PARAMS - 1))]
    for body in ok:
        st, _, b = form_post(t, "/token", body, t.agent_auth())
        assert st == 200, (st, b, len(body))
        t.verify(json.loads(b)["access_token"])
    # one past each limit: 400 invalid_request
    over = [pre + b"&x=" + b"v" * (FORM_MAX_VALUE + 1),
            pre + b"&x=" + b"%41" * (FORM_MAX_VALUE // 4) + b"v" * (FORM_MAX_VALUE * 3 // 4 + 1),
            pre + b"&" + b"n" * (FORM_MAX_NAME + 1) + b"=1",
            pre + b"".join(b"&p%d=1" % i for i in range(FORM_MAX_PARAMS)),
            pre + b"&a" * 5000,
            pre + b"&scope=" + b"tickets:read+" * 2000]
    for body in over:
        assert len(body) <= MAX_BODY, len(body)
        for path, auth in (("/token", t.agent_auth()), ("/introspect", t.gw_auth()), ("/revoke", t.agent_auth())):
            obj = json_error(form_post(t, path, body, auth), 400, "invalid_request")
            assert "too" in obj["error_description"], obj
        t.healthy("overlong %d bytes" % len(body))
    # an overlong token at /introspect: inactive or 400, never active and never 5xx
    resp = form_post(t, "/introspect", b"token=" + b"e" * FORM_MAX_VALUE, t.gw_auth())
    assert resp[0] in (200, 400), resp
    if resp[0] == 200:
        assert json.loads(resp[2]) == {"active": False}, resp
    t.healthy("overlong token")
    t.assert_no_5xx_logged("overlong values")


def test_body_over_max_body():
    t = ctx()
    pre = b"grant_type=client_credentials&x="
    body = pre + b"a" * (MAX_BODY + 1 - len(pre))
    json_error(form_post(t, "/token", body, t.agent_auth()), 413, "invalid_request")
    t.healthy("max-body + 1")
    # exactly at the limit: not 413 (the form is refused for its overlong value instead)
    body = pre + b"a" * (MAX_BODY - len(pre))
    resp = form_post(t, "/token", body, t.agent_auth())
    assert resp is not None and resp[0] == 400, resp
    t.healthy("max-body exactly")
    # a Content-Length far over the limit is refused before the body is read
    resp = one(t.port, build("POST", "/token", [("Content-Type", FORM), ("Content-Length", "99999999999")],
                             None, content_length=False), timeout=4)
    assert resp is not None and resp[0] == 413, resp
    resp = one(t.port, build("POST", "/token", [("Content-Type", FORM), ("Expect", "100-continue"),
                                                ("Content-Length", str(50 * 1024 * 1024))], None,
                             content_length=False), timeout=4)
    assert resp is not None and resp[0] == 413, resp
    t.healthy("huge Content-Length")
    # chunked, without a Content-Length: still cut at the limit
    chunk = b"4000\r\n" + b"a" * 0x4000 + b"\r\n"
    data = build("POST", "/token", [("Content-Type", FORM), ("Transfer-Encoding", "chunked"),
                                    ("Authorization", t.agent_auth())], None, content_length=False)
    resp = one(t.port, data + chunk * (MAX_BODY // 0x4000 + 2) + b"0\r\n\r\n")
    json_error(resp, 413, "invalid_request")
    t.healthy("chunked over the limit")
    # 1 MiB through curl
    st, b, rc = curl(t, "/token", "-H", "Content-Type: " + FORM, "-H", "Authorization: " + t.agent_auth(),
                     data=pre + b"z" * (1 << 20))
    assert st == 413, (st, b[:200], rc)
    assert json.loads(b)["error"] == "invalid_request", b
    t.healthy("curl 1 MiB")
    # many oversized bodies in a row do not grow the server
    for i in range(30):
        one(t.port, build("POST", "/introspect", [("Content-Type", FORM), ("Authorization", t.gw_auth())],
                          b"token=" + b"q" * (MAX_BODY + 100)))
    t.healthy("30 oversized bodies")
    t.assert_no_5xx_logged("max body")


def test_headers_over_the_limit():
    t = ctx()
    cases = {
        "one 40 KB header": build("GET", "/healthz", [("X-Pad", "p" * 40000)]),
        "3000 small headers": build("GET", "/healthz", [("X-%d" % i, "y") for i in range(3000)]),
        "100 KB cookie": build("POST", "/token", [("Cookie", "c=" + "k" * 100000), ("Content-Type", FORM)],
                               b"grant_type=client_credentials"),
        "header over limit, then body": build("POST", "/token", [("X-Pad", "p" * HEADER_LIMIT),
                                                                 ("Content-Type", FORM)], b"a=" + b"b" * 1000),
    }
    for label, data in cases.items():
        resp = one(t.port, data)
        assert resp is None or resp[0] in (400, 413, 431), (label, resp and resp[0])
        t.healthy(label)
    # under the limit: served normally
    resp = one(t.port, build("GET", "/healthz", [("X-Pad", "p" * 16000)]))
    assert resp is not None and resp[0] == 200, resp
    st, b, rc = curl(t, "/healthz", "-H", "X-Pad: " + "h" * 60000)
    assert st in (0, 400, 431), (st, b[:200], rc)
    t.healthy("curl 60 KB header")
    t.assert_no_5xx_logged("headers over the limit")


def test_duplicate_parameters():
    t = ctx()
    pre = "grant_type=client_credentials&"
    for dup in ("grant_type=client_credentials", "scope=tickets:read", "workspace=" + t.sc["ws"]["id"],
                "run_id=r1", "client_id=" + t.sc["id"]):
        body = (pre + dup + "&" + dup).encode()
        obj = json_error(form_post(t, "/token", body, t.agent_auth()), 400, "invalid_request")
        assert "more than once" in obj["error_description"], obj
    # client_secret_post with the secret twice
    body = urllib.parse.urlencode([("grant_type", "client_credentials"), ("client_id", t.sc["id"]),
                                   ("client_secret", t.sc["secret"]), ("client_secret", t.sc["secret"])]).encode()
    json_error(form_post(t, "/token", body), 400, "invalid_request")
    tok = t.token_ok()
    json_error(form_post(t, "/introspect", ("token=%s&token=%s" % (tok, tok)).encode(), t.gw_auth()), 400,
               "invalid_request")
    json_error(form_post(t, "/revoke", ("token=%s&token=%s" % (tok, tok)).encode(), t.agent_auth()), 400,
               "invalid_request")
    # the refused revocation did not revoke
    st, _, b = form_post(t, "/introspect", ("token=" + tok).encode(), t.gw_auth())
    assert st == 200 and json.loads(b)["active"] is True, (st, b)
    t.healthy("duplicate parameters")
    t.assert_no_5xx_logged("duplicate parameters")


def test_wrong_content_types():
    t = ctx()
    body = b"grant_type=client_credentials"
    for ctype in (None, "", "text/plain", "application/json", "multipart/form-data; boundary=x",
                  "application/x-www-form-urlencodedX", "application/x-www-form-urlencoded-evil",
                  "application/xml", "x" * 2000, "application/x-www-form\x00-urlencoded"):
        for path, auth in (("/token", t.agent_auth()), ("/introspect", t.gw_auth()), ("/revoke", t.agent_auth())):
            resp = form_post(t, path, body if path == "/token" else b"token=abc", auth, ctype=ctype)
            if ctype is not None and "\x00" in ctype:
                assert_refused_or_4xx(resp, "NUL in Content-Type", allowed=(400,))
                continue
            obj = json_error(resp, 400, "invalid_request")
            assert "Content-Type" in obj["error_description"], obj
        t.healthy("content type %r" % (ctype if ctype is None else ctype[:40]))
    st, b, rc = curl(t, "/token", "-H", "Content-Type: application/json", "-H", "Authorization: " + t.agent_auth(),
                     data=b'{"grant_type":"client_credentials"}')
    assert st == 400 and json.loads(b)["error"] == "invalid_request", (st, b, rc)
    # parameters after the media type are fine
    resp = form_post(t, "/token", body, t.agent_auth(), ctype=FORM + "; charset=UTF-8")
    assert resp[0] == 200, resp
    t.healthy("curl json body")
    t.assert_no_5xx_logged("content types")


# ---- slow, truncated and pipelined ----

def wait_closed(sock, limit):
    """Seconds until the server closes sock (EOF or reset), or None after limit; and any
    bytes it sent first."""
    t0 = time.time()
    got = b""
    while time.time() - t0 < limit:
        r, _, _ = select.select([sock], [], [], 0.05)
        if not r:
            continue
        try:
            d = sock.recv(65536)
        except ConnectionResetError:
            return time.time() - t0, got
        if not d:
            return time.time() - t0, got
        got += d
    return None, got


def test_truncated_body_cut_after_timeout():
    t = ctx()
    cases = (
        ("body shorter than Content-Length", build("POST", "/token", [("Content-Type", FORM),
                                                                      ("Authorization", t.agent_auth()),
                                                                      ("Content-Length", "100")],
                                                   b"grant_type=client_cre", content_length=False)),
        ("headers never finished", b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM.encode()),
        ("nothing after connect", b""),
    )
    # all three at once: each must be cut about --timeout after its last byte
    socks = []
    try:
        for label, data in cases:
            s = connect(t.port)
            s.sendall(data)
            socks.append((label, s, time.time()))
        for label, s, sent in socks:
            waited, got = wait_closed(s, TIMEOUT + 6)
            assert waited is not None, "%s: still open after %ds" % (label, TIMEOUT + 6)
            waited = time.time() - sent
            assert TIMEOUT - 0.5 <= waited <= TIMEOUT + 3.0, "%s: cut after %.2fs, timeout %ds" % (
                label, waited, TIMEOUT)
            assert b"200 OK" not in got, got
    finally:
        for _, s, _ in socks:
            s.close()
    t.healthy("truncated requests")
    # through curl: a Content-Length of 100 with 3 bytes sent; curl waits for an answer
    t0 = time.time()
    st, b, rc = curl(t, "/token", "-H", "Content-Type: " + FORM, "-H", "Content-Length: 100",
                     "-H", "Authorization: " + t.agent_auth(), data=b"abc", timeout=TIMEOUT + 8)
    took = time.time() - t0
    assert st != 200 and rc != 0, (st, b, rc)
    assert TIMEOUT - 0.5 <= took <= TIMEOUT + 3, "curl's truncated body was cut after %.2fs" % took
    t.healthy("curl truncated body")
    # a kept-alive connection that finished its request is closed once idle for the timeout
    s = connect(t.port)
    try:
        s.sendall(build("GET", "/healthz", close=False))
        time.sleep(0.2)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first
        waited, _ = wait_closed(s, TIMEOUT + 6)
    finally:
        s.close()
    assert waited is not None and waited <= TIMEOUT + 3.0, waited
    t.healthy("idle keep-alive")
    t.assert_no_5xx_logged("truncated")


def trickle(port, data, interval=0.5, limit=12.0):
    """Sends data one byte every interval; returns (seconds until the server cut the
    connection or None, bytes received, bytes sent)."""
    s = connect(port)
    t0 = time.time()
    got = b""
    sent = 0
    try:
        for i in range(len(data)):
            if time.time() - t0 > limit:
                return None, got, sent
            try:
                s.send(data[i:i + 1])
                sent += 1
            except (BrokenPipeError, ConnectionResetError):
                return time.time() - t0, got, sent
            r, _, _ = select.select([s], [], [], interval)
            if r:
                try:
                    d = s.recv(65536)
                except ConnectionResetError:
                    return time.time() - t0, got, sent
                if not d:
                    return time.time() - t0, got, sent
                got += d
        return None, got, sent
    finally:
        s.close()


def test_slow_clients_cut_off_after_timeout():
    t = ctx()
    body = b"grant_type=client_credentials&scope=tickets:read"
    req = build("POST", "/token", [("Content-Type", FORM), ("Authorization", t.agent_auth())], body)
    # one byte every 0.5 s through the request line and headers
    cut, got, sent = trickle(t.port, req)
    assert cut is not None, "a client sending one byte per 0.5 s was never cut off (%d bytes sent)" % sent
    assert TIMEOUT - 0.5 <= cut <= TIMEOUT + 3.0, "cut after %.2fs, timeout %ds" % (cut, TIMEOUT)
    assert b"200 OK" not in got, got
    t.healthy("slow headers")
    # headers at once, then the body one byte every 0.5 s
    head, _, _ = req.partition(b"\r\n\r\n")
    s = connect(t.port)
    try:
        s.sendall(head + b"\r\n\r\n")
        t0 = time.time()
        cut = None
        for i in range(len(body)):
            if time.time() - t0 > 12:
                break
            try:
                s.send(body[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                cut = time.time() - t0
                break
            w, got = wait_closed(s, 0.5)
            if w is not None:
                cut = time.time() - t0
                break
    finally:
        s.close()
    assert cut is not None, "a slow body was never cut off"
    assert cut <= TIMEOUT + 3.0, cut
    t.healthy("slow body")
    # several slow clients at once do not stop others from being served meanwhile
    socks = [connect(t.port) for _ in range(50)]
    try:
        for i in range(6):
            for s in socks:
                try:
                    s.send(req[i:i + 1])
                except OSError:
                    pass
            t.token_ok()
            time.sleep(0.5)
        closed = 0
        for s in socks:
            w, _ = wait_closed(s, 3.0)
            closed += w is not None
        assert closed == len(socks), "%d of %d slow clients still connected" % (len(socks) - closed, len(socks))
    finally:
        for s in socks:
            s.close()
    t.healthy("50 slow clients")
    t.assert_no_5xx_logged("slow clients")


def test_pipelined_garbage_after_valid_request():
    t = ctx()
    valid = build("POST", "/token", [("Content-Type", FORM), ("Authorization", t.agent_auth())],
                  b"grant_type=client_credentials", close=False)
    for label, tail in (("binary", b"\x00\xff\xfe GARBAGE \r\n\r\n"),
                        ("bad request line", b"NOT HTTP AT ALL\r\n\r\n"),
                        ("huge header", b"GET /healthz HTTP/1.1\r\nX: " + b"x" * 40000 + b"\r\n\r\n"),
                        ("truncated", b"POST /token HTTP/1.1\r\nContent-Length: 500\r\n\r\nabc"),
                        ("second valid then garbage", valid + b"\xde\xad\xbe\xef\r\n\r\n")):
        raw, closed = exchange(t.port, valid + tail, timeout=TIMEOUT + 5)
        rs = parse_responses(raw)
        assert rs, "%s: no response at all" % label
        st, h, b = rs[0]
        assert st == 200, (label, st, b)
        t.verify(json.loads(b)["access_token"])
        if label.startswith("second valid"):
            assert len(rs) >= 2 and rs[1][0] == 200, (label, [r[0] for r in rs])
            t.verify(json.loads(rs[1][2])["access_token"])
        for r in rs[1:]:
            assert r[0] == 200 or 400 <= r[0] < 500 or r[0] == 505, (label, r[0])
        assert closed, "%s: the connection was left open after garbage" % label
        t.healthy("pipelined " + label)
    t.assert_no_5xx_logged("pipelined")


# ---- many connections ----

def open_many(port, n, source=None):
    socks, opened = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(5)
        if source:
            s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.setblocking(False)
        socks.append(s)
        opened.append(time.time())
    return socks, opened


def watch_closures(socks, opened, until, stop_when_all=True):
    """Lifetimes (seconds from connect to the server's close) of the sockets closed by
    until; None for the ones still open. Bytes received count as not closed."""
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
    life = [None] * len(socks)
    left = len(socks)
    data = 0
    try:
        while time.time() < until and (left or not stop_when_all):
            for key, _ in sel.select(timeout=max(0.0, min(0.2, until - time.time()))):
                i = key.data
                try:
                    d = socks[i].recv(4096)
                except (ConnectionResetError, BlockingIOError) as e:
                    d = b"" if isinstance(e, ConnectionResetError) else None
                if d is None:
                    continue
                if d:
                    data += len(d)
                    continue
                life[i] = time.time() - opened[i]
                sel.unregister(socks[i])
                left -= 1
    finally:
        sel.close()
    return life, data


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def test_thousands_of_idle_connections():
    n = 2000
    limit = raise_nofile(n + 1024)
    if limit < n + 200:
        n = limit - 200
    t = Target("--timeout", str(TIMEOUT), "--max-per-ip", "100000", "--threads", "2")
    socks = []
    try:
        socks, opened = open_many(t.port, n)
        # meanwhile, others are served
        for _ in range(5):
            t.token_ok()
        rss_during = rss_kib(t.srv.pid)
        assert rss_during <= t.rss0 + RSS_MARGIN_KIB, (rss_during, t.rss0)
        life, data = watch_closures(socks, opened, opened[-1] + TIMEOUT + 4)
        still = sum(1 for l in life if l is None)
        assert still == 0, "%d of %d idle connections still open %ds after the last was opened" % (
            still, n, TIMEOUT + 4)
        assert data == 0, "the server sent %d bytes to idle connections" % data
        assert min(life) >= TIMEOUT - 0.5, "an idle connection was closed after %.2fs (timeout %d)" % (
            min(life), TIMEOUT)
        assert max(life) <= TIMEOUT + 3, max(life)
        t.healthy("%d idle connections" % n)
        t.assert_no_5xx_logged("idle connections")
    finally:
        close_all(socks)
        t.close()


def test_per_ip_limit_refuses_extra_connections_but_not_others():
    per_ip, threads, n, timeout = 300, 2, 1000, 4
    raise_nofile(n + 1024)
    # the legitimate client comes from another loopback address
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.2", 0))
    except OSError as e:
        raise AssertionError("127.0.0.2 is not usable as a source address here: %s" % e)
    finally:
        probe.close()
    t = Target("--timeout", str(timeout), "--max-per-ip", str(per_ip), "--threads", str(threads))
    socks = []
    try:
        socks, opened = open_many(t.port, n)
        # the refused ones are closed at once; the accepted ones stay until the timeout
        life, data = watch_closures(socks, opened, time.time() + 0.7, stop_when_all=False)
        refused = sum(1 for l in life if l is not None)
        assert refused >= n - per_ip * threads, "only %d of %d connections over the per-IP limit refused" % (
            refused, n)
        # another address is served while 127.0.0.1 is at its limit
        for _ in range(5):
            t.token_ok(source="127.0.0.2")
        # and a further connection from 127.0.0.1 is refused, with no answer
        for _ in range(3):
            raw, closed = exchange(t.port, build("GET", "/healthz"), timeout=3)
            assert raw == b"" and closed, "a connection over the per-IP limit was served: %r" % raw[:100]
        # the accepted ones are closed by the idle timeout, then 127.0.0.1 is welcome again
        rest = [i for i, l in enumerate(life) if l is None]
        assert time.time() - opened[-1] < timeout - 0.5, "too slow to check the limit within the timeout"
        life2, _ = watch_closures([socks[i] for i in rest], [opened[i] for i in rest], time.time() + timeout + 4)
        assert all(l is not None for l in life2), "%d connections never closed" % sum(l is None for l in life2)
        t.healthy("per-IP limit")
        t.assert_no_5xx_logged("per-IP limit")
    finally:
        close_all(socks)
        t.close()


def test_memory_bounded_under_partial_request_floods():
    """1000 connections at a time that fill their header budget or most of --max-body and
    then stall: memory grows by at most connections x (header + body) limits, the sweep cuts
    them after the timeout, and later rounds reuse the memory of the first (allocator
    noise aside: a leak of the buffers of each connection would add some 26 MiB a round)."""
    t = ctx()
    raise_nofile(1000 + 1024)
    after = []
    for rnd in range(3):
        socks, opened = open_many(t.port, 1000)
        try:
            for i, s in enumerate(socks):
                try:
                    if i % 2:
                        s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 20000)
                    else:
                        s.send(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM.encode() +
                               b"\r\nContent-Length: %d\r\n\r\na=" % (MAX_BODY - 100) + b"b" * (MAX_BODY - 1000))
                except OSError:
                    pass
            time.sleep(0.5)
            t.token_ok()
            during = rss_kib(t.srv.pid)
            t.rss_max = max(t.rss_max, during)
            assert during <= t.rss0 + RSS_MARGIN_KIB, "round %d: VmRSS %d KiB during the flood, started at %d" % (
                rnd, during, t.rss0)
            life, data = watch_closures(socks, opened, opened[-1] + TIMEOUT + 4)
            still = sum(1 for l in life if l is None)
            assert still == 0, "round %d: %d stalled connections never cut" % (rnd, still)
        finally:
            close_all(socks)
        t.healthy("partial-request flood %d" % rnd)
        after.append(rss_kib(t.srv.pid))
    assert SANITIZED or after[2] <= after[0] + 32 * 1024, "memory keeps growing over rounds: %r KiB" % after
    t.assert_no_5xx_logged("partial-request floods")


# ---- /v1 and Authorization ----

def test_v1_invalid_utf8_and_json_garbage():
    t = ctx()
    auth = t.owner_auth()
    bodies = [b"\xff\xfe\xfd", b'{"name":"\xff\xfe","verbs":["tickets:read"]}',
              b'{"name":"a\\u0000b","verbs":["tickets:read"]}', b'{"name":"\xc3","verbs":["tickets:read"]}',
              b'{"name":"x","verbs":"tickets:read"}', b"[1,2,3]", b"{", b"}", b"null", b'"str"', b"",
              b'{"name":"x","name":"y","verbs":["a:b"]}', b"[" * 20000, b'{"a":' * 5000,
              b'{"name":"x","verbs":["a:b"],"per_minute":1e400}', b'{"name":"x","verbs":["a:b"],"per_day":-1}',
              b'{"name":"x","verbs":["a:b"],"per_minute":99999999999999999999999}',
              b'{"name":"x","verbs":[' + b'"a:b",' * 3000 + b'"a:b"]}', b'{"name":"x","verbs":["a:b"]} trailing',
              b'{"name":"x","verbs":["a\\u0000:b"]}', b"\x00" * 100, b'{"\xff":1}']
    for body in bodies:
        st, h, b = t.srv.request("POST", "/v1/agents", body, {"Authorization": auth, "Content-Type": "application/json"})
        assert st in (400, 413), (st, body[:60], b)
        assert json.loads(b)["error"] == "invalid_request", b
        t.healthy("v1 body %r" % body[:30])
    agent = None
    st, h, b = t.srv.request("POST", "/v1/agents", b'{"name":"ok","verbs":["tickets:read"]}',
                             {"Authorization": auth, "Content-Type": "application/json"})
    assert st == 201, (st, b)
    agent = json.loads(b)["id"]
    for body in (b'{"grace_seconds":"x"}', b'{"grace_seconds":-5}', b'{"grace_seconds":1e999}', b"\xff",
                 b'{"grace_seconds":99999999}'):
        st, h, b = t.srv.request("POST", "/v1/agents/%s/rotate" % agent, body,
                                 {"Authorization": auth, "Content-Type": "application/json"})
        assert st == 400, (st, body, b)
        t.healthy("v1 rotate %r" % body)
    for q in ("since=%ff", "until=9999999999999999999999", "since=" + "9" * 500, "agent=" + "%00", "limit=-1"):
        st, h, b = t.srv.request("GET", "/v1/audit?" + q, None, {"Authorization": auth})
        assert st in (200, 400), (st, q, b)
        json.loads(b)
        t.healthy("v1 audit ?%s" % q)
    for path in ("/v1/agents/%ff%fe", "/v1/agents/" + "a" * 3000 + "/suspend", "/v1/%00", "/v1/agents/../../x",
                 "/v1/runs/" + "r" * 2000 + "/revoke"):
        st, h, b = t.srv.request("POST", path, b"", {"Authorization": auth, "Content-Type": "application/json"})
        assert st in (400, 404, 405), (st, path[:40], b)
        t.healthy("v1 path %s" % path[:40])
    # curl with an invalid UTF-8 body
    st, b, rc = curl(t, "/v1/agents", "-H", "Content-Type: application/json", "-H", "Authorization: " + auth,
                     data=b'{"name":"\xed\xa0\x80","verbs":["a:b"]}')
    assert st == 400, (st, b, rc)
    t.healthy("curl v1 bad utf-8")
    t.assert_no_5xx_logged("v1 garbage")


def test_huge_authorization_headers():
    t = ctx()
    body = b"grant_type=client_credentials"
    for size in (2000, 20000, 31000):
        auth = "Basic " + "A" * size
        resp = form_post(t, "/token", body, auth)
        if resp is not None and resp[0] == 431:
            t.healthy("Authorization of %d bytes (431)" % size)
            continue  # over the header budget: refused by the HTTP layer
        json_error(resp, 401, "invalid_client")
        assert resp[1].get("www-authenticate") == 'Basic realm="warrant"', resp[1]
        json_error(form_post(t, "/introspect", b"token=x", auth), 401, "invalid_client")
        json_error(form_post(t, "/revoke", b"token=x", auth), 401, "invalid_client")
        st, h, b = t.srv.request("GET", "/v1/agents", None, {"Authorization": auth})
        assert st == 401, (st, b)
        t.healthy("Authorization of %d bytes" % size)
    # a well-formed Basic with a very long id and secret
    long_basic = basic_header("agt_" + "x" * 5000, "wsk_" + "y" * 8000)
    json_error(form_post(t, "/token", body, long_basic), 401, "invalid_client")
    st, h, b = t.srv.request("GET", "/v1/agents", None,
                             {"Authorization": basic_header("a" * 6000 + "@example.com", "p" * 9000, form=False)})
    assert st == 401, (st, b)
    resp = form_post(t, "/token", body, "Basic " + "B" * 60000)
    assert resp is None or resp[0] == 431, resp
    st, b, rc = curl(t, "/token", "-H", "Content-Type: " + FORM, "-H", "Authorization: Bearer " + "t" * 20000,
                     data=body)
    assert st == 401 and json.loads(b)["error"] == "invalid_client", (st, b[:200], rc)
    t.healthy("huge Authorization")
    t.assert_no_5xx_logged("huge Authorization")


def test_malformed_basic_credentials():
    t = ctx()
    body = b"grant_type=client_credentials"
    b64 = lambda raw: "Basic " + base64.b64encode(raw).decode()
    cases = {
        "bad base64": "Basic !!!!****",
        "bad base64 length": "Basic abcde",
        "only padding": "Basic ====",
        "empty": "Basic ",
        "scheme only": "Basic",
        "no colon": b64(t.sc["id"].encode()),
        "no colon binary": b64(b"\x00\x01\x02\xff"),
        "empty id": b64((":" + t.sc["secret"]).encode()),
        "empty secret": b64((t.sc["id"] + ":").encode()),
        "colon only": b64(b":"),
        "control byte": b64((t.sc["id"] + ":\x01" + t.sc["secret"]).encode()),
        "bad escape": b64((t.sc["id"] + ":%zz").encode()),
        "other scheme": "Digest username=x",
        "lowercase basic with garbage": "basic " + "@" * 40,
    }
    for label, auth in cases.items():
        for path in ("/token", "/revoke", "/introspect"):
            resp = form_post(t, path, body if path == "/token" else b"token=x", auth)
            obj = json_error(resp, 401, "invalid_client")
            assert "access_token" not in obj
        st, h, b = t.srv.request("GET", "/v1/agents", None, {"Authorization": auth})
        assert st == 401, (label, st, b)
        t.healthy("Basic " + label)
    # curl with a hand-made header
    st, b, rc = curl(t, "/token", "-H", "Content-Type: " + FORM, "-H", "Authorization: Basic %%%%", data=body)
    assert st == 401 and json.loads(b)["error"] == "invalid_client", (st, b, rc)
    t.healthy("curl bad Basic")
    t.assert_no_5xx_logged("malformed Basic")


# ---- framing, error bodies and logs ----

def test_nul_in_a_header_value_is_handled_without_harm():
    """A NUL inside a header value. libmicrohttpd 0.9.75 ends a header value at a NUL, so
    "valid credentials + NUL + junk" would read as the valid credentials; the server sees
    the hidden bytes and refuses the request (RFC 9110 §5.5; test_smuggling.py covers it
    in full). What must hold here is that it answers sanely, never crashes, and keeps
    serving."""
    t = ctx()
    body = b"grant_type=client_credentials"
    for junk in (b"\x00garbage", b"\x00"):
        auth = t.agent_auth().encode() + junk
        resp = one(t.port, build("POST", "/token", [("Content-Type", FORM), ("Authorization", auth)], body))
        assert resp is not None and resp[0] == 400, (
            "Authorization with %r after valid credentials: %s" % (junk, resp and (resp[0], resp[2][:80])))
        t.healthy("NUL in Authorization")
    # a NUL inside a header name or in the Content-Type is refused or ignored, never fatal
    for hdr in ((b"X-A\x00b", b"1"), (b"Content-Type", FORM.encode() + b"\x00x")):
        resp = one(t.port, build("POST", "/token", [hdr, ("Authorization", t.agent_auth())], body))
        assert resp is None or resp[0] in (200, 400), resp and resp[0]
        t.healthy("NUL in a header")


def test_conflicting_request_framing_is_refused():
    """RFC 9112 §6.3: differing Content-Length values are unrecoverable framing errors (400,
    close); §6.1: a request with both Transfer-Encoding and Content-Length may be served by
    Transfer-Encoding but the connection must be closed after it. Either mistake lets a
    front proxy and this server disagree on where a request ends."""
    t = ctx()
    body = b"grant_type=client_credentials"
    auth = t.agent_auth()
    for first, second in ((len(body), 3), (3, len(body))):
        data = build("POST", "/token", [("Content-Type", FORM), ("Authorization", auth),
                                        ("Content-Length", str(first)), ("Content-Length", str(second))], body,
                     content_length=False)
        raw, closed = exchange(t.port, data)
        rs = parse_responses(raw)
        assert rs and rs[0][0] == 400, "Content-Length %d and %d: %s" % (
            first, second, [(r[0], r[2][:80]) for r in rs] or "no response")
        assert len(rs) == 1 and closed, [r[0] for r in rs]
        t.healthy("conflicting Content-Length")
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    data = build("POST", "/token", [("Content-Type", FORM), ("Authorization", auth), ("Content-Length", "5"),
                                    ("Transfer-Encoding", "chunked")], chunked, content_length=False, close=False)
    raw, closed = exchange(t.port, data, timeout=TIMEOUT + 4)
    rs = parse_responses(raw)
    assert rs and (rs[0][0] == 400 or rs[0][0] == 200), rs
    assert len(rs) == 1, [r[0] for r in rs]
    assert closed and rs[0][1].get("connection", "").lower() == "close", (
        "Transfer-Encoding with Content-Length: the connection was kept alive (%r)" % rs[0][1])
    t.healthy("Transfer-Encoding with Content-Length")


RFC6749_DESC = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]*$")


def test_error_bodies_are_json_in_the_rfc6749_character_set():
    """Error bodies must be JSON in UTF-8 (RFC 8259 §8.1); at the OAuth endpoints
    error_description may only hold %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2), so client
    input must not be echoed into it as raw bytes."""
    t = ctx()
    auth = t.agent_auth()
    bad = []
    oauth_cases = [
        ("/token", b"grant_type=client_credentials&scope=%ff%fe", auth),
        ("/token", b"grant_type=client_credentials&scope=%22%5c", auth),
        ("/token", b"grant_type=client_credentials&%ff%22=1&%ff%22=2", auth),
        ("/token", b"grant_type=client_credentials&scope=" + "é".encode() * 40, auth),
        ("/token", b"grant_type=client_credentials&run_id=%ff", auth),
        ("/token", b"grant_type=%ff", auth),
        ("/bc-authorize", b"scope=%ff%fe&workspace=" + t.sc["ws"]["id"].encode(), auth),
        ("/revoke", b"token=%ff", auth),
        ("/introspect", b"token=%ff&token=%ff", t.gw_auth()),
    ]
    for path, body, a in oauth_cases:
        resp = form_post(t, path, body, a)
        if resp is None or resp[0] < 400:
            continue
        try:
            obj = json.loads(resp[2].decode("utf-8"))
            desc = obj.get("error_description", "")
            if not RFC6749_DESC.match(desc):
                bad.append((path, body[:60], resp[2][:160]))
        except (UnicodeDecodeError, ValueError):
            bad.append((path, body[:60], resp[2][:160]))
    v1_cases = [
        ("POST", "/v1/runs/%ff%fe/revoke", b""),
        ("POST", "/v1/agents", b'{"' + b"a" * 39 + "é".encode() + b'":1}'),
        ("POST", "/v1/agents", b'{"name":"x","verbs":["' + "é".encode() + b'"]}'),
    ]
    for method, path, body in v1_cases:
        st, h, b = t.srv.request(method, path, body, {"Authorization": t.owner_auth(),
                                                      "Content-Type": "application/json"})
        try:
            json.loads(b.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            bad.append((path, body[:60], b[:160]))
    t.healthy("error bodies")
    assert not bad, "error bodies that are not UTF-8 JSON or leave the RFC 6749 set:\n" + "\n".join(
        "%s %r -> %r" % x for x in bad)


def test_request_log_lines_stay_valid_json():
    """Every line of the request log is one JSON object: nothing a client sends (method,
    path, credentials) can break a line or add a member to it."""
    t = ctx()
    t.new_log_lines()
    for method in (b'A"B', b"A\\B", b"G\x01T", b"\xff\xfe", b'x","level":"x', b"{}", b"GET\tX"):
        one(t.port, method + b" /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    odd = basic_header('agt_"x\\y', "s")
    form_post(t, "/token", b"grant_type=client_credentials", odd)
    one(t.port, build("GET", '/jwks?"a"=\\b', [("X-Request-Id", '"inj"')]))
    t.healthy("odd methods")
    bad = []

    def no_dups(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate member in %r" % keys)
        return dict(pairs)

    for line in t.new_log_lines():
        try:
            obj = json.loads(line.decode("utf-8"), object_pairs_hook=no_dups)
            assert isinstance(obj, dict) and obj.get("level") in ("debug", "info", "warn", "error"), obj
        except (UnicodeDecodeError, ValueError, AssertionError) as e:
            bad.append((line[:200], str(e)[:80]))
    assert not bad, "log lines that are not well-formed JSON objects:\n" + "\n".join("%r (%s)" % x for x in bad)

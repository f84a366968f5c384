"""test_gateways.py - forward authentication (SPEC "Gateways"): GET /check against a real
`warrant serve` (200 with the X-Warrant-* headers, 401 with and without an error code, 403
insufficient_scope, 401 invalid_client for the gateway's credentials, DPoP-bound tokens
with their proofs, the action rows), then Debian's nginx (auth_request) and Caddy
(forward_auth) in front of a tiny API on loopback, each configured by its file in
docs/examples/ itself (ports, paths and the gateway's credentials put in place of the
example's), end to end. docs/integrations.md shows both files verbatim."""
import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

import harness
from harness import basic_header, close_module_env, free_port, module_env

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
NGINX_EXAMPLE = os.path.join(ROOT, "docs", "examples", "nginx-auth-request.conf")
CADDY_EXAMPLE = os.path.join(ROOT, "docs", "examples", "Caddyfile")
DOC = os.path.join(ROOT, "docs", "integrations.md")
AUD_X = "https://orders.example.com/api"
_state = {}


# ---- the API behind the gateways: echoes what it was given ----

class Echo(http.server.BaseHTTPRequestHandler):
    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        got = {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-warrant-")}
        body = json.dumps({"method": self.command, "path": self.path, "headers": got}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_HEAD = answer

    def log_message(self, *args):
        pass


def _setup(env, s):
    s["gw"] = env.cli("resource", "add", "gateway")
    s["rs_x"] = env.cli("resource", "add", "orders", "--audience", AUD_X)
    s["srv"] = env.serve()
    s["api"] = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=s["api"].serve_forever, daemon=True).start()


def ctx():
    return module_env(_state, _setup)


def teardown_module():
    for key in ("nginx", "caddy"):
        if _state.get(key):
            _state[key].stop()
    if _state.get("api"):
        _state["api"].shutdown()
    close_module_env(_state)


def new_agent():
    env = ctx()["env"]
    o = env.owner()
    ws = env.workspace()
    env.member(ws["id"], o["id"], "tickets:read tickets:note")
    a = env.agent(o["id"], "tickets:read refunds:issue")
    return {"owner": o, "ws": ws, "id": a["client_id"], "secret": a["client_secret"]}


def mint(a, headers=None, **params):
    f = {"grant_type": "client_credentials"}
    f.update(params)
    st, _, body = ctx()["srv"].post_form("/token", f, basic=(a["id"], a["secret"]), headers=headers)
    assert st == 200, body
    return body


def gw_auth(rs=None):
    rs = rs or ctx()["gw"]
    return "Basic " + base64.b64encode(("%s:%s" % (rs["client_id"], rs["client_secret"])).encode()).decode()


def check(token=None, verb=None, scheme="Bearer", gw=None, method="GET", extra=None):
    h = {}
    if gw is not False:
        h["X-Warrant-Resource-Authorization"] = gw or gw_auth()
    if token is not None:
        h["Authorization"] = "%s %s" % (scheme, token)
    if verb:
        h["X-Warrant-Action"] = verb
    h.update(extra or {})
    return ctx()["srv"].request(method, "/check", None, h)


# ---- DPoP proofs, made independently (RFC 9449 §4.2) ----

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def public_jwk(key):
    n = key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}


def proof(key, htm, htu, token=None, **extra):
    claims = {"htm": htm, "htu": htu, "iat": int(time.time()), "jti": "p-%d" % time.time_ns()}
    if token:
        claims["ath"] = b64u(hashlib.sha256(token.encode()).digest())
    claims.update(extra)
    return jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": public_jwk(key)})


def dpop_token(a, key):
    srv = ctx()["srv"]
    return mint(a, headers={"DPoP": proof(key, "POST", srv.base + "/token")})["access_token"]


# ---- /check itself ----

def test_check_answers():
    a = new_agent()
    tok = mint(a, run_id="gw-run")
    t = tok["access_token"]
    st, h, b = check(t, "tickets:read", extra={"X-Warrant-Resource": "ticket/T-1042"})
    assert st == 200, (st, b)
    claims = jwt.decode(t, options={"verify_signature": False})
    assert h["x-warrant-agent"] == a["id"] and h["x-warrant-owner"] == a["owner"]["id"], h
    assert h["x-warrant-run"] == "gw-run" and h["x-warrant-workspace"] == claims["ws"], h
    assert h["x-warrant-scope"] == "tickets:read" and h.get("cache-control") == "no-store", h
    st, h, _ = check(t, "tickets:read", method="HEAD")
    assert st == 200 and h["x-warrant-agent"] == a["id"], h
    st, h, _ = check(t)  # no verb: is the token active here
    assert st == 200 and h["x-warrant-agent"] == a["id"], h
    # RFC 6750 §3.1: no token, no error code; a dead token, invalid_token
    st, h, _ = check(None, "tickets:read")
    assert st == 401 and h.get("www-authenticate") == 'Bearer realm="warrant"', h
    st, h, b = check("not.a.token", "tickets:read")
    assert st == 401 and 'error="invalid_token"' in h.get("www-authenticate", ""), h
    assert json.loads(b)["error"] == "invalid_token"
    st, h, b = check(t, "tickets:note")
    assert st == 403 and 'error="insufficient_scope"' in h.get("www-authenticate", ""), h
    assert 'scope="tickets:note"' in h["www-authenticate"], h
    assert "x-warrant-agent" not in h
    # a gateway registered with an audience sees only tokens meant for it
    st, h, _ = check(t, "tickets:read", gw=gw_auth(ctx()["rs_x"]))
    assert st == 401 and 'error="invalid_token"' in h["www-authenticate"], h
    tx = mint(a, resource=AUD_X)["access_token"]
    assert check(tx, "tickets:read", gw=gw_auth(ctx()["rs_x"]))[0] == 200
    # the gateway's own credentials
    for bad in (False, "Basic " + base64.b64encode(b"rs_nope:wsk_nope").decode(),
                "Basic " + base64.b64encode(("%s:wsk_wrong" % ctx()["gw"]["client_id"]).encode()).decode()):
        st, h, b = check(t, "tickets:read", gw=bad)
        assert st == 401 and json.loads(b)["error"] == "invalid_client", (bad, st, b)
        assert "basic" not in h.get("www-authenticate", "").lower(), h
    st, _, b = check(t, "tickets:read", gw=basic_header(a["id"], a["secret"]))
    assert st == 403, (st, b)
    st, _, b = check(t, "not a verb")
    assert st == 400 and json.loads(b)["error"] == "invalid_request", b
    # each check with a verb is an action row
    rows = [r for r in ctx()["env"].audit("--agent", a["id"]) if r["event"].startswith("action.")]
    ok = [r for r in rows if r["event"] == "action.allowed" and r["detail"].get("resource")]
    assert len(ok) == 1 and ok[0]["detail"]["resource"] == {"type": "ticket", "id": "T-1042"}, rows
    assert ok[0]["detail"]["via"] == "check" and ok[0]["detail"]["action"] == "tickets:read", ok
    assert ok[0]["run_id"] == "gw-run" and ok[0]["owner_id"] == a["owner"]["id"], ok
    no = [r for r in rows if r["event"] == "action.denied" and r["detail"].get("action") == "tickets:note"]
    assert len(no) == 1 and no[0]["detail"]["reason"] == "action_not_in_scope", rows


def test_check_dpop_bound_tokens():
    a = new_agent()
    key = ec.generate_private_key(ec.SECP256R1())
    t = dpop_token(a, key)
    fwd = {"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com",
           "X-Forwarded-Uri": "/tickets/1?full=1"}
    htu = "https://api.example.com/tickets/1"
    # RFC 9449 §7.1: a bound token is no bearer token
    st, h, _ = check(t, "tickets:read")
    assert st == 401 and 'error="invalid_token"' in h["www-authenticate"], h
    good = proof(key, "GET", htu, t)
    st, h, b = check(t, "tickets:read", scheme="DPoP", extra=dict(fwd, DPoP=good))
    assert st == 200 and h["x-warrant-agent"] == a["id"], (st, b)
    # the same proof again: a replay
    st, h, _ = check(t, "tickets:read", scheme="DPoP", extra=dict(fwd, DPoP=good))
    assert st == 401 and 'error="invalid_dpop_proof"' in h["www-authenticate"], h
    other = ec.generate_private_key(ec.SECP256R1())
    for name, p in (("other key", proof(other, "GET", htu, t)), ("no ath", proof(key, "GET", htu)),
                    ("wrong htu", proof(key, "GET", "https://api.example.com/refunds", t)),
                    ("wrong htm", proof(key, "POST", htu, t)),
                    ("old", proof(key, "GET", htu, t, iat=int(time.time()) - 600))):
        st, h, _ = check(t, "tickets:read", scheme="DPoP", extra=dict(fwd, DPoP=p))
        assert st == 401 and 'error="invalid_dpop_proof"' in h["www-authenticate"], (name, st, h)
    # without the forwarded request, there is nothing to check the proof against
    st, _, _ = check(t, "tickets:read", scheme="DPoP", extra={"DPoP": proof(key, "GET", htu, t)})
    assert st == 401
    # a bearer token under the DPoP scheme
    plain = mint(a)["access_token"]
    st, _, _ = check(plain, "tickets:read", scheme="DPoP", extra=dict(fwd, DPoP=proof(key, "GET", htu, plain)))
    assert st == 401


# ---- the gateways ----

def wait_port(port, proc, what, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "%s exited: %s" % (what, proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s did not listen on %d" % (what, port))


class Gateway:
    """A gateway process in the foreground with a config in the module's folder, stopped by
    its pid."""

    def __init__(self, name, argv, port, env=None):
        d = ctx()["env"].dir
        self.log_path = os.path.join(d, name + ".log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.port = port
        wait_port(port, self.proc, name)

    def request(self, method, path, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            c.request(method, path, body=b"{}" if method == "POST" else None, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def render(example, subs):
    """The example with each (pattern, replacement, count) applied; every pattern must match
    exactly count times, so the test follows the example."""
    text = open(example).read()
    for pattern, repl, count in subs:
        text, n = re.subn(pattern, repl, text, flags=re.M)
        assert n == count, "%r replaced %d times in %s, expected %d" % (pattern, n, example, count)
    return text


def creds():
    gw = ctx()["gw"]
    return base64.b64encode(("%s:%s" % (gw["client_id"], gw["client_secret"])).encode()).decode()


def nginx():
    s = ctx()
    if not s.get("nginx"):
        if not shutil.which("nginx") and not os.path.exists("/usr/sbin/nginx"):
            raise harness.Skip("nginx is not installed (scripts/deps.sh installs it)")
        d = s["env"].dir
        port = free_port()
        text = render(NGINX_EXAMPLE, [
            (r"^pid /run/nginx-warrant-api\.pid;", "pid %s/nginx.pid;" % d, 1),
            (r"/var/log/nginx/warrant-api\.", d + "/nginx.", 2),
            (r"^(\t\tlisten )127\.0\.0\.1:8000;", r"\g<1>127.0.0.1:%d;" % port, 1),
            (r"^(\t\tserver )127\.0\.0\.1:8080;", r"\g<1>127.0.0.1:%d;" % s["srv"].port, 1),
            (r"^(\t\t\tproxy_pass )http://127\.0\.0\.1:9000;", r"\g<1>http://127.0.0.1:%d;" % s["api"].server_port, 1),
            (r'"Basic RS_CREDENTIALS"', '"Basic %s"' % creds(), 1),
            # temporary files in the module's folder, for a run without root
            (r"^http \{\n", "http {\n\tclient_body_temp_path %s/nb;\n\tproxy_temp_path %s/np;\n"
             "\tfastcgi_temp_path %s/nf;\n\tuwsgi_temp_path %s/nu;\n\tscgi_temp_path %s/ns;\n" % ((d,) * 5), 1),
        ])
        cfg = os.path.join(d, "nginx.conf")
        with open(cfg, "w") as f:
            f.write(text)
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        base = [exe, "-p", d, "-e", os.path.join(d, "nginx.error.log"), "-c", cfg]
        p = subprocess.run(base + ["-t"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, "nginx refuses the example: " + p.stderr
        s["nginx"] = Gateway("nginx", base + ["-g", "daemon off;"], port)
    return s["nginx"]


def caddy():
    s = ctx()
    if not s.get("caddy"):
        exe = shutil.which("caddy")
        if not exe:
            raise harness.Skip("caddy is not installed (scripts/deps.sh installs it)")
        d = s["env"].dir
        port = free_port()
        text = render(CADDY_EXAMPLE, [
            (r"^http://127\.0\.0\.1:8001 \{", "http://127.0.0.1:%d {" % port, 1),
            (r"^(\tforward_auth )127\.0\.0\.1:8080 \{", r"\g<1>127.0.0.1:%d {" % s["srv"].port, 1),
            (r"^(\treverse_proxy )127\.0\.0\.1:9000$", r"\g<1>127.0.0.1:%d" % s["api"].server_port, 1),
            (r'"Basic RS_CREDENTIALS"', '"Basic %s"' % creds(), 1),
        ])
        cfg = os.path.join(d, "Caddyfile")
        with open(cfg, "w") as f:
            f.write(text)
        env = dict(os.environ, HOME=d, XDG_DATA_HOME=d, XDG_CONFIG_HOME=d)
        s["caddy"] = Gateway("caddy", [exe, "run", "--config", cfg, "--adapter", "caddyfile"], port, env=env)
    return s["caddy"]


def through(gw, label):
    """The same story through either gateway."""
    a = new_agent()
    tok = mint(a, run_id="via-" + label)
    t = tok["access_token"]
    auth = {"Authorization": "Bearer " + t}
    # let through, with who is calling; a header the client forged is replaced
    st, h, b = gw.request("GET", "/tickets/1", dict(auth, **{"X-Warrant-Agent": "agt_forged",
                                                             "X-Warrant-Actor": "agt_forged",
                                                             "X-Warrant-Action": "refunds:issue",
                                                             "X-Warrant-Resource": "ticket/forged"}))
    assert st == 200, (label, st, b)
    got = json.loads(b)
    assert got["path"] == "/tickets/1" and got["method"] == "GET", got
    hd = got["headers"]
    assert hd["x-warrant-agent"] == a["id"] and hd["x-warrant-owner"] == a["owner"]["id"], hd
    assert hd["x-warrant-run"] == "via-" + label and hd["x-warrant-scope"] == "tickets:read", hd
    assert "x-warrant-resource-authorization" not in hd, hd
    assert hd["x-warrant-actor"] == a["id"], hd  # not an exchanged token: the agent itself, not the client's word
    # the client's X-Warrant-Action and X-Warrant-Resource never reach /check
    mine = [r for r in ctx()["env"].audit("--agent", a["id"]) if r["event"] == "action.allowed"]
    assert len(mine) == 1 and "resource" not in mine[0]["detail"], mine
    # writing needs tickets:note, which the token does not hold: 403 with the challenge
    st, h, _ = gw.request("POST", "/tickets/1/notes", auth)
    assert st == 403 and 'error="insufficient_scope"' in h.get("www-authenticate", ""), (label, st, h)
    # no token: 401 with a challenge and no error code
    st, h, _ = gw.request("GET", "/tickets/1")
    assert st == 401 and h.get("www-authenticate") == 'Bearer realm="warrant"', (label, st, h)
    # revoked: the very next request is refused
    st, _, _ = ctx()["srv"].post_form("/revoke", {"token": t}, basic=(a["id"], a["secret"]))
    assert st == 200
    st, h, _ = gw.request("GET", "/tickets/1", auth)
    assert st == 401 and 'error="invalid_token"' in h.get("www-authenticate", ""), (label, st, h)
    # a DPoP-bound token with its proof for the URL the gateway was asked for
    key = ec.generate_private_key(ec.SECP256R1())
    bound = dpop_token(a, key)
    url = "http://127.0.0.1:%d/tickets/2" % gw.port
    st, _, b = gw.request("GET", "/tickets/2?x=1", {"Authorization": "DPoP " + bound,
                                                      "DPoP": proof(key, "GET", url, bound)})
    assert st == 200 and json.loads(b)["headers"]["x-warrant-agent"] == a["id"], (label, st, b)
    # the trail names the gateway's resource server and the verb
    rows = [r for r in ctx()["env"].audit("--agent", a["id"]) if r["event"].startswith("action.")]
    assert any(r["event"] == "action.allowed" and r["detail"].get("action") == "tickets:read" for r in rows), rows
    assert any(r["event"] == "action.denied" and r["detail"].get("action") == "tickets:note" for r in rows), rows


def test_nginx_auth_request_end_to_end():
    through(nginx(), "nginx")


def test_caddy_forward_auth_end_to_end():
    through(caddy(), "caddy")


def test_docs_show_the_configurations():
    doc = open(DOC).read()
    for example in (NGINX_EXAMPLE, CADDY_EXAMPLE):
        assert open(example).read().strip() in doc, "docs/integrations.md must show %s verbatim" % example


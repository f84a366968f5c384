"""test_integrations.py - the two downstream integrations of docs/integrations.md, run for
real on 127.0.0.1 with the files of docs/examples/ as they are (so the doc and what is
tested cannot drift):

(a) Apache httpd + mod_oauth2 (docs/examples/apache-oauth2.conf) in front of
    docs/examples/upstream_app.py: every request is checked at Warrant's /introspect, so a
    revoked token or a suspended agent is refused at once;
(b) docs/examples/jwks_verify_api.py, which verifies tokens locally against /jwks: valid
    tokens pass, tampered ones do not, and a revoked token is still accepted until its exp
    (the documented trade-off).

Apache runs as its own process with its own config, pid file and logs in a temporary
folder, on a free loopback port, and is stopped by its pid."""
import base64
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from harness import Env, basic_header, free_port, jwt_parts

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
EXAMPLES = os.path.join(ROOT, "docs", "examples")
DOC = os.path.join(ROOT, "docs", "integrations.md")
APACHE_CONF = os.path.join(EXAMPLES, "apache-oauth2.conf")
UPSTREAM_APP = os.path.join(EXAMPLES, "upstream_app.py")
JWKS_API = os.path.join(EXAMPLES, "jwks_verify_api.py")
AUDIT_VERIFY = os.path.join(EXAMPLES, "audit_chain_verify.py")
APACHE = "/usr/sbin/apache2"
MOD_OAUTH2 = "/usr/lib/apache2/modules/mod_oauth2.so"
PY = "/usr/bin/python3"
ORDERS = "https://orders.example.com"
FORM = "application/x-www-form-urlencoded"

_state = {}
_procs = []  # (name, Popen) of everything this module started


def ctx():
    """A database, a Warrant server, a resource server for the orders API and one agent."""
    if "env" not in _state:
        env = Env()
        _state["env"] = env
        try:
            _state["sc"] = env.scenario()
            _state["rs"] = env.cli("resource", "add", "orders-api", "--audience", ORDERS)
            _state["gw"] = env.cli("resource", "add", "gateway")
            _state["srv"] = env.serve()
        except Exception:
            env.close()
            _state.clear()
            raise
    return _state


def teardown_module():
    for name, p in reversed(_procs):
        stop(p)
    _procs.clear()
    fake = _state.get("fake_issuer")
    if fake:
        fake.shutdown()
        fake.server_close()
    env = _state.get("env")
    if env:
        env.close()
    _state.clear()


# ---- processes ----

def start(name, args, env=None, log=None):
    out = open(log, "wb") if log else subprocess.DEVNULL
    p = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    _procs.append((name, p))
    return p


def stop(p, timeout=10):
    """Stops the process p started, by its pid."""
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


def get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def wait_http(port, proc, what, log=None, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("%s exited %s: %s" % (what, proc.returncode, read(log)))
        try:
            get(port, "/")
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s did not answer on 127.0.0.1:%d: %s" % (what, port, read(log)))


def read(path):
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


def new_token(sc=None, srv=None, **params):
    s = ctx()
    sc = sc or s["sc"]
    st, _, body = (srv or s["srv"]).token(sc["id"], sc["secret"], **params)
    assert st == 200, (st, body)
    return body["access_token"]


def revoke(sc, tok, srv=None):
    st, _, b = (srv or ctx()["srv"]).request(
        "POST", "/revoke", urllib.parse.urlencode({"token": tok}),
        {"Content-Type": FORM, "Authorization": basic_header(sc["id"], sc["secret"])})
    assert (st, b) == (200, b""), (st, b)


def introspected(tok, srv=None):
    s = ctx()
    st, _, b = (srv or s["srv"]).request("POST", "/introspect", urllib.parse.urlencode({"token": tok}),
                                {"Content-Type": FORM,
                                 "Authorization": basic_header(s["gw"]["client_id"], s["gw"]["client_secret"])})
    assert st == 200, (st, b)
    return json.loads(b)


def flip_sig(token):
    h, p, s = token.split(".")
    i = len(s) // 2
    return ".".join((h, p, s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]))


def with_claim(token, name, value):
    """The token with one claim changed and the original signature kept."""
    h, p, s = token.split(".")
    claims = jwt_parts(token)[1]
    claims[name] = value
    p2 = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return ".".join((h, p2, s))


# ---- (a) Apache httpd + mod_oauth2, introspecting every request ----

def apache():
    """Starts upstream_app.py and Apache with docs/examples/apache-oauth2.conf, unchanged."""
    s = ctx()
    if "apache_port" in s:
        return s
    missing = [p for p in (APACHE, MOD_OAUTH2) if not os.path.exists(p)]
    assert not missing, ("missing %s: install the Debian packages apache2-bin and "
                         "libapache2-mod-oauth2 (scripts/deps.sh)" % ", ".join(missing))
    env = s["env"]
    adir = os.path.join(env.dir, "apache")
    os.mkdir(adir)
    up_port, ap_port = free_port(), free_port()
    up = start("upstream", [PY, UPSTREAM_APP, "127.0.0.1:%d" % up_port], log=os.path.join(adir, "upstream.out"))
    wait_http(up_port, up, "upstream_app.py", os.path.join(adir, "upstream.out"))
    e = dict(os.environ, APACHE_DIR=adir, LISTEN="127.0.0.1:%d" % ap_port, WARRANT_URL=s["srv"].base,
             RS_CLIENT_ID=s["rs"]["client_id"], RS_CLIENT_SECRET=s["rs"]["client_secret"],
             UPSTREAM="http://127.0.0.1:%d" % up_port)
    out = os.path.join(adir, "apache.out")
    ap = start("apache", [APACHE, "-f", APACHE_CONF, "-DFOREGROUND"], env=e, log=out)
    try:
        wait_http(ap_port, ap, "apache2", out)
    except AssertionError as err:
        raise AssertionError("%s\nerror.log: %s" % (err, read(os.path.join(adir, "error.log"))))
    pid = int(open(os.path.join(adir, "httpd.pid")).read())
    assert pid == ap.pid, (pid, ap.pid)  # the pid file is ours: stopped by that pid
    s["apache_port"], s["apache_dir"], s["upstream_port"] = ap_port, adir, up_port
    return s


def api(tok=None, path="/api/orders/42", headers=None):
    h = dict(bearer(tok)) if tok else {}
    h.update(headers or {})
    return get(apache()["apache_port"], path, h)


def assert_401(resp):
    st, h, b = resp
    assert st == 401, (st, b[:300])
    assert h.get("www-authenticate", "").startswith("Bearer"), h
    assert b"agt_" not in b


def test_apache_no_token_401():
    assert_401(api())
    assert_401(api(headers={"Authorization": "Basic Zm9vOmJhcg=="}))


def test_apache_active_token_200_with_claims():
    s = apache()
    tok = new_token(resource=ORDERS)
    claims = jwt_parts(tok)[1]
    st, _, b = api(tok)
    assert st == 200, (st, b[:300], read(os.path.join(s["apache_dir"], "error.log")))
    body = json.loads(b)
    assert body["path"] == "/orders/42", body
    assert body["agent"] == s["sc"]["id"] == claims["sub"], body
    assert body["owner"] == claims["owner_id"] and body["run_id"] == claims["run_id"], body
    assert body["scope"] == "tickets:read", body


def test_apache_client_cannot_forge_claim_headers():
    s = apache()
    tok = new_token(resource=ORDERS)
    st, _, b = api(tok, headers={"OAUTH2_CLAIM_sub": "agt_forged", "OAUTH2_CLAIM_owner_id": "usr_forged"})
    assert st == 200, (st, b[:300])
    body = json.loads(b)
    assert body["agent"] == s["sc"]["id"] and body["owner"] != "usr_forged", body
    # and without a token the forged headers get nowhere
    assert_401(api(headers={"OAUTH2_CLAIM_sub": "agt_forged"}))


def test_apache_refuses_garbage_tampered_and_other_audience():
    apache()
    tok = new_token(resource=ORDERS)
    assert_401(api("garbage"))
    assert_401(api(flip_sig(tok)))
    assert_401(api(with_claim(tok, "scope", "tickets:read refunds:issue")))
    # a token meant for another audience (Warrant's default) is inactive for this API
    assert_401(api(new_token()))
    assert api(tok)[0] == 200


def test_apache_revoked_token_401_at_once():
    s = apache()
    tok = new_token(resource=ORDERS)
    assert api(tok)[0] == 200
    assert api(tok)[0] == 200
    revoke(s["sc"], tok)
    assert_401(api(tok))  # no cache in between: refused on the next request
    assert api(new_token(resource=ORDERS))[0] == 200


def test_apache_kill_switch_from_command_line_within_one_second():
    s = apache()
    env = s["env"]
    a = env.agent(s["sc"]["owner"]["id"], "tickets:read", name="runaway")
    sc = dict(id=a["client_id"], secret=a["client_secret"])
    tok = new_token(sc, resource=ORDERS)
    assert api(tok)[0] == 200
    env.cli("agent", "suspend", a["id"])
    t0 = time.monotonic()
    while api(tok)[0] == 200:
        assert time.monotonic() - t0 <= 1.0, "suspended agent's token still accepted after 1 s"
        time.sleep(0.02)
    assert_401(api(tok))


# ---- (b) local verification against /jwks ----

def start_jwks_api(issuer, audience, leeway="0"):
    port = free_port()
    log = os.path.join(ctx()["env"].dir, "jwks-api-%d.out" % port)
    p = start("jwks_verify_api", [PY, JWKS_API, "--listen", "127.0.0.1:%d" % port, "--issuer", issuer,
                                  "--audience", audience, "--leeway", leeway], log=log)
    wait_http(port, p, "jwks_verify_api.py", log)
    return port


def jwks_api():
    """The example pointed at the module's server; plus a second Warrant process on the same
    database and issuer whose tokens live 2 s, for the expiry trade-off."""
    s = ctx()
    if "jwks_port" not in s:
        s["short"] = s["env"].serve("--token-ttl", "2", "--issuer", s["srv"].base)
        # leeway 0 so that the test can watch exp take effect without waiting a minute
        s["jwks_port"] = start_jwks_api(s["srv"].base, ORDERS)
    return s


def local(tok=None, path="/api/orders"):
    return get(jwks_api()["jwks_port"], path, bearer(tok) if tok else {})


def test_jwks_active_token_200():
    s = jwks_api()
    tok = new_token(resource=ORDERS)
    st, _, b = local(tok)
    assert st == 200, (st, b)
    body = json.loads(b)
    assert body["agent"] == s["sc"]["id"] and body["scope"] == "tickets:read", body
    assert body["exp"] == jwt_parts(tok)[1]["exp"]


def test_jwks_rejects_tampered_and_wrong_tokens():
    jwks_api()
    tok = new_token(resource=ORDERS)
    st, h, _ = local()
    assert st == 401 and h.get("www-authenticate", "").startswith("Bearer"), (st, h)
    for bad in ("garbage", flip_sig(tok), with_claim(tok, "sub", "agt_someone_else"),
                with_claim(tok, "exp", jwt_parts(tok)[1]["exp"] + 3600),
                new_token()):  # the last: signed and active, but for another audience
        st, h, b = local(bad)
        assert st == 401, (st, b)
        assert 'error="invalid_token"' in h.get("www-authenticate", ""), h
    assert local(tok)[0] == 200


def test_jwks_checks_issuer():
    s = jwks_api()
    # the same database and keys, but a server calling itself by another issuer name
    other = s["env"].serve()
    st, _, body = other.token(s["sc"]["id"], s["sc"]["secret"], resource=ORDERS)
    assert st == 200, body
    assert jwt_parts(body["access_token"])[1]["iss"] == other.base
    st, _, b = local(body["access_token"])
    assert st == 401, (st, b)
    other.stop()


def test_jwks_revoked_token_still_accepted_until_exp():
    """The trade-off of local verification: revocation is invisible until exp."""
    s = jwks_api()
    short = s["short"]
    tok = new_token(srv=short, resource=ORDERS)
    exp = jwt_parts(tok)[1]["exp"]
    revoke(s["sc"], tok, srv=short)
    assert introspected(tok, short) == {"active": False}  # Warrant knows it is dead
    assert time.time() < exp, "token expired before the check; the machine is too slow"
    st, _, b = local(tok)
    assert st == 200, (st, b)  # ...but the local verifier still takes it
    while time.time() < exp + 0.05:
        time.sleep(0.05)
    assert local(tok)[0] == 401  # until exp (leeway 0 here; 60 s by default)


def test_jwks_requires_typ_at_jwt():
    """jwks_verify_api.py against a throwaway issuer whose key the test holds, so that it
    can sign tokens differing only in typ."""
    s = ctx()
    key = ec.generate_private_key(ec.SECP256R1())
    pub = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    pub.update(kid="test-key", use="sig", alg="ES256")
    port = free_port()
    issuer = "http://127.0.0.1:%d" % port

    class Issuer(BaseHTTPRequestHandler):
        def do_GET(self):
            docs = {"/.well-known/oauth-authorization-server": {"issuer": issuer, "jwks_uri": issuer + "/jwks"},
                    "/jwks": {"keys": [pub]}}
            body = json.dumps(docs.get(self.path, {})).encode()
            self.send_response(200 if self.path in docs else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    fake = ThreadingHTTPServer(("127.0.0.1", port), Issuer)
    s["fake_issuer"] = fake
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    now = int(time.time())
    claims = {"iss": issuer, "sub": "agt_x", "aud": ORDERS, "exp": now + 300, "iat": now, "nbf": now,
              "jti": "j1", "client_id": "agt_x", "scope": "tickets:read"}
    api_port = start_jwks_api(issuer, ORDERS)

    def call(typ, c=claims):
        tok = jwt.encode(c, key, algorithm="ES256", headers={"kid": "test-key", "typ": typ})
        return get(api_port, "/api/x", bearer(tok))[0]

    # the example fetches the throwaway issuer's JWKS on first use: give a loaded machine a
    # few seconds for that, then every answer below must be exact
    deadline = time.time() + 5
    first = call("at+jwt")
    while first != 200 and time.time() < deadline:
        time.sleep(0.2)
        first = call("at+jwt")
    assert first == 200, first
    assert call("application/at+jwt") == 200
    assert call("JWT") == 401
    assert call("id_token+jwt") == 401
    assert call("at+jwt", dict(claims, exp=now - 10)) == 401
    no_scope = {k: v for k, v in claims.items() if k != "scope"}
    assert call("at+jwt", no_scope) == 401


# ---- the doc shows exactly what is tested ----

def fenced_blocks(text):
    return re.findall(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.M | re.S)


def test_doc_shows_the_tested_files():
    with open(DOC) as f:
        doc = f.read()
    with open(APACHE_CONF) as f:
        conf = f.read()
    blocks = fenced_blocks(doc)
    assert any(lang == "apache" and body == conf for lang, body in blocks), \
        "docs/integrations.md must show docs/examples/apache-oauth2.conf verbatim"
    sources = {}
    for name in (UPSTREAM_APP, JWKS_API, AUDIT_VERIFY):
        with open(name) as f:
            sources[name] = f.read()
    py = [body for lang, body in blocks if lang == "python"]
    assert py, "no python block in docs/integrations.md"
    for body in py:
        assert any(body in src for src in sources.values()), \
            "a python block of docs/integrations.md is not an excerpt of docs/examples/:\n" + body
    for name in ("apache-oauth2.conf", "upstream_app.py", "jwks_verify_api.py", "audit_chain_verify.py"):
        assert "examples/" + name in doc, name

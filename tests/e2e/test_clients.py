"""test_clients.py - Warrant's discovery document, tokens and introspection through widespread
client libraries, unmodified (SPEC "HTTP endpoints": the metadata must satisfy openid-client,
oauth4webapi, authlib, express-oauth2-jwt-bearer and the MCP TypeScript SDK):

* the official MCP TypeScript SDK: a small MCP server (the SDK's server side, streamable
  HTTP) that checks Warrant's tokens at /introspect and points clients at Warrant with RFC
  9728 metadata; the SDK's client with ClientCredentialsProvider discovers Warrant, gets a
  token, calls the tool, and fails once its agent is suspended; the same client with
  PrivateKeyJwtProvider (an agent with an EC key and no secret: a fresh assertion per token,
  audited as private_key_jwt with the key's credential, a lifetime beyond 300 s refused) and
  with StaticPrivateKeyJwtProvider (one assertion, whose second use Warrant refuses);
* Auth0's express-oauth2-jwt-bearer, given only the issuer URL: a Warrant token is accepted,
  a tampered one refused;
* authlib's RFC 8414 validation (python3-authlib);
* openid-client and oauth4webapi: discovery and a client_credentials grant;
* Apache httpd with mod_auth_openidc (docs/examples/apache-openidc.conf, as it is):
  introspection on every request, claim checks, a kill switch seen at once.

Warrant serves https here (a self-signed certificate made with the openssl command line, given
to Node as NODE_EXTRA_CA_CERTS and to Python's ssl as the only CA), so no library needs an
insecure-transport switch (Apache, whose libcurl reads only the system's CAs, talks to a
second, plain-http server on the same database). The Node programs live in tests/interop/clients, installed with
`npm ci` from the committed package-lock.json. Each runs as its own process on a free
loopback port and is stopped by its pid."""
import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from harness import Env, TlsServer, close_module_env, free_port, jwt_parts, make_cert, module_env

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = os.path.normpath(os.path.join(HERE, "..", "interop", "clients"))
PACKAGES = ("@modelcontextprotocol/sdk", "express", "express-oauth2-jwt-bearer", "oauth4webapi", "openid-client")
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DOC = os.path.join(ROOT, "docs", "integrations.md")
OPENIDC_CONF = os.path.join(ROOT, "docs", "examples", "apache-openidc.conf")
APACHE = "/usr/sbin/apache2"
MOD_AUTH_OPENIDC = "/usr/lib/apache2/modules/mod_auth_openidc.so"
ORDERS = "https://orders.example.com"
FORM = "application/x-www-form-urlencoded"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
WELL_KNOWN = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")

_state = {}
_procs = []  # Popen of every process (Node, Apache) this module started


def _setup(env, st):
    st["cert"], st["key"] = make_cert(env.dir)
    st["sc"] = env.scenario()
    st["mcp_port"] = free_port()
    st["mcp_url"] = "http://127.0.0.1:%d/mcp" % st["mcp_port"]
    st["rs_mcp"] = env.cli("resource", "add", "mcp-tools", "--audience", st["mcp_url"])
    st["rs_orders"] = env.cli("resource", "add", "orders-api", "--audience", ORDERS)
    srv = TlsServer(env, st["cert"], st["key"])
    env.servers.append(srv)  # stopped by env.close()
    st["srv"] = srv


def ctx():
    """One database with an owner, a workspace, an agent and two resource servers (an MCP
    server's URL and the orders API); Warrant serving it over https."""
    return module_env(_state, _setup)


def teardown_module():
    for p in _procs:
        stop(p)
    _procs.clear()
    up = _state.get("upstream")
    if up:
        up.shutdown()
        up.server_close()
    close_module_env(_state)


# ---- Node programs ----

def npm_ci():
    if all(os.path.isdir(os.path.join(CLIENTS, "node_modules", p)) for p in PACKAGES):
        return
    npm = shutil.which("npm")
    assert npm, "npm is not installed (Debian packages nodejs and npm)"
    p = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=CLIENTS,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, "npm ci failed:\n" + p.stdout + p.stderr


def node(script, stdin=None, **env):
    """Starts tests/interop/clients/SCRIPT with Node, Warrant's certificate trusted."""
    exe = shutil.which("node")
    assert exe, "node is not installed (Debian package nodejs)"
    npm_ci()
    e = dict(os.environ, NODE_EXTRA_CA_CERTS=ctx()["cert"], **env)
    p = subprocess.Popen([exe, os.path.join(CLIENTS, script)], cwd=CLIENTS, env=e, text=True,
                         stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()


def read_step(p, timeout=30):
    """The next JSON line the program prints, or an assertion with its stderr."""
    box = []
    t = threading.Thread(target=lambda: box.append(p.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not box or not box[0]:
        stop(p)
        raise AssertionError("no output from node (rc %s): %s" % (p.returncode, p.stderr.read()))
    return json.loads(box[0])


def run_to_end(script, timeout=60, **env):
    p = node(script, **env)
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        stop(p)
    return p.returncode, [json.loads(l) for l in out.splitlines() if l.strip()], err


def serving(script, **env):
    """Starts a Node server and waits for its {"step":"listening"} line."""
    p = node(script, **env)
    first = read_step(p)
    assert first["step"] == "listening", (first, p.stderr.read() if p.poll() is not None else "")
    return p


# ---- helpers ----

def verify(token, audience):
    """Checks a token with PyJWT against the https /jwks: signature, iss, aud, exp, typ."""
    s = ctx()
    st, _, jwks = s["srv"].get_json("/jwks")
    assert st == 200, st
    keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
    h = jwt.get_unverified_header(token)
    assert h["typ"] == "at+jwt", h
    return jwt.decode(token, keys[h["kid"]].key, algorithms=[h["alg"]], issuer=s["srv"].base, audience=audience)


def token(agent, **params):
    s = ctx()
    f = {"grant_type": "client_credentials"}
    f.update(params)
    st, _, b = s["srv"].post_form("/token", f, basic=(agent["client_id"], agent["client_secret"]))
    assert st == 200, (st, b)
    return b["access_token"]


def introspect(rs, tok):
    st, _, b = ctx()["srv"].post_form("/introspect", {"token": tok}, basic=(rs["client_id"], rs["client_secret"]))
    assert st == 200, (st, b)
    return b


def wait_inactive(rs, tok):
    """A change made with the command line is seen by the server within one second."""
    deadline = time.time() + 1.5
    while introspect(rs, tok)["active"] and time.time() < deadline:
        time.sleep(0.05)
    assert introspect(rs, tok) == {"active": False}


def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()


def http_get(port, path, bearer=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path, headers={"Authorization": "Bearer " + bearer} if bearer else {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(r.read() or b"null")
    finally:
        c.close()


# ---- the document itself ----

def test_discovery_names_what_every_client_requires():
    s = ctx()
    srv = s["srv"]
    docs = [srv.get_json(p) for p in WELL_KNOWN]
    for st, h, d in docs:
        assert st == 200 and h["content-type"].startswith("application/json"), (st, h)
    d = docs[0][2]
    assert docs[1][2] == d, "the two paths serve different documents"
    assert d["issuer"] == srv.base and d["issuer"].startswith("https://"), d["issuer"]
    # the MCP SDK's schema requires an authorization endpoint: it exists, on this server
    assert d["authorization_endpoint"] == srv.base + "/authorize", d
    # authlib requires a non-empty list; no browser flow is offered, so no "code"
    assert d["response_types_supported"] == ["none"], d
    assert "code_challenge_methods_supported" not in d, d
    assert d["request_uri_parameter_supported"] is False, d
    # express-oauth2-jwt-bearer accepts only these algorithms: exactly the one that signs
    st, _, jwks = srv.get_json("/jwks")
    algs = {k["alg"] for k in jwks["keys"]}
    assert d["id_token_signing_alg_values_supported"] == ["ES256"] == sorted(algs), (d, algs)
    assert d["access_token_signing_alg_values_supported"] == d["id_token_signing_alg_values_supported"], d
    # SPEC POST /introspect: both methods are advertised
    assert d["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"], d
    assert d["token_endpoint_auth_methods_supported"][:2] == ["client_secret_basic", "client_secret_post"], d
    assert d["grant_types_supported"] == ["client_credentials", "urn:openid:params:grant-type:ciba",
                                          "urn:ietf:params:oauth:grant-type:token-exchange"], d
    tok = token(s["sc"]["agent"])
    assert jwt.get_unverified_header(tok)["alg"] in d["id_token_signing_alg_values_supported"]


def test_authorization_endpoint_answers_rfc6749_errors_and_never_redirects():
    srv = ctx()["srv"]
    q = urllib.parse.urlencode({"response_type": "code", "client_id": ctx()["sc"]["id"],
                                "redirect_uri": "https://attacker.example/cb", "state": "xyz",
                                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                                "code_challenge_method": "S256"})
    json_ct = "application/json"
    cases = [("GET", "/authorize?" + q, None, None, "unsupported_response_type"),
             ("GET", "/authorize?response_type=none&client_id=x", None, None, "unsupported_response_type"),
             ("GET", "/authorize?client_id=x", None, None, "invalid_request"),
             ("GET", "/authorize?response_type=code&response_type=token", None, None, "invalid_request"),
             ("POST", "/authorize", q, FORM, "unsupported_response_type"),
             ("POST", "/authorize", "response_type=code&response_type=code", FORM, "invalid_request"),
             ("POST", "/authorize", "client_id=x", FORM, "invalid_request"),
             ("POST", "/authorize", '{"response_type":"code"}', json_ct, "invalid_request"),
             ("POST", "/authorize", "response_type=%zz", FORM, "invalid_request")]
    for method, path, body, ctype, code in cases:
        st, h, b = srv.request(method, path, body, {"Content-Type": ctype} if ctype else {})
        # RFC 6749 §4.1.2.1: the redirection URI is not verified, so the error is not sent there
        assert st == 400 and "location" not in h, (method, path, st, h)
        assert h["cache-control"] == "no-store", h
        e = json.loads(b)
        assert e["error"] == code and e["error_description"], (path, e)
    st, h, _ = srv.request("DELETE", "/authorize")
    assert st == 405 and h["allow"] == "GET, POST", (st, h)


def test_authlib_validates_the_metadata():
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
    from authlib.oidc.discovery import OpenIDProviderMetadata
    srv = ctx()["srv"]
    for path in WELL_KNOWN:
        st, _, d = srv.get_json(path)
        assert st == 200, st
        AuthorizationServerMetadata(d).validate()
        # authlib's OIDC check also wants RS256 among the ID-token algorithms (OIDC Discovery
        # §3, for providers that issue ID tokens); an ES256 server does not claim it
        try:
            OpenIDProviderMetadata(d).validate()
            raise AssertionError("an ES256 server claims RS256")
        except ValueError as e:
            assert "RS256" in str(e), e
    # a server whose keys are RS256 satisfies authlib's OIDC validation as well
    env = Env(alg="RS256")
    try:
        rs = TlsServer(env, ctx()["cert"], ctx()["key"])
        env.servers.append(rs)
        st, _, d = rs.get_json("/.well-known/openid-configuration")
        assert d["id_token_signing_alg_values_supported"] == ["RS256"], d
        AuthorizationServerMetadata(d).validate()
        OpenIDProviderMetadata(d).validate()
    finally:
        env.close()


# ---- Node clients ----

def test_openid_client_and_oauth4webapi_discover_and_get_tokens():
    s = ctx()
    a = s["sc"]["agent"]
    rc, steps, err = run_to_end("discovery_clients.mjs", WARRANT_ISSUER=s["srv"].base,
                                WARRANT_CLIENT_ID=a["client_id"], WARRANT_CLIENT_SECRET=a["client_secret"],
                                SCOPE="tickets:read")
    assert rc == 0, (rc, steps, err)
    by = {x["step"]: x for x in steps}
    assert set(by) == {"openid-client", "oauth4webapi/oidc", "oauth4webapi/oauth2", "mcp-sdk"}, steps
    for x in steps:
        assert x["issuer"] == s["srv"].base, x
    tokens = [by["openid-client"]["access_token"]]
    for k in ("oauth4webapi/oidc", "oauth4webapi/oauth2"):
        assert by[k]["token_endpoint"] == s["srv"].base + "/token", by[k]
        tokens += [by[k]["tokens"]["client_secret_basic"], by[k]["tokens"]["client_secret_post"]]
    jtis = {}
    for i, t in enumerate(tokens):
        c = verify(t, s["srv"].base)
        assert c["sub"] == a["client_id"] and c["scope"] == "tickets:read", c
        jtis[c["jti"]] = "client_secret_post" if i in (2, 4) else "client_secret_basic"
    # the audit trail shows which client authentication each library used
    seen = {r["jti"]: r["detail"]["auth_method"] for r in s["env"].audit("--agent", a["client_id"])
            if r["event"] == "token.issued" and r["jti"] in jtis}
    assert seen == jtis, (seen, jtis)
    # the MCP SDK parses the document, and refuses a browser flow up front
    assert by["mcp-sdk"]["authorization_endpoint"] == s["srv"].base + "/authorize", by["mcp-sdk"]
    assert "does not support response type code" in by["mcp-sdk"]["browser_flow"], by["mcp-sdk"]


def test_express_oauth2_jwt_bearer_with_issuer_base_url():
    s = ctx()
    a = s["sc"]["agent"]
    port = free_port()
    api = serving("jwt_bearer_api.mjs", WARRANT_ISSUER=s["srv"].base, API_AUDIENCE=ORDERS, API_PORT=str(port))
    try:
        tok = token(a, resource=ORDERS, scope="tickets:read")
        st, _, b = http_get(port, "/orders", tok)
        assert st == 200, (st, b)
        claims = verify(tok, ORDERS)
        assert b["sub"] == a["client_id"] and b["run"] == claims["run_id"] and b["alg"] == "ES256", b
        # a claim changed after signing: the signature no longer matches
        h, p, sig = tok.split(".")
        payload = jwt_parts(tok)[1]
        payload["sub"] = "agt_someoneelse000000000000000"
        for bad in (h + "." + b64url(payload) + "." + sig,
                    h + "." + p + "." + sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]):
            st, hd, b = http_get(port, "/orders", bad)
            assert st == 401 and 'error="invalid_token"' in hd["www-authenticate"], (st, hd, b)
        # a token for another audience (the default: the issuer) is refused too
        st, hd, b = http_get(port, "/orders", token(a))
        assert st == 401 and 'error="invalid_token"' in hd["www-authenticate"], (st, hd, b)
        st, hd, b = http_get(port, "/orders")
        assert st == 401, (st, hd, b)
        # a good token without the verb the route requires
        note = s["env"].agent(s["sc"]["owner"]["id"], "tickets:note", name="note-taker")
        st, hd, b = http_get(port, "/orders", token(note, resource=ORDERS))
        assert st == 403 and 'error="insufficient_scope"' in hd["www-authenticate"], (st, hd, b)
    finally:
        stop(api)
    assert api.returncode == 0, api.stderr.read()


def test_mcp_sdk_client_credentials_against_an_mcp_server_that_introspects():
    s = ctx()
    env = s["env"]
    a = env.agent(s["sc"]["owner"]["id"], "tickets:read", name="mcp-agent")
    rs = s["rs_mcp"]
    server = serving("mcp_server.mjs", WARRANT_ISSUER=s["srv"].base, RS_CLIENT_ID=rs["client_id"],
                     RS_CLIENT_SECRET=rs["client_secret"], MCP_PORT=str(s["mcp_port"]), MCP_SCOPE="tickets:read")
    client = None
    try:
        # the resource metadata the SDK reads first (RFC 9728)
        st, _, prm = http_get(s["mcp_port"], "/.well-known/oauth-protected-resource/mcp")
        assert st == 200 and prm["authorization_servers"] == [s["srv"].base], prm
        assert prm["resource"] == s["mcp_url"], prm
        client = node("mcp_client.mjs", stdin=True, MCP_URL=s["mcp_url"], WARRANT_ISSUER=s["srv"].base,
                      WARRANT_CLIENT_ID=a["client_id"], WARRANT_CLIENT_SECRET=a["client_secret"],
                      MCP_SCOPE="tickets:read")
        first = read_step(client)
        assert first == {"step": "connected", "tools": ["whoami"]}, (first, client.stderr.read() if client.poll() is not None else "")
        got = read_step(client)
        assert got["step"] == "called", got
        r = got["result"]
        # the token the SDK got names the agent, and the MCP server as its audience (RFC 8707)
        assert r["sub"] == a["client_id"] and r["owner_id"] == s["sc"]["owner"]["id"], r
        assert r["aud"] == [s["mcp_url"]] and r["scope"] == "tickets:read" and r["run_id"].startswith("run_"), r
        assert got["token_requests"] == [200], got
        # a second call reuses the token; the server checks it again at Warrant
        client.stdin.write("again\n")
        client.stdin.flush()
        again = read_step(client)
        assert again["step"] == "called" and again["result"]["run_id"] == r["run_id"], again
        assert again["token_requests"] == [200], again
        # kill switch for tokens issued so far: the SDK gets a new token (a new run) and goes on
        probe = token(a, resource=s["mcp_url"])
        env.cli("revoke", "--agent", a["client_id"])
        wait_inactive(rs, probe)
        client.stdin.write("again\n")
        client.stdin.flush()
        renewed = read_step(client)
        assert renewed["step"] == "called", renewed
        assert renewed["result"]["run_id"] != r["run_id"] and renewed["token_requests"] == [200, 200], renewed
        # kill switch: suspend the agent; its live token dies and no new one is issued
        probe = token(a, resource=s["mcp_url"])
        assert introspect(rs, probe)["active"] is True
        env.cli("agent", "suspend", a["client_id"])
        wait_inactive(rs, probe)
        client.stdin.write("again\n")
        client.stdin.flush()
        dead = read_step(client)
        assert dead["step"] == "error", dead
        # the SDK tried to get a new token (its retry included) and Warrant refused it
        assert dead["token_requests"][0] == 200 and 400 in dead["token_requests"][1:], dead
        assert client.wait(10) == 1
    finally:
        if client:
            stop(client)
        stop(server)
    seen = [json.loads(l) for l in server.stdout.read().splitlines() if l.strip()]
    checks = [x for x in seen if x["step"] == "introspected"]
    assert checks and checks[-1] == {"step": "introspected", "active": False}, seen
    # inactive twice: the token revoked with --agent, then the one the suspension killed
    assert [x["active"] for x in checks].count(False) == 2, checks
    assert all(x["sub"] == a["client_id"] for x in checks if x["active"]), checks


def ec_jwk(key, private=False):
    """RFC 7518 §6.2.1.2: P-256 x, y and d are always 32 bytes (python3-jwt 2.6's to_jwk
    drops leading zero bytes, which Warrant rightly refuses), so the JWK is built here."""
    n = key.public_key().public_numbers()
    d = {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
    if private:
        d["d"] = b64u(key.private_numbers().private_value.to_bytes(32, "big"))
    return d


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def key_agent(name):
    """An agent created with the public half of a fresh EC P-256 key and no secret."""
    s = ctx()
    env = s["env"]
    key = ec.generate_private_key(ec.SECP256R1())
    path = os.path.join(env.dir, "%s-%d.jwk" % (name, time.time_ns()))
    with open(path, "w") as f:
        json.dump(ec_jwk(key), f)
    a = env.agent(s["sc"]["owner"]["id"], "tickets:read", name=name, jwk_file=path)
    assert "client_secret" not in a and a["credential_id"].startswith("cred_"), a
    return a, key


def issued_rows(agent_id):
    rows = ctx()["env"].audit("--agent", agent_id)
    return [r for r in rows if r["event"] == "token.issued"], [r for r in rows if r.get("outcome") == "refused"]


def mcp_session(agent, **client_env):
    """The MCP server (checking tokens at /introspect) and the SDK's client with the given
    provider settings; returns (server, client)."""
    s = ctx()
    rs = s["rs_mcp"]
    server = serving("mcp_server.mjs", WARRANT_ISSUER=s["srv"].base, RS_CLIENT_ID=rs["client_id"],
                     RS_CLIENT_SECRET=rs["client_secret"], MCP_PORT=str(s["mcp_port"]), MCP_SCOPE="tickets:read")
    try:
        client = node("mcp_client.mjs", stdin=True, MCP_URL=s["mcp_url"], WARRANT_ISSUER=s["srv"].base,
                      WARRANT_CLIENT_ID=agent["client_id"], MCP_SCOPE="tickets:read", **client_env)
    except BaseException:
        stop(server)
        raise
    return server, client


def call_again(client):
    client.stdin.write("again\n")
    client.stdin.flush()
    return read_step(client)


def assert_called_as(got, agent):
    s = ctx()
    assert got["step"] == "called", got
    r = got["result"]
    assert r["sub"] == agent["client_id"] and r["owner_id"] == s["sc"]["owner"]["id"], r
    assert r["aud"] == [s["mcp_url"]] and r["scope"] == "tickets:read" and r["run_id"].startswith("run_"), r
    return r


def test_mcp_sdk_private_key_jwt_provider_gets_tokens_with_a_key():
    s = ctx()
    env = s["env"]
    a, key = key_agent("mcp-key-agent")
    server, client = mcp_session(a, MCP_AUTH="private_key_jwt", WARRANT_ALG="ES256",
                                 WARRANT_PRIVATE_JWK=json.dumps(ec_jwk(key, private=True)))
    try:
        first = read_step(client)
        assert first == {"step": "connected", "tools": ["whoami"]}, first
        got = read_step(client)
        r = assert_called_as(got, a)
        assert got["token_requests"] == [200], got
        # what the SDK signed: the issuer of the metadata it discovered as aud (RFC 10070),
        # iss = sub = the agent, a 300 s lifetime, no kid (Warrant tries each live key)
        (sent,) = got["assertions"]
        assert sent["header"] == {"alg": "ES256", "typ": "JWT"}, sent
        c = sent["claims"]
        assert c["iss"] == c["sub"] == a["client_id"] and c["aud"] == s["srv"].base, c
        assert c["exp"] - c["iat"] == 300 and c["jti"], c
        # the token died: the SDK signs a fresh assertion (a new jti) for the next one
        probe = token_with_key(a, key)
        env.cli("revoke", "--agent", a["client_id"])
        wait_inactive(s["rs_mcp"], probe)
        renewed = call_again(client)
        assert assert_called_as(renewed, a)["run_id"] != r["run_id"], renewed
        assert renewed["token_requests"] == [200, 200], renewed
        jtis = [x["claims"]["jti"] for x in renewed["assertions"]]
        assert len(jtis) == 2 and jtis[0] != jtis[1], renewed["assertions"]
    finally:
        stop(client)
        stop(server)
    # each token the SDK got is audited as minted by the key credential
    issued, refused = issued_rows(a["client_id"])
    assert len(issued) == 3 and not refused, (issued, refused)
    for row in issued:
        assert row["detail"]["auth_method"] == "private_key_jwt", row
        assert row["detail"]["credential_id"] == a["credential_id"], row


def test_mcp_sdk_private_key_jwt_provider_with_a_lifetime_beyond_300_s_is_refused():
    # jwtLifetimeSeconds is the provider's one claim option; Warrant takes an assertion that
    # lives at most 300 s (SPEC), so 600 is refused and the audit row says why
    a, key = key_agent("mcp-long-agent")
    server, client = mcp_session(a, MCP_AUTH="private_key_jwt", WARRANT_JWT_LIFETIME="600",
                                 WARRANT_PRIVATE_JWK=json.dumps(ec_jwk(key, private=True)))
    try:
        dead = read_step(client)
        assert dead["step"] == "error" and dead["name"] == "InvalidClientError", dead
        assert dead["token_requests"] and set(dead["token_requests"]) == {401}, dead
        c = dead["assertions"][0]["claims"]
        assert c["exp"] - c["iat"] == 600 and c["aud"] == ctx()["srv"].base, c
        assert client.wait(10) == 1
    finally:
        stop(client)
        stop(server)
    issued, refused = issued_rows(a["client_id"])
    assert not issued and refused, (issued, refused)
    assert all(r["detail"]["reason"] == "exp_too_far" and r["detail"]["auth_method"] == "private_key_jwt"
               for r in refused), refused


def token_with_key(agent, key):
    """A token for the agent through its key, signed here with python3-jwt."""
    s = ctx()
    now = int(time.time())
    asr = jwt.encode({"iss": agent["client_id"], "sub": agent["client_id"], "aud": s["srv"].base, "iat": now,
                      "exp": now + 60, "jti": "probe-%d" % time.time_ns()}, key, algorithm="ES256")
    st, _, b = s["srv"].post_form("/token", {"grant_type": "client_credentials", "resource": s["mcp_url"],
                                             "client_assertion_type": ASSERTION_TYPE, "client_assertion": asr})
    assert st == 200, (st, b)
    return b["access_token"]


def test_mcp_sdk_static_private_key_jwt_provider_and_the_single_use_jti():
    s = ctx()
    env = s["env"]
    a, key = key_agent("mcp-static-agent")
    now = int(time.time())
    asr = jwt.encode({"iss": a["client_id"], "sub": a["client_id"], "aud": s["srv"].base, "iat": now,
                      "exp": now + 240, "jti": "static-%d" % time.time_ns()}, key, algorithm="ES256",
                     headers={"kid": a["kid"]})
    server, client = mcp_session(a, MCP_AUTH="static_private_key_jwt", WARRANT_CLIENT_ASSERTION=asr)
    try:
        assert read_step(client)["step"] == "connected"
        got = read_step(client)
        assert_called_as(got, a)
        assert got["token_requests"] == [200], got
        # the provider sends the same assertion for every token request: once the token dies,
        # Warrant refuses the second use of its jti (RFC 7523 §3 item 7)
        probe = token_with_key(a, key)
        env.cli("revoke", "--agent", a["client_id"])
        wait_inactive(s["rs_mcp"], probe)
        dead = call_again(client)
        assert dead["step"] == "error", dead
        assert dead["token_requests"][0] == 200 and dead["token_requests"][1:], dead
        assert set(dead["token_requests"][1:]) == {401}, dead
        assert client.wait(10) == 1
    finally:
        stop(client)
        stop(server)
    issued, refused = issued_rows(a["client_id"])
    assert len(issued) == 2, issued
    assert all(r["detail"]["auth_method"] == "private_key_jwt" and
               r["detail"]["credential_id"] == a["credential_id"] for r in issued), issued
    assert refused and all(r["detail"]["reason"] == "replay" for r in refused), refused


# ---- Apache httpd with mod_auth_openidc ----

class Upstream(BaseHTTPRequestHandler):
    """The API behind Apache: answers with the OIDC_CLAIM_* headers it was given."""

    def do_GET(self):
        claims = {k[len("OIDC_CLAIM_"):]: v for k, v in self.headers.items() if k.upper().startswith("OIDC_CLAIM_")}
        body = json.dumps({"path": self.path, "claims": claims}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def wait_apache(port, proc, adir, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("apache2 exited %s: %s" % (proc.returncode, read(os.path.join(adir, "error.log"))))
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            c.request("GET", "/")
            c.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
        finally:
            c.close()
    raise AssertionError("apache2 did not answer: " + read(os.path.join(adir, "error.log")))


def read(path):
    if not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def test_mod_auth_openidc_introspects_every_request_with_the_documented_settings():
    s = ctx()
    missing = [p for p in (APACHE, MOD_AUTH_OPENIDC) if not os.path.exists(p)]
    assert not missing, ("missing %s: install the Debian packages apache2-bin and "
                         "libapache2-mod-auth-openidc (scripts/deps.sh)" % ", ".join(missing))
    env = s["env"]
    srv = env.serve()  # plain http on loopback: Apache's libcurl would not trust our test CA
    gw = env.cli("resource", "add", "openidc-gw", "--audience", ORDERS)
    # an owner of their own with two workspaces: the API accepts tokens of the first only
    owner = env.owner()
    ws, ws2 = env.workspace()["id"], env.workspace()["id"]
    for w in (ws, ws2):
        env.member(w, owner["id"], "tickets:read tickets:note")
    up = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=up.serve_forever, daemon=True).start()
    s["upstream"] = up
    adir = os.path.join(env.dir, "apache-openidc")
    os.mkdir(adir)
    port = free_port()
    e = dict(os.environ, APACHE_DIR=adir, LISTEN="127.0.0.1:%d" % port, WARRANT_URL=srv.base,
             RS_CLIENT_ID=gw["client_id"], RS_CLIENT_SECRET=gw["client_secret"], WORKSPACE=ws,
             UPSTREAM="http://127.0.0.1:%d" % up.server_address[1])
    with open(os.path.join(adir, "apache.out"), "wb") as out:
        ap = subprocess.Popen([APACHE, "-f", OPENIDC_CONF, "-DFOREGROUND"], env=e, stdout=out, stderr=subprocess.STDOUT)
    _procs.append(ap)
    try:
        wait_apache(port, ap, adir)

        def get(tok, headers=None):
            h = {"Authorization": "Bearer " + tok}
            h.update(headers or {})
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                c.request("GET", "/api/orders", headers=h)
                r = c.getresponse()
                return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
            finally:
                c.close()

        a = env.agent(owner["id"], "tickets:read tickets:note", name="openidc-agent")
        st, _, b = srv.token(a["client_id"], a["client_secret"], resource=ORDERS, workspace=ws)
        assert st == 200, (st, b)
        tok = b["access_token"]
        assert len(tok) > 512  # longer than the shm cache's keys
        # through, with the claims; a forged claim header from the client does not survive
        st, _, b = get(tok, {"OIDC_CLAIM_sub": "agt_forged"})
        assert st == 200, (st, b, read(os.path.join(adir, "error.log")))
        claims = json.loads(b)["claims"]
        assert claims["sub"] == a["client_id"] and claims["ws"] == ws, claims
        assert set(claims["scope"].split()) == {"tickets:read", "tickets:note"}, claims
        # the claim checks: a token without tickets:read, and one of another workspace
        st, _, b = srv.token(a["client_id"], a["client_secret"], resource=ORDERS, workspace=ws, scope="tickets:note")
        assert st == 200, (st, b)
        assert get(b["access_token"])[0] == 401
        st, _, b = srv.token(a["client_id"], a["client_secret"], resource=ORDERS, workspace=ws2)
        assert st == 200, (st, b)
        assert get(b["access_token"])[0] == 401
        # a foreign audience: Warrant answers active:false to this resource server
        st, _, b = srv.token(a["client_id"], a["client_secret"], workspace=ws)
        assert get(b["access_token"])[0] == 401
        # kill switch: the next request after the change is refused
        assert get(tok)[0] == 200
        env.cli("agent", "suspend", a["client_id"])
        deadline = time.time() + 1.5
        while get(tok)[0] == 200 and time.time() < deadline:
            time.sleep(0.05)
        st, h, _ = get(tok)
        assert st == 401 and 'error="invalid_token"' in h.get("www-authenticate", ""), (st, h)
    finally:
        stop(ap)
    log = read(os.path.join(adir, "error.log"))
    # introspection results are never cached, so the 512-byte key limit is never hit
    assert "key size is too large" not in log, log


# ---- the doc shows what is tested ----

def test_integrations_doc_shows_the_tested_code():
    with open(DOC) as f:
        doc = f.read()
    blocks = re.findall(r"^```(\w*)[^\n]*\n(.*?)^```", doc, re.M | re.S)
    with open(OPENIDC_CONF) as f:
        conf = f.read()
    assert any(lang == "apache" and body == conf for lang, body in blocks), \
        "docs/integrations.md must show docs/examples/apache-openidc.conf verbatim"
    sources = {}
    for name in os.listdir(CLIENTS):
        if name.endswith(".mjs"):
            with open(os.path.join(CLIENTS, name)) as f:
                sources[name] = f.read()
    js = [body for lang, body in blocks if lang == "js"]
    assert len(js) >= 3, "the MCP server, MCP client and express-oauth2-jwt-bearer excerpts"
    for body in js:
        assert any(body in src for src in sources.values()), \
            "a js block of docs/integrations.md is not an excerpt of tests/interop/clients/:\n" + body

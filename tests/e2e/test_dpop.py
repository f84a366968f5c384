"""test_dpop.py - DPoP-bound tokens (SPEC "Sender-constrained tokens (DPoP, RFC 9449)")
against a real `warrant serve`: proofs made with python3-jwt and cryptography (EC, RSA,
Ed25519), never with Warrant's code; token_type and cnf.jkt (an RFC 7638 thumbprint
computed here) in the answer, the token and introspection; every refusal of a bad proof;
agents that must use DPoP; the server's nonces; the CIBA grant; and the example resource
server of docs/examples checking per-request proofs against cnf.jkt.

One database and one server serve the module (a second server for nonces); each test makes
its own agents."""
import base64
import hashlib
import hmac
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
import urllib.error

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from harness import basic_header, close_module_env, free_port, jwt_parts, module_env

CIBA = "urn:openid:params:grant-type:ciba"
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
EXAMPLE = os.path.join(ROOT, "docs", "examples", "dpop_resource_server.py")

_state = {}


PW = "correct horse battery staple"


def _setup(env, st):
    st["email"] = "dpop-%d@example.com" % time.time_ns()
    st["owner"] = env.owner(email=st["email"], password=PW)
    st["ws"] = env.workspace()
    env.member(st["ws"]["id"], st["owner"]["id"], "tickets:read refunds:issue")
    st["rs"] = env.cli("resource", "add", "dpop-api")
    st["srv"] = env.serve()


def ctx():
    return module_env(_state, _setup)


def teardown_module():
    close_module_env(_state)


# ---- proofs, made independently ----

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def public_jwk(key):
    pub = key.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        n = pub.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        return {"kty": "RSA", "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
                "e": b64u(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big"))}
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}


def thumbprint(jwk):
    """RFC 7638 §3: the required members in lexicographic order, no whitespace, SHA-256."""
    req = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canon = json.dumps({k: jwk[k] for k in req}, sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(canon.encode()).digest())


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def proof(key, htu, alg="ES256", htm="POST", iat=None, jti=None, typ="dpop+jwt", jwk=None, nonce=None,
          drop=(), **extra):
    claims = {"htm": htm, "htu": htu, "iat": int(time.time()) if iat is None else iat,
              "jti": "p-%d-%s" % (time.time_ns(), b64u(os.urandom(6))) if jti is None else jti}
    if nonce is not None:
        claims["nonce"] = nonce
    claims.update(extra)
    for k in drop:
        claims.pop(k, None)
    return jwt.encode(claims, key, algorithm=alg, headers={"typ": typ, "jwk": jwk or public_jwk(key)})


def unsigned(header, claims, sig=b""):
    h = b64u(json.dumps(header).encode())
    p = b64u(json.dumps(claims).encode())
    return "%s.%s.%s" % (h, p, b64u(sig))


def new_agent(**opts):
    s = ctx()
    return s["env"].agent(s["owner"]["id"], "tickets:read refunds:issue", **opts)


def token(srv, a, dpop=None, headers=None, **form):
    f = {"grant_type": "client_credentials", "workspace": ctx()["ws"]["id"]}
    f.update(form)
    h = dict(headers or {})
    if dpop is not None:
        h["DPoP"] = dpop
    return srv.post_form("/token", f, basic=(a["client_id"], a["client_secret"]), headers=h)


def htu(srv=None):
    return (srv or ctx()["srv"]).base + "/token"


def refused(resp, code="invalid_dpop_proof"):
    st, _, b = resp
    assert st == 400 and b and b.get("error") == code, resp
    return resp


def introspect(tok):
    s = ctx()
    return s["srv"].post_form("/introspect", {"token": tok}, basic=(s["rs"]["client_id"], s["rs"]["client_secret"]))


# ---- binding ----

def test_dpop_bound_token_with_each_key_type():
    s = ctx()
    srv = s["srv"]
    a = new_agent()
    for key, alg in ((ec_key(), "ES256"), (rsa.generate_private_key(65537, 2048), "RS256"),
                     (rsa.generate_private_key(65537, 2048), "PS256"), (ed25519.Ed25519PrivateKey.generate(), "EdDSA")):
        st, _, b = token(srv, a, proof(key, htu(), alg=alg))
        assert st == 200, (alg, st, b)
        assert b["token_type"] == "DPoP", b
        jkt = thumbprint(public_jwk(key))
        _, claims = jwt_parts(b["access_token"])
        assert claims["cnf"] == {"jkt": jkt}, (alg, claims)
        st, _, i = introspect(b["access_token"])
        assert st == 200 and i["active"] and i["token_type"] == "DPoP" and i["cnf"] == {"jkt": jkt}, i


def test_without_a_proof_the_token_stays_a_bearer_token():
    a = new_agent()
    st, _, b = token(ctx()["srv"], a)
    assert st == 200 and b["token_type"] == "Bearer", b
    assert "cnf" not in jwt_parts(b["access_token"])[1]
    st, _, i = introspect(b["access_token"])
    assert i["token_type"] == "Bearer" and "cnf" not in i, i


def test_discovery_lists_the_proof_algorithms():
    st, _, d = ctx()["srv"].get_json("/.well-known/oauth-authorization-server")
    assert st == 200 and d["dpop_signing_alg_values_supported"] == ["ES256", "RS256", "PS256", "EdDSA", "Ed25519"], d


def test_issuance_is_audited_with_the_thumbprint():
    s = ctx()
    a = new_agent()
    key = ec_key()
    st, _, b = token(s["srv"], a, proof(key, htu()))
    assert st == 200, b
    rows = [r for r in s["env"].audit("--agent", a["client_id"]) if r["event"] == "token.issued"]
    assert rows and rows[-1]["detail"]["cnf_jkt"] == thumbprint(public_jwk(key)), rows


# ---- refusals ----

def test_bad_proofs_are_refused():
    s = ctx()
    srv = s["srv"]
    a = new_agent()
    key, other = ec_key(), ec_key()
    u = htu()
    # the key is known to the server (kept after a first use): it is still checked every time
    assert token(srv, a, proof(key, u))[0] == 200
    now = int(time.time())
    pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = {"htm": "POST", "htu": u, "iat": now, "jti": "x-%d" % time.time_ns()}
    hs_header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": public_jwk(key)}
    hs_input = "%s.%s" % (b64u(json.dumps(hs_header).encode()), b64u(json.dumps(claims).encode()))
    hs256 = hs_input + "." + b64u(hmac.new(pub_pem, hs_input.encode(), hashlib.sha256).digest())
    priv = dict(public_jwk(key), d=b64u(key.private_numbers().private_value.to_bytes(32, "big")))
    rsa_jwk = public_jwk(rsa.generate_private_key(65537, 2048))
    cases = {
        "typ wrong": proof(key, u, typ="JWT"),
        "typ missing": jwt.encode(claims, key, algorithm="ES256", headers={"jwk": public_jwk(key)}),
        "alg none": unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": public_jwk(key)}, claims),
        "HS256 with the public key": hs256,
        "jwk with d": proof(key, u, jwk=priv),
        "jwk of another type": proof(key, u, jwk=rsa_jwk),
        "jwk missing": jwt.encode(claims, key, algorithm="ES256", headers={"typ": "dpop+jwt"}),
        "signed by another key": proof(other, u, jwk=public_jwk(key)),
        "htm GET": proof(key, u, htm="GET"),
        "htu other path": proof(key, s["srv"].base + "/introspect"),
        "htu with query": proof(key, u + "?a=1"),
        "htu with fragment": proof(key, u + "#f"),
        "htu missing": proof(key, u, drop=("htu",)),
        # built when sent: a slow build (sanitizers) must not drift them into the window
        "iat 63 s old": lambda: proof(key, u, iat=int(time.time()) - 63),
        "iat 63 s ahead": lambda: proof(key, u, iat=int(time.time()) + 63),
        "iat missing": proof(key, u, drop=("iat",)),
        "iat a string": proof(key, u, iat=str(now)),
        "jti missing": proof(key, u, drop=("jti",)),
        "jti empty": proof(key, u, jti=""),
        "jti too long": proof(key, u, jti="j" * 129),
        "not a JWS": "not.a.jws",
        "garbage": "@@@.!!!.###",
    }
    for name, p in cases.items():
        resp = token(srv, a, p() if callable(p) else p)
        assert resp[0] == 400 and resp[2] and resp[2].get("error") == "invalid_dpop_proof", (name, resp)
    # nothing was issued; every refusal is audited with its reason
    rows = [r for r in s["env"].audit("--agent", a["client_id"]) if r["event"] == "token.refused"]
    assert len(rows) == len(cases), rows
    assert all(r["detail"]["error"] == "invalid_dpop_proof" and r["detail"]["reason"] for r in rows), rows
    reasons = {r["detail"]["reason"] for r in rows}
    assert {"bad_typ", "bad_signature", "bad_htm", "bad_htu", "iat_too_old", "iat_in_future",
            "missing_jti"} <= reasons, reasons


def test_iat_edges_inside_the_window_are_accepted():
    srv = ctx()["srv"]
    a = new_agent()
    key = ec_key()
    for skew in (-58, 58):
        st, _, b = token(srv, a, proof(key, htu(), iat=int(time.time()) + skew))
        assert st == 200 and b["token_type"] == "DPoP", (skew, st, b)


def test_a_replayed_proof_is_refused():
    s = ctx()
    srv = s["srv"]
    a = new_agent()
    p = proof(ec_key(), htu())
    assert token(srv, a, p)[0] == 200
    refused(token(srv, a, p))
    # another agent presenting the same proof is refused as well: the jti is the key's
    refused(token(srv, new_agent(), p))
    rows = [r for r in s["env"].audit("--agent", a["client_id"]) if r["event"] == "token.refused"]
    assert rows[-1]["detail"]["reason"] == "dpop_replay", rows


def test_concurrent_uses_of_one_proof_yield_one_token():
    import threading
    srv = ctx()["srv"]
    a = new_agent()
    p = proof(ec_key(), htu())
    out = []

    def go():
        out.append(token(srv, a, p)[0])
    ts = [threading.Thread(target=go) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(out) == [200] + [400] * 7, out


def test_two_dpop_headers_are_refused():
    srv = ctx()["srv"]
    a = new_agent()
    key = ec_key()
    body = "grant_type=client_credentials&workspace=" + ctx()["ws"]["id"]
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    c.putrequest("POST", "/token")
    c.putheader("Content-Type", "application/x-www-form-urlencoded")
    c.putheader("Authorization", basic_header(a["client_id"], a["client_secret"]))
    c.putheader("DPoP", proof(key, htu()))
    c.putheader("DPoP", proof(key, htu()))
    c.putheader("Content-Length", str(len(body)))
    c.endheaders(body.encode())
    r = c.getresponse()
    b = json.loads(r.read())
    c.close()
    assert r.status == 400 and b["error"] == "invalid_dpop_proof", (r.status, b)


def test_huge_and_deeply_nested_proofs_are_refused_not_crashing():
    srv = ctx()["srv"]
    a = new_agent()
    key = ec_key()
    nested = "%s.%s.%s" % (b64u(json.dumps({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key)}).encode()),
                           b64u(("{\"x\":" + "[" * 2000 + "]" * 2000 + "}").encode()), b64u(b"s" * 64))
    for p in (proof(key, htu(), pad="x" * 8000),  # over DPOP_PROOF_MAX
              proof(key, htu(), pad="x" * 6000, more=[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]),  # too deep
              nested,
              "a" * 9000 + "." + "b" * 100 + "." + "c"):
        refused(token(srv, a, p))
    # a header over the server's header limit is refused by the HTTP layer, and nothing breaks
    try:
        st = token(srv, a, proof(key, htu(), pad="x" * 40000))[0]
        assert st in (400, 413, 431), st
    except ConnectionError:
        pass
    # the server is still there
    assert token(srv, a, proof(key, htu()))[0] == 200


# ---- agents that must use DPoP ----

def test_required_agents_need_a_proof_and_the_change_is_seen_at_once():
    s = ctx()
    env, srv = s["env"], s["srv"]
    a = new_agent(dpop="required")
    assert a["dpop"] == "required", a
    refused(token(srv, a))
    assert token(srv, a, proof(ec_key(), htu()))[0] == 200
    out = env.cli("agent", "set", a["client_id"], "--dpop", "optional")
    assert out["dpop"] == "optional", out
    deadline = time.time() + 1.0
    while token(srv, a)[0] != 200:
        assert time.time() < deadline, "the change was not seen within a second"
        time.sleep(0.05)
    b = new_agent()
    assert token(srv, b)[0] == 200
    env.cli("agent", "set", b["client_id"], "--dpop", "required")
    deadline = time.time() + 1.0
    while token(srv, b)[0] == 200:
        assert time.time() < deadline, "the change was not seen within a second"
        time.sleep(0.05)
    refused(token(srv, b))
    ev = [r for r in env.audit("--agent", b["client_id"]) if r["event"] == "agent.dpop_set"]
    assert ev and ev[-1]["detail"]["dpop"] == "required", ev
    p = env.run("agent", "set", b["client_id"], "--dpop", "sometimes")
    assert p.returncode != 0 and "--dpop" in p.stderr, p


def test_owners_set_dpop_over_v1():
    s = ctx()
    env, srv = s["env"], s["srv"]
    a = new_agent()
    auth = {"Authorization": basic_header(s["email"], PW, form=False), "Content-Type": "application/json"}
    path = "/v1/agents/%s/dpop" % a["client_id"]
    st, _, b = srv.request("POST", path, json.dumps({"dpop": "required"}), auth)
    assert st == 200 and json.loads(b)["dpop"] == "required", (st, b)
    refused(token(srv, a))
    assert token(srv, a, proof(ec_key(), htu()))[0] == 200
    for bad in ({"dpop": "sometimes"}, {}, {"dpop": "optional", "x": 1}):
        st, _, b = srv.request("POST", path, json.dumps(bad), auth)
        assert st == 400, (bad, st, b)
    st, _, b = srv.request("POST", path, json.dumps({"dpop": "optional"}), auth)
    assert st == 200 and json.loads(b)["dpop"] == "optional", (st, b)
    assert token(srv, a)[0] == 200
    # another owner's agent is not found
    other = env.owner(password=PW)
    o_auth = dict(auth, Authorization=basic_header(other["email"], PW, form=False))
    st, _, _ = srv.request("POST", path, json.dumps({"dpop": "required"}), o_auth)
    assert st == 404, st
    ev = [r for r in env.audit("--agent", a["client_id"]) if r["event"] == "agent.dpop_set"]
    assert [r["detail"]["dpop"] for r in ev] == ["required", "optional"] and ev[0]["actor"] == s["owner"]["id"], ev


# ---- nonces ----

def test_nonce_flow():
    s = ctx()
    env = s["env"]
    srv = env.serve("--dpop-nonce")
    other = env.serve("--dpop-nonce")  # a second node derives the same nonces
    a = new_agent()
    key = ec_key()
    st, h, b = token(srv, a, proof(key, htu(srv)))
    assert st == 400 and b["error"] == "use_dpop_nonce" and h.get("dpop-nonce"), (st, h, b)
    nonce = h["dpop-nonce"]
    st, h2, b = token(srv, a, proof(key, htu(srv), nonce="stale-" + nonce))
    assert st == 400 and b["error"] == "use_dpop_nonce" and h2["dpop-nonce"] == nonce, (st, b)
    st, h3, b = token(srv, a, proof(key, htu(srv), nonce=nonce))
    assert st == 200 and b["token_type"] == "DPoP" and h3.get("dpop-nonce") == nonce, (st, h3, b)
    st, _, b = token(other, a, proof(key, htu(other), nonce=nonce))
    assert st == 200, (st, b)
    # a server without --dpop-nonce neither asks nor answers with one
    st, h, b = token(s["srv"], a, proof(key, htu()))
    assert st == 200 and "dpop-nonce" not in h, h
    srv.stop()
    other.stop()


# ---- the CIBA grant ----

def test_ciba_redemption_with_dpop():
    s = ctx()
    env, srv = s["env"], s["srv"]
    ws = env.workspace()
    env.member(ws["id"], s["owner"]["id"], "refunds:issue")
    env.cli("workspace", "approval", ws["id"], "--verbs", "refunds:issue")
    a = new_agent()
    st, _, b = srv.post_form("/bc-authorize", {"scope": "refunds:issue", "workspace": ws["id"],
                                               "binding_message": "refund 7"},
                             basic=(a["client_id"], a["client_secret"]))
    assert st == 200, b
    rid = b["auth_req_id"]
    env.cli("approval", "approve", rid, "--owner", s["owner"]["id"])
    key = ec_key()
    deadline = time.time() + 2
    while True:
        st, _, b = srv.post_form("/token", {"grant_type": CIBA, "auth_req_id": rid},
                                 basic=(a["client_id"], a["client_secret"]), headers={"DPoP": proof(key, htu())})
        if st == 200 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert st == 200 and b["token_type"] == "DPoP", (st, b)
    assert jwt_parts(b["access_token"])[1]["cnf"] == {"jkt": thumbprint(public_jwk(key))}


# ---- a resource server checking per-request proofs (docs/examples) ----

def start_example(srv):
    port = free_port()
    p = subprocess.Popen([sys.executable, EXAMPLE, "--port", str(port), "--issuer", srv.base,
                          "--audience", srv.base],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=1)
            return p, port
        except (urllib.error.URLError, ConnectionError):
            assert p.poll() is None, p.stdout.read()
            time.sleep(0.05)
    p.kill()
    raise RuntimeError("example did not start")


def call(port, tok, dpop=None, scheme="DPoP", path="/orders"):
    h = {"Authorization": "%s %s" % (scheme, tok)}
    if dpop:
        h["DPoP"] = dpop
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=h)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_example_resource_server_checks_proofs_against_cnf_jkt():
    s = ctx()
    srv = s["srv"]
    a = new_agent()
    key = ec_key()
    st, _, b = token(srv, a, proof(key, htu()))
    assert st == 200, b
    tok = b["access_token"]
    ath = b64u(hashlib.sha256(tok.encode()).digest())
    p, port = start_example(srv)
    try:
        url = "http://127.0.0.1:%d/orders" % port
        st, body = call(port, tok, proof(key, url, htm="GET", ath=ath))
        assert st == 200 and body["sub"] == a["client_id"], (st, body)
        # a proof from another key
        st, body = call(port, tok, proof(ec_key(), url, htm="GET", ath=ath))
        assert st == 401 and body["error"] == "invalid_dpop_proof", (st, body)
        # a wrong ath
        st, body = call(port, tok, proof(key, url, htm="GET", ath=b64u(hashlib.sha256(b"other").digest())))
        assert st == 401 and body["error"] == "invalid_dpop_proof", (st, body)
        # a replayed proof
        once = proof(key, url, htm="GET", ath=ath)
        assert call(port, tok, once)[0] == 200
        st, body = call(port, tok, once)
        assert st == 401 and body["error"] == "invalid_dpop_proof", (st, body)
        # the proof of another request (method, URL)
        st, body = call(port, tok, proof(key, url, htm="POST", ath=ath))
        assert st == 401, (st, body)
        st, body = call(port, tok, proof(key, url + "x", htm="GET", ath=ath), path="/orders")
        assert st == 401, (st, body)
        # as a Bearer token, or without a proof
        st, body = call(port, tok, proof(key, url, htm="GET", ath=ath), scheme="Bearer")
        assert st == 401 and body["error"] == "invalid_token", (st, body)
        st, body = call(port, tok)
        assert st == 401, (st, body)
        # a Bearer token of ours is not let in as DPoP
        st, _, bb = token(srv, a)
        st, body = call(port, bb["access_token"], proof(key, url, htm="GET",
                                                         ath=b64u(hashlib.sha256(bb["access_token"].encode()).digest())))
        assert st == 401, (st, body)
    finally:
        p.kill()
        p.wait()

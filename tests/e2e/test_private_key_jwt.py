"""test_private_key_jwt.py - agents that authenticate with a public key (SPEC "Public keys
(private_key_jwt, RFC 7523 §2.2 with RFC 10070)"), against a real `warrant serve`.

Assertions are signed here by python3-jwt and cryptography, never by Warrant's code: EC
P-256 (ES256), RSA (RS256, PS256), Ed25519 (EdDSA). Covered: `agent key add` and `agent add
--jwk-file` (no secret), the token and its cred_id, `credential revoke` killing the key and
its tokens, every refusal rule (alg none, HMAC keyed with the public key, an algorithm of
another key type, audiences, times at the edges of the leeway, jti missing and replayed,
kids naming other agents' keys or carrying injection strings, huge and deeply nested
assertions), rotation with a grace, /v1, discovery, /revoke and /bc-authorize.

One database and one server serve the module; each test makes its own agents."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time
import urllib.parse

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from harness import CliError, TlsServer, basic_header, close_module_env, jwt_parts, make_cert, module_env

FORM = "application/x-www-form-urlencoded"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
LEEWAY = 60  # serve's default --leeway

_state = {}


def _setup(env, st):
    st["gw"] = env.cli("resource", "add", "gateway")
    st["srv"] = env.serve()
    st["issuer"] = st["srv"].base
    o = env.owner()
    ws = env.workspace()
    env.member(ws["id"], o["id"], "tickets:read tickets:note refunds:issue")
    st["owner"], st["ws"] = o, ws


def ctx():
    return module_env(_state, _setup)


def teardown_module():
    close_module_env(_state)


# ---- keys and assertions, made with python3-jwt / cryptography ----

def new_key(kind="ec"):
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate()


def ec_jwk(key, private=False):
    """RFC 7518 §6.2.1.2: x and y (and d) are always 32 bytes for P-256; python3-jwt 2.6's
    to_jwk drops leading zero bytes, which Warrant rightly refuses, so build it here."""
    n = key.public_key().public_numbers()
    d = {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
    if private:
        d["d"] = b64u(key.private_numbers().private_value.to_bytes(32, "big"))
    return d


def public_jwk(key, **extra):
    pub = key.public_key()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        d = ec_jwk(key)
    elif isinstance(key, rsa.RSAPrivateKey):
        d = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(pub))
    else:
        d = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(pub))
    d.update(extra)
    return d


def private_jwk(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ec_jwk(key, private=True)
    return json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))


def write_jwk(jwk):
    env = ctx()["env"]
    path = os.path.join(env.dir, "k-%d.jwk" % time.time_ns())
    with open(path, "w") as f:
        json.dump(jwk, f)
    return path


def key_agent(kind="ec", verbs="tickets:read", **jwk_extra):
    """An agent created with a public key and no secret; returns (agent, key)."""
    s = ctx()
    key = new_key(kind)
    a = s["env"].cli("agent", "add", "--owner", s["owner"]["id"], "--name", "k", "--verbs", verbs,
                     "--workspaces", s["ws"]["id"], "--jwk-file", write_jwk(public_jwk(key, **jwk_extra)))
    assert "client_secret" not in a, a
    assert a["credential_id"].startswith("cred_") and a["jkt"], a
    return a, key


def claims(agent_id, **over):
    now = int(time.time())
    c = {"iss": agent_id, "sub": agent_id, "aud": ctx()["issuer"], "iat": now, "exp": now + 60,
         "jti": "j-%d" % time.time_ns()}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def sign(key, c, alg="ES256", headers=None):
    return jwt.encode(c, key, algorithm=alg, headers=headers)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def raw_jws(header, payload, key=None, alg=None):
    """A compact JWS built by hand (for what python3-jwt refuses to make)."""
    h = b64u(json.dumps(header).encode())
    p = b64u(payload if isinstance(payload, bytes) else json.dumps(payload).encode())
    sig = b""
    if isinstance(key, bytes):
        sig = hmac.new(key, ("%s.%s" % (h, p)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (h, p, b64u(sig))


def with_assertion(asr, path="/token", **fields):
    s = ctx()
    f = {"grant_type": "client_credentials", "workspace": s["ws"]["id"]} if path == "/token" else {}
    f.update({"client_assertion_type": JWT_BEARER, "client_assertion": asr})
    f.update({k: v for k, v in fields.items() if v is not None})
    return s["srv"].post_form(path, f)


def token_ok(asr, **fields):
    st, _, b = with_assertion(asr, **fields)
    assert st == 200, (st, b)
    return b["access_token"]


def refused(asr, **fields):
    st, h, b = with_assertion(asr, **fields)
    assert st == 401 and b["error"] == "invalid_client", (st, b)
    assert "www-authenticate" not in h or not h["www-authenticate"].startswith("Basic"), h
    return b


def last_reason(agent_id):
    rows = [r for r in ctx()["env"].audit("--agent", agent_id) if r.get("outcome") == "refused"]
    assert rows, "no refusal audited"
    d = rows[-1].get("detail") or {}
    return d.get("reason") if isinstance(d, dict) else d


def introspect(tok):
    s = ctx()
    st, _, b = s["srv"].request("POST", "/introspect", urllib.parse.urlencode({"token": tok}),
                                {"Content-Type": FORM,
                                 "Authorization": basic_header(s["gw"]["client_id"], s["gw"]["client_secret"])})
    assert st == 200, (st, b)
    return json.loads(b)


def wait_until(fn, timeout=2.0):
    end = time.time() + timeout
    while time.time() < end:
        if fn():
            return True
        time.sleep(0.05)
    return fn()


# ---- storing keys ----

def test_each_key_type_gets_a_token_naming_the_key_credential():
    for kind, algs in (("ec", ["ES256"]), ("rsa", ["RS256", "PS256"]), ("okp", ["EdDSA"])):
        a, key = key_agent(kind)
        for alg in algs:
            tok = token_ok(sign(key, claims(a["id"]), alg))
            _, p = jwt_parts(tok)
            assert p["sub"] == a["id"] and p["cred_id"] == a["credential_id"], p
            assert introspect(tok)["active"] is True


def test_ed25519_by_its_fully_specified_name():
    # RFC 9864: "Ed25519" names EdDSA with Ed25519, and is what jose and oauth4webapi sign with
    a, key = key_agent("okp")
    h = b64u(json.dumps({"alg": "Ed25519", "typ": "JWT"}).encode())
    p = b64u(json.dumps(claims(a["id"])).encode())
    tok = "%s.%s.%s" % (h, p, b64u(key.sign(("%s.%s" % (h, p)).encode())))  # cryptography's Ed25519
    _, p = jwt_parts(token_ok(tok))
    assert p["sub"] == a["id"] and p["cred_id"] == a["credential_id"], p


def test_agent_key_add_defaults_the_kid_to_the_thumbprint_and_refuses_private_keys():
    s = ctx()
    a = s["env"].agent(s["owner"]["id"], "tickets:read", workspaces=[s["ws"]["id"]])
    key = new_key()
    got = s["env"].cli("agent", "key", "add", a["id"], "--jwk-file", write_jwk(public_jwk(key)))
    assert set(got) == {"credential_id", "agent_id", "kid", "jkt"}, got
    assert got["kid"] == got["jkt"] and len(got["jkt"]) == 43 and got["agent_id"] == a["id"], got
    # the thumbprint is RFC 7638's, computed here independently
    j = public_jwk(key)
    canon = json.dumps({"crv": j["crv"], "kty": j["kty"], "x": j["x"], "y": j["y"]}, separators=(",", ":"))
    assert got["jkt"] == b64u(hashlib.sha256(canon.encode()).digest())
    # the agent's secret still works beside its key
    assert s["srv"].token(a["client_id"], a["client_secret"], workspace=s["ws"]["id"])[0] == 200
    token_ok(sign(key, claims(a["id"]), headers={"kid": got["kid"]}))
    # private members: exit 1, nothing stored
    before = s["env"].sql("SELECT count(*) FROM credentials WHERE agent_id = ?", (a["id"],))[0][0]
    for bad in (private_jwk(new_key()), private_jwk(new_key("rsa")), {"kty": "oct", "k": "c2VjcmV0"},
                {"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}):
        try:
            s["env"].cli("agent", "key", "add", a["id"], "--jwk-file", write_jwk(bad))
            raise AssertionError("accepted %r" % list(bad))
        except CliError as e:
            assert e.rc == 1, e
    after = s["env"].sql("SELECT count(*) FROM credentials WHERE agent_id = ?", (a["id"],))[0][0]
    assert after == before
    # a second live key with the same kid: refused
    try:
        s["env"].cli("agent", "key", "add", a["id"], "--jwk-file", write_jwk(public_jwk(new_key(), kid=got["kid"])))
        raise AssertionError("a second key with the same kid was stored")
    except CliError as e:
        assert e.rc == 1 and "kid" in e.stderr, e


def test_credential_revoke_kills_the_key_and_its_tokens():
    a, key = key_agent()
    tok = token_ok(sign(key, claims(a["id"])))
    assert introspect(tok)["active"] is True
    ctx()["env"].cli("credential", "revoke", a["credential_id"])
    assert wait_until(lambda: introspect(tok) == {"active": False})
    refused(sign(key, claims(a["id"])))


def test_rotation_with_grace_keeps_the_old_key_until_the_grace_ends():
    s = ctx()
    a, old = key_agent()
    new = new_key("okp")
    got = s["env"].cli("agent", "key", "add", a["id"], "--jwk-file", write_jwk(public_jwk(new)), "--grace", "2")
    token_ok(sign(new, claims(a["id"]), "EdDSA"))
    token_ok(sign(old, claims(a["id"]), "ES256"))  # within the grace
    time.sleep(2.3)
    refused(sign(old, claims(a["id"]), "ES256"))
    assert last_reason(a["id"]) in ("credential_expired", "no_key", "alg_mismatch"), last_reason(a["id"])
    tok = token_ok(sign(new, claims(a["id"]), "EdDSA"))
    assert jwt_parts(tok)[1]["cred_id"] == got["credential_id"]
    # with no --grace the other keys stay
    third = new_key()
    s["env"].cli("agent", "key", "add", a["id"], "--jwk-file", write_jwk(public_jwk(third)))
    token_ok(sign(new, claims(a["id"]), "EdDSA"))
    token_ok(sign(third, claims(a["id"])))


def test_secret_rotation_leaves_keys_alone_and_key_rotation_leaves_secrets_alone():
    s = ctx()
    a = s["env"].agent(s["owner"]["id"], "tickets:read", workspaces=[s["ws"]["id"]])
    key = new_key()
    s["env"].cli("agent", "key", "add", a["id"], "--jwk-file", write_jwk(public_jwk(key)))
    r = s["env"].cli("agent", "rotate", a["id"], "--grace", "0")
    token_ok(sign(key, claims(a["id"])))  # the key outlives a secret rotation with no grace
    assert s["srv"].token(a["id"], r["client_secret"], workspace=s["ws"]["id"])[0] == 200
    s["env"].cli("agent", "key", "add", a["id"], "--jwk-file", write_jwk(public_jwk(new_key())), "--grace", "0")
    refused(sign(key, claims(a["id"])))  # the old key ended at once
    assert s["srv"].token(a["id"], r["client_secret"], workspace=s["ws"]["id"])[0] == 200


# ---- refusals: every rule ----

def test_algorithm_confusions_are_refused():
    a, key = key_agent("rsa")
    pub_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    c = claims(a["id"])
    refused(raw_jws({"alg": "none"}, c))
    refused(raw_jws({"alg": "none", "typ": "JWT"}, claims(a["id"])))
    refused(raw_jws({"alg": "HS256"}, claims(a["id"]), key=pub_pem))  # HMAC keyed with the public key
    refused(raw_jws({"alg": "HS256"}, claims(a["id"]), key=json.dumps(public_jwk(key)).encode()))
    # ES256 in the header, an RSA key: never verified
    refused(sign(new_key(), claims(a["id"]), "ES256"))
    # the right key, header claiming another algorithm of another key type
    sig = sign(key, claims(a["id"]), "RS256")
    h, p, s_ = sig.split(".")
    refused("%s.%s.%s" % (b64u(json.dumps({"alg": "ES256"}).encode()), p, s_))
    refused("%s.%s.%s" % (b64u(json.dumps({"alg": "EdDSA"}).encode()), p, s_))
    # an Ed25519 agent with an ES256 signature from another key
    b, okp = key_agent("okp")
    refused(sign(new_key(), claims(b["id"]), "ES256"))
    refused(sign(okp, claims(a["id"]), "EdDSA"))  # the other agent's key


def test_audience_rules_of_rfc_10070():
    a, key = key_agent()
    iss = ctx()["issuer"]
    refused(sign(key, claims(a["id"], aud=iss + "/token")))
    assert last_reason(a["id"]) == "aud_mismatch"
    refused(sign(key, claims(a["id"], aud=[iss])))
    assert last_reason(a["id"]) == "aud_array"
    refused(sign(key, claims(a["id"], aud=[iss, "https://other.example"])))
    refused(sign(key, claims(a["id"], aud="https://other.example")))
    refused(sign(key, claims(a["id"], aud=iss + "/")))
    refused(sign(key, claims(a["id"], aud=None)))
    token_ok(sign(key, claims(a["id"], aud=iss)))


def test_claim_rules_iss_sub_exp_jti_and_client_id():
    a, key = key_agent()
    b, _ = key_agent()
    now = int(time.time())
    cases = [
        (claims(a["id"], exp=None), "no_exp"),
        (claims(a["id"], iat=now, exp=now + 301), "exp_too_far"),
        (claims(a["id"], iat=None, exp=now + 320), "exp_too_far"),
        (claims(a["id"], iat=now + LEEWAY + 30, exp=now + LEEWAY + 60), "iat_future"),
        (claims(a["id"], iat=now - 200, exp=now - LEEWAY - 10), "expired"),
        (claims(a["id"], nbf=now + LEEWAY + 30), "nbf_future"),
        (claims(a["id"], jti=None), "no_jti"),
        (claims(a["id"], jti=""), "no_jti"),
        (claims(a["id"], jti="x" * 129), "bad_jti"),
        (claims(a["id"], sub=b["id"]), "sub_mismatch"),
        (claims(a["id"], sub=None), "sub_mismatch"),
        (claims(a["id"], exp="tomorrow"), "bad_time"),
    ]
    for c, reason in cases:
        refused(sign(key, c))
        assert last_reason(a["id"]) == reason, (c, reason, last_reason(a["id"]))
    # iss an agent that is not the signer's: the other agent's keys do not verify
    refused(sign(key, claims(b["id"])))
    # a client_id in the body must equal iss
    refused(sign(key, claims(a["id"])), client_id=b["id"])
    token_ok(sign(key, claims(a["id"])), client_id=a["id"])


def test_replay_is_refused():
    a, key = key_agent()
    asr = sign(key, claims(a["id"]))
    token_ok(asr)
    refused(asr)
    assert last_reason(a["id"]) == "replay"
    # the same jti from another agent is its own
    b, kb = key_agent()
    jti = "shared-%d" % time.time_ns()
    token_ok(sign(key, claims(a["id"], jti=jti)))
    token_ok(sign(kb, claims(b["id"], jti=jti)))
    refused(sign(kb, claims(b["id"], jti=jti)))


def test_clock_skew_at_the_edges_of_the_leeway():
    a, key = key_agent()
    now = int(time.time())
    # a client clock ahead by just under the leeway
    token_ok(sign(key, claims(a["id"], iat=now + LEEWAY - 5, exp=now + LEEWAY + 100)))
    token_ok(sign(key, claims(a["id"], nbf=now + LEEWAY - 5)))
    refused(sign(key, claims(a["id"], iat=now + LEEWAY + 5, exp=now + LEEWAY + 100)))
    # expired, but within the leeway / just beyond it
    token_ok(sign(key, claims(a["id"], iat=now - 100, exp=now - LEEWAY + 5)))
    refused(sign(key, claims(a["id"], iat=now - 100, exp=now - LEEWAY - 5)))
    # the lifetime at exactly 300 s and one more
    token_ok(sign(key, claims(a["id"], iat=now, exp=now + 300)))
    refused(sign(key, claims(a["id"], iat=now, exp=now + 301)))


def test_kid_naming_another_agents_key_or_injection_strings():
    a, key = key_agent()
    b, kb = key_agent()
    s = ctx()
    bkid = s["env"].sql("SELECT kid FROM credentials WHERE id = ?", (b["credential_id"],))[0][0]
    # a's assertion signed by b's key, naming b's kid: b's key is not a's
    refused(sign(kb, claims(a["id"]), headers={"kid": bkid}))
    assert last_reason(a["id"]) == "unknown_kid"
    for kid in ("' OR 1=1 --", "../../../etc/passwd", "*", "%", bkid + "' --", "\u0000x", "k" * 128,
                "a\nb", "${jndi:ldap://x}"):
        refused(sign(key, claims(a["id"]), headers={"kid": kid}))
    refused(sign(key, claims(a["id"]), headers={"kid": "k" * 129}))
    # the agent's own kid works, as does no kid at all
    akid = s["env"].sql("SELECT kid FROM credentials WHERE id = ?", (a["credential_id"],))[0][0]
    token_ok(sign(key, claims(a["id"]), headers={"kid": akid}))
    token_ok(sign(key, claims(a["id"])))


def test_huge_and_deeply_nested_assertions_are_refused_without_harm():
    a, key = key_agent()
    # past the form's limit on one value (16 KiB, as a JWS): 400 before anything is parsed
    st, _, b = with_assertion(sign(key, claims(a["id"], pad="x" * 20000)))
    assert st == 400 and b["error"] == "invalid_request", (st, b)
    # just under it, thousands of members, one claim wrong: 401
    many = {"m%d" % i: i for i in range(950)}
    asr = sign(key, claims(a["id"], aud="https://other.example", **many))
    assert 10000 < len(asr) <= 16384, len(asr)
    refused(asr)
    nested = {}
    cur = nested
    for _ in range(200):
        cur["a"] = {}
        cur = cur["a"]
    refused(sign(key, claims(a["id"], deep=nested)))
    refused(raw_jws({"alg": "ES256", "x": [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]}, claims(a["id"])))
    refused(raw_jws({"alg": "ES256"}, b"[" * 5000 + b"]" * 5000))
    for junk in ("", ".", "..", "a.b.c", "e30.e30.", "x" * 15000, "\u00e9.\u00e9.\u00e9", "a.b.c.d.e"):
        st, _, b = with_assertion(junk)
        assert st in (400, 401), (junk[:20], st, b)
    st, _, _ = ctx()["srv"].request("GET", "/healthz")
    assert st == 200
    token_ok(sign(key, claims(a["id"])))


def test_methods_are_not_mixed_and_parameters_not_repeated():
    s = ctx()
    a, key = key_agent()
    srv = s["srv"]
    asr = sign(key, claims(a["id"]))
    base = [("grant_type", "client_credentials"), ("workspace", s["ws"]["id"])]
    cases = [
        base + [("client_assertion_type", JWT_BEARER), ("client_assertion", asr), ("client_assertion", asr)],
        base + [("client_assertion_type", JWT_BEARER), ("client_assertion_type", JWT_BEARER),
                ("client_assertion", asr)],
        base + [("client_assertion_type", JWT_BEARER), ("client_assertion", asr), ("client_secret", "x")],
        base + [("client_assertion", asr)],
        base + [("client_assertion_type", JWT_BEARER)],
        base + [("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
                ("client_assertion", asr)],
    ]
    for f in cases:
        st, _, b = srv.post_form("/token", f)
        assert st == 400 and b["error"] == "invalid_request", (f[-1], st, b)
    st, _, b = srv.post_form("/token", base + [("client_assertion_type", JWT_BEARER), ("client_assertion", asr)],
                             basic=(a["id"], "whatever"))
    assert st == 400 and b["error"] == "invalid_request", (st, b)
    token_ok(asr)  # none of the refused requests used it up


def test_a_resource_server_endpoint_takes_no_assertion():
    a, key = key_agent()
    st, _, b = ctx()["srv"].post_form("/introspect", {"token": "x", "client_assertion_type": JWT_BEARER,
                                                      "client_assertion": sign(key, claims(a["id"]))})
    assert st == 401 and b["error"] == "invalid_client", (st, b)


def test_unknown_issuers_are_refused():
    a, key = key_agent()
    refused(sign(key, claims("https://issuer.example", sub=a["id"])))
    refused(sign(key, claims("agt_doesnotexist0000000000000")))


# ---- the other endpoints, discovery, /v1 ----

def test_revoke_and_bc_authorize_take_an_assertion():
    a, key = key_agent(verbs="tickets:read refunds:issue")
    s = ctx()
    s["env"].cli("workspace", "approval", s["ws"]["id"], "--verbs", "refunds:issue")
    tok = token_ok(sign(key, claims(a["id"])), scope="tickets:read")
    st, _, b = with_assertion(sign(key, claims(a["id"])), path="/revoke", token=tok)
    assert st == 200, (st, b)
    assert wait_until(lambda: introspect(tok) == {"active": False})
    st, _, b = with_assertion(sign(key, claims(a["id"])), path="/bc-authorize", scope="refunds:issue",
                              binding_message="refund 7", workspace=s["ws"]["id"])
    assert st == 200 and b["auth_req_id"], (st, b)
    refused(sign(new_key(), claims(a["id"])), path="/bc-authorize", scope="refunds:issue",
            binding_message="refund 8", workspace=s["ws"]["id"])
    # one jti across endpoints: used at /token, replayed at /revoke and /bc-authorize
    asr = sign(key, claims(a["id"]))
    tok2 = token_ok(asr, scope="tickets:read")
    refused(asr, path="/revoke", token=tok2)
    assert introspect(tok2)["active"] is True
    asr = sign(key, claims(a["id"]))
    assert with_assertion(asr, path="/revoke", token="not-a-token")[0] == 200
    refused(asr, path="/revoke", token="not-a-token")
    refused(asr, path="/bc-authorize", scope="refunds:issue", binding_message="refund 9", workspace=s["ws"]["id"])
    # the audit row names the method
    rows = [r for r in s["env"].audit("--agent", a["id"]) if r["event"] == "token.issued"]
    assert rows and "private_key_jwt" in json.dumps(rows[-1]), rows[-1]


def test_discovery_lists_the_method_and_algorithms_everywhere():
    st, _, d = ctx()["srv"].get_json("/.well-known/oauth-authorization-server")
    assert st == 200
    for m in ("token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported",
              "backchannel_authentication_endpoint_auth_methods_supported"):
        assert "private_key_jwt" in d[m] and "client_secret_basic" in d[m], (m, d[m])
    for m in ("token_endpoint_auth_signing_alg_values_supported",
              "revocation_endpoint_auth_signing_alg_values_supported",
              "backchannel_authentication_endpoint_auth_signing_alg_values_supported"):
        assert d[m] == ["ES256", "RS256", "PS256", "EdDSA", "Ed25519"], (m, d[m])
    assert "private_key_jwt" not in d["introspection_endpoint_auth_methods_supported"]
    st, _, o = ctx()["srv"].get_json("/.well-known/openid-configuration")
    assert o["token_endpoint_auth_methods_supported"] == d["token_endpoint_auth_methods_supported"]


def _v1_owner():
    s = ctx()
    if "v1" not in s:
        email = "v1-%d@example.com" % time.time_ns()
        o = s["env"].owner(email=email, password="correct horse battery staple")
        s["env"].member(s["ws"]["id"], o["id"], "tickets:read")
        s["v1"] = (o, "Basic " + base64.b64encode(("%s:%s" % (email, "correct horse battery staple")).encode())
                   .decode())
    return s["v1"]


def v1(method, path, body):
    s = ctx()
    _, auth = _v1_owner()
    st, _, b = s["srv"].request(method, path, json.dumps(body), {"Authorization": auth,
                                                                 "Content-Type": "application/json"})
    return st, json.loads(b) if b else None


def test_v1_creates_key_agents_and_adds_keys():
    s = ctx()
    key = new_key("rsa")
    st, made = v1("POST", "/v1/agents", {"name": "kbot", "verbs": ["tickets:read"], "workspaces": [s["ws"]["id"]],
                                        "jwk": public_jwk(key)})
    assert st == 201 and "client_secret" not in made and made["credential_id"], (st, made)
    token_ok(sign(key, claims(made["id"]), "PS256"))
    new = new_key()
    st, got = v1("POST", "/v1/agents/%s/keys" % made["id"], {"jwk": public_jwk(new, kid="k2"), "grace_seconds": 0})
    assert st == 201 and got["kid"] == "k2" and got["agent_id"] == made["id"], (st, got)
    assert set(got) == {"credential_id", "agent_id", "kid", "jkt"}
    token_ok(sign(new, claims(made["id"]), headers={"kid": "k2"}))
    refused(sign(key, claims(made["id"]), "RS256"))  # grace 0: the old key ended
    # refusals: a private key, a duplicate kid, another owner's agent, a bad body
    st, b = v1("POST", "/v1/agents/%s/keys" % made["id"], {"jwk": private_jwk(new_key())})
    assert st == 400 and b["error"] == "invalid_request", (st, b)
    st, b = v1("POST", "/v1/agents/%s/keys" % made["id"], {"jwk": public_jwk(new_key(), kid="k2")})
    assert st == 409, (st, b)
    st, b = v1("POST", "/v1/agents/%s/keys" % made["id"], {"jwk": "nope"})
    assert st == 400, (st, b)
    st, b = v1("POST", "/v1/agents/%s/keys" % made["id"], {"jwk": public_jwk(new_key()), "grace_seconds": -1})
    assert st == 400, (st, b)
    other = s["env"].agent(s["owner"]["id"], "tickets:read")
    st, b = v1("POST", "/v1/agents/%s/keys" % other["id"], {"jwk": public_jwk(new_key())})
    assert st == 404, (st, b)
    st, b = v1("POST", "/v1/agents", {"name": "x", "verbs": ["tickets:read"], "jwk": private_jwk(new_key())})
    assert st == 400, (st, b)
    st, b = v1("POST", "/v1/agents/%s/credentials/%s/revoke" % (made["id"], got["credential_id"]), {})
    assert st == 200, (st, b)
    refused(sign(new, claims(made["id"]), headers={"kid": "k2"}))


# ---- real clients, unmodified ----

def test_openid_client_and_oauth4webapi_private_key_jwt_get_tokens():
    """openid-client's PrivateKeyJwt and oauth4webapi's, from tests/interop/clients (npm ci),
    against Warrant over https (the libraries require it)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed (Debian packages nodejs and npm)"
    clients = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop", "clients"))
    if not os.path.isdir(os.path.join(clients, "node_modules", "openid-client")):
        p = subprocess.run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=clients,
                           capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout + p.stderr
    s = ctx()
    env = s["env"]
    cert, keyfile = make_cert(env.dir)
    tls = TlsServer(env, cert, keyfile)
    env.servers.append(tls)
    # (an Ed25519 key is left out: these libraries name its algorithm "Ed25519", RFC 9864's
    # fully-specified name, where SPEC accepts "EdDSA")
    for kind in ("ec", "rsa"):
        a, key = key_agent(kind)
        kid = env.sql("SELECT kid FROM credentials WHERE id = ?", (a["credential_id"],))[0][0]
        priv = private_jwk(key)
        p = subprocess.run([node, os.path.join(clients, "private_key_jwt.mjs")], cwd=clients, capture_output=True,
                           text=True, timeout=60,
                           env=dict(os.environ, NODE_EXTRA_CA_CERTS=cert, WARRANT_ISSUER=tls.base,
                                    WARRANT_CLIENT_ID=a["id"], WARRANT_PRIVATE_JWK=json.dumps(priv),
                                    WARRANT_KID=kid, SCOPE="tickets:read"))
        steps = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
        assert p.returncode == 0, (kind, steps, p.stderr)
        assert [x["step"] for x in steps] == ["openid-client", "oauth4webapi/oidc", "oauth4webapi/oauth2"], steps
        assert "private_key_jwt" in steps[0]["methods"]
        for x in steps:
            _, claims_ = jwt_parts(x["access_token"])
            assert claims_["sub"] == a["id"] and claims_["cred_id"] == a["credential_id"], claims_
            assert claims_["iss"] == tls.base and x["scope"] == "tickets:read", (claims_, x)

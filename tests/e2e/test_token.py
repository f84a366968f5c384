"""test_token.py - POST /token (RFC 6749 §4.4, RFC 8707, RFC 9068) against a real
`warrant serve`, plus discovery, /jwks, health, routing and size limits.

One database and one server serve the whole module; each test adds the owners, workspaces
and agents it needs, so tests do not depend on each other's order."""
import base64
import http.client
import json
import subprocess
import time
import urllib.parse

import jwt

from harness import BIN, Env, basic_header, close_module_env, free_port, jwt_parts, module_env

FORM = "application/x-www-form-urlencoded"
CLAIMS = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope",
          "owner_id", "org_id", "ws", "run_id"]
PRIVATE_JWK_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
AUD_A = "https://api-a.example.com/v1"
AUD_B = "urn:example:billing"
AUD_FRAG = "https://frag.example.com/api"

_state = {}


def _setup(env, _state):
    _state["org"] = env.init["id"]
    _state["sc"] = env.scenario()
    for name, aud in (("api-a", AUD_A), ("billing", AUD_B), ("frag", AUD_FRAG)):
        env.cli("resource", "add", name, "--audience", aud)
    _state["srv"] = env.serve()


def ctx():
    """The module's database and server, made on first use."""
    return module_env(_state, _setup)


def teardown_module():
    close_module_env(_state)


# ---- helpers ----

def post_raw(srv, body, auth=None, ctype=FORM, extra=None):
    """POSTs body (str, sent as is) to /token; returns (status, headers, parsed JSON or None)."""
    h = {}
    if ctype:
        h["Content-Type"] = ctype
    if auth:
        h["Authorization"] = auth
    if extra:
        h.update(extra)
    st, hd, b = srv.request("POST", "/token", body, h)
    try:
        obj = json.loads(b) if b else None
    except ValueError:
        obj = None
    return st, hd, obj


def enc(pairs):
    return urllib.parse.urlencode(pairs)


def assert_no_store(h):
    assert h.get("cache-control") == "no-store", h
    assert h.get("pragma") == "no-cache", h


def assert_error(resp, status, code, challenge=None):
    """An RFC 6749 §5.2 error: status, error code, description, no-store headers; with
    challenge True/False, WWW-Authenticate is required / forbidden."""
    st, h, body = resp
    assert st == status, (st, body)
    assert isinstance(body, dict), body
    assert body.get("error") == code, body
    assert isinstance(body.get("error_description"), str) and body["error_description"], body
    assert "access_token" not in body
    assert h.get("content-type", "").startswith("application/json"), h
    assert_no_store(h)
    if challenge is True:
        assert h.get("www-authenticate") == 'Basic realm="warrant"', h
    elif challenge is False:
        assert "www-authenticate" not in h, h
    return body


def assert_ok(resp):
    st, h, body = resp
    assert st == 200, (st, body)
    assert body["token_type"] == "Bearer", body
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert_no_store(h)
    return body


def verify(srv, tok, audience=None, alg="ES256"):
    """Verifies tok as an RFC 9068 access token with pyjwt against the server's /jwks."""
    hdr = jwt.get_unverified_header(tok)
    assert hdr.get("typ") == "at+jwt", hdr
    assert hdr.get("alg") == alg, hdr
    assert hdr.get("kid"), hdr
    key = jwt.PyJWKClient(srv.base + "/jwks").get_signing_key_from_jwt(tok)
    return jwt.decode(tok, key.key, algorithms=[alg], audience=audience or srv.base,
                      issuer=srv.base, options={"require": CLAIMS[:7]})


def pct_all(s):
    """Percent-encodes every byte: still valid form-urlencoding, which a server that skips
    the RFC 6749 §2.3.1 decoding step cannot match."""
    return "".join("%%%02X" % b for b in s.encode())


def new_owner_ws(env, verbs="tickets:read", nws=1):
    o = env.owner()
    wss = []
    for _ in range(nws):
        ws = env.workspace()
        env.member(ws["id"], o["id"], verbs)
        wss.append(ws)
    return o, wss


# ---- success and claims ----

def test_client_secret_basic_token_claims_verify():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    t0 = int(time.time())
    body = assert_ok(srv.token(sc["id"], sc["secret"]))
    t1 = int(time.time())
    assert body["expires_in"] == 300, body
    assert body["scope"] == "tickets:read", body
    tok = body["access_token"]
    c = verify(srv, tok)
    for k in CLAIMS:
        assert k in c, (k, c)
    assert c["iss"] == srv.base
    assert c["sub"] == sc["id"] and c["client_id"] == sc["id"]
    assert c["aud"] == srv.base  # default audience: the issuer
    assert c["owner_id"] == sc["owner"]["id"]
    assert c["org_id"] == s["org"]
    assert c["ws"] == sc["ws"]["id"]
    assert c["scope"] == body["scope"]
    assert c["run_id"] == body["run_id"]
    assert c["exp"] - c["iat"] == body["expires_in"]
    assert t0 - 1 <= c["iat"] <= t1 + 1, (t0, c["iat"], t1)
    assert c["nbf"] <= c["iat"] + 1
    assert isinstance(c["jti"], str) and len(c["jti"]) >= 16
    # the kid names a key in the JWKS
    hdr, _ = jwt_parts(tok)
    st, _, jwks = srv.get_json("/jwks")
    assert hdr["kid"] in [k["kid"] for k in jwks["keys"]]
    # two tokens never share a jti or a minted run id
    body2 = assert_ok(srv.token(sc["id"], sc["secret"]))
    c2 = verify(srv, body2["access_token"])
    assert c2["jti"] != c["jti"]
    assert body2["run_id"] != body["run_id"]


def test_client_secret_basic_is_form_urldecoded():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    auth = "Basic " + base64.b64encode(("%s:%s" % (pct_all(sc["id"]), pct_all(sc["secret"]))).encode()).decode()
    body = assert_ok(post_raw(srv, "grant_type=client_credentials", auth=auth))
    assert verify(srv, body["access_token"])["sub"] == sc["id"]
    # the harness's quote_plus encoding, and the scheme name in another case
    auth2 = basic_header(sc["id"], sc["secret"]).replace("Basic ", "bAsIc ", 1)
    assert_ok(post_raw(srv, "grant_type=client_credentials", auth=auth2))


def test_client_secret_post():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    body = assert_ok(srv.post_form("/token", {"grant_type": "client_credentials",
                                              "client_id": sc["id"], "client_secret": sc["secret"]}))
    c = verify(srv, body["access_token"])
    assert c["sub"] == sc["id"] and c["scope"] == "tickets:read"


def test_content_type_with_charset_accepted():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    assert_ok(post_raw(srv, "grant_type=client_credentials", auth=basic_header(sc["id"], sc["secret"]),
                       ctype="application/x-www-form-urlencoded; charset=UTF-8"))


def test_bare_client_id_beside_basic():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    # RFC 6749 §3.2.1: a bare client_id naming the same client only identifies it
    assert_ok(srv.post_form("/token", {"grant_type": "client_credentials", "client_id": sc["id"]},
                            basic=(sc["id"], sc["secret"])))
    # naming another client is a contradiction
    other = s["env"].agent(sc["owner"]["id"], "tickets:read", name="other")
    assert_error(srv.post_form("/token", {"grant_type": "client_credentials", "client_id": other["id"]},
                               basic=(sc["id"], sc["secret"])), 400, "invalid_request")
    assert_error(srv.post_form("/token", {"grant_type": "client_credentials", "client_id": "agt_nobody"},
                               basic=(sc["id"], sc["secret"])), 400, "invalid_request")


def test_client_secret_in_body_beside_basic_is_two_methods():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    for fields in ({"client_secret": sc["secret"]},
                   {"client_id": sc["id"], "client_secret": sc["secret"]},
                   {"client_secret": "wsk_other"}):
        f = {"grant_type": "client_credentials"}
        f.update(fields)
        assert_error(srv.post_form("/token", f, basic=(sc["id"], sc["secret"])), 400, "invalid_request")


# ---- request errors ----

def test_missing_grant_type():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    assert_error(srv.post_form("/token", {"scope": "tickets:read"}, basic=(sc["id"], sc["secret"])),
                 400, "invalid_request")
    assert_error(post_raw(srv, "", auth=basic_header(sc["id"], sc["secret"])), 400, "invalid_request")


def test_unsupported_grant_type():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    for gt in ("password", "authorization_code", "client_credentials ", "CLIENT_CREDENTIALS"):
        assert_error(srv.post_form("/token", {"grant_type": gt}, basic=(sc["id"], sc["secret"])),
                     400, "unsupported_grant_type")


def test_duplicated_parameters():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    auth = basic_header(sc["id"], sc["secret"])
    ws = sc["ws"]["id"]
    cases = [
        [("grant_type", "client_credentials"), ("grant_type", "client_credentials")],
        [("grant_type", "client_credentials"), ("scope", "tickets:read"), ("scope", "tickets:read")],
        [("grant_type", "client_credentials"), ("workspace", ws), ("workspace", ws)],
        [("grant_type", "client_credentials"), ("run_id", "r1"), ("run_id", "r2")],
    ]
    for pairs in cases:
        assert_error(post_raw(srv, enc(pairs), auth=auth), 400, "invalid_request")
    # the same with client_secret_post
    post = [("client_id", sc["id"]), ("client_secret", sc["secret"])]
    for pairs in cases:
        assert_error(post_raw(srv, enc(pairs + post)), 400, "invalid_request")
    # the credentials themselves
    gt = [("grant_type", "client_credentials")]
    assert_error(post_raw(srv, enc(gt + post + [("client_id", sc["id"])])), 400, "invalid_request")
    assert_error(post_raw(srv, enc(gt + post + [("client_secret", sc["secret"])])), 400, "invalid_request")
    assert_error(post_raw(srv, enc(gt + [("client_id", sc["id"])] * 2), auth=auth), 400, "invalid_request")
    # resource alone may repeat
    assert_ok(post_raw(srv, enc(gt + [("resource", AUD_A), ("resource", AUD_A)]), auth=auth))


def test_duplicated_unrecognised_parameter():
    # SPEC: "Any parameter but resource given twice is 400 invalid_request" (RFC 6749 §3.2:
    # parameters MUST NOT be included more than once), not only the ones /token reads
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    auth = basic_header(sc["id"], sc["secret"])
    assert_ok(post_raw(srv, "grant_type=client_credentials&foo=1", auth=auth))  # unknown: ignored
    assert_error(post_raw(srv, "grant_type=client_credentials&foo=1&foo=2", auth=auth), 400, "invalid_request")


def test_empty_value_counts_as_absent():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    auth = basic_header(sc["id"], sc["secret"])
    body = assert_ok(post_raw(srv, "grant_type=client_credentials&scope=&workspace=&run_id=&resource=", auth=auth))
    assert body["scope"] == "tickets:read"
    assert body["run_id"].startswith("run_")
    c = verify(srv, body["access_token"])
    assert c["ws"] == sc["ws"]["id"] and c["aud"] == srv.base
    # an empty twin does not make a duplicate
    body = assert_ok(post_raw(srv, "grant_type=client_credentials&scope=&scope=tickets%3Aread&run_id=x1&run_id=",
                              auth=auth))
    assert body["scope"] == "tickets:read" and body["run_id"] == "x1"
    # an empty grant_type is a missing one
    assert_error(post_raw(srv, "grant_type=&scope=tickets%3Aread", auth=auth), 400, "invalid_request")
    # an empty client_secret beside Basic is not a second method
    assert_ok(post_raw(srv, "grant_type=client_credentials&client_secret=", auth=auth))


def test_wrong_content_type():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    auth = basic_header(sc["id"], sc["secret"])
    for ct in ("text/plain", "application/json", "multipart/form-data; boundary=x",
               "application/x-www-form-urlencodedX", None):
        assert_error(post_raw(srv, "grant_type=client_credentials", auth=auth, ctype=ct), 400, "invalid_request")
    assert_error(post_raw(srv, json.dumps({"grant_type": "client_credentials"}), auth=auth,
                          ctype="application/json"), 400, "invalid_request")


def test_malformed_percent_encoding_and_control_bytes():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    auth = basic_header(sc["id"], sc["secret"])
    for body in ("grant_type=client_credentials&scope=%zz",
                 "grant_type=client_credentials&scope=tickets%3",
                 "grant_type=client_credentials%",
                 "grant_type=client_credentials&run_id=a%00b",
                 "grant_type=client_credentials&run_id=a%0Ab"):
        assert_error(post_raw(srv, body, auth=auth), 400, "invalid_request")
    # client_secret_post with a broken body cannot authenticate either
    assert_error(post_raw(srv, "grant_type=client_credentials&client_id=%s&client_secret=%s%%zz"
                          % (sc["id"], sc["secret"])), 400, "invalid_request")


# ---- client authentication errors ----

def test_unknown_client_and_wrong_secret_look_the_same():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    wrong = assert_error(srv.token(sc["id"], sc["secret"][:-2] + "xx"), 401, "invalid_client", challenge=True)
    unknown = assert_error(srv.token("agt_doesnotexist000000000000", sc["secret"]), 401, "invalid_client",
                           challenge=True)
    not_agent = assert_error(srv.token("someone", "wsk_x"), 401, "invalid_client", challenge=True)
    assert wrong == unknown == not_agent, (wrong, unknown, not_agent)
    # the same with client_secret_post
    f = {"grant_type": "client_credentials"}
    w2 = assert_error(srv.post_form("/token", dict(f, client_id=sc["id"], client_secret="wsk_nope")),
                      401, "invalid_client")
    u2 = assert_error(srv.post_form("/token", dict(f, client_id="agt_doesnotexist000000000000",
                                                   client_secret="wsk_nope")), 401, "invalid_client")
    assert w2 == u2 == wrong
    # an empty secret, and the secret of another agent
    assert_error(srv.token(sc["id"], ""), 401, "invalid_client", challenge=True)
    other = s["env"].agent(sc["owner"]["id"], "tickets:read", name="neighbour")
    assert_error(srv.token(sc["id"], other["client_secret"]), 401, "invalid_client", challenge=True)
    # failures never lock the agent out
    assert_ok(srv.token(sc["id"], sc["secret"]))


def test_malformed_basic():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    f = "grant_type=client_credentials"
    bad = [
        "Basic !!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":" + sc["secret"].encode()).decode(),
        "Basic " + base64.b64encode(("%s:%s" % (sc["id"], sc["secret"])).encode()).decode()[:-1],  # truncated
        "Basic " + base64.b64encode(("%s:%s%%zz" % (sc["id"], sc["secret"])).encode()).decode(),
        "Basic ",
    ]
    for auth in bad:
        assert_error(post_raw(srv, f, auth=auth), 401, "invalid_client", challenge=True)


def test_no_client_authentication():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    assert_error(post_raw(srv, "grant_type=client_credentials"), 401, "invalid_client")
    # a client_id alone is not authentication
    assert_error(post_raw(srv, enc([("grant_type", "client_credentials"), ("client_id", sc["id"])])),
                 401, "invalid_client")


# ---- scope ----

def test_invalid_scope():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    tok = lambda scope: srv.token(sc["id"], sc["secret"], scope=scope)
    # owner has tickets:read tickets:note, agent's grant tickets:read refunds:issue
    assert_error(tok("refunds:issue"), 400, "invalid_scope")              # in grant, owner lacks it
    assert_error(tok("tickets:note"), 400, "invalid_scope")               # owner has it, grant lacks it
    assert_error(tok("tickets:read tickets:note"), 400, "invalid_scope")  # one bad verb spoils all
    assert_error(tok("admin:all"), 400, "invalid_scope")
    assert_error(tok("tickets"), 400, "invalid_scope")                    # malformed verb
    assert_error(tok("tickets:read:x"), 400, "invalid_scope")
    body = assert_ok(tok("tickets:read  tickets:read"))
    assert body["scope"] == "tickets:read"


def test_scope_subset_and_canonical_order():
    s = ctx()
    env, srv = s["env"], s["srv"]
    o, (ws,) = new_owner_ws(env, verbs="tickets:read tickets:note kb:search")
    a = env.agent(o["id"], "tickets:read tickets:note kb:search refunds:issue", name="wide")
    body = assert_ok(srv.token(a["client_id"], a["client_secret"]))
    assert body["scope"] == "kb:search tickets:note tickets:read", body
    body = assert_ok(srv.token(a["client_id"], a["client_secret"], scope="tickets:read kb:search"))
    assert body["scope"] == "kb:search tickets:read"
    assert verify(srv, body["access_token"])["scope"] == "kb:search tickets:read"


# ---- workspace ----

def test_workspace_none_or_several():
    s = ctx()
    env, srv = s["env"], s["srv"]
    # no candidate workspace
    lonely = env.owner()
    a0 = env.agent(lonely["id"], "tickets:read", name="lonely")
    assert_error(srv.token(a0["client_id"], a0["client_secret"]), 400, "invalid_request")
    # owner member of a workspace, but none of the agent's verbs there
    o1, (w1,) = new_owner_ws(env, verbs="kb:search")
    a1 = env.agent(o1["id"], "tickets:read", name="mismatch")
    assert_error(srv.token(a1["client_id"], a1["client_secret"]), 400, "invalid_request")
    # several candidates
    o2, (wa, wb) = new_owner_ws(env, verbs="tickets:read", nws=2)
    a2 = env.agent(o2["id"], "tickets:read", name="busy")
    assert_error(srv.token(a2["client_id"], a2["client_secret"]), 400, "invalid_request")
    # naming one resolves it
    for ws in (wa, wb):
        body = assert_ok(srv.token(a2["client_id"], a2["client_secret"], workspace=ws["id"]))
        assert verify(srv, body["access_token"])["ws"] == ws["id"]


def test_workspace_limit_narrows_default():
    s = ctx()
    env, srv = s["env"], s["srv"]
    o, (wa, wb) = new_owner_ws(env, verbs="tickets:read", nws=2)
    a = env.agent(o["id"], "tickets:read", name="limited", workspaces=[wb["id"]])
    body = assert_ok(srv.token(a["client_id"], a["client_secret"]))
    assert verify(srv, body["access_token"])["ws"] == wb["id"]
    # outside its limit nothing is effective
    assert_error(srv.token(a["client_id"], a["client_secret"], workspace=wa["id"]), 400, "invalid_scope")


def test_explicit_workspace_without_access():
    s = ctx()
    env, srv, sc = s["env"], s["srv"], s["sc"]
    foreign = env.workspace()
    assert_error(srv.token(sc["id"], sc["secret"], workspace=foreign["id"]), 400, "invalid_scope")
    body = assert_ok(srv.token(sc["id"], sc["secret"], workspace=sc["ws"]["id"]))
    assert verify(srv, body["access_token"])["ws"] == sc["ws"]["id"]
    # not a workspace id at all
    assert_error(srv.token(sc["id"], sc["secret"], workspace="not-a-workspace"), 400, "invalid_request")


def test_trust_follows_the_owner_across_orgs_and_org_visible_workspaces():
    s = ctx()
    env, srv = s["env"], s["srv"]
    suffix = time.time_ns() % 10**9
    other = env.cli("org", "add", "partner-%d" % suffix)
    # the owner (default org) is a member of a workspace in another org
    o, _ = new_owner_ws(env, verbs="kb:search")
    far = env.workspace(org=other["id"])
    env.member(far["id"], o["id"], "tickets:read")
    a = env.agent(o["id"], "tickets:read kb:search", name="traveller")
    body = assert_ok(srv.token(a["client_id"], a["client_secret"], workspace=far["id"]))
    c = verify(srv, body["access_token"])
    assert c["ws"] == far["id"] and c["org_id"] == s["org"] and c["scope"] == "tickets:read", c
    # an org_visible workspace opens its org-wide verbs to that org's agents only
    po = env.owner(org=other["id"])
    lobby = env.workspace(org=other["id"], org_visible=True, verbs="kb:search")
    pa = env.agent(po["id"], "kb:search tickets:read", name="partner-agent")
    body = assert_ok(srv.token(pa["client_id"], pa["client_secret"]))
    c = verify(srv, body["access_token"])
    assert c["ws"] == lobby["id"] and c["org_id"] == other["id"] and c["scope"] == "kb:search", c
    assert_error(srv.token(a["client_id"], a["client_secret"], workspace=lobby["id"]), 400, "invalid_scope")


# ---- run_id ----

def test_run_id():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    for run in ("job-42.step:7_A", "r", "x" * 64):
        body = assert_ok(srv.token(sc["id"], sc["secret"], run_id=run))
        assert body["run_id"] == run
        assert verify(srv, body["access_token"])["run_id"] == run
    for run in ("x" * 65, "has space", "a/b", "a+b", "caf\u00e9", "semi;colon", "a\tb"):
        assert_error(srv.token(sc["id"], sc["secret"], run_id=run), 400, "invalid_request")


def test_server_minted_run_id():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    runs = set()
    for _ in range(3):
        body = assert_ok(srv.token(sc["id"], sc["secret"]))
        run = body["run_id"]
        assert run.startswith("run_") and len(run) >= 4 + 16, run
        assert verify(srv, body["access_token"])["run_id"] == run
        runs.add(run)
    assert len(runs) == 3


# ---- resource (RFC 8707) ----

def test_resource_invalid_target():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    for res in ("api-a.example.com", "/v1", "//api-a.example.com/v1", AUD_FRAG + "#x", AUD_A + "#",
                "https://unknown.example.com/", AUD_A + "/", "https://api-a.example.com/v1 x"):
        assert_error(srv.token(sc["id"], sc["secret"], resource=res), 400, "invalid_target")
    # one bad value among good ones spoils the request
    assert_error(srv.post_form("/token", [("grant_type", "client_credentials"), ("resource", AUD_A),
                                          ("resource", "https://unknown.example.com/")],
                               basic=(sc["id"], sc["secret"])), 400, "invalid_target")


def test_resource_becomes_aud():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    body = assert_ok(srv.token(sc["id"], sc["secret"], resource=AUD_A))
    c = verify(srv, body["access_token"], audience=AUD_A)
    assert c["aud"] == AUD_A, c["aud"]
    body = assert_ok(srv.token(sc["id"], sc["secret"], resource=AUD_FRAG))
    assert verify(srv, body["access_token"], audience=AUD_FRAG)["aud"] == AUD_FRAG


def test_repeated_resource_aud_array():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    body = assert_ok(srv.post_form("/token", [("grant_type", "client_credentials"), ("resource", AUD_A),
                                              ("resource", AUD_B)], basic=(sc["id"], sc["secret"])))
    c = verify(srv, body["access_token"], audience=AUD_B)
    assert isinstance(c["aud"], list) and sorted(c["aud"]) == sorted([AUD_A, AUD_B]), c["aud"]


def test_resource_registered_while_serving():
    s = ctx()
    env, srv, sc = s["env"], s["srv"], s["sc"]
    aud = "https://late-%d.example.com" % (time.time_ns() % 10**9)
    assert_error(srv.token(sc["id"], sc["secret"], resource=aud), 400, "invalid_target")
    env.cli("resource", "add", "late", "--audience", aud)
    deadline = time.time() + 3
    while True:
        st, _, body = srv.token(sc["id"], sc["secret"], resource=aud)
        if st == 200 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert st == 200, body
    assert verify(srv, body["access_token"], audience=aud)["aud"] == aud


# ---- lifetime and configuration ----

def test_token_ttl_and_default_audience_options():
    s = ctx()
    env, sc = s["env"], s["sc"]
    srv = env.serve("--token-ttl", "3600", "--audience", "https://default-aud.example.com")
    try:
        body = assert_ok(srv.token(sc["id"], sc["secret"]))
        assert body["expires_in"] == 3600, body
        c = verify(srv, body["access_token"], audience="https://default-aud.example.com")
        assert c["exp"] - c["iat"] == 3600
        assert c["aud"] == "https://default-aud.example.com"
        assert c["iss"] == srv.base
    finally:
        srv.stop()
    srv2 = env.serve("--token-ttl", "60")
    try:
        body = assert_ok(srv2.token(sc["id"], sc["secret"]))
        assert body["expires_in"] == 60
        c = verify(srv2, body["access_token"])
        assert c["exp"] - c["iat"] == 60
    finally:
        srv2.stop()


def test_token_ttl_above_3600_refused_at_start():
    s = ctx()
    env = s["env"]
    for ttl in ("3601", "86400"):
        port = free_port()
        p = subprocess.Popen([BIN, "serve", "--db", env.db, "--listen", "127.0.0.1:%d" % port,
                              "--issuer", "http://127.0.0.1:%d" % port, "--token-ttl", ttl],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError("serve --token-ttl %s kept running" % ttl)
        assert p.returncode != 0, (ttl, p.returncode)
        assert "token-ttl" in err, err
        assert len(err.strip().splitlines()) == 1, err


# ---- RS256 ----

def test_rs256_database_verifies():
    env = Env(alg="RS256")
    try:
        sc = env.scenario()
        srv = env.serve()
        body = assert_ok(srv.token(sc["id"], sc["secret"]))
        c = verify(srv, body["access_token"], alg="RS256")
        assert c["sub"] == sc["id"] and c["exp"] - c["iat"] == body["expires_in"] == 300
        st, _, jwks = srv.get_json("/jwks")
        assert st == 200
        for k in jwks["keys"]:
            assert k["kty"] == "RSA" and "n" in k and "e" in k, k
            for m in PRIVATE_JWK_MEMBERS:
                assert m not in k, (m, k)
    finally:
        env.close()


# ---- discovery, JWKS, health, routing, limits ----

def test_discovery_both_paths():
    s = ctx()
    srv = s["srv"]
    docs = []
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        st, h, d = srv.get_json(path)
        assert st == 200, (path, st)
        assert h.get("content-type", "").startswith("application/json")
        assert d["issuer"] == srv.base
        assert d["token_endpoint"] == srv.base + "/token"
        assert d["jwks_uri"] == srv.base + "/jwks"
        assert "client_credentials" in d["grant_types_supported"]
        assert {"client_secret_basic", "client_secret_post"} <= set(d["token_endpoint_auth_methods_supported"])
        assert "none" not in d["token_endpoint_auth_methods_supported"]
        assert isinstance(d.get("response_types_supported"), list)
        docs.append(d)
    oidc = docs[1]
    # OIDC Discovery 1.0 §3 REQUIRED fields, with honest values
    for k in ("response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported"):
        assert isinstance(oidc.get(k), list), (k, oidc)
    assert oidc["subject_types_supported"], oidc
    for k in ("issuer", "token_endpoint", "jwks_uri", "grant_types_supported",
              "token_endpoint_auth_methods_supported"):
        assert docs[0][k] == docs[1][k], k
    # the endpoints it names exist on this server
    st, _, jwks = srv.get_json(urllib.parse.urlparse(oidc["jwks_uri"]).path)
    assert st == 200 and jwks["keys"]
    for k, v in oidc.items():
        if k.endswith("_endpoint"):
            assert v.startswith(srv.base + "/"), (k, v)
            st, _, _ = srv.request("POST", urllib.parse.urlparse(v).path, "", {"Content-Type": FORM})
            assert st not in (404, 405), (k, v, st)


def test_jwks_public_members_only():
    s = ctx()
    srv = s["srv"]
    st, h, jwks = srv.get_json("/jwks")
    assert st == 200
    assert h.get("content-type", "").startswith("application/json")
    assert isinstance(jwks["keys"], list) and len(jwks["keys"]) >= 2  # current and next
    kids = [k["kid"] for k in jwks["keys"]]
    assert len(set(kids)) == len(kids)
    for k in jwks["keys"]:
        assert k["kty"] == "EC" and k["crv"] == "P-256" and k["x"] and k["y"], k
        for m in PRIVATE_JWK_MEMBERS:
            assert m not in k, (m, k)
        assert k.get("use", "sig") == "sig"
    # and the bytes carry nothing private under another spelling
    _, _, raw = srv.request("GET", "/jwks")
    assert b'"d"' not in raw


def test_health_endpoints():
    s = ctx()
    srv = s["srv"]
    for path in ("/healthz", "/readyz"):
        st, h, body = srv.get_json(path)
        assert st == 200, (path, st, body)
        assert isinstance(body, dict)


def test_unknown_path_404_and_wrong_method_405():
    s = ctx()
    srv = s["srv"]
    for path in ("/nope", "/token/", "/tokens", "/.well-known/", "/jwks.json"):
        st, _, _ = srv.request("GET", path)
        assert st == 404, (path, st)
    st, _, _ = srv.request("POST", "/nope", "a=b", {"Content-Type": FORM})
    assert st == 404
    for method, path in (("GET", "/token"), ("PUT", "/token"), ("POST", "/jwks"), ("DELETE", "/healthz"),
                         ("POST", "/.well-known/openid-configuration")):
        st, h, _ = srv.request(method, path, "" if method != "GET" else None)
        assert st == 405, (method, path, st)
        assert "allow" in h, h


def test_oversized_body_413():
    s = ctx()
    srv, sc = s["srv"], s["sc"]
    body = "grant_type=client_credentials&pad=" + "x" * (70 * 1024)
    st, h, _ = post_raw(srv, body, auth=basic_header(sc["id"], sc["secret"]))
    assert st == 413, st
    # without a Content-Length (chunked), the limit holds while reading
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        chunks = [b"grant_type=client_credentials&pad="] + [b"x" * 8192] * 12
        c.request("POST", "/token", body=iter(chunks),
                  headers={"Content-Type": FORM, "Authorization": basic_header(sc["id"], sc["secret"]),
                           "Transfer-Encoding": "chunked"}, encode_chunked=True)
        r = c.getresponse()
        r.read()
        assert r.status == 413, r.status
    finally:
        c.close()
    # a body under the limit is read, and an unknown parameter ignored (RFC 6749 §3.2)
    st, _, obj = post_raw(srv, "grant_type=client_credentials&pad=" + "x" * 8000,
                          auth=basic_header(sc["id"], sc["secret"]))
    assert st == 200, (st, obj)


# ---- refusals that follow live state written by the command line ----

def eventually(fn, timeout=2.0):
    """Calls fn until it returns a truthy value or timeout passes (SPEC: a running server
    sees command-line changes within one second); returns the last value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(0.05)


def status_is(srv, cid, secret, status, **params):
    def probe():
        r = srv.token(cid, secret, **params)
        return r if r[0] == status else None
    r = eventually(probe)
    assert r, "no %d for %s within 2 s: %r" % (status, cid, srv.token(cid, secret, **params))
    return r


def test_unauthorized_client_suspended_and_retired_agent():
    s = ctx()
    env, srv = s["env"], s["srv"]
    o, (ws,) = new_owner_ws(env)
    a = env.agent(o["id"], "tickets:read", name="lifecycle")
    cid, sec = a["client_id"], a["client_secret"]
    assert_ok(srv.token(cid, sec))
    env.cli("agent", "suspend", cid)
    assert_error(status_is(srv, cid, sec, 400), 400, "unauthorized_client")
    # client_secret_post too
    assert_error(srv.post_form("/token", {"grant_type": "client_credentials", "client_id": cid,
                                          "client_secret": sec}), 400, "unauthorized_client")
    # a wrong secret still says nothing about the agent's state
    assert_error(srv.token(cid, sec[:-2] + "zz"), 401, "invalid_client", challenge=True)
    env.cli("agent", "resume", cid)
    assert_ok(status_is(srv, cid, sec, 200))
    env.cli("agent", "retire", cid)
    assert_error(status_is(srv, cid, sec, 400), 400, "unauthorized_client")
    # retired is final
    p = env.run("agent", "resume", cid)
    assert p.returncode != 0, p.stdout
    assert_error(srv.token(cid, sec), 400, "unauthorized_client")


def test_unauthorized_client_deactivated_owner():
    s = ctx()
    env, srv = s["env"], s["srv"]
    o, (ws,) = new_owner_ws(env)
    a = env.agent(o["id"], "tickets:read", name="orphan")
    assert_ok(srv.token(a["client_id"], a["client_secret"]))
    env.cli("owner", "deactivate", o["id"])
    assert_error(status_is(srv, a["client_id"], a["client_secret"], 400), 400, "unauthorized_client")


def test_rotated_credential_grace_and_expiry():
    s = ctx()
    env, srv = s["env"], s["srv"]
    o, (ws,) = new_owner_ws(env)
    a = env.agent(o["id"], "tickets:read", name="rotating")
    cid, old = a["client_id"], a["client_secret"]
    r = env.cli("agent", "rotate", cid, "--grace", "600")
    new = r["client_secret"]
    assert new != old
    # within the grace window both secrets work
    assert_ok(status_is(srv, cid, new, 200))
    assert_ok(srv.token(cid, old))
    # a rotation without grace ends the previous secret at once: 401 like any wrong secret
    r2 = env.cli("agent", "rotate", cid, "--grace", "0")
    newest = r2["client_secret"]
    assert_ok(status_is(srv, cid, newest, 200))
    expired = assert_error(status_is(srv, cid, new, 401), 401, "invalid_client", challenge=True)
    unknown = assert_error(srv.token("agt_doesnotexist000000000000", new), 401, "invalid_client", challenge=True)
    assert expired == unknown
    assert_error(srv.post_form("/token", {"grant_type": "client_credentials", "client_id": cid,
                                          "client_secret": new}), 401, "invalid_client")


def test_revoked_run_refused_for_new_tokens():
    s = ctx()
    env, srv, sc = s["env"], s["srv"], s["sc"]
    run = "killed-run-%d" % (time.time_ns() % 10**9)
    assert_ok(srv.token(sc["id"], sc["secret"], run_id=run))
    env.cli("revoke", "--run", run, "--agent", sc["id"])
    assert_error(status_is(srv, sc["id"], sc["secret"], 400, run_id=run), 400, "invalid_request")
    # other runs are untouched
    assert_ok(srv.token(sc["id"], sc["secret"], run_id=run + "-other"))

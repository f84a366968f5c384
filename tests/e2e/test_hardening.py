"""test_hardening.py - holes found by attacking the running server, each closed: invalid
UTF-8 reaching the audit export, the owner login throttle and its limits, malleable ES256
signatures, the entropy of server-minted ids, a symlinked --log-file and control
characters in agent names."""
import base64
import json
import math
import os
import subprocess
import time
import urllib.parse

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives import hashes

from harness import BIN, Env, basic_header, free_port

PASSWORD = "hardening-test-password"
# the order of the P-256 group (SEC 2 §2.4.2)
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def plain_basic(email, password):
    """RFC 7617 Basic of raw bytes (owners at /v1: nothing percent-encoded)."""
    raw = email + b":" + password
    return "Basic " + base64.b64encode(raw).decode()


def audit_lines_strict(env):
    """`warrant audit --json` as bytes; every line decoded strictly as UTF-8 and parsed."""
    p = subprocess.run([BIN, "audit", "--json", "--db", env.db], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = []
    for line in p.stdout.split(b"\n"):
        if line.strip():
            out.append(json.loads(line.decode("utf-8", errors="strict")))
    return out


def wait_minute_room(seconds):
    """Waits until at least `seconds` remain in the current UTC minute (throttle windows)."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.2)


# ---- invalid UTF-8 never reaches a JSON output as is (RFC 8259 §8.1) ----

def test_invalid_utf8_in_inputs_keeps_the_audit_export_valid_json():
    env = Env()
    try:
        sc = env.scenario()
        o = env.owner(password=PASSWORD)
        srv = env.serve()
        bad_email = b"\xff\xfeevil\xc3(@example.com"
        st, _, _ = srv.request("GET", "/v1/agents", None, {"Authorization": plain_basic(bad_email, b"whatever-password")})
        assert st == 401
        # a workspace of invalid UTF-8 at /token: %FF and a truncated sequence, percent-encoded
        body = "grant_type=client_credentials&scope=tickets%3Aread&workspace=ws_%FF%E2%82"
        st, _, b = srv.request("POST", "/token", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                         "Authorization": basic_header(sc["id"], sc["secret"])})
        assert st == 400, b
        # and one at /bc-authorize, in the binding message and the workspace
        body = "scope=tickets%3Aread&workspace=ws_%C0%AF&binding_message=ok%ED%A0%80"
        st, _, b = srv.request("POST", "/bc-authorize", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                                "Authorization": basic_header(sc["id"], sc["secret"])})
        assert st == 400, b
        rows = audit_lines_strict(env)
        fails = [r for r in rows if r["event"] == "owner.login_failed"]
        assert any(r["detail"]["email"] == "\ufffd\ufffdevil\ufffd(@example.com" for r in fails), fails
        refused = [r for r in rows if r["event"] == "token.refused" and r["ws"] and r["ws"].startswith("ws_")
                   and "\ufffd" in r["ws"]]
        assert refused and refused[-1]["ws"] == "ws_\ufffd\ufffd", refused
        # the owner's own view of the audit is strict JSON too
        st, _, b = srv.request("GET", "/v1/audit", None, {"Authorization": plain_basic(o["email"].encode(),
                                                                                      PASSWORD.encode())})
        assert st == 200
        b.decode("utf-8", errors="strict")
    finally:
        env.close()


# ---- owner logins: remembered credentials are not throttled; one limit for add and login ----

def test_remembered_password_still_logs_in_after_the_account_throttle_tripped():
    env = Env()
    try:
        srv = env.serve()
        o = env.owner(password=PASSWORD)
        good = plain_basic(o["email"].encode(), PASSWORD.encode())
        wrong = plain_basic(o["email"].encode(), b"not the password at all")
        wait_minute_room(20)
        assert srv.request("GET", "/v1/agents", None, {"Authorization": good})[0] == 200
        for i in range(5):
            assert srv.request("GET", "/v1/agents", None, {"Authorization": wrong})[0] == 401, i
        st, h, _ = srv.request("GET", "/v1/agents", None, {"Authorization": wrong})
        assert st == 429 and "retry-after" in h
        # the owner's script, whose password was checked a moment ago, keeps working
        for _ in range(3):
            st, _, b = srv.request("GET", "/v1/agents", None, {"Authorization": good})
            assert st == 200, (st, b)
        # guesses are still refused without being checked
        assert srv.request("GET", "/v1/agents", None, {"Authorization": wrong})[0] == 429
        # the per-address throttle likewise: 20 failures of other accounts from this address
        for i in range(20):
            bad = plain_basic(b"nobody%d@example.com" % (i % 4), b"wrong password!!")
            st = srv.request("GET", "/v1/agents", None, {"Authorization": bad})[0]
            assert st in (401, 429), st
        other = env.owner(password=PASSWORD)
        st = srv.request("GET", "/v1/agents", None,
                         {"Authorization": plain_basic(other["email"].encode(), PASSWORD.encode())})[0]
        assert st == 429, "an address over its limit, credentials never checked: %d" % st
        assert srv.request("GET", "/v1/agents", None, {"Authorization": good})[0] == 200
    finally:
        env.close()


def test_the_longest_email_and_password_owner_add_accepts_can_log_in():
    env = Env()
    try:
        srv = env.serve()
        email = "a" * (254 - len("@example.com")) + "@example.com"
        password = ("Tr0ub4dor&3 correct horse " * 60)[:1024]
        o = env.owner(email=email, password=password)
        st, _, b = srv.request("GET", "/v1/agents", None,
                               {"Authorization": plain_basic(email.encode(), password.encode())})
        assert st == 200, (st, b)
        # one byte more is refused by `owner add`, and is never a login either
        for e, pw in ((email, password + "x"), ("b" + email, password)):
            p = env.run("owner", "add", "--email", e, "--password-stdin", stdin=pw + "\n")
            assert p.returncode == 1 and ("password" in p.stderr or "email" in p.stderr), (p.returncode, p.stderr)
        st, _, b = srv.request("GET", "/v1/agents", None,
                               {"Authorization": plain_basic(email.encode(), (password + "x").encode())})
        assert st == 401 and json.loads(b)["error"] == "invalid_client", (st, b)
        # a password Basic cannot carry (a control character) is refused when the owner is added
        p = env.run("owner", "add", "--email", "tab@example.com", "--password-stdin", stdin="tab\tin the password\n")
        assert p.returncode == 1 and "control" in p.stderr, p.stderr
        assert o["email"] == email
    finally:
        env.close()


# ---- ES256: low s minted, high s refused (SPEC "Signing keys") ----

def introspect(srv, rs, token):
    st, _, b = srv.post_form("/introspect", {"token": token}, basic=(rs["client_id"], rs["client_secret"]))
    assert st == 200, (st, b)
    return b


def test_es256_signatures_are_low_s_and_the_high_s_twin_is_inactive():
    env = Env()
    try:
        sc = env.scenario()
        rs = env.cli("resource", "add", "gateway")
        srv = env.serve()
        st, _, jwks = srv.get_json("/jwks")
        keys = {k["kid"]: jwt.PyJWK(k) for k in jwks["keys"]}
        tokens = []
        for _ in range(120):
            st, _, b = srv.token(sc["id"], sc["secret"], scope="tickets:read", workspace=sc["ws"]["id"])
            assert st == 200, b
            tokens.append(b["access_token"])
        for tok in tokens:
            h64, p64, s64 = tok.split(".")
            sig = b64url_decode(s64)
            assert len(sig) == 64
            s = int.from_bytes(sig[32:], "big")
            assert 0 < s <= P256_N // 2, "high s in a minted token: %x" % s
        # the other string of one token: (r, n - s) is a valid ECDSA signature over the same bytes...
        tok = tokens[0]
        h64, p64, s64 = tok.split(".")
        sig = b64url_decode(s64)
        r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        twin = "%s.%s.%s" % (h64, p64, b64url(r.to_bytes(32, "big") + (P256_N - s).to_bytes(32, "big")))
        kid = jwt.get_unverified_header(tok)["kid"]
        pub = keys[kid].key
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(encode_dss_signature(r, P256_N - s), ("%s.%s" % (h64, p64)).encode(), ec.ECDSA(hashes.SHA256()))
        # ...yet only the minted one is active
        assert introspect(srv, rs, tok)["active"] is True
        assert introspect(srv, rs, twin) == {"active": False}
        # and the twin does not poison the original (cache, revocation by string)
        assert introspect(srv, rs, tok)["active"] is True
    finally:
        env.close()


# ---- server-minted ids: at least 96 random bits (SPEC "Ids") ----

def test_server_minted_run_ids_and_jtis_carry_96_random_bits():
    env = Env()
    try:
        sc = env.scenario()
        srv = env.serve()
        jtis, runs = [], []
        for _ in range(40):
            st, _, b = srv.token(sc["id"], sc["secret"], scope="tickets:read", workspace=sc["ws"]["id"])
            assert st == 200, b
            claims = jwt.decode(b["access_token"], options={"verify_signature": False})
            assert b["run_id"] == claims["run_id"]
            jtis.append(claims["jti"])
            runs.append(claims["run_id"])
        assert len(set(jtis)) == len(jtis) and len(set(runs)) == len(runs)
        for jti in jtis:
            raw = b64url_decode(jti)
            # 48 bits of issue time, then the random part
            assert len(raw) * 8 - 48 >= 96, (jti, len(raw))
            issued = int.from_bytes(raw[:6], "big")
            assert abs(issued / 1000 - time.time()) < 120, issued
        for run in runs:
            assert run.startswith("run_")
            body = run[4:]
            assert set(body) <= set("abcdefghijklmnopqrstuvwxyz234567"), run
            assert len(body) * 5 - 48 >= 96, (run, len(body))
        # the random part varies in every bit position over 40 ids (none stuck)
        bits = len(b64url_decode(jtis[0])) * 8
        ones = [0] * bits
        for jti in jtis:
            v = int.from_bytes(b64url_decode(jti), "big")
            for i in range(bits - 96, bits):
                ones[i] += (v >> (bits - 1 - i)) & 1
        assert all(0 < ones[i] < len(jtis) for i in range(bits - 96, bits)), ones
    finally:
        env.close()


# ---- --log-file refuses a symbolic link ----

def test_log_file_that_is_a_symlink_is_refused_at_start():
    env = Env()
    try:
        target = os.path.join(env.dir, "elsewhere.txt")
        with open(target, "w") as f:
            f.write("precious\n")
        link = os.path.join(env.dir, "warrant.log")
        os.symlink(target, link)
        p = subprocess.Popen([BIN, "serve", "--db", env.db, "--listen", "127.0.0.1:%d" % free_port(),
                              "--log-file", link], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError("the server started with a symlinked --log-file")
        assert p.returncode == 1, (p.returncode, err)
        assert "symbolic link" in err and link in err, err
        with open(target) as f:
            assert f.read() == "precious\n"
        # a plain file is fine
        plain = os.path.join(env.dir, "plain.log")
        srv = env.serve("--log-file", plain)
        assert srv.request("GET", "/healthz")[0] == 200
    finally:
        env.close()


# ---- agent names: no control characters ----

def test_agent_names_with_control_characters_are_refused():
    env = Env()
    try:
        o = env.owner(password=PASSWORD)
        srv = env.serve()
        auth = {"Authorization": plain_basic(o["email"].encode(), PASSWORD.encode()),
                "Content-Type": "application/json"}
        # C0, DEL, C1 (U+009B is the 8-bit escape) and bidirectional overrides (U+202E shows
        # "bot-exe.txt" as "bot-txt.exe")
        for name in ("evil\x1b[31mred", "line\nbreak", "tab\there", "del\x7f", "c1\u009b31mred",
                     "bot-\u202etxt.exe", "iso\u2066late", "mark\u200fed"):
            st, _, b = srv.request("POST", "/v1/agents", json.dumps({"name": name, "verbs": ["tickets:read"]}), auth)
            assert st == 400 and json.loads(b)["error"] == "invalid_request", (name, st, b)
            assert "control" in json.loads(b)["error_description"], b
            p = env.run("agent", "add", "--owner", o["id"], "--name", name, "--verbs", "tickets:read")
            assert p.returncode == 1 and "control" in p.stderr, (name, p.returncode, p.stderr)
        assert env.cli("agent", "list") == []
        # ordinary names, UTF-8 included, still work
        st, _, b = srv.request("POST", "/v1/agents", json.dumps({"name": "Zoë's refund bot", "verbs": ["tickets:read"]}),
                               auth)
        assert st == 201 or st == 200, (st, b)
        assert env.agent(o["id"], "tickets:read", name="nightly build")["client_id"]
    finally:
        env.close()

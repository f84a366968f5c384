"""test_tls.py - `warrant serve --tls-cert --tls-key` on 127.0.0.1 with a self-signed EC
P-256 certificate made by the openssl command line (subjectAltName IP:127.0.0.1).

Over HTTPS (Python's ssl with the certificate as the only CA, and curl --cacert): the
discovery issuer is https://, a token request works and the token verifies with pyjwt
against the https /jwks, introspection works. Plain HTTP to the TLS port gets no HTTP
answer, TLS 1.0 and 1.1 are refused (RFC 8996), a stalled handshake is cut after
--timeout, and `serve` refuses plain HTTP on a non-loopback address, naming
--insecure-http, before it listens."""
import http.client
import json
import os
import re
import select
import socket
import ssl
import subprocess
import time
import warnings

import jwt

from harness import BIN, Env, TlsServer, basic_header, free_port, make_cert

FORM = "application/x-www-form-urlencoded"
TIMEOUT = 2

_state = {}


def ctx():
    if not _state:
        env = Env()
        _state["env"] = env
        try:
            _state["cert"], _state["key"] = make_cert(env.dir)
            _state["sc"] = env.scenario()
            _state["gw"] = env.cli("resource", "add", "gateway")
            _state["srv"] = TlsServer(env, _state["cert"], _state["key"], "--timeout", str(TIMEOUT))
        except Exception:
            if "srv" in _state:
                _state["srv"].stop()
            env.close()
            _state.clear()
            raise
    return _state


def teardown_module():
    srv = _state.get("srv")
    if srv:
        srv.stop()
    env = _state.get("env")
    if env:
        env.close()
    _state.clear()


def https_token(s):
    st, h, body = s["srv"].post_form("/token", {"grant_type": "client_credentials"},
                                     basic=(s["sc"]["id"], s["sc"]["secret"]))
    assert st == 200, (st, body)
    assert h.get("cache-control") == "no-store", h
    return body["access_token"]


def verify_with_https_jwks(s, tok):
    st, _, raw = s["srv"].request("GET", "/jwks")
    assert st == 200, st
    keys = {k["kid"]: jwt.PyJWK(k) for k in json.loads(raw)["keys"]}
    kid = jwt.get_unverified_header(tok)["kid"]
    assert kid in keys, (kid, list(keys))
    return jwt.decode(tok, keys[kid].key, algorithms=["ES256"], audience=s["srv"].base, issuer=s["srv"].base)


def test_discovery_over_https():
    s = ctx()
    st, h, raw = s["srv"].request("GET", "/.well-known/oauth-authorization-server")
    assert st == 200, st
    doc = json.loads(raw)
    assert doc["issuer"] == s["srv"].base, doc["issuer"]
    for k in ("token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"):
        assert doc[k].startswith(s["srv"].base + "/"), (k, doc[k])
    st, h, raw = s["srv"].request("GET", "/.well-known/openid-configuration")
    assert st == 200 and json.loads(raw)["issuer"] == s["srv"].base
    # the certificate served is ours, and TLS 1.2 or later is spoken
    with socket.create_connection(("127.0.0.1", s["srv"].port), timeout=5) as raw_sock:
        with s["srv"].ctx.wrap_socket(raw_sock, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
            assert tls.version() in ("TLSv1.2", "TLSv1.3"), tls.version()
    with open(s["cert"]) as f:
        assert der == ssl.PEM_cert_to_DER_cert(f.read())


def test_token_over_https_verifies_with_pyjwt():
    s = ctx()
    tok = https_token(s)
    claims = verify_with_https_jwks(s, tok)
    assert claims["sub"] == s["sc"]["id"] and claims["iss"].startswith("https://"), claims
    # client_secret_post over HTTPS too
    st, h, body = s["srv"].post_form("/token", {"grant_type": "client_credentials", "client_id": s["sc"]["id"],
                                                "client_secret": s["sc"]["secret"]}, None)
    assert st == 200, body
    verify_with_https_jwks(s, body["access_token"])


def test_introspection_and_revocation_over_https():
    s = ctx()
    tok = https_token(s)
    gw = basic_header(s["gw"]["client_id"], s["gw"]["client_secret"])
    st, _, body = s["srv"].post_form("/introspect", {"token": tok}, raw_auth=gw)
    assert st == 200 and body["active"] is True and body["iss"] == s["srv"].base, body
    st, _, _ = s["srv"].post_form("/revoke", {"token": tok}, basic=(s["sc"]["id"], s["sc"]["secret"]))
    assert st == 200
    st, _, body = s["srv"].post_form("/introspect", {"token": tok}, raw_auth=gw)
    assert st == 200 and body == {"active": False}, body


def curl(s, path, *args):
    p = subprocess.run(["curl", "-s", "-S", "--max-time", "10", "--cacert", s["cert"], "-o", "-", "-w", "\n%{http_code}"]
                       + list(args) + [s["srv"].base + path], capture_output=True, timeout=20)
    body, _, code = p.stdout.rpartition(b"\n")
    return int(code or b"0"), body, p.returncode, p.stderr


def test_curl_with_cacert():
    s = ctx()
    st, body, rc, err = curl(s, "/.well-known/openid-configuration")
    assert rc == 0 and st == 200, (rc, st, err)
    assert json.loads(body)["issuer"] == s["srv"].base
    st, body, rc, err = curl(s, "/token", "-u", "%s:%s" % (s["sc"]["id"], s["sc"]["secret"]),
                             "-d", "grant_type=client_credentials")
    assert rc == 0 and st == 200, (rc, st, body, err)
    tok = json.loads(body)["access_token"]
    verify_with_https_jwks(s, tok)
    st, body, rc, err = curl(s, "/introspect", "-u", "%s:%s" % (s["gw"]["client_id"], s["gw"]["client_secret"]),
                             "--data-urlencode", "token=" + tok)
    assert rc == 0 and st == 200 and json.loads(body)["active"] is True, (rc, st, body)
    # without the CA, curl refuses the self-signed certificate
    p = subprocess.run(["curl", "-s", "--max-time", "10", s["srv"].base + "/healthz"], capture_output=True, timeout=20)
    assert p.returncode != 0, p.stdout


def test_plain_http_to_the_tls_port_fails():
    s = ctx()
    with socket.create_connection(("127.0.0.1", s["srv"].port), timeout=5) as c:
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        got = b""
        deadline = time.time() + TIMEOUT + 4
        while time.time() < deadline:
            r, _, _ = select.select([c], [], [], 0.2)
            if not r:
                continue
            try:
                d = c.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            got += d
    assert not got.startswith(b"HTTP/"), got[:200]
    assert b"status" not in got, got[:200]
    p = subprocess.run(["curl", "-s", "--max-time", "5", "http://127.0.0.1:%d/healthz" % s["srv"].port],
                       capture_output=True, timeout=20)
    assert p.returncode != 0 or b"ok" not in p.stdout, (p.returncode, p.stdout)
    # the server is fine afterwards
    https_token(s)


def test_tls_1_0_and_1_1_refused():
    """RFC 8996: TLS 1.0 and 1.1 must not be negotiated."""
    s = ctx()
    accepted = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for name, v in (("TLSv1", ssl.TLSVersion.TLSv1), ("TLSv1.1", ssl.TLSVersion.TLSv1_1)):
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            c.load_verify_locations(s["cert"])
            try:
                c.set_ciphers("DEFAULT:@SECLEVEL=0")
                c.minimum_version = v
                c.maximum_version = v
            except (ssl.SSLError, ValueError):
                continue  # this client cannot even offer it
            try:
                with socket.create_connection(("127.0.0.1", s["srv"].port), timeout=5) as raw:
                    with c.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                        accepted.append((name, tls.version(), tls.cipher()[0]))
            except (ssl.SSLError, OSError):
                pass
    https_token(s)
    assert not accepted, "the server negotiated deprecated TLS versions: %r" % accepted


def test_stalled_handshake_cut_after_timeout():
    s = ctx()
    with socket.create_connection(("127.0.0.1", s["srv"].port), timeout=5) as c:
        c.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, then nothing
        t0 = time.time()
        closed_after = None
        while time.time() - t0 < TIMEOUT + 6:
            r, _, _ = select.select([c], [], [], 0.1)
            if r:
                try:
                    d = c.recv(65536)
                except ConnectionResetError:
                    d = b""
                if not d:
                    closed_after = time.time() - t0
                    break
    assert closed_after is not None, "a stalled TLS handshake was never cut"
    assert closed_after <= TIMEOUT + 3.0, closed_after
    https_token(s)


def wait_exit(proc, seconds):
    """Waits for proc to exit; kills it and fails if it is still running after seconds."""
    try:
        return proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("`warrant serve` kept running on a non-loopback address")


def test_plain_http_refused_on_non_loopback_addresses():
    s = ctx()
    env = s["env"]
    for listen in ("0.0.0.0:%d" % free_port(), "[::]:%d" % free_port()):
        p = subprocess.Popen([BIN, "serve", "--db", env.db, "--listen", listen], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        rc = wait_exit(p, 5)
        err = p.stderr.read()
        p.stderr.close()
        p.stdout.close()
        assert rc != 0, (listen, rc)
        assert "--insecure-http" in err and "--tls-cert" in err, err
    # --tls-cert alone is a usage error, a missing or bogus certificate ends the start
    p = subprocess.run([BIN, "serve", "--db", env.db, "--listen", "127.0.0.1:%d" % free_port(),
                        "--tls-cert", s["cert"]], capture_output=True, text=True, timeout=10)
    assert p.returncode != 0 and "--tls-key" in p.stderr, p.stderr
    # --insecure-http on another loopback address: starts, answers, stopped at once
    port = free_port()
    p = subprocess.Popen([BIN, "serve", "--db", env.db, "--listen", "127.0.0.2:%d" % port, "--insecure-http"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ok = False
        deadline = time.time() + 10
        while time.time() < deadline and p.poll() is None and not ok:
            try:
                c = http.client.HTTPConnection("127.0.0.2", port, timeout=2)
                c.request("GET", "/healthz")
                ok = c.getresponse().status == 200
                c.close()
            except OSError:
                time.sleep(0.05)
        assert ok, "serve --insecure-http on 127.0.0.2 did not answer"
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_bad_certificate_or_key_refused_with_a_clear_message():
    """A missing, malformed or mismatched certificate or key ends the start with a
    message about the certificate or key (not a misleading system error), and no
    listening server."""
    s = ctx()
    env = s["env"]
    bogus = os.path.join(env.dir, "bogus.pem")
    with open(bogus, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    other_key = os.path.join(env.dir, "other-key.pem")
    p = subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", other_key],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    bad = []
    for label, cert, key in (("missing certificate", os.path.join(env.dir, "missing.pem"), s["key"]),
                             ("malformed certificate", bogus, s["key"]),
                             ("malformed key", s["cert"], bogus),
                             ("key of another certificate", s["cert"], other_key)):
        p = subprocess.Popen([BIN, "serve", "--db", env.db, "--listen", "127.0.0.1:%d" % free_port(),
                              "--tls-cert", cert, "--tls-key", key], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("serve started with a %s" % label)
        finally:
            err = p.stderr.read()
            p.stderr.close()
            p.stdout.close()
        assert rc != 0, label
        first = err.strip().splitlines()[0] if err.strip() else ""
        if not re.search(r"tls|cert|key", first, re.I):
            bad.append("%s: %r" % (label, first))
    assert not bad, "messages that do not name the certificate or key:\n" + "\n".join(bad)

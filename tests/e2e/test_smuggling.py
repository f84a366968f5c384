"""test_smuggling.py - request smuggling (RFC 9112): requests that a front proxy and
`warrant serve` could frame differently, sent through raw sockets with a second request
(GET /metrics, which answers loopback clients) hidden after or inside them.

Each must be answered 400 (501 for an unknown transfer coding) with Connection: close
before any routing or authentication, and the connection closed, so the hidden request
is never answered: whitespace before the colon of Content-Length or Transfer-Encoding
(§5.1), an obs-fold line (§5.2), two Host headers (§3.2), two Authorization or
Content-Type headers (RFC 9110 §5.3), a bare CR (§2.2) or a NUL in a field, a NUL or CR
in a chunk extension (§7.1.1), a transfer coding other than chunked and
Transfer-Encoding in HTTP/1.0 (§6.1). Well-formed requests keep working: pipelining
with Content-Length, LF line ends, obs-text in values, a chunked body with a proper
extension (after which the connection closes)."""
import json

from harness import Env, basic_header, parse_responses
from harness import exchange as raw_exchange

FORM = b"application/x-www-form-urlencoded"
SERVER_TIMEOUT = 30   # --timeout: far longer than a read here, so a close is the server's choice
READ_SECONDS = 4.0
SMUGGLED = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BODY = b"grant_type=client_credentials"

_state = {}


def ctx():
    if "env" not in _state:
        env = Env()
        try:
            sc = env.scenario()
            srv = env.serve("--timeout", str(SERVER_TIMEOUT))
        except Exception:
            env.close()
            raise
        _state.update(env=env, sc=sc, srv=srv)
    return _state


def teardown_module():
    env = _state.pop("env", None)
    _state.clear()
    if env:
        env.close()


def auth():
    s = ctx()
    return basic_header(s["sc"]["id"], s["sc"]["secret"]).encode()


def exchange(data):
    """Sends data on a new connection; reads until the server closes it or READ_SECONDS
    pass. Returns (bytes read, whether the server closed)."""
    return raw_exchange(ctx()["srv"].port, data, READ_SECONDS)


responses = parse_responses


def token_post(*fields, body=BODY, framing=None):
    """POST /token with a valid client's Basic credentials: the request line, Host,
    Content-Type, Authorization, then fields (raw header lines), then framing (raw lines;
    a proper Content-Length when None), the blank line and body."""
    out = b"POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + FORM + b"\r\nAuthorization: " + auth()
    out += b"\r\n" + b"".join(f + b"\r\n" for f in fields)
    if framing is None:
        framing = [b"Content-Length: %d" % len(body)]
    return out + b"".join(f + b"\r\n" for f in framing) + b"\r\n" + body


def chunked(*chunks):
    """A chunked body from (size line, data) pairs, ended by the last chunk."""
    return b"".join(line + b"\r\n" + data + b"\r\n" for line, data in chunks) + b"0\r\n\r\n"


def still_serving():
    s = ctx()
    st, _, obj = s["srv"].post_form("/token", {"grant_type": "client_credentials"},
                                    basic=(s["sc"]["id"], s["sc"]["secret"]))
    assert st == 200 and obj.get("access_token"), (st, obj)


def assert_refused(data, label, status=400, ours=True):
    """One answer, status with an invalid_request JSON body and Connection: close; then the
    server closes the connection, and the hidden request is never answered. ours=False:
    libmicrohttpd refuses it itself, with its own body."""
    raw, closed = exchange(data)
    rs = responses(raw)
    assert rs, "%s: no answer (closed=%s)" % (label, closed)
    assert [r[0] for r in rs] == [status], "%s: answers %s: %r" % (
        label, [(r[0], r[2][:60]) for r in rs], raw[:300])
    st, h, body = rs[0]
    if ours:
        assert h.get("content-type", "").startswith("application/json"), (label, h)
        assert json.loads(body)["error"] == "invalid_request", (label, body)
    assert h.get("connection", "").lower() == "close", "%s: kept alive: %r" % (label, h)
    assert closed, "%s: the connection stayed open" % label
    assert b"warrant_" not in raw, "%s: the hidden request was answered" % label
    still_serving()


# ---- RFC 9112 §5.1: no whitespace between a field name and its colon ----

def test_space_before_the_colon_of_content_length_is_refused():
    for sep in (b" :", b"\t:", b"  :"):
        data = token_post(framing=[b"Content-Length" + sep + b" %d" % len(SMUGGLED)], body=SMUGGLED)
        assert_refused(data, "Content-Length%r" % sep)


def test_space_before_the_colon_of_transfer_encoding_is_refused():
    data = token_post(framing=[b"Transfer-Encoding : chunked"], body=chunked((b"%x" % len(BODY), BODY)) + SMUGGLED)
    assert_refused(data, "Transfer-Encoding :")


def test_a_bare_cr_in_a_field_name_is_refused():
    data = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX\rNote: 1\r\n\r\n" + SMUGGLED
    assert_refused(data, "CR in a name")


# ---- §5.2: obs-fold ----

def test_a_folded_transfer_encoding_is_refused():
    body = chunked((b"%x" % len(BODY), BODY)) + SMUGGLED
    for fold in ([b"Transfer-Encoding:", b" chunked"], [b"Transfer-Encoding: identity", b"\tchunked"]):
        assert_refused(token_post(framing=fold, body=body), "folded %r" % fold)


def test_any_folded_field_is_refused():
    data = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: one\r\n two\r\n\r\n" + SMUGGLED
    assert_refused(data, "folded X-Note")


# ---- §3.2 and RFC 9110 §5.3: fields that must appear once ----

def test_two_host_headers_are_refused():
    for hosts in ((b"127.0.0.1", b"127.0.0.1"), (b"127.0.0.1", b"evil.example")):
        data = b"GET /healthz HTTP/1.1\r\nHost: " + hosts[0] + b"\r\nHost: " + hosts[1] + b"\r\n\r\n" + SMUGGLED
        assert_refused(data, "two Host %r" % (hosts,))


def test_two_authorization_headers_are_refused():
    other = basic_header("nobody", "wrong").encode()
    assert_refused(token_post(b"Authorization: " + other) + SMUGGLED, "valid, then another Authorization")
    data = token_post().replace(b"Authorization: ", b"Authorization: " + other + b"\r\nAuthorization: ", 1)
    assert_refused(data + SMUGGLED, "another, then valid Authorization")


def test_two_content_type_headers_are_refused():
    assert_refused(token_post(b"Content-Type: text/plain") + SMUGGLED, "two Content-Type")


# ---- §2.2 bare CR, RFC 9110 §5.5 NUL and control bytes in values ----

def test_a_bare_cr_in_a_field_value_is_refused():
    data = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: a\rb\r\n\r\n" + SMUGGLED
    assert_refused(data, "CR in X-Note")
    data = token_post().replace(auth(), auth() + b"\rjunk", 1)
    assert_refused(data + SMUGGLED, "CR after valid credentials")


def test_a_nul_in_a_field_value_is_refused():
    for junk in (b"\x00junk", b"\x00"):
        data = token_post().replace(auth(), auth() + junk, 1)
        assert_refused(data + SMUGGLED, "NUL after valid credentials %r" % junk)
    data = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Note: a\x00b\r\nX-Other: 1\r\n\r\n" + SMUGGLED
    assert_refused(data, "NUL inside X-Note")


# ---- §7.1.1: chunk extensions ----

def test_a_nul_or_cr_in_a_chunk_extension_is_refused():
    size = b"%x" % len(BODY)
    for ext in (b";a\x00b", b";a\rb", b";name=\"v\x00\"", b";a\x01"):
        body = chunked((size + ext, BODY)) + SMUGGLED
        assert_refused(token_post(framing=[b"Transfer-Encoding: chunked"], body=body), "chunk extension %r" % ext)
    # a NUL right after the size is no extension: libmicrohttpd refuses the size itself
    body = chunked((size + b"\x00", BODY)) + SMUGGLED
    assert_refused(token_post(framing=[b"Transfer-Encoding: chunked"], body=body), "NUL after the size", ours=False)
    # in a later chunk, too
    body = chunked((b"3", BODY[:3]), (b"%x;x\x00" % (len(BODY) - 3), BODY[3:])) + SMUGGLED
    assert_refused(token_post(framing=[b"Transfer-Encoding: chunked"], body=body), "second chunk's extension")


# ---- §6.1: transfer codings ----

def test_transfer_codings_other_than_chunked_are_refused():
    body = chunked((b"%x" % len(BODY), BODY)) + SMUGGLED
    assert_refused(token_post(framing=[b"Transfer-Encoding: gzip, chunked"], body=body), "gzip, chunked", 501)
    assert_refused(token_post(framing=[b"Transfer-Encoding: chunked, identity"], body=body), "chunked, identity")
    assert_refused(token_post(framing=[b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"], body=body),
                   "two Transfer-Encoding lines")


def test_transfer_encoding_in_http_1_0_is_refused():
    body = chunked((b"%x" % len(BODY), BODY)) + SMUGGLED
    data = token_post(framing=[b"Transfer-Encoding: chunked"], body=body).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    assert_refused(data, "HTTP/1.0 with Transfer-Encoding")


# ---- what must keep working ----

def test_well_formed_requests_still_work():
    # pipelining with Content-Length: both answered, the connection kept
    raw, closed = exchange(token_post() + SMUGGLED)
    rs = responses(raw)
    assert [r[0] for r in rs] == [200, 200], [(r[0], r[2][:60]) for r in rs]
    assert b"warrant_tokens_issued_total" in rs[1][2] and not closed
    # LF line ends (RFC 9112 §2.2 allows them), obs-text in a value, a field without a value
    data = b"GET /healthz HTTP/1.1\nHost: 127.0.0.1\nX-Note: caf\xc3\xa9\nX-Empty:\n\n"
    rs = responses(exchange(data)[0])
    assert [r[0] for r in rs] == [200], rs
    # a chunked body with a well-formed extension is read; the connection closes after it
    body = chunked((b"%x;name=value;q=\"a b\"" % len(BODY), BODY)) + SMUGGLED
    raw, closed = exchange(token_post(framing=[b"Transfer-Encoding: chunked"], body=body))
    rs = responses(raw)
    assert [r[0] for r in rs] == [200], [(r[0], r[2][:60]) for r in rs]
    assert json.loads(rs[0][2])["access_token"]
    assert rs[0][1].get("connection", "").lower() == "close" and closed, rs[0][1]
    # and in several chunks
    body = chunked((b"3", BODY[:3]), (b"%x" % (len(BODY) - 3), BODY[3:]))
    rs = responses(exchange(token_post(framing=[b"Transfer-Encoding: chunked"], body=body))[0])
    assert [r[0] for r in rs] == [200], [(r[0], r[2][:60]) for r in rs]
    still_serving()

#!/usr/bin/python3
"""gen_jose_vectors.py - writes tests/unit/jose_vectors.h (JWKs, JWK Sets, JWSs and what a
correct verifier must make of each) and the fuzzers' seed corpora tests/fuzz/corpus/jwk/ and
tests/fuzz/corpus/jws/, with code independent of Warrant's: keys from python3-cryptography,
JWKs and signatures from python3-jwt (PyJWT), RFC 7638 thumbprints from python3-jwcrypto.
The expected verification result of each well-formed JWS is PyJWT's own.

Needs python3-cryptography, python3-jwt and python3-jwcrypto (apt-get install python3-jwcrypto;
the C tests need none of them). Usage: /usr/bin/python3 tests/unit/gen_jose_vectors.py
Keys are fresh on every run: the output changes, the C tests do not need to."""
import base64
import hashlib
import hmac
import json
import os
import sys

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from jwcrypto import jwk as jwcrypto_jwk
from jwt import algorithms

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(TOP, "tests", "unit", "jose_vectors.h")

# RFC 7638 §3.1's example key and its thumbprint
RFC7638_JWK = (
    '{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS'
    "oc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQM"
    "icAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-"
    'G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}'
)
RFC7638_JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def compact(obj):
    return json.dumps(obj, separators=(",", ":"))


def thumbprint(jwk_json):
    """RFC 7638 thumbprint by jwcrypto, cross-checked against a direct reading of §3."""
    key = jwcrypto_jwk.JWK.from_json(jwk_json)
    tp = key.thumbprint()
    d = json.loads(jwk_json)
    req = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[d["kty"]]
    direct = b64u(hashlib.sha256(compact({m: d[m] for m in req}).encode()).digest())
    assert tp == direct, (tp, direct)
    return tp


def pub_jwk(key, **extra):
    """The public JWK of a cryptography key, made by PyJWT."""
    pub = key.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        d = json.loads(algorithms.RSAAlgorithm.to_jwk(pub))
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        d = json.loads(algorithms.ECAlgorithm.to_jwk(pub))
    else:
        d = json.loads(algorithms.OKPAlgorithm.to_jwk(pub))
    d.update(extra)
    return d


def priv_jwk(key, **extra):
    if isinstance(key, rsa.RSAPrivateKey):
        d = json.loads(algorithms.RSAAlgorithm.to_jwk(key))
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        d = json.loads(algorithms.ECAlgorithm.to_jwk(key))
    else:
        d = json.loads(algorithms.OKPAlgorithm.to_jwk(key))
    d.update(extra)
    return d


def raw_okp_jwk(pub_bytes, crv):
    return {"kty": "OKP", "crv": crv, "x": b64u(pub_bytes)}


# Edwards25519 (RFC 8032 §5.1), affine, just enough to find the points of small order
ED_P = 2**255 - 19
ED_D = -121665 * pow(121666, ED_P - 2, ED_P) % ED_P
ED_L = 2**252 + 27742317777372353535851937790883648493


def ed_add(a, b):
    (x1, y1), (x2, y2) = a, b
    t = ED_D * x1 * x2 * y1 * y2 % ED_P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, ED_P - 2, ED_P) % ED_P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, ED_P - 2, ED_P) % ED_P
    return (x3, y3)


def ed_mul(k, pt):
    acc = (0, 1)
    while k:
        if k & 1:
            acc = ed_add(acc, pt)
        pt = ed_add(pt, pt)
        k >>= 1
    return acc


def ed_x(y):
    """An x with (x, y) on the curve, or None."""
    u, v = (y * y - 1) % ED_P, (ED_D * y * y + 1) % ED_P
    x2 = u * pow(v, ED_P - 2, ED_P) % ED_P
    x = pow(x2, (ED_P + 3) // 8, ED_P)
    if (x * x - x2) % ED_P:
        x = x * pow(2, (ED_P - 1) // 4, ED_P) % ED_P
    return x if (x * x - x2) % ED_P == 0 else None


def ed_encode(pt):
    x, y = pt
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def ed_small_order_points():
    """The eight points of order dividing 8: [L]P for random points P until all are seen."""
    found, y = set(), 2
    while len(found) < 8:
        y += 1
        x = ed_x(y)
        if x is not None:
            found.add(ed_mul(ED_L, (x, y)))
    for pt in found:
        assert ed_mul(8, pt) == (0, 1)
    return sorted(found)


def sign_input(header, payload_bytes):
    return (b64u(compact(header).encode()) + "." + b64u(payload_bytes)).encode()


def main():
    ec1 = ec.generate_private_key(ec.SECP256R1())
    ec2 = ec.generate_private_key(ec.SECP256R1())
    rsa2k = rsa.generate_private_key(65537, 2048)
    rsa3k = rsa.generate_private_key(65537, 3072)
    rsa4k = rsa.generate_private_key(65537, 4096)
    ed = ed25519.Ed25519PrivateKey.generate()
    ed2 = ed25519.Ed25519PrivateKey.generate()
    p384 = ec.generate_private_key(ec.SECP384R1())
    k1 = ec.generate_private_key(ec.SECP256K1())
    rsa1k = rsa.generate_private_key(65537, 1024)
    rsa8k = rsa.generate_private_key(65537, 8192)
    rsa_e3 = rsa.generate_private_key(3, 2048)

    jwks = []  # (name, json text, ok, why, jkt, kid)

    def add_jwk(name, text, ok, why="", kid=None):
        jkt = thumbprint(text) if ok else ""
        if ok and kid is None:
            kid = json.loads(text).get("kid", jkt)
        jwks.append((name, text, ok, why, jkt, kid or ""))

    add_jwk("ec_p256", compact(pub_jwk(ec1, kid="ec-1")), True)
    add_jwk("ec_p256_2", compact(pub_jwk(ec2)), True)
    add_jwk("rsa_2048", compact(pub_jwk(rsa2k, use="sig")), True)
    add_jwk("rsa_3072_rs256", compact(pub_jwk(rsa3k, alg="RS256", kid="rsa-3")), True)
    add_jwk("rsa_4096_ps256", compact(pub_jwk(rsa4k, alg="PS256", key_ops=["verify"])), True)
    add_jwk("rsa_e3", compact(pub_jwk(rsa_e3)), True)
    add_jwk("ed25519", compact(pub_jwk(ed, kid="ed")), True)
    add_jwk("ed25519_2", compact(pub_jwk(ed2)), True)
    add_jwk("rfc7638", RFC7638_JWK, True)
    assert jwks[-1][4] == RFC7638_JKT
    # whitespace and member order do not change a thumbprint (RFC 7638 §3.2)
    d = pub_jwk(ec1)
    add_jwk("ec_p256_spaced", json.dumps(dict(reversed(list(d.items()))), indent=2), True)

    # refused
    add_jwk("ec_private", compact(priv_jwk(ec1)), False, "private_key")
    add_jwk("rsa_private", compact(priv_jwk(rsa2k)), False, "private_key")
    add_jwk("okp_private", compact(priv_jwk(ed)), False, "private_key")
    add_jwk("oct", compact({"kty": "oct", "k": b64u(os.urandom(32))}), False, "private_key")
    add_jwk("oct_no_k", compact({"kty": "oct", "alg": "HS256"}), False, "private_key")
    add_jwk("rsa_only_p", compact(dict(pub_jwk(rsa2k), p="AQAB")), False, "private_key")
    add_jwk("ec_p384", compact(pub_jwk(p384)), False, "unsupported_curve")
    add_jwk("ec_secp256k1", compact(dict(pub_jwk(k1), crv="secp256k1")), False, "unsupported_curve")
    add_jwk("rsa_1024", compact(pub_jwk(rsa1k)), False, "key_size")
    add_jwk("rsa_8192", compact(pub_jwk(rsa8k)), False, "key_size")
    x = x25519.X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    add_jwk("okp_x25519", compact(raw_okp_jwk(x, "X25519")), False, "unsupported_curve")
    x = ed448.Ed448PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    add_jwk("okp_ed448", compact(raw_okp_jwk(x, "Ed448")), False, "unsupported_curve")
    for i, pt in enumerate(ed_small_order_points()):
        add_jwk("ed25519_small_order_%d" % i, compact(raw_okp_jwk(ed_encode(pt), "Ed25519")), False, "weak_key")
    add_jwk("ed25519_noncanonical_y", compact(raw_okp_jwk((ED_P + 1).to_bytes(32, "little"), "Ed25519")), False,
            "weak_key")
    add_jwk("ed25519_short", compact(raw_okp_jwk(os.urandom(31), "Ed25519")), False, "bad_key")
    d = pub_jwk(ec1)
    yb = bytearray(base64.urlsafe_b64decode(d["y"] + "=="))
    yb[31] ^= 1
    add_jwk("ec_off_curve", compact(dict(d, y=b64u(bytes(yb)))), False, "bad_key")
    add_jwk("ec_short_x", compact(dict(d, x=b64u(base64.urlsafe_b64decode(d["x"] + "==")[1:]))), False, "bad_key")
    # a point with a small x, spelled with x + p: the same point, not in its canonical form
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    xi = 1
    while pow((xi**3 - 3 * xi + b) % p, (p - 1) // 2, p) != 1:
        xi += 1
    yi = pow((xi**3 - 3 * xi + b) % p, (p + 1) // 4, p)
    ec.EllipticCurvePublicNumbers(xi, yi, ec.SECP256R1()).public_key()  # on the curve, says cryptography
    small = {"kty": "EC", "crv": "P-256", "x": b64u(xi.to_bytes(32, "big")), "y": b64u(yi.to_bytes(32, "big"))}
    add_jwk("ec_small_x", compact(small), True)
    add_jwk("ec_x_plus_p", compact(dict(small, x=b64u((xi + p).to_bytes(32, "big")))), False, "bad_key")
    add_jwk("ec_padded_x", compact(dict(d, x=d["x"] + "=")), False, "bad_key")
    add_jwk("ec_alg_rs256", compact(dict(d, alg="RS256")), False, "alg_mismatch")
    add_jwk("ec_alg_es384", compact(dict(d, alg="ES384")), False, "unsupported_alg")
    add_jwk("ec_alg_hs256", compact(dict(d, alg="HS256")), False, "unsupported_alg")
    add_jwk("ec_alg_none", compact(dict(d, alg="none")), False, "unsupported_alg")
    add_jwk("ec_use_enc", compact(dict(d, use="enc")), False, "not_signature_key")
    add_jwk("ec_ops_sign_only", compact(dict(d, key_ops=["sign"])), False, "not_signature_key")
    add_jwk("ec_kid_number", compact(dict(d, kid=7)), False, "bad_key")
    add_jwk("ec_kid_long", compact(dict(d, kid="k" * 129)), False, "bad_kid")
    add_jwk("ec_kid_empty", compact(dict(d, kid="")), False, "bad_kid")
    add_jwk("ec_kid_ctl", compact(dict(d, kid="a\nb")), False, "bad_kid")
    add_jwk("ec_no_kty", compact({k: v for k, v in d.items() if k != "kty"}), False, "bad_key")
    add_jwk("ec_kty_lower", compact(dict(d, kty="ec")), False, "unsupported_key")
    r = pub_jwk(rsa2k)
    add_jwk("rsa_even_e", compact(dict(r, e=b64u((65536).to_bytes(3, "big")))), False, "bad_key")
    add_jwk("rsa_e1", compact(dict(r, e="AQ")), False, "bad_key")
    add_jwk("rsa_e_huge", compact(dict(r, e=b64u(b"\x01" * 9))), False, "bad_key")
    nb = base64.urlsafe_b64decode(r["n"] + "==")
    # a zero byte before n (RFC 7518 §6.3.1.1 says some libraries add one): accepted, and the
    # thumbprint is the minimal form's (RFC 8555 §8.1: leading zeros stripped), so jwcrypto's of the original JWK
    jwks.append(("rsa_leading_zero", compact(dict(r, n=b64u(b"\0" + nb))), True, "", thumbprint(compact(r)),
                 thumbprint(compact(r))))
    add_jwk("rsa_even_n", compact(dict(r, n=b64u(nb[:-1] + bytes([nb[-1] & 0xFE])))), False, "bad_key")
    ftext = compact(d)
    add_jwk("dup_member", ftext[:-1] + ',"x":' + json.dumps(d["x"]) + "}", False, "malformed")
    add_jwk("deep", ftext[:-1] + ',"z":' + "[" * 40 + "]" * 40 + "}", False, "too_deep")
    add_jwk("huge", ftext[:-1] + ',"z":"' + "a" * 9000 + '"}', False, "too_large")
    add_jwk("not_json", "{kty:EC}", False, "malformed")
    add_jwk("array", "[" + ftext + "]", False, "malformed")
    add_jwk("empty", "", False, "malformed")
    add_jwk("nul_in_string", ftext[:-1] + ',"z":"a\\u0000b"}', False, "malformed")

    # ---- JWK Sets: (name, text, ok, n keys, kids in order)
    sets = []
    good = [json.loads(t) for n, t, ok, *_ in jwks if ok and n in ("ec_p256", "rsa_2048", "ed25519")]
    skipped = [pub_jwk(p384), pub_jwk(rsa1k), pub_jwk(rsa8k), dict(pub_jwk(ec2), use="enc"),
               raw_okp_jwk(os.urandom(32), "X25519"), {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"},
               {"kty": "kem"}, dict(pub_jwk(ec2), alg="ES512")]
    kids = [j.get("kid") or thumbprint(compact(j)) for j in good]
    sets.append(("mixed", compact({"keys": skipped[:3] + good + skipped[3:]}), True, kids))
    sets.append(("only_skipped", compact({"keys": skipped}), True, []))
    sets.append(("empty_keys", '{"keys":[]}', True, []))
    sets.append(("with_private", compact({"keys": good + [priv_jwk(ec2)]}), False, []))
    sets.append(("with_oct", compact({"keys": good + [{"kty": "oct", "k": "AAAA"}]}), False, []))
    sets.append(("bad_point", compact({"keys": good + [json.loads(jwks[[j[0] for j in jwks].index("ec_off_curve")][1])]}),
                 False, []))
    sets.append(("not_array", '{"keys":{}}', False, []))
    sets.append(("no_keys", '{"k":[]}', False, []))
    sets.append(("member_not_object", compact({"keys": good + ["x"]}), False, []))
    sets.append(("too_many", compact({"keys": [pub_jwk(ec1)] * 65}), False, []))
    sets.append(("sixty_four", compact({"keys": [pub_jwk(ec1)] * 64}), True, [thumbprint(compact(pub_jwk(ec1)))] * 64))
    sets.append(("deep", '{"keys":[],"x":' + "[" * 17 + "]" * 17 + "}", False, []))
    sets.append(("dup", '{"keys":[],"keys":[]}', False, []))

    # ---- JWSs: (name, token, parse ok, why, key name, verify)
    jwss = []
    now = 1790000000
    claims = {"iss": "agt_x", "sub": "agt_x", "aud": "https://as.example", "exp": now + 60, "jti": "j1"}
    pems = {
        "ec_p256": ec1, "ec_p256_2": ec2, "rsa_2048": rsa2k, "rsa_3072_rs256": rsa3k, "rsa_4096_ps256": rsa4k,
        "ed25519": ed, "ed25519_2": ed2, "rsa_e3": rsa_e3,
    }
    jwk_text = {n: t for n, t, *_ in jwks}

    def pyjwt_verifies(tok, keyname, alg):
        pub = pems[keyname].public_key()
        try:
            jwt.api_jws.decode_complete(tok, pub, algorithms=[alg])
            return 1
        except jwt.exceptions.PyJWTError:
            return 0

    def add_jws(name, tok, keyname, ok=True, why="", verify=None, alg=None):
        if ok and verify is None:
            hdr = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
            verify = pyjwt_verifies(tok, keyname, alg or hdr["alg"])
        jwss.append((name, tok, ok, why, keyname, verify or 0))

    for keyname, alg in (("ec_p256", "ES256"), ("rsa_2048", "RS256"), ("rsa_2048", "PS256"),
                         ("rsa_3072_rs256", "RS256"), ("rsa_4096_ps256", "PS256"), ("ed25519", "EdDSA"),
                         ("rsa_e3", "RS256")):
        tok = jwt.encode(claims, pems[keyname], algorithm=alg, headers={"kid": "k1", "typ": "JWT"})
        add_jws("%s_%s" % (keyname, alg.lower()), tok, keyname)
        assert jwss[-1][5] == 1
    good_es = jwt.encode(claims, ec1, algorithm="ES256", headers={"kid": "ec-1"})
    good_rs = jwt.encode(claims, rsa2k, algorithm="RS256")
    good_ed = jwt.encode(claims, ed, algorithm="EdDSA")
    add_jws("es256_other_key", good_es, "ec_p256_2")
    add_jws("eddsa_other_key", good_ed, "ed25519_2")
    add_jws("rs256_on_3072", good_rs, "rsa_3072_rs256")  # wrong key, wrong length
    add_jws("rs256_on_ps256_key", jwt.encode(claims, rsa4k, algorithm="RS256"), "rsa_4096_ps256", verify=0)
    add_jws("ps256_on_rs256_key", jwt.encode(claims, rsa3k, algorithm="PS256"), "rsa_3072_rs256", verify=0)
    add_jws("es256_on_ed25519", good_es, "ed25519", verify=0)
    add_jws("eddsa_on_ec", good_ed, "ec_p256", verify=0)
    h, p, s = good_es.split(".")
    sig = bytearray(base64.urlsafe_b64decode(s + "=="))
    sig[10] ^= 0x40
    add_jws("es256_flipped", ".".join((h, p, b64u(bytes(sig)))), "ec_p256")
    add_jws("es256_sig_short", ".".join((h, p, b64u(bytes(sig[:63])))), "ec_p256")
    add_jws("es256_sig_long", ".".join((h, p, b64u(bytes(sig) + b"\0"))), "ec_p256")
    # the same signature as DER, as OpenSSL makes it: RFC 7518 §3.4 wants R||S
    inp = (h + "." + p).encode()
    r_, s_ = decode_dss_signature(ec1.sign(inp, ec.ECDSA(hashes.SHA256())))
    der = ec1.sign(inp, ec.ECDSA(hashes.SHA256()))
    add_jws("es256_der_sig", ".".join((h, p, b64u(der))), "ec_p256")
    add_jws("es256_raw_ok", ".".join((h, p, b64u(r_.to_bytes(32, "big") + s_.to_bytes(32, "big")))), "ec_p256")
    assert jwss[-1][5] == 1
    # (r, n - s): as valid as (r, s); RFC 7515 does not refuse it and neither does this module
    n_p256 = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    add_jws("es256_high_s", ".".join((h, p, b64u(r_.to_bytes(32, "big") + (n_p256 - s_).to_bytes(32, "big")))),
            "ec_p256", verify=1)
    h2, p2, s2 = good_rs.split(".")
    other_p = b64u(compact(dict(claims, sub="agt_y")).encode())
    add_jws("rs256_swapped_payload", ".".join((h2, other_p, s2)), "rsa_2048")
    add_jws("rs256_sig_truncated", h2 + "." + p2 + "." + b64u(base64.urlsafe_b64decode(s2 + "==")[:-3]), "rsa_2048")
    add_jws("rs256_sig_cut", good_rs[:-5], "rsa_2048", False, "malformed")  # 4n+1 characters: not base64url
    # PSS with the longest salt rather than the 32 bytes RFC 7518 §3.5 says
    hdr = {"alg": "PS256", "typ": "JWT"}
    si = sign_input(hdr, compact(claims).encode())
    sig = rsa2k.sign(si, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
                     hashes.SHA256())
    add_jws("ps256_max_salt", si.decode() + "." + b64u(sig), "rsa_2048")
    assert jwss[-1][5] == 0
    sig = rsa2k.sign(si, padding.PSS(mgf=padding.MGF1(hashes.SHA1()), salt_length=32), hashes.SHA256())
    add_jws("ps256_mgf1_sha1", si.decode() + "." + b64u(sig), "rsa_2048")
    # an RSA signature under an ES256 header: the algorithm does not fit the key
    hdr = {"alg": "ES256"}
    si = sign_input(hdr, compact(claims).encode())
    sig = rsa2k.sign(si, padding.PKCS1v15(), hashes.SHA256())
    add_jws("es256_header_rsa_key", si.decode() + "." + b64u(sig), "rsa_2048", verify=0)

    # refused at parsing
    def forged(hdr, payload=None, sig=b"\x01" * 64, raw_header=None):
        pb = payload if payload is not None else compact(claims).encode()
        hb = raw_header if raw_header is not None else compact(hdr).encode()
        return b64u(hb) + "." + b64u(pb) + "." + b64u(sig)

    add_jws("alg_none", forged({"alg": "none"})[:-len(b64u(b"\x01" * 64))], "ec_p256", False, "bad_alg")
    add_jws("alg_none_sig", forged({"alg": "none"}), "ec_p256", False, "bad_alg")
    add_jws("alg_None", forged({"alg": "None"}), "ec_p256", False, "bad_alg")
    pem = rsa2k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for label, secret in (("pem", pem), ("jwk", jwk_text["rsa_2048"].encode())):
        si = sign_input({"alg": "HS256", "typ": "JWT"}, compact(claims).encode())
        mac = hmac.new(secret, si, hashlib.sha256).digest()
        add_jws("hs256_public_%s" % label, si.decode() + "." + b64u(mac), "rsa_2048", False, "bad_alg")
    add_jws("es384", jwt.encode(claims, p384, algorithm="ES384"), "ec_p256", False, "bad_alg")
    add_jws("alg_missing", forged({"typ": "JWT"}), "ec_p256", False, "bad_alg")
    add_jws("alg_number", forged({"alg": 256}), "ec_p256", False, "bad_alg")
    add_jws("crit", jwt.encode(claims, ec1, algorithm="ES256", headers={"crit": ["exp"], "exp": 1}), "ec_p256",
            False, "crit")
    add_jws("b64_false", jwt.encode(claims, ec1, algorithm="ES256", headers={"b64": False, "crit": ["b64"]}),
            "ec_p256", False, "crit")
    add_jws("kid_number", forged({"alg": "ES256", "kid": 1}), "ec_p256", False, "bad_header")
    add_jws("kid_long", forged({"alg": "ES256", "kid": "k" * 129}), "ec_p256", False, "bad_header")
    add_jws("typ_object", forged({"alg": "ES256", "typ": {}}), "ec_p256", False, "bad_header")
    add_jws("extra_part", good_es + ".AAAA", "ec_p256", False, "malformed")
    add_jws("extra_dot", good_es + ".", "ec_p256", False, "malformed")
    add_jws("two_parts", h + "." + p, "ec_p256", False, "malformed")
    add_jws("empty_sig", h + "." + p + ".", "ec_p256", False, "malformed")
    add_jws("empty_payload", h + ".." + s, "ec_p256", False, "malformed")
    add_jws("padded_header", h + "=." + p + "." + s, "ec_p256", False, "malformed")
    add_jws("padded_sig", good_es + "==", "ec_p256", False, "malformed")
    add_jws("std_b64_sig", h + "." + p + "." + s.replace("-", "+").replace("_", "/") + ("+" if "-" not in s and "_" not in s else ""),
            "ec_p256", False, "malformed")
    add_jws("whitespace", h + "." + p + " ." + s, "ec_p256", False, "malformed")
    add_jws("dup_header", forged(None, raw_header=b'{"alg":"ES256","alg":"none"}'), "ec_p256", False, "malformed")
    add_jws("dup_claims", forged({"alg": "ES256"}, payload=b'{"sub":"a","sub":"b"}'), "ec_p256", False, "malformed")
    add_jws("header_array", forged(None, raw_header=b'["ES256"]'), "ec_p256", False, "malformed")
    add_jws("claims_array", forged({"alg": "ES256"}, payload=b"[1]"), "ec_p256", False, "malformed")
    add_jws("claims_not_json", forged({"alg": "ES256"}, payload=b"hello"), "ec_p256", False, "malformed")
    deep = b'{"a":' + b"[" * 20 + b"]" * 20 + b"}"
    add_jws("deep_claims", forged({"alg": "ES256"}, payload=deep), "ec_p256", False, "too_deep")
    ok_deep = {"a": [[[[[[[[[[[[[[1]]]]]]]]]]]]]]}  # 15 levels: within the limit of 16
    add_jws("nested_15", jwt.encode(ok_deep, ec1, algorithm="ES256"), "ec_p256")
    assert jwss[-1][5] == 1
    big = dict(claims, pad="x" * 12500)
    add_jws("huge", jwt.encode(big, ec1, algorithm="ES256"), "ec_p256", False, "too_large")
    add_jws("large_ok", jwt.encode(dict(claims, pad="x" * 11000), ec1, algorithm="ES256"), "ec_p256")
    assert len(jwss[-1][1]) < 16384 and jwss[-1][5] == 1
    # a DPoP-shaped proof: the key in its own header (RFC 9449 §4.2)
    dpop = jwt.encode({"htm": "POST", "htu": "https://as.example/token", "iat": now, "jti": "p1"}, ec1,
                      algorithm="ES256", headers={"typ": "dpop+jwt", "jwk": pub_jwk(ec1)})
    add_jws("dpop_proof", dpop, "ec_p256")

    write_header(jwks, sets, jwss)
    write_corpus(jwks, sets, jwss)


def c_str(s):
    out = []
    for ch in s.encode():
        if ch in (0x22, 0x5C):
            out.append("\\" + chr(ch))
        elif 0x20 <= ch < 0x7F:
            out.append(chr(ch))
        else:
            out.append("\\%03o" % ch)
    return "\n\t\t".join('"%s"' % p for p in safe_split("".join(out)))


def safe_split(text, width=100):
    pieces, cur, i = [], "", 0
    while i < len(text):
        tok = text[i:i + 4] if text[i] == "\\" and text[i + 1:i + 2].isdigit() else text[i:i + 2] if text[i] == "\\" else text[i]
        if len(cur) + len(tok) > width:
            pieces.append(cur)
            cur = ""
        cur += tok
        i += len(tok)
    pieces.append(cur)
    return pieces


def write_header(jwks, sets, jwss):
    L = ["/* jose_vectors.h - JOSE test vectors for tests/unit/test_jose.c, made by code independent of",
         " * Warrant: tests/unit/gen_jose_vectors.py (python3-cryptography keys, python3-jwt JWKs and",
         " * signatures and its verification results, python3-jwcrypto RFC 7638 thumbprints, RFC 7638",
         " * §3.1's example). Generated: do not edit; run /usr/bin/python3 tests/unit/gen_jose_vectors.py. */",
         "/* clang-format off */",
         "#ifndef WARRANT_JOSE_VECTORS_H", "#define WARRANT_JOSE_VECTORS_H", "",
         "struct jwk_vector {", "\tconst char *name, *json;",
         "\tint ok;            /* a correct parser accepts it */",
         "\tconst char *why;   /* the reason when refused */",
         "\tconst char *jkt, *kid;", "};", "",
         "struct jwks_vector {", "\tconst char *name, *json;", "\tint ok, n;", "\tconst char *kids[64];", "};", "",
         "struct jws_vector {", "\tconst char *name, *jws;", "\tint ok;            /* parses */",
         "\tconst char *why;", "\tconst char *key;   /* name of the jwk_vector to verify with */",
         "\tint verify;        /* what python3-jwt says of the signature with that key */", "};", "",
         "static const struct jwk_vector jwk_vectors[] = {"]
    for name, text, ok, why, jkt, kid in jwks:
        L.append('\t{"%s",\n\t\t%s,\n\t\t%d, "%s", "%s", %s},' % (name, c_str(text), ok, why, jkt, c_str(kid)))
    L += ["};", "", "static const struct jwks_vector jwks_vectors[] = {"]
    for name, text, ok, kids in sets:
        ks = ", ".join(c_str(k) for k in kids)
        L.append('\t{"%s",\n\t\t%s,\n\t\t%d, %d, {%s}},' % (name, c_str(text), ok, len(kids), ks or "0"))
    L += ["};", "", "static const struct jws_vector jws_vectors[] = {"]
    for name, tok, ok, why, key, verify in jwss:
        L.append('\t{"%s",\n\t\t%s,\n\t\t%d, "%s", "%s", %d},' % (name, c_str(tok), ok, why, key, verify))
    L += ["};", "", "#endif", ""]
    with open(OUT, "w") as f:
        f.write("\n".join(L))
    print("wrote %s: %d JWKs, %d JWK Sets, %d JWSs" % (OUT, len(jwks), len(sets), len(jwss)))


def write_corpus(jwks, sets, jwss):
    for sub, items in (("jwk", [(n, t) for n, t, *_ in jwks] + [("set_" + n, t) for n, t, *_ in sets]),
                       ("jws", [(n, t) for n, t, *_ in jwss])):
        d = os.path.join(TOP, "tests", "fuzz", "corpus", sub)
        os.makedirs(d, exist_ok=True)
        for name, text in items:
            if len(text) > 8192:  # scripts/fuzz.sh runs with -max_len=8192
                continue
            with open(os.path.join(d, name), "w") as f:
                f.write(text)


if __name__ == "__main__":
    sys.exit(main())

"""test_smoke.py - the README's path: init, one agent, a token verified independently."""
import jwt

from harness import Env, jwt_parts


def test_token_verifies_against_jwks_with_pyjwt():
    env = Env()
    try:
        sc = env.scenario()
        srv = env.serve()
        st, h, body = srv.token(sc["id"], sc["secret"])
        assert st == 200, body
        tok = body["access_token"]
        hdr, _ = jwt_parts(tok)
        assert hdr["typ"] == "at+jwt" and hdr["alg"] == "ES256"
        key = jwt.PyJWKClient(srv.base + "/jwks").get_signing_key_from_jwt(tok)
        claims = jwt.decode(tok, key.key, algorithms=["ES256"], audience=srv.base, issuer=srv.base)
        assert claims["sub"] == sc["id"] and claims["client_id"] == sc["id"]
        assert claims["owner_id"] == sc["owner"]["id"]
        assert claims["ws"] == sc["ws"]["id"]
        assert claims["scope"] == "tickets:read"
        assert claims["run_id"] == body["run_id"]
    finally:
        env.close()

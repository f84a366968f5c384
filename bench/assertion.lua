-- client_credentials issuance with private_key_jwt: each thread posts the form bodies of
-- $BENCH_ASSERTIONS-<thread>.txt (pre-signed by bench/assertions.py, one assertion a line,
-- each jti once) in order. A body used up twice would be a replay and count as wrong:
-- the file must hold more lines than the point sends.
--
-- Where the time goes (perf with DWARF call graphs, c16, 2 cores shared with wrk; shares of
-- the server's CPU): client authentication 41%, of which the ES256 verification 36%
-- (EC_POINT_mul in EVP_DigestVerifyFinal, ~75 us, as `openssl speed ecdsap256` says), the
-- JWS's parsing 3%, key and agent caches under 1%; minting (an ES256 signature) 12%; the
-- writer 18%, of which the jti's claim 2%; HTTP, decisions and audit the rest. Server CPU a
-- request: ~195 us against ~80 us for a secret. Parsing the key would cost ~170 us more a
-- request: keys are parsed once per process (clients/assertion.c). The jti's single use
-- costs no commit of its own: it is claimed in the transaction that records the token.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local bodies, i

function init(args)
	bodies = lines(os.getenv("BENCH_ASSERTIONS") .. "-" .. tid .. ".txt")
	i = 0
end

function request()
	i = i + 1
	return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded"},
			  bodies[((i - 1) % #bodies) + 1])
end

function response(status, hdrs, body)
	check(status == 200 and body:find('"token_type":"Bearer"', 1, true) ~= nil)
end

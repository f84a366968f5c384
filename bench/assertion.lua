-- client_credentials issuance with private_key_jwt: each thread posts the form bodies of
-- $BENCH_ASSERTIONS-<thread>.txt (pre-signed by bench/assertions.py, one assertion a line,
-- each jti once) in order. A body used up twice would be a replay and count as wrong:
-- the file must hold more lines than the point sends.
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

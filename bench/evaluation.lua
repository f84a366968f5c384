-- OpenID AuthZEN evaluations (POST /access/v1/evaluation) of valid tokens by the resource
-- server whose Basic header is $BENCH_RS; $BENCH_BODIES holds one request body a line
-- (subject the token's sub, action tickets:read). Every answer must be {"decision":true}.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local bodies, i, auth

function init(args)
	bodies = lines(os.getenv("BENCH_BODIES"))
	auth = os.getenv("BENCH_RS")
	i = tid * 7919
end

function request()
	i = i + 1
	return wrk.format("POST", "/access/v1/evaluation", {["Content-Type"] = "application/json",
		["Authorization"] = auth}, bodies[(i % #bodies) + 1])
end

function response(status, hdrs, body)
	check(status == 200 and body == '{"decision":true}')
end

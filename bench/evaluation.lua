-- OpenID AuthZEN evaluations (POST /access/v1/evaluation) of valid tokens by the resource
-- server whose Basic header is $BENCH_RS; $BENCH_BODIES holds one request body a line
-- (subject the token's sub, action tickets:read). Every answer must be {"decision":true}.
-- SPEC: an evaluation costs no more than an introspection of the same token. Server CPU per
-- request (utime+stime of the process over the run / requests, medians of three 5 s runs,
-- docs/performance.md): c16 59.7 us against 54.8 us for introspection, c64 54.8 against
-- 51.9 (75.0 and 76.0 us when the body was parsed into a jansson tree); the handlers now
-- cost the same, the rest is the larger body received and the larger audit row written.
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

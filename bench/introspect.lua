-- RFC 7662 introspection of valid tokens ($BENCH_TOKENS) by a resource server whose
-- Basic header is $BENCH_RS. Every answer must be "active":true.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local bodies, i, auth

function init(args)
	bodies = {}
	for _, t in ipairs(lines(os.getenv("BENCH_TOKENS"))) do
		bodies[#bodies + 1] = "token=" .. t
	end
	auth = os.getenv("BENCH_RS")
	i = tid * 7919
end

function request()
	i = i + 1
	return wrk.format("POST", "/introspect", {["Content-Type"] = "application/x-www-form-urlencoded",
		["Authorization"] = auth}, bodies[(i % #bodies) + 1])
end

function response(status, hdrs, body)
	check(status == 200 and body:find('"active":true', 1, true) ~= nil)
end

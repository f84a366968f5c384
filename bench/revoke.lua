-- RFC 7009 revocation of distinct live tokens: thread k of n takes every n-th token of
-- $BENCH_TOKENS, so no token is revoked twice; $BENCH_AGENT_AUTH owns them all.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local bodies, i, auth

function init(args)
	local n = tonumber(os.getenv("BENCH_THREADS"))
	bodies = {}
	for k, t in ipairs(lines(os.getenv("BENCH_TOKENS"))) do
		if k % n == tid - 1 then
			bodies[#bodies + 1] = "token=" .. t
		end
	end
	auth = os.getenv("BENCH_AGENT_AUTH")
	i = 0
end

function request()
	i = i + 1
	-- past the pool's end the same token is sent again: counted as wrong below
	return wrk.format("POST", "/revoke", {["Content-Type"] = "application/x-www-form-urlencoded",
		["Authorization"] = auth}, bodies[math.min(i, #bodies)])
end

function response(status, hdrs, body)
	check(status == 200 and i <= #bodies)
end

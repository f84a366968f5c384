-- client_credentials issuance with client_secret_basic, round-robin over the agents in
-- $BENCH_AGENTS ("Basic ..." header values, one a line). With BENCH_KEEP_TOKENS=1 each
-- thread writes the tokens it got to $BENCH_OUT/tokens-N.txt (pools for later points).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local headers, i, out
local close = os.getenv("BENCH_CLOSE") == "1"

function init(args)
	headers = lines(os.getenv("BENCH_AGENTS"))
	if os.getenv("BENCH_KEEP_TOKENS") == "1" then
		out = io.open(os.getenv("BENCH_OUT") .. "/tokens-" .. tid .. ".txt", "w")
	end
	i = tid
end

function request()
	i = i + 1
	local h = {["Content-Type"] = "application/x-www-form-urlencoded",
		   ["Authorization"] = headers[(i % #headers) + 1]}
	if close then
		h["Connection"] = "close"
	end
	return wrk.format("POST", "/token", h, "grant_type=client_credentials")
end

function response(status, hdrs, body)
	local ok = status == 200 and body:find('"token_type":"Bearer"', 1, true) ~= nil
	check(ok)
	if ok and out then
		out:write(body:match('"access_token":"([^"]+)"'), "\n")
	end
end

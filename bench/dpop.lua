-- DPoP-bound issuance (RFC 9449): client_credentials with client_secret_basic, round-robin
-- over the agents in $BENCH_AGENTS, each request with a DPoP proof of $BENCH_PROOFS (made by
-- bench/dpop_proofs.py just before the point), every proof used once: thread t of
-- $BENCH_THREADS takes lines t, t + threads, ... Every answer must be a DPoP token; when the
-- proofs run out the next answers are counted wrong (make more with BENCH_DPOP_PROOFS).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local headers, proofs, i, n

function init(args)
	headers = lines(os.getenv("BENCH_AGENTS"))
	local all, nthreads = lines(os.getenv("BENCH_PROOFS")), tonumber(os.getenv("BENCH_THREADS") or "1")
	proofs = {}
	for k = tid, #all, nthreads do
		proofs[#proofs + 1] = all[k]
	end
	i, n = 0, 0
end

function request()
	i = i + 1
	n = n + 1
	return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded",
		["Authorization"] = headers[(i % #headers) + 1], ["DPoP"] = proofs[n] or "exhausted"},
		"grant_type=client_credentials")
end

function response(status, hdrs, body)
	check(status == 200 and body:find('"token_type":"DPoP"', 1, true) ~= nil)
end

-- The HTTP ceiling of the same server: GET /healthz.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
function response(status, hdrs, body)
	check(status == 200)
end

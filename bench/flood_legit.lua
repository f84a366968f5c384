-- flood_legit.lua - wrk script for bench/flood.sh: a legitimate agent asking for tokens
-- (client_credentials, client_secret_basic) on keep-alive connections. FLOOD_AGENT_AUTH
-- holds the whole Authorization header value. Every answer is checked: anything but a 200
-- carrying an access token counts as wrong, so a fast refusal cannot pass for throughput.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("FLOOD_AGENT_AUTH")

function response(status, headers, body)
  check(status == 200 and body:find('"access_token":"ey', 1, true) ~= nil)
end

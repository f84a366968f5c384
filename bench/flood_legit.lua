-- flood_legit.lua - wrk script for bench/flood.sh: a legitimate agent asking for tokens
-- (client_credentials, client_secret_basic) on keep-alive connections. FLOOD_AGENT_AUTH
-- holds the whole Authorization header value. Every answer is checked: anything but a 200
-- carrying an access token counts as wrong, so a fast refusal cannot pass for throughput.
wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("FLOOD_AGENT_AUTH")

local threads = {}
function setup(thread) threads[#threads + 1] = thread end

answers, wrong = 0, 0
function response(status, headers, body)
  answers = answers + 1
  if status ~= 200 or not body:find('"access_token":"ey', 1, true) then wrong = wrong + 1 end
end

function done(summary, latency, requests)
  local a, w = 0, 0
  for _, t in ipairs(threads) do a, w = a + t:get("answers"), w + t:get("wrong") end
  io.write(string.format("checked answers: %d, wrong: %d\n", a, w))
end

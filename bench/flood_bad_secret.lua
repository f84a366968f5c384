-- flood_bad_secret.lua - wrk script for bench/flood.sh: /token requests with wrong secrets,
-- half of them for the real agent id (FLOOD_AGENT_ID), half for unknown ids, through Basic
-- and through the body. Every one must be refused with 401 invalid_client (each refusal
-- is audited); anything else counts as wrong.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local id = os.getenv("FLOOD_AGENT_ID")
local reqs, n = {}, 0
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    for k = 3, 0, -1 do
      local idx = math.floor(v / 64 ^ k) % 64
      out[#out + 1] = B64:sub(idx + 1, idx + 1)
    end
    if not b then out[#out] = "="; out[#out - 1] = "=" elseif not c then out[#out] = "=" end
  end
  return table.concat(out)
end

function init(args)
  math.randomseed(os.time() * 100 + tid)
  for i = 1, 256 do
    local cid = (i % 2 == 0) and id or ("agt_" .. rand_string(26):lower())
    local secret = "wsk_" .. rand_string(43)
    if i % 4 < 2 then
      reqs[i] = wrk.format("POST", "/token", {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Authorization"] = "Basic " .. b64(cid .. ":" .. secret),
      }, "grant_type=client_credentials")
    else
      reqs[i] = wrk.format("POST", "/token", {
        ["Content-Type"] = "application/x-www-form-urlencoded",
      }, "grant_type=client_credentials&client_id=" .. cid .. "&client_secret=" .. secret)
    end
  end
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end

function response(status, headers, body)
  check(status == 401 and body:find('"invalid_client"', 1, true) ~= nil)
end

-- flood_garbage_introspect.lua - wrk script for bench/flood.sh: /introspect requests with
-- garbage: JWT-shaped tokens with bad signatures and random base64url under valid
-- resource-server credentials (FLOOD_RS_AUTH), malformed percent-encoding, and requests
-- with no or broken credentials. Expected answers: {"active":false}, 400 or 401; a 200
-- saying active, or any 5xx, counts as wrong.
local rs = os.getenv("FLOOD_RS_AUTH")
local reqs, n = {}, 0

local function rand(len, cs)
  cs = cs or "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local out = {}
  for i = 1, len do
    local k = math.random(#cs)
    out[i] = cs:sub(k, k)
  end
  return table.concat(out)
end

local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() * 100 + (seed or 0))
  local form = "application/x-www-form-urlencoded"
  for i = 1, 256 do
    local kind = i % 5
    local headers = { ["Content-Type"] = form, ["Authorization"] = rs }
    local body
    if kind == 0 then      -- our header shape ({"alg":"ES256","typ":"at+jwt","kid":...), junk after
      body = "token=eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6I" .. rand(20) .. "." .. rand(300) .. "." .. rand(86)
    elseif kind == 1 then  -- random base64url in three parts
      body = "token=" .. rand(40) .. "." .. rand(200 + math.random(400)) .. "." .. rand(86)
    elseif kind == 2 then  -- percent-encoded noise, much of it malformed
      body = "token=" .. rand(100, "%0123456789ABCDEFGZ&=+") .. "&token_type_hint=access_token"
    elseif kind == 3 then  -- no credentials
      headers["Authorization"] = nil
      body = "token=" .. rand(120)
    else                   -- broken Basic
      headers["Authorization"] = "Basic " .. rand(60, "ABCDEFGHIJKLMNOPQRSTUVWXYZ!*")
      body = "token=" .. rand(120)
    end
    reqs[i] = wrk.format("POST", "/introspect", headers, body)
  end
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end

answers, wrong = 0, 0
function response(status, headers, body)
  answers = answers + 1
  local ok = (status == 200 and body == '{"active":false}') or status == 400 or status == 401
  if not ok then wrong = wrong + 1 end
end

function done(summary, latency, requests)
  local a, w = 0, 0
  for _, t in ipairs(threads) do a, w = a + t:get("answers"), w + t:get("wrong") end
  io.write(string.format("checked answers: %d, wrong: %d\n", a, w))
end

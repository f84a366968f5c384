-- flood_garbage_introspect.lua - wrk script for bench/flood.sh: /introspect requests with
-- garbage: JWT-shaped tokens with bad signatures and random base64url under valid
-- resource-server credentials (FLOOD_RS_AUTH), malformed percent-encoding, and requests
-- with no or broken credentials. Expected answers: {"active":false}, 400 or 401; a 200
-- saying active, or any 5xx, counts as wrong.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local rs = os.getenv("FLOOD_RS_AUTH")
local reqs, n = {}, 0
local rand = rand_string

function init(args)
  math.randomseed(os.time() * 100 + tid)
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

function response(status, headers, body)
  check((status == 200 and body == '{"active":false}') or status == 400 or status == 401)
end

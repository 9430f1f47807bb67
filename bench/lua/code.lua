-- Token endpoint, authorization_code grant with PKCE (scenario "code" of make bench). Each request
-- redeems one code of the pool in BENCH_SEEDS ("code verifier" per line, minted out of band for
-- this run), so none is sent twice; the codes left unused are written back.
-- Environment: BENCH_SEEDS, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET (client_secret_post when set),
-- BENCH_REDIRECT_URI, BENCH_RESOURCE (RFC 8707, optional), BENCH_THREADS (wrk -t).
dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

local seeds_file = os.getenv("BENCH_SEEDS")
local client_id = os.getenv("BENCH_CLIENT_ID") or ""
local secret = os.getenv("BENCH_CLIENT_SECRET") or ""
local redirect_uri = os.getenv("BENCH_REDIRECT_URI") or ""
local resource = os.getenv("BENCH_RESOURCE") or ""

pool = {}
starved = 0
local verify_peek = false

function init(args)
   pool = load_pool(seeds_file, tonumber(os.getenv("BENCH_THREADS") or "1"), tid)
   verify_peek = (tid == 0)  -- wrk's check request must not use a code
end

function request()
   local pair
   if verify_peek then
      verify_peek = false
      pair = pool[1]
   else
      pair = table.remove(pool)
   end
   if pair == nil then
      starved = starved + 1
      pair = "pool-exhausted none"
   end
   local code, verifier = string.match(pair, "^(%S+)%s+(%S+)$")
   local b = "grant_type=authorization_code&code=" .. urlencode(code) .. "&code_verifier=" .. urlencode(verifier)
      .. "&client_id=" .. urlencode(client_id) .. "&redirect_uri=" .. urlencode(redirect_uri)
   if secret ~= "" then b = b .. "&client_secret=" .. urlencode(secret) end
   if resource ~= "" then b = b .. "&resource=" .. urlencode(resource) end
   return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, b)
end

check = function(status, headers, body)
   return status == 200 and string.find(body, '"access_token"', 1, true) ~= nil
end

function bench_extra(threads)
   return pool_report(threads, seeds_file)
end

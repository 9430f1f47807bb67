-- Token endpoint, refresh_token grant with rotation (scenario "refresh" of make bench). Each response's new
-- refresh token goes back into a FIFO pool, so every token is used once.
-- Needs at least (connections + 1) seed tokens in BENCH_SEEDS (one per line);
-- the pool left at the end is written back to that file, less the tokens
-- that were in flight when wrk stopped.
-- Environment: BENCH_SEEDS, BENCH_CLIENT_ID, BENCH_CLIENT_SECRET (sent as
-- client_secret_post when set), BENCH_RESOURCE (RFC 8707, optional),
-- BENCH_THREADS (wrk -t).
dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

local seeds_file = os.getenv("BENCH_SEEDS")
local client_id = os.getenv("BENCH_CLIENT_ID") or ""
local secret = os.getenv("BENCH_CLIENT_SECRET") or ""
local resource = os.getenv("BENCH_RESOURCE") or ""

pool = {}
starved = 0
local last = nil
local verify_peek = false

function init(args)
   pool = load_pool(seeds_file, tonumber(os.getenv("BENCH_THREADS") or "1"), tid)
   -- wrk calls request() once on thread 0 to check the request before any
   -- connection opens; that call must not consume a token.
   verify_peek = (tid == 0)
end

function request()
   local tok
   if verify_peek then
      verify_peek = false
      tok = pool[1]
   else
      tok = table.remove(pool, 1)
   end
   if tok == nil then
      starved = starved + 1
      tok = last or "pool-exhausted"
   end
   last = tok
   local b = "grant_type=refresh_token&refresh_token=" .. urlencode(tok) .. "&client_id=" .. urlencode(client_id)
   if secret ~= "" then b = b .. "&client_secret=" .. urlencode(secret) end
   if resource ~= "" then b = b .. "&resource=" .. urlencode(resource) end
   return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"}, b)
end

check = function(status, headers, body)
   local rt = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
   if rt ~= nil then table.insert(pool, rt) end
   return status == 200 and string.find(body, '"access_token"', 1, true) ~= nil
end

function bench_extra(threads)
   return pool_report(threads, seeds_file)
end

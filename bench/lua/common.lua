-- Shared by the bench scenarios (wrk 4.x). Counts status codes per thread,
-- runs the scenario's optional body/header check, and prints one line:
--   RESULT <scenario> <req_per_s> <p50_ms> <p99_ms> <OK|FAIL>(<status>=<n>,...)
-- Environment: BENCH_NAME, BENCH_EXPECT (the status expected of every response, or a comma list).

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

codes = {}   -- per thread: status -> count
bad = 0      -- per thread: responses that failed the scenario's check
check = nil  -- scenario hook: function(status, headers, body) -> boolean

function response(status, headers, body)
   codes[status] = (codes[status] or 0) + 1
   if check ~= nil and not check(status, headers, body) then
      bad = bad + 1
   end
end

function header_value(headers, name)
   for k, v in pairs(headers) do
      if string.lower(k) == name then return v end
   end
   return nil
end

function done(summary, latency, requests)
   local total, nbad, n = {}, 0, 0
   for _, t in ipairs(threads) do
      for k, v in pairs(t:get("codes") or {}) do
         total[k] = (total[k] or 0) + v
         n = n + v
      end
      nbad = nbad + (t:get("bad") or 0)
   end
   local keys = {}
   for k in pairs(total) do table.insert(keys, k) end
   table.sort(keys)
   local parts = {}
   for _, k in ipairs(keys) do table.insert(parts, k .. "=" .. total[k]) end
   local e = summary.errors
   local sockerr = e.connect + e.read + e.write + e.timeout
   if nbad > 0 then table.insert(parts, "badbody=" .. nbad) end
   if sockerr > 0 then
      table.insert(parts, string.format("sockerr=%d/%d/%d/%d", e.connect, e.read, e.write, e.timeout))
   end
   if bench_extra ~= nil then
      local x = bench_extra(threads)
      if x ~= nil and x ~= "" then table.insert(parts, x) end
   end
   -- BENCH_EXPECT: one status, or several separated by commas (the mixed traffic of the soak)
   local expected = 0
   for code in string.gmatch(os.getenv("BENCH_EXPECT") or "200", "%d+") do
      expected = expected + (total[tonumber(code)] or 0)
   end
   local ok = n > 0 and expected == n and nbad == 0 and sockerr == 0
   local secs = summary.duration / 1e6
   io.write(string.format("RESULT %s %.1f %.3f %.3f %s(%s)\n",
      os.getenv("BENCH_NAME") or "scenario",
      summary.requests / secs,
      latency:percentile(50) / 1000.0,
      latency:percentile(99) / 1000.0,
      ok and "OK" or "FAIL",
      table.concat(parts, ",")))
end

-- Shared by the scenarios that send forms with a pool of one-use values (refresh.lua, code.lua,
-- mixed.lua).
function urlencode(s)
   return (string.gsub(s, "[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

-- The lines of `path` this thread takes (every nthreads-th, from its own offset).
function load_pool(path, nthreads, tid)
   local taken, i = {}, 0
   for line in io.lines(path) do
      if line ~= "" then
         if i % nthreads == tid then table.insert(taken, line) end
         i = i + 1
      end
   end
   return taken
end

-- Every thread's pool written back to `path` (for the next run); how many values were left.
function save_pools(threads, path)
   local left = {}
   for _, t in ipairs(threads) do
      for _, value in ipairs(t:get("pool") or {}) do table.insert(left, value) end
   end
   if path ~= nil then
      local f = io.open(path, "w")
      for _, value in ipairs(left) do f:write(value, "\n") end
      f:close()
   end
   return #left
end

-- bench_extra of a pool scenario: the pool written back, and how many requests found it empty.
function pool_report(threads, path)
   local st = 0
   for _, t in ipairs(threads) do st = st + (t:get("starved") or 0) end
   local s = "pool_left=" .. save_pools(threads, path)
   if st > 0 then s = s .. ",starved=" .. st end
   return s
end

-- Mixed traffic for the memory phase of make bench (the soak): the discovery documents, the 401,
-- tools/list and tools/call in both protocol revisions, and the rotating refresh grant, in turn.
-- Environment: BENCH_TOKEN, BENCH_MCP_PATH, BENCH_PRM_PATH, BENCH_ASM_PATH, BENCH_TOKEN_PATH,
-- BENCH_TOOL, BENCH_SEEDS (refresh tokens), BENCH_CLIENT_ID, BENCH_RESOURCE.
dofile((os.getenv("BENCH_LUA_DIR") or ".") .. "/common.lua")

local token = os.getenv("BENCH_TOKEN") or ""
local mcp = os.getenv("BENCH_MCP_PATH") or "/mcp"
local prm = os.getenv("BENCH_PRM_PATH") or "/.well-known/oauth-protected-resource/mcp"
local asm = os.getenv("BENCH_ASM_PATH") or "/.well-known/oauth-authorization-server"
local token_path = os.getenv("BENCH_TOKEN_PATH") or "/token"
local tool = os.getenv("BENCH_TOOL") or "whoami"
local seeds_file = os.getenv("BENCH_SEEDS")
local client_id = os.getenv("BENCH_CLIENT_ID") or ""
local resource = os.getenv("BENCH_RESOURCE") or ""

pool = {}
local turn = 0
local next_id = 0

function init(args)
   if seeds_file ~= nil then pool = load_pool(seeds_file, 1, 0) end
end

local function rpc(method, params, modern, with_token)
   next_id = next_id + 1
   local headers = {
      ["Content-Type"] = "application/json",
      ["Accept"] = "application/json, text/event-stream",
      ["MCP-Protocol-Version"] = modern and "2026-07-28" or "2025-11-25",
   }
   if with_token then headers["Authorization"] = "Bearer " .. token end
   local meta = ""
   if modern then
      headers["Mcp-Method"] = method
      if method == "tools/call" then headers["Mcp-Name"] = tool end
      meta = '"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
         .. '"io.modelcontextprotocol/clientCapabilities":{},'
         .. '"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}'
   end
   local body
   if method == "tools/call" then
      body = '{"jsonrpc":"2.0","id":' .. next_id .. ',"method":"tools/call","params":{"name":"' .. tool
         .. '","arguments":{}' .. (meta ~= "" and "," .. meta or "") .. '}}'
   else
      body = '{"jsonrpc":"2.0","id":' .. next_id .. ',"method":"' .. method .. '"'
         .. (meta ~= "" and ',"params":{' .. meta .. '}' or "") .. '}'
   end
   return wrk.format("POST", mcp, headers, body)
end

local kinds = {
   function() return wrk.format("GET", prm, {["Accept"] = "application/json"}) end,
   function() return wrk.format("GET", asm, {["Accept"] = "application/json"}) end,
   function() return rpc("tools/list", nil, false, false) end,  -- the 401
   function() return rpc("tools/list", nil, false, true) end,
   function() return rpc("tools/call", nil, false, true) end,
   function() return rpc("tools/list", nil, true, true) end,
   function() return rpc("tools/call", nil, true, true) end,
   function()
      local tok = table.remove(pool, 1)
      if tok == nil then return wrk.format("GET", prm, {["Accept"] = "application/json"}) end
      local b = "grant_type=refresh_token&refresh_token=" .. urlencode(tok) .. "&client_id=" .. urlencode(client_id)
      if resource ~= "" then b = b .. "&resource=" .. urlencode(resource) end
      return wrk.format("POST", token_path, {["Content-Type"] = "application/x-www-form-urlencoded"}, b)
   end,
}

function request()
   turn = turn % #kinds + 1
   return kinds[turn]()
end

check = function(status, headers, body)
   local rt = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
   if rt ~= nil then table.insert(pool, rt) end
   return status == 200 or status == 401
end

function bench_extra(threads)
   -- The refresh tokens not used yet go back to BENCH_SEEDS for the next run.
   return "pool_left=" .. save_pools(threads, seeds_file)
end

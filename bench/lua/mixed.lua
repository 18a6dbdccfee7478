-- Workload of bench/soak.sh: a mixed session load. Each wrk thread keeps a pool of refresh
-- tokens no request has used yet and the latest access token; per request:
--   10% log in (POST /api/token/ as one of $SOAK_USERS users)      -> adds a refresh token
--   20% GET /api/me/ with the latest access token (stateless, may be reused)
--   55% refresh with rotation (POST /api/token/refresh/)          -> uses one, adds one
--   15% log out (POST /api/token/blacklist/)                       -> uses one
-- An empty pool means a login. No token is ever sent twice, and none near its expiry:
-- pooled refresh tokens older than $SOAK_MAX_AGE seconds (half their lifetime) are
-- dropped unsent, and access tokens (only for /api/me/) are replaced by every login and
-- refresh. So every answer must be a 2xx: the client causes no error. Each thread counts
-- answers by class and prints them when the run is over.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

local users = tonumber(os.getenv("SOAK_USERS"))
local max_age = tonumber(os.getenv("SOAK_MAX_AGE"))
local json = { ["Content-Type"] = "application/json" }
local pool, access, n = {}, nil, 0
ok, client_errors, server_errors = 0, 0, 0 -- globals: read through thread:get

function init(args)
  math.randomseed(id * 7919)
end

-- A pooled token young enough to send, or nil.
local function take()
  while #pool > 0 do
    local entry = table.remove(pool, math.random(#pool))
    if os.time() - entry.at < max_age then
      return entry.token
    end
  end
  return nil
end

function request()
  n = n + 1
  local roll = math.random(100)
  if roll > 10 and roll <= 30 and access then
    return wrk.format("GET", "/api/me/", { ["Authorization"] = "Bearer " .. access })
  end
  local token = roll > 30 and take() or nil
  if token == nil then
    local user = "soak" .. ((n + id) % users)
    return wrk.format("POST", "/api/token/", json,
      '{"username":"' .. user .. '","password":"pw-' .. user .. '"}')
  end
  if roll <= 85 then
    return wrk.format("POST", "/api/token/refresh/", json, '{"refresh":"' .. token .. '"}')
  end
  return wrk.format("POST", "/api/token/blacklist/", json, '{"refresh":"' .. token .. '"}')
end

function response(status, headers, body)
  if status >= 500 then
    server_errors = server_errors + 1
  elseif status >= 400 then
    client_errors = client_errors + 1
  else
    ok = ok + 1
  end
  local refresh = body:match('"refresh":"([^"]+)"')
  if refresh then
    pool[#pool + 1] = { token = refresh, at = os.time() }
  end
  local token = body:match('"access":"([^"]+)"')
  if token then
    access = token
  end
end

local report_done = done
function done(summary, latency, requests)
  report_done(summary, latency, requests)
  local totals = { ok = 0, client_errors = 0, server_errors = 0 }
  for _, t in ipairs(soak_threads) do
    for k in pairs(totals) do
      totals[k] = totals[k] + (t:get(k) or 0)
    end
  end
  io.write(string.format("SOAK ok=%d client_errors=%d server_errors=%d\n",
    totals.ok, totals.client_errors, totals.server_errors))
end

soak_threads = {}
local report_setup = setup
function setup(thread)
  report_setup(thread)
  soak_threads[#soak_threads + 1] = thread
end

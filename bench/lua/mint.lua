-- Setup (not measured): logs in over and over and appends every refresh token it gets to
-- "$BENCH_TOKENS.<thread id>", one per line, for the refresh workload.
dofile(os.getenv("BENCH_LUA") .. "/login.lua")

local out

function init(args)
  out = assert(io.open(os.getenv("BENCH_TOKENS") .. "." .. id, "w"))
end

function response(status, headers, body)
  local refresh = status == 200 and body:match('"refresh":"([^"]+)"')
  if refresh then
    out:write(refresh, "\n")
    out:flush()
  end
end

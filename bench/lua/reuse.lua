-- Workload: POST /api/token/refresh/ with refresh tokens that were rotated moments ago and
-- whose successors are unused: within the reuse interval every answer is the same
-- successor again (200, `Tollgate-Refresh-Reuse: grace`), which writes nothing, so each
-- token is presented over and over. Tokens come from $BENCH_TOKENS (one a line, the
-- rotated-out ones); with $BENCH_THREADS wrk threads, thread `id` takes lines id,
-- id + BENCH_THREADS, ... and goes round them.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

local bodies, next_body = {}, 0

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS"))
  local line = 0
  for token in io.lines(os.getenv("BENCH_TOKENS")) do
    line = line + 1
    if line % nthreads == id % nthreads then
      bodies[#bodies + 1] = '{"refresh":"' .. token .. '"}'
    end
  end
  assert(#bodies > 0, "no rotated-out tokens for this thread")
end

local headers = { ["Content-Type"] = "application/json" }

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", nil, headers, bodies[next_body])
end

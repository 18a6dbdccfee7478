-- Workload: POST /api/token/refresh/ (rotation on), every request with its own refresh
-- token that no request has used before. Tokens come from the file $BENCH_TOKENS (one a
-- line, written by mint.lua); with $BENCH_THREADS wrk threads, thread `id` takes lines
-- id, id + BENCH_THREADS, ... so no two threads share a token (with one wrk per replica,
-- $BENCH_THREADS counts the threads of all of them and report.lua numbers them apart). A thread whose slice runs
-- out stops and reports it (`exhausted`): the run is then invalid.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

local tokens, next_token = {}, 0
exhausted = 0 -- global: read by report.lua's done() through thread:get

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_THREADS"))
  local line = 0
  for token in io.lines(os.getenv("BENCH_TOKENS")) do
    line = line + 1
    if line % nthreads == id % nthreads then
      tokens[#tokens + 1] = token
    end
  end
end

local headers = { ["Content-Type"] = "application/json" }

function request()
  next_token = next_token + 1
  local token = tokens[next_token]
  if token == nil then
    exhausted = 1
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  return wrk.format("POST", nil, headers, '{"refresh":"' .. token .. '"}')
end

-- Shared by every workload script (loaded with dofile): numbers each wrk thread and,
-- when the run is over, prints one machine-readable line that bench/load.sh parses.
--   BENCH requests=N duration_us=N p50_us=N p99_us=N status_errors=N socket_errors=N exhausted=N
-- status_errors is wrk's count of HTTP statuses >= 400; exhausted counts refresh-workload
-- threads that ran out of unused tokens (the run is then invalid).

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  -- 1-based, read as the global `id` inside the thread; numbered after $BENCH_THREAD_OFFSET
  -- threads of other wrk processes (one per replica: bench/lib.sh wrk_run), so ids stay unique
  thread:set("id", #threads + (tonumber(os.getenv("BENCH_THREAD_OFFSET")) or 0))
end

function done(summary, latency, requests)
  local e = summary.errors
  local exhausted = 0
  for _, t in ipairs(threads) do
    exhausted = exhausted + (t:get("exhausted") or 0)
  end
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d exhausted=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, exhausted))
end

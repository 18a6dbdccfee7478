-- Workload: POST /api/token/verify/ with one valid access token ($BENCH_ACCESS).
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"token":"' .. os.getenv("BENCH_ACCESS") .. '"}'

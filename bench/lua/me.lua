-- Workload: GET /api/me/ with `Authorization: Bearer $BENCH_ACCESS`.
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_ACCESS")

-- wrk script for the booking rush: every request books a different submitted application
-- (from requests.txt), all on the same slot; each thread stops once it has sent its share.
local rush = dofile("scripts/bench.d/rushlib.lua")
local body = string.format('{"office_id":"%s","date":"%s","time":"%s"}',
  os.getenv("BENCH_OFFICE"), os.getenv("BENCH_DATE"), os.getenv("BENCH_TIME"))
rush.run(rush.requests(), function(r)
  return wrk.format("POST", "/v1/applications/" .. r.id .. "/booking",
    { ["Authorization"] = "Bearer " .. r.token, ["Content-Type"] = "application/json" }, body)
end)

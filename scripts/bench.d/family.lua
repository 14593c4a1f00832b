-- wrk script for the family rush: every request books one account's family (2 to 5
-- submitted applications, from families.txt) into the same laned slot with
-- POST /v1/bookings; each thread stops once it has sent its share.
local rush = dofile("scripts/bench.d/rushlib.lua")
local office, date, time = os.getenv("BENCH_OFFICE"), os.getenv("BENCH_DATE"), os.getenv("BENCH_TIME")
rush.run(rush.requests(), function(r)
  local body = string.format('{"application_ids":[%s],"office_id":"%s","date":"%s","time":"%s"}',
    r.ids, office, date, time)
  return wrk.format("POST", "/v1/bookings",
    { ["Authorization"] = "Bearer " .. r.token, ["Content-Type"] = "application/json" }, body)
end, '"billing_code"')

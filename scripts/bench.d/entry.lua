-- wrk script for the first minute of a release's entry window: every request enters one
-- account's family (1 to 5 applications, from families.txt) in the open release with three
-- choices (PUT /v1/releases/{id}/entry); each thread stops once it has sent its share.
local rush = dofile("scripts/bench.d/rushlib.lua")
local release, choices = os.getenv("BENCH_RELEASE"), os.getenv("BENCH_CHOICES")
rush.run(rush.requests(), function(r)
  local body = string.format('{"application_ids":[%s],"choices":%s}', r.ids, choices)
  return wrk.format("PUT", "/v1/releases/" .. release .. "/entry",
    { ["Authorization"] = "Bearer " .. r.token, ["Content-Type"] = "application/json" }, body)
end, '"application_ids"')

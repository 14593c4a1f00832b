-- wrk script for upload-url: each request presigns for one of many draft applications (as
-- many phones would), round robin, for the run's duration.
local drafts = {}
for line in io.lines(os.getenv("BENCH_DRAFTS")) do
  local id, token = line:match("^(%S+) (%S+)$")
  drafts[#drafts + 1] = { id = id, token = token }
end
local kinds = { "ktp", "kk", "civil_record" }
local body = '{"content_type":"image/jpeg","content_length":150000}'
local n = 0

function init(args)
  n = math.random(#drafts)
end

function request()
  n = n + 1
  local d = drafts[(n % #drafts) + 1]
  local kind = kinds[(n % #kinds) + 1]
  return wrk.format("POST", "/v1/applications/" .. d.id .. "/documents/" .. kind .. "/upload-url",
    { ["Authorization"] = "Bearer " .. d.token, ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  io.write(string.format("LATENCY_US p50=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(99), latency.max))
  io.write(string.format("ERRORS non2xx=%d\n", summary.errors.status))
end

-- wrk script: one POST, the same every time, from BENCH_BODY (and BENCH_TOKEN if set).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
local statuses = {}

function response(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  io.write(string.format("LATENCY_US p50=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(99), latency.max))
  io.write(string.format("ERRORS non2xx=%d\n", summary.errors.status))
end

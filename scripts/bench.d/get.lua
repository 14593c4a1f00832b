-- wrk script: plain GETs, with percentiles in a form scripts/bench reads.
function done(summary, latency, requests)
  io.write(string.format("LATENCY_US p50=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(99), latency.max))
  io.write(string.format("ERRORS non2xx=%d\n", summary.errors.status))
end

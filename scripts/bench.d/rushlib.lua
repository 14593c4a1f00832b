-- What the rush scripts (rush.lua, family.lua, entry.lua) share: the requests file, each
-- thread's share of it, the filler reads once a thread's share is sent, the answers
-- counted, and the summary `scripts/bench` parses. A script gives how to make one request
-- and what in a 201 counts as a place.
local M = {}

-- BENCH_REQUESTS: one line per request, "ids token" (ids comma separated); each id list
-- comes back as JSON strings ready to splice into a body.
function M.requests()
  local requests = {}
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    local ids, token = line:match("^(%S+) (%S+)$")
    local quoted = {}
    for id in ids:gmatch("[^,]+") do quoted[#quoted + 1] = '"' .. id .. '"' end
    requests[#requests + 1] = { id = ids, ids = table.concat(quoted, ","), token = token }
  end
  return requests
end

-- Installs wrk's hooks. `make(r)` answers the request for one line; `places`, if given,
-- is the pattern a 201's body holds once per place (else one place per 201).
function M.run(requests, make, places)
  local nthreads = tonumber(os.getenv("BENCH_THREADS"))
  local per_thread = tonumber(os.getenv("BENCH_CONNECTIONS_PER_THREAD"))
  local threads = {}

  function setup(thread)
    thread:set("index", #threads)
    table.insert(threads, thread)
  end

  function init(args)
    sent, answered, fillers = 0, 0, 0
    created, placed, full, conflict, server_error, other = 0, 0, 0, 0, 0, 0
    share = math.floor(#requests / nthreads)
  end

  function request()
    local r = requests[index + sent * nthreads + 1]
    sent = sent + 1
    if r == nil or sent > share then
      -- Nothing left for this thread: an idempotent read keeps the connection busy until stop.
      return wrk.format("GET", "/v1/offices?limit=1")
    end
    return make(r)
  end

  function response(status, headers, body)
    if status == 200 and body:find('"items"', 1, true) then
      -- A filler read, not an attempt. Once a whole round of them came back, any attempt
      -- still unanswered was lost by the connection (wrk counts it as an error): stop.
      fillers = fillers + 1
      if fillers > 2 * per_thread then wrk.thread:stop() end
      return
    end
    answered = answered + 1
    if answered >= share then wrk.thread:stop() end
    if status == 201 then
      created = created + 1
      placed = placed + (places and select(2, body:gsub(places, "")) or 1)
    elseif status == 409 and body:find('"slot_full"') then full = full + 1
    elseif status == 409 then conflict = conflict + 1
    elseif status >= 500 then server_error = server_error + 1
    else other = other + 1 end
  end

  function done(summary, latency, requests_)
    local c, p, f, k, e, o = 0, 0, 0, 0, 0, 0
    for _, t in ipairs(threads) do
      c = c + t:get("created"); p = p + t:get("placed"); f = f + t:get("full")
      k = k + t:get("conflict"); e = e + t:get("server_error"); o = o + t:get("other")
    end
    io.write(string.format("RUSH created=%d places=%d slot_full=%d other_409=%d server_errors=%d other=%d\n", c, p, f, k, e, o))
    io.write(string.format("LATENCY_US p50=%d p99=%d max=%d\n",
      latency:percentile(50), latency:percentile(99), latency.max))
    -- wrk sleeps for the whole -d even after every thread stopped, so the rush's own length
    -- comes from Little's law: each connection runs its requests back to back.
    io.write(string.format("RUSH_MS elapsed=%d\n", latency.mean * summary.requests / (nthreads * per_thread) / 1000))
  end
end

return M

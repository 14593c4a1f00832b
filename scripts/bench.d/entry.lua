-- wrk script for the first minute of a release's entry window: every request enters one
-- account's family (1 to 5 applications, from families.txt) in the open release with three
-- choices (PUT /v1/releases/{id}/entry); each thread stops once it has sent its share.
local requests = {}
for line in io.lines(os.getenv("BENCH_REQUESTS")) do
  local ids, token = line:match("^(%S+) (%S+)$")
  local quoted = {}
  for id in ids:gmatch("[^,]+") do quoted[#quoted + 1] = '"' .. id .. '"' end
  requests[#requests + 1] = { ids = table.concat(quoted, ","), token = token }
end
local release, choices = os.getenv("BENCH_RELEASE"), os.getenv("BENCH_CHOICES")
local nthreads = tonumber(os.getenv("BENCH_THREADS"))
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  sent, answered, fillers = 0, 0, 0
  created, places, full, conflict, server_error, other = 0, 0, 0, 0, 0, 0
  share = math.floor(#requests / nthreads)
end

function request()
  local r = requests[index + sent * nthreads + 1]
  sent = sent + 1
  if r == nil or sent > share then
    return wrk.format("GET", "/v1/offices?limit=1")
  end
  local body = string.format('{"application_ids":[%s],"choices":%s}', r.ids, choices)
  return wrk.format("PUT", "/v1/releases/" .. release .. "/entry",
    { ["Authorization"] = "Bearer " .. r.token, ["Content-Type"] = "application/json" }, body)
end

function response(status, headers, body)
  if body:find('"items"', 1, true) and status == 200 then
    fillers = fillers + 1
    if fillers > 2 * tonumber(os.getenv("BENCH_CONNECTIONS_PER_THREAD")) then wrk.thread:stop() end
    return
  end
  answered = answered + 1
  if answered >= share then wrk.thread:stop() end
  if status == 201 then
    created = created + 1
    places = places + select(2, body:gsub('"application_ids"', ""))
  elseif status == 409 then conflict = conflict + 1
  elseif status >= 500 then server_error = server_error + 1
  else other = other + 1 end
end

function done(summary, latency, requests_)
  local c, p, f, k, e, o = 0, 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created"); p = p + t:get("places"); f = f + t:get("full"); k = k + t:get("conflict")
    e = e + t:get("server_error"); o = o + t:get("other")
  end
  io.write(string.format("RUSH created=%d places=%d slot_full=%d other_409=%d server_errors=%d other=%d\n", c, p, f, k, e, o))
  io.write(string.format("LATENCY_US p50=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(99), latency.max))
  local connections = nthreads * tonumber(os.getenv("BENCH_CONNECTIONS_PER_THREAD"))
  io.write(string.format("RUSH_MS elapsed=%d\n", latency.mean * summary.requests / connections / 1000))
end

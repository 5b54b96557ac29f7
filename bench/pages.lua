-- wrk script for bench/load.py (bench/pages.py): plain GETs, or real quiz submissions.
--
--   wrk ... -s bench/pages.lua URL -- get
--   wrk ... -s bench/pages.lua URL -- getcookie <Cookie header>
--   wrk ... -s bench/pages.lua URL -- quiz <pool file> <wrk threads> <csrf token>
--
-- The pool file has one open attempt per line: "<submit path>\t<Cookie header>\t<body>".
-- Each wrk thread takes every n-th line, so no attempt is submitted twice; a thread that
-- runs out starts over and counts it in "exhausted" (bench/pages.py then reports it).
-- done() prints one line "WRK_JSON {...}" with the counts and latency percentiles.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

mode = "get"
items = {}
index = 0
sent = 0
exhausted = 0
csrf = ""

function init(args)
  mode = args[1] or "get"
  -- One connection per request, as gunicorn gets them behind the documented nginx proxy
  -- (HTTP/1.0 upstream, docs/deploy.md). With keep-alive, wrk's few long connections land
  -- on whichever gunicorn process accepts first, and a run measures one process or two by
  -- chance (rounds of the same page differed threefold). BENCH_KEEPALIVE=1 keeps them open.
  if os.getenv("BENCH_KEEPALIVE") ~= "1" then
    wrk.headers["Connection"] = "close"
  end
  if mode == "getcookie" then
    -- a plain GET as a learner with a session: "getcookie <Cookie header>"
    wrk.headers["Cookie"] = args[2]
  end
  if mode == "quiz" then
    local file, nthreads = args[2], tonumber(args[3])
    csrf = args[4]
    local n = 0
    for line in io.lines(file) do
      if n % nthreads == id then
        local path, cookie, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
        table.insert(items, { path = path, cookie = cookie, body = body })
      end
      n = n + 1
    end
  end
end

function request()
  sent = sent + 1
  if mode ~= "quiz" then
    return wrk.request()
  end
  index = index + 1
  if index > #items then
    exhausted = exhausted + 1
    index = 1
  end
  local item = items[index]
  return wrk.format("POST", item.path, {
    ["Cookie"] = item.cookie,
    ["X-CSRFToken"] = csrf,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, item.body)
end

function done(summary, latency, requests)
  local total_sent, total_exhausted = 0, 0
  for _, thread in ipairs(threads) do
    total_sent = total_sent + (thread:get("sent") or 0)
    total_exhausted = total_exhausted + (thread:get("exhausted") or 0)
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors_connect":%d,'
      .. '"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,'
      .. '"latency_mean_us":%.1f,"latency_p50_us":%d,"latency_p90_us":%d,'
      .. '"latency_p99_us":%d,"latency_max_us":%d,"sent":%d,"exhausted":%d}\n',
    summary.requests, summary.duration, summary.bytes, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, total_sent, total_exhausted))
end

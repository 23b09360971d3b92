-- Shared by every request script (loaded with dofile): checks every response and reports.
--
-- A request script sets wrk.method, wrk.path, wrk.body and wrk.headers (one fixed request, so
-- wrk builds it once) and the global `expect`: the whole body of a right answer when the global
-- `exact` is true, else a substring every right answer contains (a status other than 200 is wrong). Every
-- response is checked, during the warm-up and the timed runs alike; done() prints machine-readable
-- lines the orchestrator (bench/run.py) parses:
--   BENCH_RESULT requests=... duration_us=... rps=... p50_us=... p99_us=... errors=...
--   BENCH_CHECK checked=... bad=...
--   BENCH_SAMPLE <body>               (the first answer, to show what was checked)
--   BENCH_FIRST_BAD <status> <body>   (only when some answer was wrong)

local key = os.getenv("BENCH_API_KEY")
if key and key ~= "" then
  wrk.headers["X-Api-Key"] = key
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  checked = 0
  bad = 0
  first_bad = nil
  sample = nil
end

function response(status, headers, body)
  checked = checked + 1
  if sample == nil then
    sample = string.sub(body or "", 1, 400)
  end
  local right
  if exact then
    right = body == expect
  else
    right = string.find(body, expect, 1, true) ~= nil
  end
  if status ~= 200 or not right then
    bad = bad + 1
    if first_bad == nil then
      first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 400)
    end
  end
end

local function one_line(text)
  local flat = string.gsub(string.gsub(text, "\r", ""), "\n", "\\n")
  return flat
end

function done(summary, latency, requests)
  local total_checked, total_bad, bad_sample, good_sample = 0, 0, nil, nil
  for _, thread in ipairs(threads) do
    total_checked = total_checked + thread:get("checked")
    total_bad = total_bad + thread:get("bad")
    bad_sample = bad_sample or thread:get("first_bad")
    good_sample = good_sample or thread:get("sample")
  end
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d rps=%.2f p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), errors))
  io.write(string.format("BENCH_CHECK checked=%d bad=%d\n", total_checked, total_bad))
  if good_sample then
    io.write("BENCH_SAMPLE " .. one_line(good_sample) .. "\n")
  end
  if bad_sample then
    io.write("BENCH_FIRST_BAD " .. one_line(bad_sample) .. "\n")
  end
end

-- wrk script: counts 5xx answers per thread and reports the total at the end.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  server_errors = 0
end

function response(status, headers, body)
  if status >= 500 then
    server_errors = server_errors + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + t:get("server_errors")
  end
  io.write(string.format("server_errors=%d requests=%d p99_ms=%.3f\n", total, summary.requests,
                         latency:percentile(99) / 1000))
end

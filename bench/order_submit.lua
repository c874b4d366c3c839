-- wrk script: POST a distinct order.submit per request and count JSON-RPC errors.
local counter = 0
local thread_id = 0
local threads = {}
errors = 0  -- global: done() reads each thread's count with thread:get

function setup(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
  table.insert(threads, thread)
end

function init(args)
  key = args[1] or "dev-storefront-key"
  run = args[2] or tostring(os.time())  -- unique per run: every order is a new one
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end

function request()
  counter = counter + 1
  local order = string.format("B-%s-%d-%d", run, tid, counter)
  local body = '{"jsonrpc":"2.0","id":' .. counter .. ',"method":"order.submit","params":' ..
    '{"order_id":"' .. order .. '","customer":"10000","idempotency_key":"' .. order .. '",' ..
    '"lines":[{"item":"1000","quantity":2},{"item":"1100","quantity":1}]}}'
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"error"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do
    failed = failed + (thread:get("errors") or 0)
  end
  io.write(string.format("RESULT requests=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, failed))
end

-- SPDX-License-Identifier: Apache-2.0
-- wrk script of bench/api.
-- BENCH_HEADER_FILE (optional) names a file whose first line is one request header,
-- "Authorization: Bearer ..." or "Authorization: Basic ...": the secret is read from a
-- 0600 file, never passed on a command line. When the run ends, one machine-readable line
-- is printed for run.sh (latencies in microseconds).
local path = os.getenv("BENCH_HEADER_FILE")
if path ~= nil and path ~= "" then
  local f = assert(io.open(path, "r"))
  local line = f:read("*l")
  f:close()
  local name, value = string.match(line or "", "^([^:]+):%s*(.-)%s*$")
  assert(name ~= nil, "bench/api: " .. path .. " holds no header line")
  wrk.headers[name] = value
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d bytes=%d p50_us=%d p99_us=%d max_us=%d " ..
    "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end

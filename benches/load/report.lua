-- Appended to every wrk script benches/load.rs writes: prints one machine-readable line that the
-- harness parses (wrk's own --latency table rounds to two significant digits and changes units).
-- Latencies are in microseconds; `status` counts answers >= 400, which the harness reports as
-- errors instead of counting them as served requests.
function done(summary, latency, requests)
  io.write(string.format(
    "LOADRESULT requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f max_us=%.0f " ..
    "status=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end

#!/usr/bin/env bash
# client_credentials throughput with a PostgreSQL directory up and down (docs/directory.md,
# "Failure"): the same binary and configuration, [directory] url pointing at the database or at a
# closed port, alternating rounds. The gateway is pinned to core 0 with one worker, wrk to core 1;
# the figure is requests per second of the server's own CPU time (utime + stime from /proc).
# Needs wrk, taskset, curl, bc and a release build:
#   cargo build --release --bin tokengate && bash benches/outage/client_credentials.sh
# TOKENGATE_TEST_POSTGRES names the database (default postgres://postgres@127.0.0.1:5432/test);
# no schema is needed, as client_credentials never asks the directory.
set -euo pipefail
BIN=${BIN:-target/release/tokengate}
URL=${TOKENGATE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
ROUNDS=${ROUNDS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = "grant_type=client_credentials&client_id=app"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
for state in up down; do
  url=$URL
  [ "$state" = down ] && url=postgres://postgres@127.0.0.1:1/test
  cat > "$work/$state.toml" <<TOML
[server]
bind = "127.0.0.1:18080"
workers = 1
[signing]
secret = "outage-bench-signing-secret-0123456789abcdef"
[[client]]
id = "app"
[[route]]
dialect = "vizseek"
path = "/api/Token"
[directory]
kind = "postgres"
url = "$url"
schema = "identity2"
connect_timeout = "300ms"
query_timeout = "300ms"
TOML
done
for round in $(seq "$ROUNDS"); do
  for state in up down; do
    RUST_LOG=info taskset -c 0 "$BIN" serve --config "$work/$state.toml" > "$work/$state.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18080/healthz && break; sleep 0.1; done
    # One password grant, so that the "down" gateway has met the outage before the run.
    curl -s -o /dev/null -d grant_type=password -d client_id=app -d username=x \
      -d password=0000000000000000000000000000000000000000 http://127.0.0.1:18080/api/Token
    taskset -c 1 wrk -t1 -c16 -d3s -s "$work/post.lua" http://127.0.0.1:18080/api/Token > /dev/null
    t0=$(awk '{print $14+$15}' /proc/$pid/stat)
    out=$(taskset -c 1 wrk -t1 -c16 -d10s -s "$work/post.lua" http://127.0.0.1:18080/api/Token)
    t1=$(awk '{print $14+$15}' /proc/$pid/stat)
    requests=$(echo "$out" | awk '/requests in/{print $1}')
    non2xx=$(echo "$out" | awk '/Non-2xx/{print $4}')
    status=$(curl -s http://127.0.0.1:18080/healthz | sed 's/.*"directory":{"kind":"postgres","status":"\([a-z]*\)".*/\1/')
    cpu=$(echo "($t1-$t0)/100" | bc -l)
    printf 'round %s directory %-4s requests %s non-2xx %s req/CPU-s %.0f directory %s\n' \
      "$round" "$state" "$requests" "${non2xx:-0}" "$(echo "$requests/$cpu" | bc -l)" "$status"
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done

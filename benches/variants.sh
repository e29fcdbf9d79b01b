#!/usr/bin/env bash
# What the operator features cost per request, in one run (docs/performance.md, "Operator
# features"): the demo's VizSeek client_credentials grant served by the same binary with text
# logs (the reference), JSON logs, `echo_request_id`, HTTPS (`[server.tls]`, the test
# certificate of fixtures/tls) on kept-alive connections, and HTTPS with a new connection (so a
# handshake) per request against plain HTTP the same way; and shadow mode (`shadow`: the route
# answers and the request is also sent to an upstream, another tokengate serving the demo on
# core 1, and the answers compared; `shadow_legacy`: the upstream answers and the gateway's
# answer is computed behind it and compared). Each variant alternates with its reference, ROUNDS
# times; the
# gateway is pinned to core 0 with one worker, wrk to core 1, and the figure is requests per
# second of the server's own CPU time (utime + stime from /proc), so the log's writes count.
# Needs wrk (built with TLS, as Debian's is), taskset, curl, bc and a release build:
#   cargo build --release --bin tokengate && bash benches/variants.sh
set -euo pipefail
BIN=$(realpath "${BIN:-target/release/tokengate}")
ROUNDS=${ROUNDS:-3}
SECONDS_EACH=${SECONDS_EACH:-10}
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$repo/fixtures/tls/server.pem" "$repo/fixtures/tls/server.key" "$work/"
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = "grant_type=client_credentials&client_id=demo-client"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
sed 's/^wrk.headers\["Content-Type"\].*/&\nwrk.headers["Connection"] = "close"/' "$work/post.lua" > "$work/close.lua"
demo=$(cat "$repo/fixtures/demo.toml")
printf '%s\n' "$demo" > "$work/text.toml"
printf '%s\n[log]\nformat = "json"\n' "$demo" > "$work/json.toml"
printf '%s\n[log]\necho_request_id = true\n' "$demo" > "$work/echo.toml"
printf '%s\n[server.tls]\ncert_file = "server.pem"\nkey_file = "server.key"\n' "$demo" > "$work/tls.toml"
shadowed() {
  printf '%s\n' "$demo" | sed "s|^path = \"/api/Token\"\$|path = \"/api/Token\"\nshadow = { upstream = \"http://127.0.0.1:18082/api/Token\", answer = \"$1\" }|"
  printf '\n[shadow]\nlog = "shadow.jsonl"\n'
}
shadowed gateway > "$work/shadow.toml"
shadowed legacy > "$work/shadow_legacy.toml"
cp "$work/text.toml" "$work/close.toml"
cp "$work/tls.toml" "$work/handshake.toml"
export TOKENGATE__SERVER__BIND=127.0.0.1:18081 TOKENGATE__SERVER__WORKERS=1

# Prints the server's requests per CPU-second for `variant` (its config and URL scheme).
measure() {
  local variant=$1 scheme=http script=$work/post.lua
  case "$variant" in tls | handshake) scheme=https ;; esac
  case "$variant" in close | handshake) script=$work/close.lua ;; esac
  local url="$scheme://127.0.0.1:18081/api/Token" upstream=
  case "$variant" in
    shadow*)
      TOKENGATE__SERVER__BIND=127.0.0.1:18082 taskset -c 1 "$BIN" serve --config "$work/text.toml" > "$work/upstream.log" 2>&1 &
      upstream=$!
      for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:18082/healthz" && break; sleep 0.1; done
      ;;
  esac
  RUST_LOG=info taskset -c 0 "$BIN" serve --config "$work/$variant.toml" > "$work/$variant.log" 2>&1 &
  local pid=$!
  for _ in $(seq 50); do curl -sk -o /dev/null "$scheme://127.0.0.1:18081/healthz" && break; sleep 0.1; done
  taskset -c 1 wrk -t1 -c16 -d2s -s "$script" "$url" > /dev/null
  local t0 t1 out requests
  t0=$(awk '{print $14+$15}' /proc/$pid/stat)
  out=$(taskset -c 1 wrk -t1 -c16 -d"${SECONDS_EACH}s" -s "$script" "$url")
  t1=$(awk '{print $14+$15}' /proc/$pid/stat)
  requests=$(echo "$out" | awk '/requests in/{print $1}')
  if echo "$out" | grep -q Non-2xx; then echo "$variant: non-2xx answers" >&2; exit 1; fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  if [ -n "$upstream" ]; then
    kill "$upstream"; wait "$upstream" 2>/dev/null || true
    if [ -s "$work/shadow.jsonl" ]; then echo "$variant: the answers differed:" >&2; head -3 "$work/shadow.jsonl" >&2; exit 1; fi
  fi
  echo "$requests / (($t1 - $t0) / 100)" | bc -l
}

for variant in ${VARIANTS:-json echo tls handshake}; do
  for round in $(seq "$ROUNDS"); do
    reference_variant=text
    [ "$variant" = handshake ] && reference_variant=close
    reference=$(measure "$reference_variant")
    other=$(measure "$variant")
    printf '%-9s round %s: %s %.0f req/CPU-s, %s %.0f req/CPU-s, ratio %.3f\n' \
      "$variant" "$round" "$reference_variant" "$reference" "$variant" "$other" \
      "$(echo "$other / $reference" | bc -l)"
  done
done

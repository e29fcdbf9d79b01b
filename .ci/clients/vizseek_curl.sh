#!/usr/bin/env bash
# The VizSeek page's curl lines, as written there with the server and credentials changed to the
# demo's; each answer is checked with python's json module. Usage: vizseek_curl.sh [BASE_URL]
set -euo pipefail
BASE="${1:-http://127.0.0.1:8080}"
passed=0
failed=0

expect() { # expect NAME JSON-CHECK-EXPRESSION BODY
  if python3 -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$3"; then
    echo "PASS $1"; passed=$((passed + 1))
  else
    echo "FAIL $1: $3"; failed=$((failed + 1))
  fi
}

app=$(curl -sS -X POST "$BASE/api/Token" \
  -H "Content-Type: application/x-www-form-urlencoded" \
  --data-urlencode "grant_type=client_credentials" \
  --data-urlencode "client_id=demo-client")
expect "app token (curl)" "list(d) == ['access_token', 'token_type', 'expires_in'] and d['expires_in'] == '1799'" "$app"

# The page shows the user-token request as raw HTTP; curl sends the same bytes.
user=$(curl -sS -X POST "$BASE/api/Token" \
  -H "Content-Type: application/x-www-form-urlencoded" \
  --data "grant_type=password&client_id=demo-client&username=user%40example.com&password=$(printf '%s' 'P@ssw0rd!' | sha1sum | cut -c1-40)")
expect "user token (raw HTTP body)" "list(d) == ['access_token', 'refresh_token', 'token_type', 'expires_in']" "$user"
YOUR_REFRESH_TOKEN=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['refresh_token'])" "$user")

refresh=$(curl -sS -X POST "$BASE/api/Token" \
  -H "Content-Type: application/x-www-form-urlencoded" \
  --data-urlencode "grant_type=refresh_token" \
  --data-urlencode "client_id=demo-client" \
  --data-urlencode "refresh_token=$YOUR_REFRESH_TOKEN")
expect "refresh (curl)" "d['refresh_token'] != '$YOUR_REFRESH_TOKEN' and d['expires_in'] == '1799'" "$refresh"

replay=$(curl -sS -X POST "$BASE/api/Token" \
  -H "Content-Type: application/x-www-form-urlencoded" \
  --data-urlencode "grant_type=refresh_token" \
  --data-urlencode "client_id=demo-client" \
  --data-urlencode "refresh_token=$YOUR_REFRESH_TOKEN")
expect "replayed refresh token (curl)" "d == {'error': 'invalid_grant', 'error_description': 'Invalid request'}" "$replay"

echo "vizseek page (curl): $passed passed, $failed failed"
[ "$failed" -eq 0 ]

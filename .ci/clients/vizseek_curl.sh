#!/usr/bin/env bash
# The VizSeek page's curl lines, as written there with the server and credentials changed to the
# demo's; each answer is checked with python's json module. Usage: vizseek_curl.sh [BASE_URL]
set -euo pipefail
BASE="${1:-http://127.0.0.1:8080}"
passed=0
failed=0

# The expression sees the answer as `d`, `re`, and GUID (a dashed GUID, any version).
expect() { # expect NAME JSON-CHECK-EXPRESSION BODY
  if python3 -c "import json,re,sys; GUID=re.compile(r'[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}'); d=json.loads(sys.argv[1]); sys.exit(0 if ($2) else 1)" "$3" 2>/dev/null; then
    echo "PASS $1"; passed=$((passed + 1))
  else
    echo "FAIL $1: $3"; failed=$((failed + 1))
  fi
}

member() { # member JSON NAME: the member's value, or nothing when it is absent or not a string
  python3 -c "import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print(v if isinstance(v, str) else '')" "$1" "$2" 2>/dev/null || true
}

app=$(curl -sS -X POST "$BASE/api/Token" \
  -H "Content-Type: application/x-www-form-urlencoded" \
  --data-urlencode "grant_type=client_credentials" \
  --data-urlencode "client_id=demo-client")
expect "app token (curl)" "d.get('expires_in') == '1799' and d.get('token_type') == 'bearer'" "$app"

# Not on the page: an app token carries a refresh token (a dashed GUID, in the user token's member
# order) and redeeming it gives a new access token and a new refresh token. demo-client sends no
# secret; demo-confidential sends its secret in the form on both requests.
# app_refresh LABEL APP_JSON CLIENT_ID [CLIENT_SECRET]
app_refresh() {
  local label=$1 answer=$2 client=$3 secret=${4:-}
  local secret_arg=()
  [ -n "$secret" ] && secret_arg=(--data-urlencode "client_secret=$secret")
  expect "client_credentials ($label): members access_token, refresh_token, token_type, expires_in" \
    "list(d) == ['access_token', 'refresh_token', 'token_type', 'expires_in']" "$answer"
  expect "client_credentials ($label): refresh_token is a dashed GUID string" \
    "isinstance(d.get('refresh_token'), str) and GUID.fullmatch(d['refresh_token'])" "$answer"
  local old_refresh old_access
  old_refresh=$(member "$answer" refresh_token)
  old_access=$(member "$answer" access_token)
  if [ -z "$old_refresh" ]; then
    echo "FAIL refresh_token from client_credentials ($label): not redeemed, the app token carried none"
    failed=$((failed + 1))
    return
  fi
  local redeemed
  redeemed=$(curl -sS -X POST "$BASE/api/Token" \
    -H "Content-Type: application/x-www-form-urlencoded" \
    --data-urlencode "grant_type=refresh_token" \
    --data-urlencode "refresh_token=$old_refresh" \
    --data-urlencode "client_id=$client" \
    "${secret_arg[@]}")
  expect "refresh_token from client_credentials ($label): a new JWT access_token" \
    "isinstance(d.get('access_token'), str) and d['access_token'].count('.') == 2 and d['access_token'] != '$old_access'" "$redeemed"
  expect "refresh_token from client_credentials ($label): a new dashed-GUID refresh_token (was $old_refresh)" \
    "isinstance(d.get('refresh_token'), str) and GUID.fullmatch(d['refresh_token']) and d['refresh_token'] != '$old_refresh'" "$redeemed"
  expect "refresh_token from client_credentials ($label): members in the page's order, expires_in '1799'" \
    "list(d) == ['access_token', 'refresh_token', 'token_type', 'expires_in'] and d['expires_in'] == '1799'" "$redeemed"
}
app_refresh "demo-client" "$app" demo-client

confidential=$(curl -sS -X POST "$BASE/api/Token" \
  -H "Content-Type: application/x-www-form-urlencoded" \
  --data-urlencode "grant_type=client_credentials" \
  --data-urlencode "client_id=demo-confidential" \
  --data-urlencode "client_secret=demo-secret")
app_refresh "demo-confidential, secret in the form" "$confidential" demo-confidential demo-secret

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

redeem() {
  curl -sS -X POST "$BASE/api/Token" \
    -H "Content-Type: application/x-www-form-urlencoded" \
    --data-urlencode "grant_type=refresh_token" \
    --data-urlencode "client_id=demo-client" \
    --data-urlencode "refresh_token=$1"
}
NEW_REFRESH_TOKEN=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['refresh_token'])" "$refresh")
# Within the retry grace (refresh_reuse_grace, 10 s by default) the same token again is a retry
# of a lost answer: the same new refresh token. Once that one is redeemed, the old is a replay.
expect "retry within the grace (curl)" "d['refresh_token'] == '$NEW_REFRESH_TOKEN'" "$(redeem "$YOUR_REFRESH_TOKEN")"
expect "the successor redeems (curl)" "d['refresh_token'] != '$NEW_REFRESH_TOKEN'" "$(redeem "$NEW_REFRESH_TOKEN")"
replay=$(redeem "$YOUR_REFRESH_TOKEN")
expect "replayed refresh token (curl)" "d == {'error': 'invalid_grant', 'error_description': 'Invalid request'}" "$replay"

echo "vizseek page (curl): $passed passed, $failed failed"
[ "$failed" -eq 0 ]

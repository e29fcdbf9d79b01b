#!/usr/bin/env bash
# The /Token page's curl line, verbatim but for the server and the demo credentials, then the
# same as POST and with Basic client credentials. Usage: owin_curl.sh [BASE_URL]
set -euo pipefail
BASE="${1:-http://127.0.0.1:8080}"
passed=0
failed=0
check() { # check NAME BODY
  if python3 - "$2" <<'PY'
import json, sys
from email.utils import parsedate_to_datetime
d = json.loads(sys.argv[1])
assert list(d) == ["access_token", "token_type", "expires_in", "userName", "userId", "role", ".issued", ".expires"], list(d)
assert d["token_type"] == "bearer" and d["expires_in"] == 1209599, d
assert d["userName"] == "user@example.com" and d["userId"] == "614a1d03-873d-489e-9ab5-fb53b0a0c64f" and d["role"] == "Administrator"
issued, expires = parsedate_to_datetime(d[".issued"]), parsedate_to_datetime(d[".expires"])
assert (expires - issued).total_seconds() == 14 * 86400 and d[".issued"].endswith(" GMT"), d
PY
  then echo "PASS $1"; passed=$((passed + 1)); else echo "FAIL $1: $2"; failed=$((failed + 1)); fi
}

page=$(curl --location --request GET "$BASE/Token" \
--header 'Content-Type: application/json' \
--data-urlencode 'grant_type=password' \
--data-urlencode 'username=user@example.com' \
--data-urlencode 'password=P@ssw0rd!')
check "the page's curl line (GET, JSON Content-Type, urlencoded body)" "$page"

post=$(curl -sS --request POST "$BASE/Token" \
  --data-urlencode 'grant_type=password' --data-urlencode 'username=user@example.com' --data-urlencode 'password=P@ssw0rd!')
check "POST" "$post"

basic=$(curl -sS -u 'demo-confidential:demo-secret' "$BASE/token" \
  --data-urlencode 'Grant_Type=password' --data-urlencode 'UserName=user@example.com' --data-urlencode 'Password=P@ssw0rd!')
check "POST with Basic credentials, any-case path and names" "$basic"

echo "owin page (curl): $passed passed, $failed failed"
[ "$failed" -eq 0 ]

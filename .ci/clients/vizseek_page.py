"""The VizSeek "Token endpoint" page's Python code, run as written there with only `server`
and the credentials changed to the demo's, followed by checks of what the page promises
(field order, `expires_in` as a string, GUID refresh tokens, the failure texts), and that an app
token's refresh token (which the page does not show) redeems.

Usage: python3 vizseek_page.py [BASE_URL]   (default http://127.0.0.1:8080)
Exit 0 when every check passed.
"""
import re
import sys

import requests

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
failures = []
passed = 0


def check(condition, what):
    global passed
    if condition:
        passed += 1
        print(f"PASS {what}")
    else:
        failures.append(what)
        print(f"FAIL {what}")


# --- App token request, as on the page -------------------------------------------------------
server = BASE
client_id = "demo-client"

resp = requests.post(
    f"{server}/api/Token",
    headers={"Content-Type": "application/x-www-form-urlencoded"},
    data={
        "grant_type": "client_credentials",
        "client_id": client_id,
    },
)
resp.raise_for_status()
token_data = resp.json()
print(token_data["access_token"])

check(token_data["expires_in"] == "1799", f"app token expires_in is the string '1799': {token_data['expires_in']!r}")
check(token_data["token_type"] == "bearer", "token_type is bearer")
check(resp.headers["Content-Type"] == "application/json;charset=UTF-8", f"Content-Type {resp.headers['Content-Type']!r}")
check(resp.headers.get("Cache-Control") == "no-cache" and resp.headers.get("Pragma") == "no-cache"
      and resp.headers.get("Expires") == "-1", "Katana's no-cache headers")
check(token_data["access_token"].count(".") == 2, "access_token is a JWT")

# --- Beyond the page: an app token carries a refresh token, and it redeems -------------------
# The page's app-token sample has no refresh_token; the gateway issues one for client_credentials
# too (a dashed GUID, the members in the user token's order), redeemed like a user's.
APP_MEMBERS = ["access_token", "refresh_token", "token_type", "expires_in"]
DASHED_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
app_token = token_data
check(list(app_token) == APP_MEMBERS,
      f"client_credentials (demo-client): members {APP_MEMBERS}, got {list(app_token)}")
app_refresh = app_token.get("refresh_token")
check(isinstance(app_refresh, str) and bool(DASHED_GUID.match(app_refresh)),
      f"client_credentials (demo-client): refresh_token is a dashed GUID string, got {app_refresh!r}")
if isinstance(app_refresh, str):
    r = requests.post(
        f"{server}/api/Token",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        data={"grant_type": "refresh_token", "refresh_token": app_refresh, "client_id": client_id},
    )
    redeemed = r.json() if r.headers.get("Content-Type", "").startswith("application/json") else {}
    check(r.status_code == 200,
          f"refresh_token from client_credentials (demo-client): 200, got {r.status_code} {r.text[:200]!r}")
    new_access = redeemed.get("access_token")
    check(isinstance(new_access, str) and new_access.count(".") == 2 and new_access != app_token["access_token"],
          f"refresh_token from client_credentials (demo-client): a new JWT access_token, got {new_access!r:.80}")
    new_refresh = redeemed.get("refresh_token")
    check(isinstance(new_refresh, str) and bool(DASHED_GUID.match(new_refresh)) and new_refresh != app_refresh,
          f"refresh_token from client_credentials (demo-client): a new dashed-GUID refresh_token "
          f"(was {app_refresh!r}), got {new_refresh!r}")
    check(list(redeemed) == APP_MEMBERS and redeemed.get("expires_in") == "1799",
          f"refresh_token from client_credentials (demo-client): members {APP_MEMBERS} with expires_in '1799', "
          f"got members {list(redeemed)} with expires_in {redeemed.get('expires_in')!r}")
else:
    check(False, "refresh_token from client_credentials (demo-client): not redeemed, the app token carried none")

# --- User token request, as on the page ------------------------------------------------------
import hashlib
import requests

server = BASE
client_id = "demo-client"
username = "user@example.com"
password = "P@ssw0rd!"

sha1_hex = hashlib.sha1(password.encode("utf-8")).hexdigest()

resp = requests.post(
    f"{server}/api/Token",
    headers={"Content-Type": "application/x-www-form-urlencoded"},
    data={
        "grant_type": "password",
        "client_id": client_id,
        "username": username,
        "password": sha1_hex,
    },
)
resp.raise_for_status()
token_data = resp.json()
print(token_data["access_token"])
print(token_data["refresh_token"])

check(list(token_data) == ["access_token", "refresh_token", "token_type", "expires_in"],
      f"user token members in the page's order {list(token_data)}")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
check(bool(GUID.match(token_data["refresh_token"])), f"refresh_token is a v4 GUID: {token_data['refresh_token']}")
check(token_data["expires_in"] == "1799", "user token expires_in '1799'")

# --- Refresh-token request, as on the page ---------------------------------------------------
existing_refresh_token = token_data["refresh_token"]
resp = requests.post(
    f"{server}/api/Token",
    headers={"Content-Type": "application/x-www-form-urlencoded"},
    data={
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": existing_refresh_token,
    },
)
resp.raise_for_status()
new_token_data = resp.json()

check(new_token_data["refresh_token"] != existing_refresh_token, "the refresh token rotated")
check(list(new_token_data) == ["access_token", "refresh_token", "token_type", "expires_in"], "refresh answer members")

def redeem(refresh_token):
    return requests.post(
        f"{server}/api/Token",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        data={"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token},
    )

# A client that lost the answer redeems the same token again within the retry grace
# (refresh_reuse_grace, 10 s by default, docs/tokens.md): it gets the same new refresh token.
retry = redeem(existing_refresh_token)
check(retry.status_code == 200 and retry.json().get("refresh_token") == new_token_data["refresh_token"],
      f"a retry within the grace gets the same refresh token (got {retry.status_code} {retry.text[:120]})")
# Once the family went on with that token, the old one presented again is a replay (below).
continued = redeem(new_token_data["refresh_token"])
check(continued.status_code == 200, f"the successor redeems (got {continued.status_code})")

# --- The page's failure cases ----------------------------------------------------------------
def failure(data, expected_description):
    r = requests.post(f"{server}/api/Token", headers={"Content-Type": "application/x-www-form-urlencoded"}, data=data)
    body = r.json()
    check(r.status_code == 400 and body.get("error_description") == expected_description,
          f"{data.get('grant_type')!s:>18} -> 400 {expected_description!r} (got {r.status_code} {body})")


failure({"grant_type": "client_credentials"}, "client_id missing.")
failure({"grant_type": "client_credentials", "client_id": "YOUR_CLIENT_ID"}, "'client_id' incorrect.")
failure({"grant_type": "password", "client_id": client_id, "username": username,
         "password": hashlib.sha1(b"wrong").hexdigest()}, "User authentication failed.")
failure({"grant_type": "password", "client_id": client_id, "username": "nobody@example.com",
         "password": sha1_hex}, "User authentication failed.")
failure({"grant_type": "refresh_token", "client_id": client_id}, "Invalid request")
failure({"grant_type": "refresh_token", "client_id": client_id, "refresh_token": existing_refresh_token},
        "Invalid request")
failure({"grant_type": "implicit", "client_id": client_id}, "Invalid request")

print(f"vizseek page (python requests): {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)

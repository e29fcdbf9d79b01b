"""Python `requests` against the legacy /Token route: GET with a form body (what the page's curl
line does) and POST, the discard rule seen through introspection, and revocation.
Usage: python3 owin_requests.py [BASE_URL]"""
import sys

import requests

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
url = f"{BASE}/Token"
RESOURCE_SERVER = ("demo-confidential", "demo-secret")
data = {"grant_type": "password", "username": "user@example.com", "password": "P@ssw0rd!"}
passed, failures = 0, []


def check(ok, what):
    global passed
    print(("PASS" if ok else "FAIL"), what)
    if ok:
        passed += 1
    else:
        failures.append(what)


get = requests.request("GET", url, headers={"Content-Type": "application/json"}, data=data)
check(get.status_code == 200 and get.json()["expires_in"] == 1209599, f"GET with a body: {get.status_code}")
first = get.json()["access_token"]

post = requests.post(url, data=data)
check(post.status_code == 200 and list(post.json())[:3] == ["access_token", "token_type", "expires_in"],
      f"POST: {post.status_code}")
second = post.json()["access_token"]
check(post.headers["Content-Type"] == "application/json;charset=UTF-8", "Katana's Content-Type")


def introspect(token):
    r = requests.post(f"{BASE}/oauth2/introspect", data={"token": token}, auth=RESOURCE_SERVER)
    assert r.status_code == 200, r.text
    return r.json()


check(introspect(first) == {"active": False}, "the first login's token was discarded by the second")
active = introspect(second)
check(active["active"] is True and active["username"] == "user@example.com", f"the second is active: {active}")
anonymous = requests.post(f"{BASE}/oauth2/introspect", data={"token": second})
check(anonymous.status_code == 401 and "active" not in anonymous.text, "no introspection without credentials")

bad = requests.post(url, data={**data, "password": "wrong"})
check(bad.status_code == 400 and bad.json() == {"error": "invalid_grant",
      "error_description": "The user name or password is incorrect."}, f"template error text: {bad.text}")
cc = requests.post(url, data={"grant_type": "client_credentials"})
check(cc.json() == {"error": "unauthorized_client"}, f"client_credentials: {cc.text}")

revoked = requests.post(f"{BASE}/oauth2/revoke", data={"token": second, "token_type_hint": "access_token"},
                        auth=RESOURCE_SERVER)
check(revoked.status_code == 200, f"revocation answered {revoked.status_code}")
check(introspect(second) == {"active": False}, "a revoked token introspects inactive")
unknown = requests.post(f"{BASE}/oauth2/revoke", data={"token": "never-issued"}, auth=RESOURCE_SERVER)
check(unknown.status_code == 200, "revoking an unknown token is 200 (RFC 7009)")

print(f"owin (python requests): {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)

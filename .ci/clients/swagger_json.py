"""A JSON client of the Swagger route (Python `requests`), as a .NET or JS client of the Web API
would call it: JSON body, JSON answer with every AccessTokenResponse member, in declaration order,
each with a value of its documented type. No request names a scope, so `scope` is the client's
default scopes.
Usage: python3 swagger_json.py [BASE_URL]"""
import sys

import requests

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
URL = f"{BASE}/api/v1/auth/token"
# AccessTokenResponse in declaration order, with each member's documented JSON type.
MEMBER_TYPES = {
    "access_token": str,
    "expires_in": int,
    "redirect_url": str,
    "ip": str,
    "is_editor": bool,
    "refresh_expires_in": int,
    "refresh_token": str,
    "token_type": str,
    "not_before_policy": int,
    "session_state": str,
    "scope": str,
}
MEMBERS = list(MEMBER_TYPES)
TYPE_NAMES = {str: "a non-empty string", int: "an integer (JSON number)", bool: "a bool"}
passed, failures = 0, []


def check(ok, what):
    global passed
    print(("PASS" if ok else "FAIL"), what)
    if ok:
        passed += 1
    else:
        failures.append(what)
    return ok


def has_type(value, kind):
    if kind is int:  # a JSON true/false is a Python bool, which is an int: not a number here
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str) and value != ""
    return isinstance(value, kind)


def show(value):
    text = repr(value)
    return text if len(text) <= 72 else text[:60] + f"... ({len(value)} chars)"


def answer(grant, resp):
    """The JSON object of a 200 answer, or {} after a FAIL naming the status and body."""
    ok = check(resp.status_code == 200, f"{grant}: HTTP 200, got {resp.status_code}"
               + ("" if resp.status_code == 200 else f" {resp.text[:200]!r}"))
    try:
        body = resp.json()
    except ValueError:
        check(False, f"{grant}: the body is JSON, got {resp.text[:160]!r}")
        return {}
    if not check(isinstance(body, dict), f"{grant}: the body is a JSON object, got {type(body).__name__}"):
        return {}
    return body if ok else {}


def typed_members(grant, token, except_members=()):
    """Every member but `except_members` is present and non-null with its documented type."""
    for name, kind in MEMBER_TYPES.items():
        if name in except_members:
            continue
        value = token.get(name, "<absent>")
        check(has_type(value, kind), f"{grant}: member {name!r} is {TYPE_NAMES[kind]}, got {show(value)}")


# --- password grant (demo-client) ------------------------------------------------------------
r = requests.post(URL, json={"grant_type": "password", "client_id": "demo-client", "username": "user@example.com",
                             "password": "P@ssw0rd!"})
check(r.headers.get("Content-Type") == "application/json; charset=utf-8",
      f"password: Content-Type 'application/json; charset=utf-8', got {r.headers.get('Content-Type')!r}")
token = answer("password", r)
check(list(token) == MEMBERS, f"password: members in declaration order, nulls present: {list(token)}")
typed_members("password", token)
for name in ("expires_in", "refresh_expires_in"):
    value = token.get(name)
    check(has_type(value, int) and value > 0, f"password: {name} > 0, got {value!r}")
check(token.get("is_editor") is True, f"password: is_editor is the user's attribute true, got {token.get('is_editor')!r}")
check(token.get("ip") == "127.0.0.1", f"password: ip is the caller's 127.0.0.1, got {token.get('ip')!r}")
# not_before_policy is the (user, client)'s marker: 0 unless a /Token login (single active token)
# for demo-client has set one, as the legacy clients run before this one do.
check(has_type(token.get("not_before_policy"), int) and token["not_before_policy"] >= 0,
      f"password: not_before_policy an epoch number >= 0, got {token.get('not_before_policy')!r}")

# --- refresh_token grant, with the password grant's refresh token ----------------------------
if has_type(token.get("refresh_token"), str):
    r2 = requests.post(URL, json={"grant_type": "refresh_token", "client_id": "demo-client",
                                  "refresh_token": token["refresh_token"]}, headers={"Accept": "application/json"})
    refreshed = answer("refresh_token", r2)
    check(list(refreshed) == MEMBERS, f"refresh_token: members in declaration order, nulls present: {list(refreshed)}")
    typed_members("refresh_token", refreshed)
    check(refreshed.get("session_state") == token["session_state"],
          f"refresh_token: keeps session_state {token.get('session_state')!r}, got {refreshed.get('session_state')!r}")
    check(refreshed.get("refresh_token") != token["refresh_token"],
          f"refresh_token: a new refresh_token (was {token['refresh_token']!r}), got {refreshed.get('refresh_token')!r}")
else:
    check(False, "refresh_token: not run, the password grant gave no refresh_token")


# --- client_credentials: no user, no refresh token --------------------------------------------
def client_credentials(label, request):
    grant = f"client_credentials ({label})"
    body = answer(grant, requests.post(URL, json=request))
    check(list(body) == MEMBERS, f"{grant}: members in declaration order, nulls present: {list(body)}")
    typed_members(grant, body, except_members=("is_editor", "refresh_token", "refresh_expires_in"))
    check(body.get("is_editor", "<absent>") is None,
          f"{grant}: member 'is_editor' is null (no user), got {body.get('is_editor', '<absent>')!r}")
    check(body.get("refresh_token", "<absent>") is None,
          f"{grant}: member 'refresh_token' is null (none issued), got {body.get('refresh_token', '<absent>')!r}")
    value = body.get("refresh_expires_in", "<absent>")
    check(has_type(value, int) and value == 0, f"{grant}: member 'refresh_expires_in' is the integer 0, got {value!r}")
    return body


body = client_credentials("demo-confidential", {"grant_type": "client_credentials", "client_id": "demo-confidential",
                                                "client_secret": "demo-secret"})
check(body.get("redirect_url") == "http://127.0.0.1:8080/callback",
      f"client_credentials (demo-confidential): redirect_url from the client's attribute, got {body.get('redirect_url')!r}")
client_credentials("demo-client", {"grant_type": "client_credentials", "client_id": "demo-client"})

# --- content negotiation and refusals --------------------------------------------------------
xml = requests.post(URL, json={"grant_type": "client_credentials", "client_id": "demo-client"},
                    headers={"Accept": "text/xml"})
check(xml.headers["Content-Type"] == "text/xml; charset=utf-8" and xml.text.startswith("<AccessTokenResponse "),
      "Accept: text/xml gets DataContract XML")

bad = requests.post(URL, json={"grant_type": "client_credentials", "client_id": "demo-confidential",
                               "client_secret": "wrong"})
check(bad.status_code == 401 and bad.json()["error"] == "invalid_client", f"wrong secret: {bad.status_code}")
get = requests.get(URL)
check(get.status_code == 405 and get.headers.get("Allow") == "POST" and "Message" in get.json(), "GET is 405")
plain = requests.post(URL, data="x", headers={"Content-Type": "text/plain"})
check(plain.status_code == 415, "text/plain is 415")

print(f"swagger (python requests, JSON): {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)

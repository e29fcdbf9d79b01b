"""requests-oauthlib against the VizSeek route: OAuth libraries send client_id in an
`Authorization: Basic` header with an empty secret, which the gateway must accept as Katana
providers did. An app token (BackendApplicationClient, client_credentials) carries a refresh
token that the library redeems. Usage: python3 vizseek_oauthlib.py [BASE_URL]"""
import hashlib
import os
import re
import sys

# The gateway under test listens on plain HTTP on loopback.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

from oauthlib.oauth2 import BackendApplicationClient, LegacyApplicationClient, OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
url = f"{BASE}/api/Token"
DASHED_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
passed, failures = 0, 0


def check(ok, what):
    global passed, failures
    print(("PASS" if ok else "FAIL"), what)
    if ok:
        passed += 1
    else:
        failures += 1
    return ok


def app_token_refreshes(label, session, token, **refresh_args):
    """The client_credentials answer in `token` carries a dashed-GUID refresh_token, and the
    library's refresh_token() redeems it for a new access token and a new refresh token."""
    old_refresh = token.get("refresh_token")
    if not check(isinstance(old_refresh, str) and bool(DASHED_GUID.match(old_refresh)),
                 f"client_credentials ({label}) via requests-oauthlib: refresh_token is a dashed GUID string, "
                 f"got {old_refresh!r}"):
        check(False, f"refresh_token from client_credentials ({label}) via requests-oauthlib: not redeemed, "
                     "the app token carried none")
        return
    try:
        refreshed = session.refresh_token(url, **refresh_args)
    except OAuth2Error as e:
        check(False, f"refresh_token from client_credentials ({label}) via requests-oauthlib: refused with "
                     f"{e.error!r} {e.description!r} (status {e.status_code})")
        return
    new_access = refreshed.get("access_token")
    check(isinstance(new_access, str) and new_access.count(".") == 2 and new_access != token["access_token"],
          f"refresh_token from client_credentials ({label}) via requests-oauthlib: a new JWT access_token, "
          f"got {new_access!r:.80}")
    # refresh_token() keeps the old refresh token when the answer has none: compare with it.
    new_refresh = refreshed.get("refresh_token")
    check(isinstance(new_refresh, str) and bool(DASHED_GUID.match(new_refresh)) and new_refresh != old_refresh,
          f"refresh_token from client_credentials ({label}) via requests-oauthlib: a new dashed-GUID "
          f"refresh_token (was {old_refresh!r}), got {new_refresh!r}")


# demo-client: client_id in Basic with an empty secret, as the library sends it.
app = OAuth2Session(client=BackendApplicationClient(client_id="demo-client"))
token = dict(app.fetch_token(token_url=url, client_id="demo-client"))
check(token["token_type"] == "bearer" and token["access_token"].count(".") == 2,
      f"client_credentials (demo-client) via requests-oauthlib: {sorted(token)}")
app_token_refreshes("demo-client", app, token, client_id="demo-client")

# demo-confidential: the library sends id and secret in Basic; the refresh authenticates the same way.
confidential = OAuth2Session(client=BackendApplicationClient(client_id="demo-confidential"))
token = dict(confidential.fetch_token(token_url=url, client_id="demo-confidential", client_secret="demo-secret"))
check(token["token_type"] == "bearer" and token["access_token"].count(".") == 2,
      f"client_credentials (demo-confidential, secret in Basic) via requests-oauthlib: {sorted(token)}")
app_token_refreshes("demo-confidential, secret in Basic", confidential, token,
                    auth=HTTPBasicAuth("demo-confidential", "demo-secret"))

user = OAuth2Session(client=LegacyApplicationClient(client_id="demo-client"))
sha1_hex = hashlib.sha1("P@ssw0rd!".encode("utf-8")).hexdigest()
token = dict(user.fetch_token(token_url=url, username="user@example.com", password=sha1_hex, client_id="demo-client"))
check("refresh_token" in token, f"password via requests-oauthlib: {sorted(token)}")

refreshed = user.refresh_token(url, client_id="demo-client")
check(refreshed["refresh_token"] != token["refresh_token"], "refresh via requests-oauthlib rotates the refresh token")

print(f"vizseek requests-oauthlib: {passed} passed, {failures} failed")
sys.exit(1 if failures else 0)

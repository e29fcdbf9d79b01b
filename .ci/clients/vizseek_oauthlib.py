"""requests-oauthlib against the VizSeek route: OAuth libraries send client_id in an
`Authorization: Basic` header with an empty secret, which the gateway must accept as Katana
providers did. Usage: python3 vizseek_oauthlib.py [BASE_URL]"""
import hashlib
import os
import sys

# The gateway under test listens on plain HTTP on loopback.
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

from oauthlib.oauth2 import BackendApplicationClient, LegacyApplicationClient
from requests_oauthlib import OAuth2Session

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
url = f"{BASE}/api/Token"
failures = 0

app = OAuth2Session(client=BackendApplicationClient(client_id="demo-client"))
token = app.fetch_token(token_url=url, client_id="demo-client")
ok = token["token_type"] == "bearer" and token["access_token"].count(".") == 2
print(("PASS" if ok else "FAIL"), "client_credentials via requests-oauthlib:", sorted(token))
failures += not ok

user = OAuth2Session(client=LegacyApplicationClient(client_id="demo-client"))
sha1_hex = hashlib.sha1("P@ssw0rd!".encode("utf-8")).hexdigest()
token = user.fetch_token(token_url=url, username="user@example.com", password=sha1_hex, client_id="demo-client")
ok = "refresh_token" in token
print(("PASS" if ok else "FAIL"), "password via requests-oauthlib:", sorted(token))
failures += not ok

refreshed = user.refresh_token(url, client_id="demo-client")
ok = refreshed["refresh_token"] != token["refresh_token"]
print(("PASS" if ok else "FAIL"), "refresh via requests-oauthlib rotates the refresh token")
failures += not ok

print(f"vizseek requests-oauthlib: {3 - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)

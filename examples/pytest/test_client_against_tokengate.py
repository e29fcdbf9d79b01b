"""What a client team tests against tokengate: retry on a forced 503, the exact error bytes of a
forced failure, token expiry by moving the clock, and what the client sent. Run by .ci/run with
a real `requests` client (urllib3's Retry adapter)."""

import hashlib

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

LOGIN = {"grant_type": "password", "username": "user@example.com", "password": "P@ssw0rd!"}


def test_a_client_with_a_retry_adapter_recovers_from_a_forced_503(tokengate):
    tokengate.fault("/Token", {"kind": "status", "status": 503, "body": "busy", "headers": {"Retry-After": "0"}})
    session = requests.Session()
    retry = Retry(total=2, status_forcelist=[503], allowed_methods=["POST"], backoff_factor=0)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    answer = session.post(tokengate.url("/Token"), data=LOGIN, timeout=10)
    assert answer.status_code == 200
    assert answer.json()["userName"] == "user@example.com"
    sent = tokengate.exchanges(route="/Token")
    assert [e["response"]["status"] for e in sent] == [503, 200]
    assert sent[0]["fault"] is not None and sent[1]["fault"] is None


def test_a_forced_invalid_grant_is_the_dialects_exact_bytes(tokengate):
    digest = hashlib.sha1(b"P@ssw0rd!").hexdigest()
    form = {"grant_type": "password", "client_id": "demo-client", "username": "user@example.com", "password": digest}
    real = requests.post(tokengate.url("/api/Token"), data=dict(form, password="0" * 40), timeout=10)
    tokengate.fault("/api/Token", {"kind": "error", "error": "authentication_failed"}, username="user@example.com")
    forced = requests.post(tokengate.url("/api/Token"), data=form, timeout=10)
    assert (forced.status_code, forced.content) == (real.status_code, real.content)
    assert forced.json()["error"] == "invalid_grant"
    assert forced.headers["Content-Type"] == real.headers["Content-Type"]
    assert requests.post(tokengate.url("/api/Token"), data=form, timeout=10).status_code == 200


def test_moving_the_clock_expires_the_token(tokengate):
    tokengate.control("PUT", "/clock", json={"now": "2031-03-01T08:00:00Z", "frozen": True})
    answer = requests.post(tokengate.url("/Token"), data=LOGIN, timeout=10).json()
    assert answer[".issued"] == "Sat, 01 Mar 2031 08:00:00 GMT"
    assert answer[".expires"] == "Sat, 15 Mar 2031 08:00:00 GMT"
    introspect = lambda: requests.post(
        tokengate.url("/oauth2/introspect"), auth=("demo-confidential", "demo-secret"),
        data={"token": answer["access_token"]}, timeout=10).json()["active"]
    assert introspect() is True
    tokengate.advance("+14d 1s")
    assert introspect() is False


def test_no_secret_reaches_the_capture_or_the_log(tokengate):
    digest = hashlib.sha1(b"P@ssw0rd!").hexdigest()
    answer = requests.post(
        tokengate.url("/api/Token"), auth=("demo-confidential", "demo-secret"),
        data={"grant_type": "password", "username": "user@example.com", "password": digest}, timeout=10).json()
    captured = str(tokengate.exchanges())
    log = tokengate.log.read_text()
    for secret in [digest, "demo-secret", "P@ssw0rd!", answer["access_token"], answer["refresh_token"]]:
        assert secret not in captured
        assert secret not in log

"""An independent JWT implementation (PyJWT) verifies the gateway's RS256 tokens with the keys
from its JWKS, found through its discovery document, and stops verifying them once the key is
retired.
Usage: python3 owin_jwks.py issue BASE_URL TOKEN_FILE   -> logs in, verifies, saves the token
       python3 owin_jwks.py retired BASE_URL TOKEN_FILE -> the saved token no longer verifies"""
import sys

import jwt
import requests

mode, base, token_file = sys.argv[1], sys.argv[2], sys.argv[3]
# As a resource server configured with the issuer's address only finds the keys: through the
# RFC 8414 / OpenID Connect discovery document.
metadata = requests.get(f"{base}/.well-known/openid-configuration")
metadata.raise_for_status()
metadata = metadata.json()
assert metadata["jwks_uri"] == f"{base}/.well-known/jwks.json", metadata
assert metadata["token_endpoint"] == f"{base}/Token", metadata
jwks = jwt.PyJWKClient(metadata["jwks_uri"], cache_keys=False)


def verify(token):
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256", "ES256"], options={"verify_aud": False})


if mode == "issue":
    r = requests.post(f"{base}/Token", data={"grant_type": "password", "username": "user@example.com",
                                             "password": "P@ssw0rd!"})
    r.raise_for_status()
    token = r.json()["access_token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256" and header["kid"] == "rs-current", header
    claims = verify(token)
    assert claims["sub"] == "614a1d03-873d-489e-9ab5-fb53b0a0c64f" and claims["role"] == "Administrator", claims
    open(token_file, "w").write(token)
    print("PASS PyJWT verifies an RS256 token with the published JWKS:", sorted(claims))
elif mode == "retired":
    token = open(token_file).read()
    kids = [k["kid"] for k in requests.get(f"{base}/.well-known/jwks.json").json()["keys"]]
    assert "rs-current" not in kids, kids
    try:
        verify(token)
    except jwt.exceptions.PyJWKClientError as e:
        print("PASS after retirement the key is gone from the JWKS and the token fails:", e)
    else:
        print("FAIL a token of a retired key still verifies")
        sys.exit(1)
    r = requests.post(f"{base}/Token", data={"grant_type": "password", "username": "user@example.com",
                                             "password": "P@ssw0rd!"})
    assert jwt.get_unverified_header(r.json()["access_token"])["kid"] == "es-next"
    verify(r.json()["access_token"])
    print("PASS new tokens are ES256 from the next key and verify")

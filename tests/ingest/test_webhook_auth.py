from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import jwt
import orjson
import pytest

from ingest.errors import AuthenticationError
from ingest.jwt_hs256 import ExpiredTokenError, InvalidTokenError, decode_hs256
from ingest.webhook_auth import JWT_LEEWAY_S, verify_app_jwt

SECRET = "client-secret-of-at-least-thirty-two-bytes"
KEY = SECRET.encode()
NOW = 1_700_000_000.0
CLAIMS: dict[str, Any] = {"iss": "cloud-1", "aud": "client-1", "iat": int(NOW),
                          "exp": int(NOW) + 300}


def _segment(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _forge(header: dict[str, Any], claims: dict[str, Any], key: bytes = KEY) -> str:
    """Sign ``header`` and ``claims`` by hand, so tokens PyJWT refuses to build can be tested."""
    signing_input = _segment(orjson.dumps(header)) + b"." + _segment(orjson.dumps(claims))
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _segment(signature)).decode()


def _decode(token: str) -> dict[str, Any]:
    return decode_hs256(token, KEY, leeway_s=JWT_LEEWAY_S, now_s=NOW)


def test_decode_accepts_pyjwt_token() -> None:
    token = jwt.encode(CLAIMS, SECRET, algorithm="HS256")

    assert _decode(token) == CLAIMS


def test_decode_accepts_padded_signature() -> None:
    # The header and payload are signed as written, so only the signature can gain padding.
    token = jwt.encode(CLAIMS, SECRET, algorithm="HS256")
    signature = token.rsplit(".", 1)[1]

    assert _decode(token + "=" * (-len(signature) % 4)) == CLAIMS


def test_decode_rejects_other_key() -> None:
    token = jwt.encode(CLAIMS, SECRET + "-other", algorithm="HS256")

    with pytest.raises(InvalidTokenError, match="signature does not verify"):
        _decode(token)


def test_decode_rejects_changed_payload() -> None:
    header, _, signature = jwt.encode(CLAIMS, SECRET, algorithm="HS256").split(".")
    payload = _segment(orjson.dumps({**CLAIMS, "iss": "cloud-2"})).decode()

    with pytest.raises(InvalidTokenError, match="signature does not verify"):
        _decode(f"{header}.{payload}.{signature}")


@pytest.mark.parametrize("algorithm", ["none", "HS512", "RS256", None])
def test_decode_rejects_algorithm(algorithm: str | None) -> None:
    token = _forge({"alg": algorithm, "typ": "JWT"}, CLAIMS)

    with pytest.raises(InvalidTokenError, match="alg"):
        _decode(token)


def test_decode_rejects_unsigned_token() -> None:
    header = _segment(orjson.dumps({"alg": "none"})).decode()
    payload = _segment(orjson.dumps(CLAIMS)).decode()

    with pytest.raises(InvalidTokenError, match="alg 'none'"):
        _decode(f"{header}.{payload}.")


def test_decode_rejects_critical_header() -> None:
    token = _forge({"alg": "HS256", "crit": ["exp"], "exp": 1}, CLAIMS)

    with pytest.raises(InvalidTokenError, match="critical"):
        _decode(token)


def test_decode_rejects_numeric_kid() -> None:
    token = _forge({"alg": "HS256", "kid": 7}, CLAIMS)

    with pytest.raises(InvalidTokenError, match="kid"):
        _decode(token)


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "e30.e30.!!!!", "e30.e30.abcde"])
def test_decode_rejects_malformed(token: str) -> None:
    with pytest.raises(InvalidTokenError):
        _decode(token)


def test_decode_rejects_non_object_header() -> None:
    token = _segment(b"[1]").decode() + ".e30.AAAA"

    with pytest.raises(InvalidTokenError, match="header is a JSON list"):
        _decode(token)


def test_decode_rejects_non_object_payload() -> None:
    header = _segment(orjson.dumps({"alg": "HS256"}))
    signing_input = header + b"." + _segment(b"[1, 2]")
    signature = _segment(hmac.new(KEY, signing_input, hashlib.sha256).digest())

    with pytest.raises(InvalidTokenError, match="payload is a JSON list"):
        _decode((signing_input + b"." + signature).decode())


def test_decode_rejects_expired() -> None:
    token = _forge({"alg": "HS256"}, {**CLAIMS, "exp": int(NOW) - JWT_LEEWAY_S})

    with pytest.raises(ExpiredTokenError):
        _decode(token)


def test_decode_accepts_expiry_within_leeway() -> None:
    claims = {**CLAIMS, "exp": int(NOW) - JWT_LEEWAY_S + 1}

    assert _decode(_forge({"alg": "HS256"}, claims)) == claims


@pytest.mark.parametrize("name", ["iat", "nbf"])
def test_decode_rejects_future(name: str) -> None:
    token = _forge({"alg": "HS256"}, {**CLAIMS, name: int(NOW) + JWT_LEEWAY_S + 1})

    with pytest.raises(InvalidTokenError, match=r"future|not valid before"):
        _decode(token)


@pytest.mark.parametrize("name", ["iat", "nbf"])
def test_decode_accepts_future_within_leeway(name: str) -> None:
    claims = {**CLAIMS, name: int(NOW) + JWT_LEEWAY_S}

    assert _decode(_forge({"alg": "HS256"}, claims)) == claims


@pytest.mark.parametrize("value", ["1700000300", True, None, [1]])
@pytest.mark.parametrize("name", ["exp", "iat", "nbf"])
def test_decode_rejects_non_numeric_time(name: str, value: Any) -> None:
    token = _forge({"alg": "HS256"}, {**CLAIMS, name: value})

    with pytest.raises(InvalidTokenError, match=f"{name} claim"):
        _decode(token)


@pytest.mark.parametrize("name", ["sub", "jti"])
def test_decode_rejects_non_string_claim(name: str) -> None:
    token = _forge({"alg": "HS256"}, {**CLAIMS, name: 5})

    with pytest.raises(InvalidTokenError, match=f"{name} claim"):
        _decode(token)


def test_decode_accepts_token_without_times() -> None:
    claims = {"iss": "cloud-1"}

    assert _decode(_forge({"alg": "HS256"}, claims)) == claims


@pytest.mark.parametrize("claims", [
    CLAIMS,
    {**CLAIMS, "exp": int(NOW) - JWT_LEEWAY_S},
    {**CLAIMS, "exp": int(NOW) - JWT_LEEWAY_S + 1},
    {**CLAIMS, "iat": int(NOW) + JWT_LEEWAY_S + 1},
    {**CLAIMS, "nbf": int(NOW) + JWT_LEEWAY_S},
    {**CLAIMS, "exp": float(NOW) + 0.5},
    {**CLAIMS, "sub": "account-1", "jti": "j-1"},
])
def test_decode_agrees_with_pyjwt(claims: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    monkeypatch.setattr("jwt.api_jwt.datetime", _FixedDatetime)

    try:
        expected: dict[str, Any] | None = jwt.decode(
            token, SECRET, algorithms=["HS256"], leeway=JWT_LEEWAY_S,
            options={"verify_aud": False},
        )
    except jwt.InvalidTokenError:
        expected = None
    try:
        actual: dict[str, Any] | None = _decode(token)
    except InvalidTokenError:
        actual = None

    assert actual == expected


class _FixedDatetime:
    """Stands in for ``datetime`` inside PyJWT, so its clock reads ``NOW``."""

    @staticmethod
    def now(tz: Any = None) -> Any:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(NOW, UTC)


def test_verify_maps_expiry() -> None:
    token = jwt.encode({**CLAIMS, "exp": int(NOW) - 3600}, SECRET, algorithm="HS256")

    with pytest.raises(AuthenticationError, match="has expired"):
        verify_app_jwt(f"Bearer {token}", client_id="client-1", client_secret=SECRET,
                       cloud_id="cloud-1", clock=lambda: NOW)


def test_verify_rejects_other_audience() -> None:
    token = jwt.encode({**CLAIMS, "aud": "client-2"}, SECRET, algorithm="HS256")

    with pytest.raises(AuthenticationError, match="audience"):
        verify_app_jwt(f"Bearer {token}", client_id="client-1", client_secret=SECRET,
                       cloud_id="cloud-1", clock=lambda: NOW)


def test_verify_accepts_audience_list() -> None:
    token = jwt.encode({**CLAIMS, "aud": ["client-0", "client-1"]}, SECRET, algorithm="HS256")

    verify_app_jwt(f"Bearer {token}", client_id="client-1", client_secret=SECRET,
                   cloud_id="cloud-1", clock=lambda: NOW)


def test_verify_rejects_other_issuer() -> None:
    token = jwt.encode(CLAIMS, SECRET, algorithm="HS256")

    with pytest.raises(AuthenticationError, match="issuer"):
        verify_app_jwt(f"Bearer {token}", client_id="client-1", client_secret=SECRET,
                       cloud_id="cloud-2", clock=lambda: NOW)


def test_verify_rejects_basic_scheme() -> None:
    with pytest.raises(AuthenticationError, match="not Bearer"):
        verify_app_jwt("Basic abc", client_id="client-1", client_secret=SECRET,
                       cloud_id="cloud-1", clock=lambda: NOW)

"""ID tokens for the API and Firestore.

Local users get unsigned tokens (``alg: none``, the claims of a Firebase ID token, as
``dev/tokens.py`` makes them): the emulators accept them, a real project never does.

A real project signs in with Firebase Authentication's REST API (email and password sign-in must
be enabled for the project): ``accounts:signInWithPassword`` returns an ID token (1 h) and a
refresh token, and ``securetoken`` exchanges the refresh token for fresh ID tokens. With
``FIREBASE_AUTH_EMULATOR_HOST`` set, the same calls go to the Auth emulator.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass

import httpx

from qgen_cli.config import Profile

IDENTITY_TOOLKIT = "https://identitytoolkit.googleapis.com/v1"
SECURE_TOKEN = "https://securetoken.googleapis.com/v1"  # noqa: S105 - a URL


class AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def local_id_token(uid: str, *, project_id: str, lifetime_seconds: int = 3600) -> str:
    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{project_id}",
        "aud": project_id,
        "sub": uid,
        "user_id": uid,
        "auth_time": now,
        "iat": now,
        "exp": now + lifetime_seconds,
        "firebase": {"identities": {}, "sign_in_provider": "custom"},
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _endpoints() -> tuple[str, str]:
    emulator = os.environ.get("FIREBASE_AUTH_EMULATOR_HOST")
    if emulator:
        base = f"http://{emulator}"
        return f"{base}/identitytoolkit.googleapis.com/v1", f"{base}/securetoken.googleapis.com/v1"
    return IDENTITY_TOOLKIT, SECURE_TOKEN


def _post(url: str, api_key: str, **kwargs: object) -> dict[str, str]:
    try:
        response = httpx.post(url, params={"key": api_key}, timeout=30, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        raise AuthError("NETWORK", f"cannot reach Firebase Authentication: {exc}") from exc
    body = response.json() if response.content else {}
    if response.status_code != 200:
        message = body.get("error", {}).get("message", f"HTTP {response.status_code}")
        raise AuthError("SIGN_IN_FAILED", str(message))
    return dict(body)


@dataclass
class SignedIn:
    uid: str
    id_token: str
    refresh_token: str
    expires_in: int


def sign_in_with_password(api_key: str, email: str, password: str) -> SignedIn:
    identity, _ = _endpoints()
    body = _post(
        f"{identity}/accounts:signInWithPassword",
        api_key,
        json={"email": email, "password": password, "returnSecureToken": True},
    )
    return SignedIn(body["localId"], body["idToken"], body["refreshToken"], int(body["expiresIn"]))


def refresh(api_key: str, refresh_token: str) -> SignedIn:
    _, secure = _endpoints()
    body = _post(
        f"{secure}/token",
        api_key,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )
    return SignedIn(
        body["user_id"], body["id_token"], body["refresh_token"], int(body["expires_in"])
    )


class TokenSource:
    """A valid ID token for the profile, refreshed a minute before it expires."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        return self.token_with_expiry()[0]

    def token_with_expiry(self) -> tuple[str, float]:
        """The token and when it expires (seconds since the epoch)."""
        with self._lock:
            if self._token is None or time.time() > self._expires_at - 60:
                self._token, lifetime = self._fetch()
                self._expires_at = time.time() + lifetime
            return self._token, self._expires_at

    def _fetch(self) -> tuple[str, int]:
        p = self.profile
        if p.mode == "local":
            return local_id_token(p.uid, project_id=p.project_id), 3600
        if not (p.api_key and p.refresh_token):
            raise AuthError("UNAUTHENTICATED", "the saved sign-in is incomplete; sign in again")
        signed = refresh(p.api_key, p.refresh_token)
        return signed.id_token, signed.expires_in

"""Firebase ID token verification (firebase-admin).

With FIREBASE_AUTH_EMULATOR_HOST set, firebase-admin accepts unsigned tokens: the local stack
and the tests act as any user that way. Without it, tokens must carry a valid RS256 signature
from Google's securetoken keys, the project as audience and issuer, and must not be expired.
"""

from __future__ import annotations

import threading

import firebase_admin
from firebase_admin import auth as firebase_auth
from firebase_admin import credentials as firebase_credentials
from google.auth.credentials import AnonymousCredentials, Credentials

from ..domain.errors import DomainError, ErrorCode

_APP_NAME = "qgen"
# Seconds one download of Google's public keys may take (firebase-admin's default is 120).
_CERT_FETCH_TIMEOUT_SECONDS = 5
_lock = threading.Lock()


class _NoCredentials(firebase_credentials.Base):  # type: ignore[misc]  # untyped base
    """Verifying ID tokens calls no Google API, so the app needs no identity at all.

    With the default (Application Default Credentials) firebase-admin loads ADC before the
    first verification, probing the metadata server and failing where there are none.
    """

    def get_credential(self) -> Credentials:
        return AnonymousCredentials()  # type: ignore[no-untyped-call]


def _app(project_id: str) -> firebase_admin.App:
    with _lock:
        try:
            return firebase_admin.get_app(_APP_NAME)
        except ValueError:
            # Verifying ID tokens needs only the project id: no credentials of any kind.
            return firebase_admin.initialize_app(
                _NoCredentials(),
                options={"projectId": project_id, "httpTimeout": _CERT_FETCH_TIMEOUT_SECONDS},
                name=_APP_NAME,
            )


def _unauthenticated(message: str) -> DomainError:
    return DomainError(ErrorCode.UNAUTHENTICATED, message)


def bearer_token(authorization_header: str | None) -> str:
    scheme, _, token = (authorization_header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("Sign in first: send 'Authorization: Bearer <Firebase ID token>'.")
    return token.strip()


def verify_user(authorization_header: str | None, *, project_id: str) -> str:
    """Return the caller's uid, or raise UNAUTHENTICATED / AUTH_UNAVAILABLE."""
    token = bearer_token(authorization_header)
    try:
        claims = firebase_auth.verify_id_token(token, app=_app(project_id))
    except firebase_auth.ExpiredIdTokenError as exc:
        raise _unauthenticated("Your sign-in has expired; sign in again.") from exc
    except firebase_auth.CertificateFetchError as exc:
        raise DomainError(
            ErrorCode.AUTH_UNAVAILABLE,
            "Sign-in could not be checked right now; try again shortly.",
            retry_after_seconds=5,
        ) from exc
    except (ValueError, firebase_auth.InvalidIdTokenError) as exc:
        raise _unauthenticated("The sign-in token is not valid; sign in again.") from exc
    uid = claims.get("uid")
    if not isinstance(uid, str) or not uid:
        raise _unauthenticated("The sign-in token names no user.")
    return uid

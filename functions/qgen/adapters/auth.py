"""Firebase ID token verification (firebase-admin).

With FIREBASE_AUTH_EMULATOR_HOST set, firebase-admin accepts unsigned tokens: the local stack
and the tests act as any user that way. Without it, tokens must carry a valid RS256 signature
from Google's securetoken keys, the project as audience and issuer, and must not be expired.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

import firebase_admin
from firebase_admin import auth as firebase_auth
from firebase_admin import credentials as firebase_credentials
from firebase_admin import exceptions as firebase_exceptions
from google.auth.credentials import AnonymousCredentials, Credentials

from ..domain.errors import DomainError, ErrorCode

_APP_NAME = "qgen"
# The revocation check calls the Auth API (accounts:lookup), which needs an identity: this app
# uses Application Default Credentials (on Cloud Functions, the runtime service account).
_ADMIN_APP_NAME = "qgen-admin"
# Seconds one download of Google's public keys (or one user lookup) may take (firebase-admin's
# default is 120).
_CERT_FETCH_TIMEOUT_SECONDS = 5
# Firebase Auth's own limit on a uid; firebase-admin refuses a longer "sub" as an invalid token.
_MAX_UID_CHARACTERS = 128
# Firestore refuses these as document ids: "." and "..", "/", __.*__ (reserved), > 1500 bytes.
_RESERVED_ID = re.compile(r"__.*__", re.DOTALL)
_MAX_ID_BYTES = 1500
_lock = threading.Lock()

Claims = Mapping[str, Any]


class _NoCredentials(firebase_credentials.Base):  # type: ignore[misc]  # untyped base
    """Verifying ID tokens calls no Google API, so the app needs no identity at all.

    With the default (Application Default Credentials) firebase-admin loads ADC before the
    first verification, probing the metadata server and failing where there are none.
    """

    def get_credential(self) -> Credentials:
        return AnonymousCredentials()  # type: ignore[no-untyped-call]


def _app(project_id: str, *, check_revoked: bool = False) -> firebase_admin.App:
    name = _ADMIN_APP_NAME if check_revoked else _APP_NAME
    with _lock:
        try:
            return firebase_admin.get_app(name)
        except ValueError:
            # Verifying ID tokens needs only the project id; looking users up needs ADC (loaded
            # lazily; with the Auth emulator firebase-admin uses its own fake credentials).
            credential = (
                firebase_credentials.ApplicationDefault() if check_revoked else _NoCredentials()
            )
            return firebase_admin.initialize_app(
                credential,
                options={"projectId": project_id, "httpTimeout": _CERT_FETCH_TIMEOUT_SECONDS},
                name=name,
            )


def _unauthenticated(message: str, reason: str | None = None) -> DomainError:
    return DomainError(
        ErrorCode.UNAUTHENTICATED, message, details={"reason": reason} if reason else None
    )


def _unavailable() -> DomainError:
    return DomainError(
        ErrorCode.AUTH_UNAVAILABLE,
        "Sign-in could not be checked right now; try again shortly.",
        retry_after_seconds=5,
    )


def bearer_token(authorization_header: str | None) -> str:
    scheme, _, token = (authorization_header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("Sign in first: send 'Authorization: Bearer <Firebase ID token>'.")
    return token.strip()


def verify_user(
    authorization_header: str | None, *, project_id: str, check_revoked: bool = False
) -> str:
    """Return the caller's uid, or raise UNAUTHENTICATED / PERMISSION_DENIED / AUTH_UNAVAILABLE."""
    token = bearer_token(authorization_header)
    app = _app(project_id, check_revoked=check_revoked)
    claims = verified_claims(
        lambda: firebase_auth.verify_id_token(token, app=app, check_revoked=check_revoked)
    )
    return usable_uid(claims.get("uid"))


def verified_claims(verify: Callable[[], Claims]) -> Claims:
    """The claims `verify` returns, its failures as stable codes (revoked and disabled users
    get their own `details.reason`)."""
    try:
        return verify()
    except firebase_auth.ExpiredIdTokenError as exc:
        raise _unauthenticated("Your sign-in has expired; sign in again.") from exc
    except firebase_auth.RevokedIdTokenError as exc:
        raise _unauthenticated("Your sign-in was revoked; sign in again.", "TOKEN_REVOKED") from exc
    except firebase_auth.UserDisabledError as exc:
        raise _unauthenticated("This account is disabled.", "USER_DISABLED") from exc
    except firebase_auth.UserNotFoundError as exc:
        raise _unauthenticated("This account no longer exists.", "USER_NOT_FOUND") from exc
    except (ValueError, firebase_auth.InvalidIdTokenError) as exc:
        raise _unauthenticated("The sign-in token is not valid; sign in again.") from exc
    except firebase_exceptions.FirebaseError as exc:
        # Google's keys could not be fetched, or the user lookup failed (network, quota, or a
        # missing IAM grant for the revocation check): not the caller's fault.
        raise _unavailable() from exc


def is_document_id(value: str) -> bool:
    """Whether Firestore accepts `value` as a document id."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return (
        0 < size <= _MAX_ID_BYTES
        and value not in (".", "..")
        and "/" not in value
        and not _RESERVED_ID.fullmatch(value)
    )


def usable_uid(uid: object) -> str:
    """`uid` if this service can store it: a Firestore document id of at most 128 characters
    without control characters; else 403, whatever Firebase Auth accepted."""
    if not isinstance(uid, str) or not uid:
        raise _unauthenticated("The sign-in token names no user.")
    printable = not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in uid)
    if len(uid) > _MAX_UID_CHARACTERS or not printable or not is_document_id(uid):
        raise DomainError(
            ErrorCode.PERMISSION_DENIED,
            "This account's user id cannot be used with this service; contact support.",
            details={"reason": "UNSUPPORTED_USER_ID"},
        )
    return uid

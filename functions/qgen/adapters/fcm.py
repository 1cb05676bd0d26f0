"""The Notifier on Firebase Cloud Messaging (firebase-admin's HTTP v1 client).

One message per device, sent together (`send_each`). The job id is the notification's tag
(web, Android) and collapse id (APNs): a resend after a crash replaces the first notification
on the device instead of showing a second. On Cloud Functions the messaging app's identity is
the runtime service account (Application Default Credentials).
"""

from __future__ import annotations

import logging
import threading

import firebase_admin
from firebase_admin import credentials as firebase_credentials
from firebase_admin import exceptions as firebase_exceptions
from firebase_admin import messaging

from ..domain.notifications import Notification, SendReport, TokenResult

_APP_NAME = "qgen-messaging"
# The SDK itself retries a 500 or 503 up to four times (7.5 s of backoff) within this.
_TIMEOUT_SECONDS = 10
# FCM's answers that say the token will never work again: prune the device.
_DEAD_TOKEN = (messaging.UnregisteredError, messaging.SenderIdMismatchError)
_lock = threading.Lock()
log = logging.getLogger(__name__)


def messaging_app(
    project_id: str,
    credential: firebase_credentials.Base | None = None,
    *,
    name: str = _APP_NAME,
) -> firebase_admin.App:
    """The process's messaging app, made on first use; ``name`` apart, for a test that needs
    its own credential whatever app an earlier test made."""
    with _lock:
        try:
            return firebase_admin.get_app(name)
        except ValueError:
            return firebase_admin.initialize_app(
                credential or firebase_credentials.ApplicationDefault(),
                options={"projectId": project_id, "httpTimeout": _TIMEOUT_SECONDS},
                name=name,
            )


def message(notification: Notification, token: str) -> messaging.Message:
    tag = notification.job_id
    return messaging.Message(
        token=token,
        notification=messaging.Notification(title=notification.title, body=notification.body),
        data={"jobId": notification.job_id, "status": notification.status.value},
        android=messaging.AndroidConfig(
            collapse_key=tag, notification=messaging.AndroidNotification(tag=tag)
        ),
        apns=messaging.APNSConfig(headers={"apns-collapse-id": tag}),
        webpush=messaging.WebpushConfig(notification=messaging.WebpushNotification(tag=tag)),
    )


class FcmNotifier:
    def __init__(self, app: firebase_admin.App) -> None:
        self._app = app

    def warm(self) -> None:
        """Fetch the first access token now, off any job's path: the first notification of
        an instance would otherwise wait for it (Application Default Credentials; locally a
        key's OAuth2 grant). A failure here is only logged: the send fetches it again."""
        try:
            self._app.credential.get_access_token()
        except Exception:  # a warm-up never stops the instance
            log.warning("FCM credentials not available yet", exc_info=True)

    def send(self, notification: Notification, tokens: dict[str, str]) -> SendReport:
        devices = list(tokens)
        try:
            batch = messaging.send_each(
                [message(notification, tokens[d]) for d in devices], app=self._app
            )
        except Exception as exc:  # credentials, transport: every device is retried later
            return SendReport({d: TokenResult.FAILED for d in devices}, _describe(exc))
        results: dict[str, TokenResult] = {}
        error: str | None = None
        for device, response in zip(devices, batch.responses, strict=True):
            results[device] = _result(response.exception)
            if response.exception is not None and error is None:
                error = _describe(response.exception)
        return SendReport(results, error)


def _result(exc: Exception | None) -> TokenResult:
    if exc is None:
        return TokenResult.SENT
    if isinstance(exc, _DEAD_TOKEN):
        return TokenResult.UNREGISTERED
    if isinstance(exc, firebase_exceptions.InvalidArgumentError):
        return TokenResult.REJECTED
    return TokenResult.FAILED


def _describe(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}{f' ({code})' if code else ''}: {exc}"[:300]

"""The OpenAPI paths of a learner's devices and notification switch."""

from __future__ import annotations

from typing import Any

from .openapi_parts import BEARER, COMMON, errors, json_content, ref

_DEVICES = "The learner's devices (tokens are not echoed) and the notification switch."


_DEVICE_ID = {"name": "deviceId", "in": "path", "required": True, "schema": {"type": "string"}}


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


def device_paths() -> dict[str, Any]:
    bad_body = ("INVALID_ARGUMENT", "PAYLOAD_TOO_LARGE", "UNSUPPORTED_MEDIA_TYPE")
    return {
        "/devices": {
            "get": {
                "operationId": "listDevices",
                "summary": "The caller's registered devices.",
                "security": BEARER,
                "responses": {"200": json_content(ref("DevicesView"), _DEVICES), **errors(*COMMON)},
            },
            "post": {
                "operationId": "registerDevice",
                "summary": "Register a device's FCM token for notifications when a job ends "
                "(a few per learner; the oldest goes past the cap).",
                "security": BEARER,
                "requestBody": _body("RegisterDeviceRequest"),
                "responses": {
                    "201": json_content(ref("DevicesView"), _DEVICES),
                    **errors(*COMMON, *bad_body),
                },
            },
        },
        "/devices/{deviceId}": {
            "delete": {
                "operationId": "removeDevice",
                "summary": "Stop notifying a device (idempotent).",
                "security": BEARER,
                "parameters": [_DEVICE_ID],
                # NOT_FOUND: no route has the path (functions-framework routes no path with a
                # line break in it); any id that does reach the API is removed or ignored.
                "responses": {
                    "200": json_content(ref("DevicesView"), _DEVICES),
                    **errors(*COMMON, "NOT_FOUND"),
                },
            }
        },
        "/notification-settings": {
            "put": {
                "operationId": "setNotifications",
                "summary": "Switch the caller's notifications on or off.",
                "security": BEARER,
                "requestBody": _body("NotificationSettingsRequest"),
                "responses": {
                    "200": json_content(ref("DevicesView"), _DEVICES),
                    **errors(*COMMON, *bad_body),
                },
            }
        },
    }

"""A small client for the admin API (tests, benchmarks, the local stack)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class AdminError(RuntimeError):
    pass


class AdminClient:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, payload: object = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - the base URL is the caller's loopback
            f"{self.base_url}/_admin/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AdminError(f"{method} /_admin/{path}: {exc.code} {exc.read().decode()}") from exc

    def healthy(self) -> bool:
        try:
            return bool(self._call("GET", "health")["status"] == "ok")
        except (OSError, AdminError):
            return False

    def add_faults(self, *faults: dict[str, Any]) -> list[dict[str, Any]]:
        """Queue faults (consumed in order, one per matching model request)."""
        result: list[dict[str, Any]] = self._call("POST", "faults", list(faults))["pending"]
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    def pending_faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "faults")["pending"]
        return result

    def stats(self) -> dict[str, int]:
        result: dict[str, int] = self._call("GET", "stats")
        return result

    def events(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "events")
        return result

    def requests(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "requests")
        return result

    def config(self, **changes: Any) -> dict[str, Any]:
        """Read the settings, or change some (paceMs, firstChunkMs, questionMs, finalEvent,
        seed)."""
        if changes:
            result: dict[str, Any] = self._call("POST", "config", changes)
        else:
            result = self._call("GET", "config")
        return result

    def decks(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "decks")
        return result

    def reset(self) -> None:
        self._call("POST", "reset", {})

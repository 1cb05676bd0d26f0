"""Unsigned Firebase ID tokens for local users.

The Firestore emulator and firebase-admin (with FIREBASE_AUTH_EMULATOR_HOST set) accept tokens
with ``alg: none``; production never does. This is how the CLI, the tests and the benchmark
act as any user without a real sign-in.
"""

from __future__ import annotations

import base64
import json
import time


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def emulator_id_token(uid: str, *, project_id: str, lifetime_seconds: int = 3600) -> str:
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


def main() -> None:
    """Print a local ID token: `python -m dev.tokens alice [project-id]`."""
    import sys

    uid = sys.argv[1] if len(sys.argv) > 1 else "local-user"
    project_id = sys.argv[2] if len(sys.argv) > 2 else "demo-qgen"
    print(emulator_id_token(uid, project_id=project_id))


if __name__ == "__main__":
    main()

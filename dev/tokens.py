"""Unsigned Firebase ID tokens for local users.

The Firestore emulator and firebase-admin (with FIREBASE_AUTH_EMULATOR_HOST set) accept tokens
with ``alg: none``; production never does. This is how the CLI, the tests and the benchmark
act as any user without a real sign-in.
"""

from __future__ import annotations

# One implementation, shared with the `qgen` CLI (which is installed with the project).
from qgen_cli.auth import local_id_token as emulator_id_token

__all__ = ["emulator_id_token"]


def main() -> None:
    """Print a local ID token: `python -m dev.tokens alice [project-id]`."""
    import sys

    uid = sys.argv[1] if len(sys.argv) > 1 else "local-user"
    project_id = sys.argv[2] if len(sys.argv) > 2 else "demo-qgen"
    print(emulator_id_token(uid, project_id=project_id))


if __name__ == "__main__":
    main()

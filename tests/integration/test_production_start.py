"""Importing functions/main.py in a fresh interpreter, as an instance does when it starts.

Slow (a new Python per case), so it lives with the integration tests; the checks themselves
are unit-tested in tests/unit/test_production_safety.py.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from qgen.config import Settings

from tests.unit.test_production_safety import PRODUCTION, ROOT

pytestmark = pytest.mark.integration


def _import_main(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Import functions/main.py in a fresh interpreter, as an instance does when it starts."""
    clean = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    clean.pop("GOOGLE_CLOUD_PROJECT", None)
    return subprocess.run(
        [sys.executable, "-c", "import main"],
        cwd=ROOT / "functions",
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unsafe_production_instance_fails_to_start() -> None:
    env = {name.upper(): value for name, value in PRODUCTION.items()}
    assert _import_main(env).returncode == 0, "a complete configuration starts"
    emulator = _import_main({**env, "FIRESTORE_EMULATOR_HOST": "127.0.0.1:8180"})
    assert emulator.returncode != 0
    assert "UnsafeProductionConfigError" in emulator.stderr
    assert "FIRESTORE_EMULATOR_HOST is set" in emulator.stderr
    # FUNCTION_TARGET (set by Cloud Functions) adds what that function needs.
    cleanup = _import_main({**env, "CLEANUP_URL": "", "FUNCTION_TARGET": "cleanup_jobs"})
    assert cleanup.returncode != 0
    assert "CLEANUP_URL must be a public https URL" in cleanup.stderr
    assert _import_main({**env, "CLEANUP_URL": "", "FUNCTION_TARGET": "api"}).returncode == 0
    # Outside production the same import succeeds with every local setting.
    local = _import_main({"FIRESTORE_EMULATOR_HOST": "127.0.0.1:8180"})
    assert local.returncode == 0, local.stderr

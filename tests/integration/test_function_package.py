"""The source zip Terraform uploads installs and starts on its own, as Cloud Build and Cloud Run
will run it.

Once per test session: the zip is built from functions/ exactly as infra/source.tf's
archive_file builds it (tests/support/function_package.py reads source_dir, excludes and file
mode from the .tf), unzipped into a temporary directory, and its requirements.txt installed
from PyPI into a fresh Python 3.11 virtualenv, without the repository or its .venv on the path.
Then, in that virtualenv, with the package directory as the working directory:

- `import main` with no production settings: the three entry points exist and are
  functions-framework HTTP functions, and everything imports from the package;
- each function's app is created the way the platform does it (functions_framework.create_app
  with FUNCTION_TARGET), in production mode with the environment Terraform gives that function
  (values decided at deploy time stand in), so the production start checks
  (qgen/wiring.py production_problems) run and must pass;
- the pinned functions-framework sizes its gunicorn threads from THREADS (infra/locals.tf);
- `pip check`: the pins are consistent.

Slow for a unit test: creating the virtualenv and installing the pins took 35 to 40 s here
(warm or cold pip cache), the whole module under a minute. Needs PyPI (or pip's configured
index). Alone: `pytest tests/integration/test_function_package.py`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.function_package import build_zip, package_files

ENTRY_POINTS = ("api", "process_job", "cleanup_jobs")
INSTALL_TIMEOUT = 1500


@dataclass(frozen=True)
class InstalledPackage:
    directory: Path  # the unzipped source, the functions' working directory
    python: Path  # the virtualenv's interpreter
    install_seconds: float


def _python311() -> str:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if found is None:
        pytest.skip("no Python 3.11 to build the functions' virtualenv with")
    return found


def _clean_env(**extra: str) -> dict[str, str]:
    """A minimal environment: nothing of the test session's (no PYTHONPATH, no emulator hosts,
    no QGEN_* settings) leaks into the package's process."""
    env = {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "TMPDIR") if name in os.environ
    }
    # pip's own configuration (an index mirror, a proxy) still applies to the install.
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def installed_package(tmp_path_factory: pytest.TempPathFactory) -> InstalledPackage:
    root = tmp_path_factory.mktemp("function-package")
    archive = build_zip(root / "functions-source.zip")
    directory = root / "source"
    with zipfile.ZipFile(archive) as unzipped:
        unzipped.extractall(directory)
    venv = root / "venv"
    started = time.monotonic()
    subprocess.run(
        [_python311(), "-m", "venv", str(venv)], check=True, timeout=300, env=_clean_env()
    )
    python = venv / "bin" / "python"
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-input",
            "-r",
            "requirements.txt",
        ],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
        env=_clean_env(),
    )
    assert install.returncode == 0, f"pip install -r requirements.txt failed:\n{install.stderr}"
    seconds = time.monotonic() - started
    print(f"\nfunction package: venv + pip install took {seconds:.0f} s")
    return InstalledPackage(directory, python, seconds)


def _run(package: InstalledPackage, script: str, *args: str, **env: str) -> dict[str, object]:
    """Run `script` (with `args`) by the package's interpreter in the package directory; it
    prints JSON."""
    result = subprocess.run(
        [str(package.python), "-I", "-c", script, *args],
        cwd=package.directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_clean_env(**env),
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# `-I` (isolated) leaves the working directory off sys.path; the platform's functions-framework
# loads main.py by path and the package directory is where qgen is found, as here.
_PRELUDE = "import sys, os, json; sys.path.insert(0, os.getcwd())\n"


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_the_zip_is_what_terraform_uploads(installed_package: InstalledPackage) -> None:
    unpacked = sorted(
        p.relative_to(installed_package.directory).as_posix()
        for p in installed_package.directory.rglob("*")
        if p.is_file()
    )
    assert unpacked == sorted(name for name, _ in package_files())
    assert "requirements.txt" in unpacked
    assert "main.py" in unpacked


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_main_imports_from_the_package_and_has_the_three_entry_points(
    installed_package: InstalledPackage,
) -> None:
    found = _run(
        installed_package,
        _PRELUDE
        + """
import main, qgen, functions_framework
print(json.dumps({
    "main": main.__file__,
    "qgen": qgen.__file__,
    "framework": functions_framework.__file__,
    "prefix": sys.prefix,
    "entry_points": {
        name: callable(getattr(main, name, None)) for name in sys.argv[1:]
    },
}))
""",
        *ENTRY_POINTS,
    )
    directory = str(installed_package.directory.resolve())
    assert str(Path(str(found["main"])).resolve()).startswith(directory), found
    assert str(Path(str(found["qgen"])).resolve()).startswith(directory), found
    venv = str(installed_package.python.parent.parent)
    assert str(found["framework"]).startswith(venv), "functions-framework from the new venv"
    assert str(found["prefix"]).startswith(venv), found
    assert found["entry_points"] == dict.fromkeys(ENTRY_POINTS, True)


def _production_env(entry_point: str) -> dict[str, str]:
    """What Terraform sets on `entry_point`'s function, resolved as far as infra/ decides it,
    the rest (project, service accounts, URLs) as a deployment fills it in."""
    from tests.unit.test_infra import _env, _resolve, _secret_env

    env: dict[str, str] = {}
    for name, value in _env(entry_point).items():
        resolved = _resolve(value)
        if resolved is None:
            resolved = (
                f"https://us-central1-prod-project.cloudfunctions.net/{name.lower()}"
                if name.endswith("_URL")
                else "qgen-sa@prod-project.iam.gserviceaccount.com"
                if name.endswith("_SERVICE_ACCOUNT")
                else "prod-project"
            )
        env[name] = str(resolved)
    for secret in _secret_env(entry_point):
        env[secret["key"]] = "from-secret-manager"
    # What Cloud Run sets on every instance.
    env.update(FUNCTION_TARGET=entry_point, K_SERVICE=entry_point, PORT="8080")
    return env


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_each_function_starts_in_production_with_terraforms_environment(
    installed_package: InstalledPackage, entry_point: str
) -> None:
    env = _production_env(entry_point)
    assert env["QGEN_ENVIRONMENT"] == "production"
    # No sys.path set-up: functions-framework adds main.py's directory itself, as in production.
    found = _run(
        installed_package,
        """
import json, os
from functions_framework import create_app
from functions_framework._http.gunicorn import GunicornApplication
app = create_app(target=os.environ["FUNCTION_TARGET"], source="main.py")
threads = GunicornApplication(app, "127.0.0.1", 8080, False).options["threads"]
from qgen.config import Settings
from qgen.wiring import production_problems, is_production
settings = Settings()
print(json.dumps({
    "app": type(app).__name__,
    "production": is_production(settings),
    "problems": production_problems(settings, os.environ["FUNCTION_TARGET"]),
    "threads": threads,
}))
""",
        **env,
    )
    assert found["production"] is True
    assert found["problems"] == []
    assert found["app"] == "Flask"
    # The pinned functions-framework takes its thread count from THREADS (infra/locals.tf).
    assert found["threads"] == int(env["THREADS"]), found


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_production_start_refuses_an_incomplete_environment(
    installed_package: InstalledPackage,
) -> None:
    """The start check is live in the package: the worker without its key does not start."""
    env = _production_env("process_job")
    del env["GEMINI_API_KEY"]
    result = subprocess.run(
        [str(installed_package.python), "-I", "-c", _PRELUDE + "import main"],
        cwd=installed_package.directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_clean_env(**env),
    )
    assert result.returncode != 0
    assert "GEMINI_API_KEY is required" in result.stderr, result.stderr


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_the_installed_pins_are_consistent(installed_package: InstalledPackage) -> None:
    result = subprocess.run(
        [str(installed_package.python), "-m", "pip", "check", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=_clean_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr

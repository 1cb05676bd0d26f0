"""What a figure was measured on: the machine, the code and the emulators.

Every benchmark prints these next to its figures, so that a run can be repeated and compared.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import subprocess
from hashlib import sha256
from pathlib import Path

from dev.stack import ROOT

FIRESTORE_SNAPSHOT = Path(
    "/usr/lib/google-cloud-sdk/.install/cloud-firestore-emulator.snapshot.json"
)
TASKS_PYTHON = ROOT / ".venv-tasks" / "bin" / "python"
UNKNOWN = "unknown"


def _git(*args: str) -> bytes:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, timeout=20, check=True
    ).stdout


def code_version() -> str:
    """The commit under test, and whether functions/ differs from it (a digest of the diff)."""
    try:
        head = _git("rev-parse", "--short", "HEAD").decode().strip()
        diff = _git("diff", "HEAD", "--", "functions")
        untracked = _git("ls-files", "--others", "--exclude-standard", "-z", "--", "functions")
        for name in sorted(filter(None, untracked.split(b"\0"))):
            diff += b"\0untracked " + name + b"\0" + (ROOT / name.decode()).read_bytes()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout?)"
    if not diff:
        return f"commit {head}, functions/ unmodified"
    digest = sha256(diff).hexdigest()[:12]
    return f"commit {head} + uncommitted changes in functions/ (diff sha256 {digest})"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or UNKNOWN


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return UNKNOWN


def firestore_emulator_version() -> str:
    try:
        snapshot = json.loads(FIRESTORE_SNAPSHOT.read_text())
        for component in snapshot.get("components", []):
            if component.get("id") == "cloud-firestore-emulator":
                return str(component["version"]["version_string"])
    except (OSError, ValueError, KeyError):
        pass
    return UNKNOWN


def tasks_emulator_version() -> str:
    script = "import importlib.metadata as m; print(m.version('gcloud-tasks-emulator'))"
    try:
        result = subprocess.run(
            [str(TASKS_PYTHON), "-c", script],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        return result.stdout.strip() or UNKNOWN
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN


def java_version() -> str:
    """The version the Firestore emulator's JVM reports (its first quoted word)."""
    try:
        result = subprocess.run(
            ["java", "-version"], capture_output=True, text=True, timeout=20, check=False
        )
        first = (result.stderr or result.stdout).splitlines()[0]
        return first.split('"')[1] if '"' in first else first
    except (OSError, IndexError, subprocess.SubprocessError):
        return UNKNOWN


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far; NaN if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # Fields after the command (which may hold spaces) start at state; utime, stime are
        # fields 14 and 15 of the whole line.
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, every process) so far; NaN if
    unreadable. Compared over an interval with its wall time x the cores, it says how loaded
    the machine was, others' work included."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = ticks[3] + ticks[4]  # idle + iowait
        # guest and guest_nice (9, 10) are already counted in user and nice.
        return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def machine_line() -> str:
    """One line saying where a figure was measured: CPUs, Python, load, the code."""
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.python_implementation()} "
        f"{platform.python_version()}, load {load_average()}; {code_version()}"
    )

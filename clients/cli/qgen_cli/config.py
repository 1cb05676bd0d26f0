"""Where the CLI keeps who you are and which service it talks to.

One JSON file, ``$QGEN_CONFIG`` or ``${XDG_CONFIG_HOME:-~/.config}/qgen/config.json`` (mode
0600: in project mode it holds a refresh token). ``QGEN_USER`` (with the optional
``QGEN_API_URL``, ``QGEN_FIRESTORE_EMULATOR_HOST``, ``QGEN_PROJECT``) acts as a local user
without any file, for scripts and CI.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

LOCAL_API_URL = "http://127.0.0.1:8081"
LOCAL_FIRESTORE = "127.0.0.1:8180"
LOCAL_PROJECT = "demo-qgen"
LOCAL_USER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class NotSignedInError(Exception):
    pass


@dataclass
class Profile:
    mode: Literal["local", "project"]
    uid: str
    project_id: str
    api_url: str
    # local: the Firestore emulator (host:port) the user reads through, under the rules.
    firestore_emulator: str | None = None
    # project: Firebase Authentication (email and password) of a real project.
    api_key: str | None = None
    email: str | None = None
    refresh_token: str | None = None

    @property
    def label(self) -> str:
        if self.mode == "local":
            return f"{self.uid} (local user, project {self.project_id})"
        return f"{self.email or self.uid} (project {self.project_id})"


def config_path() -> Path:
    if os.environ.get("QGEN_CONFIG"):
        return Path(os.environ["QGEN_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "qgen" / "config.json"


def load() -> Profile:
    user = os.environ.get("QGEN_USER")
    if user:
        return Profile(
            mode="local",
            uid=user,
            project_id=os.environ.get("QGEN_PROJECT", LOCAL_PROJECT),
            api_url=os.environ.get("QGEN_API_URL", LOCAL_API_URL),
            firestore_emulator=os.environ.get("QGEN_FIRESTORE_EMULATOR_HOST", LOCAL_FIRESTORE),
        )
    path = config_path()
    if not path.exists():
        raise NotSignedInError(
            "not signed in: run `qgen login NAME` for the local stack "
            "(or `qgen login --email ...` for a real project)"
        )
    data = json.loads(path.read_text())
    profile = Profile(**data)
    for name, value in (
        ("api_url", os.environ.get("QGEN_API_URL")),
        ("firestore_emulator", os.environ.get("QGEN_FIRESTORE_EMULATOR_HOST")),
    ):
        if value and (name != "firestore_emulator" or profile.mode == "local"):
            setattr(profile, name, value)
    return profile


def save(profile: Profile) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(profile), handle, indent=2)
    tmp.replace(path)
    return path


def forget() -> bool:
    path = config_path()
    if path.exists():
        path.unlink()
        return True
    return False

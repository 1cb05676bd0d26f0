"""The deployment manifest and the project metadata must agree."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from qgen.http.openapi import openapi_document

ROOT = Path(__file__).resolve().parents[2]


def _pyproject_dependencies() -> dict[str, Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = [Requirement(line) for line in data["project"]["dependencies"]]
    return {canonicalize_name(r.name): r for r in reqs}


def _deployed_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "functions" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{line}: deployment pins must be exact"
        pins[canonicalize_name(req.name)] = spec.version
    return pins


def test_requirements_txt_pins_exactly_the_runtime_dependencies() -> None:
    assert set(_deployed_pins()) == set(_pyproject_dependencies())


def test_each_pin_satisfies_the_pyproject_range() -> None:
    declared = _pyproject_dependencies()
    for name, version in _deployed_pins().items():
        assert declared[name].specifier.contains(version), f"{name}=={version} outside range"


def test_committed_openapi_document_is_the_generated_one() -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == openapi_document(), "regenerate: make openapi"


def test_openapi_is_3_1_and_every_operation_documents_its_errors() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.1")
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path == "/healthz":
                continue
            assert "401" in op["responses"], f"{method} {path} lacks 401"
            assert "500" in op["responses"], f"{method} {path} lacks 500"

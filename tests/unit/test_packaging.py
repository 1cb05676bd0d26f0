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


# ----- the source zip Terraform uploads (infra/source.tf; built in tests/support) -------------


def test_doublestar_matching_follows_archive_files_excludes() -> None:
    from tests.support.function_package import path_matches

    assert path_matches("**/__pycache__", "__pycache__")
    assert path_matches("**/__pycache__", "qgen/adapters/__pycache__")
    assert path_matches("**/*.pyc", "main.pyc")
    assert path_matches("**/*.pyc", "qgen/http/app.cpython-311.pyc")
    assert not path_matches("**/*.pyc", "qgen/http/app.py")
    assert path_matches("qgen.egg-info/**", "qgen.egg-info/PKG-INFO")
    assert not path_matches("qgen.egg-info", "qgen/qgen.egg-info")
    assert not path_matches("*.txt", "qgen/notes.txt"), "* stays within one path component"
    assert path_matches("{a,b}/[!x]?.py", "b/yz.py")


def test_the_source_zip_holds_every_source_file(tmp_path: Path) -> None:
    import zipfile

    from tests.support.function_package import archive_settings, build_zip, package_files

    settings = archive_settings()
    assert settings.source_dir == ROOT / "functions"
    names = [name for name, _ in package_files()]
    assert {"main.py", "requirements.txt", "qgen/__init__.py", "qgen/wiring.py"} <= set(names)
    sources = {
        p.relative_to(settings.source_dir).as_posix()
        for p in settings.source_dir.rglob("*.py")
        if "__pycache__" not in p.parts and not any(".egg-info" in part for part in p.parts)
    }
    assert sources <= set(names), sources - set(names)
    with zipfile.ZipFile(build_zip(tmp_path / "functions.zip")) as archive:
        assert archive.namelist() == names
        assert all((i.external_attr >> 16) & 0o777 == 0o644 for i in archive.infolist())


def test_the_excludes_keep_caches_and_build_metadata_out(tmp_path: Path) -> None:
    from tests.support.function_package import ArchiveSettings, archive_settings, package_files

    tree = {
        "main.py": "",
        "requirements.txt": "",
        "qgen/__init__.py": "",
        "qgen/__pycache__/__init__.cpython-311.pyc": "",
        "qgen/http/__pycache__/app.cpython-311.pyc": "",
        "qgen/stray.pyc": "",
        "qgen.egg-info/PKG-INFO": "",
        "__pycache__/main.cpython-311.pyc": "",
    }
    for name, text in tree.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    settings = ArchiveSettings(tmp_path, archive_settings().excludes, 0o644)
    names = [name for name, _ in package_files(settings)]
    assert names == ["main.py", "qgen/__init__.py", "requirements.txt"]

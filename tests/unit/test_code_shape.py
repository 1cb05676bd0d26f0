"""The deployable package stays small-grained: short modules, short functions."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "functions"
MAX_MODULE_LINES = 250
MAX_FUNCTION_LINES = 50
# Declarative tables, not logic: allowed to be long.
TABLES = {"qgen/http/openapi.py:openapi_document", "qgen/http/openapi_devices.py:device_paths"}


def test_no_module_is_longer_than_250_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


def test_no_function_is_longer_than_50_lines_except_declarative_tables() -> None:
    long = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{path.relative_to(PACKAGE)}:{node.name}"
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES and name not in TABLES:
                    long[name] = length
    assert not long, long


def test_inner_layers_never_import_adapters() -> None:
    """domain/ and http/ know nothing of Firestore, Cloud Tasks or Gemini; services only ports."""
    offenders = []
    for layer in ("domain", "http", "services"):
        for path in (PACKAGE / "qgen" / layer).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and "adapters" in (node.module or ""):
                    offenders.append(f"{path.relative_to(PACKAGE)}: from {node.module}")
    assert not offenders, offenders

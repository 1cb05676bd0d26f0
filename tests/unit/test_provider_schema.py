"""Every resource type, data source, argument and block in infra/*.tf exists in the providers'
schemas, without `terraform init` (no registry access here).

The schemas are vendored in infra/schema/providers.json (written by infra/schema/generate.py
from the cdktf prebuilt provider packages on npm; its docstring says how to regenerate). The HCL
is parsed with python-hcl2, blocks told apart from attributes. Checked: each `resource` and
`data` block's type exists in its provider (google, google-beta, time, archive); each argument
is one of the type's arguments and each block one of its blocks, recursively, `dynamic` blocks
included; required arguments and blocks are present; a block that takes one instance is not
written twice; `provider` blocks against the provider's configuration; and that the vendored
provider releases satisfy the version constraints in versions.tf. Meta-arguments (count,
for_each, depends_on, provider, lifecycle, provisioner, connection) are Terraform's own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
SCHEMA_FILE = INFRA / "schema" / "providers.json"
REGENERATE = ".venv/bin/python infra/schema/generate.py"

_HCL = SerializationOptions(with_comments=False, explicit_blocks=True, strip_string_quotes=True)
IS_BLOCK = "__is_block__"
META_ARGUMENTS = {
    "resource": frozenset(
        {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}
    ),
    "data": frozenset({"count", "for_each", "depends_on", "provider", "lifecycle"}),
    "provider": frozenset({"alias", "version"}),
}


@cache
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


@dataclass
class Declaration:
    """One resource, data source or provider block of a file."""

    kind: str  # "resource", "data" or "provider"
    type: str
    name: str
    body: dict[str, Any]
    path: str

    @property
    def address(self) -> str:
        prefix = "data." if self.kind == "data" else ""
        return f"{self.path}: {prefix}{self.type}.{self.name}"


def _declarations(documents: dict[str, dict[str, Any]]) -> list[Declaration]:
    found = []
    for path, document in documents.items():
        for kind in ("resource", "data"):
            for block in document.get(kind, []):
                for type_name, by_name in block.items():
                    for name, body in by_name.items():
                        found.append(Declaration(kind, type_name, name, body, path))
        for block in document.get("provider", []):
            for name, body in block.items():
                found.append(Declaration("provider", name, body.get("alias", name), body, path))
    return found


@cache
def _documents() -> dict[str, dict[str, Any]]:
    """Every infra/*.tf, parsed, by file name."""
    paths = sorted(INFRA.glob("*.tf"))
    assert paths, "no Terraform in infra/"
    documents = {}
    for path in paths:
        with path.open() as handle:
            documents[path.name] = hcl2.load(handle, serialization_options=_HCL)
    return documents


def _provider_of(declaration: Declaration) -> str:
    """The provider (local name) a resource or data source uses: its `provider` meta-argument
    (google-beta, or an alias google.x), else the prefix of its type."""
    explicit = declaration.body.get("provider")
    if explicit:
        return re.sub(r"^\$\{|\}$", "", str(explicit)).split(".")[0]
    return declaration.type.split("_", 1)[0]


@dataclass
class Problems:
    found: list[str] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.found.append(f"{where}: {message}")


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and item.get(IS_BLOCK) for item in value)
    )


def _check_body(
    body: dict[str, Any],
    schema: dict[str, Any],
    where: str,
    problems: Problems,
    meta: frozenset[str] = frozenset(),
) -> None:
    """Arguments and blocks of `body` against a block `schema` (recursively)."""
    attributes = set(schema.get("attributes", []))
    blocks: dict[str, Any] = schema.get("blocks", {})
    present: set[str] = set()
    for key, value in body.items():
        if key == IS_BLOCK or key in meta:
            continue
        if key == "dynamic":
            for dynamic in value:
                for name, spec in dynamic.items():
                    if name == IS_BLOCK:
                        continue
                    present.add(name)
                    if name not in blocks:
                        kind = "an argument" if name in attributes else "not a block"
                        problems.add(f"{where}.dynamic.{name}", f"{kind} of this schema")
                        continue
                    for content in spec.get("content", []):
                        _check_body(content, blocks[name], f"{where}.{name}", problems)
            continue
        present.add(key)
        if key in blocks:
            if not _is_block(value):
                problems.add(f"{where}.{key}", "is a block, written as an argument (key = ...)")
                continue
            if blocks[key].get("single") and len(value) > 1:
                problems.add(f"{where}.{key}", f"takes one block, written {len(value)} times")
            for item in value:
                _check_body(item, blocks[key], f"{where}.{key}", problems)
        elif key in attributes:
            if _is_block(value):
                problems.add(f"{where}.{key}", "is an argument, written as a block")
        else:
            problems.add(f"{where}.{key}", "unknown argument or block")
    for name in schema.get("required", []):
        if name not in present:
            problems.add(where, f"missing required {name!r}")


def check(documents: dict[str, dict[str, Any]], schema: dict[str, Any]) -> list[str]:
    """Every problem of `documents` (parsed files by name) against `schema`."""
    problems = Problems()
    providers = schema["providers"]
    for d in _declarations(documents):
        if d.kind == "provider":
            if d.type not in providers:
                problems.add(d.address, f"provider {d.type!r} is not vendored ({REGENERATE})")
                continue
            _check_body(
                d.body, providers[d.type]["config"], d.address, problems, META_ARGUMENTS["provider"]
            )
            continue
        provider = _provider_of(d)
        kind, listed, noun = (
            ("resources", "resource_types", "resource")
            if d.kind == "resource"
            else ("data_sources", "data_source_types", "data source")
        )
        if provider not in providers:
            problems.add(d.address, f"provider {provider!r} is not vendored ({REGENERATE})")
            continue
        if d.type not in providers[provider][listed]:
            version = providers[provider]["version"]
            problems.add(d.address, f"no {noun} type {d.type} in {provider} {version}")
            continue
        type_schema = schema[kind].get(d.type, {}).get(provider)
        if type_schema is None:
            message = f"{d.type} exists but its schema is not vendored: {REGENERATE}"
            if not any(p.endswith(message) for p in problems.found):
                problems.add(d.path, message)
            continue
        _check_body(d.body, type_schema, d.address, problems, META_ARGUMENTS[d.kind])
    return problems.found


def _terraform_constraint(constraint: str) -> SpecifierSet:
    """A Terraform version constraint (">= 6.0, < 8.0", "~> 0.9") as a PEP 440 set: the
    operators mean the same for release versions, "~>" is "~=" and "=" is "==".

    One difference: "~> 0.9" allows 0.10, "~=0.9" too; "~> 1" (one part) means >= 1 in
    Terraform and is refused by PEP 440, so it is not used here."""
    parts = []
    for part in constraint.split(","):
        match = re.fullmatch(r"\s*(~>|>=|<=|!=|>|<|=)?\s*([0-9][0-9.]*)\s*", part)
        assert match, f"cannot read the constraint {constraint!r}"
        operator = {"~>": "~=", "=": "==", None: "=="}.get(match.group(1), match.group(1))
        parts.append(f"{operator}{match.group(2)}")
    return SpecifierSet(",".join(parts))


# ----- the tests -------------------------------------------------------------------------------


def test_every_resource_attribute_and_block_is_in_the_provider_schemas() -> None:
    problems = check(_documents(), _schema())
    assert not problems, "infra/*.tf against the provider schemas:\n" + "\n".join(problems)


def test_the_check_covers_every_file_and_declaration() -> None:
    documents = _documents()
    assert set(documents) == {p.name for p in INFRA.glob("*.tf")}
    declarations = _declarations(documents)
    types = {d.type for d in declarations}
    # Not vacuous: the functions, a data source, the sleep and the provider configuration.
    assert {"google_cloudfunctions2_function", "archive_file", "time_sleep", "google"} <= types
    used = {_provider_of(d) for d in declarations if d.kind != "provider"}
    assert used <= set(_schema()["providers"]), used


def test_vendored_provider_releases_satisfy_versions_tf() -> None:
    required: dict[str, dict[str, str]] = {}
    for document in _documents().values():
        for terraform in document.get("terraform", []):
            for block in terraform.get("required_providers", []):
                required.update({k: v for k, v in block.items() if k != IS_BLOCK})
    used = {_provider_of(d) for d in _declarations(_documents()) if d.kind != "provider"}
    for local_name in used:
        assert local_name in required, f"{local_name} is used but not in required_providers"
    for local_name, spec in required.items():
        vendored = _schema()["providers"].get(local_name)
        assert vendored, f"{local_name} is required but its schema is not vendored ({REGENERATE})"
        assert spec["source"] == vendored["source"], local_name
        constraint = _terraform_constraint(spec["version"])
        assert Version(vendored["version"]) in constraint, (
            f"{local_name}: the vendored schema is of {vendored['version']}, outside "
            f"{spec['version']} in versions.tf"
        )


def test_the_vendored_schema_is_small_and_says_where_it_came_from() -> None:
    assert SCHEMA_FILE.stat().st_size < 1_000_000
    schema = _schema()
    assert "generate.py" in schema["generated_by"]
    assert "@cdktf/provider-google" in schema["source"]
    assert len(schema["providers"]["google"]["resource_types"]) > 1000


def _parse(text: str) -> dict[str, dict[str, Any]]:
    return {"example.tf": hcl2.loads(text, serialization_options=_HCL)}


@pytest.mark.parametrize(
    ("hcl", "expected"),
    [
        ('resource "google_no_such_thing" "x" {}', "no resource type google_no_such_thing"),
        ('data "google_no_such_thing" "x" {}', "no data source type google_no_such_thing"),
        (
            'resource "google_firestore_field" "x" {\n collection = "c"\n field = "f"\n'
            " colour = 1\n}",
            "google_firestore_field.x.colour: unknown argument or block",
        ),
        (
            'resource "google_firestore_field" "x" {\n collection = "c"\n field = "f"\n'
            " index_config {\n indexes {\n sort = 1\n }\n }\n}",
            "google_firestore_field.x.index_config.indexes.sort: unknown argument",
        ),
        (
            'resource "google_firestore_field" "x" {\n collection = "c"\n field = "f"\n'
            ' dynamic "no_block" {\n for_each = []\n content {}\n }\n}',
            "google_firestore_field.x.dynamic.no_block: not a block",
        ),
        (
            'resource "google_firestore_field" "x" {\n collection = "c"\n field = "f"\n'
            ' dynamic "index_config" {\n for_each = [1]\n content {\n wrong = 1\n }\n }\n}',
            "google_firestore_field.x.index_config.wrong: unknown argument",
        ),
        (
            'resource "google_firestore_field" "x" {\n collection = "c"\n}',
            "missing required 'field'",
        ),
        (
            'resource "google_firestore_field" "x" {\n collection = "c"\n field = "f"\n'
            " ttl_config {}\n ttl_config {}\n}",
            "takes one block, written 2 times",
        ),
        (
            'resource "google_storage_bucket" "x" {\n name = "n"\n location = "l"\n'
            " labels {\n a = 1\n }\n}",
            "labels: is an argument, written as a block",
        ),
        (
            'resource "time_sleep" "x" {\n provider = google-beta\n create_duration = "1s"\n}',
            "provider 'google-beta' is not vendored",
        ),
        ('provider "google" {\n projekt = "p"\n}', "google.google.projekt: unknown argument"),
    ],
)
def test_the_check_finds_what_terraform_would_refuse(hcl: str, expected: str) -> None:
    problems = check(_parse(hcl), _schema())
    assert any(expected in p for p in problems), problems


def test_the_check_accepts_meta_arguments_and_dynamic_blocks() -> None:
    hcl = """
resource "google_firestore_field" "x" {
  for_each   = {}
  collection = "c"
  field      = each.key
  dynamic "index_config" {
    for_each = [1]
    content {
      dynamic "indexes" {
        for_each = []
        content {
          order = "ASCENDING"
        }
      }
    }
  }
  lifecycle {
    prevent_destroy = true
  }
  depends_on = []
}
"""
    assert check(_parse(hcl), _schema()) == []

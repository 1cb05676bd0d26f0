"""Writes infra/schema/providers.json: the provider schemas tests/unit/test_provider_schema.py
checks infra/*.tf against, without `terraform init` (which needs registry.terraform.io).

Where the schemas come from: the npm packages of the CDK for Terraform prebuilt providers
(`@cdktf/provider-google`, `-google-beta`, `-time`, `-archive`; pinned in PACKAGES below). Each
is generated from `terraform providers schema -json` of one provider release (named in its
package.json, `cdktf.provider.version`) and ships that schema as a jsii assembly (`.jsii`): per
resource and data source a `<Class>Config` interface whose properties are the arguments and
blocks, each documented with a link to the registry page whose anchor is the Terraform name
(`...docs/resources/cloudfunctions2_function#build_config`), blocks summarised as
"<name> block.", optional ones flagged `optional`. The `tfResourceType` of each class is in
its lib/<dir>/index.js. cdktf is deprecated and these packages are its last releases: google
6.50.0, time 0.13.1, archive 2.7.1.

What is vendored (kept small, well under 1 MB):
- every resource and data source type name of each provider (so the test can tell a type that
  does not exist from one whose schema is not vendored yet);
- the arguments, required arguments and nested blocks of the provider configuration and of
  each resource and data source type used in infra/*.tf (found with a regex over the files).

Regenerate (network: the npm registry; ~35 MB download, ~1.5 GB of memory for the google
assembly) after adding a resource type to infra/, or to move to another release:

    .venv/bin/python infra/schema/generate.py              # types used in infra/*.tf
    .venv/bin/python infra/schema/generate.py --also google_pubsub_topic

Only the standard library and `npm` are needed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
INFRA = HERE.parent
OUTPUT = HERE / "providers.json"

# Provider local name -> (registry source, npm package@version of its cdktf prebuilt bindings).
PACKAGES = {
    "google": ("hashicorp/google", "@cdktf/provider-google@16.12.1"),
    "google-beta": ("hashicorp/google-beta", "@cdktf/provider-google-beta@16.12.1"),
    "time": ("hashicorp/time", "@cdktf/provider-time@11.0.1"),
    "archive": ("hashicorp/archive", "@cdktf/provider-archive@11.0.1"),
}

_BLOCK_TYPES = re.compile(r'^\s*(resource|data)\s+"([A-Za-z0-9_-]+)"\s+"', re.MULTILINE)
_BETA = re.compile(r"^\s*provider\s*=\s*google-beta\b", re.MULTILINE)
_LINK = re.compile(r"\{@link https://registry\.terraform\.io/providers/\S+?#([A-Za-z0-9_]+) ")
_TYPE_OF_CLASS = re.compile(r'^(\w+)\.tfResourceType = "([^"]+)";', re.MULTILINE)
_KINDS = {
    "cdktf.TerraformResource": "resources",
    "cdktf.TerraformDataSource": "data_sources",
    "cdktf.TerraformProvider": "provider",
}


def used_types(infra: Path) -> tuple[set[str], set[str], bool]:
    """Resource types, data source types, and whether any resource names google-beta."""
    resources: set[str] = set()
    data: set[str] = set()
    beta = False
    for path in sorted(infra.glob("*.tf")):
        text = path.read_text()
        for kind, name in _BLOCK_TYPES.findall(text):
            (resources if kind == "resource" else data).add(name)
        beta = beta or bool(_BETA.search(text))
    return resources, data, beta


def provider_of(type_name: str) -> str:
    return type_name.split("_", 1)[0]


def npm_pack(spec: str, into: Path) -> Path:
    """The package tarball, downloaded with npm into `into`."""
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        ["npm", "pack", spec, "--silent", "--pack-destination", str(into)],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    )
    return into / result.stdout.strip().splitlines()[-1]


def read_package(tarball: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """package.json, the jsii assembly, and tfResourceType by class name, read from the
    tarball without unpacking it."""
    assembly: dict[str, Any] = {}
    package: dict[str, Any] = {}
    type_of_class: dict[str, str] = {}
    with tarfile.open(tarball) as archive:
        for member in archive:
            if not member.isfile():
                continue
            name = member.name
            wanted = name in ("package/.jsii", "package/package.json") or (
                name.startswith("package/lib/") and name.endswith("/index.js")
            )
            if not wanted:
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            data = handle.read()
            if name == "package/.jsii":
                assembly = json.loads(data)
            elif name == "package/package.json":
                package = json.loads(data)
            else:
                type_of_class.update(
                    (cls, tf) for cls, tf in _TYPE_OF_CLASS.findall(data.decode("utf-8"))
                )
    if not (assembly and package):
        raise SystemExit(f"{tarball}: no .jsii or package.json")
    return package, assembly, type_of_class


def _struct_of(type_ref: dict[str, Any]) -> str | None:
    """The fqn of the struct a property's type holds (a block's), if any."""
    if "fqn" in type_ref:
        fqn = type_ref["fqn"]
        return None if fqn.startswith("cdktf.") else fqn
    if "collection" in type_ref:
        return _struct_of(type_ref["collection"]["elementtype"])
    if "union" in type_ref:
        for option in type_ref["union"]["types"]:
            if found := _struct_of(option):
                return found
    return None


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def block_schema(types: dict[str, Any], fqn: str) -> dict[str, Any]:
    """Arguments and nested blocks of a Config interface or a block's struct:
    {"attributes": [...], "required": [...], "blocks": {name: {... "single": bool}}}."""
    attributes: list[str] = []
    required: list[str] = []
    blocks: dict[str, Any] = {}
    for prop in types[fqn].get("properties", []):
        docs = prop.get("docs", {})
        text = " ".join((docs.get("summary", ""), docs.get("remarks", "")))
        anchor = _LINK.search(text)
        name = anchor.group(1) if anchor else _snake(prop["name"])
        struct = _struct_of(prop["type"])
        if re.fullmatch(rf"{re.escape(name)} block\.?", docs.get("summary", "").strip()):
            assert struct, f"{fqn}.{name}: a block without a struct type"
            nested = block_schema(types, struct)
            # A block of max_items 1 is a struct; a list or set block is a collection of them.
            nested["single"] = "fqn" in prop["type"]
            blocks[name] = nested
        else:
            attributes.append(name)
        if not prop.get("optional"):
            required.append(name)
    out: dict[str, Any] = {"attributes": sorted(attributes)}
    if required:
        out["required"] = sorted(required)
    if blocks:
        out["blocks"] = dict(sorted(blocks.items()))
    return out


def provider_schemas(
    local_name: str, tarball: Path, resources: set[str], data: set[str]
) -> dict[str, Any]:
    package, assembly, type_of_class = read_package(tarball)
    types = assembly["types"]
    classes = {t["name"]: t for t in types.values() if t.get("base") in _KINDS}
    found: dict[str, dict[str, Any]] = {"resources": {}, "data_sources": {}, "provider": {}}
    for cls, tf_type in type_of_class.items():
        kind = _KINDS[classes[cls]["base"]]
        found[kind][tf_type] = classes[cls]["fqn"] + "Config"
    ((_, provider_config),) = found["provider"].items()
    provider = package["cdktf"]["provider"]
    source, spec = PACKAGES[local_name]
    assert provider["name"].endswith(source), (provider, source)
    return {
        "info": {
            "source": source,
            "version": provider["version"],
            "npm": spec,
            "config": block_schema(types, provider_config),
            "resource_types": sorted(found["resources"]),
            "data_source_types": sorted(found["data_sources"]),
        },
        "resources": {
            t: block_schema(types, fqn)
            for t, fqn in sorted(found["resources"].items())
            if t in resources
        },
        "data_sources": {
            t: block_schema(types, fqn)
            for t, fqn in sorted(found["data_sources"].items())
            if t in data
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--also", nargs="*", default=[], help="more resource types to vendor")
    parser.add_argument("--also-data", nargs="*", default=[], help="more data source types")
    args = parser.parse_args()

    resources, data, beta = used_types(INFRA)
    resources |= set(args.also)
    data |= set(args.also_data)
    wanted = {provider_of(t) for t in resources | data} | ({"google-beta"} if beta else set())
    unknown = wanted - set(PACKAGES)
    if unknown:
        raise SystemExit(f"no npm package configured for providers {sorted(unknown)}")

    out: dict[str, Any] = {
        "generated_by": "infra/schema/generate.py (read its docstring to regenerate)",
        "source": "jsii assemblies of the cdktf prebuilt provider packages on npm: "
        + ", ".join(PACKAGES[p][1] for p in sorted(wanted)),
        "providers": {},
        "resources": {},
        "data_sources": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for local_name in sorted(wanted):
            tarball = npm_pack(PACKAGES[local_name][1], Path(tmp))
            # google-beta shares the google_ prefix: vendor the beta schema of the types used.
            schemas = provider_schemas(local_name, tarball, resources, data)
            tarball.unlink()
            out["providers"][local_name] = schemas["info"]
            for kind in ("resources", "data_sources"):
                for type_name, schema in schemas[kind].items():
                    out[kind].setdefault(type_name, {})[local_name] = schema
    missing = sorted(
        t
        for kind, names in (("resources", resources), ("data_sources", data))
        for t in names
        if t not in out[kind]
    )
    if missing:
        print(f"not in any provider schema (typos?): {missing}")
    OUTPUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUTPUT.relative_to(INFRA.parent)} ({OUTPUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()

"""The functions' source zip, built the way Terraform builds it (infra/source.tf).

`data "archive_file" "functions"` zips `source_dir` (functions/) with hashicorp/archive ≥ 2.5:
a `filepath.Walk` of the directory in lexical order, each path relative to it matched against
`excludes` with doublestar's PathMatch (`*` and `?` within one path component, `**` any number
of components, `[...]`, `{a,b}`); a matching directory is skipped whole, a matching file left
out; names use forward slashes and every file gets `output_file_mode`. This module reads those
settings from source.tf itself, so the tests package what a deployment would upload.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import hcl2
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
SOURCE_TF = ROOT / "infra" / "source.tf"

_HCL = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


@dataclass(frozen=True)
class ArchiveSettings:
    source_dir: Path
    excludes: tuple[str, ...]
    output_file_mode: int


@cache
def archive_settings() -> ArchiveSettings:
    """source_dir, excludes and output_file_mode of the functions' archive_file in source.tf."""
    with SOURCE_TF.open() as handle:
        document = hcl2.load(handle, serialization_options=_HCL)
    (archive,) = (
        body
        for block in document["data"]
        for name, body in block.get("archive_file", {}).items()
        if name == "functions"
    )
    assert archive["type"] == "zip", archive["type"]
    source_dir = archive["source_dir"].replace("${path.module}", str(SOURCE_TF.parent))
    assert "${" not in source_dir, f"cannot resolve source_dir {archive['source_dir']!r}"
    return ArchiveSettings(
        source_dir=Path(source_dir).resolve(),
        excludes=tuple(archive.get("excludes", [])),
        output_file_mode=int(archive.get("output_file_mode", "0644"), 8),
    )


def _translate(pattern: str) -> str:
    """A doublestar pattern as a regular expression over a slash-separated relative path."""
    out = []
    i = 0
    while i < len(pattern):
        at_component_start = i == 0 or pattern[i - 1] == "/"
        if at_component_start and pattern.startswith("**", i):
            rest = pattern[i + 2 :]
            if rest.startswith("/"):  # "**/": zero or more directories
                out.append("(?:[^/]+/)*")
                i += 3
                continue
            if rest == "":  # a trailing "**": anything below (and the directory itself)
                if out and out[-1] == "/":
                    out[-1] = "(?:/.*)?"
                else:
                    out.append(".*")
                i += 2
                continue
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.index("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "^") else i + 1)
            body = pattern[i + 1 : end]
            if body.startswith("!"):
                body = "^" + body[1:]
            out.append(f"[{body}]")
            i = end + 1
            continue
        elif char == "{":
            end = pattern.index("}", i)
            options = pattern[i + 1 : end].split(",")
            out.append("(?:" + "|".join(_translate(option) for option in options) + ")")
            i = end + 1
            continue
        elif char == "/":
            out.append("/")
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def path_matches(pattern: str, relative: str) -> bool:
    """doublestar.PathMatch(pattern, relative) for the patterns archive_file excludes use."""
    return re.fullmatch(_translate(pattern), relative) is not None


def package_files(settings: ArchiveSettings | None = None) -> list[tuple[str, Path]]:
    """(name in the zip, file) for every file Terraform puts in the zip, in its order."""
    settings = settings or archive_settings()
    found: list[tuple[str, Path]] = []

    def walk(directory: Path) -> None:
        for entry in sorted(directory.iterdir(), key=lambda p: p.name):
            relative = entry.relative_to(settings.source_dir).as_posix()
            assert not entry.is_symlink(), f"{entry}: symlinks are not expected in functions/"
            excluded = any(path_matches(p, relative) for p in settings.excludes if p)
            if entry.is_dir():
                if not excluded:
                    walk(entry)
            elif not excluded:
                found.append((relative, entry))

    walk(settings.source_dir)
    return found


def build_zip(destination: Path, settings: ArchiveSettings | None = None) -> Path:
    """The source zip as archive_file writes it, at `destination`."""
    settings = settings or archive_settings()
    with zipfile.ZipFile(destination, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in package_files(settings):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100000 | settings.output_file_mode) << 16
            archive.writestr(info, path.read_bytes())
    return destination

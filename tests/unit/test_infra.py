"""infra/ (Terraform) agrees with the code it deploys.

The HCL is parsed with python-hcl2 (no provider, no network): entry points, environment
variable names and values, each function's THREADS against its request concurrency, the queue,
the URLs used as OIDC audiences, timeouts against the dispatch deadline, retry policy against
the lease, who may invoke what, the build account's grants and the wait for them, the schedules,
that every Firestore query in functions/qgen has its composite index in firestore.indexes.json
(the file Terraform reads its indexes from) and none needs a single-field index exempted there.
`terraform fmt -check` runs too (terraform is on PATH here and in CI). The resource types,
attributes and blocks themselves are checked against the providers' schemas in
test_provider_schema.py.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions
from pydantic import AliasChoices
from qgen.adapters.firestore import queries as query_specs
from qgen.adapters.firestore.queries import ALL_QUERIES, QuerySpec
from qgen.config import Settings
from qgen.wiring import production_problems

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
FUNCTIONS = ROOT / "functions"
QGEN = FUNCTIONS / "qgen"
INDEXES_FILE = ROOT / "firestore.indexes.json"
RULES_FILE = ROOT / "firestore.rules"

FUNCTION_TYPE = "google_cloudfunctions2_function"
# Environment variables that are not Settings: read by functions-framework itself.
FRAMEWORK_ENV = {"THREADS"}
_HCL = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


# ----- reading the Terraform -------------------------------------------------------------------


@cache
def _tf() -> dict[str, list[Any]]:
    """Every top-level block of infra/*.tf, merged across files."""
    merged: dict[str, list[Any]] = {}
    paths = sorted(INFRA.glob("*.tf"))
    assert paths, "no Terraform in infra/"
    for path in paths:
        with path.open() as handle:
            document = hcl2.load(handle, serialization_options=_HCL)
        for key, blocks in document.items():
            merged.setdefault(key, []).extend(blocks)
    return merged


def _declarations(kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(name, address, body) of every `kind` resource. A resource whose for_each is a map or a
    toset([...]) written in the resource itself stands for its instances: one per key, named by
    the key, addressed as name["key"], with each.key and each.value substituted and its dynamic
    blocks written out. A for_each over a local (the schedules, the indexes) is kept as the one
    declaration it is."""
    for block in _tf().get("resource", []):
        for name, body in block.get(kind, {}).items():
            instances = _literal_for_each(body.get("for_each"))
            if instances is None:
                yield name, name, body
                continue
            rest = {k: v for k, v in body.items() if k != "for_each"}
            for key, value in instances.items():
                yield key, f'{name}["{key}"]', _write_out_dynamic(_bind(rest, "each", key, value))


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, _, body in _declarations(kind):
        assert name not in found, f"{kind}.{name} declared twice"
        found[name] = body
    return found


def _literal_for_each(value: Any) -> dict[str, Any] | None:
    """The keys and values of a for_each written as a map or toset(["a", ...]), else None."""
    if isinstance(value, dict):
        return value
    match = re.fullmatch(r"\$\{toset\((\[[^\[\]]*\])\)\}", str(value))
    return {key: key for key in json.loads(match.group(1))} if match else None


def _bind(node: Any, name: str, key: Any, value: Any) -> Any:
    """`node` with the iterator `name` (each, or a dynamic block's) set to `key` and `value`:
    a value that is exactly name.key or name.value[.attribute] becomes what it refers to; inside
    a longer expression the reference becomes that value's expression."""
    if isinstance(node, dict):
        return {k: _bind(v, name, key, value) for k, v in node.items()}
    if isinstance(node, list):
        return [_bind(v, name, key, value) for v in node]
    if not (isinstance(node, str) and "${" in node):
        return node
    reference = re.compile(rf"(?<![\w.]){name}\.(key|value)((?:\.\w+)*)(?![\w(])")

    def lookup(match: re.Match[str]) -> Any:
        if match.group(1) == "key":
            return key
        found = value
        for attribute in match.group(2).split(".")[1:]:
            found = found[attribute]
        return found

    def as_expression(match: re.Match[str]) -> str:
        found = lookup(match)
        if (inner := _interpolation(found)) is not None:
            return inner
        if isinstance(found, bool):
            return str(found).lower()
        if isinstance(found, str | int | float):
            return json.dumps(found)
        raise AssertionError(f"cannot write {found!r} into {node!r}")

    def interpolation(piece: str, whole: bool) -> Any:
        expression = piece[2:-1]
        if match := reference.fullmatch(expression.strip()):
            found = lookup(match)
            # A template keeps the text of a literal: "qgen-${each.key}" -> "qgen-api".
            return found if whole or _interpolation(found) is not None else str(found)
        return "${" + reference.sub(as_expression, expression) + "}"

    if _interpolation(node) is not None:
        return interpolation(node, whole=True)
    pieces = re.split(r"(\$\{[^{}]*\})", node)
    return "".join(interpolation(p, whole=False) if p.startswith("${") else p for p in pieces)


def _write_out_dynamic(node: Any) -> Any:
    """`node` with each dynamic block over a literal map or list written out as its blocks."""
    if isinstance(node, list):
        return [_write_out_dynamic(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _write_out_dynamic(v) for k, v in node.items() if k != "dynamic"}
    kept = []
    for block in node.get("dynamic", []):
        for name, spec in block.items():
            items = spec["for_each"]
            if isinstance(items, dict):
                pairs = list(items.items())
            elif isinstance(items, list):
                pairs = list(enumerate(items))
            else:
                kept.append({name: spec})
                continue
            (content,) = spec["content"]
            iterator = spec.get("iterator", name)
            out.setdefault(name, []).extend(
                _write_out_dynamic(_bind(content, iterator, k, v)) for k, v in pairs
            )
    if kept:
        out["dynamic"] = kept
    return out


def _locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in _tf().get("locals", []):
        for name, value in block.items():
            assert name not in merged, f"local.{name} declared twice"
            merged[name] = value
    return merged


def _variables() -> dict[str, dict[str, Any]]:
    return {name: body for block in _tf().get("variable", []) for name, body in block.items()}


def _block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block `name` of a resource body."""
    (block,) = body[name]
    return block


def _interpolation(value: Any) -> str | None:
    """The expression inside a value that is exactly one ${...}, else None."""
    if not (isinstance(value, str) and value.startswith("${") and value.endswith("}")):
        return None
    depth = 0
    for i, char in enumerate(value[1:], start=1):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0 and i != len(value) - 1:
            return None  # "${a}-${b}": a template, not one expression
    return value[2:-1]


def _resolve(value: Any) -> Any:
    """The literal value of an expression when infra/ alone determines it (variable defaults,
    locals, literal resource attributes, tostring), None when the deployment decides it (the
    project id, a service account's email...)."""
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    expression = _interpolation(value)
    if expression is None:
        if "${" not in value:
            return value
        parts = []  # a template: every interpolation must resolve
        for piece in re.split(r"(\$\{[^{}]*\})", value):
            resolved = _resolve(piece) if piece.startswith("${") else piece
            if resolved is None:
                return None
            parts.append(str(resolved))
        return "".join(parts)
    expression = expression.strip()
    if match := re.fullmatch(r"tostring\((.+)\)", expression):
        inner = _resolve("${" + match.group(1) + "}")
        return None if inner is None else str(inner)
    if match := re.fullmatch(r"var\.(\w+)", expression):
        return _variables()[match.group(1)].get("default", None)
    if match := re.fullmatch(r'local\.(\w+)((?:\.\w+|\["\w+"\])*)', expression):
        # local.name, or a value inside it: local.name.key, local.name["key"]
        found = _resolve(_locals()[match.group(1)])
        for key in re.findall(r"\w+", match.group(2)):
            if not isinstance(found, dict):
                return None
            found = found[key]
        return found
    if match := re.fullmatch(r'(google_\w+)\.(\w+)(?:\["(\w+)"\])?\.(\w+)', expression):
        kind, name, key, attribute = match.groups()
        body = _resources(kind)[key or name]
        return _resolve(body[attribute]) if attribute in body else None
    return None


def _functions() -> dict[str, dict[str, Any]]:
    """The Cloud Functions by entry point."""
    return {
        _block(body, "build_config")["entry_point"]: body
        for body in _resources(FUNCTION_TYPE).values()
    }


def _function_resource_name(entry_point: str) -> str:
    """How the Terraform refers to the function running `entry_point` (name or name["key"])."""
    for _, address, body in _declarations(FUNCTION_TYPE):
        if _block(body, "build_config")["entry_point"] == entry_point:
            return address
    raise AssertionError(f"no function runs {entry_point}")


def _env(entry_point: str) -> dict[str, Any]:
    """A function's plain environment variables, as written (expressions unresolved)."""
    value = _block(_functions()[entry_point], "service_config")["environment_variables"]
    if isinstance(value, dict):
        return value
    match = re.fullmatch(r"\$\{merge\(([^()]*)\)\}", value)
    assert match, f"{entry_point}: environment_variables must be a map or merge(local.a, ...)"
    env: dict[str, Any] = {}
    for argument in match.group(1).split(","):
        ref = re.fullmatch(r"local\.(\w+)", argument.strip())
        assert ref, f"{entry_point}: merge() arguments must be locals, got {argument!r}"
        env.update(_locals()[ref.group(1)])
    return env


def _secret_env(entry_point: str) -> list[dict[str, Any]]:
    service = _block(_functions()[entry_point], "service_config")
    return list(service.get("secret_environment_variables", []))


def _seconds(duration: Any) -> int:
    match = re.fullmatch(r"(\d+)s", str(_resolve(duration)))
    assert match, f"not a duration in seconds: {duration!r}"
    return int(match.group(1))


def _refers_to(expression: Any, kind: str) -> str | None:
    """The name of the `kind` resource an expression refers to (the key of an instance,
    name["key"]), if any."""
    match = re.search(rf'{kind}\.(\w+)(?:\["(\w+)"\])?\.', str(expression))
    return (match.group(2) or match.group(1)) if match else None


def _members(grant: dict[str, Any]) -> set[str]:
    """Who an IAM member resource grants to: service account resource names, or the literal
    member ("allUsers"); a for_each grant counts every member of its map."""
    members = [grant["member"]]
    if grant["member"] == "${each.value}":
        assert isinstance(grant["for_each"], dict), "for_each grants need a literal map"
        members = list(grant["for_each"].values())
    return {_refers_to(m, "google_service_account") or m for m in members}


# ----- what the code expects -------------------------------------------------------------------


def _settings_env_names() -> set[str]:
    names = set()
    for field_name, field in Settings.model_fields.items():
        names.add(field_name.upper())
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {choice.upper() for choice in alias.choices if isinstance(choice, str)}
        elif isinstance(alias, str):
            names.add(alias.upper())
    return names


def _entry_points_in_main() -> set[str]:
    tree = ast.parse((FUNCTIONS / "main.py").read_text())
    found = set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if ast.unparse(decorator) in ("functions_framework.http", "http"):
                found.add(node.name)
    return found


# ----- Terraform: resources, entry points, environment -----------------------------------------


def test_infra_declares_every_resource_kind() -> None:
    for kind, count in {
        "google_project_service": 1,
        "google_service_account": 5,
        FUNCTION_TYPE: 3,
        "google_cloud_tasks_queue": 1,
        "google_cloud_scheduler_job": 1,
        "google_secret_manager_secret": 1,
        "google_firestore_database": 1,
        "google_firestore_index": 1,
        "google_firestore_field": 1,
        "google_firebaserules_ruleset": 1,
        "google_firebaserules_release": 1,
        "google_storage_bucket_object": 1,
    }.items():
        assert len(_resources(kind)) >= count, f"expected at least {count} {kind}"
    apis = str(_locals()["required_apis"])
    for api in (
        "cloudfunctions",
        "run",
        "cloudbuild",
        "artifactregistry",
        "cloudtasks",
        "cloudscheduler",
        "firestore",
        "secretmanager",
        "iam",
        "logging",
        "firebaserules",
    ):
        assert f"{api}.googleapis.com" in apis, f"API {api} is not enabled"


def test_every_variable_and_output_is_documented() -> None:
    for name, body in _variables().items():
        assert body.get("description"), f"variable {name} has no description"
        assert body.get("type"), f"variable {name} has no type"
    outputs = {name: body for block in _tf().get("output", []) for name, body in block.items()}
    assert {"api_url", "worker_url", "cleanup_url", "tasks_queue"} <= set(outputs)
    for name, body in outputs.items():
        assert body.get("description"), f"output {name} has no description"


def test_entry_points_are_the_decorated_functions_of_main_py() -> None:
    in_code = _entry_points_in_main()
    assert in_code == {"api", "process_job", "cleanup_jobs"}
    assert set(_functions()) == in_code
    assert len(_resources(FUNCTION_TYPE)) == len(in_code)


def test_functions_are_built_from_the_functions_directory_on_python_311() -> None:
    (archive,) = (
        body for block in _tf()["data"] for body in block.get("archive_file", {}).values()
    )
    source_dir = archive["source_dir"].replace("${path.module}/", "")
    assert (INFRA / source_dir).resolve() == FUNCTIONS
    (source,) = _resources("google_storage_bucket_object").values()
    assert "output_md5" in source["name"], "a code change must be a new object (a new build)"
    for entry_point, body in _functions().items():
        build = _block(body, "build_config")
        assert _resolve(build["runtime"]) == "python311", entry_point
        storage = _block(_block(build, "source"), "storage_source")
        assert _refers_to(storage["object"], "google_storage_bucket_object"), entry_point


def test_function_names_are_their_cloud_run_service_names() -> None:
    # The invoker grants name the Cloud Run service by the function's name: that holds only for
    # names Cloud Run accepts as they are (lowercase letters, digits, hyphens).
    for entry_point, body in _functions().items():
        name = _resolve(body["name"])
        assert re.fullmatch(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", name), (entry_point, name)


def test_every_environment_variable_is_a_setting() -> None:
    known = _settings_env_names() | FRAMEWORK_ENV
    for entry_point in _functions():
        names = set(_env(entry_point)) | {s["key"] for s in _secret_env(entry_point)}
        unknown = names - known
        assert not unknown, f"{entry_point} sets {sorted(unknown)}, not fields of Settings"


@pytest.mark.parametrize(
    ("entry_point", "required"),
    [
        # The api enqueues: the queue, the worker's URL and the tasks' OIDC identity.
        (
            "api",
            {"PROJECT_ID", "TASKS_LOCATION", "TASKS_QUEUE", "WORKER_URL", "TASKS_SERVICE_ACCOUNT"},
        ),
        (
            "process_job",
            {
                "PROJECT_ID",
                "WORKER_URL",
                "TASKS_SERVICE_ACCOUNT",
                "WORKER_CALLER_CHECK",
                "MAX_ATTEMPTS",
                "LEASE_SECONDS",
            },
        ),
        (
            "cleanup_jobs",
            {
                "PROJECT_ID",
                "TASKS_LOCATION",
                "TASKS_QUEUE",
                "WORKER_URL",
                "TASKS_SERVICE_ACCOUNT",
                "WORKER_CALLER_CHECK",
                "MAX_ATTEMPTS",
                "LEASE_SECONDS",
                "CLEANUP_URL",
                "SCHEDULER_SERVICE_ACCOUNT",
            },
        ),
    ],
)
def test_each_function_gets_what_its_code_requires(entry_point: str, required: set[str]) -> None:
    env = _env(entry_point)
    missing = required - set(env)
    assert not missing, f"{entry_point} lacks {sorted(missing)}"


def test_private_functions_verify_oidc_tokens() -> None:
    for entry_point in ("process_job", "cleanup_jobs"):
        assert _resolve(_env(entry_point)["WORKER_CALLER_CHECK"]) == "oidc", entry_point


@pytest.mark.parametrize("entry_point", ["api", "process_job", "cleanup_jobs"])
def test_threads_equal_each_functions_request_concurrency(entry_point: str) -> None:
    """functions-framework runs 4 x CPU gunicorn threads unless THREADS is set; Cloud Run sends
    an instance at most max_instance_request_concurrency requests at once."""
    env = _env(entry_point)
    assert "THREADS" in env, f"{entry_point}: set THREADS to its request concurrency"
    service = _block(_functions()[entry_point], "service_config")
    concurrency = _resolve(service["max_instance_request_concurrency"])
    threads = _resolve(env["THREADS"])
    assert concurrency is not None, f"{entry_point}: concurrency must resolve from infra/"
    assert threads is not None, f"{entry_point}: THREADS must resolve from infra/"
    assert int(threads) == int(concurrency), (entry_point, threads, concurrency)
    # Both from the one table, so a changed concurrency changes THREADS with it.
    assert "local.function_concurrency" in env["THREADS"], env["THREADS"]
    assert "local.function_concurrency" in service["max_instance_request_concurrency"]


def test_threads_follow_a_changed_concurrency() -> None:
    """Not a coincidence of the defaults: THREADS and the concurrency are the same expression
    of the same variable for each function."""
    table = _locals()["function_concurrency"]
    for entry_point, key in (
        ("api", "api"),
        ("process_job", "worker"),
        ("cleanup_jobs", "cleanup"),
    ):
        threads = _env(entry_point)["THREADS"]
        assert threads == f"${{tostring(local.function_concurrency.{key})}}", threads
        assert key in table, key


@pytest.mark.parametrize("entry_point", ["api", "process_job", "cleanup_jobs"])
def test_deployed_environment_passes_the_production_check(
    entry_point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each function runs as production, and what Terraform gives it is all the production
    check asks for (values decided at deploy time stand in as a deployment gives them)."""
    env = _env(entry_point)
    assert _resolve(env.get("QGEN_ENVIRONMENT")) == "production", entry_point
    for name in _settings_env_names():
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        resolved = _resolve(value)
        if resolved is None:
            resolved = (
                "https://us-central1-prod-project.cloudfunctions.net/fn"
                if name.endswith("_URL")
                else "sa@prod-project.iam.gserviceaccount.com"
                if name.endswith("_SERVICE_ACCOUNT")
                else "prod-project"
            )
        monkeypatch.setenv(name, str(resolved))
    for secret in _secret_env(entry_point):
        monkeypatch.setenv(secret["key"], "from-secret-manager")
    assert production_problems(Settings(), entry_point) == []


@pytest.mark.parametrize("entry_point", ["api", "process_job", "cleanup_jobs"])
def test_environment_values_are_valid_settings(
    entry_point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _settings_env_names():
        monkeypatch.delenv(name, raising=False)
    resolved = {
        name: _resolve(value)
        for name, value in _env(entry_point).items()
        if name not in FRAMEWORK_ENV
    }
    for name, value in resolved.items():
        if value is not None:  # decided at deploy time (project id, emails): the type is str
            monkeypatch.setenv(name, str(value))
    settings = Settings()  # raises if a value does not parse (a typo in WORKER_CALLER_CHECK...)
    for name, value in resolved.items():
        if value is None:
            continue
        actual = getattr(settings, "project_id" if name == "PROJECT_ID" else name.lower())
        if isinstance(actual, int | float):
            assert actual == type(actual)(value), name
        elif isinstance(actual, str):
            assert actual == value, name


def test_gemini_key_reaches_only_the_worker_from_secret_manager() -> None:
    (secret,) = _secret_env("process_job")
    assert secret["key"] == "GEMINI_API_KEY"
    assert _refers_to(secret["secret"], "google_secret_manager_secret")
    assert _resolve(secret["version"]), "pin a version or use latest"
    for entry_point in ("api", "cleanup_jobs"):
        assert not _secret_env(entry_point), f"{entry_point} must not see secrets"
    for entry_point in _functions():
        assert "GEMINI_API_KEY" not in _env(entry_point), "the key must not be a plain variable"
    # Only the worker's account may read it.
    grants = _resources("google_secret_manager_secret_iam_member").values()
    assert set().union(*(_members(g) for g in grants)) == {"worker"}
    worker_sa = _block(_functions()["process_job"], "service_config")["service_account_email"]
    assert _refers_to(worker_sa, "google_service_account") == "worker"


# ----- queue, URLs, timeouts, retries ----------------------------------------------------------


def _queue() -> dict[str, Any]:
    (queue,) = _resources("google_cloud_tasks_queue").values()
    return queue


def test_queue_is_the_one_the_code_enqueues_into() -> None:
    queue = _queue()
    assert _resolve(queue["name"]) == Settings.model_fields["tasks_queue"].default
    for entry_point, env in ((e, _env(e)) for e in _functions()):
        if "TASKS_QUEUE" in env:
            assert _resolve(env["TASKS_QUEUE"]) == _resolve(queue["name"]), entry_point
            assert _refers_to(env["TASKS_QUEUE"], "google_cloud_tasks_queue"), entry_point
        if "TASKS_LOCATION" in env:
            assert _refers_to(env["TASKS_LOCATION"], "google_cloud_tasks_queue"), entry_point


def _function_url_local(entry_point: str, env_name: str) -> str:
    """The local every function's `env_name` points at, checked to be `entry_point`'s URL."""
    expressions = {_env(e)[env_name] for e in _functions() if env_name in _env(e)}
    assert len(expressions) == 1, f"{env_name} differs between functions: {expressions}"
    (expression,) = expressions
    ref = re.fullmatch(r"\$\{local\.(\w+)\}", expression)
    assert ref, f"{env_name} must be a local holding the function's URL"
    url = _locals()[ref.group(1)]
    body = _functions()[entry_point]
    # The deterministic URL of a 2nd gen function: https://REGION-PROJECT.cloudfunctions.net/NAME
    # with no path: the worker and the cleanup answer POST on their root.
    match = re.fullmatch(
        r"https://(\$\{[^}]+\})-(\$\{[^}]+\})\.cloudfunctions\.net/(\$\{[^}]+\})", url
    )
    assert match, f"local.{ref.group(1)} is not a function URL: {url}"
    region, project, name = match.groups()
    assert region == body["location"], f"{env_name}: region differs from the function's"
    assert project == body["project"], f"{env_name}: project differs from the function's"
    assert _resolve(name) == _resolve(body["name"]), f"{env_name}: not {entry_point}'s name"
    # And the deployed url is checked against it when Terraform applies.
    conditions = [
        c["condition"]
        for lifecycle in body.get("lifecycle", [])
        for c in lifecycle.get("postcondition", [])
    ]
    assert f"${{self.url == local.{ref.group(1)}}}" in conditions, (
        f"{entry_point} needs a postcondition self.url == local.{ref.group(1)}"
    )
    return ref.group(1)


def test_worker_url_is_the_worker_functions_url() -> None:
    # WORKER_URL is where the tasks POST and the OIDC audience the worker verifies.
    _function_url_local("process_job", "WORKER_URL")


def test_cleanup_url_is_the_cleanup_functions_url_and_the_schedulers_audience() -> None:
    local_name = _function_url_local("cleanup_jobs", "CLEANUP_URL")
    cleanup = _function_resource_name("cleanup_jobs")
    for job in _resources("google_cloud_scheduler_job").values():
        target = _block(job, "http_target")
        assert target["uri"] == f"${{{FUNCTION_TYPE}.{cleanup}.url}}"
        assert _block(target, "oidc_token")["audience"] == f"${{local.{local_name}}}"


def test_worker_timeout_exceeds_the_task_dispatch_deadline() -> None:
    # A task's dispatch deadline is set per task by the enqueuing code; it sets none, so Cloud
    # Tasks' default applies, which infra/ records as a local.
    source = (QGEN / "adapters" / "task_queue.py").read_text()
    if "dispatch_deadline" in source:
        pytest.fail("the code sets Task.dispatch_deadline: make infra's local follow it")
    deadline = _resolve(_locals()["tasks_dispatch_deadline_seconds"])
    assert deadline == 600, "Cloud Tasks' default dispatch deadline for HTTP tasks is 10 min"
    assert 15 <= deadline <= 1800, "Cloud Tasks allows 15 s to 30 min"
    timeout = _resolve(_block(_functions()["process_job"], "service_config")["timeout_seconds"])
    assert deadline < timeout <= 3600


def test_queue_retries_agree_with_the_worker() -> None:
    retry = _block(_queue(), "retry_config")
    max_attempts = _resolve(retry["max_attempts"])
    min_backoff = _seconds(retry["min_backoff"])
    assert _seconds(retry["max_backoff"]) >= min_backoff
    assert max_attempts == 5
    for entry_point in _functions():
        env = _env(entry_point)
        if "MAX_ATTEMPTS" in env:
            assert int(_resolve(env["MAX_ATTEMPTS"])) == max_attempts, entry_point
        if "LEASE_SECONDS" in env:
            lease = int(_resolve(env["LEASE_SECONDS"]))
            # A retry after a worker died must land after its lease expired.
            assert min_backoff >= lease, f"min_backoff {min_backoff}s < lease {lease}s"
    cleanup = _env("cleanup_jobs")
    stale = int(_resolve(cleanup["STALE_PENDING_SECONDS"]))
    assert stale > min_backoff, "a job waiting out a backoff is not stale"


def test_queue_rate_limits_fit_the_worker_capacity() -> None:
    limits = _block(_queue(), "rate_limits")
    concurrent = _resolve(limits["max_concurrent_dispatches"])
    assert _resolve(limits["max_dispatches_per_second"]) > 0
    service = _block(_functions()["process_job"], "service_config")
    capacity = _resolve(service["max_instance_count"]) * _resolve(
        service["max_instance_request_concurrency"]
    )
    assert capacity >= concurrent, "Cloud Run would refuse deliveries (429), burning attempts"


# ----- identities ------------------------------------------------------------------------------


def _invokers() -> dict[str, set[str]]:
    """Members with run.invoker, by entry point."""
    by_function: dict[str, set[str]] = {}
    names = {
        n: _block(b, "build_config")["entry_point"] for n, b in _resources(FUNCTION_TYPE).items()
    }
    for grant in _resources("google_cloud_run_v2_service_iam_member").values():
        assert grant["role"] == "roles/run.invoker"
        function = _refers_to(grant["name"], FUNCTION_TYPE)
        assert function, "invoker grants must name the function's service"
        by_function.setdefault(names[function], set()).update(_members(grant))
    return by_function


def test_only_the_api_is_public_and_each_private_function_has_one_caller() -> None:
    assert _invokers() == {
        "api": {"allUsers"},
        "process_job": {"tasks"},
        "cleanup_jobs": {"scheduler"},
    }
    for kind in (
        "google_cloud_run_service_iam_member",
        "google_cloudfunctions2_function_iam_member",
    ):
        assert not _resources(kind), (
            f"invoker grants belong in google_cloud_run_v2_service_iam_member, not {kind}"
        )
    # Project-wide roles: Firestore data and FCM for the three runtimes, logs for the build.
    project_roles = {
        (g["role"], member)
        for g in _resources("google_project_iam_member").values()
        for member in _members(g)
    }
    assert project_roles == {
        ("roles/datastore.user", "api"),
        ("roles/datastore.user", "worker"),
        ("roles/datastore.user", "cleanup"),
        # FCM's send permission has no narrower resource; the three runtimes send (§34).
        ("roles/firebasecloudmessaging.admin", "api"),
        ("roles/firebasecloudmessaging.admin", "worker"),
        ("roles/firebasecloudmessaging.admin", "cleanup"),
        ("roles/logging.logWriter", "build"),
        # The build reads the source from Google's gcf-v2-sources-* bucket (test below).
        ("roles/storage.objectViewer", "build"),
    }


def test_each_function_runs_as_its_own_account() -> None:
    accounts = {
        e: _refers_to(
            _block(b, "service_config")["service_account_email"], "google_service_account"
        )
        for e, b in _functions().items()
    }
    assert accounts == {"api": "api", "process_job": "worker", "cleanup_jobs": "cleanup"}


def test_oidc_identities_agree_between_callers_and_callees() -> None:
    tasks_account = {
        _refers_to(_env(e)["TASKS_SERVICE_ACCOUNT"], "google_service_account")
        for e in _functions()
        if "TASKS_SERVICE_ACCOUNT" in _env(e)
    }
    assert tasks_account == {"tasks"}
    # The enqueuers (the api, the worker's rescheduled retries, the cleanup) may create tasks
    # on the queue and act as the tasks account, nobody else.
    enqueuers = {
        member
        for g in _resources("google_cloud_tasks_queue_iam_member").values()
        if g["role"] == "roles/cloudtasks.enqueuer"
        for member in _members(g)
    }
    assert enqueuers == {"api", "worker", "cleanup"}
    act_as = {
        member
        for g in _resources("google_service_account_iam_member").values()
        if g["role"] == "roles/iam.serviceAccountUser"
        and _refers_to(g["service_account_id"], "google_service_account") == "tasks"
        for member in _members(g)
    }
    assert act_as == {"api", "worker", "cleanup"}
    scheduler_account = _refers_to(
        _env("cleanup_jobs")["SCHEDULER_SERVICE_ACCOUNT"], "google_service_account"
    )
    assert scheduler_account == "scheduler"
    for job in _resources("google_cloud_scheduler_job").values():
        token = _block(_block(job, "http_target"), "oidc_token")
        assert _refers_to(token["service_account_email"], "google_service_account") == "scheduler"


def _grants_to(account: str) -> dict[str, dict[str, Any]]:
    """Every IAM member resource granting something to `account`, by its address."""
    found = {}
    for block in _tf().get("resource", []):
        for kind, resources in block.items():
            if not kind.endswith("_iam_member"):
                continue
            for name, body in resources.items():
                if account in _members(body):
                    found[f"{kind}.{name}"] = body
    return found


def test_build_account_can_read_the_source_cloud_functions_copies() -> None:
    """Cloud Functions (2nd gen) copies the uploaded zip into its own
    gcf-v2-sources-PROJECT_NUMBER-REGION bucket and builds from there: the build account needs
    object read on the project (a bucket-level grant on our upload bucket is not enough), as in
    the provider's builder example (storage.objectAdmin there; roles/run.builder also does)."""
    grants = _grants_to("build")
    project_roles = {
        g["role"] for a, g in grants.items() if a.startswith("google_project_iam_member.")
    }
    assert project_roles & {
        "roles/storage.objectViewer",
        "roles/storage.objectAdmin",
        "roles/run.builder",
    }, f"the build account cannot read gcf-v2-sources-*: {sorted(project_roles)}"
    assert project_roles & {"roles/logging.logWriter", "roles/run.builder"}
    images = {
        g["role"]
        for a, g in grants.items()
        if a.startswith("google_artifact_registry_repository_iam_member.")
    }
    assert images & {"roles/artifactregistry.writer"} or "roles/run.builder" in project_roles
    for entry_point, body in _functions().items():
        build = _block(body, "build_config")
        assert _refers_to(build["service_account"], "google_service_account") == "build"
        assert "google_artifact_registry_repository." in build["docker_repository"], entry_point


def test_functions_wait_for_the_grants_to_propagate() -> None:
    """IAM is eventually consistent: as in the provider's builder example, a time_sleep after
    the grants, and every function depends on it (not only on the grants)."""
    ((name, sleep),) = _resources("time_sleep").items()
    assert _seconds(sleep["create_duration"]) >= 30
    waited = set(sleep["depends_on"])
    # Every grant the build account needs, and the worker's secret (its revision needs it).
    needed = set(_grants_to("build")) | {
        f"google_secret_manager_secret_iam_member.{n}"
        for n in _resources("google_secret_manager_secret_iam_member")
    }
    missing = {address for address in needed if f"${{{address}}}" not in waited}
    assert not missing, f"time_sleep.{name} must wait for {sorted(missing)}"
    for block in _tf()["resource"]:
        for resource_name, body in block.get(FUNCTION_TYPE, {}).items():
            assert f"${{time_sleep.{name}}}" in body.get("depends_on", []), resource_name
    (terraform,) = _tf()["terraform"]
    (providers,) = terraform["required_providers"]
    assert providers["time"]["source"] == "hashicorp/time"


# ----- schedules -------------------------------------------------------------------------------


def test_retention_runs_daily_at_3_utc_and_recovery_every_5_minutes() -> None:
    from qgen.services.cleanup import CleanupMode

    (job,) = _resources("google_cloud_scheduler_job").values()
    assert job["for_each"] == "${local.cleanup_schedules}"
    target = _block(job, "http_target")
    assert target["http_method"] == "POST"
    assert target["body"] == "${base64encode(jsonencode(each.value.body))}"
    assert _resolve(job["time_zone"]) in ("Etc/UTC", "UTC")
    schedules = _resolve(_locals()["cleanup_schedules"])
    assert {name: s["body"]["mode"] for name, s in schedules.items()} == {
        "retention": "retention",
        "recovery": "recovery",
    }
    assert {s["body"]["mode"] for s in schedules.values()} <= {m.value for m in CleanupMode}
    assert schedules["retention"]["schedule"] == "0 3 * * *"
    assert schedules["recovery"]["schedule"] == "*/5 * * * *"
    for name, schedule in schedules.items():
        deadline = int(schedule["attempt_deadline"])
        assert 15 <= deadline <= 1800, f"{name}: Cloud Scheduler allows 15 s to 30 min"
    assert int(schedules["recovery"]["attempt_deadline"]) < 300, "runs would pile up"
    timeout = _resolve(_block(_functions()["cleanup_jobs"], "service_config")["timeout_seconds"])
    assert int(schedules["retention"]["attempt_deadline"]) <= timeout


# ----- Firestore: indexes from the JSON file, TTL, rules ----------------------------------------


def test_terraform_reads_indexes_ttl_and_rules_from_the_root_files() -> None:
    local = _locals()
    assert local["firestore_config"] == "${jsondecode(file(local.firestore_indexes_file))}"
    for name, path in (
        ("firestore_indexes_file", INDEXES_FILE),
        ("firestore_rules_file", RULES_FILE),
    ):
        relative = local[name].replace("${path.module}/", "")
        assert (INFRA / relative).resolve() == path, name
    assert "local.firestore_config.indexes" in local["firestore_composite_indexes"]
    assert "local.firestore_config.fieldOverrides" in local["firestore_field_overrides"]

    (index,) = _resources("google_firestore_index").values()
    assert index["for_each"] == "${local.firestore_composite_indexes}"
    assert index["collection"] == "${each.value.collectionGroup}", "no hand-copied indexes"
    (field,) = _resources("google_firestore_field").values()
    assert field["for_each"] == "${local.firestore_field_overrides}"
    assert field["collection"] == "${each.value.collectionGroup}"
    assert field["field"] == "${each.value.fieldPath}"
    dynamic = {name: body for block in field["dynamic"] for name, body in block.items()}
    assert "each.value.ttl" in dynamic["ttl_config"]["for_each"]

    (ruleset,) = _resources("google_firebaserules_ruleset").values()
    files = _block(_block(ruleset, "source"), "files")
    assert files["content"] == "${file(local.firestore_rules_file)}"
    (release,) = _resources("google_firebaserules_release").values()
    assert release["name"] == "cloud.firestore"
    (database,) = _resources("google_firestore_database").values()
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["name"] == "(default)"


def test_ttl_policies_cover_the_expiring_collections() -> None:
    from qgen.adapters.firestore.names import IDEMPOTENCY_KEYS, RATE_WINDOWS, TOKEN_BUDGETS

    overrides = json.loads(INDEXES_FILE.read_text()).get("fieldOverrides", [])
    ttl = {(o["collectionGroup"], o["fieldPath"]) for o in overrides if o.get("ttl")}
    expiring = {RATE_WINDOWS, IDEMPOTENCY_KEYS, TOKEN_BUDGETS}
    assert {(collection, "expireAt") for collection in expiring} <= ttl


# The Firestore queries of the code, found by reading it: a chain such as
#     db.collection(JOBS).where(filter=FieldFilter("userId", "==", uid)).order_by("createdAt", ...)
# possibly built in steps through local variables (q = ...; q = q.where(...)).

_EQUALITY = {"==", "in"}
_CONTAINS = {"array-contains", "array-contains-any"}
_RANGE = {"<", "<=", ">", ">=", "!=", "not-in"}


@dataclass(frozen=True)
class Query:
    where: str
    collection: str | None
    scope: str
    equalities: frozenset[str]
    contains: frozenset[str]
    ranges: tuple[str, ...]
    orders: tuple[tuple[str, str], ...]

    def fields(self) -> set[str]:
        ordered = {f for f, _ in self.orders}
        return (self.equalities | self.contains | set(self.ranges) | ordered) - {"__name__"}

    def needs_composite_index(self) -> bool:
        # Equality filters alone are served by merging single-field indexes.
        many = len(self.fields()) > 1
        return many and bool(self.ranges or self.orders or self.contains)

    def served_by(self, index: dict[str, Any]) -> bool:
        if index["collectionGroup"] != self.collection:
            return False
        if index.get("queryScope", "COLLECTION") != self.scope:
            return False
        fields = [f for f in index["fields"] if f["fieldPath"] != "__name__"]
        ordered = [(f, d) for f, d in self.orders if f != "__name__"]
        suffix = ordered + [(r, "ASCENDING") for r in self.ranges if r not in dict(ordered)]
        prefix = (self.equalities | self.contains) - {f for f, _ in suffix}
        if len(fields) != len(prefix) + len(suffix):
            return False
        head, tail = fields[: len(prefix)], fields[len(prefix) :]
        if {f["fieldPath"] for f in head} != prefix:
            return False
        for f in head:
            wanted = "arrayConfig" if f["fieldPath"] in self.contains else "order"
            if wanted not in f:
                return False
        if [f["fieldPath"] for f in tail] != [f for f, _ in suffix]:
            return False
        directions = [f.get("order") for f in tail]
        flip = {"ASCENDING": "DESCENDING", "DESCENDING": "ASCENDING"}
        wanted_directions = [d for _, d in suffix]
        # An index serves its exact order or, read backwards, the reverse of every direction.
        return directions in (wanted_directions, [flip[d] for d in wanted_directions])


def _query_of(name: str, spec: QuerySpec) -> Query:
    direction = "DESCENDING" if spec.descending else "ASCENDING"
    orders = () if spec.order_by is None else ((spec.order_by, direction),)
    ranges = (spec.order_by,) if spec.compare is not None and spec.order_by else ()
    equalities = frozenset(field for field, _ in spec.equals)
    return Query(name, spec.collection, "COLLECTION", equalities, frozenset(), ranges, orders)


def test_every_query_is_declared_as_data() -> None:
    """Queries are built only from the specs in queries.py, so the index check sees them all."""
    declared = {v for v in vars(query_specs).values() if isinstance(v, QuerySpec)}
    assert set(ALL_QUERIES.values()) == declared
    for path in QGEN.rglob("*.py"):
        if path.name == "queries.py":
            continue
        source = path.read_text()
        for builder in (".where(", ".order_by(", "FieldFilter("):
            assert builder not in source, f"{path}: a query built outside queries.py"


def test_the_spec_reading_sees_ranges_orders_and_equalities() -> None:
    stale = _query_of("stale", QuerySpec("jobs", (("status", "pending"),), "enqueuedAt"))
    assert (stale.equalities, stale.ranges) == ({"status"}, ("enqueuedAt",))
    index = {
        "collectionGroup": "jobs",
        "fields": [
            {"fieldPath": "status", "order": "ASCENDING"},
            {"fieldPath": "enqueuedAt", "order": "ASCENDING"},
        ],
    }
    assert stale.needs_composite_index()
    assert stale.served_by(index)
    mine = _query_of("mine", QuerySpec("jobs", (("userId", None),), "createdAt", None, True))
    assert mine.orders == (("createdAt", "DESCENDING"),)
    assert mine.needs_composite_index()
    assert not mine.served_by(index)
    active = _query_of("active", QuerySpec("jobs", (("userId", None), ("status", ())), None, None))
    assert not active.needs_composite_index()  # equalities only: single-field indexes merge


def test_every_firestore_query_has_its_composite_index() -> None:
    queries = [_query_of(name, spec) for name, spec in ALL_QUERIES.items()]
    needing = [q for q in queries if q.needs_composite_index()]
    # Not vacuous: GET /jobs (userId ==, createdAt desc) is among them.
    assert any(q.orders == (("createdAt", "DESCENDING"),) for q in needing), queries
    indexes = json.loads(INDEXES_FILE.read_text())["indexes"]
    missing = [q for q in needing if not any(q.served_by(index) for index in indexes)]
    assert not missing, "add to firestore.indexes.json:\n" + "\n".join(
        f"  {q.where}: {q.collection} equal {sorted(q.equalities)} ranges {list(q.ranges)} "
        f"order {list(q.orders)}"
        for q in missing
    )


# Single-field indexes. Firestore indexes every field of every document in both directions
# unless fieldOverrides says otherwise; a field whose value increases monotonically (timestamps
# set at write time) written at a high rate makes its index a hotspot (writes to one tablet),
# so those no query needs alone are exempted ("indexes": []). Exemptions leave composite
# indexes alone: a query needs a single-field index only when no composite serves it.

# Monotonically increasing timestamps no query filters or orders on by themselves.
HOTSPOT_FIELDS = {
    ("questions", "generatedAt"),
    ("questions", "updatedAt"),
    ("questions", "due"),
    ("generationJobs", "enqueuedAt"),
    ("generationJobs", "startedAt"),
    ("generationJobs", "leaseExpiresAt"),
    ("generationJobs", "completedAt"),
}
_AUTOMATIC = frozenset({"ASCENDING", "DESCENDING", "CONTAINS"})


def _single_field_modes(overrides: list[dict[str, Any]]) -> dict[tuple[str, str], frozenset[str]]:
    """The single-field index modes (ASCENDING, DESCENDING, CONTAINS) each overridden field
    keeps for collection-scope queries; a field not listed keeps all three (automatic)."""
    kept = {}
    for override in overrides:
        if "indexes" not in override:  # e.g. a TTL policy alone: indexing stays automatic
            continue
        key = (override["collectionGroup"], override["fieldPath"])
        kept[key] = frozenset(
            index.get("order") or index.get("arrayConfig")
            for index in override["indexes"]
            if index.get("queryScope", "COLLECTION") == "COLLECTION"
        )
    return kept


def _single_field_needs(query: Query) -> dict[str, set[str]]:
    """For a query served by single-field indexes (no composite): per field, the modes any one
    of which serves it (an equality is served by either direction)."""
    if query.needs_composite_index():
        return {}
    needs: dict[str, set[str]] = {f: {"ASCENDING", "DESCENDING"} for f in query.equalities}
    needs.update({f: {"CONTAINS"} for f in query.contains})
    needs.update({f: {"ASCENDING"} for f in query.ranges})
    needs.update(dict((f, {d}) for f, d in query.orders))
    needs.pop("__name__", None)  # the document name is always indexed
    return needs


def _queries_needing_exempted_indexes(
    queries: list[Query], overrides: list[dict[str, Any]]
) -> list[str]:
    kept = _single_field_modes(overrides)
    problems = []
    for q in queries:
        for field, modes in _single_field_needs(q).items():
            available = kept.get((q.collection or "", field), _AUTOMATIC)
            if not modes & available:
                problems.append(
                    f"{q.where}: needs a single-field index on {q.collection}.{field} "
                    f"({' or '.join(sorted(modes))}), which fieldOverrides exempts"
                )
    return problems


def test_hotspot_timestamps_are_exempt_from_single_field_indexing() -> None:
    overrides = json.loads(INDEXES_FILE.read_text())["fieldOverrides"]
    kept = _single_field_modes(overrides)
    not_exempt = {key for key in HOTSPOT_FIELDS if kept.get(key, _AUTOMATIC)}
    assert not not_exempt, f'add {sorted(not_exempt)} to fieldOverrides with "indexes": []'
    keys = [(o["collectionGroup"], o["fieldPath"]) for o in overrides]
    assert len(keys) == len(set(keys)), "one override per field (Terraform keys them so)"
    # The fields are the code's: the documents it writes carry them.
    from qgen.domain.jobs import Job
    from qgen.domain.questions import SavedQuestion

    written = {
        "questions": {f.alias or n for n, f in SavedQuestion.model_fields.items()},
        "generationJobs": {f.alias or n for n, f in Job.model_fields.items()},
    }
    for collection, field in HOTSPOT_FIELDS:
        assert field in written[collection], f"{collection}.{field} is not a field the code writes"


def test_no_query_needs_a_single_field_index_that_is_exempted() -> None:
    overrides = json.loads(INDEXES_FILE.read_text())["fieldOverrides"]
    queries = [_query_of(name, spec) for name, spec in ALL_QUERIES.items()]
    problems = _queries_needing_exempted_indexes(queries, overrides)
    assert not problems, "\n".join(problems)
    # Not vacuous: the retention and recovery queries use exempted fields, through composites.
    exempted = {key for key, modes in _single_field_modes(overrides).items() if not modes}
    through_composites = [
        q.where
        for q in queries
        if q.needs_composite_index() and any((q.collection, f) in exempted for f in q.fields())
    ]
    assert {"FINISHED_BEFORE", "EXPIRED_LEASES", "STALE_PENDING"} <= set(through_composites)


def test_the_exemption_check_sees_a_query_on_an_exempted_field_alone() -> None:
    exempt = [{"collectionGroup": "jobs", "fieldPath": "completedAt", "indexes": []}]
    alone = _query_of("alone", QuerySpec("jobs", (), "completedAt"))
    assert _queries_needing_exempted_indexes([alone], exempt)
    with_status = _query_of("composite", QuerySpec("jobs", (("status", "x"),), "completedAt"))
    assert not _queries_needing_exempted_indexes([with_status], exempt)
    equal = _query_of("equal", QuerySpec("jobs", (("completedAt", None),), None, None))
    assert _queries_needing_exempted_indexes([equal], exempt)
    descending_only = [
        {
            "collectionGroup": "jobs",
            "fieldPath": "completedAt",
            "indexes": [{"order": "DESCENDING", "queryScope": "COLLECTION"}],
        }
    ]
    assert _queries_needing_exempted_indexes([alone], descending_only)  # ranges ascend
    assert not _queries_needing_exempted_indexes([equal], descending_only)
    ttl_only = [{"collectionGroup": "jobs", "fieldPath": "completedAt", "ttl": True}]
    assert not _queries_needing_exempted_indexes([alone], ttl_only)


def test_terraform_writes_an_exemption_as_an_empty_index_config() -> None:
    """`"indexes": []` in the file must become `index_config {}` (no indexes), which the
    provider documents as disabling all single-field indexes on the field."""
    (field,) = _resources("google_firestore_field").values()
    dynamic = {name: body for block in field["dynamic"] for name, body in block.items()}
    index_config = dynamic["index_config"]
    assert index_config["for_each"] == "${can(each.value.indexes) ? [each.value.indexes] : []}"
    (content,) = index_config["content"]
    inner = {name: body for block in content["dynamic"] for name, body in block.items()}
    assert inner["indexes"]["for_each"] == "${index_config.value}"


# ----- formatting ------------------------------------------------------------------------------


def test_terraform_fmt_check_passes() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr

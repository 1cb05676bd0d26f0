"""infra/ operations (monitoring.tf, budget.tf, backup.tf) agree with the code whose logs they read.

The log-based metrics read structured log events (functions/qgen/logs.py puts every `extra`
field of a record in jsonPayload). Which events the code logs, and with which fields, is read
from the source with `ast`: every `extra={...}` dict with an "event", following `**spreads`
into the dict a helper returns (`attempt.log_fields()`), a local dict (`**context`) or a
pydantic report (`**report.dump()`), and into nested pydantic values (`usage`). A metric whose
filter names an event or a field the code does not log fails here, as does an alert on a metric
that is not defined (or not a real built-in one), an alert without documentation or channels,
and a cleanup alert that would fire only after the run was cut off. Two runtime tests check
that the fields the new metrics read really reach the JSON line.
"""

from __future__ import annotations

import ast
import importlib
import json
import logging
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
from pydantic import BaseModel
from qgen.config import Settings
from qgen.domain.errors import ErrorCode
from qgen.domain.failures import FailureCode, ModelError
from qgen.logs import CloudLoggingFormatter

from tests.support.fakes import FakeClock, InMemoryTaskQueue, MemoryStore, ScriptedModel
from tests.support.questions import answer_stream
from tests.unit.test_cleanup_service import cleanup
from tests.unit.test_infra import (
    INFRA,
    QGEN,
    ROOT,
    _block,
    _env,
    _functions,
    _locals,
    _resolve,
    _resources,
    _tf,
    _variables,
)
from tests.unit.test_worker_service import new_job, worker

OPERATIONS_DOC = ROOT / "docs" / "operations.md"
METRIC = "google_logging_metric"
POLICY = "google_monitoring_alert_policy"
USER_METRIC_PREFIX = "logging.googleapis.com/user/"
# Fields every line has in jsonPayload besides its extras (logs.py); severity leaves jsonPayload.
STANDARD_FIELDS = frozenset({"message", "logger"})
# Built-in metrics the alerts and the dashboard use, with their monitored resource and value type
# (Cloud Monitoring's list of Google Cloud metrics: run, cloudtasks).
BUILTIN_METRICS = {
    "run.googleapis.com/request_count": ("cloud_run_revision", "INT64"),
    "cloudtasks.googleapis.com/queue/depth": ("cloud_tasks_queue", "INT64"),
    "cloudtasks.googleapis.com/queue/task_attempt_delays": ("cloud_tasks_queue", "DISTRIBUTION"),
}


# ----- what the code logs ----------------------------------------------------------------------


@dataclass(frozen=True)
class LogSite:
    """One logging call with an event: where, which events (as patterns), with which fields."""

    where: str
    events: tuple[re.Pattern[str], ...]
    fields: frozenset[str]  # dotted paths: "usage", "usage.promptTokens"
    unresolved: tuple[str, ...]  # spreads the scan could not follow

    def logs(self, event: str) -> bool:
        return any(pattern.fullmatch(event) for pattern in self.events)


@dataclass
class _Module:
    name: str
    tree: ast.Module
    parents: dict[ast.AST, ast.AST]

    def enclosing(self, node: ast.AST, kind: type[ast.AST]) -> Any:
        while node in self.parents:
            node = self.parents[node]
            if isinstance(node, kind):
                return node
        return None

    def functions(self, name: str) -> Iterator[ast.FunctionDef]:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef) and node.name == name:
                yield node


def _event_patterns(value: ast.expr) -> tuple[re.Pattern[str], ...]:
    """The event names a value can take: a literal, either branch of `a if c else b`, or an
    f-string (each placeholder matches any text)."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return (re.compile(re.escape(value.value)),)
    if isinstance(value, ast.IfExp):
        return _event_patterns(value.body) + _event_patterns(value.orelse)
    if isinstance(value, ast.JoinedStr):
        parts = [
            re.escape(str(p.value)) if isinstance(p, ast.Constant) else ".+" for p in value.values
        ]
        return (re.compile("".join(parts)),)
    raise AssertionError(f"cannot read the event {ast.unparse(value)}")


def _pydantic_fields(model: Any) -> set[str] | None:
    """The JSON names (aliases) of a pydantic model's fields, or None if it is not one."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return {field.alias or name for name, field in model.model_fields.items()}
    return None


class _Scan:
    """The fields of one `extra` dict, with its spreads followed."""

    def __init__(self, module: _Module) -> None:
        self.module = module
        self.fields: set[str] = set()
        self.unresolved: list[str] = []

    def dict_(self, node: ast.Dict, scope: ast.FunctionDef | None) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                self.spread(value, scope)
            elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                self.fields.add(key.value)
                for nested in self.nested(value, scope):
                    self.fields.add(f"{key.value}.{nested}")

    def spread(self, value: ast.expr, scope: ast.FunctionDef | None) -> None:
        if isinstance(value, ast.Name) and isinstance(
            found := self.assigned(value.id, scope), ast.Dict
        ):
            return self.dict_(found, scope)
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
            target, method = value.func.value, value.func.attr
            if isinstance(target, ast.Name) and method in ("dump", "model_dump"):
                made = self.assigned(target.id, scope)
                if isinstance(made, ast.Call) and isinstance(made.func, ast.Name):
                    fields = _pydantic_fields(self.attribute(made.func.id))
                    if fields is not None:
                        self.fields |= fields
                        return None
            helpers = list(self.module.functions(method))
            returned = [d for h in helpers for d in self.returned_dicts(h)]
            if returned:
                for helper in helpers:
                    for found_dict in self.returned_dicts(helper):
                        self.dict_(found_dict, helper)
                    self.fields |= self.subscript_keys(helper)
                return None
        self.unresolved.append(f"{self.module.name}: **{ast.unparse(value)}")
        return None

    def assigned(self, name: str, scope: ast.FunctionDef | None) -> ast.expr | None:
        for node in ast.walk(scope) if scope is not None else ():
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id == name:
                        return node.value
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.target.id == name
            ):
                return node.value
        return None

    def returned_dicts(self, function: ast.FunctionDef) -> list[ast.Dict]:
        found = []
        for node in ast.walk(function):
            value = getattr(node, "value", None)
            if isinstance(node, ast.Return | ast.Assign | ast.AnnAssign) and isinstance(
                value, ast.Dict
            ):
                found.append(value)
        return found

    def subscript_keys(self, function: ast.FunctionDef) -> set[str]:
        """Keys set as `fields["name"] = ...` inside a helper."""
        keys = set()
        for node in ast.walk(function):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant):
                        keys.add(str(target.slice.value))
        return keys

    def nested(self, value: ast.expr, scope: ast.FunctionDef | None) -> set[str]:
        """Fields inside a value that is `self.<attribute>.model_dump(...)` of a pydantic model
        annotated on the enclosing class."""
        cls = self.module.enclosing(scope, ast.ClassDef) if scope is not None else None
        found: set[str] = set()
        for node in ast.walk(value):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if node.func.attr != "model_dump" or not isinstance(owner, ast.Attribute):
                continue
            for statement in cls.body if cls is not None else []:
                if (
                    isinstance(statement, ast.AnnAssign)
                    and isinstance(statement.target, ast.Name)
                    and statement.target.id == owner.attr
                ):
                    for name in ast.walk(statement.annotation):
                        if isinstance(name, ast.Name):
                            found |= _pydantic_fields(self.attribute(name.id)) or set()
        return found

    def attribute(self, name: str) -> Any:
        return getattr(importlib.import_module(self.module.name), name, None)


@cache
def _log_sites() -> tuple[LogSite, ...]:
    sites = []
    for path in sorted(QGEN.rglob("*.py")):
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        relative = path.relative_to(QGEN.parent).with_suffix("")
        module = _Module(".".join(relative.parts), tree, parents)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            extra = next((k.value for k in node.keywords if k.arg == "extra"), None)
            if not isinstance(extra, ast.Dict):
                continue
            keys = [k.value if isinstance(k, ast.Constant) else None for k in extra.keys]
            if "event" not in keys:
                continue
            scan = _Scan(module)
            scan.dict_(extra, module.enclosing(node, ast.FunctionDef))
            exception = isinstance(node.func, ast.Attribute) and node.func.attr == "exception"
            sites.append(
                LogSite(
                    where=f"{path.relative_to(QGEN.parent)}:{node.lineno}",
                    events=_event_patterns(extra.values[keys.index("event")]),
                    fields=frozenset(
                        scan.fields | STANDARD_FIELDS | ({"stack_trace"} if exception else set())
                    ),
                    unresolved=tuple(scan.unresolved),
                )
            )
    return tuple(sites)


def _sites_logging(event: str) -> list[LogSite]:
    return [site for site in _log_sites() if site.logs(event)]


def test_the_scan_finds_the_events_and_fields_the_code_is_known_to_log() -> None:
    """The scan itself: a few facts about the code, so a scan that finds nothing cannot pass."""

    def fields(event: str) -> set[str]:
        return set().union(*(site.fields for site in _sites_logging(event)))

    assert {"jobId", "usage.promptTokens", "usage.outputTokens", "durationMs"} <= fields(
        "job.completed"
    )
    assert {"questionsSaved", "firstQuestionMs"} <= fields("job.completed")
    assert {"errorCode", "retryable", "retryDelaySeconds"} <= fields("job.failed")
    assert {"deletedCompleted", "total", "durationMs"} <= fields("cleanup.retention")
    assert {"requeued", "durationMs"} <= fields("cleanup.recovery")
    assert {"stack_trace"} <= fields("worker.internal_error")
    assert _sites_logging("worker.duplicate")
    assert not _sites_logging("job.exploded")
    assert "usage.nonsense" not in fields("job.completed")


# ----- reading the Terraform -------------------------------------------------------------------


def _text(value: Any) -> str:
    """A resolved HCL string with its escapes undone (\\" -> ")."""
    resolved = _resolve(value)
    assert isinstance(resolved, str), f"cannot resolve {value!r}"
    return resolved.replace('\\"', '"').replace("\\\\", "\\")


def _heredoc(value: str) -> str:
    match = re.fullmatch(r"<<-?(\w+)\n(.*)\n\s*\1", value, re.S)
    return match.group(2) if match else value


_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _number(value: Any) -> float:
    """The number an expression of variable defaults, locals and arithmetic comes to."""
    if isinstance(value, int | float):
        return value
    expression = str(value).removeprefix("${").removesuffix("}")

    def reference(match: re.Match[str]) -> str:
        kind, name = match.groups()
        found = _variables()[name]["default"] if kind == "var" else _locals()[name]
        return repr(_number(found))

    arithmetic = re.sub(r"\b(var|local)\.(\w+)", reference, expression)

    def evaluate(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            result: float = _OPERATORS[type(node.op)](evaluate(node.left), evaluate(node.right))
            return result
        raise AssertionError(f"not arithmetic: {expression}")

    return evaluate(ast.parse(arithmetic, mode="eval").body)


def _metrics() -> dict[str, dict[str, Any]]:
    """The log-based metrics by metric name (their metric.type is USER_METRIC_PREFIX + name)."""
    return {_text(body["name"]): body for body in _resources(METRIC).values()}


def _value_type(body: dict[str, Any]) -> str:
    descriptor = body.get("metric_descriptor")
    return _block(body, "metric_descriptor")["value_type"] if descriptor else "INT64"


def _labels(body: dict[str, Any]) -> set[str]:
    descriptor = _block(body, "metric_descriptor")
    return {label["key"] for label in descriptor.get("labels", [])}


def _filter_events(text: str) -> set[str]:
    events = set()
    for match in re.finditer(r'jsonPayload\.event\s*=\s*(\([^)]*\)|"[^"]*")', text):
        events |= set(re.findall(r'"([^"]*)"', match.group(1)))
    return events


def _payload_fields(text: str) -> set[str]:
    return set(re.findall(r"jsonPayload\.([A-Za-z_][\w.]*\w)", text)) - {"event"}


def _extractors(body: dict[str, Any]) -> dict[str, str]:
    return {key: _text(value) for key, value in body.get("label_extractors", {}).items()}


def _policies() -> dict[str, dict[str, Any]]:
    return _resources(POLICY)


def _conditions(policy: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for condition in policy["conditions"]:
        kinds = [k for k in condition if k.startswith("condition_")]
        assert len(kinds) == 1, f"one condition type per condition: {kinds}"
        (kind,) = kinds
        yield kind, _block(condition, kind)


# ----- log-based metrics ------------------------------------------------------------------------


def test_ops_declares_metrics_alerts_channels_dashboard_budget_and_backups() -> None:
    for kind, count in {
        METRIC: 10,
        POLICY: 6,
        "google_monitoring_notification_channel": 1,
        "google_monitoring_dashboard": 1,
        "google_billing_budget": 1,
        "google_firestore_backup_schedule": 1,
    }.items():
        assert len(_resources(kind)) >= count, f"expected at least {count} {kind}"
    for path in ("monitoring.tf", "budget.tf", "backup.tf", "variables_ops.tf"):
        assert (INFRA / path).is_file(), path


def test_every_metric_reads_the_functions_own_log_lines() -> None:
    names = {_text(body["name"]) for body in _functions().values()}
    scope = _text(_locals()["qgen_logs"])
    assert 'resource.type="cloud_run_revision"' in scope
    assert set(re.findall(r'"([^"]+)"', scope.split("service_name=", 1)[1])) == names
    for name, body in _metrics().items():
        assert _text(body["filter"]).startswith(scope + " AND "), name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), f"{name}: PromQL needs a plain name"
        assert body.get("description"), name


def test_every_metric_names_events_and_fields_the_code_logs() -> None:
    for name, body in _metrics().items():
        text = _text(body["filter"])
        events = _filter_events(text)
        assert events, f"{name}: its filter names no jsonPayload.event"
        sources = [text, *_extractors(body).values()]
        if "value_extractor" in body:
            sources.append(_text(body["value_extractor"]))
        fields = set().union(*(_payload_fields(s) for s in sources))
        sites = []
        for event in events:
            logging_it = _sites_logging(event)
            assert logging_it, f"{name}: no code logs the event {event!r}"
            sites += logging_it
        unresolved = [u for site in sites for u in site.unresolved]
        assert not unresolved, f"{name}: cannot tell the fields of {unresolved}"
        for field in sorted(fields):
            assert any(field in site.fields for site in sites), (
                f"{name}: no code logs jsonPayload.{field} with {sorted(events)}"
            )


def test_distribution_values_are_read_only_from_lines_that_carry_them() -> None:
    for name, body in _metrics().items():
        if _value_type(body) != "DISTRIBUTION":
            assert "value_extractor" not in body, name
            continue
        assert "bucket_options" in body, f"{name}: a distribution needs buckets"
        match = re.fullmatch(r"EXTRACT\(jsonPayload\.([\w.]+)\)", _text(body["value_extractor"]))
        assert match, f"{name}: the value is a jsonPayload field"
        field = match.group(1)
        text = _text(body["filter"])
        guarded = f"jsonPayload.{field}:*" in text
        every_site = all(
            field in site.fields for e in _filter_events(text) for site in _sites_logging(e)
        )
        assert guarded or every_site, f"{name}: guard the filter with jsonPayload.{field}:*"


def test_every_label_has_its_extractor() -> None:
    for name, body in _metrics().items():
        descriptor = body.get("metric_descriptor")
        labels = _labels(body) if descriptor else set()
        assert labels == set(_extractors(body)), name


def test_the_cleanup_metric_labels_each_run_by_its_mode() -> None:
    (metric,) = [b for b in _metrics().values() if "cleanup.recovery" in _text(b["filter"])]
    match = re.fullmatch(
        r'REGEXP_EXTRACT\(jsonPayload\.event, "(.+)"\)', _extractors(metric)["run"]
    )
    assert match
    runs = set()
    for event in _filter_events(_text(metric["filter"])):
        extracted = re.fullmatch(match.group(1), event)
        assert extracted, event
        runs.add(extracted.group(1))
    assert runs == {"retention", "recovery"}


# ----- alert policies --------------------------------------------------------------------------


def _metric_type(text: str) -> str:
    match = re.search(r'metric\.type\s*=\s*"([^"]+)"', text)
    assert match, f"no metric.type in {text}"
    return match.group(1)


def _check_monitoring_filter(where: str, text: str) -> None:
    metric_type = _metric_type(text)
    resource = re.search(r'resource\.type\s*=\s*"([^"]+)"', text)
    assert resource, f"{where}: a filter names its resource type"
    if metric_type.startswith(USER_METRIC_PREFIX):
        name = metric_type.removeprefix(USER_METRIC_PREFIX)
        assert name in _metrics(), f"{where}: {metric_type} is not a log-based metric of infra/"
        assert resource.group(1) == "cloud_run_revision", where
        labels = _labels(_metrics()[name]) if "metric_descriptor" in _metrics()[name] else set()
        for label, value in re.findall(r'metric\.labels?\.(\w+)\s*=\s*"([^"]*)"', text):
            assert label in labels, f"{where}: {name} has no label {label}"
            if label == "error_code":
                assert value in {c.value for c in FailureCode} | {c.value for c in ErrorCode}
    else:
        assert metric_type in BUILTIN_METRICS, f"{where}: unknown metric {metric_type}"
        assert resource.group(1) == BUILTIN_METRICS[metric_type][0], where


def _promql_name(metric_type: str) -> str:
    """Cloud Monitoring's PromQL name: the first / becomes :, other special characters _."""
    domain, _, path = metric_type.partition("/")
    return re.sub(r"\W", "_", domain) + ":" + re.sub(r"\W", "_", path)


def _check_promql(where: str, query: str) -> None:
    known = {
        _promql_name(USER_METRIC_PREFIX + name): _value_type(body)
        for name, body in _metrics().items()
    } | {_promql_name(t): value_type for t, (_, value_type) in BUILTIN_METRICS.items()}
    names = re.findall(r"\b([a-z][a-z0-9_]*:[A-Za-z0-9_]+)", query)
    assert names, f"{where}: the query names no metric"
    for name in names:
        base = re.sub(r"_(sum|count|bucket)$", "", name)
        if name in known:
            assert known[name] != "DISTRIBUTION", f"{where}: {name} needs _sum/_count/_bucket"
        else:
            assert known.get(base) == "DISTRIBUTION", f"{where}: unknown metric {name}"


def test_every_alert_condition_reads_a_defined_or_builtin_metric() -> None:
    for policy_name, policy in _policies().items():
        for kind, condition in _conditions(policy):
            where = f"{policy_name}/{kind}"
            if kind == "condition_prometheus_query_language":
                _check_promql(where, _text(condition["query"]))
                continue
            assert kind in ("condition_threshold", "condition_absent"), where
            _check_monitoring_filter(where, _text(condition["filter"]))
            if "denominator_filter" in condition:
                _check_monitoring_filter(where, _text(condition["denominator_filter"]))


def test_every_alert_has_a_runbook_and_notification_channels() -> None:
    doc = OPERATIONS_DOC.read_text()
    headings = set(re.findall(r"^#+\s+(.+?)\s*$", doc, re.M))
    channels = _locals()["alert_notification_channels"]
    assert "google_monitoring_notification_channel.email" in channels
    assert "var.alert_notification_channel_ids" in channels
    (email,) = _resources("google_monitoring_notification_channel").values()
    assert email["for_each"] == "${toset(var.alert_email_addresses)}"
    assert email["labels"] == {"email_address": "${each.value}"}
    for name, policy in _policies().items():
        assert policy["notification_channels"] == "${local.alert_notification_channels}", name
        assert policy["enabled"] == "${var.alerts_enabled}", name
        assert policy.get("severity") in ("CRITICAL", "ERROR", "WARNING"), name
        documentation = _block(policy, "documentation")
        assert documentation["mime_type"] == "text/markdown", name
        content = " ".join(_heredoc(documentation["content"]).split())
        assert len(content) > 200, f"{name}: the documentation is the on-call's first step"
        runbook = re.search(r'docs/operations\.md, "Alerts", \*([^*]+)\*', content)
        assert runbook, f"{name}: the documentation points at its runbook in docs/operations.md"
        assert runbook.group(1) in headings, f"{name}: docs/operations.md has no {runbook.group(1)}"


def test_the_api_key_alert_fires_on_the_first_api_key_failure() -> None:
    policy = _policies()["gemini_key_rejected"]
    (condition,) = policy["conditions"]
    threshold = _block(condition, "condition_threshold")
    text = _text(threshold["filter"])
    assert FailureCode.API_KEY.value == "API_KEY"
    assert 'metric.labels.error_code="API_KEY"' in text
    name = _metric_type(text).removeprefix(USER_METRIC_PREFIX)
    assert _filter_events(_text(_metrics()[name]["filter"])) == {"job.failed"}
    assert (threshold["comparison"], threshold["threshold_value"], threshold["duration"]) == (
        "COMPARISON_GT",
        0,
        "0s",
    )
    assert _block(threshold, "aggregations")["alignment_period"] == "60s"


def test_the_backlog_alert_watches_the_jobs_queue() -> None:
    queue = _text("${google_cloud_tasks_queue.jobs.name}")
    assert queue == Settings.model_fields["tasks_queue"].default
    kinds = set()
    for _, condition in _conditions(_policies()["queue_backlog"]):
        text = _text(condition["filter"])
        assert f'resource.labels.queue_id="{queue}"' in text
        kinds.add(_metric_type(text))
    assert kinds == {
        "cloudtasks.googleapis.com/queue/task_attempt_delays",
        "cloudtasks.googleapis.com/queue/depth",
    }


def test_the_cleanup_alert_fires_before_the_cleanup_is_cut_off() -> None:
    timeout_ms = 1000 * float(
        _resolve(_block(_functions()["cleanup_jobs"], "service_config")["timeout_seconds"])
    )
    schedules = _locals()["cleanup_schedules"]
    recovery_deadline_ms = 1000 * _number(schedules["recovery"]["attempt_deadline"])
    retention_deadline_ms = 1000 * _number(schedules["retention"]["attempt_deadline"])
    thresholds = {}
    for _, condition in _conditions(_policies()["cleanup_near_deadline"]):
        text = _text(condition["filter"])
        (run,) = re.findall(r'metric\.labels\.run="(\w+)"', text)
        thresholds[run] = _number(condition["threshold_value"])
    assert set(thresholds) == {"retention", "recovery"}
    assert 0 < thresholds["retention"] < min(timeout_ms, retention_deadline_ms)
    assert 0 < thresholds["recovery"] < min(timeout_ms, recovery_deadline_ms)


def test_the_worker_5xx_alert_counts_the_workers_5xx() -> None:
    (condition,) = _policies()["worker_5xx"]["conditions"]
    text = _text(_block(condition, "condition_threshold")["filter"])
    worker_name = _text(_functions()["process_job"]["name"])
    assert f'resource.labels.service_name="{worker_name}"' in text
    assert 'metric.labels.response_code_class="5xx"' in text
    assert _metric_type(text) == "run.googleapis.com/request_count"


def test_the_spend_alert_fires_below_the_services_own_ceiling() -> None:
    threshold = _number(_variables()["daily_token_alert_threshold"]["default"])
    ceiling = Settings.model_fields["project_daily_token_ceiling"].default
    for entry_point in _functions():
        if "PROJECT_DAILY_TOKEN_CEILING" in _env(entry_point):
            ceiling = int(_resolve(_env(entry_point)["PROJECT_DAILY_TOKEN_CEILING"]))
    assert 0 < threshold < ceiling
    query = _text(_locals()["token_spend_query"])
    assert query.endswith(f"> {int(threshold)}")
    assert "_sum" in query
    assert "[1d]" in query


def test_the_failure_rate_alert_is_per_error_code_and_needs_enough_jobs() -> None:
    query = _text(_locals()["failure_rate_query"])
    assert "sum by (error_code)" in query
    assert "group_left" in query
    assert f">= {_number(_variables()['job_failure_rate_min_jobs']['default']):g}" in query
    (condition,) = _policies()["job_failure_rate"]["conditions"]
    assert _block(condition, "condition_prometheus_query_language")["query"] == (
        "${local.failure_rate_query}"
    )


# ----- dashboard, budget, backups --------------------------------------------------------------


def test_every_dashboard_chart_reads_a_defined_or_builtin_metric() -> None:
    (dashboard,) = _resources("google_monitoring_dashboard").values()
    assert "local.dashboard_widgets" in dashboard["dashboard_json"]
    widgets = _locals()["dashboard_widgets"]
    assert len(widgets) >= 6
    charted = set()
    for widget in widgets:
        for data_set in widget["xyChart"]["dataSets"]:
            query = _text(data_set["timeSeriesQuery"]["prometheusQuery"])
            _check_promql(widget["title"], query)
            charted |= set(re.findall(r":user_([a-z0-9_]+?)(?:_sum|_count|_bucket)?\b", query))
    assert set(_metrics()) <= charted, f"not charted: {set(_metrics()) - charted}"


def test_the_budget_is_monthly_on_this_project_with_thresholds() -> None:
    (budget,) = _resources("google_billing_budget").values()
    assert budget["billing_account"] == "${var.billing_account_id}"
    budget_filter = _block(budget, "budget_filter")
    assert budget_filter["calendar_period"] == "MONTH"
    assert "data.google_project.budget" in str(budget_filter["projects"])
    rules = _block(budget, "all_updates_rule")
    assert "local.alert_notification_channels" in rules["monitoring_notification_channels"]
    assert "min(5," in rules["monitoring_notification_channels"], "at most 5 channels"
    assert _variables()["billing_account_id"].get("default") is None
    assert all(p > 0 for p in _variables()["budget_threshold_percents"]["default"])


def test_firestore_is_backed_up_daily_within_the_retention_firestore_allows() -> None:
    (schedule,) = _resources("google_firestore_backup_schedule").values()
    assert "daily_recurrence" in schedule
    assert schedule["database"] == "${google_firestore_database.main.name}"
    assert schedule["retention"] == "${var.firestore_backup_retention_days * 86400}s"
    days = _number(_variables()["firestore_backup_retention_days"]["default"])
    assert 1 <= days <= 98  # 14 weeks


def test_ops_variables_are_in_their_own_file() -> None:
    document = (INFRA / "variables_ops.tf").read_text()
    names = set(re.findall(r'^variable "(\w+)"', document, re.M))
    assert {"alert_email_addresses", "billing_account_id", "daily_token_alert_threshold"} <= names
    assert names <= set(_variables())
    assert _tf()  # parsed with the rest of infra/


# ----- the fields really reach the JSON line ---------------------------------------------------


def _json_lines(caplog: pytest.LogCaptureFixture, event: str) -> list[dict[str, Any]]:
    formatter = CloudLoggingFormatter("p")
    lines = [json.loads(formatter.format(r)) for r in caplog.records]
    return [line for line in lines if line.get("event") == event]


def test_the_worker_logs_time_to_first_question_once_per_job(
    store: MemoryStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    job_id = new_job(store, clock)
    first = ScriptedModel(
        pieces=answer_stream(4)[:-3], stream_end=ModelError(FailureCode.TRUNCATED)
    )
    worker(store, clock, first).process(job_id)
    (retrying,) = _json_lines(caplog, "job.retrying")
    assert retrying["firstQuestionMs"] >= 0
    assert retrying["firstQuestionMs"] <= retrying["durationMs"]
    assert set(retrying["usage"]) == {"promptTokens", "outputTokens"}
    saved = store.state.jobs[job_id].questions_saved
    assert saved > 0
    caplog.clear()
    resumed = ScriptedModel(pieces=answer_stream(4 - saved, start=saved))
    worker(store, clock, resumed).process(job_id)
    (completed,) = _json_lines(caplog, "job.completed")
    assert "firstQuestionMs" not in completed, "the job's first question came earlier"
    assert completed["questionsSaved"] == 4 - saved
    assert completed["usage"]["promptTokens"] >= 0


def test_each_cleanup_run_logs_its_duration(
    store: MemoryStore, queue: InMemoryTaskQueue, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    service = cleanup(store, queue, clock)
    service.retention()
    service.recovery()
    for event in ("cleanup.retention", "cleanup.recovery"):
        (line,) = _json_lines(caplog, event)
        assert isinstance(line["durationMs"], int), event
        assert line["durationMs"] >= 0, event

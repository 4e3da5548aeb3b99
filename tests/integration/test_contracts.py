"""Contracts that are not imports: metric names between the code and template.yaml, the functions'
observability environment, and the dependency pins of what ships against the lock the tests run on."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from creditwatch.local.template import Template
from creditwatch_common.observability import ALERT_METRIC_PREFIX, NAMESPACE, Metric, Service

ROOT = Path(__file__).resolve().parents[2]
CODE = [ROOT / "functions", ROOT / "layers/common/python"]


@pytest.fixture(scope="module")
def template() -> Template:
    return Template()


def _dashboard_metrics(template: Template) -> list[tuple[str, str]]:
    """(namespace, metric name) of every metric row of the dashboard, CloudWatch's "." and "..." resolved."""
    body = template.resources["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    doc = json.loads(re.sub(r"\$\{[^}]+\}", "0", body))
    out = []
    for widget in doc["widgets"]:
        previous: list[Any] = []
        for row in widget["properties"].get("metrics", []):
            names = [x for x in row if not isinstance(x, dict)]
            if not names:
                continue  # a math expression
            if names[0] == "...":
                names = previous[:2]
            names = [previous[i] if x == "." and i < len(previous) else x for i, x in enumerate(names)]
            previous = names
            out.append((names[0], names[1]))
    return out


def _alarm_metrics(template: Template) -> list[tuple[str, str]]:
    out = []
    for res in template.resources.values():
        if res["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = res["Properties"]
        if "MetricName" in props:
            out.append((props["Namespace"], props["MetricName"]))
        for query in props.get("Metrics", []):
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                out.append((metric["Namespace"], metric["MetricName"]))
    return out


def test_every_metric_a_dashboard_widget_or_an_alarm_uses_is_one_the_code_names(template: Template) -> None:
    used = _dashboard_metrics(template) + _alarm_metrics(template)
    ours = {name for namespace, name in used if namespace == NAMESPACE}
    assert len(ours) >= 10, used  # the parser found the widgets
    known = {m.value for m in Metric}
    assert ours - known == set(), "template.yaml names metrics the code never emits"
    assert {namespace for namespace, _ in used} <= {NAMESPACE, "AWS/Lambda", "AWS/ApiGateway", "AWS/SQS"}


def test_every_metric_constant_is_emitted_somewhere_in_the_functions() -> None:
    source = "\n".join(p.read_text() for d in CODE for p in d.rglob("*.py"))
    for metric in Metric:
        if metric is Metric.COLD_START:
            continue  # Powertools emits it (capture_cold_start_metric)
        assert f"Metric.{metric.name}" in source.replace(" ", ""), f"{metric.value} is never emitted"
    assert "alert_metric(" in source and ALERT_METRIC_PREFIX == "Alert_"


def test_the_dashboard_and_alarms_use_the_service_names_the_functions_log_under(template: Template) -> None:
    text = json.dumps(template.resources)
    for service in re.findall(r"creditwatch-(?:predict|drift|alerts|lake-export|[a-z]+)(?=\")", text):
        assert service in {s.value for s in Service} | {"creditwatch-${Environment}"}, service


def test_every_function_logs_under_the_service_its_code_builds_and_every_service_runs_somewhere(
    template: Template,
) -> None:
    # The alarms and the dashboard read the template's service names; the code emits under its Service.
    used = set()
    for lid in template.functions():
        spec = template.function(lid)
        package = spec.code_dir / spec.handler.split(".")[0]
        source = "\n".join(p.read_text() for p in package.rglob("*.py"))
        built = set(re.findall(r"Observability\.build\(\s*Service\.(\w+)", source))
        assert len(built) == 1, f"{lid}: {package} should build its Observability with one Service: {built}"
        service = Service[built.pop()]
        assert spec.environment["POWERTOOLS_SERVICE_NAME"] == service.value, lid
        used.add(service)
    assert used == set(Service), f"no function runs {set(Service) - used}"


def test_every_function_declares_the_same_observability_environment(template: Template) -> None:
    envs = {lid: template.function(lid).environment for lid in template.functions()}
    keys = {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_TRACE_DISABLED",
    }
    for lid, env in envs.items():
        assert keys <= set(env), (lid, keys - set(env))
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == NAMESPACE
    shared = {k: {env[k] for env in envs.values()} for k in keys - {"POWERTOOLS_SERVICE_NAME"}}
    assert all(len(values) == 1 for values in shared.values()), shared


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        assert version, f"{path}: {line!r} is not pinned"
        pins[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version.strip()
    return pins


@pytest.mark.parametrize("function", ["predict", "drift", "alerts", "reports", "deploy_hook", "probe"])
def test_what_a_function_ships_is_pinned_to_the_versions_the_tests_run_on(function: str) -> None:
    lock = _pins(ROOT / "requirements/dev.lock")
    shipped = _pins(ROOT / f"functions/{function}/requirements.txt")
    assert shipped
    mismatched = {name: (version, lock.get(name)) for name, version in shipped.items() if lock.get(name) != version}
    assert mismatched == {}, "functions/<fn>/requirements.txt differs from requirements/dev.lock: (shipped, locked)"

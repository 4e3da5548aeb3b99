import importlib
from datetime import UTC, datetime, timedelta, timezone
from typing import get_args

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings
from template_functions import image_jobs

from creditwatch.local.template import Template
from creditwatch_alerts.settings import AlertsSettings
from creditwatch_common.ids import iso_utc
from creditwatch_drift.settings import DriftSettings
from creditwatch_predict.settings import PredictSettings

FUNCTIONS = [PredictSettings, DriftSettings, AlertsSettings]


@pytest.mark.parametrize("settings", FUNCTIONS)
def test_every_function_reads_the_log_layout_the_same_way(settings, monkeypatch):
    # The writer (predict) and the readers (drift, alerts) must agree on the shards.
    monkeypatch.setenv("LOG_SHARDS", "32")
    monkeypatch.setenv("PREDICTIONS_TABLE", "t-1")
    monkeypatch.setenv("ENVIRONMENT", "prod")
    got = settings()
    assert (got.log_shards, got.predictions_table, got.environment) == (32, "t-1", "prod")
    monkeypatch.setenv("LOG_SHARDS", "0")
    with pytest.raises(ValidationError, match="LOG_SHARDS"):
        settings()


@pytest.mark.parametrize("settings", FUNCTIONS)
def test_settings_are_read_once_and_frozen(settings):
    with pytest.raises(ValidationError):
        settings().log_shards = 8


def test_iso_utc_writes_utc_to_the_second():
    paris = timezone(timedelta(hours=1))
    assert iso_utc(datetime(2026, 11, 23, 1, 30, 15, 999_000, tzinfo=paris)) == "2026-11-23T00:30:15Z"
    assert iso_utc(datetime(2026, 11, 23, tzinfo=UTC)) == "2026-11-23T00:00:00Z"


def _job_settings(job: str) -> type[BaseSettings]:
    """The settings class of an image job, by the package convention: `creditwatch_<job>.settings.*Settings`."""
    module = importlib.import_module(f"creditwatch_{job}.settings")
    (cls,) = [c for n, c in vars(module).items() if n.endswith("Settings") and c.__module__ == module.__name__]
    assert issubclass(cls, BaseSettings), cls
    return cls


def test_every_analytics_engine_the_template_allows_starts_every_function_it_is_given_to(monkeypatch):
    # One parameter, AnalyticsEngine, sets every job that reads windows: a value one of them refuses
    # is a function that fails at init (a ValidationError) in a stack that deployed fine.
    template = Template()
    allowed = template.doc["Parameters"]["AnalyticsEngine"]["AllowedValues"]
    given = {
        name
        for name in template.functions()
        if template.resources[name]["Properties"].get("Environment", {}).get("Variables", {}).get("ANALYTICS_ENGINE")
        == {"Ref": "AnalyticsEngine"}
    }
    # The job packages' settings (creditwatch_<JOB>.settings): those that read it are those it is given to.
    settings_of = {lid: _job_settings(job) for lid, job in image_jobs(template).items()}
    readers = {lid for lid, settings in settings_of.items() if "analytics_engine" in settings.model_fields}
    assert {"DriftFunction", "QualityFunction"} <= readers and given == readers
    for settings in (settings_of[lid] for lid in readers):
        assert set(get_args(settings.model_fields["analytics_engine"].annotation)) == set(allowed), settings
        for value in allowed:
            monkeypatch.setenv("ANALYTICS_ENGINE", value)
            assert settings().analytics_engine == value

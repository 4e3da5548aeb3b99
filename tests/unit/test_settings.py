from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

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

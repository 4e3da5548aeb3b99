"""Typed settings of the alerts function, read once from the environment."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from creditwatch_common.settings import LogSettings


class AlertsSettings(LogSettings):
    """Environment of the alerts function (names as template.yaml sets them)."""

    alert_state_table: str = Field("creditwatch-alert-state", validation_alias="ALERT_STATE_TABLE")
    notifications_queue_url: str | None = Field(None, validation_alias="NOTIFICATIONS_QUEUE_URL")
    slack_webhook_secret: str = Field("creditwatch/dev/slack-webhook", validation_alias="SLACK_WEBHOOK_SECRET")
    window_minutes: int = Field(15, ge=1, le=1440, validation_alias="ALERT_WINDOW_MINUTES")
    error_rate_threshold: float = Field(0.05, ge=0, le=1, validation_alias="ERROR_RATE_THRESHOLD")
    latency_threshold_ms: float = Field(100.0, gt=0, validation_alias="LATENCY_THRESHOLD_MS")
    latency_statistic: Literal["p50", "p95", "p99", "mean"] = Field("p95", validation_alias="LATENCY_STATISTIC")
    min_requests: int = Field(20, ge=1, validation_alias="ALERT_MIN_REQUESTS")
    expect_traffic: bool = Field(True, validation_alias="EXPECT_TRAFFIC")
    cooldown_minutes: int = Field(60, ge=1, validation_alias="ALERT_COOLDOWN_MINUTES")
    dashboard_url: str | None = Field(None, validation_alias="DASHBOARD_URL")
    slack_timeout_s: float = Field(5.0, gt=0, validation_alias="SLACK_TIMEOUT_SECONDS")
    slack_max_attempts: int = Field(4, ge=1, validation_alias="SLACK_MAX_ATTEMPTS")
    secret_max_age_s: int = Field(300, ge=0, validation_alias="SLACK_SECRET_MAX_AGE_SECONDS")
    # Every run moves spilled log records back into the table, within this many records and seconds.
    spill_queue_url: str | None = Field(None, validation_alias="SPILL_QUEUE_URL")
    replay_max_messages: int = Field(2000, ge=0, validation_alias="REPLAY_MAX_MESSAGES")
    replay_budget_s: float = Field(30.0, gt=0, le=100, validation_alias="REPLAY_BUDGET_SECONDS")
    # Oversight of human review (creditwatch_alerts/oversight.py); no case table: not judged.
    review_cases_table: str | None = Field(None, validation_alias="REVIEW_CASES_TABLE")
    review_sla_hours: float = Field(24.0, ge=0, validation_alias="REVIEW_SLA_HOURS")
    override_rate_low: float = Field(0.02, ge=0, le=1, validation_alias="REVIEW_OVERRIDE_RATE_LOW")
    override_rate_high: float = Field(0.5, ge=0, le=1, validation_alias="REVIEW_OVERRIDE_RATE_HIGH")
    override_window_hours: int = Field(168, ge=1, le=2160, validation_alias="REVIEW_OVERRIDE_WINDOW_HOURS")
    min_review_decisions: int = Field(20, ge=1, validation_alias="REVIEW_MIN_DECISIONS")

"""Typed settings of the deployment hooks, read once from the environment."""

from __future__ import annotations

from pydantic import Field

from creditwatch_common.settings import FunctionSettings


class HookSettings(FunctionSettings):
    """Environment of the PreTraffic and PostTraffic hooks (names as template.yaml sets them)."""

    predict_function_name: str = Field("creditwatch-predict", validation_alias="PREDICT_FUNCTION_NAME")
    # The model layer's artifacts: the frozen replay set and the feature schema it must match.
    model_dir: str = Field("/opt/python/creditwatch_model/artifacts", validation_alias="MODEL_DIR")
    model_registry_bucket: str | None = Field(None, validation_alias="MODEL_REGISTRY_BUCKET")
    notifications_queue_url: str | None = Field(None, validation_alias="NOTIFICATIONS_QUEUE_URL")
    # What the replay set may exceed the comparison evidence by (gate.Tolerance explains the defaults).
    tolerance_score_psi: float = Field(0.1, ge=0, le=5, validation_alias="GATE_TOLERANCE_SCORE_PSI")
    tolerance_approval_rate: float = Field(0.05, ge=0, le=1, validation_alias="GATE_TOLERANCE_APPROVAL_RATE")
    tolerance_swap_rate: float = Field(0.05, ge=0, le=1, validation_alias="GATE_TOLERANCE_SWAP_RATE")
    batch_size: int = Field(100, ge=1, le=1000, validation_alias="GATE_BATCH_SIZE")
    # One invoke of a replay batch may take this long (the predict function's Timeout is 29 s).
    invoke_timeout_s: float = Field(35.0, gt=0, le=300, validation_alias="GATE_INVOKE_TIMEOUT_SECONDS")
    # Kept free before the hook's own Lambda timeout to report the verdict (a killed hook reports nothing).
    report_reserve_s: float = Field(10.0, ge=1, le=120, validation_alias="GATE_REPORT_RESERVE_SECONDS")
    # PostTraffic: the rollback alarms that must not be in ALARM once all traffic is on the new version.
    alarm_names: str = Field("", validation_alias="CANARY_ALARM_NAMES")

    @property
    def alarms(self) -> list[str]:
        """CANARY_ALARM_NAMES as a list."""
        return [a.strip() for a in self.alarm_names.split(",") if a.strip()]

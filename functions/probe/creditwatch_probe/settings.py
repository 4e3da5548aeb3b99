"""Typed settings of the uptime probe, read once from the environment."""

from __future__ import annotations

from pydantic import Field

from creditwatch_common.settings import FunctionSettings


class ProbeSettings(FunctionSettings):
    """Environment of the probe function (names as template.yaml sets them)."""

    # The HTTP API's URL (template output ApiUrl); locally, `creditwatch serve`'s.
    api_url: str = Field("http://127.0.0.1:8000", validation_alias="PROBE_API_URL")
    region: str = Field("us-east-1", validation_alias="AWS_REGION")
    # Each call's budget: the API answers a healthy /predict in milliseconds.
    timeout_s: float = Field(5.0, gt=0, le=25, validation_alias="PROBE_TIMEOUT_SECONDS")
    # SigV4 (ApiAuth=IAM, the default) or none (ApiAuth=NONE, dev only); JWT APIs are probed by /health only.
    sign: bool = Field(True, validation_alias="PROBE_SIGN_REQUESTS")

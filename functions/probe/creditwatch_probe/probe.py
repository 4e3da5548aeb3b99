"""One probe run: a SigV4-signed GET /health?deep=true and one scored POST /predict, marked synthetic.

The application is fixed and carries the synthetic header, so its record is kept in the prediction log
(`synthetic: probe`) and read by no window: drift, fairness, quality, alerts and the lake never see it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from creditwatch_common.records import SYNTHETIC_HEADER

PROBE_MARK = "probe"
# A plausible applicant (events/predict-valid.json's, by snake_case names): scored like any other.
PROBE_APPLICATION: dict[str, Any] = {
    "duration_in_month": 12,
    "credit_amount": 5000.0,
    "installment_rate_in_percentage_of_disposable_income": 2,
    "age_in_years": 35,
    "number_of_existing_credits_at_this_bank": 1,
    "number_of_people_being_liable_to_provide_maintenance_for": 1,
    "status_of_existing_checking_account": "A12",
    "credit_history": "A32",
    "savings_account_and_bonds": "A61",
    "present_employment_since": "A73",
    "job": "A173",
    "purpose": "A43",
    "personal_status_and_sex": "A93",
    "other_debtors_or_guarantors": "A101",
    "property": "A121",
    "other_installment_plans": "A143",
    "housing": "A152",
    "telephone": "A192",
    "foreign_worker": "A201",
}


class ProbeCheck(BaseModel):
    """One call of the probe."""

    name: str
    ok: bool
    status: int | None
    latency_ms: float
    detail: str


class ProbeResult(BaseModel):
    """Both calls; ok only if both are."""

    ok: bool
    checks: list[ProbeCheck]


# (method, url, body, headers) -> headers with the signature added.
Signer = Callable[[str, str, bytes | None, dict[str, str]], dict[str, str]]


def sigv4_signer(credentials: Any, region: str) -> Signer:
    """Signs for API Gateway (`execute-api`) with the function's own credentials (no stored key)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    def sign(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
        return dict(request.headers.items())

    return sign


@dataclass
class Probe:
    """Calls the API as a client would, from outside the function."""

    api_url: str
    timeout_s: float
    sign: Signer | None = None

    def run(self) -> ProbeResult:
        """Both calls, whatever the first one's outcome."""
        health = self._call("health", "GET", "/health?deep=true", None, self._healthy)
        body = json.dumps(PROBE_APPLICATION).encode()
        predict = self._call("predict", "POST", "/predict", body, self._scored)
        return ProbeResult(ok=health.ok and predict.ok, checks=[health, predict])

    @staticmethod
    def _healthy(doc: Any) -> str | None:
        status = doc.get("status") if isinstance(doc, dict) else None
        return None if status == "healthy" else f"health status {status!r}"

    @staticmethod
    def _scored(doc: Any) -> str | None:
        if not isinstance(doc, dict) or doc.get("decision") not in ("approve", "refuse"):
            return "no decision in the answer"
        return None if doc.get("model_version") else "no model_version in the answer"

    def _call(
        self, name: str, method: str, path: str, body: bytes | None, judge: Callable[[Any], str | None]
    ) -> ProbeCheck:
        url = self.api_url.rstrip("/") + path
        headers = {SYNTHETIC_HEADER: PROBE_MARK, "accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/json"
        if self.sign is not None:
            headers = self.sign(method, url, body, headers)
        started = time.perf_counter()
        status: int | None = None
        try:
            request = urllib.request.Request(url, data=body, method=method, headers=headers)
            with urllib.request.urlopen(request, timeout=self.timeout_s) as resp:
                status = resp.status
                doc = json.loads(resp.read() or b"null")
            problem = judge(doc)
        except urllib.error.HTTPError as exc:
            status, problem = exc.code, f"HTTP {exc.code}: {exc.read()[:200].decode('utf-8', 'replace')}"
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            problem = f"no answer: {getattr(exc, 'reason', exc)}"
        except ValueError:
            problem = "the answer is not JSON"
        latency_ms = round((time.perf_counter() - started) * 1000.0, 1)
        return ProbeCheck(name=name, ok=problem is None, status=status, latency_ms=latency_ms, detail=problem or "ok")

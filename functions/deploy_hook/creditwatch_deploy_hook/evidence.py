"""The comparison evidence of a model version, read from the registry (creditwatch_common.model_registry)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from creditwatch_common.model_registry import ComparisonEvidence, evidence_prefix


class EvidenceError(RuntimeError):
    """The registry could not be read, or holds evidence that is not a ComparisonEvidence."""


@dataclass
class EvidenceStore:
    """Reads `evidence/<challenger_version>/<generated_at>-<report_id>.json` from the registry bucket."""

    s3: Any
    bucket: str

    def latest(self, challenger_version: str) -> ComparisonEvidence | None:
        """The newest comparison of `challenger_version` (keys sort by generated_at), or None if there is none."""
        prefix = evidence_prefix(challenger_version)
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self.s3.list_objects_v2(**kwargs)
            keys.extend(o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".json"))
            if not page.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
        if not keys:
            return None
        key = max(keys)
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        try:
            evidence = ComparisonEvidence.model_validate_json(body)
        except ValidationError as exc:
            raise EvidenceError(
                f"s3://{self.bucket}/{key} is not comparison evidence ({exc.error_count()} errors)"
            ) from None
        if evidence.challenger_version != challenger_version:
            raise EvidenceError(
                f"s3://{self.bucket}/{key} compares {evidence.challenger_version}, not {challenger_version}"
            )
        return evidence

"""Summaries shaped like the drift job's and like the quality contract's (docs/briefs), for the history tests."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

ATTRIBUTES = ("sex", "age", "foreign_worker")


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _window_id(start: datetime, end: datetime, run_at: datetime, kind: str, n: int) -> str:
    stamp = f"{start:%Y%m%dT%H%MZ}_{end:%Y%m%dT%H%MZ}"
    run = f"run-{run_at:%Y%m%dT%H%M%SZ}-{n:06x}"
    return f"{stamp}.{run}" if kind == "drift" else f"{kind}.{stamp}.{run}"


def drift_summary(
    day: int, *, start: datetime | None = None, drift: float | None = None, **extra: Any
) -> dict[str, Any]:
    """A drift summary (DriftSummary's JSON) for day `day` of a slow slide."""
    base = start or datetime(2026, 10, 1, tzinfo=UTC)
    end = base + timedelta(days=day + 1)
    run_at = end + timedelta(minutes=5)
    share = drift if drift is not None else min(0.9, 0.05 + 0.012 * day + 0.03 * math.sin(day))
    report_id = _window_id(end - timedelta(days=7), end, run_at, "drift", day)
    ratios = {"sex": 0.9 - 0.006 * day, "age": 0.62 + 0.05 * math.cos(day / 3), "foreign_worker": 0.95}
    prefix = f"drift/reports/{end:%Y/%m/%d}/{report_id.replace('.run', '/run')}"
    summary = {
        "status": "ok",
        "message": f"drift share {share:.2f}",
        "environment": "dev",
        "window_start": _stamp(end - timedelta(days=7)),
        "window_end": _stamp(end),
        "generated_at": _stamp(run_at),
        "model_version": "2026.11.1",
        "rows_read": 900,
        "rows_used": 900,
        "threshold": 0.3,
        "drift_share": round(share, 4),
        "dataset_drift": share >= 0.3,
        "drifted_features": ["credit_amount", "duration_in_month"][: 2 if share >= 0.3 else 0],
        "outputs": {"approval_share_current": 0.7 - 0.004 * day, "approval_share_reference": 0.7},
        "attribution": {"ndcg": 0.99 - 0.003 * day, "threshold": 0.9, "drifted": 0.99 - 0.003 * day < 0.9},
        "stability": {
            "score": {"psi": 0.02 + 0.008 * day, "band": "stable" if day < 10 else "moderate"},
            "approval_rate_reference": 0.7,
            "approval_rate_current": 0.7 - 0.004 * day,
        },
        "fairness": {
            "threshold": 0.8,
            "attributes": [
                {
                    "attribute": a,
                    "current": {
                        "judged": True,
                        "disparate_impact_ratio": r,
                        "ratio_interval": [r - 0.08, min(1.0, r + 0.08)],
                    },
                    "reference": {"judged": True, "disparate_impact_ratio": 0.8},
                    "alert": r + 0.08 < 0.8,
                }
                for a, r in ratios.items()
            ],
        },
        "estimated_quality": {
            "auc": {"value": 0.77 - 0.002 * day, "low": 0.72 - 0.002 * day, "high": 0.81 - 0.002 * day},
            "holds": True,
            "validation_auc": 0.78,
        },
        "report_id": report_id,
        "report_html_key": f"{prefix}/report.html",
        "summary_key": f"{prefix}/summary.json",
    }
    summary.update(extra)
    return summary


def quality_summary(day: int, *, start: datetime | None = None, **extra: Any) -> dict[str, Any]:
    """A quality summary shaped per the quality contract, every 7th day."""
    base = start or datetime(2026, 10, 1, tzinfo=UTC)
    end = base + timedelta(days=day + 1) - timedelta(days=30)
    run_at = base + timedelta(days=day + 1, hours=1)
    report_id = _window_id(end - timedelta(days=7), end, run_at, "quality", day)
    auc = 0.76 - 0.004 * day
    prefix = f"quality/reports/{end:%Y/%m/%d}/{report_id[len('quality.') :].replace('.run', '/run')}"
    summary = {
        "kind": "quality",
        "run_id": report_id.rsplit(".", 1)[1],
        "report_id": report_id,
        "generated_at": _stamp(run_at),
        "environment": "dev",
        "model_version": "2026.11.1",
        "cohort": {"start": _stamp(end - timedelta(days=7)), "end": _stamp(end)},
        "rows": 700,
        "labelled_rows": 560,
        "label_coverage": 0.8,
        "verdict": "ok" if auc > 0.7 else "degraded",
        "reasons": [] if auc > 0.7 else [f"AUC {auc:.2f} < validation 0.78 - 0.05"],
        "realized": {
            "auc": {"value": auc, "low": auc - 0.05, "high": auc + 0.04},
            "approval_rate": {"value": 0.68, "low": 0.64, "high": 0.72},
        },
        "estimated": {"auc": {"value": auc + 0.035, "low": auc - 0.005, "high": auc + 0.075}},
        "validation": {"auc": {"value": 0.78, "low": 0.74, "high": 0.82}},
        "calibration": [],
        "confusion": {"threshold": 0.5, "tp": 1, "fp": 1, "tn": 1, "fn": 1},
        "fairness": {"sex": {"groups": {}, "judged": True}},
        "report_url": None,
        "report_html_key": f"{prefix}/report.html",
        "summary_key": f"{prefix}/summary.json",
    }
    summary.update(extra)
    return summary


def history(days: int = 30) -> list[dict[str, Any]]:
    """`days` daily drift summaries and a weekly quality one."""
    out = [drift_summary(d) for d in range(days)]
    out += [quality_summary(d) for d in range(0, days, 7)]
    return out
